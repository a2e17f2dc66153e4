/* transfer.c - transfer learning: start a net from another net's weights,
 * and freeze layers.
 *
 * A net trained on one scene has learnt spectral-spatial filters that serve
 * another scene of the same sensor; with a few labelled pixels on the new
 * scene, starting from them (and optionally keeping the lower layers fixed)
 * beats starting from random weights. The new net is built from its own
 * spec for its own data, then takes the old net's weights layer by layer.
 *
 * What may differ:
 *   classes  the head (the last dense layer) keeps its fresh initialisation:
 *            it is replaced, the layers below it are copied.
 *   bands    a conv3d kernel does not depend on the band count, but the
 *            first dense layer after the convolutions does (its input is
 *            the flattened volume). That layer is refused, naming both
 *            shapes: the transferred filters would meet features in other
 *            places. Give both scenes the same bands instead (--bands, or
 *            --preprocess pca:K on both).
 *
 * A frozen layer's weights and optimiser moments are not updated (the
 * optimiser step skips its parameters, net.c); a frozen batchnorm layer
 * keeps gamma and beta, while its running statistics still follow the new
 * scene's batches (as PyTorch's train mode with requires_grad off), which
 * is what adapts it to the new scene's feature statistics.
 *
 * Frozen layers also cost less: the backward pass (net.c, backward_from)
 * computes no gradients of their weights, and stops at the lowest layer
 * that trains, so with the convolutions frozen and the dense head retrained
 * a step is little more than the forward pass. The results are those of
 * the full backward pass, bit for bit (tests/test_cnn_practice.c).
 */
#include "cnn3d/cnn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ini.h"

void hsi_cnn_layer_name(const hsi_cnn_layer_spec *layers, int i, char *buf, size_t len)
{
    int k = 0;
    for (int j = 0; j <= i; j++) k += layers[j].kind == layers[i].kind;
    snprintf(buf, len, "%s_%d", hsi_cnn_layer_kind_name(layers[i].kind), k);
}

hsi_status hsi_cnn_freeze_parse(const char *text, const hsi_cnn_layer_spec *layers, int n_layers,
                                uint8_t *frozen)
{
    memset(frozen, 0, (size_t)n_layers);
    if (!strcmp(text, "none")) return HSI_OK;
    if (!strcmp(text, "all-but-head")) {
        memset(frozen, 1, (size_t)n_layers - 1);
        return HSI_OK;
    }
    hsi_list it;
    if (hsi_list_start(&it, text)) return hsi_error(HSI_ERR_ARG, "--freeze: too long");
    for (char *tok; (tok = hsi_list_next(&it));) {
        int lo = -1, hi = -1;
        if (tok[0] >= '0' && tok[0] <= '9') {
            /* N, N-M or N- (to the last layer), 1-based positions. */
            char *end;
            long a = strtol(tok, &end, 10), b = a;
            if (*end == '-') {
                char *e2;
                b = end[1] ? strtol(end + 1, &e2, 10) : n_layers;
                if (end[1] && *e2) goto bad;
            } else if (*end) {
                goto bad;
            }
            if (a < 1 || b > n_layers || a > b)
                return hsi_error(HSI_ERR_ARG, "--freeze: '%s' is not within layers 1..%d", tok,
                                 n_layers);
            lo = (int)a - 1, hi = (int)b - 1;
        } else {
            for (int i = 0; i < n_layers && lo < 0; i++) {
                char name[48];
                hsi_cnn_layer_name(layers, i, name, sizeof name);
                if (!strcmp(name, tok)) lo = hi = i;
            }
            if (lo < 0)
                return hsi_error(HSI_ERR_ARG,
                                 "--freeze: no layer named '%s' (names as 'hsi cnn summary' "
                                 "prints them, e.g. conv3d_1, or positions 1..%d)",
                                 tok, n_layers);
        }
        for (int i = lo; i <= hi; i++) frozen[i] = 1;
    }
    return HSI_OK;
bad:
    return hsi_error(HSI_ERR_ARG,
                     "--freeze '%s': expected none, all-but-head, or a comma list of layer names "
                     "(conv3d_1), positions (3) or ranges (1-4, 2-)",
                     text);
}

hsi_status hsi_cnn_net_set_frozen(hsi_cnn_net *net, const uint8_t *frozen)
{
    int any = 0;
    for (int i = 0; frozen && i < net->n_layers; i++) any |= frozen[i] != 0;
    if (!any) {
        free(net->frozen);
        net->frozen = NULL;
        return HSI_OK;
    }
    if (!net->frozen && !(net->frozen = calloc((size_t)net->n_layers, 1)))
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    for (int i = 0; i < net->n_layers; i++) net->frozen[i] = frozen[i] != 0;
    return HSI_OK;
}

size_t hsi_cnn_trainable_params(const hsi_cnn_net *net)
{
    size_t n = 0;
    for (int i = 0; i < net->n_layers; i++)
        if (!net->frozen || !net->frozen[i]) n += net->layers[i].n_weights + net->layers[i].n_bias;
    return n;
}

