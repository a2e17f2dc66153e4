/* net.c - build a network from a spec, run layers forward and backward
 * through the backend, losses, optimiser steps, the summary table.
 *
 * Memory is planned once: hsi_cnn_net_plan() infers every layer's shape,
 * then hsi_cnn_net_new() allocates one parameter arena
 *     [params | grads | opt_m | opt_v | state]
 * and one activation arena
 *     [x | y of each layer | argmax | masks | xhat | recurrent states | grad ping-pong | work]
 * and points every layer into them (llm.c style).
 */
#include "cnn3d/cnn.h"
#include "cnn3d/gemm_bf16.h"
#include "cnn3d/rnn.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- planning */

int hsi_cnn_conv_geometry(int in, int k, int s, int same, int *out, int *pad)
{
    if (same) {
        *out = (in + s - 1) / s;
        int total = (*out - 1) * s + k - in;
        *pad = total > 0 ? total / 2 : 0;
        return 0;
    }
    if (k > in) return -1;
    *out = (in - k) / s + 1;
    *pad = 0;
    return 0;
}

int hsi_cnn_conv_desc_geometry(hsi_cnn_conv_desc *cd, int same)
{
    int in[3] = {cd->d, cd->h, cd->w}, k[3] = {cd->kd, cd->kh, cd->kw};
    int s[3] = {cd->sd, cd->sh, cd->sw}, out[3], pad[3];
    for (int a = 0; a < 3; a++)
        if (hsi_cnn_conv_geometry(in[a], k[a], s[a], same, &out[a], &pad[a])) return -1;
    cd->od = out[0], cd->oh = out[1], cd->ow = out[2];
    cd->pd = pad[0], cd->ph = pad[1], cd->pw = pad[2];
    return 0;
}

static hsi_status shape_error(const hsi_cnn_spec *spec, const hsi_cnn_layer_spec *l,
                              const char *fmt_problem, hsi_cnn_shape in)
{
    return hsi_error(HSI_ERR_SIZE, "%s:%d: [%s] %s (its input is x=%d y=%d bands=%d channels=%d)",
                     spec->path, l->line, hsi_cnn_layer_kind_name(l->kind), fmt_problem, in.w,
                     in.h, in.d, in.c);
}

/* Flatness is where the layer sequence puts it, not a shape: a conv3d with
 * many filters over a 1 x 1 x 1 output is still a volume a pad, conv or pool
 * may follow (hamida2018 on 4 bands), while after [flatten] or [dense] the
 * values are a vector whatever its length. `flat_at` is the line of the
 * layer that made the input flat (0: a volume). */
static hsi_status volume_needed(const hsi_cnn_spec *spec, const hsi_cnn_layer_spec *l,
                                int flat_at, hsi_cnn_layer_kind flat_kind, hsi_cnn_shape in)
{
    char msg[128];
    snprintf(msg, sizeof msg, "needs a volume, but [%s] at line %d made its input a flat vector",
             hsi_cnn_layer_kind_name(flat_kind), flat_at);
    return shape_error(spec, l, msg, in);
}

hsi_status hsi_cnn_net_plan(const hsi_cnn_spec *spec, int bands, int classes,
                            hsi_cnn_shape *input, hsi_cnn_layer *layers)
{
    int b = spec->in_bands, k = spec->classes;
    if (b && bands && b != bands)
        return hsi_error(HSI_ERR_SIZE, "%s: the spec's input has %d bands, the data %d", spec->path,
                         b, bands);
    if (!b) b = bands;
    if (!k) k = classes;
    if (k && classes && k != classes)
        return hsi_error(HSI_ERR_SIZE, "%s: the spec has %d classes, the data %d", spec->path, k,
                         classes);
    if (b <= 0) return hsi_error(HSI_ERR_ARG, "%s: input bands are 'auto': give the band count", spec->path);
    if (k <= 1) return hsi_error(HSI_ERR_ARG, "%s: classes are 'auto': give the class count", spec->path);
    hsi_cnn_shape s = {1, b, spec->in_h, spec->in_w};
    *input = s;
    int flat_at = 0; /* line of the [flatten] / [dense] that made s a vector */
    hsi_cnn_layer_kind flat_kind = HSI_CNN_FLATTEN;
    for (int i = 0; i < spec->n_layers; i++) {
        const hsi_cnn_layer_spec *l = &spec->layers[i];
        hsi_cnn_layer *L = &layers[i];
        memset(L, 0, sizeof *L);
        L->spec = *l;
        L->in = s;
        hsi_cnn_shape o = s;
        char msg[160];
        switch (l->kind) {
        case HSI_CNN_CONV3D: {
            if (flat_at) return volume_needed(spec, l, flat_at, flat_kind, s);
            /* padding and output sizes: hsi_cnn_conv_desc_geometry */
            hsi_cnn_conv_desc cd = {0, s.c, s.d, s.h, s.w, l->units, l->kernel[0], l->kernel[1],
                                    l->kernel[2], l->stride[0], l->stride[1], l->stride[2],
                                    0, 0, 0, 0, 0, 0, 0};
            if (hsi_cnn_conv_desc_geometry(&cd, l->same)) {
                snprintf(msg, sizeof msg, "kernel x=%d y=%d spectral=%d is larger than its input",
                         l->kernel[2], l->kernel[1], l->kernel[0]);
                return shape_error(spec, l, msg, s);
            }
            o = (hsi_cnn_shape){l->units, cd.od, cd.oh, cd.ow};
            L->conv = cd;
            size_t K = (size_t)s.c * l->kernel[0] * l->kernel[1] * l->kernel[2];
            L->n_weights = K * l->units;
            L->n_bias = l->units;
            L->flops = 2.0 * K * hsi_cnn_shape_size(o);
            break;
        }
        case HSI_CNN_MAXPOOL3D:
        case HSI_CNN_AVGPOOL3D: {
            if (flat_at) return volume_needed(spec, l, flat_at, flat_kind, s);
            int dims[3] = {s.d, s.h, s.w}, out[3], pad;
            for (int a = 0; a < 3; a++)
                if (hsi_cnn_conv_geometry(dims[a], l->kernel[a], l->stride[a], 0, &out[a], &pad)) {
                    snprintf(msg, sizeof msg, "window x=%d y=%d spectral=%d is larger than its input",
                             l->kernel[2], l->kernel[1], l->kernel[0]);
                    return shape_error(spec, l, msg, s);
                }
            o = (hsi_cnn_shape){s.c, out[0], out[1], out[2]};
            L->pool = (hsi_cnn_pool_desc){0, s.c, s.d, s.h, s.w, l->kernel[0], l->kernel[1],
                                          l->kernel[2], l->stride[0], l->stride[1], l->stride[2],
                                          0, 0, 0, out[0], out[1], out[2]};
            L->flops = (double)hsi_cnn_shape_size(o) * l->kernel[0] * l->kernel[1] * l->kernel[2];
            break;
        }
        case HSI_CNN_ZEROPAD3D:
            if (flat_at) return volume_needed(spec, l, flat_at, flat_kind, s);
            o = (hsi_cnn_shape){s.c, s.d + 2 * l->pad[0], s.h + 2 * l->pad[1], s.w + 2 * l->pad[2]};
            L->pool = (hsi_cnn_pool_desc){0, s.c, s.d, s.h, s.w, 0, 0, 0, 0, 0, 0,
                                          l->pad[0], l->pad[1], l->pad[2], o.d, o.h, o.w};
            break;
        case HSI_CNN_FLATTEN:
            o = (hsi_cnn_shape){(int)hsi_cnn_shape_size(s), 1, 1, 1};
            break;
        case HSI_CNN_DENSE: {
            /* A 1 x 1 x 1 volume is laid out as the vector of its channels,
             * so [dense] may take it without a [flatten]. */
            if (!flat_at && !(s.d == 1 && s.h == 1 && s.w == 1))
                return shape_error(spec, l, "needs a flat input: add [flatten] before it", s);
            int units = l->units_is_classes ? k : l->units;
            if (i == spec->n_layers - 1 && units != k) {
                snprintf(msg, sizeof msg, "the last layer has %d units but there are %d classes",
                         units, k);
                return shape_error(spec, l, msg, s);
            }
            L->spec.units = units;
            o = (hsi_cnn_shape){units, 1, 1, 1};
            L->n_weights = (size_t)s.c * units;
            L->n_bias = units;
            L->flops = 2.0 * s.c * units;
            break;
        }
        case HSI_CNN_DROPOUT: break;
        case HSI_CNN_LSTM:
        case HSI_CNN_GRU:
            /* The steps are the depth (bands): a flat vector has none. */
            if (flat_at) return volume_needed(spec, l, flat_at, flat_kind, s);
            hsi_cnn_rnn_plan(L);
            o = L->out;
            break;
        case HSI_CNN_BATCHNORM:
            L->n_weights = s.c; /* gamma */
            L->n_bias = s.c;    /* beta */
            L->flops = 4.0 * hsi_cnn_shape_size(s);
            break;
        }
        if (hsi_cnn_shape_size(o) == 0 || hsi_cnn_shape_size(o) > ((size_t)1 << 31))
            return shape_error(spec, l, "gives an empty or huge output", s);
        L->out = o;
        s = o;
        /* A recurrent layer's last state is a vector too. */
        if (l->kind == HSI_CNN_FLATTEN || l->kind == HSI_CNN_DENSE ||
            ((l->kind == HSI_CNN_LSTM || l->kind == HSI_CNN_GRU) && !l->return_sequences))
            flat_at = l->line, flat_kind = l->kind;
    }
    return HSI_OK;
}

