/* test_cnn_conv.c - the CPU backend's conv3d (vol2col or depth-shift + sgemm,
 * with and without Winograd, and the AVX2 shifted-row kernels for thin
 * layers, each way) equals the
 * naive direct conv3d (forward, with and without the fused ReLU, backward
 * data, backward filter) over valid/same padding, strides, channels and
 * vol2col block sizes; the naive conv itself matches a hand
 * computed case and is the adjoint of itself (<conv x, dy> = <x, conv^T dy>). */
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "cnn3d/backend.h"
#include "tests/check.h"

static float *random_array(hsi_rng *rng, size_t n)
{
    float *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = (float)(2 * hsi_rng_uniform(rng) - 1);
    return a;
}

static double max_abs_diff(const float *a, const float *b, size_t n, double *scale)
{
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m) m = d;
        if (fabs(b[i]) > s) s = fabs(b[i]);
    }
    *scale = s;
    return m;
}


static void compare_case(hsi_cnn_conv_desc cd, size_t block_bytes, const char *name)
{
    hsi_rng rng;
    hsi_rng_seed(&rng, 7);
    size_t nx = (size_t)cd.n * cd.c * cd.d * cd.h * cd.w;
    size_t nw = (size_t)cd.f * cd.c * cd.kd * cd.kh * cd.kw;
    size_t ny = (size_t)cd.n * cd.f * cd.od * cd.oh * cd.ow;
    float *x = random_array(&rng, nx), *w = random_array(&rng, nw), *b = random_array(&rng, cd.f);
    float *dy = random_array(&rng, ny);
    float *y_ref = calloc(ny, 4), *y = calloc(ny, 4);
    float *dx_ref = calloc(nx, 4), *dx = calloc(nx, 4);
    float *dw_ref = calloc(nw, 4), *dw = calloc(nw, 4), *db_ref = calloc(cd.f, 4), *db = calloc(cd.f, 4);
    hsi_cnn_cpu_set_block_bytes(block_bytes);
    const hsi_cnn_backend *be = hsi_cnn_backend_cpu();
    size_t ws = be->conv3d_workspace(be, &cd);
    float *work = malloc((ws + 1) * sizeof *work);

    hsi_cnn_conv3d_naive_forward(&cd, x, w, b, y_ref);
    be->conv3d_forward(be, &cd, x, w, b, HSI_CNN_ACT_LINEAR, y, work);
    double scale, d = max_abs_diff(y, y_ref, ny, &scale);
    CHECK_MSG(d <= 1e-5 * (1 + scale), "%s forward: max diff %g (scale %g)", name, d, scale);

    /* The activation fused into the forward pass: ReLU of the same sums. */
    be->conv3d_forward(be, &cd, x, w, b, HSI_CNN_ACT_RELU, y, work);
    for (size_t i = 0; i < ny; i++) y_ref[i] = y_ref[i] > 0 ? y_ref[i] : 0.0f;
    d = max_abs_diff(y, y_ref, ny, &scale);
    CHECK_MSG(d <= 1e-5 * (1 + scale), "%s forward + relu: max diff %g (scale %g)", name, d, scale);

    hsi_cnn_conv3d_naive_backward_data(&cd, dy, w, dx_ref);
    for (size_t i = 0; i < nx; i++) dx[i] = 123.0f; /* must be overwritten */
    be->conv3d_backward_data(be, &cd, dy, w, dx, work);
    d = max_abs_diff(dx, dx_ref, nx, &scale);
    CHECK_MSG(d <= 1e-5 * (1 + scale), "%s backward data: max diff %g (scale %g)", name, d, scale);

    hsi_cnn_conv3d_naive_backward_filter(&cd, x, dy, dw_ref, db_ref);
    be->conv3d_backward_filter(be, &cd, x, dy, dw, db, work);
    d = max_abs_diff(dw, dw_ref, nw, &scale);
    CHECK_MSG(d <= 1e-5 * (1 + scale), "%s backward filter: max diff %g (scale %g)", name, d, scale);
    d = max_abs_diff(db, db_ref, cd.f, &scale);
    CHECK_MSG(d <= 1e-5 * (1 + scale), "%s backward bias: max diff %g (scale %g)", name, d, scale);

    /* Adjointness of the oracle: <conv(x), dy> = <x, conv^T(dy)> (no bias). */
    hsi_cnn_conv3d_naive_forward(&cd, x, w, NULL, y_ref);
    double lhs = 0, rhs = 0;
    for (size_t i = 0; i < ny; i++) lhs += (double)y_ref[i] * dy[i];
    for (size_t i = 0; i < nx; i++) rhs += (double)x[i] * dx_ref[i];
    CHECK_MSG(fabs(lhs - rhs) <= 1e-4 * (1 + fabs(lhs)), "%s adjoint: %g vs %g", name, lhs, rhs);
    /* And <dy, conv_w(x)> = <w, dW>: the filter gradient is the other adjoint. */
    double rhs_w = 0;
    for (size_t i = 0; i < nw; i++) rhs_w += (double)w[i] * dw_ref[i];
    CHECK_MSG(fabs(lhs - rhs_w) <= 1e-4 * (1 + fabs(lhs)), "%s filter adjoint: %g vs %g", name,
              lhs, rhs_w);
    hsi_cnn_cpu_set_block_bytes(0);
    free(x), free(w), free(b), free(dy), free(y_ref), free(y), free(dx_ref), free(dx);
    free(dw_ref), free(dw), free(db_ref), free(db), free(work);
}

