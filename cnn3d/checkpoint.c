/* checkpoint.c - versioned binary checkpoints of a net (for resuming training
 * and for prediction).
 *
 * Layout (little-endian, as written by x86/ARM hosts):
 *     "HSICNN\0\1"          magic (8 bytes)
 *     u32 version (1)
 *     u32 len, spec text    the spec the net was built from
 *     u32 bands, classes, in_h, in_w
 *     u64 n_params, n_state, iterations;  u32 epoch;  u64 rng[4]
 *     u32 radius, border;  u64 seed;  u32 len, band selection text
 *     u32 n_classes, then n_classes+1 x (name[64], rgb[3])
 *     u8 has_preprocess, then the hsi_preprocess_write() record
 *     u8 has_optimizer; f32 params[n_params]; f32 state[n_state];
 *       with the optimiser: f32 m[n_params], v[n_params]
 *     u64 FNV-1a 64 of every byte above
 * The whole file is checked before anything is trusted.
 */
#include "cnn3d/cnn.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/blob.h"
#include "features/preprocess.h"

static const char ckpt_magic[8] = {'H', 'S', 'I', 'C', 'N', 'N', '\0', '\1'};
#define CKPT_VERSION 1u

void hsi_cnn_meta_clear(hsi_cnn_meta *meta)
{
    if (!meta) return;
    hsi_preprocess_free(meta->preprocess);
    free(meta->classes);
    memset(meta, 0, sizeof *meta);
}

hsi_status hsi_cnn_checkpoint_write(const char *path, const hsi_cnn_net *net,
                                    const hsi_cnn_meta *meta)
{
    hsi_blob_writer w;
    hsi_status st = hsi_blob_writer_open(&w, ckpt_magic, CKPT_VERSION);
    if (st) return hsi_error_prefix(st, "%s", path);
    const hsi_cnn_spec *s = net->spec;
    uint32_t spec_len = (uint32_t)strlen(s->text);
    hsi_blob_put_u32(&w, spec_len);
    hsi_blob_put(&w, s->text, spec_len);
    hsi_blob_put_u32(&w, (uint32_t)net->input.d);
    hsi_blob_put_u32(&w, (uint32_t)net->classes);
    hsi_blob_put_u32(&w, (uint32_t)net->input.h);
    hsi_blob_put_u32(&w, (uint32_t)net->input.w);
    hsi_blob_put_u64(&w, net->n_params);
    hsi_blob_put_u64(&w, net->n_state);
    hsi_blob_put_u64(&w, net->iterations);
    hsi_blob_put_u32(&w, (uint32_t)net->epoch);
    for (int i = 0; i < 4; i++) hsi_blob_put_u64(&w, net->rng.s[i]);
    hsi_cnn_meta empty = {0};
    if (!meta) meta = &empty;
    uint32_t bands_len = (uint32_t)strnlen(meta->bands, sizeof meta->bands);
    hsi_blob_put_u32(&w, (uint32_t)meta->radius);
    hsi_blob_put_u32(&w, (uint32_t)meta->border);
    hsi_blob_put_u64(&w, meta->seed);
    hsi_blob_put_u32(&w, bands_len);
    hsi_blob_put(&w, meta->bands, bands_len);
    int nc = meta->classes ? meta->n_classes : 0;
    hsi_blob_put_u32(&w, (uint32_t)nc);
    for (int k = 0; nc && k <= nc; k++) {
        /* Zero-padded: bytes after the terminator must not leak into the file. */
        char padded[HSI_CLASS_NAME_MAX] = {0};
        memcpy(padded, meta->classes[k].name, strnlen(meta->classes[k].name, HSI_CLASS_NAME_MAX - 1));
        hsi_blob_put(&w, padded, HSI_CLASS_NAME_MAX);
        hsi_blob_put(&w, meta->classes[k].rgb, 3);
    }
    hsi_blob_put_u8(&w, meta->preprocess != NULL);
    if (meta->preprocess) hsi_preprocess_write(meta->preprocess, &w);
    uint8_t has_opt = net->training;
    hsi_blob_put_u8(&w, has_opt);
    /* Parameters live in backend memory: copy them out through the backend. */
    size_t nf = net->n_params * (has_opt ? 3 : 1) + net->n_state;
    float *host = malloc((nf + 1) * sizeof *host);
    if (!host) {
        hsi_blob_writer_discard(&w);
        return hsi_error(HSI_ERR_NOMEM, "%s: out of memory serialising the net", path);
    }
    net->be->download(net->be, host, net->params, net->n_params * sizeof *host);
    net->be->download(net->be, host + net->n_params, net->state, net->n_state * sizeof *host);
    if (has_opt) {
        float *m = host + net->n_params + net->n_state;
        net->be->download(net->be, m, net->opt_m, net->n_params * sizeof *host);
        net->be->download(net->be, m + net->n_params, net->opt_v, net->n_params * sizeof *host);
    }
    hsi_blob_put(&w, host, nf * sizeof *host);
    free(host);
    return hsi_blob_writer_commit(&w, path);
}