/* ---------------------------------------------------------------- building */

static void init_weights(const hsi_cnn_net *net, const hsi_cnn_layer *L, float *w, float *b,
                         float *state, hsi_rng *rng)
{
    size_t fan_in, fan_out;
    if (L->spec.kind == HSI_CNN_BATCHNORM) {
        for (size_t i = 0; i < L->n_weights; i++) w[i] = 1.0f, b[i] = 0.0f;
        for (int c = 0; c < L->in.c; c++) state[c] = 0.0f, state[L->in.c + c] = 1.0f;
        return;
    }
    if (L->spec.kind == HSI_CNN_LSTM || L->spec.kind == HSI_CNN_GRU) {
        hsi_cnn_rnn_init(L, w, b, rng);
        return;
    }
    if (L->spec.kind == HSI_CNN_CONV3D) {
        size_t rf = (size_t)L->conv.kd * L->conv.kh * L->conv.kw;
        fan_in = rf * L->conv.c;
        fan_out = rf * L->conv.f;
    } else {
        fan_in = (size_t)L->in.c;
        fan_out = (size_t)L->out.c;
    }
    switch (net->spec->init) {
    case HSI_CNN_INIT_GLOROT_UNIFORM: {
        double lim = sqrt(6.0 / (double)(fan_in + fan_out));
        for (size_t i = 0; i < L->n_weights; i++)
            w[i] = (float)((2 * hsi_rng_uniform(rng) - 1) * lim);
        break;
    }
    case HSI_CNN_INIT_HE_UNIFORM: {
        double lim = sqrt(6.0 / (double)fan_in);
        for (size_t i = 0; i < L->n_weights; i++)
            w[i] = (float)((2 * hsi_rng_uniform(rng) - 1) * lim);
        break;
    }
    case HSI_CNN_INIT_HE_NORMAL: {
        double sd = sqrt(2.0 / (double)fan_in);
        for (size_t i = 0; i < L->n_weights; i++) w[i] = (float)(hsi_rng_normal(rng) * sd);
        break;
    }
    }
    for (size_t i = 0; i < L->n_bias; i++) b[i] = 0.0f;
}

hsi_status hsi_cnn_net_set_precision(hsi_cnn_net *net, hsi_cnn_precision precision)
{
    if (precision == HSI_CNN_BF16) {
        if (net->be != hsi_cnn_backend_cpu())
            return hsi_error(HSI_ERR_UNSUPPORTED, "bf16 precision runs on the CPU backend only, "
                                                  "not on '%s'", net->be->name);
        if (!hsi_cnn_bf16_cpu_ok())
            return hsi_error(HSI_ERR_UNSUPPORTED,
                             "bf16 precision needs a CPU with AVX512_BF16; this one lacks it");
    }
    for (int i = 0; i < net->n_layers; i++)
        net->layers[i].conv.bf16 = precision == HSI_CNN_BF16;
    return HSI_OK;
}

void hsi_cnn_net_free(hsi_cnn_net *net)
{
    if (!net) return;
    if (net->be) {
        if (net->param_arena) net->be->release(net->be, net->param_arena);
        if (net->act_arena) net->be->release(net->be, net->act_arena);
    }
    free(net->host_scratch);
    free(net->host_out);
    free(net->frozen);
    free(net->layers);
    hsi_cnn_spec_free(net->spec);
    free(net);
}

