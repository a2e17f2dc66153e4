/* backend_compare.h - run every primitive of a backend table and a short
 * training run on two backends from the same inputs and compare.
 *
 * tests/test_cnn_cuda.c compares the CPU backend with the CUDA backend (on a
 * GPU); tests/test_cnn_device.c runs the same code with a "device" that is
 * the CPU table flagged as device memory, so the harness and the net's
 * device paths (outputs read back, the loss gradient uploaded) run on every
 * machine, where the answers must agree bit for bit.
 *
 * Tolerances (`exact` = 0, i.e. CPU vs GPU), each relative to the largest
 * magnitude of the reference tensor:
 *   0       pooling (values, argmax, gradients), padding, copy, dropout's
 *           multiply, bias add and gradient, SGD, Adam, sequence layouts:
 *           the same IEEE operations in the same order (nvcc -fmad=false)
 *   2e-6    activations, softmax, LSTM / GRU gates: expf / tanhf differ by
 *           a few ulps between glibc and CUDA
 *   1e-12   the backend's loss (double log of CUDA vs glibc), 1e-6 its gradient;
 *           argmax hits exact
 *   1e-5    batch normalisation (tree vs sequential sums), cuBLAS GEMMs
 *   3e-5    cuDNN convolutions (other summation orders over up to 2000 terms)
 *   1e-4    20 SGD steps of the Lange net: losses and weights
 */
#ifndef HSI_TESTS_BACKEND_COMPARE_H
#define HSI_TESTS_BACKEND_COMPARE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "cnn3d/backend.h"
#include "cnn3d/cnn.h"
#include "features/patch.h"
#include "tests/check.h"

typedef struct bc {
    const hsi_cnn_backend *ref, *be;
    int exact;   /* 1: every comparison must be bit-exact */
    hsi_rng rng;
} bc;

typedef struct bc_pair {
    float *r, *b; /* the reference's and the tested backend's copy */
    size_t n;
} bc_pair;

static float *bc_rand(bc *t, size_t n, double lo, double hi)
{
    float *h = malloc((n ? n : 1) * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = (float)(lo + (hi - lo) * hsi_rng_uniform(&t->rng));
    return h;
}

static float *bc_up(const hsi_cnn_backend *be, const float *h, size_t n)
{
    float *d = be->alloc(be, (n ? n : 1) * sizeof *d);
    if (d && h && n) be->upload(be, d, h, n * sizeof *d);
    return d;
}

/* Both backends' copies of host array h (NULL: zeros). */
static bc_pair bc_pair_of(bc *t, const float *h, size_t n)
{
    bc_pair p = {bc_up(t->ref, h, n), bc_up(t->be, h, n), n};
    return p;
}

static bc_pair bc_random(bc *t, size_t n, double lo, double hi)
{
    float *h = bc_rand(t, n, lo, hi);
    bc_pair p = bc_pair_of(t, h, n);
    free(h);
    return p;
}

static void bc_free(bc *t, bc_pair p)
{
    t->ref->release(t->ref, p.r);
    t->be->release(t->be, p.b);
}

/* Compare the two copies: max |r - b| <= rel * max |r| (rel 0 or exact:
 * bit for bit). Returns the relative difference. */
static double bc_cmp(bc *t, const char *what, bc_pair p, double rel)
{
    size_t n = p.n;
    float *r = malloc((n ? n : 1) * sizeof *r), *b = malloc((n ? n : 1) * sizeof *b);
    t->ref->download(t->ref, r, p.r, n * sizeof *r);
    t->be->download(t->be, b, p.b, n * sizeof *b);
    double scale = 0, diff = 0;
    size_t worst = 0;
    int nan_mismatch = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(r[i]) > scale) scale = fabs(r[i]);
        if (isnan(r[i]) != isnan(b[i])) nan_mismatch = 1;
        double d = fabs((double)r[i] - b[i]);
        if (d > diff) diff = d, worst = i;
    }
    int exact = t->exact || rel == 0;
    int same = exact ? !memcmp(r, b, n * sizeof *r) : !nan_mismatch && diff <= rel * (scale > 0 ? scale : 1e-30);
    CHECK_MSG(same, "%s: max |diff| %.3g at %zu (%.9g vs %.9g), scale %.3g, %s %g", what, diff,
              worst, n ? r[worst] : 0.0, n ? b[worst] : 0.0, scale, exact ? "exact; rel" : "rel",
              exact ? 0.0 : rel);
    free(r);
    free(b);
    return scale > 0 ? diff / scale : diff;
}

/* The status of the tested backend after a batch of calls. */
static void bc_status(bc *t, const char *what)
{
    hsi_status st = t->be->status ? t->be->status(t->be) : HSI_OK;
    CHECK_MSG(st == HSI_OK, "%s: backend error: %s", what, hsi_last_error());
}

/* ---------------------------------------------------------------- gemm */

static void bc_gemm(bc *t)
{
    const int m = 7, n = 5, k = 9;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int bz = 0; bz < 2; bz++) {
                int lda = ta ? m : k, ldb = tb ? k : n;
                bc_pair a = bc_random(t, (size_t)m * k, -1, 1), b = bc_random(t, (size_t)k * n, -1, 1);
                bc_pair c = bc_random(t, (size_t)m * n, -1, 1);
                float beta = bz ? 0.5f : 0.0f;
                t->ref->gemm(t->ref, ta, tb, m, n, k, 1.5f, a.r, lda, b.r, ldb, beta, c.r, n);
                t->be->gemm(t->be, ta, tb, m, n, k, 1.5f, a.b, lda, b.b, ldb, beta, c.b, n);
                char what[64];
                snprintf(what, sizeof what, "gemm trans_a=%d trans_b=%d beta=%g", ta, tb, beta);
                bc_cmp(t, what, c, 1e-5);
                bc_free(t, a), bc_free(t, b), bc_free(t, c);
            }
    bc_status(t, "gemm");
}