/* The padding rule against hand computations of TensorFlow's formulas:
 * SAME: out = ceil(in / s), total = max((out - 1) s + k - in, 0), front
 * total / 2; VALID: out = floor((in - k) / s) + 1. */
static void test_geometry_rule(void)
{
    int out = -7, pad = -7;
    CHECK(!hsi_cnn_conv_geometry(10, 4, 3, 1, &out, &pad)); /* total 3: 1 before, 2 after */
    CHECK(out == 4 && pad == 1);
    CHECK(!hsi_cnn_conv_geometry(9, 3, 1, 1, &out, &pad)); /* total 2 */
    CHECK(out == 9 && pad == 1);
    CHECK(!hsi_cnn_conv_geometry(7, 1, 2, 1, &out, &pad)); /* total 0 */
    CHECK(out == 4 && pad == 0);
    CHECK(!hsi_cnn_conv_geometry(2, 5, 1, 1, &out, &pad)); /* a window beyond the input */
    CHECK(out == 2 && pad == 2);
    CHECK(!hsi_cnn_conv_geometry(10, 4, 3, 0, &out, &pad));
    CHECK(out == 3 && pad == 0);
    CHECK(!hsi_cnn_conv_geometry(5, 5, 2, 0, &out, &pad));
    CHECK(out == 1 && pad == 0);
    out = pad = -7;
    CHECK(hsi_cnn_conv_geometry(4, 5, 1, 0, &out, &pad) == -1);
    CHECK(out == -7 && pad == -7);
    hsi_cnn_conv_desc cd = {.n = 1, .c = 1, .d = 10, .h = 9, .w = 4, .f = 1, .kd = 4, .kh = 3,
                            .kw = 5, .sd = 3, .sh = 1, .sw = 1};
    CHECK(!hsi_cnn_conv_desc_geometry(&cd, 1));
    CHECK(cd.od == 4 && cd.oh == 9 && cd.ow == 4 && cd.pd == 1 && cd.ph == 1 && cd.pw == 2);
    hsi_cnn_conv_desc before = cd;
    CHECK(hsi_cnn_conv_desc_geometry(&cd, 0) == -1); /* kw 5 > w 4 */
    CHECK(!memcmp(&cd, &before, sizeof cd));
}

static void test_hand_case(void)
{
    /* 1 sample, 1 channel, d=3 h=1 w=2 input; kernel d=2 h=1 w=1; 1 filter. */
    hsi_cnn_conv_desc cd = {.n = 1, .c = 1, .d = 3, .h = 1, .w = 2, .f = 1, .kd = 2, .kh = 1,
                            .kw = 1, .sd = 1, .sh = 1, .sw = 1};
    CHECK(!hsi_cnn_conv_desc_geometry(&cd, 0));
    CHECK(cd.od == 2 && cd.oh == 1 && cd.ow == 2);
    float x[6] = {1, 2, 3, 4, 5, 6}; /* (d, w): d0 = {1,2}, d1 = {3,4}, d2 = {5,6} */
    float w[2] = {10, 1}, b = 0.5f, y[4];
    hsi_cnn_conv3d_naive_forward(&cd, x, w, &b, y);
    /* y(d, w) = 10 x(d, w) + x(d+1, w) + 0.5 */
    CHECK_NEAR(y[0], 13.5, 0);
    CHECK_NEAR(y[1], 24.5, 0);
    CHECK_NEAR(y[2], 35.5, 0);
    CHECK_NEAR(y[3], 46.5, 0);
}