/* A zeropad3d followed by a conv3d runs as that conv's own padding: the
 * convolutions read depths, rows and columns outside the input as zeros
 * anyway (vol2plane, vol2col, cuDNN's pads), so the padded copy and its crop
 * in the backward pass are only memory traffic (31 MB per batch of 50 for
 * the Lange net's first pad). The layer stays in the plan and the summary;
 * it is skipped when run, and its input feeds the conv. */
static void fold_zero_padding(hsi_cnn_layer *layers, int n_layers)
{
    for (int i = 0; i + 1 < n_layers; i++) {
        hsi_cnn_layer *pad = &layers[i], *next = &layers[i + 1];
        if (pad->spec.kind != HSI_CNN_ZEROPAD3D || next->spec.kind != HSI_CNN_CONV3D) continue;
        pad->folded = 1;
        next->conv.d = pad->pool.d, next->conv.h = pad->pool.h, next->conv.w = pad->pool.w;
        next->conv.pd += pad->pool.pd, next->conv.ph += pad->pool.ph, next->conv.pw += pad->pool.pw;
    }
}

/* What layer i reads: the output of the nearest layer below it that runs. */
static const float *layer_input(const hsi_cnn_net *net, int i)
{
    while (--i >= 0)
        if (!net->layers[i].folded) return net->layers[i].y;
    return net->x;
}

static hsi_status copy_spec(const hsi_cnn_spec *src, hsi_cnn_spec **out)
{
    /* Re-parse the text: the copy owns everything and is identical, but
     * for the input size and a prefix of the layers, which the caller may
     * have changed (the trunk of dense prediction, cnn3d/predict_dense.c:
     * the layers up to [flatten] over a tile of the scene). */
    hsi_status st = hsi_cnn_spec_parse(src->text, src->path, out);
    if (st) return st;
    (*out)->in_h = src->in_h, (*out)->in_w = src->in_w;
    if (src->n_layers < (*out)->n_layers) (*out)->n_layers = src->n_layers;
    return HSI_OK;
}

void hsi_cnn_count_params(const hsi_cnn_layer *layers, int n_layers, size_t *n_params,
                          size_t *n_state)
{
    *n_params = *n_state = 0;
    for (int i = 0; i < n_layers; i++) {
        *n_params += layers[i].n_weights + layers[i].n_bias;
        if (layers[i].spec.kind == HSI_CNN_BATCHNORM) *n_state += 2 * (size_t)layers[i].in.c;
    }
}

/* Floats of the activation arena of planned layers (zero padding folded)
 * for batches of B; *largest gets the largest tensor of a sample (the host
 * scratch and, in training, each of the two gradient buffers hold a batch
 * of it), *work the largest layer workspace (in the arena too). */
static size_t activation_floats(const hsi_cnn_layer *layers, int n_layers, hsi_cnn_shape input,
                                size_t B, int training, const hsi_cnn_backend *be,
                                size_t *largest, size_t *work_floats)
{
    size_t big = hsi_cnn_shape_size(input), work = 0;
    size_t act = B * big;
    for (int i = 0; i < n_layers; i++) {
        const hsi_cnn_layer *L = &layers[i];
        size_t o = hsi_cnn_shape_size(L->out);
        if (!L->folded) act += B * o;
        if (o > big) big = o;
        if (L->spec.kind == HSI_CNN_MAXPOOL3D) act += B * o; /* argmax, int32 = float size */
        if (L->spec.kind == HSI_CNN_DROPOUT && training) act += B * o;
        if (L->spec.kind == HSI_CNN_BATCHNORM && training) act += B * o + L->in.c;
        if (L->spec.kind == HSI_CNN_LSTM || L->spec.kind == HSI_CNN_GRU) {
            size_t ws = hsi_cnn_rnn_work_floats(L, B);
            act += hsi_cnn_rnn_arena_floats(L, B);
            if (ws > work) work = ws;
        }
        if (L->spec.kind == HSI_CNN_CONV3D) {
            size_t ws = be->conv3d_workspace(be, &L->conv);
            if (ws > work) work = ws;
        }
    }
    size_t grad_floats = training ? B * big : 0;
    act += 2 * grad_floats + B * (size_t)layers[n_layers - 1].out.c + work;
    /* Round every block to 16 floats (64 bytes) for alignment. */
    act += 16 * (size_t)(3 * n_layers + 8);
    *largest = big, *work_floats = work;
    return act;
}

hsi_status hsi_cnn_net_size(const hsi_cnn_spec *spec, const hsi_cnn_net_options *opts,
                            size_t *bytes, double *flops)
{
    *bytes = 0, *flops = 0;
    hsi_cnn_layer *layers = calloc((size_t)spec->n_layers, sizeof *layers);
    if (!layers) return hsi_error(HSI_ERR_NOMEM, "out of memory planning %s", spec->path);
    hsi_cnn_shape input;
    hsi_status st = hsi_cnn_net_plan(spec, opts->bands, opts->classes, &input, layers);
    if (!st) {
        const int n = spec->n_layers;
        const hsi_cnn_backend *be = opts->backend ? opts->backend : hsi_cnn_backend_cpu();
        const size_t B = (size_t)(opts->max_batch > 0 ? opts->max_batch : spec->batch);
        fold_zero_padding(layers, n);
        size_t n_params, n_state, largest, work;
        hsi_cnn_count_params(layers, n, &n_params, &n_state);
        size_t params = (opts->training ? 4 : 1) * n_params + n_state;
        size_t act = activation_floats(layers, n, input, B, opts->training, be, &largest, &work);
        size_t out = be->device ? 2 * B * (size_t)layers[n - 1].out.c : 0; /* host_out */
        *bytes = ((params ? params : 1) + act + B * largest + out) * sizeof(float);
        for (int i = 0; i < n; i++) *flops += layers[i].flops;
    }
    free(layers);
    return st;
}