/* ---------------------------------------------------------------- conv3d */

/* A geometry as hsi_cnn_net_plan makes it (same: Keras "same"); extra
 * zeros before and after (a folded zeropad3d) in fold. */
static hsi_cnn_conv_desc bc_conv_geom(int n, int c, int d, int h, int w, int f, int kd, int kh,
                                      int kw, int s, int same, int fold)
{
    /* planned on the padded depth, then the fold moved into pd */
    hsi_cnn_conv_desc cd = {n, c, d + 2 * fold, h, w, f, kd, kh, kw, s, s, s, 0, 0, 0, 0, 0, 0, 0};
    CHECK(!hsi_cnn_conv_desc_geometry(&cd, same));
    cd.d = d, cd.pd += fold;
    return cd;
}

static void bc_conv_case(bc *t, hsi_cnn_conv_desc cd, hsi_cnn_activation act, const char *name)
{
    size_t nx = (size_t)cd.n * cd.c * cd.d * cd.h * cd.w;
    size_t nw = (size_t)cd.f * cd.c * cd.kd * cd.kh * cd.kw;
    size_t ny = (size_t)cd.n * cd.f * cd.od * cd.oh * cd.ow;
    bc_pair x = bc_random(t, nx, -1, 1), w = bc_random(t, nw, -0.5, 0.5);
    bc_pair bias = bc_random(t, (size_t)cd.f, -0.2, 0.2), y = bc_pair_of(t, NULL, ny);
    size_t wr = t->ref->conv3d_workspace(t->ref, &cd), wb = t->be->conv3d_workspace(t->be, &cd);
    float *work_r = t->ref->alloc(t->ref, (wr + 1) * sizeof(float));
    float *work_b = t->be->alloc(t->be, (wb + 1) * sizeof(float));
    char what[160];
    t->ref->conv3d_forward(t->ref, &cd, x.r, w.r, bias.r, act, y.r, work_r);
    t->be->conv3d_forward(t->be, &cd, x.b, w.b, bias.b, act, y.b, work_b);
    snprintf(what, sizeof what, "%s forward (%s)", name, hsi_cnn_activation_name(act));
    bc_cmp(t, what, y, 3e-5);
    bc_pair dy = bc_random(t, ny, -1, 1), dx = bc_pair_of(t, NULL, nx);
    bc_pair dw = bc_pair_of(t, NULL, nw), db = bc_pair_of(t, NULL, (size_t)cd.f);
    t->ref->conv3d_backward_data(t->ref, &cd, dy.r, w.r, dx.r, work_r);
    t->be->conv3d_backward_data(t->be, &cd, dy.b, w.b, dx.b, work_b);
    snprintf(what, sizeof what, "%s backward data", name);
    bc_cmp(t, what, dx, 3e-5);
    t->ref->conv3d_backward_filter(t->ref, &cd, x.r, dy.r, dw.r, db.r, work_r);
    t->be->conv3d_backward_filter(t->be, &cd, x.b, dy.b, dw.b, db.b, work_b);
    snprintf(what, sizeof what, "%s backward filter", name);
    bc_cmp(t, what, dw, 3e-5);
    snprintf(what, sizeof what, "%s bias gradient", name);
    bc_cmp(t, what, db, 1e-5);
    bc_status(t, name);
    t->ref->release(t->ref, work_r);
    t->be->release(t->be, work_b);
    bc_free(t, x), bc_free(t, w), bc_free(t, bias), bc_free(t, y);
    bc_free(t, dy), bc_free(t, dx), bc_free(t, dw), bc_free(t, db);
}

static void bc_conv(bc *t)
{
    /* The Lange net's first and (zeropad folded) second layers, small. */
    bc_conv_case(t, bc_conv_geom(3, 1, 24, 9, 9, 8, 5, 3, 3, 1, 0, 0), HSI_CNN_ACT_RELU, "conv lange1");
    bc_conv_case(t, bc_conv_geom(3, 6, 8, 7, 7, 5, 5, 3, 3, 1, 0, 2), HSI_CNN_ACT_RELU, "conv lange2 folded pad");
    /* "same" with an odd total padding: one more zero after than before
     * (the explicit-padding path on cuDNN). */
    bc_conv_case(t, bc_conv_geom(2, 3, 10, 6, 6, 4, 4, 2, 3, 1, 1, 0), HSI_CNN_ACT_LINEAR, "conv same even kernel");
    bc_conv_case(t, bc_conv_geom(2, 2, 9, 7, 7, 3, 3, 3, 3, 2, 1, 0), HSI_CNN_ACT_TANH, "conv same stride 2");
    bc_conv_case(t, bc_conv_geom(2, 2, 10, 7, 8, 3, 3, 2, 3, 2, 0, 0), HSI_CNN_ACT_SIGMOID, "conv valid stride 2");
    /* softmax over each filter's volume (the CPU backend's rule; the CUDA
     * backend refused it until 2026-11-30) */
    bc_conv_case(t, bc_conv_geom(2, 2, 9, 5, 5, 3, 3, 3, 3, 1, 1, 0), HSI_CNN_ACT_SOFTMAX, "conv softmax");
}

/* ---------------------------------------------------------------- pooling, padding */

