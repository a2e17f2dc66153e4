/* cnn_throughput.c - time the CNN engine on one spec (run by bench/cnn_bench.sh).
 *
 *   cnn_throughput SPEC BANDS BATCH STEPS [CLASSES]   training and inference samples/s
 *   cnn_throughput --sgemm                            OpenBLAS sgemm GFLOP/s (the peak)
 *   cnn_throughput --dsyrk                            the SVM grid's Gram matrix (dsyrk) GFLOP/s
 *   cnn_throughput --kernels                          CPU, ISA, BLAS and kernel set
 *
 * Like hsi, it re-executes itself once with OPENBLAS_CORETYPE set where
 * OpenBLAS picked older kernels than the CPU runs (base/cpu.h), so the bench
 * times what users get; stderr warns when the kernels are still older.
 *
 * Training: STEPS timed steps (forward, MSE/CCE loss, backward, update) on one
 * random batch after 3 warm-up steps, like the PyTorch peer. Inference: 500
 * random samples in batches of 100, timed after one warm-up pass. GFLOP/s
 * counts the forward FLOPs of the summary (x3 for a training step).
 *
 * HSI_CNN_DEVICE=cuda (cuda:N, auto) runs both on that backend (bench/gpu-check.sh).
 * There the steps run as hsi_cnn_train runs them: each step's loss is read
 * back while the next one runs, and the timer stops when the last loss is
 * read, so the times include all of the GPU's work. As the PyTorch peer keeps
 * its batch on the GPU, and as `hsi cnn train` holds its training windows
 * there, the batch is uploaded once into the net's input (hsi_cnn_forward
 * skips the upload when given net->x); HSI_CNN_UPLOAD=1 uploads it every
 * step instead (training windows that do not fit on the GPU).
 * HSI_CNN_INFER_BATCH sets the inference batch (5 timed batches),
 * HSI_CNN_DETERMINISTIC=1 the GPU's deterministic algorithms.
 *
 * HSI_CNN_FREEZE=LAYERS freezes layers for the training steps, as `hsi cnn
 * train --freeze` (e.g. 1-8: the Lange net's convolutions and pools, the
 * transfer-learning setup): the backward pass then stops at the lowest
 * layer that trains. train_gflops still counts 3x the forward FLOPs.
 *
 * train_cpu_ms and infer_cpu_ms are the process's CPU time (all threads)
 * per training step and per 100-sample inference batch: on a shared
 * machine, what the work cost without the waits for a core.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cpu.h"
#include "base/rng.h"
#include "cnn3d/cnn.h"
#include "cnn3d/conv_taps.h"
#include "cnn3d/device.h"
#include "cnn3d/gemm_bf16.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *blas_kernels(void);

static int sgemm_peak(void)
{
    const int n = 2048;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
          *c = malloc(sizeof(float) * n * n);
    for (long i = 0; i < (long)n * n; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double g = 2.0 * n * n * (double)n / (now() - t) / 1e9;
        if (g > best) best = g;
    }
    printf("sgemm_gflops=%.1f blas_threads=%d n=%d blas_kernels=%s\n", best, openblas_get_num_threads(), n,
           blas_kernels());
    free(a), free(b), free(c);
    return 0;
}

/* The SVM grid's kernel matrix (classifiers/svm_grid.c): G = X X^T in
 * double, X n x dim, as cblas_dsyrk forms it for a training set of n = 2000
 * pixels of 200 bands (Indian Pines' 10% split is about 1000). n^2 dim
 * multiply-adds: half of the full product, counted as n^2 dim FLOPs x 2 / 2. */
static int dsyrk_rate(void)
{
    const int n = 2000, dim = 200;
    double *x = malloc(sizeof(double) * n * dim), *g = malloc(sizeof(double) * n * n);
    for (long i = 0; i < (long)n * dim; i++) x[i] = (double)(i % 11) * 0.1;
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, dim, 1.0, x, dim, 0.0, g, n);
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t = now();
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, dim, 1.0, x, dim, 0.0, g, n);
        double rate = (double)n * n * dim / (now() - t) / 1e9;
        if (rate > best) best = rate;
    }
    printf("dsyrk_gflops=%.1f n=%d dim=%d blas_kernels=%s\n", best, n, dim, blas_kernels());
    free(x), free(g);
    return 0;
}

/* The BLAS kernel set for the output lines; a warning on stderr where it is
 * older than the CPU runs (the timings would not be what this CPU can do). */