hsi_status hsi_cnn_net_new(const hsi_cnn_spec *spec, const hsi_cnn_net_options *opts,
                           hsi_cnn_net **out)
{
    *out = NULL;
    hsi_cnn_net *net = calloc(1, sizeof *net);
    if (!net) return hsi_error(HSI_ERR_NOMEM, "out of memory building %s", spec->path);
    hsi_status st = copy_spec(spec, &net->spec);
    if (st) {
        free(net);
        return st;
    }
    net->be = opts->backend ? opts->backend : hsi_cnn_backend_cpu();
    net->training = opts->training;
    net->max_batch = opts->max_batch > 0 ? opts->max_batch : spec->batch;
    net->lr_scale = 1.0;
    net->n_layers = spec->n_layers;
    net->layers = calloc(spec->n_layers, sizeof *net->layers);
    if (!net->layers) {
        hsi_cnn_net_free(net);
        return hsi_error(HSI_ERR_NOMEM, "out of memory building %s", spec->path);
    }
    if ((st = hsi_cnn_net_plan(net->spec, opts->bands, opts->classes, &net->input, net->layers))) {
        hsi_cnn_net_free(net);
        return st;
    }
    net->classes = net->layers[net->n_layers - 1].out.c;
    fold_zero_padding(net->layers, net->n_layers);
    hsi_rng_seed(&net->rng, opts->seed);
    hsi_cnn_schedule_reset(net);

    /* Parameter arena. */
    size_t n_params, n_state;
    hsi_cnn_count_params(net->layers, net->n_layers, &n_params, &n_state);
    net->n_params = n_params;
    net->n_state = n_state;
    size_t copies = net->training ? 4 : 1; /* params, grads, m, v */
    size_t param_floats = copies * n_params + n_state;
    net->param_arena = net->be->alloc(net->be, (param_floats ? param_floats : 1) * sizeof(float));
    if (!net->param_arena) {
        if (net->be->status && (st = net->be->status(net->be))) {
            hsi_cnn_net_free(net);
            return hsi_error_prefix(st, "%s", spec->path);
        }
        hsi_cnn_net_free(net);
        return hsi_error(HSI_ERR_NOMEM, "out of memory for %zu parameters of %s", n_params,
                         spec->path);
    }
    net->params = net->param_arena;
    net->grads = net->training ? net->params + n_params : NULL;
    net->opt_m = net->training ? net->params + 2 * n_params : NULL;
    net->opt_v = net->training ? net->params + 3 * n_params : NULL;
    net->state = net->param_arena + copies * n_params;

    /* Activation arena: count first, then point. */
    size_t B = (size_t)net->max_batch, largest, work;
    size_t act = activation_floats(net->layers, net->n_layers, net->input, B, net->training,
                                   net->be, &largest, &work);
    size_t grad_floats = net->training ? B * largest : 0;
    net->act_floats = act;
    net->act_arena = net->be->alloc(net->be, act * sizeof(float));
    net->host_scratch = malloc(B * largest * sizeof(float));
    if (net->be->device) net->host_out = malloc(2 * B * net->classes * sizeof(float));
    if (!net->act_arena || !net->host_scratch || (net->be->device && !net->host_out)) {
        if (!net->act_arena && net->be->status && net->be->status(net->be)) {
            /* the device's own message: out of GPU memory, with the sizes */
            st = net->be->status(net->be);
            hsi_cnn_net_free(net);
            return hsi_error_prefix(st, "%s (batch %d)", spec->path, opts->max_batch > 0 ? opts->max_batch : spec->batch);
        }
        hsi_cnn_net_free(net);
        return hsi_error(HSI_ERR_NOMEM, "out of memory for %zu activations (batch %d) of %s", act,
                         net->max_batch, spec->path);
    }
    float *p = net->act_arena;
#define TAKE(n) (p += (((n) + 15) & ~(size_t)15), p - (((n) + 15) & ~(size_t)15))
    net->x = TAKE(B * hsi_cnn_shape_size(net->input));
    float *pp = net->params, *gp = net->grads, *sp = net->state;
    float *host = malloc((n_params + n_state + 1) * sizeof(float));
    if (!host) {
        hsi_cnn_net_free(net);
        return hsi_error(HSI_ERR_NOMEM, "out of memory building %s", spec->path);
    }
    hsi_rng init_rng;
    hsi_rng_seed(&init_rng, opts->seed ^ 0x9e3779b97f4a7c15ull);
    for (int i = 0; i < net->n_layers; i++) {
        hsi_cnn_layer *L = &net->layers[i];
        size_t o = hsi_cnn_shape_size(L->out);
        L->y = L->folded ? NULL : TAKE(B * o);
        if (L->spec.kind == HSI_CNN_MAXPOOL3D) L->argmax = (int32_t *)TAKE(B * o);
        if (L->spec.kind == HSI_CNN_DROPOUT && net->training) L->mask = TAKE(B * o);
        if (L->spec.kind == HSI_CNN_BATCHNORM && net->training) {
            L->bn_xhat = TAKE(B * o);
            L->bn_invstd = TAKE((size_t)L->in.c);
        }
        if (L->spec.kind == HSI_CNN_LSTM || L->spec.kind == HSI_CNN_GRU)
            p = hsi_cnn_rnn_take(L, p, B);
        if (L->n_weights + L->n_bias) {
            size_t off = (size_t)(pp - net->params);
            L->w = pp;
            L->b = pp + L->n_weights;
            if (gp) L->dw = gp, L->db = gp + L->n_weights, gp += L->n_weights + L->n_bias;
            float *state_host = host + n_params + (sp - net->state);
            if (L->spec.kind == HSI_CNN_BATCHNORM) {
                L->running_mean = sp;
                L->running_var = sp + L->in.c;
                sp += 2 * (size_t)L->in.c;
            }
            init_weights(net, L, host + off, host + off + L->n_weights, state_host, &init_rng);
            pp += L->n_weights + L->n_bias;
        }
    }
    net->be->upload(net->be, net->params, host, n_params * sizeof(float));
    if (n_state) net->be->upload(net->be, net->state, host + n_params, n_state * sizeof(float));
    free(host);
    if (net->training) {
        net->grad_a = TAKE(grad_floats);
        net->grad_b = TAKE(grad_floats);
    }
    net->dlogits = TAKE(B * net->classes);
    net->loss_grad = net->be->device ? net->host_out + B * net->classes : net->dlogits;
    net->work = TAKE(work);
    net->work_floats = work;
#undef TAKE
    *out = net;
    return HSI_OK;
}

/* ---------------------------------------------------------------- forward */

