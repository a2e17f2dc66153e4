/* test_cnn_winograd.c - Winograd F(m, kd) along the spectral axis
 * (cnn3d/conv_winograd.c): the transforms compute 1-D correlation exactly
 * (in double) for every F(m, r) with a point set, AT and BT are exact in
 * fp32, and the CPU backend's Winograd forward (plain, ReLU, fused with the
 * max-pool), data gradient and filter gradient equal the naive direct
 * conv3d (accumulated in double) on many geometries: odd depths, spectral
 * and x/y padding, x/y strides, depths that are not a multiple of the
 * tile, samples not a multiple of a block, each default and forced tile
 * size, several block sizes. The path is chosen where it should be and
 * declined elsewhere (spectral stride 2, kd = 1, bf16).
 *
 * Tolerance. Per output the algorithm adds, instead of the r products of
 * direct convolution, sum_xi AT[i][xi] (G w)[xi] (BT x)[xi]: each term
 * rounded in fp32, and the terms larger than the result by up to
 *     gamma = max_i sum_xi |AT[i][xi]| (sum_a |G[xi][a]|) (sum_j |BT[xi][j]|) / r
 * (1 for direct convolution). Rounding errors grow with the size of what
 * is added, so Winograd's error bound is gamma times direct convolution's
 * (to first order; Lavin & Gray 2016, and the analysis of Barabasz et al.,
 * "Error analysis and improving the accuracy of Winograd convolution for
 * deep neural networks", ACM TOMS 2020). test_cnn_conv holds the direct
 * paths to 1e-5 (1 + max |result|); this test holds Winograd to
 *     gamma * 1e-5 * (1 + max |result|)
 * with gamma computed from the transforms (17.4 for the default F(4, 5),
 * 22.6 for F(6, 3), 192 for F(6, 5)). Measured errors sit 10-100x inside it;
 * a wrong coefficient or a lost tile gives errors of order max |result|,
 * 100x or more outside it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "cnn3d/backend.h"
#include "cnn3d/conv_winograd.h"
#include "tests/check.h"

#define A_MAX HSI_CNN_WINO_MAX_ALPHA

static float *random_array(hsi_rng *rng, size_t n)
{
    float *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = (float)(2 * hsi_rng_uniform(rng) - 1);
    return a;
}

static double max_abs_diff(const float *a, const float *b, size_t n, double *scale)
{
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
        if (fabs(b[i]) > s) s = fabs(b[i]);
    }
    *scale = s;
    return m;
}

static double gamma_of(int m, int r)
{
    double at[A_MAX * A_MAX], g[A_MAX * A_MAX], bt[A_MAX * A_MAX], worst = 0;
    const int A = m + r - 1;
    if (hsi_cnn_wino_transforms(m, r, at, g, bt)) return -1;
    for (int i = 0; i < m; i++) {
        double s = 0;
        for (int xi = 0; xi < A; xi++) {
            double sg = 0, sb = 0;
            for (int a = 0; a < r; a++) sg += fabs(g[xi * r + a]);
            for (int j = 0; j < A; j++) sb += fabs(bt[xi * A + j]);
            s += fabs(at[i * A + xi]) * sg * sb;
        }
        if (s > worst) worst = s;
    }
    return worst / r;
}

/* y = AT [(G g) . (BT d)] against y_i = sum_a g_a d_{i+a}, in double, for
 * every F(m, r) with a point set; AT and BT exact in fp32. */
