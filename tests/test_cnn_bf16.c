/* test_cnn_bf16.c - `--precision bf16`: the CPU backend's depth-shift
 * convolutions with bf16 GEMM operands (cnn3d/gemm_bf16.c) against the
 * naive fp32 conv3d, forward, data gradient and filter gradient, within the
 * bound bf16 rounding allows; a small net in bf16 stays close to fp32 and
 * back in fp32 is bit-identical to a net that never left it. Where the CPU
 * lacks AVX512_BF16, hsi_cnn_net_set_precision must refuse bf16 with a
 * message, and the rest is skipped (exit 77).
 *
 * The bound: rounding both factors to bf16 (8 significant bits, unit
 * roundoff 2^-8) changes each product by at most 2^-7 (1 + 2^-9) of its
 * magnitude, and fp32 accumulation adds ~K 2^-24; so with A = the same
 * conv on |x| and |w| (all terms' magnitudes summed),
 *     |bf16 result - exact| <= 2^-7 * 1.01 * A + 1e-6.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "cnn3d/backend.h"
#include "cnn3d/cnn.h"
#include "tests/check.h"

static float *random_array(hsi_rng *rng, size_t n)
{
    float *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = (float)(2 * hsi_rng_uniform(rng) - 1);
    return a;
}

static float *abs_copy(const float *a, size_t n)
{
    float *b = malloc(n * sizeof *b);
    for (size_t i = 0; i < n; i++) b[i] = fabsf(a[i]);
    return b;
}

/* Every |got - want| within the bf16 bound of its magnitude sum; where
 * bf16 is set, also some difference (the bf16 path really ran). */
static void check_bound(const char *what, const float *got, const float *want, const float *mag,
                        size_t n, int bf16)
{
    double worst = 0, maxdiff = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]), tol = 0.0078125 * 1.01 * mag[i] + 1e-6;
        if (d > tol) bad++;
        if (d / tol > worst) worst = d / tol;
        if (d > maxdiff) maxdiff = d;
    }
    CHECK_MSG(bad == 0, "%s: %zu of %zu values outside the bf16 bound (worst %.2f x bound)", what,
              bad, n, worst);
    CHECK_MSG(!bf16 || maxdiff > 0, "%s: identical to fp32; the bf16 GEMMs did not run", what);
}

/* One geometry on the shift path (c*kh*kw >= 64, spectral stride 1): all
 * three passes in bf16; or on the tap kernels (a thin first layer, where the
 * CPU has AVX2): the filter gradient in bf16, forward and data gradient fp32. */
