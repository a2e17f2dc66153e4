/* augment.c - on-the-fly augmentation of training patches.
 *
 * A land-cover class does not care which way north is, and the spectra of
 * one class vary in brightness from field to field; with a few labelled
 * pixels the net sees each patch many times, so each time it sees it
 * changed by:
 *   flip     mirror along x and/or along y, each with probability 1/2
 *   rotate   by k x 90 degrees, k uniform in 0..3 (square patches only)
 *   mix:P    with probability P, blend the patch with another patch of its
 *            class in the same batch: (1 - t) x + t x', t ~ U(0, 1/2), so
 *            the blend stays nearer its own patch (same-class mixing: the
 *            label is unchanged)
 *   gain:S   multiply the whole patch by 1 + S N(0,1)   (illumination)
 *   offset:S add S N(0,1) to the whole patch            (in the units of the
 *            preprocessed input: standard deviations with standardise)
 * in that order. Every draw comes from the rng given (the net's, which
 * checkpoints store), patch after patch in batch order, only for the
 * options in use: the same seed gives the same batches.
 *
 * Patches are (C, D, H, W) = (channels, bands, y, x); flips and rotations
 * move whole spectra (every channel and band of a pixel together).
 *
 * The draws (hsi_cnn_augment_draw) are separate from their application
 * (hsi_cnn_augment_apply, or a backend's augment slot on the GPU, whose
 * per-element rules are those of cnn3d/cuda_math.h used here), so a batch
 * held in GPU memory is augmented there with the same draws and values.
 */
#include "cnn3d/cnn.h"
#include "cnn3d/cuda_math.h"

#include "base/ini.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hsi_status hsi_cnn_augment_parse(const char *text, const char *what, hsi_cnn_augment *out)
{
    hsi_cnn_augment a = {0};
    if (!strcmp(text, "none")) {
        *out = a;
        return HSI_OK;
    }
    hsi_list it;
    if (hsi_list_start(&it, text)) return hsi_error(HSI_ERR_ARG, "%s: too long", what);
    for (char *tok; (tok = hsi_list_next(&it));) {
        char *colon = strchr(tok, ':');
        if (!colon) {
            if (!strcmp(tok, "flip")) a.flip = 1;
            else if (!strcmp(tok, "rotate")) a.rotate = 1;
            else goto bad;
            continue;
        }
        *colon = '\0';
        char *end;
        errno = 0;
        double v = strtod(colon + 1, &end);
        if (end == colon + 1 || *end || errno || !isfinite(v)) goto bad;
        if (!strcmp(tok, "gain") && v >= 0 && v <= 1) a.gain = v;
        else if (!strcmp(tok, "offset") && v >= 0 && v <= 10) a.offset = v;
        else if (!strcmp(tok, "mix") && v >= 0 && v <= 1) a.mix = v;
        else goto bad;
    }
    *out = a;
    return HSI_OK;
bad:
    return hsi_error(HSI_ERR_ARG,
                     "%s '%s': expected none or a comma list of flip, rotate, gain:SD (0..1), "
                     "offset:SD (0..10), mix:P (0..1)",
                     what, text);
}

void hsi_cnn_augment_format(const hsi_cnn_augment *a, char *buf, size_t len)
{
    if (!hsi_cnn_augment_active(a)) {
        snprintf(buf, len, "none");
        return;
    }
    snprintf(buf, len, "%s%s", a->flip ? "flip," : "", a->rotate ? "rotate," : "");
    size_t used = strlen(buf);
    if (a->gain > 0 && used < len) snprintf(buf + used, len - used, "gain:%g,", a->gain);
    used = strlen(buf);
    if (a->offset > 0 && used < len) snprintf(buf + used, len - used, "offset:%g,", a->offset);
    used = strlen(buf);
    if (a->mix > 0 && used < len) snprintf(buf + used, len - used, "mix:%g,", a->mix);
    used = strlen(buf);
    if (used && buf[used - 1] == ',') buf[used - 1] = '\0';
}

const char *hsi_cnn_augment_invalid(const hsi_cnn_augment *a)
{
    if (a->flip != 0 && a->flip != 1) return "augment flip is not 0 or 1";
    if (a->rotate != 0 && a->rotate != 1) return "augment rotate is not 0 or 1";
    if (!(a->gain >= 0 && a->gain <= 1)) return "augment gain is not in [0, 1]";
    if (!(a->offset >= 0 && a->offset <= 10)) return "augment offset is not in [0, 10]";
    if (!(a->mix >= 0 && a->mix <= 1)) return "augment mix is not in [0, 1]";
    return NULL;
}

