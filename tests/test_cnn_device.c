/* test_cnn_device.c - what of the GPU backend can be checked without a GPU:
 *
 *  - the per-element math of the CUDA kernels (cnn3d/cuda_math.h, compiled
 *    here for the host) against the CPU backend's primitives;
 *  - the net's device paths (outputs read back, the loss gradient uploaded,
 *    device memory touched only through upload / download) with a "device"
 *    that is the CPU table flagged as device memory: every primitive, and 20
 *    SGD steps of the Lange net through a backend's loss slot and through
 *    the host loss, and hsi_cnn_train with its samples held in the
 *    device's memory, bit-identical to the CPU backend (the harness
 *    tests/test_cnn_cuda.c runs against a real GPU);
 *  - a device failure (the sticky status) stops training with its message
 *    and writes no checkpoint;
 *  - device names: cpu, auto (the CPU, saying why, without a GPU), cuda
 *    (a clear error without a GPU or without CUDA built in).
 */
#include <stdlib.h>
#include <sys/stat.h>

#include "base/version.h"
#include "cnn3d/cuda_math.h"
#include "cnn3d/device.h"
#include "cnn3d/predict_dense.h"
#include "cnn3d/rnn.h"
#include "features/patch_window.h"
#include "io/io.h"
#include "tests/backend_compare.h"

static const char *spec_path(const char *file)
{
    static char buf[4096];
    const char *src = getenv("HSI_SRCDIR");
    snprintf(buf, sizeof buf, "%s/cnn3d/specs/%s", src ? src : ".", file);
    return buf;
}

/* ---------------------------------------------------------------- kernel math on the host */

static double rel_diff(double a, double b)
{
    double s = fabs(a) > 1 ? fabs(a) : 1;
    return fabs(a - b) / s;
}