static void layer_forward(hsi_cnn_net *net, hsi_cnn_layer *L, const float *x, int n, int training)
{
    const hsi_cnn_backend *be = net->be;
    size_t out_size = hsi_cnn_shape_size(L->out);
    switch (L->spec.kind) {
    case HSI_CNN_CONV3D:
        L->conv.n = n;
        be->conv3d_forward(be, &L->conv, x, L->w, L->b, L->spec.activation, L->y, net->work);
        break;
    case HSI_CNN_DENSE:
        /* y (n x units) = x (n x in) . W^T + b;  W is (units x in) */
        be->gemm(be, 0, 1, n, L->out.c, L->in.c, 1.0f, x, L->in.c, L->w, L->in.c, 0.0f, L->y,
                 L->out.c);
        be->bias_add(be, n, L->out.c, L->b, L->y);
        be->activation_forward(be, L->spec.activation, n, L->out.c, L->y);
        break;
    case HSI_CNN_MAXPOOL3D:
        L->pool.n = n;
        be->maxpool3d_forward(be, &L->pool, x, L->y, L->argmax);
        break;
    case HSI_CNN_AVGPOOL3D:
        L->pool.n = n;
        be->avgpool3d_forward(be, &L->pool, x, L->y);
        break;
    case HSI_CNN_ZEROPAD3D:
        L->pool.n = n;
        be->pad3d_forward(be, &L->pool, x, L->y);
        break;
    case HSI_CNN_FLATTEN: be->copy(be, n * out_size, x, L->y); break;
    case HSI_CNN_DROPOUT:
        if (!training || L->spec.rate <= 0 || !L->mask) {
            be->copy(be, n * out_size, x, L->y);
            break;
        }
        {
            /* Inverted dropout: kept units are scaled by 1/(1-rate) in training,
             * so inference is the identity. */
            float keep = 1.0f / (1.0f - L->spec.rate);
            for (size_t i = 0; i < n * out_size; i++)
                net->host_scratch[i] = hsi_rng_uniform(&net->rng) < L->spec.rate ? 0.0f : keep;
            be->upload(be, L->mask, net->host_scratch, n * out_size * sizeof(float));
            be->mul(be, n * out_size, x, L->mask, L->y);
        }
        break;
    case HSI_CNN_BATCHNORM: {
        int s = (int)(out_size / L->out.c);
        int use_batch = training && L->bn_xhat;
        be->batchnorm_forward(be, n, L->out.c, s, x, L->w, L->b, L->running_mean,
                              L->running_var, L->spec.bn_momentum, L->spec.bn_epsilon, use_batch,
                              use_batch ? L->bn_xhat : NULL, use_batch ? L->bn_invstd : NULL,
                              L->y);
        be->activation_forward(be, L->spec.activation, n * L->out.c, s, L->y);
        break;
    }
    case HSI_CNN_LSTM:
    case HSI_CNN_GRU: hsi_cnn_rnn_forward(be, L, x, n, net->work); break;
    }
}

/* Conv + ReLU followed by a max-pool, as one backend call where it fuses
 * them: the conv's own output (the Lange net's biggest tensor) is then
 * never stored. Nothing reads it later: the pool's backward takes the ReLU
 * mask from the pooled values (the gate in hsi_cnn_backward), so the conv's
 * backward does not read its y. Returns 1 when layers i and i + 1 ran. */
static int fused_conv_pool(hsi_cnn_net *net, int i, int n)
{
    const hsi_cnn_backend *be = net->be;
    hsi_cnn_layer *C = &net->layers[i], *P = i + 1 < net->n_layers ? C + 1 : NULL;
    if (!be->conv3d_forward_maxpool || C->spec.kind != HSI_CNN_CONV3D ||
        C->spec.activation != HSI_CNN_ACT_RELU || !P || P->folded ||
        P->spec.kind != HSI_CNN_MAXPOOL3D)
        return 0;
    C->conv.n = n;
    P->pool.n = n;
    return be->conv3d_forward_maxpool(be, &C->conv, layer_input(net, i), C->w, C->b,
                                      C->spec.activation, &P->pool, P->y, P->argmax, net->work);
}

/* Tell a backend that wants it (be->trace) which layer runs next, so that
 * its error messages name the layer. */
static void trace(const hsi_cnn_net *net, int layer, const char *what)
{
    if (!net->be->trace) return;
    char buf[96], name[64] = "";
    if (layer >= 0) hsi_cnn_layer_name(net->spec->layers, layer, name, sizeof name);
    snprintf(buf, sizeof buf, "%s%s%s", name, *name ? " " : "", what);
    net->be->trace(net->be, buf);
}

/* Layers [first, n_layers) forward; returns the outputs in backend memory. */
static const float *run_layers(hsi_cnn_net *net, int first, int n, int training)
{
    for (int i = first; i < net->n_layers; i++) {
        hsi_cnn_layer *L = &net->layers[i];
        if (L->folded) continue;
        trace(net, i, "forward");
        if (fused_conv_pool(net, i, n)) {
            i++; /* the pool after it is done */
            continue;
        }
        layer_forward(net, L, layer_input(net, i), n, training);
    }
    return net->layers[net->n_layers - 1].y;
}

/* The forward pass; returns the outputs in backend memory. */
static const float *forward_pass(hsi_cnn_net *net, const float *x, int n, int training)
{
    if (x != net->x)
        net->be->upload(net->be, net->x, x, (size_t)n * hsi_cnn_shape_size(net->input) * sizeof(float));
    return run_layers(net, 0, n, training && net->training);
}

float *hsi_cnn_layer_input(hsi_cnn_net *net, int layer)
{
    return (float *)layer_input(net, layer);
}

const float *hsi_cnn_forward_from(hsi_cnn_net *net, int first, int n)
{
    if (n > net->max_batch) n = net->max_batch;
    run_layers(net, first, n, 0);
    return hsi_cnn_forward_finish(net, n);
}

void hsi_cnn_forward_start(hsi_cnn_net *net, const float *x, int n)
{
    forward_pass(net, x, n > net->max_batch ? net->max_batch : n, 0);
}

const float *hsi_cnn_forward_finish(hsi_cnn_net *net, int n)
{
    const float *y = net->layers[net->n_layers - 1].y;
    if (n > net->max_batch) n = net->max_batch;
    if (!net->be->device) return y;
    /* A device backend: the outputs are read back (the one synchronisation
     * of a step); after a device failure they are zeros, and
     * hsi_cnn_backend_check() reports it. */
    trace(net, -1, "reading the outputs back");
    net->be->download(net->be, net->host_out, y, (size_t)n * net->classes * sizeof(float));
    return net->host_out;
}

