/* cnn_layers.c - where a training step's time goes: every convolution,
 * pooling and padding primitive of a spec's net, timed alone on the CPU
 * backend with the geometry the net runs it with (zeropads folded into the
 * next conv, etc.), on random data.
 *
 *   cnn_layers SPEC BANDS [BATCH [REPS]]      (defaults: batch 50, 10 reps)
 *
 * One line per layer: milliseconds per batch for the forward pass, the
 * filter gradient and the data gradient (the first layer's is not needed in
 * training and is shown in brackets), and GFLOP/s of each convolution pass
 * (2 per multiply-add, as in `hsi cnn summary`), with the path the CPU
 * backend takes (hsi_cnn_cpu_conv_path). Thin layers on the shifted-row
 * kernels ("taps", cnn3d/conv_taps.c) are timed a second time on vol2col +
 * sgemm, the path they took before (HSI_CNN_TAPS=0 in bench/cnn_throughput).
 * A conv + ReLU followed by a max-pool is also timed as the one fused call
 * the net makes (conv3d_forward_maxpool; HSI_CNN_FUSE=0 in cnn_throughput
 * turns it off there). HSI_CNN_PRECISION=bf16 times the convs as
 * `--precision bf16` runs them.
 *
 * The last line sums what a training step runs of these, wall and CPU: the
 * fused forward in place of the conv's and the pool's, the passes of the
 * path the backend takes by default.
 *
 * Layers on Winograd ("winograd", cnn3d/conv_winograd.c) are timed with it
 * and on the depth-shift sgemms it replaces ("shift"), alternating ROUNDS
 * times (the 5th argument, default 3), best round of each. Every line gives
 * wall milliseconds and, in "cpu", the process's CPU milliseconds per call
 * (all threads): on a machine shared with other jobs CPU time is what the
 * pass cost, wall time also counts the waits for a core.
 *
 *   cnn_layers SPEC BANDS [BATCH [REPS [ROUNDS]]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/rng.h"
#include "cnn3d/cnn.h"
#include "cnn3d/conv_taps.h"

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

static float *random_floats(hsi_rng *rng, size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) {
        fprintf(stderr, "cnn_layers: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) v[i] = (float)hsi_rng_normal(rng);
    return v;
}

/* Milliseconds per call of the three conv passes, wall (ms) and CPU (cpu). */
static void time_conv(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd, int reps,
                      hsi_rng *rng, double ms[3], double cpu[3])
{
    size_t nx = (size_t)cd->n * cd->c * cd->d * cd->h * cd->w;
    size_t nw = (size_t)cd->f * cd->c * cd->kd * cd->kh * cd->kw;
    size_t ny = (size_t)cd->n * cd->f * cd->od * cd->oh * cd->ow;
    float *x = random_floats(rng, nx), *w = random_floats(rng, nw), *b = random_floats(rng, cd->f);
    float *y = random_floats(rng, ny), *dy = random_floats(rng, ny), *dx = random_floats(rng, nx);
    float *dw = random_floats(rng, nw), *db = random_floats(rng, cd->f);
    float *work = random_floats(rng, be->conv3d_workspace(be, cd));
    be->conv3d_forward(be, cd, x, w, b, HSI_CNN_ACT_RELU, y, work); /* warm-up */
    double t = now(), c = cpu_now();
    for (int r = 0; r < reps; r++) be->conv3d_forward(be, cd, x, w, b, HSI_CNN_ACT_RELU, y, work);
    ms[0] = (now() - t) * 1e3 / reps, cpu[0] = (cpu_now() - c) * 1e3 / reps;
    t = now(), c = cpu_now();
    for (int r = 0; r < reps; r++) be->conv3d_backward_filter(be, cd, x, dy, dw, db, work);
    ms[1] = (now() - t) * 1e3 / reps, cpu[1] = (cpu_now() - c) * 1e3 / reps;
    t = now(), c = cpu_now();
    for (int r = 0; r < reps; r++) be->conv3d_backward_data(be, cd, dy, w, dx, work);
    ms[2] = (now() - t) * 1e3 / reps, cpu[2] = (cpu_now() - c) * 1e3 / reps;
    free(x), free(w), free(b), free(y), free(dy), free(dx), free(dw), free(db), free(work);
}

/* Milliseconds per call of conv + ReLU + max-pool as one fused call
 * (conv3d_forward_maxpool), wall (returned) and CPU (*cpu); < 0 where the
 * backend does not fuse them. */