static void test_math(void)
{
    const hsi_cnn_backend *cpu = hsi_cnn_backend_cpu();
    hsi_rng rng;
    hsi_rng_seed(&rng, 3);
    enum { R = 9, C = 7, N = R * C };
    float v[N], y[N], g[N], g2[N];
    /* elementwise activations and their backward passes */
    for (int a = HSI_CNN_ACT_LINEAR; a <= HSI_CNN_ACT_TANH; a++) {
        for (int i = 0; i < N; i++) v[i] = y[i] = (float)(6 * hsi_rng_uniform(&rng) - 3);
        cpu->activation_forward(cpu, (hsi_cnn_activation)a, R, C, y);
        double worst = 0;
        for (int i = 0; i < N; i++) {
            double d = rel_diff(y[i], hsi_cm_act_forward((hsi_cnn_activation)a, v[i]));
            if (d > worst) worst = d;
        }
        CHECK_MSG(worst <= 1e-7, "activation %d forward: %g", a, worst);
        for (int i = 0; i < N; i++) g[i] = g2[i] = (float)(2 * hsi_rng_uniform(&rng) - 1);
        cpu->activation_backward(cpu, (hsi_cnn_activation)a, R, C, y, g);
        worst = 0;
        for (int i = 0; i < N; i++) {
            double d = rel_diff(g[i], hsi_cm_act_backward((hsi_cnn_activation)a, y[i], g2[i]));
            if (d > worst) worst = d;
        }
        CHECK_MSG(worst == 0, "activation %d backward: %g", a, worst);
    }
    /* softmax rows */
    for (int i = 0; i < N; i++) v[i] = y[i] = (float)(6 * hsi_rng_uniform(&rng) - 3);
    cpu->activation_forward(cpu, HSI_CNN_ACT_SOFTMAX, R, C, y);
    for (int r = 0; r < R; r++) hsi_cm_softmax_row(v + r * C, C);
    CHECK(!memcmp(v, y, sizeof v));
    for (int i = 0; i < N; i++) g[i] = g2[i] = (float)(2 * hsi_rng_uniform(&rng) - 1);
    cpu->activation_backward(cpu, HSI_CNN_ACT_SOFTMAX, R, C, y, g);
    for (int r = 0; r < R; r++) hsi_cm_softmax_backward_row(y + r * C, g2 + r * C, C);
    CHECK(!memcmp(g, g2, sizeof g));

    /* optimisers: three steps of each form */
    for (int form = 0; form < 4; form++) {
        float w[N], w2[N], gr[N], m[N], m2[N], s[N], s2[N];
        for (int i = 0; i < N; i++) {
            w[i] = w2[i] = (float)(2 * hsi_rng_uniform(&rng) - 1);
            gr[i] = (float)(0.2 * hsi_rng_uniform(&rng) - 0.1);
            m[i] = m2[i] = (float)(0.02 * hsi_rng_uniform(&rng) - 0.01);
            s[i] = s2[i] = (float)(0.001 * hsi_rng_uniform(&rng));
        }
        for (uint64_t t = 1; t <= 3; t++) {
            if (form < 3) {
                float mom = form ? 0.9f : 0.0f;
                cpu->sgd_update(cpu, N, w, gr, m, 0.05f, mom, form == 2, 1e-4f);
                for (int i = 0; i < N; i++) hsi_cm_sgd(&w2[i], gr[i], &m2[i], 0.05f, mom, form == 2, 1e-4f);
            } else {
                cpu->adam_update(cpu, N, w, gr, m, s, 1e-3f, 0.9f, 0.999f, 1e-7f, 1e-4f, t);
                double c1 = 1.0 - pow(0.9f, (double)t), c2 = 1.0 - pow(0.999f, (double)t);
                for (int i = 0; i < N; i++)
                    hsi_cm_adam(&w2[i], gr[i], &m2[i], &s2[i], 1e-3f, 0.9f, 0.999f, 1e-7f, 1e-4f, c1, c2);
            }
        }
        CHECK_MSG(!memcmp(w, w2, sizeof w) && !memcmp(m, m2, sizeof m) && !memcmp(s, s2, sizeof s),
                  "optimiser form %d", form);
    }

    /* LSTM and GRU steps */
    enum { n = 4, u = 5 };
    float a[n * 4 * u], a2[n * 4 * u], bih[4 * u], bhh[4 * u], cp[n * u], c[n * u], h[n * u];
    float c2[n * u], h2[n * u];
    for (int i = 0; i < n * 4 * u; i++) a[i] = a2[i] = (float)(4 * hsi_rng_uniform(&rng) - 2);
    for (int i = 0; i < 4 * u; i++) bih[i] = (float)(hsi_rng_uniform(&rng) - 0.5), bhh[i] = (float)(hsi_rng_uniform(&rng) - 0.5);
    for (int i = 0; i < n * u; i++) cp[i] = (float)(2 * hsi_rng_uniform(&rng) - 1);
    hsi_cnn_cpu_lstm_forward(cpu, n, u, a, bih, bhh, cp, c, h);
    for (int r = 0; r < n; r++)
        for (int j = 0; j < u; j++)
            hsi_cm_lstm_forward(a2 + r * 4 * u, u, j, bih, bhh, cp[r * u + j], &c2[r * u + j], &h2[r * u + j]);
    CHECK(!memcmp(a, a2, sizeof a) && !memcmp(c, c2, sizeof c) && !memcmp(h, h2, sizeof h));
    float dho[n * u], dcn[n * u], dcp[n * u], dcp2[n * u], da[n * 4 * u], da2[n * 4 * u];
    for (int i = 0; i < n * u; i++) dho[i] = (float)(hsi_rng_uniform(&rng) - 0.5), dcn[i] = (float)(hsi_rng_uniform(&rng) - 0.5);
    hsi_cnn_cpu_lstm_backward(cpu, n, u, a, cp, c, dho, NULL, dcn, dcp, da);
    for (int r = 0; r < n; r++)
        for (int j = 0; j < u; j++)
            dcp2[r * u + j] = hsi_cm_lstm_backward(a + r * 4 * u, u, j, cp[r * u + j], c[r * u + j],
                                                   dho[r * u + j], dcn[r * u + j], da2 + r * 4 * u);
    CHECK(!memcmp(dcp, dcp2, sizeof dcp) && !memcmp(da, da2, sizeof da));
    float gh[n * 3 * u], dgx[n * 3 * u], dgh[n * 3 * u], dgx2[n * 3 * u], dgh2[n * 3 * u];
    for (int i = 0; i < n * 4 * u; i++) a[i] = a2[i] = (float)(4 * hsi_rng_uniform(&rng) - 2);
    for (int i = 0; i < n * 3 * u; i++) gh[i] = (float)(2 * hsi_rng_uniform(&rng) - 1);
    hsi_cnn_cpu_gru_forward(cpu, n, u, a, gh, bih, bhh, cp, h);
    for (int r = 0; r < n; r++)
        for (int j = 0; j < u; j++)
            h2[r * u + j] = hsi_cm_gru_forward(a2 + r * 4 * u, gh + r * 3 * u, u, j, bih, bhh, cp[r * u + j]);
    CHECK(!memcmp(a, a2, sizeof a) && !memcmp(h, h2, sizeof h));
    hsi_cnn_cpu_gru_backward(cpu, n, u, a, cp, dho, NULL, dgx, dgh, dcp);
    for (int r = 0; r < n; r++)
        for (int j = 0; j < u; j++)
            dcp2[r * u + j] = hsi_cm_gru_backward(a + r * 4 * u, u, j, cp[r * u + j], dho[r * u + j],
                                                  dgx2 + r * 3 * u, dgh2 + r * 3 * u);
    CHECK(!memcmp(dgx, dgx2, sizeof dgx) && !memcmp(dgh, dgh2, sizeof dgh) && !memcmp(dcp, dcp2, sizeof dcp));

    /* batch normalisation of one channel, statistics as the CPU takes them */
    enum { bn = 3, bc_ = 2, bs = 5 };
    float x[bn * bc_ * bs], gam[bc_] = {1.2f, 0.7f}, bet[bc_] = {0.1f, -0.3f}, rm[bc_] = {0}, rv[bc_] = {1, 1};
    float yb[bn * bc_ * bs], xh[bn * bc_ * bs], inv[bc_];
    for (int i = 0; i < bn * bc_ * bs; i++) x[i] = (float)(3 * hsi_rng_uniform(&rng));
    cpu->batchnorm_forward(cpu, bn, bc_, bs, x, gam, bet, rm, rv, 0.9f, 1e-3f, 1, xh, inv, yb);
    for (int ch = 0; ch < bc_; ch++) {
        double sum = 0, sq = 0;
        for (int i = 0; i < bn; i++)
            for (int j = 0; j < bs; j++) sum += x[(i * bc_ + ch) * bs + j];
        double mean = sum / (bn * bs);
        for (int i = 0; i < bn; i++)
            for (int j = 0; j < bs; j++) sq += (x[(i * bc_ + ch) * bs + j] - mean) * (x[(i * bc_ + ch) * bs + j] - mean);
        float iv = (float)(1.0 / sqrt(sq / (bn * bs) + 1e-3f));
        CHECK(iv == inv[ch]);
        for (int i = 0; i < bn; i++)
            for (int j = 0; j < bs; j++) {
                int k = (i * bc_ + ch) * bs + j;
                float hh;
                CHECK(hsi_cm_bn_forward(x[k], mean, iv, gam[ch], bet[ch], &hh) == yb[k] && hh == xh[k]);
            }
    }

    /* the losses, row by row, against hsi_cnn_loss_eval */
    enum { ln = 6, lk = 4 };
    float p[ln * lk], gref[ln * lk], grow[ln * lk], wts[ln];
    int32_t lab[ln];
    for (int i = 0; i < ln; i++) {
        double s = 0;
        for (int k = 0; k < lk; k++) s += p[i * lk + k] = (float)hsi_rng_uniform(&rng);
        for (int k = 0; k < lk; k++) p[i * lk + k] = (float)(p[i * lk + k] / s);
        lab[i] = i % lk;
        wts[i] = (float)(0.5 + hsi_rng_uniform(&rng));
    }
    p[0 * lk + 0] = 0.0f; /* a clipped log */
    for (int mse = 0; mse < 2; mse++)
        for (int act = 0; act < 2; act++) {
            hsi_cnn_activation last = act ? HSI_CNN_ACT_SOFTMAX : HSI_CNN_ACT_SIGMOID;
            int pre = 0;
            double want = hsi_cnn_loss_eval(mse ? HSI_CNN_LOSS_MSE : HSI_CNN_LOSS_CCE, last, p, lab,
                                            wts, ln, lk, gref, &pre);
            double got = 0;
            for (int i = 0; i < ln; i++)
                got += hsi_cm_loss_row(mse, pre, p + i * lk, lk, lab[i], wts[i], ln, grow + i * lk);
            CHECK_NEAR(got / ln, want, 1e-15 * fabs(want));
            CHECK(!memcmp(gref, grow, sizeof gref));
        }
}

