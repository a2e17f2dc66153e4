/* test_cnn_pool.c - the CPU backend's max-pool (forward with argmax, and
 * backward with and without the ReLU gate) equals a naive window loop, on
 * the spectral-only windows the Lange net uses (pool_spectral_max /
 * pool_spectral_grad in backend_cpu.c: whole planes, 8 values at a time,
 * the last 8 overlapping where a plane is not a multiple of 8) and on
 * windows over x/y too. Values are drawn from a few levels so that ties
 * are common: the first of equal values must win, as the naive loop says. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "cnn3d/backend.h"
#include "tests/check.h"

/* y, am of window (od, oh, ow): the max over a, b, e in order, first wins. */
static void naive_forward(const hsi_cnn_pool_desc *pd, const float *x, float *y, int32_t *am)
{
    const size_t in_vol = (size_t)pd->d * pd->h * pd->w, out_vol = (size_t)pd->od * pd->oh * pd->ow;
    for (int nc = 0; nc < pd->n * pd->c; nc++)
        for (int od = 0; od < pd->od; od++)
            for (int oh = 0; oh < pd->oh; oh++)
                for (int ow = 0; ow < pd->ow; ow++) {
                    float best = -INFINITY;
                    int32_t where = -1;
                    for (int a = 0; a < pd->kd; a++)
                        for (int b = 0; b < pd->kh; b++)
                            for (int e = 0; e < pd->kw; e++) {
                                int32_t i = ((od * pd->sd + a) * pd->h + oh * pd->sh + b) * pd->w +
                                            ow * pd->sw + e;
                                float v = x[nc * in_vol + i];
                                if (where < 0 || v > best) best = v, where = i;
                            }
                    size_t o = nc * out_vol + ((size_t)od * pd->oh + oh) * pd->ow + ow;
                    y[o] = best, am[o] = where;
                }
}

static void check_case(int n, int c, int d, int h, int w, int kd, int kh, int kw, const char *name)
{
    hsi_cnn_pool_desc pd = {.n = n, .c = c, .d = d, .h = h, .w = w, .kd = kd, .kh = kh, .kw = kw,
                            .sd = kd, .sh = kh, .sw = kw};
    pd.od = d / kd, pd.oh = h / kh, pd.ow = w / kw;
    const size_t nx = (size_t)n * c * d * h * w, ny = (size_t)n * c * pd.od * pd.oh * pd.ow;
    hsi_rng rng;
    hsi_rng_seed(&rng, 7);
    float *x = malloc(nx * 4), *y = malloc(ny * 4), *y_ref = malloc(ny * 4);
    float *dy = malloc(ny * 4), *dx = malloc(nx * 4), *dx_ref = malloc(nx * 4);
    int32_t *am = malloc(ny * 4), *am_ref = malloc(ny * 4);
    for (size_t i = 0; i < nx; i++) x[i] = (float)((int)hsi_rng_below(&rng, 5) - 2); /* ties */
    for (size_t i = 0; i < ny; i++) dy[i] = (float)(2 * hsi_rng_uniform(&rng) - 1);
    const hsi_cnn_backend *be = hsi_cnn_backend_cpu();
    naive_forward(&pd, x, y_ref, am_ref);
    be->maxpool3d_forward(be, &pd, x, y, am);
    CHECK_MSG(!memcmp(y, y_ref, ny * 4), "%s: forward values differ", name);
    CHECK_MSG(!memcmp(am, am_ref, ny * 4), "%s: argmax differs (first of equal values)", name);
    /* Backward, ungated and gated by the pooled output (a ReLU before it). */
    for (int gate = 0; gate <= 1; gate++) {
        const size_t in_vol = (size_t)d * h * w, out_vol = (size_t)pd.od * pd.oh * pd.ow;
        memset(dx_ref, 0, nx * 4);
        for (size_t o = 0; o < ny; o++)
            if (!gate || y_ref[o] > 0) dx_ref[o / out_vol * in_vol + am_ref[o]] += dy[o];
        for (size_t i = 0; i < nx; i++) dx[i] = 123.0f; /* must be overwritten */
        be->maxpool3d_backward(be, &pd, dy, am, gate ? y : NULL, dx);
        CHECK_MSG(!memcmp(dx, dx_ref, nx * 4), "%s: backward%s differs", name,
                  gate ? " (gated)" : "");
    }
    free(x), free(y), free(y_ref), free(dy), free(dx), free(dx_ref), free(am), free(am_ref);
}

int main(void)
{
    /* spectral only: planes of 49 (the Lange net), 8, 9, 16, 3 values, and
     * a depth that leaves planes past the last window */
    check_case(2, 3, 21, 7, 7, 3, 1, 1, "lange 7 x 7 planes, kd 3");
    check_case(2, 3, 20, 7, 7, 3, 1, 1, "depth 20 by 3 (last plane unpooled)");
    check_case(3, 2, 12, 2, 4, 2, 1, 1, "8-value planes");
    check_case(3, 2, 12, 3, 3, 2, 1, 1, "9-value planes");
    check_case(1, 4, 9, 4, 4, 3, 1, 1, "16-value planes");
    check_case(2, 2, 10, 1, 3, 2, 1, 1, "3-value planes (under 8)");
    check_case(1, 1, 25, 5, 5, 5, 1, 1, "kd 5");
    /* windows over x/y as well: the generic loop */
    check_case(2, 2, 8, 6, 6, 2, 2, 2, "2 x 2 x 2 windows");
    return check_finish();
}