static void test_transforms(void)
{
    hsi_rng rng;
    hsi_rng_seed(&rng, 17);
    int tried = 0;
    for (int alpha = 3; alpha <= A_MAX; alpha++)
        for (int r = 1; r <= alpha - 1; r++) {
            const int m = alpha - r + 1;
            double at[A_MAX * A_MAX], g[A_MAX * A_MAX], bt[A_MAX * A_MAX];
            CHECK_MSG(!hsi_cnn_wino_transforms(m, r, at, g, bt), "F(%d, %d) has no transforms", m,
                      r);
            tried++;
            for (int i = 0; i < m * alpha; i++)
                CHECK_MSG((double)(float)at[i] == at[i], "F(%d, %d) AT[%d] = %.17g not fp32", m, r,
                          i, at[i]);
            for (int i = 0; i < alpha * alpha; i++)
                CHECK_MSG((double)(float)bt[i] == bt[i], "F(%d, %d) BT[%d] = %.17g not fp32", m, r,
                          i, bt[i]);
            for (int trial = 0; trial < 3; trial++) {
                double d[A_MAX], w[A_MAX], u[A_MAX], v[A_MAX];
                for (int j = 0; j < alpha; j++) d[j] = 2 * hsi_rng_uniform(&rng) - 1;
                for (int a = 0; a < r; a++) w[a] = 2 * hsi_rng_uniform(&rng) - 1;
                for (int xi = 0; xi < alpha; xi++) {
                    u[xi] = v[xi] = 0;
                    for (int a = 0; a < r; a++) u[xi] += g[xi * r + a] * w[a];
                    for (int j = 0; j < alpha; j++) v[xi] += bt[xi * alpha + j] * d[j];
                }
                for (int i = 0; i < m; i++) {
                    double y = 0, want = 0;
                    for (int xi = 0; xi < alpha; xi++) y += at[i * alpha + xi] * u[xi] * v[xi];
                    for (int a = 0; a < r; a++) want += w[a] * d[i + a];
                    CHECK_MSG(fabs(y - want) <= 1e-9 * (1 + fabs(want)),
                              "F(%d, %d) output %d: %.17g, direct %.17g", m, r, i, y, want);
                }
            }
        }
    CHECK_INT_EQ(tried, 44);
    double at[4], g[4], bt[4];
    CHECK(hsi_cnn_wino_transforms(2, 10, at, g, bt) == -1); /* alpha 11: no point set */
    CHECK(hsi_cnn_wino_transforms(0, 3, at, g, bt) == -1);
    /* A hand case, F(2, 3): d = 1 2 3 4, g = 1 1 1 -> 6 9. */
    double at2[8], g2[12], bt2[16], d[4] = {1, 2, 3, 4}, y[2] = {0, 0};
    CHECK(!hsi_cnn_wino_transforms(2, 3, at2, g2, bt2));
    for (int xi = 0; xi < 4; xi++) {
        double u = g2[xi * 3] + g2[xi * 3 + 1] + g2[xi * 3 + 2], v = 0;
        for (int j = 0; j < 4; j++) v += bt2[xi * 4 + j] * d[j];
        for (int i = 0; i < 2; i++) y[i] += at2[i * 4 + xi] * u * v;
    }
    CHECK_NEAR(y[0], 6, 1e-12);
    CHECK_NEAR(y[1], 9, 1e-12);
    printf("gamma: F(4,5) %.1f, F(2,5) %.1f, F(3,5) %.1f, F(6,3) %.1f, F(6,5) %.1f\n",
           gamma_of(4, 5), gamma_of(2, 5), gamma_of(3, 5), gamma_of(6, 3), gamma_of(6, 5));
}


/* Max-pool (kd x 1 x 1, stride kd) of y, for the fused forward's reference. */
static void pool_reference(const hsi_cnn_pool_desc *pd, const float *y, float *out)
{
    const int hw = pd->h * pd->w;
    for (int nc = 0; nc < pd->n * pd->c; nc++)
        for (int od = 0; od < pd->od; od++)
            for (int i = 0; i < hw; i++) {
                float best = -INFINITY;
                for (int a = 0; a < pd->kd; a++) {
                    float v = y[((size_t)nc * pd->d + od * pd->kd + a) * hw + i];
                    if (v > best) best = v;
                }
                out[((size_t)nc * pd->od + od) * hw + i] = best;
            }
}