const float *hsi_cnn_forward(hsi_cnn_net *net, const float *x, int n, int training)
{
    if (n > net->max_batch) n = net->max_batch;
    forward_pass(net, x, n, training);
    return hsi_cnn_forward_finish(net, n);
}

/* ---------------------------------------------------------------- backward */

/* dy is d loss / d (this layer's output after activation) and may be
 * overwritten; dx (NULL: not needed) receives d loss / d input.
 * param_grad = 0 (a frozen layer, transfer learning): its dw and db are not
 * computed, where they are separate work (conv3d's filter pass, dense's dW
 * GEMM and bias sums, lstm / gru's dW GEMMs); batchnorm computes them
 * anyway, for they are the two sums per channel its dx is built from. */
static void layer_backward(hsi_cnn_net *net, hsi_cnn_layer *L, const float *x, float *dy,
                           float *dx, int n, int skip_activation, int gate_relu, int param_grad)
{
    const hsi_cnn_backend *be = net->be;
    size_t out_size = hsi_cnn_shape_size(L->out);
    switch (L->spec.kind) {
    case HSI_CNN_CONV3D:
        if (!skip_activation)
            be->activation_backward(be, L->spec.activation, n * L->out.c,
                                    (int)(out_size / L->out.c), L->y, dy);
        L->conv.n = n;
        if (param_grad) be->conv3d_backward_filter(be, &L->conv, x, dy, L->dw, L->db, net->work);
        if (dx) be->conv3d_backward_data(be, &L->conv, dy, L->w, dx, net->work);
        break;
    case HSI_CNN_DENSE:
        if (!skip_activation) be->activation_backward(be, L->spec.activation, n, L->out.c, L->y, dy);
        /* dW (units x in) = dy^T (units x n) . x (n x in);  dx (n x in) = dy . W */
        if (param_grad) {
            be->gemm(be, 1, 0, L->out.c, L->in.c, n, 1.0f, dy, L->out.c, x, L->in.c, 0.0f,
                     L->dw, L->in.c);
            be->bias_grad(be, n, L->out.c, dy, L->db);
        }
        if (dx)
            be->gemm(be, 0, 0, n, L->in.c, L->out.c, 1.0f, dy, L->out.c, L->w, L->in.c, 0.0f, dx,
                     L->in.c);
        break;
    case HSI_CNN_MAXPOOL3D:
        L->pool.n = n;
        if (dx) be->maxpool3d_backward(be, &L->pool, dy, L->argmax, gate_relu ? L->y : NULL, dx);
        break;
    case HSI_CNN_AVGPOOL3D:
        L->pool.n = n;
        if (dx) be->avgpool3d_backward(be, &L->pool, dy, dx);
        break;
    case HSI_CNN_ZEROPAD3D:
        L->pool.n = n;
        if (dx) be->pad3d_backward(be, &L->pool, dy, dx);
        break;
    case HSI_CNN_FLATTEN:
        if (dx) be->copy(be, n * out_size, dy, dx);
        break;
    case HSI_CNN_DROPOUT:
        if (!dx) break;
        if (L->mask && L->spec.rate > 0) be->mul(be, n * out_size, dy, L->mask, dx);
        else be->copy(be, n * out_size, dy, dx);
        break;
    case HSI_CNN_BATCHNORM:
        if (!skip_activation)
            be->activation_backward(be, L->spec.activation, n * L->out.c,
                                    (int)(out_size / L->out.c), L->y, dy);
        be->batchnorm_backward(be, n, L->out.c, (int)(out_size / L->out.c), dy, L->bn_xhat,
                               L->bn_invstd, L->w, L->dw, L->db, dx);
        break;
    case HSI_CNN_LSTM:
    case HSI_CNN_GRU: hsi_cnn_rnn_backward(be, L, x, dy, dx, n, net->work, param_grad); break;
    }
}

/* Whether layer i has parameters that the optimiser updates (not frozen). */
static int layer_trains(const hsi_cnn_net *net, int i)
{
    const hsi_cnn_layer *L = &net->layers[i];
    return L->n_weights + L->n_bias && !(net->frozen && net->frozen[i]);
}

/* The lowest layer the backward pass runs: the net's first (not folded)
 * layer when d loss / d input is wanted, else the lowest layer that trains,
 * for below it no gradient is used (with the convolutions frozen for
 * transfer learning, most of a step's backward work); n_layers when no
 * layer trains. */
static int backward_stop(const hsi_cnn_net *net)
{
    int first = 0;
    while (net->layers[first].folded) first++;
    if (net->want_input_grad) return first;
    for (int i = first; i < net->n_layers; i++)
        if (layer_trains(net, i)) return i;
    return net->n_layers;
}

/* The backward pass from d loss / d output in net->grad_a. Layers from the
 * top down to backward_stop() run; frozen ones among them pass the gradient
 * down without computing their own (their dw and db keep what they held,
 * and nothing reads them: the optimiser and cnn3d/dist.c skip them). */
static void backward_from(hsi_cnn_net *net, int n, int dout_is_pre_activation)
{
    float *g = net->grad_a, *other = net->grad_b;
    int relu_done = 0; /* the layer above already applied this layer's ReLU mask */
    const int stop = backward_stop(net);
    for (int i = net->n_layers - 1; i >= stop; i--) {
        hsi_cnn_layer *L = &net->layers[i];
        if (L->folded) continue; /* the conv above took the padding's gradient with its own */
        const float *x = layer_input(net, i);
        float *dx = (i > stop || net->want_input_grad) ? other : NULL;
        /* ReLU then max-pool (the Lange net): the pool's backward applies the
         * ReLU mask itself, sparing a pass over the un-pooled tensor. */
        int gate = L->spec.kind == HSI_CNN_MAXPOOL3D && i > 0 && dx &&
                   net->layers[i - 1].spec.activation == HSI_CNN_ACT_RELU &&
                   (net->layers[i - 1].spec.kind == HSI_CNN_CONV3D ||
                    net->layers[i - 1].spec.kind == HSI_CNN_BATCHNORM);
        int skip = (i == net->n_layers - 1 && dout_is_pre_activation) || relu_done;
        trace(net, i, "backward");
        layer_backward(net, L, x, g, dx, n, skip, gate, layer_trains(net, i));
        if (net->grad_ready) net->grad_ready(net->grad_ready_ctx, net, i);
        relu_done = gate;
        if (dx) {
            other = g;
            g = dx;
        }
    }
    net->input_grad = net->want_input_grad ? g : NULL;
}

