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
 */
#include "cnn3d/cnn.h"

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

/* One patch (planes of h x w: C x D of them) mirrored and rotated by k
 * quarter turns counter-clockwise (numpy.rot90 on the (y, x) axes: the
 * pixel at row i, column j of the result is the source's row j, column
 * w - 1 - i), through tmp (h x w floats). */
static void transform_patch(float *p, size_t planes, int h, int w, int flip_x, int flip_y, int k,
                            float *tmp)
{
    for (size_t pl = 0; pl < planes; pl++) {
        float *q = p + pl * (size_t)h * w;
        if (flip_x)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w / 2; j++) {
                    float t = q[i * w + j];
                    q[i * w + j] = q[i * w + w - 1 - j];
                    q[i * w + w - 1 - j] = t;
                }
        if (flip_y)
            for (int i = 0; i < h / 2; i++)
                for (int j = 0; j < w; j++) {
                    float t = q[i * w + j];
                    q[i * w + j] = q[(h - 1 - i) * w + j];
                    q[(h - 1 - i) * w + j] = t;
                }
        for (int r = 0; r < k; r++) { /* h == w here */
            memcpy(tmp, q, (size_t)h * w * sizeof *q);
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++) q[i * w + j] = tmp[j * w + (w - 1 - i)];
        }
    }
}

hsi_status hsi_cnn_augment_batch(const hsi_cnn_augment *a, hsi_rng *rng, hsi_cnn_shape shape,
                                 float *x, const int32_t *labels, int n)
{
    if (!hsi_cnn_augment_active(a) || n <= 0) return HSI_OK;
    if (a->rotate && shape.h != shape.w)
        return hsi_error(HSI_ERR_ARG, "augmentation: rotation needs a square patch, not x=%d y=%d",
                         shape.w, shape.h);
    size_t size = hsi_cnn_shape_size(shape), planes = (size_t)shape.c * shape.d;
    float *tmp = malloc((size_t)shape.h * shape.w * sizeof *tmp);
    float *orig = a->mix > 0 ? malloc((size_t)n * size * sizeof *orig) : NULL;
    int *same = a->mix > 0 ? malloc((size_t)n * sizeof *same) : NULL;
    if (!tmp || (a->mix > 0 && (!orig || !same))) {
        free(tmp), free(orig), free(same);
        return hsi_error(HSI_ERR_NOMEM, "out of memory augmenting %d patches", n);
    }
    if (a->flip || a->rotate)
        for (int i = 0; i < n; i++) {
            int fx = a->flip && hsi_rng_uniform(rng) < 0.5;
            int fy = a->flip && hsi_rng_uniform(rng) < 0.5;
            int k = a->rotate ? (int)hsi_rng_below(rng, 4) : 0;
            transform_patch(x + (size_t)i * size, planes, shape.h, shape.w, fx, fy, k, tmp);
        }
    if (a->mix > 0) {
        /* Partners come from the batch as it was before any blending. */
        memcpy(orig, x, (size_t)n * size * sizeof *x);
        for (int i = 0; i < n; i++) {
            if (hsi_rng_uniform(rng) >= a->mix) continue;
            int m = 0;
            for (int j = 0; j < n; j++)
                if (j != i && labels[j] == labels[i]) same[m++] = j;
            if (!m) continue; /* alone in its class in this batch */
            int j = same[hsi_rng_below(rng, (uint64_t)m)];
            float t = (float)(0.5 * hsi_rng_uniform(rng));
            float *xi = x + (size_t)i * size;
            const float *xj = orig + (size_t)j * size;
            for (size_t v = 0; v < size; v++) xi[v] = (1.0f - t) * xi[v] + t * xj[v];
        }
    }
    if (a->gain > 0 || a->offset > 0)
        for (int i = 0; i < n; i++) {
            float g = a->gain > 0 ? (float)(1.0 + a->gain * hsi_rng_normal(rng)) : 1.0f;
            float o = a->offset > 0 ? (float)(a->offset * hsi_rng_normal(rng)) : 0.0f;
            float *xi = x + (size_t)i * size;
            for (size_t v = 0; v < size; v++) xi[v] = g * xi[v] + o;
        }
    free(tmp), free(orig), free(same);
    return HSI_OK;
}