static void bc_pool_case(bc *t, hsi_cnn_pool_desc pd, const char *name)
{
    size_t nx = (size_t)pd.n * pd.c * pd.d * pd.h * pd.w, ny = (size_t)pd.n * pd.c * pd.od * pd.oh * pd.ow;
    /* After a ReLU: many zeros, so ties test the first-maximum rule. */
    float *h = bc_rand(t, nx, -1, 1);
    for (size_t i = 0; i < nx; i++) h[i] = h[i] > 0 ? h[i] : 0.0f;
    bc_pair x = bc_pair_of(t, h, nx), y = bc_pair_of(t, NULL, ny), am = bc_pair_of(t, NULL, ny);
    free(h);
    char what[160];
    t->ref->maxpool3d_forward(t->ref, &pd, x.r, y.r, (int32_t *)am.r);
    t->be->maxpool3d_forward(t->be, &pd, x.b, y.b, (int32_t *)am.b);
    snprintf(what, sizeof what, "%s maxpool forward", name);
    bc_cmp(t, what, y, 0);
    snprintf(what, sizeof what, "%s maxpool argmax", name);
    bc_cmp(t, what, am, 0); /* int32 compared as bits */
    bc_pair dy = bc_random(t, ny, -1, 1), dx = bc_pair_of(t, NULL, nx);
    for (int gate = 0; gate < 2; gate++) {
        t->ref->maxpool3d_backward(t->ref, &pd, dy.r, (int32_t *)am.r, gate ? y.r : NULL, dx.r);
        t->be->maxpool3d_backward(t->be, &pd, dy.b, (int32_t *)am.b, gate ? y.b : NULL, dx.b);
        snprintf(what, sizeof what, "%s maxpool backward%s", name, gate ? " (ReLU gate)" : "");
        bc_cmp(t, what, dx, 0);
    }
    t->ref->avgpool3d_forward(t->ref, &pd, x.r, y.r);
    t->be->avgpool3d_forward(t->be, &pd, x.b, y.b);
    snprintf(what, sizeof what, "%s avgpool forward", name);
    bc_cmp(t, what, y, 0);
    t->ref->avgpool3d_backward(t->ref, &pd, dy.r, dx.r);
    t->be->avgpool3d_backward(t->be, &pd, dy.b, dx.b);
    snprintf(what, sizeof what, "%s avgpool backward", name);
    bc_cmp(t, what, dx, 0);
    bc_status(t, name);
    bc_free(t, x), bc_free(t, y), bc_free(t, am), bc_free(t, dy), bc_free(t, dx);
}

static hsi_cnn_pool_desc bc_pool_geom(int n, int c, int d, int h, int w, int kd, int kh, int kw,
                                      int sd, int sh, int sw)
{
    hsi_cnn_pool_desc pd = {n, c, d, h, w, kd, kh, kw, sd, sh, sw, 0, 0, 0,
                            (d - kd) / sd + 1, (h - kh) / sh + 1, (w - kw) / sw + 1};
    return pd;
}

static void bc_pool(bc *t)
{
    bc_pool_case(t, bc_pool_geom(3, 4, 20, 7, 7, 3, 1, 1, 3, 1, 1), "lange pool (1,1,3)");
    bc_pool_case(t, bc_pool_geom(2, 3, 7, 6, 5, 2, 2, 2, 1, 1, 1), "overlapping 2x2x2 stride 1");
    bc_pool_case(t, bc_pool_geom(2, 2, 9, 8, 7, 3, 2, 3, 2, 2, 2), "3x2x3 stride 2");
    /* zero padding and its crop */
    hsi_cnn_pool_desc pd = {2, 3, 5, 4, 3, 0, 0, 0, 0, 0, 0, 2, 1, 1, 9, 6, 5};
    size_t nx = 2 * 3 * 5 * 4 * 3, ny = 2 * 3 * 9 * 6 * 5;
    bc_pair x = bc_random(t, nx, -1, 1), y = bc_random(t, ny, -1, 1), dx = bc_pair_of(t, NULL, nx);
    t->ref->pad3d_forward(t->ref, &pd, x.r, y.r);
    t->be->pad3d_forward(t->be, &pd, x.b, y.b);
    bc_cmp(t, "pad3d forward", y, 0);
    t->ref->pad3d_backward(t->ref, &pd, y.r, dx.r);
    t->be->pad3d_backward(t->be, &pd, y.b, dx.b);
    bc_cmp(t, "pad3d backward", dx, 0);
    bc_status(t, "pad3d");
    bc_free(t, x), bc_free(t, y), bc_free(t, dx);
}

/* ---------------------------------------------------------------- dense helpers, activations, batch norm */