static double time_fused(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd,
                         const hsi_cnn_pool_desc *pd, int reps, hsi_rng *rng, double *cpu)
{
    if (!be->conv3d_forward_maxpool) return -1;
    size_t nx = (size_t)cd->n * cd->c * cd->d * cd->h * cd->w;
    size_t nw = (size_t)cd->f * cd->c * cd->kd * cd->kh * cd->kw;
    size_t ny = (size_t)pd->n * pd->c * pd->od * pd->oh * pd->ow;
    float *x = random_floats(rng, nx), *w = random_floats(rng, nw), *b = random_floats(rng, cd->f);
    float *y = random_floats(rng, ny), *work = random_floats(rng, be->conv3d_workspace(be, cd));
    int32_t *argmax = calloc(ny ? ny : 1, sizeof *argmax);
    double ms = -1;
    if (be->conv3d_forward_maxpool(be, cd, x, w, b, HSI_CNN_ACT_RELU, pd, y, argmax, work)) {
        double t = now(), c = cpu_now();
        for (int r = 0; r < reps; r++)
            be->conv3d_forward_maxpool(be, cd, x, w, b, HSI_CNN_ACT_RELU, pd, y, argmax, work);
        ms = (now() - t) * 1e3 / reps;
        *cpu = (cpu_now() - c) * 1e3 / reps;
    }
    free(x), free(w), free(b), free(y), free(work), free(argmax);
    return ms;
}