hsi_status hsi_cnn_checkpoint_read(const char *path, int training, int max_batch,
                                   const hsi_cnn_backend *backend, hsi_cnn_net **net_out,
                                   hsi_cnn_meta *meta)
{
    *net_out = NULL;
    if (meta) memset(meta, 0, sizeof *meta);
    unsigned char *buf;
    hsi_blob_reader r;
    hsi_status load_st =
        hsi_blob_load(path, ckpt_magic, CKPT_VERSION, SIZE_MAX, "CNN checkpoint", &buf, &r);
    if (load_st) return load_st;
    hsi_status st = HSI_OK;
    hsi_cnn_spec *spec = NULL;
    hsi_cnn_net *net = NULL;
    hsi_cnn_meta m = {0};
    char *text = NULL;
    uint32_t spec_len = hsi_blob_get_u32(&r);
    if (spec_len > hsi_blob_left(&r)) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: checkpoint has an impossible spec length", path);
        goto done;
    }
    text = malloc(spec_len + 1);
    if (!text) {
        st = hsi_error(HSI_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    hsi_blob_get(&r, text, spec_len);
    text[spec_len] = '\0';
    int bands = (int)hsi_blob_get_u32(&r), classes = (int)hsi_blob_get_u32(&r);
    int in_h = (int)hsi_blob_get_u32(&r), in_w = (int)hsi_blob_get_u32(&r);
    uint64_t n_params = hsi_blob_get_u64(&r), n_state = hsi_blob_get_u64(&r), iterations = hsi_blob_get_u64(&r);
    int epoch = (int)hsi_blob_get_u32(&r);
    hsi_rng rng;
    for (int i = 0; i < 4; i++) rng.s[i] = hsi_blob_get_u64(&r);
    m.radius = (int)hsi_blob_get_u32(&r);
    m.border = (int)hsi_blob_get_u32(&r);
    m.seed = hsi_blob_get_u64(&r);
    uint32_t bands_len = hsi_blob_get_u32(&r);
    if (bands_len >= sizeof m.bands) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: checkpoint has an impossible band list", path);
        goto done;
    }
    hsi_blob_get(&r, m.bands, bands_len);
    uint32_t nc = hsi_blob_get_u32(&r);
    if (nc > 65535) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: checkpoint has an impossible class table", path);
        goto done;
    }
    if (nc) {
        m.n_classes = (int)nc;
        m.classes = calloc(nc + 1, sizeof *m.classes);
        if (!m.classes) {
            st = hsi_error(HSI_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        for (uint32_t k = 0; k <= nc; k++) {
            hsi_blob_get(&r, m.classes[k].name, HSI_CLASS_NAME_MAX);
            m.classes[k].name[HSI_CLASS_NAME_MAX - 1] = '\0';
            hsi_blob_get(&r, m.classes[k].rgb, 3);
        }
    }
    uint8_t has_pre = hsi_blob_get_u8(&r);
    if (has_pre && !r.short_read && (st = hsi_preprocess_read(&r, path, &m.preprocess))) goto done;
    uint8_t has_opt = hsi_blob_get_u8(&r);
    if (r.short_read) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: checkpoint header truncated", path);
        goto done;
    }
    if ((st = hsi_cnn_spec_parse(text, path, &spec))) {
        hsi_error_prefix(st, "%s: the checkpoint's spec", path);
        goto done;
    }
    if (spec->in_h != in_h || spec->in_w != in_w) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: checkpoint shapes disagree with its spec", path);
        goto done;
    }
    hsi_cnn_net_options o = {.bands = bands, .classes = classes, .max_batch = max_batch,
                             .training = training, .backend = backend};
    if ((st = hsi_cnn_net_new(spec, &o, &net))) {
        hsi_error_prefix(st, "%s", path);
        goto done;
    }
    if (net->n_params != n_params || net->n_state != n_state) {
        st = hsi_error(HSI_ERR_FORMAT,
                       "%s: checkpoint holds %llu parameters, its spec needs %zu (mismatched file)",
                       path, (unsigned long long)n_params, net->n_params);
        goto done;
    }
    size_t need = (n_params * (has_opt ? 3 : 1) + n_state) * sizeof(float);
    if (hsi_blob_left(&r) != need) {
        st = hsi_error(HSI_ERR_FORMAT, "%s: checkpoint has %zu bytes of parameters, expected %zu",
                       path, hsi_blob_left(&r), need);
        goto done;
    }
    const float *f = (const float *)(r.p + r.pos);
    net->be->upload(net->be, net->params, f, n_params * sizeof(float));
    net->be->upload(net->be, net->state, f + n_params, n_state * sizeof(float));
    if (training && has_opt) {
        net->be->upload(net->be, net->opt_m, f + n_params + n_state, n_params * sizeof(float));
        net->be->upload(net->be, net->opt_v, f + 2 * n_params + n_state, n_params * sizeof(float));
    }
    net->iterations = iterations;
    net->epoch = epoch;
    net->rng = rng;
done:
    free(buf);
    free(text);
    hsi_cnn_spec_free(spec);
    if (st) {
        hsi_cnn_net_free(net);
        hsi_cnn_meta_clear(&m);
        return st;
    }
    *net_out = net;
    if (meta) *meta = m;
    else hsi_cnn_meta_clear(&m);
    return HSI_OK;
}