static void bc_dense_helpers(bc *t)
{
    const int rows = 37, cols = 11;
    bc_pair y = bc_random(t, (size_t)rows * cols, -2, 2), bias = bc_random(t, cols, -1, 1);
    bc_pair db = bc_pair_of(t, NULL, cols);
    t->ref->bias_add(t->ref, rows, cols, bias.r, y.r);
    t->be->bias_add(t->be, rows, cols, bias.b, y.b);
    bc_cmp(t, "bias_add", y, 0);
    t->ref->bias_grad(t->ref, rows, cols, y.r, db.r);
    t->be->bias_grad(t->be, rows, cols, y.b, db.b);
    bc_cmp(t, "bias_grad", db, 0);
    static const hsi_cnn_activation acts[] = {HSI_CNN_ACT_LINEAR, HSI_CNN_ACT_RELU, HSI_CNN_ACT_SIGMOID,
                                              HSI_CNN_ACT_TANH, HSI_CNN_ACT_SOFTMAX};
    for (int a = 0; a < 5; a++) {
        bc_pair v = bc_random(t, (size_t)rows * cols, -3, 3), g = bc_random(t, (size_t)rows * cols, -1, 1);
        char what[96];
        t->ref->activation_forward(t->ref, acts[a], rows, cols, v.r);
        t->be->activation_forward(t->be, acts[a], rows, cols, v.b);
        snprintf(what, sizeof what, "activation %s forward", hsi_cnn_activation_name(acts[a]));
        bc_cmp(t, what, v, 2e-6);
        /* the backward from the same outputs y (the reference's) */
        float *yh = malloc((size_t)rows * cols * sizeof *yh);
        t->ref->download(t->ref, yh, v.r, (size_t)rows * cols * sizeof *yh);
        t->be->upload(t->be, v.b, yh, (size_t)rows * cols * sizeof *yh);
        free(yh);
        t->ref->activation_backward(t->ref, acts[a], rows, cols, v.r, g.r);
        t->be->activation_backward(t->be, acts[a], rows, cols, v.b, g.b);
        snprintf(what, sizeof what, "activation %s backward", hsi_cnn_activation_name(acts[a]));
        bc_cmp(t, what, g, 2e-6);
        bc_free(t, v), bc_free(t, g);
    }
    /* dropout's multiply and copy */
    bc_pair x = bc_random(t, 1000, -1, 1), mask = bc_random(t, 1000, 0, 2), out = bc_pair_of(t, NULL, 1000);
    t->ref->mul(t->ref, 1000, x.r, mask.r, out.r);
    t->be->mul(t->be, 1000, x.b, mask.b, out.b);
    bc_cmp(t, "mul", out, 0);
    t->ref->copy(t->ref, 999, x.r + 1, out.r);
    t->be->copy(t->be, 999, x.b + 1, out.b);
    bc_cmp(t, "copy", out, 0);
    bc_status(t, "dense helpers");
    bc_free(t, y), bc_free(t, bias), bc_free(t, db), bc_free(t, x), bc_free(t, mask), bc_free(t, out);
}

static void bc_batchnorm(bc *t)
{
    const int n = 6, c = 5, s = 23;
    size_t total = (size_t)n * c * s;
    bc_pair x = bc_random(t, total, -2, 3), gamma = bc_random(t, c, 0.5, 1.5), beta = bc_random(t, c, -1, 1);
    float rm_h[5] = {0.1f, -0.2f, 0.0f, 0.3f, 0.05f}, rv_h[5] = {1.0f, 0.5f, 2.0f, 1.5f, 0.8f};
    bc_pair rm = bc_pair_of(t, rm_h, c), rv = bc_pair_of(t, rv_h, c);
    bc_pair xhat = bc_pair_of(t, NULL, total), invstd = bc_pair_of(t, NULL, c), y = bc_pair_of(t, NULL, total);
    t->ref->batchnorm_forward(t->ref, n, c, s, x.r, gamma.r, beta.r, rm.r, rv.r, 0.99f, 1e-3f, 1, xhat.r, invstd.r, y.r);
    t->be->batchnorm_forward(t->be, n, c, s, x.b, gamma.b, beta.b, rm.b, rv.b, 0.99f, 1e-3f, 1, xhat.b, invstd.b, y.b);
    bc_cmp(t, "batchnorm forward (training)", y, 1e-5);
    bc_cmp(t, "batchnorm xhat", xhat, 1e-5);
    bc_cmp(t, "batchnorm invstd", invstd, 1e-5);
    bc_cmp(t, "batchnorm running mean", rm, 1e-5);
    bc_cmp(t, "batchnorm running var", rv, 1e-5);
    bc_pair dy = bc_random(t, total, -1, 1), dx = bc_pair_of(t, NULL, total);
    bc_pair dg = bc_pair_of(t, NULL, c), dbt = bc_pair_of(t, NULL, c);
    t->ref->batchnorm_backward(t->ref, n, c, s, dy.r, xhat.r, invstd.r, gamma.r, dg.r, dbt.r, dx.r);
    t->be->batchnorm_backward(t->be, n, c, s, dy.b, xhat.b, invstd.b, gamma.b, dg.b, dbt.b, dx.b);
    bc_cmp(t, "batchnorm backward dx", dx, 1e-5);
    bc_cmp(t, "batchnorm backward dgamma", dg, 1e-5);
    bc_cmp(t, "batchnorm backward dbeta", dbt, 1e-5);
    t->ref->batchnorm_forward(t->ref, n, c, s, x.r, gamma.r, beta.r, rm.r, rv.r, 0.99f, 1e-3f, 0, NULL, NULL, y.r);
    t->be->batchnorm_forward(t->be, n, c, s, x.b, gamma.b, beta.b, rm.b, rv.b, 0.99f, 1e-3f, 0, NULL, NULL, y.b);
    bc_cmp(t, "batchnorm forward (inference)", y, 1e-5);
    bc_status(t, "batchnorm");
    bc_free(t, x), bc_free(t, gamma), bc_free(t, beta), bc_free(t, rm), bc_free(t, rv);
    bc_free(t, xhat), bc_free(t, invstd), bc_free(t, y), bc_free(t, dy), bc_free(t, dx);
    bc_free(t, dg), bc_free(t, dbt);
}

/* ---------------------------------------------------------------- optimisers */