void hsi_cnn_backward(hsi_cnn_net *net, const float *dout, int n, int dout_is_pre_activation)
{
    if (!net->training) return;
    if (net->be->device) /* dout and loss_grad are host memory */
        net->be->upload(net->be, net->grad_a, dout ? dout : net->loss_grad,
                        (size_t)n * net->classes * sizeof(float));
    else net->be->copy(net->be, (size_t)n * net->classes, dout ? dout : net->dlogits, net->grad_a);
    backward_from(net, n, dout_is_pre_activation);
}

/* ---------------------------------------------------------------- loss, optimiser */

double hsi_cnn_loss_eval(hsi_cnn_loss loss, hsi_cnn_activation last_act, const float *p,
                         const int32_t *labels, const float *weights, int n, int k,
                         float *grad, int *pre_activation)
{
    double total = 0;
    int fused = loss == HSI_CNN_LOSS_CCE && last_act == HSI_CNN_ACT_SOFTMAX;
    if (pre_activation) *pre_activation = fused;
    for (int i = 0; i < n; i++) {
        const float *pi = p + (size_t)i * k;
        float *gi = grad ? grad + (size_t)i * k : NULL;
        double w = weights ? weights[i] : 1.0;
        int y = labels[i];
        if (loss == HSI_CNN_LOSS_CCE) {
            /* Keras clips probabilities to [eps, 1 - eps] before the log. */
            const double eps = 1e-7;
            double py = pi[y] < eps ? eps : pi[y] > 1 - eps ? 1 - eps : pi[y];
            total += -w * log(py);
            if (gi)
                for (int c = 0; c < k; c++) {
                    if (fused) gi[c] = (float)(w * (pi[c] - (c == y)) / n);
                    else gi[c] = c == y ? (float)(-w / (py * n)) : 0.0f;
                }
        } else {
            double s = 0;
            for (int c = 0; c < k; c++) {
                double d = pi[c] - (c == y);
                s += d * d;
                if (gi) gi[c] = (float)(2.0 * w * d / ((double)n * k));
            }
            total += w * s / k;
        }
    }
    return total / n;
}

double hsi_cnn_current_lr(const hsi_cnn_net *net)
{
    /* Keras decay, times the schedule and its warm-up (schedule.c), times
     * the linear scaling rule's factor (cnn3d/dist.c; 1 by default). */
    return net->lr_scale * net->spec->learning_rate /
           (1.0 + net->spec->decay * (double)net->iterations) * hsi_cnn_schedule_factor(net);
}

void hsi_cnn_optimizer_step(hsi_cnn_net *net)
{
    const hsi_cnn_spec *s = net->spec;
    float lr = (float)hsi_cnn_current_lr(net);
    net->iterations++;
    trace(net, -1, "optimizer update");
    /* Frozen layers (transfer learning) keep their weights and optimiser
     * moments: the update runs over each run of trainable layers' parameters
     * (one run, the whole arena, without frozen layers). */
    size_t off = 0, run = 0;
    for (int i = 0; i <= net->n_layers; i++) {
        size_t np = i < net->n_layers ? net->layers[i].n_weights + net->layers[i].n_bias : 0;
        int skip = i == net->n_layers || (net->frozen && net->frozen[i]);
        if (!skip) {
            run += np;
            continue;
        }
        if (run) {
            if (s->optimizer == HSI_CNN_OPT_ADAM)
                net->be->adam_update(net->be, run, net->params + off, net->grads + off,
                                     net->opt_m + off, net->opt_v + off, lr, (float)s->beta1,
                                     (float)s->beta2, (float)s->epsilon, (float)s->weight_decay,
                                     net->iterations);
            else
                net->be->sgd_update(net->be, run, net->params + off, net->grads + off,
                                    net->opt_m + off, lr, (float)s->momentum, s->nesterov,
                                    (float)s->weight_decay);
        }
        off += run + np;
        run = 0;
    }
}

int hsi_cnn_argmax(const float *p, int k)
{
    int best = 0;
    for (int c = 1; c < k; c++)
        if (p[c] > p[best]) best = c;
    return best;
}

/* Each sample's class weight (NULL without class weights), in the host
 * scratch: call it after the forward pass, which uses that buffer. */
static const float *sample_weights(hsi_cnn_net *net, const float *class_weights,
                                   const int32_t *labels, int n)
{
    if (!class_weights) return NULL;
    float *w = net->host_scratch;
    for (int i = 0; i < n; i++) w[i] = class_weights[labels[i]];
    return w;
}

void hsi_cnn_train_step_begin(hsi_cnn_net *net, const float *x, const int32_t *labels,
                              const float *class_weights, int n)
{
    if (n > net->max_batch) n = net->max_batch;
    hsi_cnn_activation last = net->layers[net->n_layers - 1].spec.activation;
    int fused = net->spec->loss == HSI_CNN_LOSS_CCE && last == HSI_CNN_ACT_SOFTMAX;
    int slot = (int)(net->steps_begun++ % 2);
    if (net->be->loss_start) {
        /* The backend's loss: the outputs stay in its memory, the gradient
         * goes straight to where the backward pass starts, and the loss
         * comes back while the rest of the step runs. */
        const float *y = forward_pass(net, x, n, 1);
        const float *w = sample_weights(net, class_weights, labels, n);
        trace(net, -1, "loss");
        net->be->loss_start(net->be, net->spec->loss == HSI_CNN_LOSS_MSE, fused, y, labels, w, n,
                            net->classes, net->grad_a);
        backward_from(net, n, fused);
        hsi_cnn_optimizer_step(net);
        return;
    }
    const float *p = hsi_cnn_forward(net, x, n, 1);
    const float *w = sample_weights(net, class_weights, labels, n);
    int pre = 0;
    net->step_loss[slot] = hsi_cnn_loss_eval(net->spec->loss, last, p, labels, w, n,
                                             net->classes, net->loss_grad, &pre);
    int hits = 0;
    for (int i = 0; i < n; i++) hits += hsi_cnn_argmax(p + (size_t)i * net->classes, net->classes) == labels[i];
    net->step_hits[slot] = hits;
    hsi_cnn_backward(net, NULL, n, pre);
    hsi_cnn_optimizer_step(net);
}