static void conv_case(hsi_cnn_conv_desc cd, const char *name)
{
    hsi_rng rng;
    hsi_rng_seed(&rng, 11);
    cd.od = cd.d + 2 * cd.pd - cd.kd + 1;
    cd.oh = cd.h - cd.kh + 1;
    cd.ow = cd.w - cd.kw + 1;
    cd.sd = cd.sh = cd.sw = 1;
    cd.bf16 = 1; /* the path bf16 takes (fp32 may take Winograd instead of shift) */
    const char *path = hsi_cnn_cpu_conv_path(&cd);
    const int shift = !strcmp(path, "shift");
    CHECK_MSG(shift || !strcmp(path, "taps"), "%s: on the %s path", name, path);
    size_t nx = (size_t)cd.n * cd.c * cd.d * cd.h * cd.w;
    size_t nw = (size_t)cd.f * cd.c * cd.kd * cd.kh * cd.kw;
    size_t ny = (size_t)cd.n * cd.f * cd.od * cd.oh * cd.ow;
    float *x = random_array(&rng, nx), *w = random_array(&rng, nw), *dy = random_array(&rng, ny);
    float *ax = abs_copy(x, nx), *aw = abs_copy(w, nw), *ady = abs_copy(dy, ny);
    float *ref = malloc(sizeof(float) * (nx > nw ? (nx > ny ? nx : ny) : (nw > ny ? nw : ny)));
    float *mag = malloc(sizeof(float) * (nx > nw ? (nx > ny ? nx : ny) : (nw > ny ? nw : ny)));
    float *y = malloc(sizeof(float) * ny), *dx = malloc(sizeof(float) * nx);
    float *dw = malloc(sizeof(float) * nw), *db = malloc(sizeof(float) * cd.f);
    float *db_ref = malloc(sizeof(float) * cd.f), *db_mag = malloc(sizeof(float) * cd.f);
    const hsi_cnn_backend *be = hsi_cnn_backend_cpu();
    float *work = malloc(sizeof(float) * (be->conv3d_workspace(be, &cd) + 1));
    char what[160];

    hsi_cnn_conv3d_naive_forward(&cd, x, w, NULL, ref);
    hsi_cnn_conv3d_naive_forward(&cd, ax, aw, NULL, mag);
    be->conv3d_forward(be, &cd, x, w, NULL, HSI_CNN_ACT_LINEAR, y, work);
    snprintf(what, sizeof what, "%s forward", name);
    check_bound(what, y, ref, mag, ny, shift);

    hsi_cnn_conv3d_naive_backward_data(&cd, dy, w, ref);
    hsi_cnn_conv3d_naive_backward_data(&cd, ady, aw, mag);
    be->conv3d_backward_data(be, &cd, dy, w, dx, work);
    snprintf(what, sizeof what, "%s backward data", name);
    check_bound(what, dx, ref, mag, nx, shift);

    hsi_cnn_conv3d_naive_backward_filter(&cd, x, dy, ref, db_ref);
    hsi_cnn_conv3d_naive_backward_filter(&cd, ax, ady, mag, db_mag);
    be->conv3d_backward_filter(be, &cd, x, dy, dw, db, work);
    snprintf(what, sizeof what, "%s backward filter", name);
    check_bound(what, dw, ref, mag, nw, 1);
    /* The bias gradient sums dy in fp32 as before. */
    for (int f = 0; f < cd.f; f++)
        CHECK_MSG(fabs(db[f] - db_ref[f]) <= 1e-5 * (1 + db_mag[f]), "%s bias %d: %g vs %g", name,
                  f, db[f], db_ref[f]);
    free(x), free(w), free(dy), free(ax), free(aw), free(ady), free(ref), free(mag), free(y);
    free(dx), free(dw), free(db), free(db_ref), free(db_mag), free(work);
}

static const char *net_spec = "[net]\n"
                              "input = 5, 5, auto\n"
                              "classes = auto\n"
                              "batch = 8\n"
                              "loss = cce\n"
                              "optimizer = sgd\n"
                              "learning_rate = 0.05\n"
                              "[conv3d]\nfilters = 8\nkernel = 3, 3, 3\nactivation = relu\n"
                              "[maxpool3d]\nsize = 1, 1, 2\n"
                              "[zeropad3d]\npad = 0, 0, 1\n"
                              "[conv3d]\nfilters = 12\nkernel = 3, 3, 3\nactivation = relu\n"
                              "[flatten]\n"
                              "[dense]\nunits = classes\nactivation = softmax\n";

/* Train a few steps; returns the net (caller frees). */
static hsi_cnn_net *train_net(int precision_steps, hsi_cnn_precision p)
{
    hsi_cnn_spec *spec;
    hsi_cnn_net *net;
    CHECK_OK(hsi_cnn_spec_parse(net_spec, "bf16.cfg", &spec));
    hsi_cnn_net_options o = {.bands = 20, .classes = 4, .max_batch = 8, .training = 1, .seed = 3};
    CHECK_OK(hsi_cnn_net_new(spec, &o, &net));
    hsi_cnn_spec_free(spec);
    hsi_rng rng;
    hsi_rng_seed(&rng, 5);
    size_t in = hsi_cnn_shape_size(net->input);
    float *x = random_array(&rng, in * 8);
    int32_t y[8];
    for (int i = 0; i < 8; i++) y[i] = (int32_t)hsi_rng_below(&rng, 4);
    CHECK_OK(hsi_cnn_net_set_precision(net, p));
    for (int s = 0; s < precision_steps; s++) hsi_cnn_train_step(net, x, y, NULL, 8, NULL);
    CHECK_OK(hsi_cnn_net_set_precision(net, HSI_CNN_FP32));
    for (int s = 0; s < 3; s++) hsi_cnn_train_step(net, x, y, NULL, 8, NULL);
    free(x);
    return net;
}