/* Offsets of layer i's parameters and state in the arenas. */
static void layer_offsets(const hsi_cnn_net *net, int i, size_t *param, size_t *state)
{
    *param = *state = 0;
    for (int j = 0; j < i; j++) {
        *param += net->layers[j].n_weights + net->layers[j].n_bias;
        if (net->layers[j].spec.kind == HSI_CNN_BATCHNORM) *state += 2 * (size_t)net->layers[j].in.c;
    }
}

typedef struct report_buf {
    char *s;
    size_t len;
} report_buf;

static void say(report_buf *r, const char *line)
{
    size_t n = strlen(line);
    char *g = realloc(r->s, r->len + n + 2);
    if (!g) return;
    r->s = g;
    memcpy(r->s + r->len, line, n);
    r->len += n;
    r->s[r->len++] = '\n';
    r->s[r->len] = '\0';
}

hsi_status hsi_cnn_transfer(hsi_cnn_net *dst, const hsi_cnn_net *src, const char *src_name,
                            char **report)
{
    if (report) *report = NULL;
    if (dst->n_layers != src->n_layers)
        return hsi_error(HSI_ERR_SIZE, "%s: its net has %d layers, the new one %d (transfer needs "
                                       "the same layer sequence)",
                         src_name, src->n_layers, dst->n_layers);
    for (int i = 0; i < dst->n_layers; i++)
        if (dst->layers[i].spec.kind != src->layers[i].spec.kind)
            return hsi_error(HSI_ERR_SIZE, "%s: layer %d is [%s], the new net's is [%s]", src_name,
                             i + 1, hsi_cnn_layer_kind_name(src->layers[i].spec.kind),
                             hsi_cnn_layer_kind_name(dst->layers[i].spec.kind));
    report_buf r = {0};
    float *host = NULL;
    size_t host_n = 0;
    hsi_status st = HSI_OK;
    for (int i = 0; i < dst->n_layers && !st; i++) {
        const hsi_cnn_layer *S = &src->layers[i];
        hsi_cnn_layer *D = &dst->layers[i];
        char name[48], line[256];
        hsi_cnn_layer_name(dst->spec->layers, i, name, sizeof name);
        size_t np = D->n_weights + D->n_bias;
        if (!np) continue;
        int head = i == dst->n_layers - 1;
        if (D->n_weights != S->n_weights || D->n_bias != S->n_bias || D->in.c != S->in.c) {
            if (head && dst->classes != src->classes) {
                snprintf(line, sizeof line, "%-12s replaced (%d classes, %s has %d)", name,
                         dst->classes, src_name, src->classes);
                say(&r, line);
                continue;
            }
            char cause[512] = "";
            if (dst->input.d != src->input.d)
                snprintf(cause, sizeof cause, ": the band count differs (%d, %s: %d); give both "
                                              "scenes the same bands (--bands, --preprocess pca:K)",
                         dst->input.d, src_name, src->input.d);
            else if (D->spec.kind == HSI_CNN_DENSE || D->spec.kind == HSI_CNN_CONV3D)
                snprintf(cause, sizeof cause, ": another topology or patch size");
            st = hsi_error(HSI_ERR_SIZE,
                           "%s: layer %s has %zu weights and %zu biases (input %d), the new net's "
                           "%zu and %zu (input %d)%s",
                           src_name, name, S->n_weights, S->n_bias, S->in.c, D->n_weights, D->n_bias,
                           D->in.c, cause);
            break;
        }
        if (np > host_n) {
            float *g = realloc(host, np * sizeof *host);
            if (!g) {
                st = hsi_error(HSI_ERR_NOMEM, "out of memory");
                break;
            }
            host = g, host_n = np;
        }
        size_t sp, ss, dp, ds;
        layer_offsets(src, i, &sp, &ss);
        layer_offsets(dst, i, &dp, &ds);
        src->be->download(src->be, host, src->params + sp, np * sizeof *host);
        dst->be->upload(dst->be, dst->params + dp, host, np * sizeof *host);
        if (D->spec.kind == HSI_CNN_BATCHNORM) {
            size_t ns = 2 * (size_t)D->in.c;
            if (ns > host_n) {
                float *g = realloc(host, ns * sizeof *host);
                if (!g) {
                    st = hsi_error(HSI_ERR_NOMEM, "out of memory");
                    break;
                }
                host = g, host_n = ns;
            }
            src->be->download(src->be, host, src->state + ss, ns * sizeof *host);
            dst->be->upload(dst->be, dst->state + ds, host, ns * sizeof *host);
        }
        snprintf(line, sizeof line, "%-12s copied (%zu parameters)", name, np);
        say(&r, line);
    }
    free(host);
    if (st || !report) free(r.s);
    else *report = r.s;
    return st;
}