double hsi_cnn_train_step_end(hsi_cnn_net *net, int *correct)
{
    if (correct) *correct = 0;
    if (net->steps_ended == net->steps_begun) return NAN;
    int slot = (int)(net->steps_ended++ % 2);
    if (net->be->loss_start) {
        trace(net, -1, "reading the loss back");
        return net->be->loss_finish(net->be, correct);
    }
    if (correct) *correct = net->step_hits[slot];
    return net->step_loss[slot];
}

double hsi_cnn_train_step(hsi_cnn_net *net, const float *x, const int32_t *labels,
                          const float *class_weights, int n, int *correct)
{
    hsi_cnn_train_step_begin(net, x, labels, class_weights, n);
    return hsi_cnn_train_step_end(net, correct);
}

/* ---------------------------------------------------------------- summary */

typedef struct strbuf {
    char *s;
    size_t len, cap;
    int failed;
} strbuf;

__attribute__((format(printf, 2, 3))) static void sb_printf(strbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += n;
            return;
        }
        size_t cap = (b->cap + n + 1) * 2;
        char *g = realloc(b->s, cap);
        if (!g) {
            b->failed = 1;
            return;
        }
        b->s = g;
        b->cap = cap;
    }
}

static void human_flops(double f, char *buf, size_t len)
{
    if (f >= 1e9) snprintf(buf, len, "%.2f G", f / 1e9);
    else if (f >= 1e6) snprintf(buf, len, "%.2f M", f / 1e6);
    else if (f >= 1e3) snprintf(buf, len, "%.2f k", f / 1e3);
    else snprintf(buf, len, "%.0f", f);
}

static void shape_text(hsi_cnn_shape s, char *buf, size_t len)
{
    /* Keras channels-last order: (None, x, y, bands, channels) / (None, units) */
    if (s.d == 1 && s.h == 1 && s.w == 1) snprintf(buf, len, "(None, %d)", s.c);
    else snprintf(buf, len, "(None, %d, %d, %d, %d)", s.w, s.h, s.d, s.c);
}

hsi_status hsi_cnn_summary(const hsi_cnn_spec *spec, int bands, int classes, char **out)
{
    return hsi_cnn_summary_frozen(spec, bands, classes, NULL, out);
}

hsi_status hsi_cnn_summary_frozen(const hsi_cnn_spec *spec, int bands, int classes,
                                  const uint8_t *frozen, char **out)
{
    *out = NULL;
    hsi_cnn_layer *layers = calloc(spec->n_layers, sizeof *layers);
    if (!layers) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    hsi_cnn_shape input;
    hsi_status st = hsi_cnn_net_plan(spec, bands, classes, &input, layers);
    if (st) {
        free(layers);
        return st;
    }
    strbuf b = {0};
    char shape[64], fl[32];
    static const char *rule = "=============================================================================\n";
    static const char *thin = "-----------------------------------------------------------------------------\n";
    sb_printf(&b, "Model: %s\n", spec->path);
    sb_printf(&b, "%s%-28s %-26s %10s %10s\n%s", thin, "Layer (type)", "Output Shape", "Param #",
              "FLOPs", rule);
    shape_text(input, shape, sizeof shape);
    sb_printf(&b, "%-28s %-26s %10d %10s\n", "input", shape, 0, "0");
    size_t total = 0, state = 0, frozen_params = 0;
    double flops = 0;
    int count[HSI_CNN_GRU + 1] = {0};
    for (int i = 0; i < spec->n_layers; i++) {
        hsi_cnn_layer *L = &layers[i];
        char name[64];
        const char *kind = hsi_cnn_layer_kind_name(L->spec.kind);
        int has_act = L->spec.kind == HSI_CNN_CONV3D || L->spec.kind == HSI_CNN_DENSE ||
                      (L->spec.kind == HSI_CNN_BATCHNORM && L->spec.activation);
        int fz = frozen && frozen[i];
        snprintf(name, sizeof name, "%s_%d%s%s%s%s", kind, ++count[L->spec.kind],
                 has_act ? " (" : "", has_act ? hsi_cnn_activation_name(L->spec.activation) : "",
                 has_act ? ")" : "", fz ? " *" : "");
        shape_text(L->out, shape, sizeof shape);
        size_t np = L->n_weights + L->n_bias;
        if (L->spec.kind == HSI_CNN_BATCHNORM) state += 2 * (size_t)L->in.c;
        human_flops(L->flops, fl, sizeof fl);
        sb_printf(&b, "%-28s %-26s %10zu %10s\n", name, shape, np + (L->spec.kind == HSI_CNN_BATCHNORM ? 2 * (size_t)L->in.c : 0), fl);
        total += np;
        if (fz) frozen_params += np;
        flops += L->flops;
    }
    human_flops(flops, fl, sizeof fl);
    sb_printf(&b, "%s", rule);
    sb_printf(&b, "Total params: %zu\nTrainable params: %zu\nNon-trainable params: %zu\n",
              total + state, total - frozen_params, state + frozen_params);
    if (frozen_params)
        sb_printf(&b, "Frozen (*): %zu params, kept as initialised or transferred\n", frozen_params);
    sb_printf(&b, "Forward FLOPs per sample: %sFLOP (training step ~3x)\n", fl);
    sb_printf(&b, "Input: x=%d y=%d bands=%d; classes: %d; loss %s; optimizer %s lr %g decay %g; batch %d; epochs %d\n",
              input.w, input.h, input.d, layers[spec->n_layers - 1].out.c,
              spec->loss == HSI_CNN_LOSS_MSE ? "mse" : "cce",
              spec->optimizer == HSI_CNN_OPT_ADAM ? "adam" : "sgd", spec->learning_rate,
              spec->decay, spec->batch, spec->epochs);
    if (spec->schedule.kind != HSI_CNN_SCHED_CONSTANT || spec->schedule.warmup ||
        hsi_cnn_augment_active(&spec->augment)) {
        char sched[96], aug[96];
        hsi_cnn_schedule_format(&spec->schedule, sched, sizeof sched);
        hsi_cnn_augment_format(&spec->augment, aug, sizeof aug);
        sb_printf(&b, "Schedule %s; augmentation %s\n", sched, aug);
    }
    free(layers);
    if (b.failed) {
        free(b.s);
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    *out = b.s;
    return HSI_OK;
}