static void bc_optimisers(bc *t)
{
    const size_t n = 3001;
    for (int v = 0; v < 4; v++) {
        bc_pair w = bc_random(t, n, -1, 1), g = bc_random(t, n, -0.1, 0.1);
        bc_pair m = bc_random(t, n, -0.01, 0.01), s = bc_random(t, n, 0, 0.001);
        char what[64];
        for (int step = 1; step <= 3; step++) {
            if (v < 3) {
                float mom = v == 0 ? 0.0f : 0.9f;
                t->ref->sgd_update(t->ref, n, w.r, g.r, m.r, 0.05f, mom, v == 2, 1e-4f);
                t->be->sgd_update(t->be, n, w.b, g.b, m.b, 0.05f, mom, v == 2, 1e-4f);
            } else {
                t->ref->adam_update(t->ref, n, w.r, g.r, m.r, s.r, 1e-3f, 0.9f, 0.999f, 1e-7f, 1e-4f, step);
                t->be->adam_update(t->be, n, w.b, g.b, m.b, s.b, 1e-3f, 0.9f, 0.999f, 1e-7f, 1e-4f, step);
            }
        }
        static const char *names[4] = {"sgd", "sgd momentum", "sgd nesterov", "adam"};
        snprintf(what, sizeof what, "%s weights", names[v]);
        bc_cmp(t, what, w, 0);
        snprintf(what, sizeof what, "%s first moment", names[v]);
        bc_cmp(t, what, m, 0);
        if (v == 3) bc_cmp(t, "adam second moment", s, 0);
        bc_free(t, w), bc_free(t, g), bc_free(t, m), bc_free(t, s);
    }
    bc_status(t, "optimisers");
}

/* ---------------------------------------------------------------- recurrent steps */

static void bc_recurrent(bc *t)
{
    const int n = 5, c = 2, d = 7, s = 3, u = 6;
    size_t nx = (size_t)n * c * d * s;
    bc_pair x = bc_random(t, nx, -1, 1), xt = bc_pair_of(t, NULL, nx), back = bc_pair_of(t, NULL, nx);
    t->ref->seq_pack(t->ref, n, c, d, s, x.r, xt.r);
    t->be->seq_pack(t->be, n, c, d, s, x.b, xt.b);
    bc_cmp(t, "seq_pack", xt, 0);
    t->ref->seq_unpack(t->ref, n, c, d, s, xt.r, back.r);
    t->be->seq_unpack(t->be, n, c, d, s, xt.b, back.b);
    bc_cmp(t, "seq_unpack", back, 0);
    bc_free(t, x), bc_free(t, xt), bc_free(t, back);

    size_t nu = (size_t)n * u;
    bc_pair a = bc_random(t, 4 * nu, -2, 2), bih = bc_random(t, 4 * (size_t)u, -0.5, 0.5);
    bc_pair bhh = bc_random(t, 4 * (size_t)u, -0.5, 0.5), cp = bc_random(t, nu, -1, 1);
    bc_pair cc = bc_pair_of(t, NULL, nu), h = bc_pair_of(t, NULL, nu);
    t->ref->lstm_forward(t->ref, n, u, a.r, bih.r, bhh.r, cp.r, cc.r, h.r);
    t->be->lstm_forward(t->be, n, u, a.b, bih.b, bhh.b, cp.b, cc.b, h.b);
    bc_cmp(t, "lstm gates", a, 2e-6);
    bc_cmp(t, "lstm c", cc, 2e-6);
    bc_cmp(t, "lstm h", h, 2e-6);
    bc_pair dho = bc_random(t, nu, -1, 1), dhr = bc_random(t, nu, -1, 1), dcn = bc_random(t, nu, -1, 1);
    bc_pair dcp = bc_pair_of(t, NULL, nu), da = bc_pair_of(t, NULL, 4 * nu);
    t->ref->lstm_backward(t->ref, n, u, a.r, cp.r, cc.r, dho.r, dhr.r, dcn.r, dcp.r, da.r);
    t->be->lstm_backward(t->be, n, u, a.b, cp.b, cc.b, dho.b, dhr.b, dcn.b, dcp.b, da.b);
    bc_cmp(t, "lstm backward da", da, 2e-6);
    bc_cmp(t, "lstm backward dc_prev", dcp, 2e-6);
    /* in place (dc_prev = dc_next), as rnn.c calls it */
    t->ref->lstm_backward(t->ref, n, u, a.r, NULL, cc.r, dho.r, NULL, dcn.r, dcn.r, da.r);
    t->be->lstm_backward(t->be, n, u, a.b, NULL, cc.b, dho.b, NULL, dcn.b, dcn.b, da.b);
    bc_cmp(t, "lstm backward in place", dcn, 2e-6);

    bc_pair g = bc_random(t, 4 * nu, -2, 2), gh = bc_random(t, 3 * nu, -1, 1);
    t->ref->gru_forward(t->ref, n, u, g.r, gh.r, bih.r, bhh.r, cp.r, h.r);
    t->be->gru_forward(t->be, n, u, g.b, gh.b, bih.b, bhh.b, cp.b, h.b);
    bc_cmp(t, "gru gates", g, 2e-6);
    bc_cmp(t, "gru h", h, 2e-6);
    bc_pair dgx = bc_pair_of(t, NULL, 3 * nu), dgh = bc_pair_of(t, NULL, 3 * nu);
    t->ref->gru_backward(t->ref, n, u, g.r, cp.r, dho.r, dhr.r, dgx.r, dgh.r, dcp.r);
    t->be->gru_backward(t->be, n, u, g.b, cp.b, dho.b, dhr.b, dgx.b, dgh.b, dcp.b);
    bc_cmp(t, "gru backward dgx", dgx, 2e-6);
    bc_cmp(t, "gru backward dgh", dgh, 2e-6);
    bc_cmp(t, "gru backward dh_prev", dcp, 2e-6);
    bc_status(t, "recurrent");
    bc_free(t, a), bc_free(t, bih), bc_free(t, bhh), bc_free(t, cp), bc_free(t, cc), bc_free(t, h);
    bc_free(t, dho), bc_free(t, dhr), bc_free(t, dcn), bc_free(t, dcp), bc_free(t, da);
    bc_free(t, g), bc_free(t, gh), bc_free(t, dgx), bc_free(t, dgh);
}

/* ---------------------------------------------------------------- the loss slot */