int main(void)
{
    test_geometry_rule();
    test_hand_case();
    struct {
        const char *name;
        int n, c, d, h, w, f, kd, kh, kw, sd, sh, sw, same;
    } cases[] = {
        {"lange-like layer 1", 3, 1, 20, 9, 9, 4, 5, 3, 3, 1, 1, 1, 0},
        {"lange-like layer 2", 2, 3, 12, 7, 7, 5, 5, 3, 3, 1, 1, 1, 0},
        {"same padding", 2, 2, 9, 5, 6, 3, 3, 3, 2, 1, 1, 1, 1},
        {"strided valid", 3, 2, 11, 7, 8, 2, 3, 2, 3, 2, 2, 3, 0},
        {"strided same", 2, 3, 10, 6, 7, 4, 4, 3, 3, 3, 2, 2, 1},
        {"1x1x1 kernel", 2, 4, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 0},
        {"single sample", 1, 2, 8, 5, 5, 3, 3, 3, 3, 1, 1, 1, 0},
        /* Thin layers (the shifted-row kernels where the CPU has AVX2): filter
         * counts and tap counts off the register tiles, two channels, spectral
         * padding, and output counts off the 24- and 128-output blocks. */
        {"thin, 5 filters", 2, 1, 13, 6, 6, 5, 3, 3, 3, 1, 1, 1, 0},
        {"thin, 2 channels, 7 taps deep", 2, 2, 16, 5, 4, 9, 7, 2, 2, 1, 1, 1, 0},
        {"thin, spectral same", 2, 1, 10, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1},
        {"thin, 1x1 plane", 3, 3, 40, 2, 2, 6, 5, 2, 2, 1, 1, 1, 0},
        /* c * kh * kw >= 64 with spectral stride 1: the depth-shift sgemm path */
        {"depth-shift valid", 3, 8, 14, 5, 5, 4, 5, 3, 3, 1, 1, 1, 0},
        {"depth-shift same, strided x/y", 2, 8, 9, 6, 7, 3, 3, 3, 3, 1, 2, 2, 1},
        {"depth-shift spectral stride 2 (falls back)", 2, 8, 11, 5, 5, 3, 3, 3, 3, 2, 1, 1, 0},
    };
    size_t blocks[] = {1, 4096, 0 /* default */, (size_t)1 << 30};
    /* Whether this CPU has the tap kernels: the Lange net's first layer takes them. */
    hsi_cnn_conv_desc lange1 = {.n = 1, .c = 1, .d = 20, .h = 9, .w = 9, .f = 4, .kd = 5, .kh = 3,
                                .kw = 3, .sd = 1, .sh = 1, .sw = 1};
    CHECK(!hsi_cnn_conv_desc_geometry(&lange1, 0));
    int taps_cpu = !strcmp(hsi_cnn_cpu_conv_path(&lange1), "taps");
    printf("tap kernels %s on this CPU\n", taps_cpu ? "available" : "not available (no AVX2/FMA)");
    /* wino: 1, the depth-shift cases run on Winograd (conv_winograd.c, held
     * to its own bound in test_cnn_winograd); 0, on the depth-shift sgemms,
     * held here to 1e-5. */
    for (int wino = 0; wino <= 1; wino++)
    for (int taps = 1; taps >= 0; taps--) {
        hsi_cnn_cpu_set_tap_kernels(taps);
        hsi_cnn_cpu_set_winograd(wino);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (size_t j = 0; j < sizeof blocks / sizeof blocks[0]; j++) {
            hsi_cnn_conv_desc cd = {.n = cases[i].n, .c = cases[i].c, .d = cases[i].d,
                                    .h = cases[i].h, .w = cases[i].w, .f = cases[i].f,
                                    .kd = cases[i].kd, .kh = cases[i].kh, .kw = cases[i].kw,
                                    .sd = cases[i].sd, .sh = cases[i].sh, .sw = cases[i].sw};
            CHECK(!hsi_cnn_conv_desc_geometry(&cd, cases[i].same));
            char name[128];
            snprintf(name, sizeof name, "%s (block %zu bytes%s%s)", cases[i].name, blocks[j],
                     taps ? "" : ", tap kernels off", wino ? "" : ", winograd off");
            if (!wino && !strncmp(cases[i].name, "depth-shift", 11))
                CHECK_MSG(!strcmp(hsi_cnn_cpu_conv_path(&cd), "shift") || cd.sd != 1,
                          "%s: runs on %s", name, hsi_cnn_cpu_conv_path(&cd));
            /* The thin cases must reach the tap kernels where the CPU has
             * them, or this test would only check the fallback. */
            if (taps && !strncmp(cases[i].name, "thin", 4) && taps_cpu)
                CHECK_MSG(!strcmp(hsi_cnn_cpu_conv_path(&cd), "taps"), "%s: runs on %s", name,
                          hsi_cnn_cpu_conv_path(&cd));
            compare_case(cd, blocks[j], name);
        }
    }
    hsi_cnn_cpu_set_tap_kernels(1);
    hsi_cnn_cpu_set_winograd(1);
    return check_finish();
}