static void test_net(void)
{
    /* bf16 for some steps, then fp32: close to all-fp32 (one step's rounding). */
    hsi_cnn_net *a = train_net(3, HSI_CNN_FP32), *b = train_net(3, HSI_CNN_BF16);
    double d = 0, s = 0;
    for (size_t i = 0; i < a->n_params; i++) {
        d += fabs((double)a->params[i] - b->params[i]);
        s += fabs((double)a->params[i]);
    }
    CHECK_MSG(d > 0, "bf16 steps changed nothing");
    CHECK_MSG(d <= 1e-2 * s, "bf16 steps moved the weights by %g of %g", d, s);
    hsi_cnn_net_free(b);
    /* Switched back to fp32 before any step: bit-identical to never leaving it. */
    b = train_net(0, HSI_CNN_BF16);
    hsi_cnn_net *c = train_net(0, HSI_CNN_FP32);
    CHECK(!memcmp(b->params, c->params, sizeof(float) * b->n_params));
    hsi_cnn_net_free(a), hsi_cnn_net_free(b), hsi_cnn_net_free(c);
}

int main(void)
{
    hsi_cnn_spec *spec;
    hsi_cnn_net *net;
    CHECK_OK(hsi_cnn_spec_parse(net_spec, "bf16.cfg", &spec));
    hsi_cnn_net_options o = {.bands = 20, .classes = 4, .max_batch = 8, .training = 1, .seed = 3};
    CHECK_OK(hsi_cnn_net_new(spec, &o, &net));
    hsi_cnn_spec_free(spec);
    hsi_status st = hsi_cnn_net_set_precision(net, HSI_CNN_BF16);
    hsi_cnn_net_free(net);
    if (st != HSI_OK) {
        CHECK_MSG(st == HSI_ERR_UNSUPPORTED && strstr(hsi_last_error(), "AVX512_BF16"),
                  "refusal: status %d, message '%s'", (int)st, hsi_last_error());
        if (check_failures) return check_finish();
        check_skip("this CPU lacks AVX512_BF16 (bf16 refused as it should be)");
    }
    /* The Lange net's conv2 geometry (fewer samples), one with odd sizes
     * (K and the columns off the kernels' tiles), one with 4 samples. */
    conv_case((hsi_cnn_conv_desc){.n = 2, .c = 48, .d = 24, .h = 7, .w = 7, .f = 32, .kd = 5,
                                  .kh = 3, .kw = 3, .pd = 2},
              "lange conv2");
    conv_case((hsi_cnn_conv_desc){.n = 3, .c = 9, .d = 13, .h = 6, .w = 5, .f = 7, .kd = 3,
                                  .kh = 3, .kw = 3, .pd = 1},
              "odd sizes");
    conv_case((hsi_cnn_conv_desc){.n = 4, .c = 32, .d = 8, .h = 5, .w = 5, .f = 17, .kd = 5,
                                  .kh = 3, .kw = 3, .pd = 0},
              "conv3-like");
    /* The Lange net's first layer (fewer bands), on the tap kernels. */
    hsi_cnn_conv_desc thin = {.n = 3, .c = 1, .d = 40, .h = 9, .w = 9, .f = 48, .kd = 5,
                              .kh = 3, .kw = 3};
    if (!strcmp(hsi_cnn_cpu_conv_path(&(hsi_cnn_conv_desc){.c = 1, .d = 40, .h = 9, .w = 9,
                                                             .f = 48, .kd = 5, .kh = 3, .kw = 3,
                                                             .sd = 1, .sh = 1, .sw = 1,
                                                             .od = 36, .oh = 7, .ow = 7}),
                "taps"))
        conv_case(thin, "lange conv1");
    test_net();
    return check_finish();
}
