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
 *     version 2: the training run's settings, which the command line may
 *       have changed from the spec text, and the schedule's state:
 *       f64 learning_rate; u32 epochs;
 *       u32 schedule kind, step, patience; f64 gamma, min_lr; u32 warmup;
 *       f64 plateau best; u32 plateau wait; f64 plateau scale;
 *       u8 flip, rotate; f64 gain, offset, mix        (augmentation)
 *       u32 n (0 or the layer count), u8 frozen[n]    (transfer learning)
 *     u8 has_optimizer; f32 params[n_params]; f32 state[n_state];
 *       with the optimiser: f32 m[n_params], v[n_params]
 *     u64 FNV-1a 64 of every byte above
 * The whole file is checked before anything is trusted.
 */
#include "cnn3d/cnn.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/blob.h"
#include "features/patch.h"
#include "features/preprocess.h"
#include "io/io.h"

static const char ckpt_magic[8] = {'H', 'S', 'I', 'C', 'N', 'N', '\0', '\1'};
#define CKPT_VERSION 2u /* version 1 (without the training settings) is still read */

void hsi_cnn_meta_clear(hsi_cnn_meta *meta)
{
    if (!meta) return;
    hsi_preprocess_free(meta->preprocess);
    free(meta->classes);
    memset(meta, 0, sizeof *meta);
}

hsi_status hsi_cnn_checkpoint_check_output(const char *path)
{
    return hsi_blob_check_output(path, ckpt_magic);
}

hsi_status hsi_cnn_checkpoint_write(const char *path, const hsi_cnn_net *net,
                                    const hsi_cnn_meta *meta)
{
    /* The reader takes only centred patches (x = y, odd): a file it would
     * refuse is not written. */
    if (net->input.h != net->input.w || net->input.h % 2 == 0)
        return hsi_error(HSI_ERR_ARG, "%s: a checkpoint needs a centred patch (x = y, odd), not %d x %d",
                         path, net->input.w, net->input.h);
    if (net->frozen && net->n_layers > 4096)
        return hsi_error(HSI_ERR_ARG, "%s: a checkpoint records frozen layers of nets of at most "
                                      "4096 layers, not %d", path, net->n_layers);
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
    /* Without metadata, the radius the net's input implies (the reader
     * checks it against the spec). */
    hsi_cnn_meta empty = {.radius = (net->input.h - 1) / 2};
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
        hsi_blob_put_fixed_string(&w, meta->classes[k].name, HSI_CLASS_NAME_MAX);
        hsi_blob_put(&w, meta->classes[k].rgb, 3);
    }
    hsi_blob_put_u8(&w, meta->preprocess != NULL);
    if (meta->preprocess) hsi_preprocess_write(meta->preprocess, &w);
    const hsi_cnn_schedule *sc = &s->schedule;
    const hsi_cnn_augment *au = &s->augment;
    hsi_blob_put_f64(&w, s->learning_rate);
    hsi_blob_put_u32(&w, (uint32_t)s->epochs);
    hsi_blob_put_u32(&w, (uint32_t)sc->kind);
    hsi_blob_put_u32(&w, (uint32_t)sc->step);
    hsi_blob_put_u32(&w, (uint32_t)sc->patience);
    hsi_blob_put_f64(&w, sc->gamma);
    hsi_blob_put_f64(&w, sc->min_lr);
    hsi_blob_put_u32(&w, (uint32_t)sc->warmup);
    hsi_blob_put_f64(&w, net->sched.best);
    hsi_blob_put_u32(&w, (uint32_t)net->sched.wait);
    hsi_blob_put_f64(&w, net->sched.scale);
    hsi_blob_put_u8(&w, (uint8_t)au->flip);
    hsi_blob_put_u8(&w, (uint8_t)au->rotate);
    hsi_blob_put_f64(&w, au->gain);
    hsi_blob_put_f64(&w, au->offset);
    hsi_blob_put_f64(&w, au->mix);
    hsi_blob_put_u32(&w, net->frozen ? (uint32_t)net->n_layers : 0);
    if (net->frozen) hsi_blob_put(&w, net->frozen, (size_t)net->n_layers);
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
    hsi_status dev = net->be->status ? net->be->status(net->be) : HSI_OK;
    if (dev) { /* a failed GPU gave no weights: write nothing */
        free(host);
        hsi_blob_writer_discard(&w);
        return hsi_error_prefix(dev, "%s: not written", path);
    }
    hsi_blob_put(&w, host, nf * sizeof *host);
    free(host);
    return hsi_blob_writer_commit(&w, path);
}