/* One geometry with Winograd mode `mode` (1: default tile, m >= 2: forced)
 * at vol2col/Winograd block size `block` (0: default) and GEMM chunk
 * `chunk` (hsi_cnn_cpu_set_wino_chunk): all passes against the naive conv. */
static void compare_case(hsi_cnn_conv_desc cd, int mode, size_t block, int chunk,
                         const char *name)
{
    hsi_rng rng;
    hsi_rng_seed(&rng, 23);
    hsi_cnn_cpu_set_winograd(mode);
    hsi_cnn_cpu_set_block_bytes(block);
    hsi_cnn_cpu_set_wino_chunk(chunk);
    const int m = mode >= 2 ? mode : 9 - cd.kd;
    char what[256];
    snprintf(what, sizeof what, "%s, F(%d, %d), block %zu, chunk %d", name, m, cd.kd, block,
             chunk);
    CHECK_MSG(!strcmp(hsi_cnn_cpu_conv_path(&cd), "winograd"), "%s: runs on %s", what,
              hsi_cnn_cpu_conv_path(&cd));
    const double tol = gamma_of(m, cd.kd) * 1e-5;
    size_t nx = (size_t)cd.n * cd.c * cd.d * cd.h * cd.w;
    size_t nw = (size_t)cd.f * cd.c * cd.kd * cd.kh * cd.kw;
    size_t ny = (size_t)cd.n * cd.f * cd.od * cd.oh * cd.ow;
    float *x = random_array(&rng, nx), *w = random_array(&rng, nw), *b = random_array(&rng, cd.f);
    float *dy = random_array(&rng, ny), *y_ref = malloc(ny * 4), *y = malloc(ny * 4);
    float *dx_ref = malloc(nx * 4), *dx = malloc(nx * 4), *dw_ref = malloc(nw * 4);
    float *dw = malloc(nw * 4), *db_ref = malloc(cd.f * 4), *db = malloc(cd.f * 4);
    const hsi_cnn_backend *be = hsi_cnn_backend_cpu();
    size_t ws = be->conv3d_workspace(be, &cd);
    float *work = malloc((ws + 1) * sizeof *work);
    double scale, d;

    hsi_cnn_conv3d_naive_forward(&cd, x, w, b, y_ref);
    be->conv3d_forward(be, &cd, x, w, b, HSI_CNN_ACT_LINEAR, y, work);
    d = max_abs_diff(y, y_ref, ny, &scale);
    CHECK_MSG(d <= tol * (1 + scale), "%s forward: max diff %g (scale %g, tol %g)", what, d, scale,
              tol * (1 + scale));

    be->conv3d_forward(be, &cd, x, w, b, HSI_CNN_ACT_RELU, y, work);
    for (size_t i = 0; i < ny; i++) y_ref[i] = y_ref[i] > 0 ? y_ref[i] : 0.0f;
    d = max_abs_diff(y, y_ref, ny, &scale);
    CHECK_MSG(d <= tol * (1 + scale), "%s forward + relu: max diff %g", what, d);

    /* Fused with a spectral max-pool over the whole output depth. */
    if (cd.od >= 2) {
        hsi_cnn_pool_desc pd = {.n = cd.n, .c = cd.f, .d = cd.od, .h = cd.oh, .w = cd.ow,
                                .kd = 2, .kh = 1, .kw = 1, .sd = 2, .sh = 1, .sw = 1,
                                .od = cd.od / 2, .oh = cd.oh, .ow = cd.ow};
        size_t np = (size_t)pd.n * pd.c * pd.od * pd.oh * pd.ow;
        float *yp = malloc(np * 4), *yp_ref = malloc(np * 4);
        int32_t *am = malloc(np * sizeof *am);
        CHECK_MSG(be->conv3d_forward_maxpool(be, &cd, x, w, b, HSI_CNN_ACT_RELU, &pd, yp, am, work),
                  "%s: the fused forward declined", what);
        pool_reference(&pd, y_ref, yp_ref);
        d = max_abs_diff(yp, yp_ref, np, &scale);
        CHECK_MSG(d <= tol * (1 + scale), "%s fused forward + pool: max diff %g", what, d);
        /* and the same bits as the unfused forward, pooled */
        be->conv3d_forward(be, &cd, x, w, b, HSI_CNN_ACT_RELU, y, work);
        pool_reference(&pd, y, yp_ref);
        CHECK_MSG(!memcmp(yp, yp_ref, np * 4), "%s: fused and unfused forward differ", what);
        free(yp), free(yp_ref), free(am);
    }

    hsi_cnn_conv3d_naive_backward_data(&cd, dy, w, dx_ref);
    for (size_t i = 0; i < nx; i++) dx[i] = 123.0f; /* must be overwritten */
    be->conv3d_backward_data(be, &cd, dy, w, dx, work);
    d = max_abs_diff(dx, dx_ref, nx, &scale);
    CHECK_MSG(d <= tol * (1 + scale), "%s backward data: max diff %g (scale %g, tol %g)", what, d,
              scale, tol * (1 + scale));

    hsi_cnn_conv3d_naive_backward_filter(&cd, x, dy, dw_ref, db_ref);
    be->conv3d_backward_filter(be, &cd, x, dy, dw, db, work);
    d = max_abs_diff(dw, dw_ref, nw, &scale);
    CHECK_MSG(d <= tol * (1 + scale), "%s backward filter: max diff %g (scale %g, tol %g)", what,
              d, scale, tol * (1 + scale));
    /* The bias gradient is dy summed directly, as on the other paths. */
    d = max_abs_diff(db, db_ref, cd.f, &scale);
    CHECK_MSG(d <= 1e-5 * (1 + scale), "%s backward bias: max diff %g", what, d);

    hsi_cnn_cpu_set_block_bytes(0);
    hsi_cnn_cpu_set_winograd(1);
    hsi_cnn_cpu_set_wino_chunk(-1);
    free(x), free(w), free(b), free(dy), free(y_ref), free(y), free(dx_ref), free(dx);
    free(dw_ref), free(dw), free(db_ref), free(db), free(work);
}