/* ---------------------------------------------------------------- a CPU "device" */

static hsi_cnn_backend fake;        /* the CPU table, flagged as device memory */
static hsi_cnn_backend failing;     /* the same, failing after `fail_after` gemm calls */
static int gemm_calls, fail_after = -1;

static void failing_gemm(const hsi_cnn_backend *be, int ta, int tb, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    if (fail_after >= 0 && ++gemm_calls > fail_after) return; /* a failed GPU computes nothing */
    hsi_cnn_backend_cpu()->gemm(be, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static char failed_in[96];          /* the net's trace when the failure happened */

static void failing_trace(const hsi_cnn_backend *be, const char *what)
{
    (void)be;
    if (!(fail_after >= 0 && gemm_calls > fail_after)) snprintf(failed_in, sizeof failed_in, "%s", what);
}

static hsi_status failing_status(const hsi_cnn_backend *be)
{
    (void)be;
    if (fail_after >= 0 && gemm_calls > fail_after)
        return hsi_error(HSI_ERR_DEVICE, "%s: GPU 0: cuBLAS cublasSgemm (dense layer) failed: simulated",
                         failed_in);
    return HSI_OK;
}

/* The loss slot on the "device" (host memory): hsi_cnn_loss_eval itself,
 * so the net's path through a backend's loss is checked bit for bit. Like
 * the GPU's, it keeps two pending losses and finishes the oldest first. */
static struct {
    double loss;
    int hits;
} fake_slot[2];
static uint64_t fake_begun, fake_ended;

static void fake_loss_start(const hsi_cnn_backend *be, int mse, int fused, const float *p,
                            const int32_t *labels, const float *w, int n, int k, float *grad)
{
    (void)be;
    int pre = 0, slot = (int)(fake_begun++ % 2);
    CHECK(fake_begun - fake_ended <= 2);
    fake_slot[slot].loss = hsi_cnn_loss_eval(mse ? HSI_CNN_LOSS_MSE : HSI_CNN_LOSS_CCE,
                                             fused ? HSI_CNN_ACT_SOFTMAX : HSI_CNN_ACT_LINEAR, p,
                                             labels, w, n, k, grad, &pre);
    CHECK(pre == fused);
    fake_slot[slot].hits = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int c = 1; c < k; c++)
            if (p[i * k + c] > p[i * k + best]) best = c;
        fake_slot[slot].hits += best == labels[i];
    }
}