static const char *blas_kernels(void)
{
    static hsi_blas_info b;
    hsi_blas_describe(&b);
    if (b.best[0])
        fprintf(stderr, "cnn_throughput: warning: BLAS kernels %s are older than this CPU runs (%s): "
                "timings are not representative\n", b.kernels, b.best);
    return b.kernels[0] ? b.kernels : "unknown";
}

int main(int argc, char **argv)
{
    const char *core = hsi_blas_reexec_coretype();
    if (core && !setenv("OPENBLAS_CORETYPE", core, 1) &&
        !setenv(HSI_BLAS_REEXEC_ENV, hsi_blas_reexec_marker(), 1))
        execv("/proc/self/exe", argv);
    if (argc == 2 && !strcmp(argv[1], "--kernels")) {
        char line[512];
        hsi_cpu_blas_summary(line, sizeof line);
        printf("%s; hsi kernels: conv taps %s, bf16 gemm %s\n", line, hsi_cnn_taps_isa(),
               hsi_cnn_bf16_cpu_ok() ? "avx512-bf16 (--precision bf16)" : "none");
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "--sgemm")) return sgemm_peak();
    if (argc == 2 && !strcmp(argv[1], "--dsyrk")) return dsyrk_rate();
    if (argc < 5) {
        fprintf(stderr, "usage: cnn_throughput SPEC BANDS BATCH STEPS [CLASSES] | --sgemm | --dsyrk | --kernels\n");
        return 2;
    }
    const char *path = argv[1];
    /* Tuning experiments: HSI_CNN_BLOCK_BYTES sets the vol2col block size. */
    const char *blk = getenv("HSI_CNN_BLOCK_BYTES");
    if (blk) hsi_cnn_cpu_set_block_bytes((size_t)atol(blk));
    /* HSI_CNN_TAPS=0: the first layer on vol2col + sgemm, as before conv_taps.c. */
    const char *taps = getenv("HSI_CNN_TAPS");
    if (taps) hsi_cnn_cpu_set_tap_kernels(atoi(taps));
    /* HSI_CNN_FUSE=0: conv and max-pool as two passes, as before the fusion. */
    const char *fuse = getenv("HSI_CNN_FUSE");
    if (fuse) hsi_cnn_cpu_set_fused_pool(atoi(fuse));
    /* HSI_CNN_WINOGRAD=0: the spectral Winograd convs on the depth-shift sgemms. */
    const char *wino = getenv("HSI_CNN_WINOGRAD");
    if (wino) hsi_cnn_cpu_set_winograd(atoi(wino));
    /* HSI_CNN_PRECISION=bf16: the shift convs' GEMMs in bf16 (hsi cnn --precision). */
    const char *prec_env = getenv("HSI_CNN_PRECISION");
    const int bf16 = prec_env && !strcmp(prec_env, "bf16");
    int bands = atoi(argv[2]), batch = atoi(argv[3]), steps = atoi(argv[4]);
    int classes = argc > 5 ? atoi(argv[5]) : 16;
    hsi_cnn_spec *spec;
    if (hsi_cnn_spec_load(path, &spec)) {
        fprintf(stderr, "cnn_throughput: %s\n", hsi_last_error());
        return 1;
    }
    const char *dev = getenv("HSI_CNN_DEVICE");
    const char *det = getenv("HSI_CNN_DETERMINISTIC");
    const char *ib = getenv("HSI_CNN_INFER_BATCH");
    int infer_batch = ib && atoi(ib) > 0 ? atoi(ib) : 100;
    hsi_cnn_device_options dopt = {det && atoi(det), 0};
    const hsi_cnn_backend *be;
    char note[640], described[512];
    if (hsi_cnn_device_open(dev, &dopt, &be, note, sizeof note)) {
        fprintf(stderr, "cnn_throughput: %s\n", hsi_last_error());
        return 1;
    }
    hsi_cnn_device_describe(be, described, sizeof described);
    hsi_cnn_net_options o = {.bands = bands, .classes = classes, .max_batch = batch,
                             .training = 1, .seed = 1, .backend = be};
    hsi_cnn_net *net;
    if (hsi_cnn_net_new(spec, &o, &net) ||
        (bf16 && hsi_cnn_net_set_precision(net, HSI_CNN_BF16))) {
        fprintf(stderr, "cnn_throughput: %s\n", hsi_last_error());
        return 1;
    }
    const char *freeze = getenv("HSI_CNN_FREEZE");
    if (freeze && *freeze) {
        uint8_t *frozen = calloc((size_t)net->n_layers, 1);
        if (!frozen || hsi_cnn_freeze_parse(freeze, net->spec->layers, net->n_layers, frozen) ||
            hsi_cnn_net_set_frozen(net, frozen)) {
            fprintf(stderr, "cnn_throughput: HSI_CNN_FREEZE: %s\n",
                    frozen ? hsi_last_error() : "out of memory");
            return 1;
        }
        free(frozen);
    }
    double flops = 0;
    for (int i = 0; i < net->n_layers; i++) flops += net->layers[i].flops;
    size_t in = hsi_cnn_shape_size(net->input);
    hsi_rng rng;
    hsi_rng_seed(&rng, 3);
    size_t nx = (size_t)(batch > infer_batch ? batch : infer_batch);
    float *x = malloc(sizeof(float) * in * nx);
    int32_t *y = malloc(sizeof(int32_t) * batch);
    for (size_t i = 0; i < in * nx; i++) x[i] = (float)hsi_rng_normal(&rng);
    for (int i = 0; i < batch; i++) y[i] = (int32_t)hsi_rng_below(&rng, classes);
    /* The peer trains with lr 0.01; so do we here (lr 1 on random data diverges). */
    net->spec->learning_rate = 0.01;
    net->spec->decay = 0;
    const char *up = getenv("HSI_CNN_UPLOAD");
    const int resident = be->device && !(up && atoi(up));
    const float *xs = x;
    if (resident) { /* the batch stays on the device, as the peer's */
        be->upload(be, net->x, x, sizeof(float) * in * batch);
        xs = net->x;
    }
    for (int i = 0; i < 3; i++) hsi_cnn_train_step(net, xs, y, NULL, batch, NULL);
    double t = now(), c = cpu_now();
    for (int i = 0; i < steps; i++) {
        hsi_cnn_train_step_begin(net, xs, y, NULL, batch);
        if (i > 0) hsi_cnn_train_step_end(net, NULL);
    }
    hsi_cnn_train_step_end(net, NULL);
    double train_s = (now() - t) / steps, train_cpu = (cpu_now() - c) / steps;
    if (hsi_cnn_backend_check(be)) {
        fprintf(stderr, "cnn_throughput: %s\n", hsi_last_error());
        return 1;
    }
    hsi_cnn_net_free(net);

    hsi_cnn_net_options oi = {.bands = bands, .classes = classes, .max_batch = infer_batch,
                              .seed = 1, .backend = be};
    if (hsi_cnn_net_new(spec, &oi, &net) ||
        (bf16 && hsi_cnn_net_set_precision(net, HSI_CNN_BF16))) {
        fprintf(stderr, "cnn_throughput: %s\n", hsi_last_error());
        return 1;
    }
    xs = x;
    if (resident) {
        be->upload(be, net->x, x, sizeof(float) * in * infer_batch);
        xs = net->x;
    }
    hsi_cnn_forward(net, xs, infer_batch, 0);
    t = now(), c = cpu_now();
    for (int r = 0; r < 5; r++) hsi_cnn_forward(net, xs, infer_batch, 0);
    double infer_s = now() - t, infer_cpu = (cpu_now() - c) / 5 * (100.0 / infer_batch);
    if (hsi_cnn_backend_check(be)) {
        fprintf(stderr, "cnn_throughput: %s\n", hsi_last_error());
        return 1;
    }
    int threads = hsi_max_threads();
    printf("bands=%d batch=%d train_samples_per_s=%.1f infer_samples_per_s=%.1f "
           "train_gflops=%.1f infer_gflops=%.1f forward_mflop_per_sample=%.1f threads=%d "
           "blas_kernels=%s conv_taps=%s precision=%s train_cpu_ms=%.1f infer_cpu_ms=%.1f "
           "infer_batch=%d resident=%d frozen=%s device=\"%s\"\n",
           bands, batch, batch / train_s, 5.0 * infer_batch / infer_s,
           3 * flops * batch / train_s / 1e9, flops * 5.0 * infer_batch / infer_s / 1e9,
           flops / 1e6, threads, blas_kernels(), hsi_cnn_taps_isa(), bf16 ? "bf16" : "fp32", train_cpu * 1e3, infer_cpu * 1e3,
           infer_batch, resident, freeze && *freeze ? freeze : "none", described);
    hsi_cnn_net_free(net);
    hsi_cnn_device_close(be);
    hsi_cnn_spec_free(spec);
    free(x), free(y);
    return 0;
}