/* Where the path applies and where it must not. */
static void test_choice(void)
{
    hsi_cnn_conv_desc conv2 = {.n = 50, .c = 48, .d = 72, .h = 7, .w = 7, .f = 32, .kd = 5,
                               .kh = 3, .kw = 3, .sd = 1, .sh = 1, .sw = 1, .pd = 2,
                               .od = 72, .oh = 5, .ow = 5};
    hsi_cnn_conv_desc conv3 = conv2;
    conv3.c = 32, conv3.d = conv3.od = 24, conv3.h = conv3.w = 5, conv3.oh = conv3.ow = 3;
    CHECK(!strcmp(hsi_cnn_cpu_conv_path(&conv2), "winograd"));
    CHECK(!strcmp(hsi_cnn_cpu_conv_path(&conv3), "winograd"));
    hsi_cnn_cpu_set_winograd(0);
    CHECK(!strcmp(hsi_cnn_cpu_conv_path(&conv2), "shift"));
    hsi_cnn_cpu_set_winograd(1);
    hsi_cnn_conv_desc c = conv2;
    c.sd = 2, c.pd = 0, c.od = 34; /* spectral stride 2: declined */
    CHECK(strcmp(hsi_cnn_cpu_conv_path(&c), "winograd"));
    c = conv2, c.kd = 1, c.pd = 0, c.od = 72; /* nothing to save */
    CHECK(strcmp(hsi_cnn_cpu_conv_path(&c), "winograd"));
    c = conv2, c.kd = 9, c.pd = 0, c.od = 64; /* alpha 8 leaves no tile */
    CHECK(strcmp(hsi_cnn_cpu_conv_path(&c), "winograd"));
    c = conv2, c.od = 1, c.d = 5, c.pd = 0; /* one output: 8 products for 5 */
    CHECK(strcmp(hsi_cnn_cpu_conv_path(&c), "winograd"));
    c = conv2, c.bf16 = 1; /* bf16 keeps the shift GEMMs where the CPU has them */
    const char *p = hsi_cnn_cpu_conv_path(&c);
    CHECK_MSG(!strcmp(p, "shift") || !strcmp(p, "winograd"), "bf16 conv2 on %s", p);
    /* The workspace does not depend on the switch (A/B on one net). */
    const hsi_cnn_backend *be = hsi_cnn_backend_cpu();
    size_t on = be->conv3d_workspace(be, &conv2);
    hsi_cnn_cpu_set_winograd(0);
    CHECK_INT_EQ(be->conv3d_workspace(be, &conv2), on);
    hsi_cnn_cpu_set_winograd(1);
}