/* The backend's loss (where it has one) against hsi_cnn_loss_eval on the
 * same outputs: MSE and CCE, after softmax (fused) or not, with and without
 * sample weights; a clipped log among them. The forms are started two at a
 * time before either is finished, as the training loop does (a step's loss
 * is read while the next step runs): each finish gives the oldest. */
static void bc_loss(bc *t)
{
    if (!t->be->loss_start) return;
    const int n = 13, k = 6;
    float *p = bc_rand(t, (size_t)n * k, 0.01, 1), *grad = malloc(sizeof(float) * n * k);
    float *w = bc_rand(t, n, 0.5, 2);
    int32_t labels[13];
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int c = 0; c < k; c++) s += p[i * k + c];
        for (int c = 0; c < k; c++) p[i * k + c] = (float)(p[i * k + c] / s);
        labels[i] = (int32_t)(hsi_rng_uniform(&t->rng) * k);
    }
    p[0 * k + labels[0]] = 0.0f;
    float *pd = bc_up(t->be, p, (size_t)n * k);
    float *gd[2] = {bc_up(t->be, NULL, (size_t)n * k), bc_up(t->be, NULL, (size_t)n * k)};
    float *gh = malloc(sizeof(float) * n * k);
    CHECK(isnan(t->be->loss_finish(t->be, NULL))); /* none pending */
    for (int pair = 0; pair < 3; pair++) {
        for (int half = 0; half < 2; half++) {
            int form = 2 * pair + half, mse = form >= 4, fused = form < 2, weighted = form % 2;
            t->be->loss_start(t->be, mse, fused, pd, labels, weighted ? w : NULL, n, k, gd[half]);
        }
        for (int half = 0; half < 2; half++) {
            int form = 2 * pair + half, mse = form >= 4, fused = form < 2, weighted = form % 2;
            int pre = 0, hits = -1, want_hits = 0;
            double want = hsi_cnn_loss_eval(mse ? HSI_CNN_LOSS_MSE : HSI_CNN_LOSS_CCE,
                                            fused ? HSI_CNN_ACT_SOFTMAX : HSI_CNN_ACT_SIGMOID, p,
                                            labels, weighted ? w : NULL, n, k, grad, &pre);
            CHECK(pre == fused);
            for (int i = 0; i < n; i++) {
                int best = 0;
                for (int c = 1; c < k; c++)
                    if (p[i * k + c] > p[i * k + best]) best = c;
                want_hits += best == labels[i];
            }
            double got = t->be->loss_finish(t->be, &hits);
            t->be->download(t->be, gh, gd[half], sizeof(float) * n * k);
            double scale = 0, diff = 0;
            for (int i = 0; i < n * k; i++) {
                if (fabs(grad[i]) > scale) scale = fabs(grad[i]);
                if (fabs((double)grad[i] - gh[i]) > diff) diff = fabs((double)grad[i] - gh[i]);
            }
            CHECK_MSG(fabs(got - want) <= 1e-12 * fabs(want) && hits == want_hits,
                      "loss form %d: %.17g vs %.17g, hits %d vs %d", form, got, want, hits,
                      want_hits);
            CHECK_MSG(t->exact ? diff == 0 : diff <= 1e-6 * scale,
                      "loss form %d gradient: %.3g of %.3g", form, diff, scale);
        }
    }
    bc_status(t, "loss");
    t->be->release(t->be, pd);
    t->be->release(t->be, gd[0]);
    t->be->release(t->be, gd[1]);
    free(p), free(grad), free(w), free(gh);
}

/* ---------------------------------------------------------------- resident rows */

/* gather_rows (where the backend has it): rows of a table in backend
 * memory picked by indices, repeats and the last row among them, equal to
 * the host's copy bit for bit (it moves values, it computes nothing). */
static void bc_gather_rows(bc *t)
{
    if (!t->be->gather_rows) return;
    const size_t rows = 37, len = 1021; /* a row not a multiple of a block */
    const int n = 19;
    float *table = bc_rand(t, rows * len, -1, 1);
    size_t idx[19];
    for (int i = 0; i < n; i++) idx[i] = (size_t)(hsi_rng_uniform(&t->rng) * rows);
    idx[0] = rows - 1, idx[1] = idx[2];
    float *td = bc_up(t->be, table, rows * len), *od = bc_up(t->be, NULL, (size_t)n * len);
    float *got = malloc(sizeof(float) * n * len);
    for (int round = 0; round < 3; round++) { /* the index buffers are reused in turn */
        t->be->gather_rows(t->be, td, len, idx, n, od);
        t->be->download(t->be, got, od, sizeof(float) * n * len);
        int same = 1;
        for (int i = 0; i < n; i++)
            same &= !memcmp(got + (size_t)i * len, table + idx[i] * len, len * sizeof *got);
        CHECK_MSG(same, "gather_rows round %d differs from the table's rows", round);
        idx[round + 3] = 0;
    }
    bc_status(t, "gather_rows");
    t->be->release(t->be, td);
    t->be->release(t->be, od);
    free(table), free(got);
}

/* gather_windows (where the backend has it) against the host's gather
 * (hsi_patch_gather_band) from the same band of rows, for each border
 * rule: pixels on the scene's edges and corners and next to the band's
 * edges, bit for bit (it moves values, it computes nothing). */