static double fake_loss_finish(const hsi_cnn_backend *be, int *hits)
{
    (void)be;
    if (hits) *hits = 0;
    if (fake_ended == fake_begun) return NAN;
    int slot = (int)(fake_ended++ % 2);
    if (hits) *hits = fake_slot[slot].hits;
    return fake_slot[slot].loss;
}

/* The "device" augments a batch held in its memory: the host application. */
static void fake_augment(const hsi_cnn_backend *be, const hsi_cnn_aug_draw *draws, int n,
                         size_t planes, int h, int w, int blend, int scale, float *x)
{
    (void)be;
    float *tmp = malloc((size_t)n * planes * h * w * sizeof *tmp);
    CHECK(tmp != NULL);
    if (tmp) hsi_cnn_augment_apply(draws, n, planes, h, w, blend, scale, x, tmp);
    free(tmp);
}

/* The "device" memory free: what decides whether training samples are
 * held there (hsi_cnn_resident_plan). */
static size_t fake_free = (size_t)1 << 30;

static size_t fake_memory_free(const hsi_cnn_backend *be)
{
    (void)be;
    return fake_free;
}

/* What hsi_cnn_train told its caller about where the samples are. */
typedef struct told {
    int calls;
    const char *why;
    size_t train_bytes, val_bytes;
} told;

static void tell_resident(void *ctx, const hsi_cnn_net *net, const char *why, size_t tb, size_t vb)
{
    (void)net;
    told *t = ctx;
    t->calls++, t->why = why, t->train_bytes = tb, t->val_bytes = vb;
}

/* One epoch of hsi_cnn_train on net (36 training, 8 validation samples):
 * what it told through resident_chosen. */
static told train_told(hsi_cnn_net *net)
{
    told t = {0};
    size_t in = hsi_cnn_shape_size(net->input);
    int32_t labels[44];
    for (int i = 0; i < 44; i++) labels[i] = i % 5;
    hsi_cnn_dataset tr = {36, labels, bc_gather_random, &in};
    hsi_cnn_dataset va = {8, labels + 36, bc_gather_random, &in};
    hsi_cnn_train_options o = {.epochs = net->epoch + 1, .batch = 8,
                               .resident_chosen = tell_resident, .epoch_ctx = &t};
    CHECK_OK(hsi_cnn_train(net, &tr, &va, &o));
    return t;
}

/* hsi_cnn_train on the CPU and on the "device", where the samples are held
 * in its memory when they fit (AUTO): the same weights, bit for bit; and
 * the plan's choices. */