int main(void)
{
    test_transforms();
    test_choice();
    struct {
        const char *name;
        int n, c, d, h, w, f, kd, kh, kw, sh, sw, same;
    } cases[] = {
        {"lange conv2-like", 3, 8, 24, 7, 7, 6, 5, 3, 3, 1, 1, 0},
        {"lange conv3-like, spectral same", 5, 8, 16, 5, 5, 5, 5, 3, 3, 1, 1, 1},
        {"odd depth 23", 2, 8, 23, 5, 6, 3, 5, 3, 3, 1, 1, 0},
        {"odd depth 17, same", 3, 9, 17, 4, 5, 4, 5, 3, 3, 1, 1, 1},
        {"depth one tile short", 2, 8, 12, 5, 5, 3, 5, 3, 3, 1, 1, 0},
        {"x/y same padding", 2, 8, 15, 6, 7, 3, 5, 3, 3, 1, 1, 1},
        {"x/y stride 2", 3, 8, 14, 7, 8, 4, 5, 3, 3, 2, 2, 0},
        {"kd 3", 2, 8, 19, 5, 5, 4, 3, 3, 3, 1, 1, 0},
        {"kd 3, same", 2, 8, 13, 5, 5, 4, 3, 3, 3, 1, 1, 1},
        {"kd 2", 2, 16, 15, 4, 4, 3, 2, 2, 2, 1, 1, 0},
        {"kd 7", 2, 8, 21, 5, 5, 3, 7, 3, 3, 1, 1, 0},
        {"one sample", 1, 8, 20, 5, 5, 3, 5, 3, 3, 1, 1, 0},
        {"19 samples (more than the gradient's 16 groups)", 19, 8, 11, 5, 5, 2, 5, 3, 3, 1, 1, 0},
    };
    int modes[] = {1, 2, 3, 4, 6};
    size_t blocks[] = {1, 0, (size_t)1 << 30};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hsi_cnn_conv_desc cd = {.n = cases[i].n, .c = cases[i].c, .d = cases[i].d,
                                .h = cases[i].h, .w = cases[i].w, .f = cases[i].f,
                                .kd = cases[i].kd, .kh = cases[i].kh, .kw = cases[i].kw,
                                .sd = 1, .sh = cases[i].sh, .sw = cases[i].sw};
        CHECK(!hsi_cnn_conv_desc_geometry(&cd, cases[i].same));
        for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
            if (modes[k] >= 2 && modes[k] + cd.kd - 1 > HSI_CNN_WINO_MAX_ALPHA) continue;
            for (size_t j = 0; j < sizeof blocks / sizeof blocks[0]; j++) {
                if (modes[k] != 1 && j != 1 && i > 2) continue; /* every block size on a few */
                compare_case(cd, modes[k], blocks[j], -1, cases[i].name);
            }
            /* GEMMs of 1, 7, 16 and 50 columns (the last one short where
             * they do not divide the block; 7 splits planes) and of the
             * whole block, whichever the BLAS makes the default here. */
            const int chunks[] = {0, 1, 7, 16, 50};
            for (int c = 0; c < 5 && modes[k] == 1; c++)
                compare_case(cd, modes[k], c == 3 ? (size_t)1 << 30 : 0, chunks[c],
                             cases[i].name);
        }
    }
    return check_finish();
}
