/* test_cnn_conv_split.c - the CPU backend's forward convolutions give the
 * same bits for any thread count, where a pass with fewer samples (or
 * Winograd blocks) than threads, or a remainder of them, splits one
 * sample's work between threads (backend_cpu.c, shared_from): the tap
 * kernels' outputs in ranges, Winograd's input transform by channel, its
 * products by xi and its output transform, bias, activation and pooling by
 * filter.
 *
 * The reference is the same call on one thread, where every sample runs
 * whole on one thread as before the split existed. Each case runs batches
 * of 1, 2 and 3 samples with large planes (the dense prediction's trunk
 * has 37 x 37 x 200 tiles; smaller here so that the test stays quick) on
 * 1, 2, 3 and 4 threads (more threads than cores is fine: only the bits
 * are checked), plain, with ReLU, with tanh (the taps' separate finish),
 * and fused with the spectral max-pool (its argmax too), and the same
 * Winograd pass with blocks of 2 samples. Then the one-thread result is
 * held to the naive direct convolution, so that the bits compared are
 * a convolution's.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "base/rng.h"
#include "cnn3d/backend.h"
#include "cnn3d/conv_winograd.h"
#include "tests/check.h"

static float *random_array(hsi_rng *rng, size_t n)
{
    float *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = (float)(2 * hsi_rng_uniform(rng) - 1);
    return a;
}

static void set_threads(int t)
{
#ifdef _OPENMP
    omp_set_num_threads(t);
#else
    (void)t;
#endif
}

/* One pass's outputs: y (unfused, or the pooled output and argmax). */
typedef struct {
    float *y;
    int32_t *am;
} outputs;

/* conv cd (activation act; fused with the pool pd when pd) on t threads,
 * into a fresh workspace sized for t threads. */
static outputs run(const hsi_cnn_conv_desc *cd, const hsi_cnn_pool_desc *pd,
                   hsi_cnn_activation act, const float *x, const float *w, const float *b, int t)
{
    const hsi_cnn_backend *be = hsi_cnn_backend_cpu();
    set_threads(t);
    size_t ws = be->conv3d_workspace(be, cd);
    float *work = malloc((ws + 1) * sizeof *work);
    outputs o = {0};
    if (pd) {
        size_t np = (size_t)pd->n * pd->c * pd->od * pd->oh * pd->ow;
        o.y = malloc(np * sizeof *o.y), o.am = malloc(np * sizeof *o.am);
        int fused = be->conv3d_forward_maxpool(be, cd, x, w, b, act, pd, o.y, o.am, work);
        CHECK_MSG(fused, "the fused forward declined");
    } else {
        size_t ny = (size_t)cd->n * cd->f * cd->od * cd->oh * cd->ow;
        o.y = malloc(ny * sizeof *o.y);
        be->conv3d_forward(be, cd, x, w, b, act, o.y, work);
    }
    free(work);
    return o;
}

/* Every batch size 1 .. 3 and thread count 1 .. 4 of conv cd on path
 * `path`: the bits of one thread; block: hsi_cnn_cpu_set_block_bytes (0:
 * the default). */