static void test_fake_resident(const hsi_cnn_spec *spec)
{
    hsi_cnn_net *a = bc_net(spec, hsi_cnn_backend_cpu(), 24, 5, 8);
    hsi_cnn_net *b = bc_net(spec, &fake, 24, 5, 8);
    if (!a || !b) goto out;
    size_t in = hsi_cnn_shape_size(a->input), tb = 0, vb = 0;
    const size_t t_bytes = 36 * in * sizeof(float), v_bytes = 8 * in * sizeof(float);
    const char *why = hsi_cnn_resident_plan(b, 36, 8, HSI_CNN_RESIDENT_AUTO, &tb, &vb);
    CHECK_MSG(!why && tb == t_bytes && vb == v_bytes, "%s", why ? why : "held");
    CHECK(hsi_cnn_resident_plan(a, 36, 8, HSI_CNN_RESIDENT_AUTO, &tb, &vb) && tb == 0);
    fake_free = 2 * (t_bytes + v_bytes) - 2; /* half holds the training windows, not both */
    CHECK(!hsi_cnn_resident_plan(b, 36, 8, HSI_CNN_RESIDENT_AUTO, &tb, &vb) && tb == t_bytes && !vb);
    /* hsi_cnn_train tells its caller the decision it ran with, once. */
    told t = train_told(b);
    CHECK_MSG(t.calls == 1 && !t.why && t.train_bytes == t_bytes && !t.val_bytes,
              "told %d times: %s, %zu + %zu bytes", t.calls, t.why ? t.why : "held",
              t.train_bytes, t.val_bytes);
    fake_free = 2 * t_bytes - 2; /* not even the training windows */
    CHECK(hsi_cnn_resident_plan(b, 36, 8, HSI_CNN_RESIDENT_AUTO, &tb, &vb) && !tb && !vb);
    t = train_told(b);
    CHECK_MSG(t.calls == 1 && t.why && strstr(t.why, "do not fit") && !t.train_bytes,
              "told %d times: %s", t.calls, t.why ? t.why : "held");
    fake_free = (size_t)1 << 30;
    t = train_told(a); /* the CPU holds nothing, and says why */
    CHECK_MSG(t.calls == 1 && t.why && strstr(t.why, "CPU"), "CPU told %d times: %s", t.calls,
              t.why ? t.why : "held");
    hsi_cnn_net_free(a);
    hsi_cnn_net_free(b);
    a = bc_net(spec, hsi_cnn_backend_cpu(), 24, 5, 8); /* untrained again, for the comparison */
    b = bc_net(spec, &fake, 24, 5, 8);
    if (!a || !b) goto out;
    bc_train_resident_compare(a, HSI_CNN_RESIDENT_AUTO, b, HSI_CNN_RESIDENT_AUTO,
                              "training from samples held on the device vs host batches");
    CHECK_INT_EQ(fake_begun, fake_ended); /* every loss read */
    /* With augmentation: drawn on the host, applied to the held windows by
     * the device, against the CPU's host batches. Fresh nets, same seed. */
    hsi_cnn_net_free(a);
    hsi_cnn_net_free(b);
    a = bc_net(spec, hsi_cnn_backend_cpu(), 24, 5, 8);
    b = bc_net(spec, &fake, 24, 5, 8);
    if (!a || !b) goto out;
    hsi_cnn_augment aug = {.flip = 1, .rotate = 1, .gain = 0.1, .offset = 0.05, .mix = 0.5};
    a->spec->augment = b->spec->augment = aug;
    CHECK(!hsi_cnn_resident_plan(b, 36, 8, HSI_CNN_RESIDENT_AUTO, &tb, &vb) && tb == t_bytes);
    fake.augment = NULL; /* a device that cannot augment gathers on the host */
    CHECK(hsi_cnn_resident_plan(b, 36, 8, HSI_CNN_RESIDENT_AUTO, &tb, &vb) && !tb);
    fake.augment = fake_augment;
    bc_train_resident_compare(a, HSI_CNN_RESIDENT_AUTO, b, HSI_CNN_RESIDENT_AUTO,
                              "augmented training from windows held on the device vs host batches");
out:
    hsi_cnn_net_free(a);
    hsi_cnn_net_free(b);
}

/* ---------------------------------------------------------------- windows */

/* The GPU's window gather, one thread per element (hsi_window_element, as
 * k_gather_windows runs it), emulated here in its order: the host's gather
 * (hsi_patch_gather_band) value for value, for every border rule, with
 * windows over the scene's corners and a band that starts inside the scene. */
static void test_window_element(void)
{
    const long scene_rows = 12, cols = 9, bands = 5, first = 3, count = 9, radius = 3;
    const long S = 2 * radius + 1, per = bands * S * S;
    hsi_rng rng;
    hsi_rng_seed(&rng, 3);
    float *band = malloc(sizeof(float) * count * cols * bands);
    for (long i = 0; i < count * cols * bands; i++) band[i] = (float)hsi_rng_normal(&rng);
    hsi_cube view = {0};
    view.rows = (size_t)count, view.cols = (size_t)cols, view.bands = (size_t)bands, view.data = band;
    hsi_pixel px[6] = {{6, 0}, {6, 8}, {11, 0}, {11, 8}, {8, 4}, {9, 2}}; /* windows in rows 3..11 */
    float *want = malloc(sizeof(float) * 6 * per);
    for (int mode = 0; mode < 3; mode++) {
        hsi_border_mode m = mode == 0 ? HSI_BORDER_ZERO : mode == 1 ? HSI_BORDER_MIRROR : HSI_BORDER_SKIP;
        int n = m == HSI_BORDER_SKIP ? 1 : 6; /* skip: only (8, 4)'s window is inside */
        const hsi_pixel *p = m == HSI_BORDER_SKIP ? px + 4 : px;
        CHECK_OK(hsi_patch_gather_band(&view, (size_t)first, (size_t)scene_rows, p, (size_t)n,
                                       (int)radius, m, want));
        long bad = 0;
        for (int i = 0; i < n; i++)
            for (long j = 0; j < per; j++) {
                long src = hsi_window_element(j, p[i].row, p[i].col, radius, bands, scene_rows, cols,
                                              first, m == HSI_BORDER_MIRROR);
                float v = src < 0 ? 0.0f : band[src];
                bad += memcmp(&v, &want[i * per + j], sizeof v) != 0;
            }
        CHECK_MSG(bad == 0, "border mode %d: %ld window elements differ from the host's gather", mode,
                  bad);
    }
    free(band), free(want);
}