static void bc_gather_windows(bc *t)
{
    if (!t->be->gather_windows) return;
    const size_t scene_rows = 13, cols = 11, bands = 7, first = 2, count = 11;
    const int radius = 2, n = 9;
    const size_t per = bands * 25;
    float *band = bc_rand(t, count * cols * bands, -1, 1);
    /* rows 2..12 held: windows of rows 4..12 fit (the scene ends at 12) */
    hsi_pixel px[9] = {{4, 0}, {4, 10}, {12, 0}, {12, 10}, {8, 5}, {5, 1}, {11, 9}, {10, 3}, {4, 2}};
    float *bd = bc_up(t->be, band, count * cols * bands), *od = bc_up(t->be, NULL, n * per);
    float *want = malloc(sizeof(float) * n * per), *got = malloc(sizeof(float) * n * per);
    hsi_cube view = {0};
    view.rows = count, view.cols = cols, view.bands = bands, view.data = band;
    for (int mirror = 0; mirror < 2; mirror++) {
        CHECK_OK(hsi_patch_gather_band(&view, first, scene_rows, px, n, radius,
                                       mirror ? HSI_BORDER_MIRROR : HSI_BORDER_ZERO, want));
        t->be->gather_windows(t->be, bd, first, count, scene_rows, cols, bands,
                              (const uint32_t *)px, n, radius, mirror, od);
        t->be->download(t->be, got, od, sizeof(float) * n * per);
        CHECK_MSG(!memcmp(got, want, sizeof(float) * n * per),
                  "gather_windows (%s) differs from the host's gather", mirror ? "mirror" : "zero");
    }
    bc_status(t, "gather_windows");
    t->be->release(t->be, bd);
    t->be->release(t->be, od);
    free(band), free(want), free(got);
}

/* augment (where the backend has it) against the host's application of
 * the same draws (hsi_cnn_augment_apply): every flip and turn, partners
 * (one of them blended into a patch that is itself blended), gain and
 * offset, with mixing and scaling on and off, bit for bit (no fused
 * multiply-adds on either side). */
static void bc_augment(bc *t)
{
    if (!t->be->augment) return;
    const int n = 9, h = 5, w = 5;
    const size_t planes = 3, size = planes * h * w;
    float *x0 = bc_rand(t, n * size, -2, 2), *want = malloc(sizeof(float) * n * size);
    float *got = malloc(sizeof(float) * n * size), *tmp = malloc(sizeof(float) * n * size);
    hsi_cnn_aug_draw d[9];
    for (int i = 0; i < n; i++) {
        d[i].flip_x = i & 1, d[i].flip_y = (i >> 1) & 1, d[i].quarter_turns = i % 4;
        d[i].partner = i % 3 == 0 ? -1 : (i + 4) % n;
        d[i].t = (float)(0.5 * hsi_rng_uniform(&t->rng));
        d[i].gain = (float)(1 + 0.1 * hsi_rng_normal(&t->rng));
        d[i].offset = (float)(0.2 * hsi_rng_normal(&t->rng));
    }
    float *xd = bc_up(t->be, NULL, n * size);
    for (int form = 0; form < 4; form++) {
        int blend = form & 1, scale = form >> 1;
        memcpy(want, x0, sizeof(float) * n * size);
        hsi_cnn_augment_apply(d, n, planes, h, w, blend, scale, want, tmp);
        t->be->upload(t->be, xd, x0, sizeof(float) * n * size);
        t->be->augment(t->be, d, n, planes, h, w, blend, scale, xd);
        t->be->download(t->be, got, xd, sizeof(float) * n * size);
        CHECK_MSG(!memcmp(got, want, sizeof(float) * n * size),
                  "augment (blend %d, scale %d) differs from the host's", blend, scale);
    }
    bc_status(t, "augment");
    t->be->release(t->be, xd);
    free(x0), free(want), free(got), free(tmp);
}

/* ---------------------------------------------------------------- memory */

/* Uploads and downloads, small and large (a large one goes through the CUDA
 * backend's pinned staging buffer): what arrives is what was sent, and the
 * host buffer may be reused as soon as upload returns. */
static void bc_memory(bc *t)
{
    const size_t big = (size_t)3 << 20, small = 1000; /* 12 MiB and 4 kB of floats */
    float *h = bc_rand(t, big, -1, 1), *back = malloc(big * sizeof *back);
    float *want = malloc(big * sizeof *want);
    float *d1 = t->be->alloc(t->be, big * sizeof *h), *d2 = t->be->alloc(t->be, big * sizeof *h);
    if (!d1 || !d2 || !back || !want) {
        CHECK_MSG(0, "memory: allocation failed");
    } else {
        memcpy(want, h, big * sizeof *h);
        t->be->upload(t->be, d1, h, big * sizeof *h);
        for (size_t i = 0; i < big; i++) h[i] = -h[i]; /* reused at once */
        t->be->upload(t->be, d2, h, big * sizeof *h);
        t->be->upload(t->be, d2 + 5, h + 7, small * sizeof *h); /* small, unaligned */
        t->be->download(t->be, back, d1, big * sizeof *back);
        CHECK_MSG(!memcmp(back, want, big * sizeof *back), "memory: the first large upload");
        t->be->download(t->be, back, d2, big * sizeof *back);
        int ok = !memcmp(back + 5, h + 7, small * sizeof *h) && !memcmp(back + 5 + small, h + 5 + small, (big - 5 - small) * sizeof *h) &&
                 !memcmp(back, h, 5 * sizeof *h);
        CHECK_MSG(ok, "memory: the second large upload and the small one over it");
    }
    bc_status(t, "memory");
    t->be->release(t->be, d1);
    t->be->release(t->be, d2);
    free(h), free(back), free(want);
}

static void bc_all_primitives(bc *t)
{
    bc_memory(t);
    bc_loss(t);
    bc_gather_rows(t);
    bc_gather_windows(t);
    bc_augment(t);
    bc_gemm(t);
    bc_conv(t);
    bc_pool(t);
    bc_dense_helpers(t);
    bc_batchnorm(t);
    bc_optimisers(t);
    bc_recurrent(t);
}

/* ---------------------------------------------------------------- training */