static void check_case(hsi_cnn_conv_desc cd, const char *path, size_t block, const char *name)
{
    static const hsi_cnn_activation acts[] = {HSI_CNN_ACT_LINEAR, HSI_CNN_ACT_RELU,
                                              HSI_CNN_ACT_TANH};
    static const char *act_names[] = {"linear", "relu", "tanh"};
    hsi_cnn_cpu_set_block_bytes(block);
    for (int n = 1; n <= 3; n++) {
        cd.n = n;
        CHECK_MSG(!strcmp(hsi_cnn_cpu_conv_path(&cd), path), "%s: runs on %s, not %s", name,
                  hsi_cnn_cpu_conv_path(&cd), path);
        hsi_rng rng;
        hsi_rng_seed(&rng, 7 + n);
        size_t nx = (size_t)cd.n * cd.c * cd.d * cd.h * cd.w;
        size_t nw = (size_t)cd.f * cd.c * cd.kd * cd.kh * cd.kw;
        size_t ny = (size_t)cd.n * cd.f * cd.od * cd.oh * cd.ow;
        float *x = random_array(&rng, nx), *w = random_array(&rng, nw);
        float *b = random_array(&rng, cd.f);
        hsi_cnn_pool_desc pd = {.n = cd.n, .c = cd.f, .d = cd.od, .h = cd.oh, .w = cd.ow,
                                .kd = 3, .kh = 1, .kw = 1, .sd = 3, .sh = 1, .sw = 1,
                                .od = cd.od / 3, .oh = cd.oh, .ow = cd.ow};
        size_t np = (size_t)pd.n * pd.c * pd.od * pd.oh * pd.ow;
        for (int a = 0; a < 4; a++) {
            const int fused = a == 3; /* relu, fused with the pool */
            hsi_cnn_activation act = fused ? HSI_CNN_ACT_RELU : acts[a];
            outputs one = run(&cd, fused ? &pd : NULL, act, x, w, b, 1);
            if (!fused && act == HSI_CNN_ACT_LINEAR) {
                /* The reference itself is a convolution (the naive one's
                 * summation order differs: within 1e-4 relative). */
                float *ref = malloc(ny * sizeof *ref);
                hsi_cnn_conv3d_naive_forward(&cd, x, w, b, ref);
                double worst = 0, scale = 0;
                for (size_t i = 0; i < ny; i++) {
                    double d = fabs((double)one.y[i] - ref[i]);
                    if (!(d <= worst)) worst = d;
                    if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
                }
                CHECK_MSG(worst <= 1e-4 * (1 + scale), "%s, %d samples: %g from the naive conv",
                          name, n, worst);
                free(ref);
            }
            for (int t = 2; t <= 4; t++) {
                outputs o = run(&cd, fused ? &pd : NULL, act, x, w, b, t);
                if (fused) {
                    CHECK_MSG(!memcmp(o.y, one.y, np * sizeof *o.y) &&
                                  !memcmp(o.am, one.am, np * sizeof *o.am),
                              "%s, %d samples, fused with the pool: %d threads differ from 1",
                              name, n, t);
                } else {
                    CHECK_MSG(!memcmp(o.y, one.y, ny * sizeof *o.y),
                              "%s, %d samples, %s: %d threads differ from 1", name, n,
                              act_names[a], t);
                }
                free(o.y), free(o.am);
            }
            free(one.y), free(one.am);
        }
        free(x), free(w), free(b);
    }
    hsi_cnn_cpu_set_block_bytes(0);
}

int main(void)
{
#ifdef _OPENMP
    const int threads = omp_get_max_threads();
#endif
    /* The Lange net's conv1 (1 band channel in, 48 filters of 5 x 3 x 3)
     * on a 23 x 23 x 60 tile: the tap kernels, 21 x 21 planes. */
    hsi_cnn_conv_desc conv1 = {.c = 1, .d = 60, .h = 23, .w = 23, .f = 48, .kd = 5, .kh = 3,
                               .kw = 3, .sd = 1, .sh = 1, .sw = 1, .od = 56, .oh = 21, .ow = 21};
    check_case(conv1, "taps", 0, "conv1 (taps)");
    /* Its conv2 (48 channels in, 32 filters) over the padded input:
     * Winograd F(4, 5), one sample a block at these planes... */
    hsi_cnn_conv_desc conv2 = {.c = 48, .d = 22, .h = 19, .w = 19, .f = 32, .kd = 5, .kh = 3,
                               .kw = 3, .sd = 1, .sh = 1, .sw = 1, .pd = 2, .od = 22, .oh = 17,
                               .ow = 17};
    check_case(conv2, "winograd", 0, "conv2 (winograd)");
    /* ... and two a block (3 samples: a block of 2 and one of 1), with odd
     * filter and channel counts. */
    hsi_cnn_conv_desc conv3 = {.c = 13, .d = 19, .h = 15, .w = 15, .f = 11, .kd = 5, .kh = 3,
                               .kw = 3, .sd = 1, .sh = 1, .sw = 1, .od = 15, .oh = 13, .ow = 13};
    hsi_cnn_wino_plan plan;
    CHECK(!hsi_cnn_wino_plan_init(&plan, &conv3, 4, 1));
    /* Room for 2 samples' scratch in a sixth of the block (backend_cpu.c, wino_nb_max). */
    size_t one = hsi_cnn_wino_scratch_floats(&plan, &conv3) * sizeof(float);
    check_case(conv3, "winograd", 6 * 2 * one + 64, "conv3 (winograd, blocks of 2)");
#ifdef _OPENMP
    set_threads(threads);
#endif
    return check_finish();
}