/* The index rules the CUDA kernels and cuDNN plans follow (cnn3d/cuda_math.h)
 * against brute force over every small geometry: which pooling windows hold
 * an input (a thread per input in the pools' backward passes), and how a
 * convolution axis is padded for cuDNN (its own symmetric padding where
 * that gives the net's windows, else explicit zeros before and after), for
 * every geometry hsi_cnn_conv_geometry makes, with folded zero padding. */
static int floor_div(int a, int b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static void test_index_rules(void)
{
    long bad = 0;
    for (int k = 1; k <= 4; k++)
        for (int s = 1; s <= 4; s++)
            for (int in = k; in <= 13; in++) {
                int o = (in - k) / s + 1;
                for (int t = 0; t < in; t++) {
                    int lo, hi, first = -1, last = -2, count = 0;
                    hsi_cm_pool_windows(t, k, s, o, &lo, &hi);
                    for (int w = 0; w < o; w++)
                        if (w * s <= t && t < w * s + k) {
                            if (first < 0) first = w;
                            last = w, count++;
                        }
                    int ok = count ? lo == first && hi == last && count == last - first + 1 : lo > hi;
                    if (!ok && bad++ < 5)
                        CHECK_MSG(0, "pool windows of %d (k %d, s %d, in %d): [%d, %d], want [%d, %d]",
                                  t, k, s, in, lo, hi, first, last);
                }
            }
    int symmetric = 0, explicit_pad = 0;
    for (int in = 1; in <= 12; in++)
        for (int k = 1; k <= 5; k++)
            for (int s = 1; s <= 3; s++)
                for (int same = 0; same < 2; same++)
                    for (int fold = 0; fold <= 2; fold++) {
                        int o, pad, after;
                        /* as hsi_cnn_net_plan: planned on the padded input, the fold moved into pad */
                        if (hsi_cnn_conv_geometry(in + 2 * fold, k, s, same, &o, &pad)) continue;
                        pad += fold;
                        int sym = hsi_cm_conv_axis(in, k, s, pad, o, &after);
                        /* the zeros the last window reads after the input */
                        int end = (o - 1) * s - pad + k - 1, need = end - (in - 1);
                        int ok = after == (need > 0 ? need : 0);
                        if (sym) /* cuDNN pads pad both sides: same count, windows inside */
                            ok &= need <= pad && floor_div(in + 2 * pad - k, s) + 1 == o;
                        else /* explicit: cuDNN runs unpadded on pad + in + after */
                            ok &= (pad + in + after - k) / s + 1 == o;
                        symmetric += sym, explicit_pad += !sym;
                        if (!ok && bad++ < 10)
                            CHECK_MSG(0, "conv axis in %d k %d s %d %s fold %d: o %d pad %d after %d sym %d",
                                      in, k, s, same ? "same" : "valid", fold, o, pad, after, sym);
                    }
    CHECK(symmetric > 0 && explicit_pad > 0);
    /* The Lange net's convolutions (valid, the [zeropad3d] of 2 folded; a
     * 3 x 3 plane) use cuDNN's own padding: nothing is copied. */
    int after;
    CHECK(hsi_cm_conv_axis(72, 5, 1, 2, 72, &after) && after == 2);
    CHECK(hsi_cm_conv_axis(9, 3, 1, 0, 7, &after) && after == 0);
    CHECK_MSG(bad == 0, "%ld index rules differ from brute force", bad);
}

/* Whole-scene prediction on the "device": each tile's rows sent once and
 * the windows gathered there (be->gather_windows), against the CPU's host
 * gather, for every border mode. Where the batches are the same (one tile:
 * the whole scene; or batches of one pixel) the class raster and the
 * probabilities are the same bit for bit. With 5-row tiles the device's
 * batches end at tile edges, so the CPU's GEMMs see other batch sizes:
 * then the probabilities agree to 1e-5 and every class where the top two
 * are further apart. */
static void test_fake_predict(const hsi_cnn_spec *spec)
{
    const size_t rows = 23, cols = 19, bands = 24;
    hsi_cube *cube = NULL;
    CHECK_OK(hsi_cube_new(rows, cols, bands, &cube));
    if (!cube) return;
    hsi_rng rng;
    hsi_rng_seed(&rng, 9);
    for (size_t i = 0; i < rows * cols * bands; i++) cube->data[i] = (float)hsi_rng_normal(&rng);
    const char *dir = check_tmpdir("cnn_device");
    char path[4200];
    snprintf(path, sizeof path, "%s/scene.tif", dir);
    CHECK_OK(hsi_cube_write(path, HSI_FORMAT_GTIFF, cube));
    hsi_cube_free(cube);
    /* Window against window: on the CPU this net would otherwise be
     * evaluated densely (cnn3d/predict_dense.h; tests/test_cnn_dense). */
    setenv("HSI_CNN_DENSE", "0", 1);
    for (int run = 0; run < 3; run++) {
        int batch = run == 1 ? 1 : 16;
        size_t tile_rows = run == 0 ? 0 : 5;
        hsi_cnn_net *a = bc_net(spec, hsi_cnn_backend_cpu(), (int)bands, 5, batch);
        hsi_cnn_net *b = bc_net(spec, &fake, (int)bands, 5, batch);
        for (int border = 0; border < 3 && a && b; border++) {
            hsi_cnn_meta meta = {.radius = 4, .border = border};
            hsi_cnn_scene_options so = {.tile_rows = tile_rows, .probability = 1};
            hsi_labels *ma = NULL, *mb = NULL;
            hsi_cube *pa = NULL, *pb = NULL;
            size_t ca = 0, cb = 0;
            CHECK_OK(hsi_cnn_predict_file(a, &meta, path, &so, &ma, &pa, &ca));
            CHECK_OK(hsi_cnn_predict_file(b, &meta, path, &so, &mb, &pb, &cb));
            CHECK_MSG(ca == cb && ca == (border == HSI_BORDER_SKIP ? 15 * 11 : rows * cols),
                      "border %d: %zu and %zu pixels classified", border, ca, cb);
            if (!ma || !mb || !pa || !pb) goto next;
            double worst = 0;
            size_t wrong = 0;
            for (size_t i = 0; i < rows * cols; i++) {
                const float *p = pa->data + i * 5, *q = pb->data + i * 5;
                float top = 0, second = 0;
                for (int c = 0; c < 5; c++) {
                    double d = fabs((double)p[c] - q[c]);
                    if (d > worst) worst = d;
                    if (p[c] > top) second = top, top = p[c];
                    else if (p[c] > second) second = p[c];
                }
                wrong += ma->data[i] != mb->data[i] && top - second > 1e-5;
            }
            if (tile_rows == 0 || batch == 1)
                CHECK_MSG(!memcmp(ma->data, mb->data, rows * cols * sizeof *ma->data) &&
                              !memcmp(pa->data, pb->data, rows * cols * 5 * sizeof *pa->data),
                          "border %d, batch %d: windows gathered on the device predict otherwise "
                          "(probabilities %.3g apart)", border, batch, worst);
            else
                CHECK_MSG(worst <= 1e-5 && wrong == 0,
                          "border %d, 5-row tiles: probabilities %.3g apart, %zu classes differ",
                          border, worst, wrong);
        next:
            hsi_labels_free(ma), hsi_labels_free(mb);
            hsi_cube_free(pa), hsi_cube_free(pb);
        }
        hsi_cnn_net_free(a);
        hsi_cnn_net_free(b);
    }
    unsetenv("HSI_CNN_DENSE");
    /* Left to choose, a device predicts per window and says why. */
    hsi_cnn_net *b = bc_net(spec, &fake, (int)bands, 5, 16);
    if (b) {
        hsi_cnn_meta meta = {.radius = 4, .border = HSI_BORDER_MIRROR};
        hsi_cnn_predict_report report;
        hsi_cnn_scene_options so = {.report = &report};
        hsi_labels *mb = NULL;
        CHECK_OK(hsi_cnn_predict_file(b, &meta, path, &so, &mb, NULL, NULL));
        CHECK_MSG(!report.dense && !strcmp(report.why, "the net runs on fake-device"),
                  "on the device: %s", report.dense ? "dense" : report.why);
        hsi_labels_free(mb);
        hsi_cnn_net_free(b);
    }
}

static void test_fake_device(void)
{
    fake = *hsi_cnn_backend_cpu();
    fake.name = "fake-device";
    fake.device = 1;
    fake.loss_start = fake_loss_start;
    fake.loss_finish = fake_loss_finish;
    fake.memory_free = fake_memory_free;
    fake.augment = fake_augment;
    bc t = {.ref = hsi_cnn_backend_cpu(), .be = &fake, .exact = 1};
    hsi_rng_seed(&t.rng, 11);
    bc_all_primitives(&t);

    hsi_cnn_spec *spec = NULL;
    CHECK_OK(hsi_cnn_spec_load(spec_path("lange2018.cfg"), &spec));
    if (!spec) return;
    /* 24 bands: the smallest the Lange net's pools allow, for speed. */
    hsi_cnn_net *a = bc_net(spec, hsi_cnn_backend_cpu(), 24, 5, 8);
    hsi_cnn_net *b = bc_net(spec, &fake, 24, 5, 8);
    if (b) CHECK(b->host_out && b->loss_grad != b->dlogits);
    bc_train_compare(a, b, 20, 8, 0, "lange net, CPU vs CPU-as-device (its loss slot)");
    /* and the net's host loss path on a device (no loss slot) */
    hsi_cnn_net_free(b);
    fake.loss_start = NULL;
    b = bc_net(spec, &fake, 24, 5, 8);
    hsi_cnn_net_free(a);
    a = bc_net(spec, hsi_cnn_backend_cpu(), 24, 5, 8);
    bc_train_compare(a, b, 20, 8, 0, "lange net, CPU vs CPU-as-device (host loss)");
    fake.loss_start = fake_loss_start;
    /* forward returns host memory on a device (a copy of the outputs) */
    if (a && b) {
        float x[2 * 9 * 9 * 24];
        for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = (float)(i % 17) / 17.0f;
        const float *pa = hsi_cnn_forward(a, x, 2, 0);
        const float *pb = hsi_cnn_forward(b, x, 2, 0);
        CHECK(pb == b->host_out && !memcmp(pa, pb, 2 * 5 * sizeof *pa));
    }
    hsi_cnn_net_free(a);
    hsi_cnn_net_free(b);
    test_fake_resident(spec);
    test_fake_predict(spec);

    /* A device failure mid-training: the error with its message, no model. */
    failing = fake;
    failing.gemm = failing_gemm;
    failing.status = failing_status;
    failing.trace = failing_trace;
    hsi_cnn_net *f = bc_net(spec, &failing, 24, 5, 8);
    if (f) {
        size_t in = hsi_cnn_shape_size(f->input);
        int32_t labels[40];
        for (int i = 0; i < 40; i++) labels[i] = i % 5;
        hsi_cnn_dataset ds = {40, labels, bc_gather_random, &in};
        const char *dir = check_tmpdir("cnn_device");
        char path[4200];
        snprintf(path, sizeof path, "%s/model.ckpt", dir);
        gemm_calls = 0;
        fail_after = 25; /* in the second batch */
        hsi_cnn_train_options to = {.epochs = 2, .batch = 8, .checkpoint_path = path,
                                    .checkpoint_every = 1};
        CHECK_FAILS(hsi_cnn_train(f, &ds, NULL, &to), HSI_ERR_DEVICE, "cublasSgemm");
        /* the message names the layer that ran (the net traces each one) */
        CHECK_MSG(strstr(hsi_last_error(), "dense_") == hsi_last_error(), "%s", hsi_last_error());
        struct stat sb;
        CHECK_MSG(stat(path, &sb) != 0, "a checkpoint was written after a device failure");
        CHECK_FAILS(hsi_cnn_checkpoint_write(path, f, NULL), HSI_ERR_DEVICE, "not written");
        CHECK(stat(path, &sb) != 0);
        fail_after = -1;
        hsi_cnn_net_free(f);
    }
    hsi_cnn_spec_free(spec);
}

/* ---------------------------------------------------------------- device names */

static void test_names(void)
{
    CHECK(hsi_cnn_device_name_ok("cpu") && hsi_cnn_device_name_ok("cuda") &&
          hsi_cnn_device_name_ok("cuda:0") && hsi_cnn_device_name_ok("cuda:12") &&
          hsi_cnn_device_name_ok("auto"));
    CHECK(!hsi_cnn_device_name_ok("gpu") && !hsi_cnn_device_name_ok("cuda:") &&
          !hsi_cnn_device_name_ok("cuda:-1") && !hsi_cnn_device_name_ok("cuda:1x") &&
          !hsi_cnn_device_name_ok("CUDA") && !hsi_cnn_device_name_ok(""));
    const hsi_cnn_backend *be = NULL;
    char note[512];
    CHECK_OK(hsi_cnn_device_open("cpu", NULL, &be, note, sizeof note));
    CHECK(be == hsi_cnn_backend_cpu() && note[0] == 0);
    hsi_cnn_device_close(be);
    CHECK_FAILS(hsi_cnn_device_open("tpu", NULL, &be, note, sizeof note), HSI_ERR_ARG, "unknown device 'tpu'");
    if (hsi_gpu_count() == 0) {
        /* No GPU here: cuda is an error naming the cause, auto the CPU saying why. */
        hsi_status st = hsi_cnn_device_open("cuda:0", NULL, &be, note, sizeof note);
        CHECK(st == (hsi_have_cuda() ? HSI_ERR_DEVICE : HSI_ERR_UNSUPPORTED) && be == NULL);
        CHECK_MSG(strstr(hsi_last_error(), "--device cuda:0") != NULL, "%s", hsi_last_error());
        CHECK_OK(hsi_cnn_device_open("auto", NULL, &be, note, sizeof note));
        CHECK(be == hsi_cnn_backend_cpu());
        CHECK_MSG(strstr(note, "running on the CPU (") != NULL, "auto's note: %s", note);
        hsi_cnn_device_close(be);
    }
}

int main(void)
{
    test_math();
    test_window_element();
    test_index_rules();
    test_fake_device();
    test_names();
    return check_finish();
}