/* Every field is checked against the spec, the net the spec builds and the
 * other fields before it is used: the checksum only catches accidents, and
 * a crafted file with a valid checksum must not reach the forward pass with
 * a patch radius its input was not built for (it would read past the patch
 * buffer) or have an unknown border mode taken for another. Each refusal
 * names the file and the field. */
hsi_status hsi_cnn_checkpoint_read(const char *path, int training, int max_batch,
                                   const hsi_cnn_backend *backend, hsi_cnn_net **net_out,
                                   hsi_cnn_meta *meta)
{
    *net_out = NULL;
    if (meta) memset(meta, 0, sizeof *meta);
    unsigned char *buf;
    hsi_blob_reader r;
    const uint32_t version = hsi_blob_version_of(path, ckpt_magic, 1, CKPT_VERSION);
    hsi_status load_st =
        hsi_blob_load(path, ckpt_magic, version, SIZE_MAX, "CNN checkpoint", &buf, &r);
    if (load_st) return load_st;
    hsi_status st = HSI_OK;
    hsi_cnn_spec *spec = NULL;
    hsi_cnn_net *net = NULL;
    hsi_cnn_meta m = {0};
    char *text = NULL;
    size_t *band_idx = NULL;
#define REFUSE(...)                                          \
    do {                                                     \
        st = hsi_error(HSI_ERR_FORMAT, __VA_ARGS__);         \
        goto done;                                           \
    } while (0)
    uint32_t spec_len = hsi_blob_get_u32(&r);
    if (spec_len > hsi_blob_left(&r))
        REFUSE("%s: checkpoint spec length %u is more than the file holds", path, spec_len);
    text = malloc((size_t)spec_len + 1);
    if (!text) {
        st = hsi_error(HSI_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    hsi_blob_get(&r, text, spec_len);
    text[spec_len] = '\0';
    /* A NUL would hide the rest of the text from the parser. */
    if (memchr(text, '\0', spec_len))
        REFUSE("%s: checkpoint spec text holds a NUL byte", path);
    uint32_t bands = hsi_blob_get_u32(&r), classes = hsi_blob_get_u32(&r);
    uint32_t in_h = hsi_blob_get_u32(&r), in_w = hsi_blob_get_u32(&r);
    uint64_t n_params = hsi_blob_get_u64(&r), n_state = hsi_blob_get_u64(&r), iterations = hsi_blob_get_u64(&r);
    uint32_t epoch = hsi_blob_get_u32(&r);
    hsi_rng rng;
    for (int i = 0; i < 4; i++) rng.s[i] = hsi_blob_get_u64(&r);
    uint32_t radius = hsi_blob_get_u32(&r), border = hsi_blob_get_u32(&r);
    m.seed = hsi_blob_get_u64(&r);
    uint32_t bands_len = hsi_blob_get_u32(&r);
    if (r.short_read) REFUSE("%s: checkpoint header truncated", path);
    if (bands_len >= sizeof m.bands)
        REFUSE("%s: checkpoint band selection length %u (at most %zu)", path, bands_len,
               sizeof m.bands - 1);
    hsi_blob_get(&r, m.bands, bands_len);
    if (memchr(m.bands, '\0', bands_len) && !r.short_read)
        REFUSE("%s: checkpoint band selection text holds a NUL byte", path);
    uint32_t nc = hsi_blob_get_u32(&r);
    /* Classes are uint16 labels, 0 = unlabelled. */
    if (nc > 65535)
        REFUSE("%s: checkpoint class table of %u classes (at most 65535)", path, nc);
    if (nc) {
        if ((size_t)(nc + 1) * (HSI_CLASS_NAME_MAX + 3) > hsi_blob_left(&r))
            REFUSE("%s: checkpoint header truncated (class table of %u classes)", path, nc);
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
    if (r.short_read) REFUSE("%s: checkpoint header truncated", path);
    if (has_pre > 1) REFUSE("%s: checkpoint has_preprocess byte is %u, not 0 or 1", path, has_pre);
    if (has_pre && (st = hsi_preprocess_read(&r, path, &m.preprocess))) goto done;
    /* Version 2: the run's settings and schedule state (version 1: the spec's). */
    double lr = 0;
    uint32_t run_epochs = 0, n_frozen = 0;
    hsi_cnn_schedule sched = {0};
    hsi_cnn_schedule_state sstate = {INFINITY, 0, 1.0};
    hsi_cnn_augment aug = {0};
    uint8_t frozen[4096];
    if (version >= 2) {
        lr = hsi_blob_get_f64(&r);
        run_epochs = hsi_blob_get_u32(&r);
        sched.kind = (hsi_cnn_schedule_kind)hsi_blob_get_u32(&r);
        uint32_t step = hsi_blob_get_u32(&r), patience = hsi_blob_get_u32(&r);
        sched.gamma = hsi_blob_get_f64(&r);
        sched.min_lr = hsi_blob_get_f64(&r);
        uint32_t warmup = hsi_blob_get_u32(&r);
        sstate.best = hsi_blob_get_f64(&r);
        uint32_t wait = hsi_blob_get_u32(&r);
        sstate.scale = hsi_blob_get_f64(&r);
        uint8_t flip = hsi_blob_get_u8(&r), rotate = hsi_blob_get_u8(&r);
        aug.gain = hsi_blob_get_f64(&r);
        aug.offset = hsi_blob_get_f64(&r);
        aug.mix = hsi_blob_get_f64(&r);
        n_frozen = hsi_blob_get_u32(&r);
        if (r.short_read) REFUSE("%s: checkpoint header truncated (training settings)", path);
        if (!(lr >= 1e-12 && lr <= 1e6))
            REFUSE("%s: checkpoint learning rate %g (1e-12 to 1e6)", path, lr);
        if (run_epochs > 100000000) REFUSE("%s: checkpoint epochs %u (at most 1e8)", path, run_epochs);
        /* Out-of-range counts are caught below, as kind, flip and rotate are. */
        sched.step = step > 100000000 ? -1 : (int)step;
        sched.patience = patience > 100000000 ? -1 : (int)patience;
        sched.warmup = warmup > 100000000 ? -1 : (int)warmup;
        if (sched.kind > HSI_CNN_SCHED_PLATEAU) sched.kind = (hsi_cnn_schedule_kind)-1;
        aug.flip = flip, aug.rotate = rotate;
        const char *why = hsi_cnn_schedule_invalid(&sched);
        if (!why) why = hsi_cnn_augment_invalid(&aug);
        if (why) REFUSE("%s: checkpoint %s", path, why);
        if (isnan(sstate.best) || sstate.best == -INFINITY)
            REFUSE("%s: checkpoint plateau best loss %g is not a number or infinity", path,
                   sstate.best);
        if (wait >= (uint32_t)sched.patience)
            REFUSE("%s: checkpoint plateau wait %u, but the schedule's patience is %d", path, wait,
                   sched.patience);
        sstate.wait = (int)wait;
        if (!(sstate.scale > 0 && sstate.scale <= 1))
            REFUSE("%s: checkpoint plateau scale %g is not in (0, 1]", path, sstate.scale);
        if (n_frozen > sizeof frozen)
            REFUSE("%s: checkpoint frozen-layer table of %u layers (at most %zu)", path, n_frozen,
                   sizeof frozen);
        hsi_blob_get(&r, frozen, n_frozen);
        if (r.short_read) REFUSE("%s: checkpoint header truncated (frozen layers)", path);
        for (uint32_t i = 0; i < n_frozen; i++)
            if (frozen[i] > 1)
                REFUSE("%s: checkpoint frozen flag of layer %u is %u, not 0 or 1", path, i + 1,
                       frozen[i]);
    }
    uint8_t has_opt = hsi_blob_get_u8(&r);
    if (r.short_read) REFUSE("%s: checkpoint header truncated", path);
    if (has_opt > 1) REFUSE("%s: checkpoint has_optimizer byte is %u, not 0 or 1", path, has_opt);

    if ((st = hsi_cnn_spec_parse(text, path, &spec))) {
        hsi_error_prefix(st, "%s: the checkpoint's spec", path);
        goto done;
    }
    if (n_frozen && n_frozen != (uint32_t)spec->n_layers)
        REFUSE("%s: checkpoint frozen-layer table of %u layers, but its spec has %d", path,
               n_frozen, spec->n_layers);
    /* Shapes: the patch is centred, as the spec says. */
    if (in_h != (uint32_t)spec->in_h)
        REFUSE("%s: checkpoint in_h %u, but its spec's input is x=%d y=%d", path, in_h, spec->in_w,
               spec->in_h);
    if (in_w != (uint32_t)spec->in_w)
        REFUSE("%s: checkpoint in_w %u, but its spec's input is x=%d y=%d", path, in_w, spec->in_w,
               spec->in_h);
    if (in_h != in_w || in_h % 2 == 0)
        REFUSE("%s: checkpoint input x=%u y=%u is not a centred patch (x = y, odd)", path, in_w, in_h);
    if (radius != (in_h - 1) / 2)
        REFUSE("%s: checkpoint patch radius %u, but its %u x %u input needs radius %u", path, radius,
               in_w, in_h, (in_h - 1) / 2);
    if (border > HSI_BORDER_SKIP)
        REFUSE("%s: checkpoint border mode %u is not zero (0), mirror (1) or skip (2)", path, border);
    m.radius = (int)radius;
    m.border = (int)border;
    /* Bands: the net's input, which the preprocessing (if any) produces. The
     * same bound as the preprocessing record's. */
    if (bands == 0 || bands > (1u << 20))
        REFUSE("%s: checkpoint bands %u (1 to %u)", path, bands, 1u << 20);
    if (spec->in_bands && bands != (uint32_t)spec->in_bands)
        REFUSE("%s: checkpoint bands %u, but its spec's input has %d", path, bands, spec->in_bands);
    if (m.preprocess && m.preprocess->out_dim != bands)
        REFUSE("%s: checkpoint preprocessing gives %zu bands, but its net takes bands = %u", path,
               m.preprocess->out_dim, bands);
    /* Classes: the net's output and the class table. */
    if (classes < 2 || classes > 65535)
        REFUSE("%s: checkpoint classes %u (2 to 65535)", path, classes);
    if (spec->classes && classes != (uint32_t)spec->classes)
        REFUSE("%s: checkpoint classes %u, but its spec has %d", path, classes, spec->classes);
    if (nc && nc != classes)
        REFUSE("%s: checkpoint classes %u, but its class table has %u", path, classes, nc);
    /* The band selection picks the bands the preprocessing (or the net)
     * reads from the scene. */
    if (m.bands[0]) {
        size_t n_sel = 0, want = m.preprocess ? m.preprocess->in_dim : bands;
        if (hsi_band_list_parse(m.bands, (size_t)1 << 20, &band_idx, &n_sel)) {
            st = hsi_error_prefix(HSI_ERR_FORMAT, "%s: checkpoint band selection", path);
            goto done;
        }
        if (n_sel != want)
            REFUSE("%s: checkpoint band selection '%s' selects %zu bands, but its %s takes %zu", path,
                   m.bands, n_sel, m.preprocess ? "preprocessing" : "net", want);
    }
    /* Counters: every epoch takes at least one optimiser step. */
    if (epoch > INT_MAX) REFUSE("%s: checkpoint epoch %u (at most %d)", path, epoch, INT_MAX);
    if (epoch > iterations)
        REFUSE("%s: checkpoint epoch %u after only %llu iterations (each epoch takes a step)", path,
               epoch, (unsigned long long)iterations);
    /* xoshiro256** never leaves an all-zero state, nor gets out of one. */
    if (!(rng.s[0] | rng.s[1] | rng.s[2] | rng.s[3]))
        REFUSE("%s: checkpoint rng state is all zero", path);

    /* The spec must plan a net of as many parameters as the header counts,
     * and the file must hold them, before the net's arenas are allocated:
     * else a 600-byte file could make us allocate gigabytes (tests/fuzz). */
    {
        hsi_cnn_layer *plan = calloc((size_t)spec->n_layers, sizeof *plan);
        hsi_cnn_shape in;
        if (!plan) {
            st = hsi_error(HSI_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        st = hsi_cnn_net_plan(spec, (int)bands, (int)classes, &in, plan);
        size_t planned = 0, planned_state = 0;
        if (!st) hsi_cnn_count_params(plan, spec->n_layers, &planned, &planned_state);
        free(plan);
        if (st) {
            /* A spec that cannot be planned is a fault of the file (as cnn.h
             * promises: HSI_ERR_FORMAT), whatever the planner called it;
             * out of memory stays what it is. */
            st = hsi_error_prefix(st == HSI_ERR_NOMEM ? st : HSI_ERR_FORMAT, "%s", path);
            goto done;
        }
        if (planned != n_params)
            REFUSE("%s: checkpoint n_params %llu, but the net its spec builds has %zu", path,
                   (unsigned long long)n_params, planned);
        if (planned_state != n_state)
            REFUSE("%s: checkpoint n_state %llu, but the net its spec builds has %zu", path,
                   (unsigned long long)n_state, planned_state);
    }
    if (n_params > SIZE_MAX / 16 || n_state > SIZE_MAX / 16 ||
        (n_params * (has_opt ? 3 : 1) + n_state) * sizeof(float) != hsi_blob_left(&r))
        REFUSE("%s: checkpoint has %zu bytes of parameters, but its header counts %llu "
               "parameters and %llu state values%s",
               path, hsi_blob_left(&r), (unsigned long long)n_params, (unsigned long long)n_state,
               has_opt ? " with optimiser moments" : "");

    hsi_cnn_net_options o = {.bands = (int)bands, .classes = (int)classes, .max_batch = max_batch,
                             .training = training, .backend = backend};
    if ((st = hsi_cnn_net_new(spec, &o, &net))) {
        hsi_error_prefix(st, "%s", path);
        goto done;
    }
    if (net->classes != (int)classes)
        REFUSE("%s: checkpoint classes %u, but its net has %d outputs", path, classes, net->classes);
#undef REFUSE
    const float *f = (const float *)(r.p + r.pos);
    net->be->upload(net->be, net->params, f, n_params * sizeof(float));
    net->be->upload(net->be, net->state, f + n_params, n_state * sizeof(float));
    if (training && has_opt) {
        net->be->upload(net->be, net->opt_m, f + n_params + n_state, n_params * sizeof(float));
        net->be->upload(net->be, net->opt_v, f + 2 * n_params + n_state, n_params * sizeof(float));
    }
    net->iterations = iterations;
    net->epoch = (int)epoch;
    net->rng = rng;
    if (version >= 2) {
        net->spec->learning_rate = lr;
        net->spec->epochs = (int)run_epochs;
        net->spec->schedule = sched;
        net->spec->augment = aug;
        net->sched = sstate;
        if (n_frozen && (st = hsi_cnn_net_set_frozen(net, frozen))) goto done;
    }
done:
    free(buf);
    free(text);
    free(band_idx);
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