/* Build the spec's net on `be` for `bands` bands and `classes` classes
 * (seed 5: the same initial weights on every backend). */
static hsi_cnn_net *bc_net(const hsi_cnn_spec *spec, const hsi_cnn_backend *be, int bands,
                           int classes, int batch)
{
    hsi_cnn_net *net = NULL;
    hsi_cnn_net_options o = {.bands = bands, .classes = classes, .max_batch = batch,
                             .training = 1, .seed = 5, .backend = be};
    CHECK_OK(hsi_cnn_net_new(spec, &o, &net));
    return net;
}

static float *bc_params(const hsi_cnn_net *net)
{
    float *h = malloc((net->n_params + 1) * sizeof *h);
    net->be->download(net->be, h, net->params, net->n_params * sizeof *h);
    return h;
}

/* A dataset's gather for hsi_cnn_train (ctx: the input size, size_t):
 * random values seeded by the sample's index, the same on every backend. */
static hsi_status bc_gather_random(void *ctx, const size_t *idx, size_t n, float *x)
{
    size_t in = *(const size_t *)ctx;
    for (size_t i = 0; i < n; i++) {
        hsi_rng r;
        hsi_rng_seed(&r, 1000 + idx[i]);
        for (size_t j = 0; j < in; j++) x[i * in + j] = (float)hsi_rng_normal(&r);
    }
    return HSI_OK;
}

/* hsi_cnn_train for 3 epochs (batches of 8) on nets a and b (built alike,
 * with the same augmentation) from the same 36 training and 8 validation
 * samples of bc_gather_random, with the resident modes given: the same
 * weights, bit for bit. */
static void bc_train_resident_compare(hsi_cnn_net *a, hsi_cnn_resident ra, hsi_cnn_net *b,
                                      hsi_cnn_resident rb, const char *what)
{
    if (!a || !b) return;
    /* both nets augment alike (their specs are copies of one) */
    CHECK(!memcmp(&a->spec->augment, &b->spec->augment, sizeof a->spec->augment));
    size_t in = hsi_cnn_shape_size(a->input);
    int32_t labels[44];
    for (int i = 0; i < 44; i++) labels[i] = (i * 7) % 5;
    hsi_cnn_dataset tr = {36, labels, bc_gather_random, &in};
    hsi_cnn_dataset va = {8, labels + 36, bc_gather_random, &in};
    hsi_cnn_train_options oa = {.epochs = 3, .batch = 8, .resident = ra};
    hsi_cnn_train_options ob = {.epochs = 3, .batch = 8, .resident = rb};
    CHECK_OK(hsi_cnn_train(a, &tr, &va, &oa));
    CHECK_OK(hsi_cnn_train(b, &tr, &va, &ob));
    float *wa = bc_params(a), *wb = bc_params(b);
    CHECK_MSG(!memcmp(wa, wb, a->n_params * sizeof *wa), "%s: the weights differ", what);
    free(wa), free(wb);
}

/* `steps` training steps on the same seeded batches on nets a and b (built
 * alike); losses within rel (0: identical) and the final weights too. */
static void bc_train_compare(hsi_cnn_net *a, hsi_cnn_net *b, int steps, int batch, double rel,
                             const char *what)
{
    if (!a || !b) return;
    size_t in = hsi_cnn_shape_size(a->input);
    hsi_rng rng;
    hsi_rng_seed(&rng, 77);
    float *x = malloc((size_t)batch * in * sizeof *x);
    int32_t *labels = malloc((size_t)batch * sizeof *labels);
    float *w0a = bc_params(a), *w0b = bc_params(b);
    CHECK_MSG(!memcmp(w0a, w0b, a->n_params * sizeof *w0a), "%s: initial weights differ", what);
    double worst = 0;
    for (int s = 0; s < steps; s++) {
        for (size_t i = 0; i < (size_t)batch * in; i++) x[i] = (float)hsi_rng_normal(&rng);
        for (int i = 0; i < batch; i++) labels[i] = (int32_t)(hsi_rng_uniform(&rng) * a->classes);
        int ca = 0, cb = 0;
        double la = hsi_cnn_train_step(a, x, labels, NULL, batch, &ca);
        double lb = hsi_cnn_train_step(b, x, labels, NULL, batch, &cb);
        double d = fabs(la - lb) / (fabs(la) > 1e-30 ? fabs(la) : 1e-30);
        if (d > worst) worst = d;
        if (rel == 0) CHECK_MSG(la == lb && ca == cb, "%s: step %d loss %.9g vs %.9g", what, s, la, lb);
        else CHECK_MSG(d <= rel, "%s: step %d loss %.9g vs %.9g (rel %.3g > %g)", what, s, la, lb, d, rel);
    }
    hsi_status st = b->be->status ? b->be->status(b->be) : HSI_OK;
    CHECK_MSG(st == HSI_OK, "%s: backend error: %s", what, hsi_last_error());
    float *wa = bc_params(a), *wb = bc_params(b);
    double scale = 0, diff = 0;
    for (size_t i = 0; i < a->n_params; i++) {
        if (fabs(wa[i]) > scale) scale = fabs(wa[i]);
        if (fabs((double)wa[i] - wb[i]) > diff) diff = fabs((double)wa[i] - wb[i]);
    }
    if (rel == 0) CHECK_MSG(!memcmp(wa, wb, a->n_params * sizeof *wa), "%s: weights differ", what);
    else CHECK_MSG(diff <= rel * scale, "%s: weights differ by %.3g of %.3g", what, diff, scale);
    printf("%s: %d steps, worst loss difference %.3g (relative), weights %.3g of %.3g\n", what,
           steps, worst, diff, scale);
    free(x), free(labels), free(w0a), free(w0b), free(wa), free(wb);
}

#endif