hsi_status hsi_cnn_augment_draw(const hsi_cnn_augment *a, hsi_rng *rng, hsi_cnn_shape shape,
                                const int32_t *labels, int n, hsi_cnn_aug_draw *d)
{
    for (int i = 0; i < n; i++)
        d[i] = (hsi_cnn_aug_draw){0, 0, 0, -1, 0.0f, 1.0f, 0.0f};
    if (!hsi_cnn_augment_active(a) || n <= 0) return HSI_OK;
    if (a->rotate && shape.h != shape.w)
        return hsi_error(HSI_ERR_ARG, "augmentation: rotation needs a square patch, not x=%d y=%d",
                         shape.w, shape.h);
    if (a->flip || a->rotate)
        for (int i = 0; i < n; i++) {
            d[i].flip_x = a->flip && hsi_rng_uniform(rng) < 0.5;
            d[i].flip_y = a->flip && hsi_rng_uniform(rng) < 0.5;
            d[i].quarter_turns = a->rotate ? (int)hsi_rng_below(rng, 4) : 0;
        }
    if (a->mix > 0) {
        int *same = malloc((size_t)n * sizeof *same);
        if (!same) return hsi_error(HSI_ERR_NOMEM, "out of memory augmenting %d patches", n);
        for (int i = 0; i < n; i++) {
            if (hsi_rng_uniform(rng) >= a->mix) continue;
            int m = 0;
            for (int j = 0; j < n; j++)
                if (j != i && labels[j] == labels[i]) same[m++] = j;
            if (!m) continue; /* alone in its class in this batch */
            d[i].partner = same[hsi_rng_below(rng, (uint64_t)m)];
            d[i].t = (float)(0.5 * hsi_rng_uniform(rng));
        }
        free(same);
    }
    if (a->gain > 0 || a->offset > 0)
        for (int i = 0; i < n; i++) {
            d[i].gain = a->gain > 0 ? (float)(1.0 + a->gain * hsi_rng_normal(rng)) : 1.0f;
            d[i].offset = a->offset > 0 ? (float)(a->offset * hsi_rng_normal(rng)) : 0.0f;
        }
    return HSI_OK;
}

void hsi_cnn_augment_apply(const hsi_cnn_aug_draw *d, int n, size_t planes, int h, int w,
                           int blend, int scale, float *x, float *tmp)
{
    size_t plane = (size_t)h * w, size = planes * plane;
    /* Turned and mirrored into tmp: the partners' values before blending. */
    for (int i = 0; i < n; i++)
        for (size_t p = 0; p < planes; p++) {
            const float *src = x + (size_t)i * size + p * plane;
            float *dst = tmp + (size_t)i * size + p * plane;
            for (int yy = 0; yy < h; yy++)
                for (int xx = 0; xx < w; xx++) {
                    int sy, sx;
                    hsi_cm_augment_source(yy, xx, h, w, d[i].flip_x, d[i].flip_y,
                                          d[i].quarter_turns, &sy, &sx);
                    dst[yy * w + xx] = src[sy * w + sx];
                }
        }
    for (int i = 0; i < n; i++) {
        const float *ti = tmp + (size_t)i * size;
        const float *tj = blend && d[i].partner >= 0 ? tmp + (size_t)d[i].partner * size : NULL;
        float *xi = x + (size_t)i * size;
        for (size_t v = 0; v < size; v++) {
            float val = ti[v];
            if (tj) val = hsi_cm_augment_blend(val, tj[v], d[i].t);
            if (scale) val = hsi_cm_augment_scale(val, d[i].gain, d[i].offset);
            xi[v] = val;
        }
    }
}

hsi_status hsi_cnn_augment_batch(const hsi_cnn_augment *a, hsi_rng *rng, hsi_cnn_shape shape,
                                 float *x, const int32_t *labels, int n)
{
    if (!hsi_cnn_augment_active(a) || n <= 0) return HSI_OK;
    size_t size = hsi_cnn_shape_size(shape);
    hsi_cnn_aug_draw *d = malloc((size_t)n * sizeof *d);
    float *tmp = malloc((size_t)n * size * sizeof *tmp);
    hsi_status st = d && tmp ? hsi_cnn_augment_draw(a, rng, shape, labels, n, d)
                             : hsi_error(HSI_ERR_NOMEM, "out of memory augmenting %d patches", n);
    if (!st)
        hsi_cnn_augment_apply(d, n, (size_t)shape.c * shape.d, shape.h, shape.w, a->mix > 0,
                              a->gain > 0 || a->offset > 0, x, tmp);
    free(d), free(tmp);
    return st;
}