static void time_pool(const hsi_cnn_backend *be, const hsi_cnn_layer *L, int reps, hsi_rng *rng,
                      double ms[2], double cpu[2])
{
    const hsi_cnn_pool_desc *pd = &L->pool;
    size_t nx = (size_t)pd->n * pd->c * pd->d * pd->h * pd->w;
    size_t ny = (size_t)pd->n * pd->c * pd->od * pd->oh * pd->ow;
    float *x = random_floats(rng, nx), *y = random_floats(rng, ny), *dx = random_floats(rng, nx);
    int32_t *argmax = calloc(ny ? ny : 1, sizeof *argmax);
    double t = now(), c = cpu_now();
    for (int r = 0; r < reps; r++) {
        if (L->spec.kind == HSI_CNN_MAXPOOL3D) be->maxpool3d_forward(be, pd, x, y, argmax);
        else if (L->spec.kind == HSI_CNN_AVGPOOL3D) be->avgpool3d_forward(be, pd, x, y);
        else be->pad3d_forward(be, pd, x, y);
    }
    ms[0] = (now() - t) * 1e3 / reps, cpu[0] = (cpu_now() - c) * 1e3 / reps;
    t = now(), c = cpu_now();
    for (int r = 0; r < reps; r++) {
        if (L->spec.kind == HSI_CNN_MAXPOOL3D) be->maxpool3d_backward(be, pd, y, argmax, y, dx);
        else if (L->spec.kind == HSI_CNN_AVGPOOL3D) be->avgpool3d_backward(be, pd, y, dx);
        else be->pad3d_backward(be, pd, y, dx);
    }
    ms[1] = (now() - t) * 1e3 / reps, cpu[1] = (cpu_now() - c) * 1e3 / reps;
    free(x), free(y), free(dx), free(argmax);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: cnn_layers SPEC BANDS [BATCH [REPS [ROUNDS]]]\n");
        return 2;
    }
    int bands = atoi(argv[2]), batch = argc > 3 ? atoi(argv[3]) : 50;
    int reps = argc > 4 ? atoi(argv[4]) : 10, rounds = argc > 5 ? atoi(argv[5]) : 3;
    if (rounds < 1) rounds = 1;
    /* HSI_CNN_PRECISION=bf16: the convs as `--precision bf16` runs them. */
    const char *prec = getenv("HSI_CNN_PRECISION");
    const int bf16 = prec && !strcmp(prec, "bf16");
    hsi_cnn_spec *spec;
    hsi_cnn_net *net;
    if (hsi_cnn_spec_load(argv[1], &spec)) {
        fprintf(stderr, "cnn_layers: %s\n", hsi_last_error());
        return 1;
    }
    hsi_cnn_net_options o = {.bands = bands, .classes = 16, .max_batch = batch, .training = 1,
                             .seed = 1};
    if (hsi_cnn_net_new(spec, &o, &net)) {
        fprintf(stderr, "cnn_layers: %s\n", hsi_last_error());
        return 1;
    }
    const hsi_cnn_backend *be = net->be;
    hsi_rng rng;
    hsi_rng_seed(&rng, 5);
    if (bf16 && hsi_cnn_net_set_precision(net, HSI_CNN_BF16)) {
        fprintf(stderr, "cnn_layers: %s\n", hsi_last_error());
        return 1;
    }
    printf("# %s, %d bands, batch %d, %s, ms per batch (mean of %d; winograd/shift: best of %d "
           "alternating rounds), wall and cpu; conv taps %s\n",
           argv[1], bands, batch, bf16 ? "bf16" : "fp32", reps, rounds, hsi_cnn_taps_isa());
    double total = 0, total_cpu = 0;
    int first_conv = 1;
    for (int i = 0; i < net->n_layers; i++) {
        hsi_cnn_layer *L = &net->layers[i];
        if (L->folded) {
            printf("%2d %-14s folded into the next conv's padding\n", i + 1, "zeropad3d");
            continue;
        }
        if (L->spec.kind == HSI_CNN_CONV3D) {
            hsi_cnn_conv_desc cd = L->conv;
            cd.n = batch;
            cd.bf16 = bf16;
            const double mflop = L->flops * batch / 1e6; /* per pass; MFLOP / ms = GFLOP/s */
            const char *path = hsi_cnn_cpu_conv_path(&cd);
            hsi_cnn_layer *P = i + 1 < net->n_layers ? L + 1 : NULL;
            const int fusable = P && P->spec.kind == HSI_CNN_MAXPOOL3D &&
                                L->spec.activation == HSI_CNN_ACT_RELU;
            hsi_cnn_pool_desc pd = fusable ? P->pool : (hsi_cnn_pool_desc){0};
            pd.n = batch;
            /* Thin layers once on their tap kernels and once as they ran
             * before; Winograd layers with and without it, alternating. */
            const int taps = !strcmp(path, "taps"), wino = !strcmp(path, "winograd");
            const int ways = taps || wino ? 2 : 1, nr = wino ? rounds : 1;
            double best[2][3], bcpu[2][3], fbest[2] = {-1, -1}, fcpu[2] = {0, 0};
            for (int r = 0; r < nr; r++)
                for (int way = 0; way < ways; way++) {
                    double ms[3], cpu[3], fc = 0;
                    if (taps) hsi_cnn_cpu_set_tap_kernels(way == 0);
                    if (wino) hsi_cnn_cpu_set_winograd(way == 0);
                    time_conv(be, &cd, reps, &rng, ms, cpu);
                    double fm = fusable ? time_fused(be, &cd, &pd, reps, &rng, &fc) : -1;
                    for (int k = 0; k < 3; k++) {
                        if (r == 0 || ms[k] < best[way][k]) best[way][k] = ms[k];
                        if (r == 0 || cpu[k] < bcpu[way][k]) bcpu[way][k] = cpu[k];
                    }
                    if (r == 0 || fm < fbest[way]) fbest[way] = fm;
                    if (r == 0 || fc < fcpu[way]) fcpu[way] = fc;
                }
            for (int way = 0; way < ways; way++) {
                const double *ms = best[way], *cpu = bcpu[way];
                if (taps) hsi_cnn_cpu_set_tap_kernels(way == 0);
                if (wino) hsi_cnn_cpu_set_winograd(way == 0);
                printf("%2d conv3d %-8s forward %7.1f (%4.0f GFLOP/s, cpu %7.1f)  filter %7.1f "
                       "(%4.0f, cpu %7.1f)  data %s%7.1f (%4.0f, cpu %7.1f)%s\n",
                       i + 1, hsi_cnn_cpu_conv_path(&cd), ms[0], mflop / ms[0], cpu[0], ms[1],
                       mflop / ms[1], cpu[1], first_conv ? "[" : " ", ms[2], mflop / ms[2],
                       cpu[2], first_conv ? "]" : "");
                if (fbest[way] >= 0)
                    printf("%2d+%-2d conv3d + maxpool3d fused forward %7.1f (cpu %7.1f; the net "
                           "runs this, not the two forwards)\n",
                           i + 1, i + 2, fbest[way], fcpu[way]);
                if (way == 0) {
                    /* the net runs the fused forward where there is one */
                    total += (fbest[0] >= 0 ? fbest[0] : ms[0]) + ms[1] + (first_conv ? 0 : ms[2]);
                    total_cpu += (fbest[0] >= 0 ? fcpu[0] : cpu[0]) + cpu[1] +
                                 (first_conv ? 0 : cpu[2]);
                }
            }
            if (wino)
                printf("%2d winograd / shift, cpu time: forward %.2f  filter %.2f  data %.2f%s\n",
                       i + 1, bcpu[0][0] / bcpu[1][0], bcpu[0][1] / bcpu[1][1],
                       bcpu[0][2] / bcpu[1][2], first_conv ? " (data not in training)" : "");
            hsi_cnn_cpu_set_tap_kernels(1);
            hsi_cnn_cpu_set_winograd(1);
            first_conv = 0;
        } else if (L->spec.kind == HSI_CNN_MAXPOOL3D || L->spec.kind == HSI_CNN_AVGPOOL3D ||
                   L->spec.kind == HSI_CNN_ZEROPAD3D) {
            double ms[2], cpu[2];
            L->pool.n = batch;
            time_pool(be, L, reps, &rng, ms, cpu);
            /* A max-pool after a fused conv: its forward is in the conv's. */
            const int fused = i > 0 && L[-1].spec.kind == HSI_CNN_CONV3D &&
                              L->spec.kind == HSI_CNN_MAXPOOL3D &&
                              L[-1].spec.activation == HSI_CNN_ACT_RELU;
            printf("%2d %-14s forward %7.1f (cpu %7.1f)%s  backward %7.1f (cpu %7.1f)\n", i + 1,
                   L->spec.kind == HSI_CNN_MAXPOOL3D   ? "maxpool3d"
                   : L->spec.kind == HSI_CNN_AVGPOOL3D ? "avgpool3d"
                                                       : "zeropad3d",
                   ms[0], cpu[0], fused ? " [fused]" : "", ms[1], cpu[1]);
            total += (fused ? 0 : ms[0]) + ms[1];
            total_cpu += (fused ? 0 : cpu[0]) + cpu[1];
        }
    }
    printf("sum of the timed passes a training step runs: %.1f ms per batch (cpu %.1f)\n", total,
           total_cpu);
    hsi_cnn_net_free(net);
    hsi_cnn_spec_free(spec);
    return 0;
}
