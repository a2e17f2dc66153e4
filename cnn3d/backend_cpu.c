/* backend_cpu.c - the CPU backend: conv3d as vol2col + OpenBLAS sgemm (or,
 * for thin first layers, the shifted-row kernels of conv_taps.c), and the
 * reference backend (naive direct conv3d, the test oracle).
 *
 * Threads: convolutions run OpenMP over samples (and, in the forward pass,
 * over blocks of output depth slices); each thread calls a single-threaded
 * sgemm on its own block, which keeps both cores busy without two thread
 * pools (OpenMP's and OpenBLAS's) fighting over them. vol2col is done a
 * block of output depth slices at a time so the column matrix (K x block)
 * stays in cache instead of streaming the whole K x (D*H*W) matrix, which
 * for the Lange net's second layer would be 15 MB per sample.
 */
#include "cnn3d/backend.h"
#include "base/cpu.h"
#include "cnn3d/conv_taps.h"
#include "cnn3d/conv_winograd.h"
#include "cnn3d/gemm_bf16.h"
#include "cnn3d/rnn.h"
#include "features/patch.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Column-block size per thread. 4 MiB holds a whole Lange-net sample per
 * block (conv1: 1.9 MB of columns; conv2: 3.3 MB of plane columns), which
 * matters for the shift scheme's backward passes: each block pays kd - 1
 * zero-padded planes (see shift_expand), 22% extra work at 1 MiB on conv2. */
#define DEFAULT_BLOCK_BYTES (4096u * 1024u)

static size_t block_bytes = DEFAULT_BLOCK_BYTES;

void hsi_cnn_cpu_set_block_bytes(size_t bytes)
{
    block_bytes = bytes ? bytes : DEFAULT_BLOCK_BYTES;
}

static int tap_kernels = 1;

void hsi_cnn_cpu_set_tap_kernels(int enabled)
{
    tap_kernels = enabled;
}

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Run sgemm single-threaded inside our own parallel regions; restore after. */
static int blas_threads_save(void)
{
    int saved = openblas_get_num_threads();
    if (saved != 1) openblas_set_num_threads(1);
    return saved;
}

static void blas_threads_restore(int saved)
{
    if (saved != 1) openblas_set_num_threads(saved);
}

/* ---------------------------------------------------------------- memory */

static void *cpu_alloc(const hsi_cnn_backend *be, size_t bytes)
{
    (void)be;
    void *p = NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded == 0) rounded = 64;
    if (posix_memalign(&p, 64, rounded)) return NULL;
    memset(p, 0, rounded);
    return p;
}

static void cpu_release(const hsi_cnn_backend *be, void *p)
{
    (void)be;
    free(p);
}

static void cpu_memcpy(const hsi_cnn_backend *be, void *dst, const void *src, size_t bytes)
{
    (void)be;
    if (bytes) memmove(dst, src, bytes);
}

static void cpu_gemm(const hsi_cnn_backend *be, int trans_a, int trans_b, int m, int n, int k,
                     float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                     float *c, int ldc)
{
    (void)be;
    /* The dense layers' gemms are small (batch x 3456 x 128 for the Lange
     * net): OpenBLAS's own thread pool would only fight the OpenMP team. */
    int saved = blas_threads_save();
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
                ldc);
    blas_threads_restore(saved);
}

/* ---------------------------------------------------------------- naive conv3d */

void hsi_cnn_conv3d_naive_forward(const hsi_cnn_conv_desc *cd, const float *x, const float *w,
                                  const float *bias, float *y)
{
    size_t in_vol = (size_t)cd->d * cd->h * cd->w, out_vol = (size_t)cd->od * cd->oh * cd->ow;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < cd->n; n++)
        for (int f = 0; f < cd->f; f++)
            for (int od = 0; od < cd->od; od++)
                for (int oh = 0; oh < cd->oh; oh++)
                    for (int ow = 0; ow < cd->ow; ow++) {
                        double acc = bias ? bias[f] : 0.0;
                        for (int c = 0; c < cd->c; c++)
                            for (int a = 0; a < cd->kd; a++) {
                                int id = od * cd->sd - cd->pd + a;
                                if (id < 0 || id >= cd->d) continue;
                                for (int b = 0; b < cd->kh; b++) {
                                    int ih = oh * cd->sh - cd->ph + b;
                                    if (ih < 0 || ih >= cd->h) continue;
                                    for (int e = 0; e < cd->kw; e++) {
                                        int iw = ow * cd->sw - cd->pw + e;
                                        if (iw < 0 || iw >= cd->w) continue;
                                        acc += (double)x[((size_t)n * cd->c + c) * in_vol +
                                                         ((size_t)id * cd->h + ih) * cd->w + iw] *
                                               w[((((size_t)f * cd->c + c) * cd->kd + a) * cd->kh +
                                                  b) * cd->kw + e];
                                    }
                                }
                            }
                        y[((size_t)n * cd->f + f) * out_vol + ((size_t)od * cd->oh + oh) * cd->ow +
                          ow] = (float)acc;
                    }
}

/* dx(n,c,i) = sum over outputs o that read input i of dy(n,f,o) w(f,c,o->i);
 * computed input-centred so every dx element has one writer. */
void hsi_cnn_conv3d_naive_backward_data(const hsi_cnn_conv_desc *cd, const float *dy,
                                        const float *w, float *dx)
{
    size_t in_vol = (size_t)cd->d * cd->h * cd->w, out_vol = (size_t)cd->od * cd->oh * cd->ow;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < cd->n; n++)
        for (int c = 0; c < cd->c; c++)
            for (int id = 0; id < cd->d; id++)
                for (int ih = 0; ih < cd->h; ih++)
                    for (int iw = 0; iw < cd->w; iw++) {
                        double acc = 0;
                        for (int f = 0; f < cd->f; f++)
                            for (int a = 0; a < cd->kd; a++) {
                                int t = id + cd->pd - a;
                                if (t < 0 || t % cd->sd) continue;
                                int od = t / cd->sd;
                                if (od >= cd->od) continue;
                                for (int b = 0; b < cd->kh; b++) {
                                    int u = ih + cd->ph - b;
                                    if (u < 0 || u % cd->sh) continue;
                                    int oh = u / cd->sh;
                                    if (oh >= cd->oh) continue;
                                    for (int e = 0; e < cd->kw; e++) {
                                        int v = iw + cd->pw - e;
                                        if (v < 0 || v % cd->sw) continue;
                                        int ow = v / cd->sw;
                                        if (ow >= cd->ow) continue;
                                        acc += (double)dy[((size_t)n * cd->f + f) * out_vol +
                                                          ((size_t)od * cd->oh + oh) * cd->ow + ow] *
                                               w[((((size_t)f * cd->c + c) * cd->kd + a) * cd->kh +
                                                  b) * cd->kw + e];
                                    }
                                }
                            }
                        dx[((size_t)n * cd->c + c) * in_vol + ((size_t)id * cd->h + ih) * cd->w +
                           iw] = (float)acc;
                    }
}

void hsi_cnn_conv3d_naive_backward_filter(const hsi_cnn_conv_desc *cd, const float *x,
                                          const float *dy, float *dw, float *dbias)
{
    size_t in_vol = (size_t)cd->d * cd->h * cd->w, out_vol = (size_t)cd->od * cd->oh * cd->ow;
#pragma omp parallel for collapse(2) schedule(static)
    for (int f = 0; f < cd->f; f++)
        for (int c = 0; c < cd->c; c++)
            for (int a = 0; a < cd->kd; a++)
                for (int b = 0; b < cd->kh; b++)
                    for (int e = 0; e < cd->kw; e++) {
                        double acc = 0;
                        for (int n = 0; n < cd->n; n++)
                            for (int od = 0; od < cd->od; od++) {
                                int id = od * cd->sd - cd->pd + a;
                                if (id < 0 || id >= cd->d) continue;
                                for (int oh = 0; oh < cd->oh; oh++) {
                                    int ih = oh * cd->sh - cd->ph + b;
                                    if (ih < 0 || ih >= cd->h) continue;
                                    for (int ow = 0; ow < cd->ow; ow++) {
                                        int iw = ow * cd->sw - cd->pw + e;
                                        if (iw < 0 || iw >= cd->w) continue;
                                        acc += (double)x[((size_t)n * cd->c + c) * in_vol +
                                                         ((size_t)id * cd->h + ih) * cd->w + iw] *
                                               dy[((size_t)n * cd->f + f) * out_vol +
                                                  ((size_t)od * cd->oh + oh) * cd->ow + ow];
                                    }
                                }
                            }
                        dw[((((size_t)f * cd->c + c) * cd->kd + a) * cd->kh + b) * cd->kw + e] =
                            (float)acc;
                    }
    if (dbias)
        for (int f = 0; f < cd->f; f++) {
            double acc = 0;
            for (int n = 0; n < cd->n; n++)
                for (size_t o = 0; o < out_vol; o++) acc += dy[((size_t)n * cd->f + f) * out_vol + o];
            dbias[f] = (float)acc;
        }
}

static size_t naive_workspace(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd)
{
    (void)be;
    (void)cd;
    return 0;
}

static void cpu_activation_forward(const hsi_cnn_backend *be, hsi_cnn_activation act, int rows,
                                   int cols, float *y);

static void naive_forward(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd, const float *x,
                          const float *w, const float *bias, hsi_cnn_activation act, float *y,
                          float *work)
{
    (void)work;
    hsi_cnn_conv3d_naive_forward(cd, x, w, bias, y);
    cpu_activation_forward(be, act, cd->n * cd->f, cd->od * cd->oh * cd->ow, y);
}

static void naive_backward_data(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd,
                                const float *dy, const float *w, float *dx, float *work)
{
    (void)be;
    (void)work;
    hsi_cnn_conv3d_naive_backward_data(cd, dy, w, dx);
}

static void naive_backward_filter(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd,
                                  const float *x, const float *dy, float *dw, float *dbias,
                                  float *work)
{
    (void)be;
    (void)work;
    hsi_cnn_conv3d_naive_backward_filter(cd, x, dy, dw, dbias);
}

/* ---------------------------------------------------------------- vol2col conv3d */

/* Rows of the column matrix: K = c * kd * kh * kw, row k = ((c*kd + a)*kh + b)*kw + e,
 * the same order as the weights (f, c, kd, kh, kw), so y = W (f x K) . col. */
static int conv_rows(const hsi_cnn_conv_desc *cd)
{
    return cd->c * cd->kd * cd->kh * cd->kw;
}

/* Output depth slices per vol2col block. */
static int conv_block_depth(const hsi_cnn_conv_desc *cd)
{
    size_t slice = (size_t)conv_rows(cd) * cd->oh * cd->ow * sizeof(float);
    int nd = (int)(block_bytes / (slice ? slice : 1));
    if (nd < 1) nd = 1;
    if (nd > cd->od) nd = cd->od;
    return nd;
}

/* col (K x nd*oh*ow) = the input values each output of slices [d0, d0+nd) reads;
 * x is one sample (c, d, h, w). */
static void vol2col(const hsi_cnn_conv_desc *cd, const float *x, int d0, int nd, float *col)
{
    const int cols = nd * cd->oh * cd->ow;
    for (int c = 0; c < cd->c; c++)
        for (int a = 0; a < cd->kd; a++)
            for (int b = 0; b < cd->kh; b++)
                for (int e = 0; e < cd->kw; e++) {
                    float *dst = col + (size_t)(((c * cd->kd + a) * cd->kh + b) * cd->kw + e) * cols;
                    for (int od = d0; od < d0 + nd; od++) {
                        int id = od * cd->sd - cd->pd + a;
                        if (id < 0 || id >= cd->d) {
                            memset(dst, 0, sizeof(float) * cd->oh * cd->ow);
                            dst += cd->oh * cd->ow;
                            continue;
                        }
                        const float *plane = x + ((size_t)c * cd->d + id) * cd->h * cd->w;
                        for (int oh = 0; oh < cd->oh; oh++, dst += cd->ow) {
                            int ih = oh * cd->sh - cd->ph + b;
                            if (ih < 0 || ih >= cd->h) {
                                memset(dst, 0, sizeof(float) * cd->ow);
                                continue;
                            }
                            const float *row = plane + (size_t)ih * cd->w;
                            if (cd->sw == 1 && cd->pw == 0 && cd->ow - 1 + e < cd->w) {
                                memcpy(dst, row + e, sizeof(float) * cd->ow);
                                continue;
                            }
                            for (int ow = 0; ow < cd->ow; ow++) {
                                int iw = ow * cd->sw - cd->pw + e;
                                dst[ow] = iw >= 0 && iw < cd->w ? row[iw] : 0.0f;
                            }
                        }
                    }
                }
}

/* The adjoint of vol2col: dx (one sample) += scatter of col. */
static void col2vol_add(const hsi_cnn_conv_desc *cd, const float *col, int d0, int nd, float *dx)
{
    const int cols = nd * cd->oh * cd->ow;
    for (int c = 0; c < cd->c; c++)
        for (int a = 0; a < cd->kd; a++)
            for (int b = 0; b < cd->kh; b++)
                for (int e = 0; e < cd->kw; e++) {
                    const float *src =
                        col + (size_t)(((c * cd->kd + a) * cd->kh + b) * cd->kw + e) * cols;
                    for (int od = d0; od < d0 + nd; od++) {
                        int id = od * cd->sd - cd->pd + a;
                        if (id < 0 || id >= cd->d) {
                            src += cd->oh * cd->ow;
                            continue;
                        }
                        float *plane = dx + ((size_t)c * cd->d + id) * cd->h * cd->w;
                        for (int oh = 0; oh < cd->oh; oh++, src += cd->ow) {
                            int ih = oh * cd->sh - cd->ph + b;
                            if (ih < 0 || ih >= cd->h) continue;
                            float *row = plane + (size_t)ih * cd->w;
                            for (int ow = 0; ow < cd->ow; ow++) {
                                int iw = ow * cd->sw - cd->pw + e;
                                if (iw >= 0 && iw < cd->w) row[iw] += src[ow];
                            }
                        }
                    }
                }
}

/* ---- depth-shift scheme (spectral stride 1) ----
 *
 * The rows of the column matrix for kernel depth offsets a = 0..kd-1 are the
 * same data shifted by a output slices: col[(c,a,b,e)][(od,oh,ow)] =
 * G[(c,b,e)][(od+a, oh, ow)] with G the 2-D ("plane") columns of every input
 * depth slice. So each block builds G once (R = c*kh*kw rows, kd times fewer
 * than vol2col's K) and runs kd sgemms over shifted column windows of it:
 *     y_block = sum_a Wp[a] (f x R) . G[:, a*plane ..]
 * with Wp[a][f][(c,b,e)] = w[f][c][a][b][e]. Building, and in the backward
 * pass scattering, 5x less data is what makes this pay on the Lange net,
 * whose 9 x 9 patches make every plane tiny. */

static int shift_rows(const hsi_cnn_conv_desc *cd)
{
    return cd->c * cd->kh * cd->kw;
}

/* The scheme needs spectral stride 1; with few rows (the first layer, c = 1)
 * the sgemms would be too thin and plain vol2col is better. */
static int use_shift(const hsi_cnn_conv_desc *cd)
{
    return cd->sd == 1 && cd->kd > 1 && shift_rows(cd) >= 64;
}

/* Stride 1 and no padding in x and y: every window lies inside the plane. */
static int plane_is_simple(const hsi_cnn_conv_desc *cd)
{
    return cd->sh == 1 && cd->sw == 1 && cd->ph == 0 && cd->pw == 0;
}

/* Where the depth-shift sgemms would be too thin, stride 1 everywhere and no
 * x/y padding: the shifted-row kernels (conv_taps.h) read the plane matrix
 * of a whole sample in place (forward and filter gradient; the data
 * gradient, which the first layer does not need, stays on vol2col). */
static int use_taps(const hsi_cnn_conv_desc *cd)
{
    static int cpu_ok = -1; /* asked once; any thread would store the same value */
    if (cpu_ok < 0) cpu_ok = hsi_cnn_taps_cpu_ok();
    return tap_kernels && cpu_ok && !use_shift(cd) && cd->sd == 1 && plane_is_simple(cd);
}

static int use_wino(const hsi_cnn_conv_desc *cd);

const char *hsi_cnn_cpu_conv_path(const hsi_cnn_conv_desc *cd)
{
    return use_wino(cd) ? "winograd" : use_shift(cd) ? "shift" : use_taps(cd) ? "taps" : "vol2col";
}

/* G of vol2plane for all of one sample's output slices: its row stride. */
static size_t taps_gstride(const hsi_cnn_conv_desc *cd)
{
    return (size_t)(cd->od + cd->kd - 1) * cd->oh * cd->ow;
}

static int shift_block_depth(const hsi_cnn_conv_desc *cd)
{
    size_t slice = (size_t)shift_rows(cd) * cd->oh * cd->ow * sizeof(float);
    long nd = (long)(block_bytes / (slice ? slice : 1)) - (cd->kd - 1);
    if (nd < 1) nd = 1;
    if (nd > cd->od) nd = cd->od;
    return (int)nd;
}

/* Copy (or add) an oh x ow window of a plane with row stride w. The widths of
 * the nets we ship (3, 5, 7) get straight-line code: these tiny rows are why
 * this loop is worth specialising. */
/* Spelled out (not loops) so the compiler neither calls memcpy for 5 floats
 * nor keeps a loop counter. */
#define COPY3(d, s) ((d)[0] = (s)[0], (d)[1] = (s)[1], (d)[2] = (s)[2])
#define COPY5(d, s) (COPY3(d, s), (d)[3] = (s)[3], (d)[4] = (s)[4])
#define COPY7(d, s) (COPY5(d, s), (d)[5] = (s)[5], (d)[6] = (s)[6])

static inline void window_copy(float *restrict dst, const float *restrict src, int oh, int ow,
                               int w)
{
    switch (ow) {
    case 3:
        for (int r = 0; r < oh; r++, dst += 3, src += w) COPY3(dst, src);
        break;
    case 5:
        for (int r = 0; r < oh; r++, dst += 5, src += w) COPY5(dst, src);
        break;
    case 7:
        for (int r = 0; r < oh; r++, dst += 7, src += w) COPY7(dst, src);
        break;
    default:
        for (int r = 0; r < oh; r++, dst += ow, src += w)
            for (int i = 0; i < ow; i++) dst[i] = src[i];
        break;
    }
}

static inline void window_add(float *restrict dst_plane, const float *restrict win, int oh,
                              int ow, int w)
{
    /* dst_plane rows have stride w, win rows stride ow. */
    float *dst = dst_plane;
    const float *src = win;
    switch (ow) {
    case 3:
        for (int r = 0; r < oh; r++, dst += w, src += 3)
            for (int i = 0; i < 3; i++) dst[i] += src[i];
        break;
    case 5:
        for (int r = 0; r < oh; r++, dst += w, src += 5)
            for (int i = 0; i < 5; i++) dst[i] += src[i];
        break;
    default:
        for (int r = 0; r < oh; r++, dst += w, src += ow)
            for (int i = 0; i < ow; i++) dst[i] += src[i];
        break;
    }
}

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_PLANE_AVX512 1
/* One input plane (h x w, w <= 8) of dx += its kh x kw windows of dG:
 * window (b, e) is oh x ow contiguous floats at win + (b*kw + e)*cols and is
 * added at row b, column e. Row by row with masked AVX-512VL loads instead
 * of window_add's 3-7 float scalar rows (a twentieth of a bf16 training
 * step on the Lange net's conv2). Each dx value gets its windows' values in
 * the same (b, e) order as window_add, and masked-off lanes are not touched
 * (mask_add), so the sums are the same bits. */
__attribute__((target("avx512f,avx512vl"))) static void
plane_add_avx512(float *dst, const float *win, size_t cols, int kh, int kw, int oh, int ow,
                 int h, int w, int set)
{
    const __mmask8 mw = (__mmask8)((1u << w) - 1), mo = (__mmask8)((1u << ow) - 1);
    for (int ih = 0; ih < h; ih++) {
        /* set: the plane is overwritten (dx = its windows), not added to */
        __m256 acc = set ? _mm256_setzero_ps() : _mm256_maskz_loadu_ps(mw, dst + (size_t)ih * w);
        for (int b = 0; b < kh; b++) {
            const int r = ih - b;
            if (r < 0 || r >= oh) continue;
            for (int e = 0; e < kw; e++) {
                const __mmask8 m = (__mmask8)(mo << e);
                const float *src = win + (size_t)(b * kw + e) * cols + (size_t)r * ow;
                /* lanes e .. e+ow-1 = src[0 .. ow-1]; the others are not read */
                __m256 v = _mm256_maskz_loadu_ps(m, src - e);
                acc = _mm256_mask_add_ps(acc, m, acc, v);
            }
        }
        _mm256_mask_storeu_ps(dst + (size_t)ih * w, mw, acc);
    }
}

/* G's kh*kw rows of one input plane (h x w, ow <= 8): window (b, e) (oh x
 * ow, at row b, column e of the plane) to dst + (b*kw + e)*cols, one masked
 * load and store per window row instead of window_copy's 3-7 scalar ones. */
__attribute__((target("avx512f,avx512vl"))) static void
plane_copy_avx512(float *dst, const float *src, size_t cols, int kh, int kw, int oh, int ow,
                  int w)
{
    const __mmask8 mo = (__mmask8)((1u << ow) - 1);
    for (int b = 0; b < kh; b++)
        for (int e = 0; e < kw; e++) {
            float *d = dst + (size_t)(b * kw + e) * cols;
            const float *s0 = src + (size_t)b * w + e;
            for (int r = 0; r < oh; r++)
                _mm256_mask_storeu_ps(d + (size_t)r * ow, mo,
                                      _mm256_maskz_loadu_ps(mo, s0 + (size_t)r * w));
        }
}

static int plane_avx512_ok(void)
{
    static int ok = -1; /* asked once; any thread would store the same value */
    if (ok < 0) /* hsi_cpu: HSI_CPU_ISA may cap it below AVX-512 */
        ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             (hsi_cpu()->features & HSI_CPU_AVX512F) && (hsi_cpu()->features & HSI_CPU_AVX512VL);
    return ok;
}
#endif

/* G (R x (nd+kd-1)*plane) for output slices [d0, d0+nd) of one sample x,
 * its columns of slices j0 .. j1 - 1 of the nd + kd - 1 only, so that
 * threads can build one G in parts (copies: the same values however it is
 * split). */
static void vol2plane_slices(const hsi_cnn_conv_desc *cd, const float *x, int d0, int nd,
                             float *g, int j0, int j1)
{
    const int plane = cd->oh * cd->ow, span = nd + cd->kd - 1, cols = span * plane;
    if (j1 > span) j1 = span;
    if (plane_is_simple(cd)) {
        /* Loop order keeps one small input plane in L1 while its kh x kw
         * shifted windows are written to their rows. */
        for (int c = 0; c < cd->c; c++)
            for (int j = j0; j < j1; j++) {
                int id = d0 + j - cd->pd;
                const float *src =
                    id >= 0 && id < cd->d ? x + ((size_t)c * cd->d + id) * cd->h * cd->w : NULL;
#ifdef HAVE_PLANE_AVX512
                if (src && cd->ow <= 8 && plane_avx512_ok()) {
                    plane_copy_avx512(g + (size_t)c * cd->kh * cd->kw * cols + (size_t)j * plane,
                                      src, (size_t)cols, cd->kh, cd->kw, cd->oh, cd->ow, cd->w);
                    continue;
                }
#endif
                for (int b = 0; b < cd->kh; b++)
                    for (int e = 0; e < cd->kw; e++) {
                        float *dst = g + (size_t)((c * cd->kh + b) * cd->kw + e) * cols +
                                     (size_t)j * plane;
                        if (!src) memset(dst, 0, sizeof(float) * plane);
                        else window_copy(dst, src + b * cd->w + e, cd->oh, cd->ow, cd->w);
                    }
            }
        return;
    }
    for (int c = 0; c < cd->c; c++)
        for (int b = 0; b < cd->kh; b++)
            for (int e = 0; e < cd->kw; e++) {
                float *dst =
                    g + (size_t)((c * cd->kh + b) * cd->kw + e) * cols + (size_t)j0 * plane;
                for (int j = j0; j < j1; j++, dst += plane) {
                    int id = d0 + j - cd->pd;
                    if (id < 0 || id >= cd->d) {
                        memset(dst, 0, sizeof(float) * plane);
                        continue;
                    }
                    const float *src = x + ((size_t)c * cd->d + id) * cd->h * cd->w;
                    float *o = dst;
                    for (int oh = 0; oh < cd->oh; oh++, o += cd->ow) {
                        int ih = oh * cd->sh - cd->ph + b;
                        if (ih < 0 || ih >= cd->h) {
                            memset(o, 0, sizeof(float) * cd->ow);
                            continue;
                        }
                        const float *row = src + (size_t)ih * cd->w;
                        if (cd->sw == 1 && cd->pw == 0) {
                            for (int ow = 0; ow < cd->ow; ow++) o[ow] = row[ow + e];
                            continue;
                        }
                        for (int ow = 0; ow < cd->ow; ow++) {
                            int iw = ow * cd->sw - cd->pw + e;
                            o[ow] = iw >= 0 && iw < cd->w ? row[iw] : 0.0f;
                        }
                    }
                }
            }
}

/* All of G. */
static void vol2plane(const hsi_cnn_conv_desc *cd, const float *x, int d0, int nd, float *g)
{
    vol2plane_slices(cd, x, d0, nd, g, 0, nd + cd->kd - 1);
}

/* The adjoint of vol2plane: dx (one sample) += scatter of dG. With set, the
 * input slices the block reads are overwritten instead (zeroed, then
 * added to). */
static void plane2vol(const hsi_cnn_conv_desc *cd, const float *g, int d0, int nd, float *dx,
                      int set)
{
    const int plane = cd->oh * cd->ow, span = nd + cd->kd - 1, cols = span * plane;
#ifdef HAVE_PLANE_AVX512
    /* Every (c, slice) plane is one call: with set, written without a read. */
    if (plane_is_simple(cd) && cd->w <= 8 && plane_avx512_ok()) {
        for (int c = 0; c < cd->c; c++)
            for (int j = 0; j < span; j++) {
                int id = d0 + j - cd->pd;
                if (id < 0 || id >= cd->d) continue;
                plane_add_avx512(dx + ((size_t)c * cd->d + id) * cd->h * cd->w,
                                 g + (size_t)c * cd->kh * cd->kw * cols + (size_t)j * plane,
                                 (size_t)cols, cd->kh, cd->kw, cd->oh, cd->ow, cd->h, cd->w, set);
            }
        return;
    }
#endif
    if (set)
        for (int c = 0; c < cd->c; c++)
            for (int j = 0; j < span; j++) {
                int id = d0 + j - cd->pd;
                if (id >= 0 && id < cd->d)
                    memset(dx + ((size_t)c * cd->d + id) * cd->h * cd->w, 0,
                           sizeof(float) * cd->h * cd->w);
            }
    if (plane_is_simple(cd)) {
        for (int c = 0; c < cd->c; c++)
            for (int j = 0; j < span; j++) {
                int id = d0 + j - cd->pd;
                if (id < 0 || id >= cd->d) continue;
                float *dst = dx + ((size_t)c * cd->d + id) * cd->h * cd->w;
                for (int b = 0; b < cd->kh; b++)
                    for (int e = 0; e < cd->kw; e++)
                        window_add(dst + b * cd->w + e,
                                   g + (size_t)((c * cd->kh + b) * cd->kw + e) * cols +
                                       (size_t)j * plane,
                                   cd->oh, cd->ow, cd->w);
            }
        return;
    }
    for (int c = 0; c < cd->c; c++)
        for (int b = 0; b < cd->kh; b++)
            for (int e = 0; e < cd->kw; e++) {
                const float *src = g + (size_t)((c * cd->kh + b) * cd->kw + e) * cols;
                for (int j = 0; j < span; j++, src += plane) {
                    int id = d0 + j - cd->pd;
                    if (id < 0 || id >= cd->d) continue;
                    float *dst = dx + ((size_t)c * cd->d + id) * cd->h * cd->w;
                    const float *o = src;
                    for (int oh = 0; oh < cd->oh; oh++, o += cd->ow) {
                        int ih = oh * cd->sh - cd->ph + b;
                        if (ih < 0 || ih >= cd->h) continue;
                        float *row = dst + (size_t)ih * cd->w;
                        if (cd->sw == 1 && cd->pw == 0) {
                            for (int ow = 0; ow < cd->ow; ow++) row[ow + e] += o[ow];
                            continue;
                        }
                        for (int ow = 0; ow < cd->ow; ow++) {
                            int iw = ow * cd->sw - cd->pw + e;
                            if (iw >= 0 && iw < cd->w) row[iw] += o[ow];
                        }
                    }
                }
            }
}

/* For conv_winograd.c, which gathers and scatters its transformed tiles. */
void hsi_cnn_cpu_vol2plane(const hsi_cnn_conv_desc *cd, const float *x, int d0, int nd, float *g)
{
    vol2plane(cd, x, d0, nd, g);
}

void hsi_cnn_cpu_plane2vol(const hsi_cnn_conv_desc *cd, const float *g, int d0, int nd,
                           float *dx, int set)
{
    plane2vol(cd, g, d0, nd, dx, set);
}

/* Wp[a][f][(c,b,e)] = w[f][c][a][b][e], and back (for dW). */
static void permute_weights(const hsi_cnn_conv_desc *cd, const float *w, float *wp, int to_shift)
{
    const int R = shift_rows(cd), hw = cd->kh * cd->kw;
    for (int a = 0; a < cd->kd; a++)
        for (int f = 0; f < cd->f; f++)
            for (int c = 0; c < cd->c; c++)
                for (int i = 0; i < hw; i++) {
                    size_t s = (((size_t)f * cd->c + c) * cd->kd + a) * hw + i;
                    size_t t = ((size_t)a * cd->f + f) * R + (size_t)c * hw + i;
                    if (to_shift) wp[t] = w[s];
                    else wp[s] = w[t];
                }
}

/* ---- Winograd along depth (conv_winograd.h) ----
 *
 * Replaces the depth-shift sgemms of a conv where F(m, kd) does fewer
 * multiplies (fp32 only: bf16 keeps the shift path, whose rounding the
 * transforms would amplify). By default alpha = 8 points (0, +-1, +-2,
 * +-1/2, infinity): F(4, 5) for the Lange net's kd = 5, F(6, 3) for kd = 3;
 * alpha*T GEMM products per sample against kd*od, T = ceil(od/m) tiles. */
static int winograd = -1; /* 0: off; 1: default tile; m >= 2: that output tile; -1: unread */

void hsi_cnn_cpu_set_winograd(int mode)
{
    winograd = mode < 0 ? 0 : mode;
}

/* The mode: hsi_cnn_cpu_set_winograd's, else HSI_CNN_WINOGRAD from the
 * environment (for A/B runs of the hsi command: 0 turns it off), else 1. */
static int wino_mode(void)
{
    if (winograd < 0) { /* any thread would store the same value */
        const char *e = getenv("HSI_CNN_WINOGRAD");
        winograd = e && *e ? atoi(e) : 1;
        if (winograd < 0) winograd = 0;
    }
    return winograd;
}

#define WINO_DEFAULT_ALPHA 8

static int wino_tile(const hsi_cnn_conv_desc *cd)
{
    return wino_mode() >= 2 ? wino_mode() : WINO_DEFAULT_ALPHA + 1 - cd->kd;
}

/* Where the workspace has room for it: the switch itself does not change
 * the workspace, so A/B runs can flip it on one net. The default tile only
 * where it saves at least a quarter of the multiplies; a forced tile (tests,
 * benches) wherever its transforms exist. */
static int wino_room(const hsi_cnn_conv_desc *cd)
{
    const int m = wino_tile(cd), alpha = m + cd->kd - 1;
    if (!use_shift(cd) || m < 2 || alpha > HSI_CNN_WINO_MAX_ALPHA) return 0;
    const long tiles = (cd->od + m - 1) / m;
    return wino_mode() >= 2 || 4L * alpha * tiles <= 3L * cd->kd * cd->od;
}

/* Samples per block: as many as keep a block's scratch (conv_winograd.c:
 * the transformed input, one V and every Mx) within a sixth of block_bytes
 * (0.7 MB by default, a third of a 2 MB L2): the Lange net's conv2 takes 1
 * sample, conv3 2 (measured on conv3, 1 thread: 2 samples 3% faster than 1,
 * 3 samples 10% slower, 13 samples 20% slower). At most 64. Then spread
 * evenly over the blocks (50 samples by 3 would be 17 blocks of 3, not 16
 * of 3 and one of 2). Depends on n and block_bytes only, not on the thread
 * count: the sums stay the same bits. */
#define WINO_MAX_NB 64

static int wino_nb_max(const hsi_cnn_conv_desc *cd)
{
    hsi_cnn_wino_plan p;
    hsi_cnn_wino_plan_init(&p, cd, wino_tile(cd), 1);
    size_t one = hsi_cnn_wino_scratch_floats(&p, cd) * sizeof(float);
    size_t nb = block_bytes / 6 / (one ? one : 1);
    return nb < 1 ? 1 : nb > WINO_MAX_NB ? WINO_MAX_NB : (int)nb;
}

static int wino_nb(const hsi_cnn_conv_desc *cd, int n)
{
    const int nbmax = wino_nb_max(cd), items = (n + nbmax - 1) / nbmax;
    return items ? (n + items - 1) / items : 1;
}

/* GEMM chunks of the Winograd passes. OpenBLAS's AVX-512 kernel sets
 * (SkylakeX, Cooperlake, SapphireRapids) have a direct small-matrix sgemm
 * that reads the operands in place, taken where M*N*K <= 10^6 (and, with
 * the first operand transposed in column-major terms, only for tiny C:
 * hence the filter gradient's M^T form in conv_winograd.c). It makes 16
 * columns of our row-major products at a time (one AVX-512 vector of the
 * column-major C^T), a partial 16 costing a whole one. So there the GEMMs
 * take the most columns that are a multiple of 16 under the 10^6 bound (64
 * for the Lange net's conv2: f x R = 32 x 432) and skip OpenBLAS's packing
 * and its zeroing of C: conv2 at 200 bands forward 77 -> 64, data 77 ->
 * 68, filter 81 (M form) -> 69 CPU ms per batch of 50 (1 thread, Zen 4,
 * Cooperlake kernels; 50-column chunks: 67 / 69 / 69). On the Haswell
 * kernels, which have no such path, chunks are slower: the whole block,
 * as where the block is under the bound already (conv3). */
static int wino_chunk_mode = -1; /* hsi_cnn_cpu_set_wino_chunk */

void hsi_cnn_cpu_set_wino_chunk(int columns)
{
    wino_chunk_mode = columns < -1 ? -1 : columns;
}

static int blas_direct_small(void)
{
    static int direct = -1; /* asked once; any thread would store the same value */
    if (direct < 0) {
        hsi_blas_info b;
        hsi_blas_describe(&b);
        direct = !strcmp(b.name, "OpenBLAS") &&
                 (!strcasecmp(b.kernels, "SkylakeX") || !strcasecmp(b.kernels, "Cooperlake") ||
                  !strcasecmp(b.kernels, "SapphireRapids"));
    }
    return direct;
}

static int wino_chunk(const hsi_cnn_conv_desc *cd, const hsi_cnn_wino_plan *p)
{
    if (wino_chunk_mode >= 0) return wino_chunk_mode;
    if (!blas_direct_small()) return 0;
    const double mk = (double)cd->f * shift_rows(cd); /* M*K; columns: N */
    const double n = (double)p->nb * p->tiles * cd->oh * cd->ow;
    if (mk * n <= 1e6) return 0; /* the whole block is direct already */
    const int cols = (int)(1e6 / mk) / 16 * 16;
    return cols >= 16 ? cols : 0;
}

static void wino_plan(const hsi_cnn_conv_desc *cd, int nb, hsi_cnn_wino_plan *p)
{
    hsi_cnn_wino_plan_init(p, cd, wino_tile(cd), nb); /* wino_room checked the tile */
    p->chunk = wino_chunk(cd, p);
}

static size_t wino_scratch_floats(const hsi_cnn_conv_desc *cd)
{
    if (!wino_room(cd)) return 0;
    hsi_cnn_wino_plan p;
    wino_plan(cd, wino_nb_max(cd), &p);
    return hsi_cnn_wino_scratch_floats(&p, cd);
}

/* U (alpha x f x R); the filter gradient's M^T per group is the same size. */
static size_t wino_u_floats(const hsi_cnn_conv_desc *cd)
{
    if (!wino_room(cd)) return 0;
    hsi_cnn_wino_plan p;
    wino_plan(cd, 1, &p);
    return hsi_cnn_wino_u_floats(&p, cd);
}

/* ---- workspace: [shared permuted weights][dW groups][per thread block] ----
 *
 * The filter gradient is summed over samples in DW_GROUPS fixed groups
 * (sample i goes to group i % DW_GROUPS), each with its own accumulator, and
 * the groups are added in order at the end. Which thread runs a group does
 * not matter, so the sum - and the whole training run - is bit-identical for
 * any thread count and any schedule, while dynamic scheduling lets a thread
 * that the (shared) machine has not preempted take the others' work. */
#define DW_GROUPS 16

static size_t round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

/* Floats of the plane columns G (R x span*plane) at the start of a thread's
 * block; after them the shift scheme keeps a kd*f x span*plane matrix: the
 * expanded dy (see shift_expand) in the backward passes, every shift's
 * product in the forward pass. */
static size_t plane_floats(const hsi_cnn_conv_desc *cd)
{
    return round16((size_t)shift_rows(cd) * (shift_block_depth(cd) + cd->kd - 1) * cd->oh *
                   cd->ow);
}

/* With the tap kernels: [G + slack][kernel scratch][filter-gradient sums]. */
static size_t taps_g_floats(const hsi_cnn_conv_desc *cd)
{
    return round16((size_t)shift_rows(cd) * taps_gstride(cd) + HSI_CNN_TAPS_SLACK);
}

/* One sample's conv output (f x od*plane), where conv3d_forward_maxpool
 * pools it from, per thread: for the Lange net's first layer 2 MB that stays
 * in cache instead of a 92 MB batch tensor written to and read back from
 * memory. */
static size_t sample_out_floats(const hsi_cnn_conv_desc *cd)
{
    return round16((size_t)(wino_room(cd) ? wino_nb_max(cd) : 1) * cd->f * cd->od * cd->oh *
                   cd->ow);
}

static size_t block_floats(const hsi_cnn_conv_desc *cd)
{
    if (use_shift(cd)) {
        size_t shift = plane_floats(cd) + (size_t)cd->kd * cd->f *
                                              (shift_block_depth(cd) + cd->kd - 1) * cd->oh *
                                              cd->ow;
        size_t wino = wino_scratch_floats(cd);
        return shift > wino ? shift : wino;
    }
    size_t cols = (size_t)conv_rows(cd) * conv_block_depth(cd) * cd->oh * cd->ow;
    if (!use_taps(cd)) return cols;
    size_t taps = taps_g_floats(cd) + round16(hsi_cnn_taps_scratch_floats(cd)) +
                  hsi_cnn_taps_acc_floats(cd);
    return taps > cols ? taps : cols; /* the data gradient still uses vol2col */
}

/* E (kd*f x span*plane): row block a holds the dy block (f x len*plane, row
 * stride P) shifted right by a planes, zeros elsewhere, so that
 *     E[(a,f)][j*plane + p] = dy[f][(j - a)*plane + p]   (0 <= j - a < len).
 * With it the kd shifted products of the backward passes become one sgemm
 * with inner dimension kd*f instead of kd sgemms of inner dimension f (dx)
 * or one over all shifts at once (dW): the thin sgemms re-read their output
 * and re-pack the same operand kd times. */
static void shift_expand(const hsi_cnn_conv_desc *cd, const float *dyb, int P, int len, float *e)
{
    const int plane = cd->oh * cd->ow, cols = (len + cd->kd - 1) * plane;
    for (int a = 0; a < cd->kd; a++)
        for (int f = 0; f < cd->f; f++) {
            float *row = e + ((size_t)a * cd->f + f) * cols;
            memset(row, 0, sizeof(float) * a * plane);
            memcpy(row + (size_t)a * plane, dyb + (size_t)f * P, sizeof(float) * len * plane);
            memset(row + (size_t)(a + len) * plane, 0, sizeof(float) * (cd->kd - 1 - a) * plane);
        }
}

/* bf16 GEMMs for the depth-shift scheme: where the CPU has them, every
 * shift conv's workspace has room for their packed operands, so switching
 * precision (cd->bf16) never resizes it. */
static int bf16_ok(void)
{
    static int ok = -1; /* asked once; any thread would store the same value */
    if (ok < 0) ok = hsi_cnn_bf16_cpu_ok();
    return ok;
}

static int use_bf16(const hsi_cnn_conv_desc *cd)
{
    return cd->bf16 && use_shift(cd) && bf16_ok();
}

static int use_wino(const hsi_cnn_conv_desc *cd)
{
    return wino_mode() && wino_room(cd) && !use_bf16(cd);
}

static int bf16_room(const hsi_cnn_conv_desc *cd)
{
    return use_shift(cd) && bf16_ok();
}

/* The tap layers' forward pass (hsi_cnn_bf16_taps_forward) and filter
 * gradient (taps_filter_bf16) in bf16. */
static int use_bf16_taps(const hsi_cnn_conv_desc *cd)
{
    return cd->bf16 && use_taps(cd) && bf16_ok();
}

static size_t round32(size_t n)
{
    return (n + 31) & ~(size_t)31;
}

/* Per thread for taps_filter_bf16: dy's rows (f x Q, padded to 32), G's rows
 * (R x gstride, padded to 32) with 32 zeros after the last, in bf16; then
 * f + K row pointers. */
static size_t taps_bf16_floats(const hsi_cnn_conv_desc *cd)
{
    if (!use_taps(cd) || !bf16_ok()) return 0;
    const size_t Q = (size_t)cd->od * cd->oh * cd->ow;
    size_t halves = cd->f * round32(Q) + shift_rows(cd) * round32(taps_gstride(cd)) + 32;
    size_t ptrs = (size_t)(cd->f + conv_rows(cd)) * sizeof(void *) / sizeof(float);
    size_t filt = round16(halves / 2 + 1) + round16(ptrs);
    /* The forward pass's bf16 row pairs H of G (hsi_cnn_bf16_pairs) share it. */
    size_t fwd = round16(hsi_cnn_bf16_pairs_floats(shift_rows(cd), taps_gstride(cd)));
    return filt > fwd ? filt : fwd;
}

/* The filter gradient's bf16 dy rows (shift_filter_bf16): values per row
 * for a block of gcols plane columns. */
static size_t shift_dyz_stride(const hsi_cnn_conv_desc *cd, int gcols)
{
    return round32((size_t)(cd->kd - 1) * cd->oh * cd->ow + gcols + 32);
}

/* Packed Wp (forward) or Wp^T (data gradient), shared by the threads. */
static size_t bf16_shared_floats(const hsi_cnn_conv_desc *cd)
{
    if (!bf16_room(cd)) return 0;
    const int R = shift_rows(cd), kf = cd->kd * cd->f;
    size_t fwd = hsi_cnn_bf16_pack_a_floats(kf, R), bwd = hsi_cnn_bf16_pack_a_floats(R, kf);
    return round16(fwd > bwd ? fwd : bwd);
}

/* Per thread: packed G (forward), packed E (data gradient), or bf16 rows of
 * E and of G (filter gradient). */
static size_t bf16_thread_floats(const hsi_cnn_conv_desc *cd)
{
    if (use_taps(cd)) return taps_bf16_floats(cd);
    if (!bf16_room(cd)) return 0;
    const int R = shift_rows(cd), kf = cd->kd * cd->f;
    const int gcols = (shift_block_depth(cd) + cd->kd - 1) * cd->oh * cd->ow;
    size_t fwd = hsi_cnn_bf16_pack_b_floats(R, gcols), data = hsi_cnn_bf16_pack_b_floats(kf, gcols);
    size_t dyz = (size_t)cd->f * shift_dyz_stride(cd, gcols) / 2 + 1;
    size_t eh = hsi_cnn_bf16_rows_floats(kf, gcols);
    size_t filt = round16(eh > dyz ? eh : dyz) + round16(hsi_cnn_bf16_rows_floats(R, gcols)) +
                  round16((size_t)(kf + R) * sizeof(void *) / sizeof(float));
    size_t m = fwd > data ? fwd : data;
    return round16(m > filt ? m : filt);
}

/* The shift scheme's permuted weights Wp, or Winograd's U, first in the
 * workspace. */
static size_t wp_floats(const hsi_cnn_conv_desc *cd)
{
    size_t wp = (size_t)cd->f * conv_rows(cd), u = wino_u_floats(cd);
    return round16(wp > u ? wp : u);
}

static size_t shared_floats(const hsi_cnn_conv_desc *cd)
{
    if (use_taps(cd))
        return round16(hsi_cnn_taps_weight_floats(cd)) +
               (bf16_ok() ? round16(hsi_cnn_bf16_taps_weight_floats(cd->f, cd->kd,
                                                                    shift_rows(cd)))
                          : 0);
    return use_shift(cd) ? wp_floats(cd) + bf16_shared_floats(cd) : 0;
}

/* The packed weights for the bf16 GEMMs, after Wp. */
static uint32_t *bf16_weights(const hsi_cnn_conv_desc *cd, float *work)
{
    return (uint32_t *)(work + wp_floats(cd));
}

/* A group's filter-gradient sums: dW (or Winograd's M), then the bias's. */
static size_t group_acc_floats(const hsi_cnn_conv_desc *cd)
{
    size_t dw = (size_t)cd->f * conv_rows(cd), m = wino_u_floats(cd);
    return dw > m ? dw : m;
}

static size_t group_floats(const hsi_cnn_conv_desc *cd)
{
    return round16(group_acc_floats(cd) + cd->f);
}

static size_t thread_floats(const hsi_cnn_conv_desc *cd)
{
    return round16(block_floats(cd)) + sample_out_floats(cd) + bf16_thread_floats(cd);
}

static size_t cpu_conv_workspace(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd)
{
    (void)be;
    return shared_floats(cd) + group_floats(cd) * DW_GROUPS +
           thread_floats(cd) * (size_t)hsi_max_threads();
}

static float *group_dw(const hsi_cnn_conv_desc *cd, float *work, int g)
{
    return work + shared_floats(cd) + group_floats(cd) * g;
}

static float *thread_block(const hsi_cnn_conv_desc *cd, float *work, int t)
{
    return work + shared_floats(cd) + group_floats(cd) * DW_GROUPS + thread_floats(cd) * t;
}

/* The fused forward's sample output buffer, after the thread's block. */
static float *thread_sample_out(const hsi_cnn_conv_desc *cd, float *work, int t)
{
    return thread_block(cd, work, t) + round16(block_floats(cd));
}

/* The thread's bf16 operands, after its sample output buffer. */
static float *thread_bf16(const hsi_cnn_conv_desc *cd, float *work, int t)
{
    return thread_sample_out(cd, work, t) + sample_out_floats(cd);
}

/* G for the tap kernels: one sample's plane matrix for all its output
 * slices, then the slack they read past its end, zeroed (conv_taps.h). */
static void taps_plane(const hsi_cnn_conv_desc *cd, const float *x, float *g)
{
    vol2plane(cd, x, 0, cd->od, g);
    memset(g + (size_t)shift_rows(cd) * taps_gstride(cd), 0, sizeof(float) * HSI_CNN_TAPS_SLACK);
}

/* Slices (of od + kd - 1) per task of the shared plane build: 8 of the
 * trunk's 35 x 35 planes, 9 rows, 0.35 MB. */
#define TAPS_SHARED_SLICES 8

/* Task j of taps_plane in parts: slices [j*TAPS_SHARED_SLICES, ...), and
 * the slack with task 0. */
static void taps_plane_part(const hsi_cnn_conv_desc *cd, const float *x, float *g, int j)
{
    vol2plane_slices(cd, x, 0, cd->od, g, j * TAPS_SHARED_SLICES, (j + 1) * TAPS_SHARED_SLICES);
    if (!j)
        memset(g + (size_t)shift_rows(cd) * taps_gstride(cd), 0,
               sizeof(float) * HSI_CNN_TAPS_SLACK);
}

/* Sum of v[0 .. n) in 8 interleaved partial sums, added in a fixed order:
 * one running sum would wait on every add's latency (the first layer's
 * bias gradient sums 48 x 9604 values per sample). */
static float sum_floats(const float *v, int n)
{
    float part[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) part[j] += v[i + j];
    for (; i < n; i++) part[i % 8] += v[i];
    return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

/* Bias and an elementwise activation on one output block (f rows of cols,
 * row stride ld), while it is still in cache. */
static void finish_rows(const hsi_cnn_conv_desc *cd, const float *bias, hsi_cnn_activation act,
                        float *out, int cols, int ld, int f0, int f1)
{
    for (int f = f0; f < f1; f++) {
        float *restrict o = out + (size_t)f * ld;
        const float bf = bias ? bias[f] : 0.0f;
        switch (act) {
        case HSI_CNN_ACT_RELU:
#pragma omp simd
            for (int i = 0; i < cols; i++) o[i] = o[i] + bf > 0 ? o[i] + bf : 0.0f;
            break;
        case HSI_CNN_ACT_SIGMOID:
            for (int i = 0; i < cols; i++) o[i] = 1.0f / (1.0f + expf(-(o[i] + bf)));
            break;
        case HSI_CNN_ACT_TANH:
            for (int i = 0; i < cols; i++) o[i] = tanhf(o[i] + bf);
            break;
        default:
#pragma omp simd
            for (int i = 0; i < cols; i++) o[i] += bf;
        }
    }
}

static void finish_block(const hsi_cnn_conv_desc *cd, const float *bias, hsi_cnn_activation act,
                         float *out, int cols, int ld)
{
    finish_rows(cd, bias, act, out, cols, ld, 0, cd->f);
}

static void maxpool_channel(const hsi_cnn_pool_desc *pd, const float *xi, float *yo,
                            int32_t *am);

/* Max-pool one sample's conv output (f x od*plane, in a thread's buffer)
 * into its place in the pooled batch. */
static void pool_channels(const hsi_cnn_pool_desc *pd, const float *ys, int n, float *y,
                          int32_t *argmax, int c0, int c1)
{
    const size_t in_vol = (size_t)pd->d * pd->h * pd->w;
    const size_t out_vol = (size_t)pd->od * pd->oh * pd->ow;
    for (int c = c0; c < c1; c++) {
        size_t nc = (size_t)n * pd->c + c;
        maxpool_channel(pd, ys + c * in_vol, y + nc * out_vol, argmax + nc * out_vol);
    }
}

static void pool_sample(const hsi_cnn_pool_desc *pd, const float *ys, int n, float *y,
                        int32_t *argmax)
{
    pool_channels(pd, ys, n, y, argmax, 0, pd->c);
}

/* ---- one sample's (or block's) forward work split between threads ----
 *
 * The forward passes below run whole samples (or Winograd blocks) one per
 * thread, which leaves threads idle when a pass has fewer of them than
 * threads, or a remainder: the dense prediction's trunk runs 5 tiles of
 * 37 x 37 x 200 a pass, so on 2 threads one idles a sixth of the time and
 * on 16 more than half. So the first items - items % threads go one per
 * thread as before and the rest are shared: every thread takes part in
 * each phase of all of them (the plane matrix in parts, then output ranges for
 * the tap kernels; the input transform by channel, the products by xi, the
 * output transform by filter for Winograd), with a barrier between
 * phases. Item k of the shared ones keeps its buffers in thread slot k's
 * workspace (k < threads), a thread's private scratch in its own slot
 * where slot k's shared buffers leave room. Each output value is computed
 * by the same operations in the same order either way, so the results are
 * the same bits for any thread count (tests/test_cnn_conv_split.c). */
static int shared_from(int items)
{
    const int threads = hsi_max_threads();
    return threads > 1 ? items - items % threads : items;
}

/* Outputs per task of the shared tap passes: 64 register tiles, about
 * 0.1 ms of the Lange net's first layer. */
#define TAPS_SHARED_SPAN (64 * HSI_CNN_TAPS_FORWARD_TILE)

/* Winograd forward pass (use_wino): blocks of whole samples, each block's
 * outputs finished (bias, activation) and, with pd, pooled from the
 * thread's buffer while in cache, as conv_forward does. */
static void wino_forward(const hsi_cnn_conv_desc *cd, const float *x, const float *w,
                         const float *bias, hsi_cnn_activation act, float *y, float *work,
                         const hsi_cnn_pool_desc *pd, float *ypool, int32_t *argmax)
{
    const int P = cd->od * cd->oh * cd->ow, nb = wino_nb(cd, cd->n);
    const int blocks = (cd->n + nb - 1) / nb;
    const size_t in_size = (size_t)cd->c * cd->d * cd->h * cd->w, out_size = (size_t)cd->f * P;
    hsi_cnn_wino_plan p;
    wino_plan(cd, nb, &p);
    hsi_cnn_wino_filter_transform(&p, cd, w, work);
    const hsi_cnn_activation fin = act == HSI_CNN_ACT_SOFTMAX ? HSI_CNN_ACT_LINEAR : act;
    const int b0 = shared_from(blocks), K = blocks - b0;
    int saved = blas_threads_save();
#pragma omp parallel for schedule(dynamic, 1)
    for (int b = 0; b < b0; b++) {
        const int t = thread_id(), s0 = b * nb, len = cd->n - s0 < nb ? cd->n - s0 : nb;
        float *out = pd ? thread_sample_out(cd, work, t) : y + s0 * out_size;
        hsi_cnn_wino_forward_block(&p, cd, work, x + s0 * in_size, len, 1, out, out_size,
                                   thread_block(cd, work, t));
        for (int s = 0; s < len; s++) {
            finish_block(cd, bias, fin, out + s * out_size, P, P);
            if (pd) pool_sample(pd, out + s * out_size, s0 + s, ypool, argmax);
        }
    }
    if (K) {
        /* The last K blocks shared (see shared_from): block b0 + k in slot k. */
#pragma omp parallel
        {
            float *own = hsi_cnn_wino_v(&p, cd, thread_block(cd, work, thread_id()));
#pragma omp for schedule(static)
            for (int k = 0; k < K; k++)
                hsi_cnn_wino_scratch_zero(&p, cd, thread_block(cd, work, k));
#pragma omp for collapse(2) schedule(dynamic, 1)
            for (int k = 0; k < K; k++)
                for (int c = 0; c < cd->c; c++) {
                    const int s0 = (b0 + k) * nb, len = cd->n - s0 < nb ? cd->n - s0 : nb;
                    hsi_cnn_wino_forward_input(&p, cd, x + s0 * in_size, len, 1,
                                               thread_block(cd, work, k), c, c + 1);
                }
#pragma omp for collapse(2) schedule(dynamic, 1)
            for (int k = 0; k < K; k++)
                for (int xi = 0; xi < p.alpha; xi++) {
                    const int s0 = (b0 + k) * nb, len = cd->n - s0 < nb ? cd->n - s0 : nb;
                    hsi_cnn_wino_forward_product(&p, cd, work, len, thread_block(cd, work, k), xi,
                                                 own);
                }
#pragma omp for collapse(2) schedule(dynamic, 1)
            for (int k = 0; k < K; k++)
                for (int f = 0; f < cd->f; f++) {
                    const int s0 = (b0 + k) * nb, len = cd->n - s0 < nb ? cd->n - s0 : nb;
                    float *out = pd ? thread_sample_out(cd, work, k) : y + s0 * out_size;
                    hsi_cnn_wino_forward_output(&p, cd, len, thread_block(cd, work, k), out,
                                                out_size, f, f + 1, own);
                    for (int s = 0; s < len; s++) {
                        finish_rows(cd, bias, fin, out + s * out_size, P, P, f, f + 1);
                        if (pd)
                            pool_channels(pd, out + s * out_size, s0 + s, ypool, argmax, f,
                                          f + 1);
                    }
                }
        }
    }
    blas_threads_restore(saved);
}

/* The forward pass; with pd (conv3d_forward_maxpool) every sample's output
 * goes to the thread's sample buffer and is pooled from there into
 * ypool/argmax, and y is not written. With pd the caller has checked that
 * work items are whole samples (forward_fusable). */
static void conv_forward(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd, const float *x,
                         const float *w, const float *bias, hsi_cnn_activation act, float *y,
                         float *work, const hsi_cnn_pool_desc *pd, float *ypool,
                         int32_t *argmax)
{
    const int shift = use_shift(cd), K = conv_rows(cd), R = shift_rows(cd);
    const int nd = shift ? shift_block_depth(cd) : conv_block_depth(cd);
    const int plane = cd->oh * cd->ow, P = cd->od * plane;
    const int blocks = (cd->od + nd - 1) / nd;
    const size_t in_size = (size_t)cd->c * cd->d * cd->h * cd->w, out_size = (size_t)cd->f * P;
    if (use_taps(cd)) {
        /* One sample per iteration: its plane matrix G, then every output. */
        const size_t gstride = taps_gstride(cd);
        /* bf16 (use_bf16_taps): weights as bf16 pairs of taps after the fp32
         * ones, G's rows as bf16 pairs H in the thread's bf16 space. */
        const int bf16_taps = use_bf16_taps(cd);
        uint32_t *wp16 = (uint32_t *)(work + round16(hsi_cnn_taps_weight_floats(cd)));
        if (bf16_taps)
            hsi_cnn_bf16_taps_pack_weights(cd->f, cd->c, cd->kd, cd->kh, cd->kw, w, wp16);
        else
            hsi_cnn_taps_pack_weights(cd, w, work);
        const int n0 = bf16_taps ? cd->n : shared_from(cd->n), ns = cd->n - n0;
#pragma omp parallel for schedule(dynamic, 1)
        for (int n = 0; n < n0; n++) {
            const int t = thread_id();
            float *g = thread_block(cd, work, t), *scratch = g + taps_g_floats(cd);
            float *out = pd ? thread_sample_out(cd, work, t) : y + n * out_size;
            taps_plane(cd, x + n * in_size, g);
            if (bf16_taps) {
                uint32_t *h = (uint32_t *)thread_bf16(cd, work, t);
                hsi_cnn_bf16_pairs(R, gstride, g, h);
                hsi_cnn_bf16_taps_forward(cd->f, cd->kd, R, plane, P, gstride, h, wp16, bias,
                                          act == HSI_CNN_ACT_RELU, out);
            } else
                hsi_cnn_taps_forward(cd, g, gstride, work, bias, act == HSI_CNN_ACT_RELU, out,
                                     scratch);
            if (act == HSI_CNN_ACT_SIGMOID || act == HSI_CNN_ACT_TANH)
                finish_block(cd, NULL, act, out, P, P);
            if (pd) pool_sample(pd, out, n, ypool, argmax);
        }
        if (ns) {
            /* The last ns samples shared (see shared_from): sample n0 + k's G
             * (and output, with pd) in slot k; the kernels' scratch is the
             * thread's own, after its slot's G. */
            const int spans = (P + TAPS_SHARED_SPAN - 1) / TAPS_SHARED_SPAN;
            const int finish = act == HSI_CNN_ACT_SIGMOID || act == HSI_CNN_ACT_TANH;
#pragma omp parallel
            {
                float *scratch = thread_block(cd, work, thread_id()) + taps_g_floats(cd);
                const int parts = (cd->od + cd->kd - 1 + TAPS_SHARED_SLICES - 1) /
                                  TAPS_SHARED_SLICES;
#pragma omp for collapse(2) schedule(dynamic, 1)
                for (int k = 0; k < ns; k++)
                    for (int j = 0; j < parts; j++)
                        taps_plane_part(cd, x + (size_t)(n0 + k) * in_size,
                                        thread_block(cd, work, k), j);
#pragma omp for collapse(2) schedule(dynamic, 1)
                for (int k = 0; k < ns; k++)
                    for (int j = 0; j < spans; j++) {
                        float *out = pd ? thread_sample_out(cd, work, k)
                                        : y + (n0 + k) * out_size;
                        hsi_cnn_taps_forward_range(cd, thread_block(cd, work, k), gstride, work,
                                                   bias, act == HSI_CNN_ACT_RELU, out, scratch,
                                                   j * TAPS_SHARED_SPAN,
                                                   (j + 1) * TAPS_SHARED_SPAN);
                    }
                if (finish || pd) {
#pragma omp for collapse(2) schedule(dynamic, 1)
                    for (int k = 0; k < ns; k++)
                        for (int f = 0; f < cd->f; f++) {
                            float *out = pd ? thread_sample_out(cd, work, k)
                                            : y + (n0 + k) * out_size;
                            if (finish) finish_rows(cd, NULL, act, out, P, P, f, f + 1);
                            if (pd) pool_channels(pd, out, n0 + k, ypool, argmax, f, f + 1);
                        }
                }
            }
        }
        if (act == HSI_CNN_ACT_SOFTMAX) cpu_activation_forward(be, act, cd->n * cd->f, P, y);
        return;
    }
    if (use_wino(cd)) {
        wino_forward(cd, x, w, bias, act, y, work, pd, ypool, argmax);
        if (act == HSI_CNN_ACT_SOFTMAX) cpu_activation_forward(be, act, cd->n * cd->f, P, y);
        return;
    }
    const float *wp = work;
    const int bf16 = use_bf16(cd);
    if (shift) permute_weights(cd, w, work, 1);
    if (bf16) hsi_cnn_bf16_pack_a(cd->kd * cd->f, R, wp, R, 0, bf16_weights(cd, work));
    int saved = blas_threads_save();
#pragma omp parallel for schedule(dynamic, 1)
    for (long item = 0; item < (long)cd->n * blocks; item++) {
        int n = (int)(item / blocks), d0 = (int)(item % blocks) * nd;
        int len = cd->od - d0 < nd ? cd->od - d0 : nd;
        const int t = thread_id();
        float *buf = thread_block(cd, work, t);
        float *out = (pd ? thread_sample_out(cd, work, t) : y + n * out_size) + (size_t)d0 * plane;
        if (shift) {
            const int gcols = (len + cd->kd - 1) * plane, cols = len * plane;
            float *yall = buf + plane_floats(cd);
            vol2plane(cd, x + n * in_size, d0, len, buf);
            /* Every shift's product at once, packing G once:
             * yall (kd*f x gcols) = Wp (kd*f x R) . G (R x gcols), then
             * out (f x len*plane, stride P) = sum_a yall[a][:, a*plane ..], added
             * in a order like the kd accumulating sgemms this replaces. */
            if (bf16) {
                uint32_t *gp = (uint32_t *)thread_bf16(cd, work, t);
                hsi_cnn_bf16_pack_b(R, gcols, buf, gcols, gp);
                hsi_cnn_bf16_gemm_nn(cd->kd * cd->f, gcols, R, bf16_weights(cd, work), gp, 0, yall,
                                     gcols);
            } else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cd->kd * cd->f, gcols, R,
                            1.0f, wp, R, buf, gcols, 0.0f, yall, gcols);
            for (int f = 0; f < cd->f; f++) {
                float *restrict o = out + (size_t)f * P;
                const float *restrict y0 = yall + (size_t)f * gcols;
#pragma omp simd
                for (int i = 0; i < cols; i++) o[i] = y0[i];
                for (int a = 1; a < cd->kd; a++) {
                    const float *restrict ya =
                        yall + ((size_t)a * cd->f + f) * gcols + (size_t)a * plane;
#pragma omp simd
                    for (int i = 0; i < cols; i++) o[i] += ya[i];
                }
            }
        } else {
            vol2col(cd, x + n * in_size, d0, len, buf);
            /* out (f x len*plane, stride P) = W (f x K) . col (K x len*plane) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cd->f, len * plane, K, 1.0f, w,
                        K, buf, len * plane, 0.0f, out, P);
        }
        finish_block(cd, bias, act == HSI_CNN_ACT_SOFTMAX ? HSI_CNN_ACT_LINEAR : act, out,
                     len * plane, P);
        if (pd) pool_sample(pd, out, n, ypool, argmax);
    }
    blas_threads_restore(saved);
    if (act == HSI_CNN_ACT_SOFTMAX) /* not elementwise: over each filter's volume */
        cpu_activation_forward(be, act, cd->n * cd->f, P, y);
}

static void cpu_conv_forward(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd,
                             const float *x, const float *w, const float *bias,
                             hsi_cnn_activation act, float *y, float *work)
{
    conv_forward(be, cd, x, w, bias, act, y, work, NULL, NULL, NULL);
}

static int fuse_pool = 1;

void hsi_cnn_cpu_set_fused_pool(int enabled)
{
    fuse_pool = enabled;
}

/* Fusable: an elementwise activation, a pool over exactly this conv's
 * output, and work items that are whole samples (the taps path, or one
 * depth block per sample). */
static int forward_fusable(const hsi_cnn_conv_desc *cd, hsi_cnn_activation act,
                           const hsi_cnn_pool_desc *pd)
{
    if (!fuse_pool || act == HSI_CNN_ACT_SOFTMAX || pd->n != cd->n || pd->c != cd->f ||
        pd->d != cd->od || pd->h != cd->oh || pd->w != cd->ow)
        return 0;
    if (use_taps(cd) || use_wino(cd)) return 1;
    int nd = use_shift(cd) ? shift_block_depth(cd) : conv_block_depth(cd);
    return nd >= cd->od;
}

static int cpu_conv_forward_maxpool(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd,
                                    const float *x, const float *w, const float *bias,
                                    hsi_cnn_activation act, const hsi_cnn_pool_desc *pd,
                                    float *ypool, int32_t *argmax, float *work)
{
    if (!argmax || !forward_fusable(cd, act, pd)) return 0;
    conv_forward(be, cd, x, w, bias, act, NULL, work, pd, ypool, argmax);
    return 1;
}

static void cpu_conv_backward_data(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd,
                                   const float *dy, const float *w, float *dx, float *work)
{
    (void)be;
    const int shift = use_shift(cd), K = conv_rows(cd), R = shift_rows(cd);
    const int nd = shift ? shift_block_depth(cd) : conv_block_depth(cd);
    const int plane = cd->oh * cd->ow, P = cd->od * plane;
    const size_t in_size = (size_t)cd->c * cd->d * cd->h * cd->w, out_size = (size_t)cd->f * P;
    if (use_wino(cd)) {
        /* Blocks of whole samples: each writes only its own dx. */
        const int nb = wino_nb(cd, cd->n), blocks = (cd->n + nb - 1) / nb;
        hsi_cnn_wino_plan p;
        wino_plan(cd, nb, &p);
        hsi_cnn_wino_filter_transform(&p, cd, w, work);
        int saved = blas_threads_save();
#pragma omp parallel for schedule(dynamic, 1)
        for (int b = 0; b < blocks; b++) {
            const int s0 = b * nb, len = cd->n - s0 < nb ? cd->n - s0 : nb;
            hsi_cnn_wino_data_block(&p, cd, work, dy + s0 * out_size, len, 1, dx + s0 * in_size,
                                    thread_block(cd, work, thread_id()));
        }
        blas_threads_restore(saved);
        return;
    }
    const float *wp = work;
    const int bf16 = use_bf16(cd);
    if (shift) permute_weights(cd, w, work, 1);
    /* Wp^T (R x kd*f) for dG below. */
    if (bf16) hsi_cnn_bf16_pack_a(R, cd->kd * cd->f, wp, R, 1, bf16_weights(cd, work));
    int saved = blas_threads_save();
    /* One sample per iteration: blocks of a sample overlap in dx. */
#pragma omp parallel for schedule(dynamic, 1)
    for (int n = 0; n < cd->n; n++) {
        const int t = thread_id();
        float *buf = thread_block(cd, work, t);
        float *dxn = dx + n * in_size;
        memset(dxn, 0, sizeof(float) * in_size);
        for (int d0 = 0; d0 < cd->od; d0 += nd) {
            int len = cd->od - d0 < nd ? cd->od - d0 : nd;
            const float *dyb = dy + n * out_size + (size_t)d0 * plane;
            if (shift) {
                const int gcols = (len + cd->kd - 1) * plane;
                float *e = buf + plane_floats(cd);
                shift_expand(cd, dyb, P, len, e);
                /* dG (R x gcols) = sum_a Wp[a]^T (R x f) . dy block shifted by a planes
                 *               = Wp^T (R x kd*f) . E (kd*f x gcols) */
                if (bf16) {
                    uint32_t *ep = (uint32_t *)thread_bf16(cd, work, t);
                    hsi_cnn_bf16_pack_b(cd->kd * cd->f, gcols, e, gcols, ep);
                    hsi_cnn_bf16_gemm_nn(R, gcols, cd->kd * cd->f, bf16_weights(cd, work), ep, 0,
                                         buf, gcols);
                } else
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, R, gcols,
                                cd->kd * cd->f, 1.0f, wp, R, e, gcols, 0.0f, buf, gcols);
                plane2vol(cd, buf, d0, len, dxn, 0);
            } else {
                /* dcol (K x len*plane) = W^T (K x f) . dy block (f x len*plane, stride P) */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, len * plane, cd->f, 1.0f,
                            w, K, dyb, P, 0.0f, buf, len * plane);
                col2vol_add(cd, buf, d0, len, dxn);
            }
        }
    }
    blas_threads_restore(saved);
}

/* A tap layer's filter gradient for one sample in bf16, as the product
 *     dW (f x K) += dy (f x Q) . T^T,   T[k] = G row (c, b, e) shifted by a planes
 * for weight k = (c, a, b, e): every row of T is a contiguous slice of one
 * row of G (conv_taps.h), so T is never built; the bf16 dot-product kernel
 * reads dy's rows and G's shifted rows in place. g: the sample's G (fp32,
 * R x gstride); space: taps_bf16_floats. */
static void taps_filter_bf16(const hsi_cnn_conv_desc *cd, const float *g, const float *dyn,
                             float *dw_g, float *space)
{
    const int R = shift_rows(cd), K = conv_rows(cd), hw = cd->kh * cd->kw;
    const int plane = cd->oh * cd->ow, Q = cd->od * plane;
    const size_t gstride = taps_gstride(cd), q32 = round32(Q), g32 = round32(gstride);
    uint16_t *dh = (uint16_t *)space, *gh = dh + cd->f * q32;
    const uint16_t **rows = (const uint16_t **)(space + round16((cd->f * q32 + R * g32 + 32) / 2 + 1));
    hsi_cnn_bf16_rows(cd->f, Q, dyn, Q, dh);
    hsi_cnn_bf16_rows(R, (int)gstride, g, (int)gstride, gh);
    /* A shifted row reads up to 31 values past its G row: the next row, or
     * after the last these zeros (all times dy's zero padding). */
    memset(gh + R * g32, 0, 32 * sizeof(uint16_t));
    for (int f = 0; f < cd->f; f++) rows[f] = dh + f * q32;
    for (int k = 0; k < K; k++) {
        int c = k / (cd->kd * hw), a = k / hw % cd->kd, i = k % hw;
        rows[cd->f + k] = gh + (size_t)(c * hw + i) * g32 + (size_t)a * plane;
    }
    hsi_cnn_bf16_gemm_nt_rows(cd->f, K, Q, rows, rows + cd->f, dw_g, K);
}

/* A shift conv's filter gradient for one block in bf16: dWp (kd*f x R) +=
 * E (kd*f x gcols) . G^T as dot products over gcols of bf16 rows, where
 * E's row (a, f) (shift_expand) is read in place as a shifted view of one
 * zero-padded bf16 row of dy per filter:
 *     dyz[f] = [(kd-1)*plane zeros][dy block row f, len*plane][zeros]
 *     E[(a, f)][j] = dyz[f][(kd-1-a)*plane + j]
 * so E (kd times dy's size) is neither built nor converted. g: the block's
 * G (R x gcols, fp32); space: bf16_thread_floats. */
static void shift_filter_bf16(const hsi_cnn_conv_desc *cd, const float *g, const float *dyb,
                              int P, int len, float *dw_g, float *space)
{
    const int R = shift_rows(cd), kf = cd->kd * cd->f, plane = cd->oh * cd->ow;
    const int gcols = (len + cd->kd - 1) * plane, lead = (cd->kd - 1) * plane;
    const size_t zs = shift_dyz_stride(cd, gcols);
    const size_t eh = hsi_cnn_bf16_rows_floats(kf, gcols), dyz_floats = (size_t)cd->f * zs / 2 + 1;
    uint16_t *dyz = (uint16_t *)space;
    uint16_t *gh = (uint16_t *)(space + round16(eh > dyz_floats ? eh : dyz_floats));
    const uint16_t **rows =
        (const uint16_t **)((float *)gh + round16(hsi_cnn_bf16_rows_floats(R, gcols)));
    const size_t body = round32((size_t)len * plane); /* what hsi_cnn_bf16_rows writes */
    for (int f = 0; f < cd->f; f++) {
        uint16_t *z = dyz + (size_t)f * zs;
        memset(z, 0, sizeof(uint16_t) * lead);
        hsi_cnn_bf16_rows(1, len * plane, dyb + (size_t)f * P, P, z + lead);
        memset(z + lead + body, 0, sizeof(uint16_t) * (zs - lead - body));
    }
    hsi_cnn_bf16_rows(R, gcols, g, gcols, gh);
    const size_t g32 = round32(gcols);
    for (int a = 0; a < cd->kd; a++)
        for (int f = 0; f < cd->f; f++)
            rows[a * cd->f + f] = dyz + (size_t)f * zs + (size_t)(cd->kd - 1 - a) * plane;
    for (int r = 0; r < R; r++) rows[kf + r] = gh + (size_t)r * g32;
    hsi_cnn_bf16_gemm_nt_rows(kf, R, gcols, rows, rows + kf, dw_g, R);
}

static void cpu_conv_backward_filter(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd,
                                     const float *x, const float *dy, float *dw, float *dbias,
                                     float *work)
{
    (void)be;
    const int shift = use_shift(cd), K = conv_rows(cd), R = shift_rows(cd);
    const int nd = shift ? shift_block_depth(cd) : conv_block_depth(cd);
    const int plane = cd->oh * cd->ow, P = cd->od * plane;
    const size_t in_size = (size_t)cd->c * cd->d * cd->h * cd->w, out_size = (size_t)cd->f * P;
    const int groups = cd->n < DW_GROUPS ? cd->n : DW_GROUPS, taps = use_taps(cd);
    const int bf16 = use_bf16(cd), bf16_taps = use_bf16_taps(cd), wino = use_wino(cd);
    /* The group sums: dW (f x K), or with Winograd M^T (alpha x R x f). */
    hsi_cnn_wino_plan wp;
    if (wino) wino_plan(cd, wino_nb(cd, (cd->n + DW_GROUPS - 1) / DW_GROUPS), &wp);
    const size_t dw_floats = wino ? hsi_cnn_wino_u_floats(&wp, cd) : (size_t)cd->f * K;
    int saved = blas_threads_save();
#pragma omp parallel for schedule(dynamic, 1)
    for (int g = 0; g < groups; g++) {
        const int t = thread_id();
        float *buf = thread_block(cd, work, t);
        float *dw_g = group_dw(cd, work, g), *db_g = dw_g + dw_floats;
        memset(dw_g, 0, sizeof(float) * (dw_floats + cd->f));
        if (wino) {
            /* The group's samples g, g + DW_GROUPS, ... in blocks of wp.nb. */
            const int count = (cd->n - g + DW_GROUPS - 1) / DW_GROUPS;
            for (int i0 = 0; i0 < count; i0 += wp.nb) {
                const int len = count - i0 < wp.nb ? count - i0 : wp.nb;
                const size_t s0 = (size_t)g + (size_t)i0 * DW_GROUPS;
                hsi_cnn_wino_filter_block(&wp, cd, x + s0 * in_size, dy + s0 * out_size, len,
                                          DW_GROUPS, dw_g, buf);
            }
            for (int n = g; n < cd->n; n += DW_GROUPS)
                for (int f = 0; f < cd->f; f++)
                    db_g[f] += sum_floats(dy + n * out_size + (size_t)f * P, P);
            continue;
        }
        if (taps) {
            /* The group's samples into 8-lane sums, then into dw_g. */
            const size_t gstride = taps_gstride(cd);
            float *scratch = buf + taps_g_floats(cd);
            float *acc = scratch + round16(hsi_cnn_taps_scratch_floats(cd));
            memset(acc, 0, sizeof(float) * hsi_cnn_taps_acc_floats(cd));
            for (int n = g; n < cd->n; n += DW_GROUPS) {
                const float *dyn = dy + n * out_size;
                taps_plane(cd, x + n * in_size, buf);
                if (bf16_taps) taps_filter_bf16(cd, buf, dyn, dw_g, thread_bf16(cd, work, t));
                else hsi_cnn_taps_filter_accumulate(cd, buf, gstride, dyn, acc, scratch);
                for (int f = 0; f < cd->f; f++) db_g[f] += sum_floats(dyn + (size_t)f * P, P);
            }
            if (!bf16_taps) hsi_cnn_taps_filter_finish(cd, acc, dw_g);
            continue;
        }
        for (int n = g; n < cd->n; n += DW_GROUPS)
            for (int d0 = 0; d0 < cd->od; d0 += nd) {
                int len = cd->od - d0 < nd ? cd->od - d0 : nd;
                const float *dyb = dy + n * out_size + (size_t)d0 * plane;
                if (shift) {
                    const int gcols = (len + cd->kd - 1) * plane;
                    float *e = buf + plane_floats(cd);
                    vol2plane(cd, x + n * in_size, d0, len, buf);
                    /* dWp[a] (f x R) += dy block (f x len*plane) . G[:, a*plane ..]^T for
                     * every a at once: dWp (kd*f x R) += E (kd*f x gcols) . G^T */
                    if (bf16)
                        shift_filter_bf16(cd, buf, dyb, P, len, dw_g, thread_bf16(cd, work, t));
                    else {
                        shift_expand(cd, dyb, P, len, e);
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cd->kd * cd->f, R,
                                    gcols, 1.0f, e, gcols, buf, gcols, 1.0f, dw_g, R);
                    }
                } else {
                    vol2col(cd, x + n * in_size, d0, len, buf);
                    /* dW (f x K) += dy block (f x len*plane) . col^T */
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cd->f, K, len * plane,
                                1.0f, dyb, P, buf, len * plane, 1.0f, dw_g, K);
                }
                for (int f = 0; f < cd->f; f++)
                    db_g[f] += sum_floats(dyb + (size_t)f * P, len * plane);
            }
    }
    /* Add the groups in order (see DW_GROUPS), each value on one thread
     * (with Winograd 16 x 110k values for the Lange net's conv2). */
    float *acc = group_dw(cd, work, 0);
    const long total = (long)(dw_floats + cd->f);
#pragma omp parallel for schedule(static)
    for (long i0 = 0; i0 < total; i0 += 4096) {
        const long i1 = total - i0 < 4096 ? total : i0 + 4096;
        for (int g = 1; g < groups; g++) {
            const float *dw_g = group_dw(cd, work, g);
            for (long i = i0; i < i1; i++) acc[i] += dw_g[i];
        }
    }
    if (wino) hsi_cnn_wino_filter_finish(&wp, cd, acc, dw);
    else if (shift) permute_weights(cd, acc, dw, 0);
    else memcpy(dw, acc, sizeof(float) * dw_floats);
    if (dbias) memcpy(dbias, acc + dw_floats, sizeof(float) * cd->f);
    blas_threads_restore(saved);
}

/* ---------------------------------------------------------------- pooling, padding */

/* The spectral pooling planes below are selects (compare, keep value and
 * index). GCC vectorises them with AVX2's masked selects but not at the
 * default build's SSE2 level, where the Lange net spent 3x longer in pooling
 * (a fifth of a training step); the default build is not -march=native, so
 * they are compiled for both and the loader picks one (ifunc). Selects only:
 * the results are the same bits either way. */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define POOL_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef POOL_CLONES
#define POOL_CLONES
#endif

/* 8 floats / int32s, any alignment (GCC vector extensions: one AVX register
 * in the AVX2 clone, two SSE registers at the baseline). */
typedef float pool_v8f __attribute__((vector_size(32), aligned(4)));
typedef int32_t pool_v8i __attribute__((vector_size(32), aligned(4)));

/* Spectral-only max-pool of one (sample, channel) volume (the Lange net):
 * x (d x hw) -> y (od x hw) and am, window o the planes o*sd .. o*sd + kd
 * - 1. One dispatched call per volume (per plane, 49 values for a 9 x 9
 * patch, the calls cost as much as the work), 8 values of a window at a
 * time with the running max and its index in registers; where hw is not a
 * multiple of 8 the last 8 overlap the 8 before (the same values stored
 * twice). Was a fold of each plane into y and am, 2.5x slower on the Lange
 * net's first pool. The first of equal values wins, as in the generic loop
 * below. */
POOL_CLONES static void pool_spectral_max(const float *restrict x, float *restrict y,
                                          int32_t *restrict am, int od, int kd, int sd, int hw)
{
    const pool_v8i iota = {0, 1, 2, 3, 4, 5, 6, 7};
    for (int o = 0; o < od; o++) {
        const int32_t first = o * sd * hw;
        const float *x0 = x + first;
        float *yp = y + (size_t)o * hw;
        int32_t *ap = am + (size_t)o * hw;
        int i = 0;
        if (hw >= 8)
            for (;; i += 8) {
                if (i + 8 > hw) i = hw - 8; /* the overlapping last 8 */
                pool_v8f best = *(const pool_v8f *)(x0 + i);
                pool_v8i where = first + i + iota;
                for (int a = 1; a < kd; a++) {
                    const pool_v8f v = *(const pool_v8f *)(x0 + (size_t)a * hw + i);
                    const pool_v8i better = v > best; /* -1 where v wins */
                    best = (pool_v8f)((better & (pool_v8i)v) | (~better & (pool_v8i)best));
                    where = (better & (first + a * hw + i + iota)) | (~better & where);
                }
                *(pool_v8f *)(yp + i) = best;
                *(pool_v8i *)(ap + i) = where;
                if (i + 8 == hw) break;
            }
        for (; i < hw; i++) { /* planes under 8 values */
            float best = x0[i];
            int32_t where = first + i;
            for (int a = 1; a < kd; a++)
                if (x0[a * hw + i] > best) best = x0[a * hw + i], where = first + a * hw + i;
            yp[i] = best, ap[i] = where;
        }
    }
}

/* Its gradient where the windows tile the depth (sd = kd): every input
 * plane of window o gets dy[o] where it was the max (and, with a ReLU
 * gate y, the max was positive), else 0; planes past the last window 0. */
POOL_CLONES static void pool_spectral_grad(float *restrict dx, const int32_t *restrict am,
                                           const float *restrict y, const float *restrict dy,
                                           int od, int kd, int hw, size_t in_vol)
{
    for (int o = 0; o < od; o++) {
        const int32_t *restrict ao = am + (size_t)o * hw;
        const float *restrict go = dy + (size_t)o * hw;
        const float *restrict yo = y ? y + (size_t)o * hw : NULL;
        for (int a = 0; a < kd; a++) {
            const int32_t first = (o * kd + a) * hw;
            float *restrict dp = dx + first;
            if (yo) {
#pragma omp simd
                for (int i = 0; i < hw; i++) dp[i] = ao[i] == first + i && yo[i] > 0 ? go[i] : 0.0f;
            } else {
#pragma omp simd
                for (int i = 0; i < hw; i++) dp[i] = ao[i] == first + i ? go[i] : 0.0f;
            }
        }
    }
    const size_t covered = (size_t)od * kd * hw;
    memset(dx + covered, 0, sizeof(float) * (in_vol - covered));
}

/* One (sample, channel) volume: yo, and am (NULL: not recorded). */
static void maxpool_channel(const hsi_cnn_pool_desc *pd, const float *xi, float *yo, int32_t *am)
{
    if (pd->kh == 1 && pd->kw == 1 && pd->sh == 1 && pd->sw == 1 && am) {
        /* Spectral-only pooling (the Lange net): whole planes at a time,
         * so the inner loops run over contiguous memory and vectorise. */
        pool_spectral_max(xi, yo, am, pd->od, pd->kd, pd->sd, pd->h * pd->w);
        return;
    }
    for (int od = 0; od < pd->od; od++)
        for (int oh = 0; oh < pd->oh; oh++)
            for (int ow = 0; ow < pd->ow; ow++) {
                float best = -INFINITY;
                int32_t where = 0;
                for (int a = 0; a < pd->kd; a++)
                    for (int b = 0; b < pd->kh; b++)
                        for (int e = 0; e < pd->kw; e++) {
                            int32_t i = ((od * pd->sd + a) * pd->h + oh * pd->sh + b) * pd->w +
                                        ow * pd->sw + e;
                            if (xi[i] > best) best = xi[i], where = i;
                        }
                size_t o = ((size_t)od * pd->oh + oh) * pd->ow + ow;
                yo[o] = best;
                if (am) am[o] = where;
            }
}

static void cpu_maxpool_forward(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                                const float *x, float *y, int32_t *argmax)
{
    (void)be;
    size_t in_vol = (size_t)pd->d * pd->h * pd->w, out_vol = (size_t)pd->od * pd->oh * pd->ow;
#pragma omp parallel for schedule(static)
    for (long nc = 0; nc < (long)pd->n * pd->c; nc++)
        maxpool_channel(pd, x + nc * in_vol, y + nc * out_vol,
                        argmax ? argmax + nc * out_vol : NULL);
}

static void cpu_maxpool_backward(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                                 const float *dy, const int32_t *argmax, const float *gate,
                                 float *dx)
{
    (void)be;
    size_t in_vol = (size_t)pd->d * pd->h * pd->w, out_vol = (size_t)pd->od * pd->oh * pd->ow;
#pragma omp parallel for schedule(static)
    for (long nc = 0; nc < (long)pd->n * pd->c; nc++) {
        float *dxi = dx + nc * in_vol;
        const float *g = dy + nc * out_vol;
        const int32_t *am = argmax + nc * out_vol;
        if (pd->kh == 1 && pd->kw == 1 && pd->sh == 1 && pd->sw == 1 && pd->sd == pd->kd &&
            !pd->pd && !pd->ph && !pd->pw) {
            /* Spectral-only windows that tile the depth (the Lange net): every
             * input is in at most one window, so each is written once, in
             * order, with its window's gradient or 0 - no zeroing pass and no
             * scattered adds. */
            pool_spectral_grad(dxi, am, gate ? gate + nc * out_vol : NULL, g, pd->od, pd->kd,
                               pd->h * pd->w, in_vol);
            continue;
        }
        memset(dxi, 0, sizeof(float) * in_vol);
        if (gate) {
            const float *y = gate + nc * out_vol;
            for (size_t o = 0; o < out_vol; o++)
                if (y[o] > 0) dxi[am[o]] += g[o];
        } else {
            for (size_t o = 0; o < out_vol; o++) dxi[am[o]] += g[o];
        }
    }
}

static void cpu_avgpool_forward(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                                const float *x, float *y)
{
    (void)be;
    size_t in_vol = (size_t)pd->d * pd->h * pd->w, out_vol = (size_t)pd->od * pd->oh * pd->ow;
    const float inv = 1.0f / (pd->kd * pd->kh * pd->kw);
#pragma omp parallel for schedule(static)
    for (long nc = 0; nc < (long)pd->n * pd->c; nc++) {
        const float *xi = x + nc * in_vol;
        float *yo = y + nc * out_vol;
        for (int od = 0; od < pd->od; od++)
            for (int oh = 0; oh < pd->oh; oh++)
                for (int ow = 0; ow < pd->ow; ow++) {
                    float s = 0;
                    for (int a = 0; a < pd->kd; a++)
                        for (int b = 0; b < pd->kh; b++)
                            for (int e = 0; e < pd->kw; e++)
                                s += xi[((od * pd->sd + a) * pd->h + oh * pd->sh + b) * pd->w +
                                        ow * pd->sw + e];
                    yo[((size_t)od * pd->oh + oh) * pd->ow + ow] = s * inv;
                }
    }
}

static void cpu_avgpool_backward(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                                 const float *dy, float *dx)
{
    (void)be;
    size_t in_vol = (size_t)pd->d * pd->h * pd->w, out_vol = (size_t)pd->od * pd->oh * pd->ow;
    const float inv = 1.0f / (pd->kd * pd->kh * pd->kw);
#pragma omp parallel for schedule(static)
    for (long nc = 0; nc < (long)pd->n * pd->c; nc++) {
        float *dxi = dx + nc * in_vol;
        const float *dyo = dy + nc * out_vol;
        memset(dxi, 0, sizeof(float) * in_vol);
        for (int od = 0; od < pd->od; od++)
            for (int oh = 0; oh < pd->oh; oh++)
                for (int ow = 0; ow < pd->ow; ow++) {
                    float g = dyo[((size_t)od * pd->oh + oh) * pd->ow + ow] * inv;
                    for (int a = 0; a < pd->kd; a++)
                        for (int b = 0; b < pd->kh; b++)
                            for (int e = 0; e < pd->kw; e++)
                                dxi[((od * pd->sd + a) * pd->h + oh * pd->sh + b) * pd->w +
                                    ow * pd->sw + e] += g;
                }
    }
}

static void cpu_pad_forward(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                            const float *x, float *y)
{
    (void)be;
    size_t in_vol = (size_t)pd->d * pd->h * pd->w, out_vol = (size_t)pd->od * pd->oh * pd->ow;
#pragma omp parallel for schedule(static)
    for (long nc = 0; nc < (long)pd->n * pd->c; nc++) {
        float *yo = y + nc * out_vol;
        memset(yo, 0, sizeof(float) * out_vol);
        for (int d = 0; d < pd->d; d++)
            for (int h = 0; h < pd->h; h++)
                memcpy(yo + ((size_t)(d + pd->pd) * pd->oh + h + pd->ph) * pd->ow + pd->pw,
                       x + nc * in_vol + ((size_t)d * pd->h + h) * pd->w, sizeof(float) * pd->w);
    }
}

static void cpu_pad_backward(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                             const float *dy, float *dx)
{
    (void)be;
    size_t in_vol = (size_t)pd->d * pd->h * pd->w, out_vol = (size_t)pd->od * pd->oh * pd->ow;
#pragma omp parallel for schedule(static)
    for (long nc = 0; nc < (long)pd->n * pd->c; nc++)
        for (int d = 0; d < pd->d; d++)
            for (int h = 0; h < pd->h; h++)
                memcpy(dx + nc * in_vol + ((size_t)d * pd->h + h) * pd->w,
                       dy + nc * out_vol + ((size_t)(d + pd->pd) * pd->oh + h + pd->ph) * pd->ow +
                           pd->pw,
                       sizeof(float) * pd->w);
}

/* ---------------------------------------------------------------- dense helpers, activations */

static void cpu_bias_add(const hsi_cnn_backend *be, int rows, int cols, const float *bias,
                         float *y)
{
    (void)be;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) y[(size_t)r * cols + c] += bias[c];
}

static void cpu_bias_grad(const hsi_cnn_backend *be, int rows, int cols, const float *dy,
                          float *db)
{
    (void)be;
    for (int c = 0; c < cols; c++) {
        double s = 0;
        for (int r = 0; r < rows; r++) s += dy[(size_t)r * cols + c];
        db[c] = (float)s;
    }
}

static void cpu_activation_forward(const hsi_cnn_backend *be, hsi_cnn_activation act, int rows,
                                   int cols, float *y)
{
    (void)be;
    size_t n = (size_t)rows * cols;
    switch (act) {
    case HSI_CNN_ACT_LINEAR: break;
    case HSI_CNN_ACT_RELU:
#pragma omp parallel for simd schedule(static) if (n > 65536)
        for (size_t i = 0; i < n; i++) y[i] = y[i] > 0 ? y[i] : 0.0f;
        break;
    case HSI_CNN_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-y[i]));
        break;
    case HSI_CNN_ACT_TANH:
        for (size_t i = 0; i < n; i++) y[i] = tanhf(y[i]);
        break;
    case HSI_CNN_ACT_SOFTMAX:
        for (int r = 0; r < rows; r++) {
            float *v = y + (size_t)r * cols, mx = v[0];
            for (int c = 1; c < cols; c++) mx = v[c] > mx ? v[c] : mx;
            double s = 0;
            for (int c = 0; c < cols; c++) s += v[c] = expf(v[c] - mx);
            for (int c = 0; c < cols; c++) v[c] = (float)(v[c] / s);
        }
        break;
    }
}

static void cpu_activation_backward(const hsi_cnn_backend *be, hsi_cnn_activation act, int rows,
                                    int cols, const float *y, float *dy)
{
    (void)be;
    size_t n = (size_t)rows * cols;
    switch (act) {
    case HSI_CNN_ACT_LINEAR: break;
    case HSI_CNN_ACT_RELU:
#pragma omp parallel for simd schedule(static) if (n > 65536)
        for (size_t i = 0; i < n; i++) dy[i] = y[i] > 0 ? dy[i] : 0.0f;
        break;
    case HSI_CNN_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) dy[i] *= y[i] * (1.0f - y[i]);
        break;
    case HSI_CNN_ACT_TANH:
        for (size_t i = 0; i < n; i++) dy[i] *= 1.0f - y[i] * y[i];
        break;
    case HSI_CNN_ACT_SOFTMAX:
        /* dx_c = y_c (dy_c - sum_j dy_j y_j) */
        for (int r = 0; r < rows; r++) {
            const float *p = y + (size_t)r * cols;
            float *g = dy + (size_t)r * cols;
            double dot = 0;
            for (int c = 0; c < cols; c++) dot += (double)g[c] * p[c];
            for (int c = 0; c < cols; c++) g[c] = (float)(p[c] * (g[c] - dot));
        }
        break;
    }
}

/* ---------------------------------------------------------------- batch normalisation */

static void cpu_bn_forward(const hsi_cnn_backend *be, int n, int c, int s, const float *x,
                           const float *gamma, const float *beta, float *running_mean,
                           float *running_var, float momentum, float eps, int training,
                           float *xhat, float *invstd, float *y)
{
    (void)be;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        double mean, var;
        if (training) {
            double sum = 0, sq = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < s; j++) sum += x[((size_t)i * c + ch) * s + j];
            mean = sum / ((double)n * s);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < s; j++) {
                    double d = x[((size_t)i * c + ch) * s + j] - mean;
                    sq += d * d;
                }
            var = sq / ((double)n * s); /* biased, used to normalise */
            double m = (double)n * s;
            double unbiased = m > 1 ? sq / (m - 1) : var;
            running_mean[ch] = (float)(momentum * running_mean[ch] + (1 - momentum) * mean);
            running_var[ch] = (float)(momentum * running_var[ch] + (1 - momentum) * unbiased);
        } else {
            mean = running_mean[ch];
            var = running_var[ch];
        }
        float inv = (float)(1.0 / sqrt(var + eps));
        if (invstd) invstd[ch] = inv;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < s; j++) {
                size_t k = ((size_t)i * c + ch) * s + j;
                float h = (float)((x[k] - mean) * inv);
                if (xhat) xhat[k] = h;
                y[k] = gamma[ch] * h + beta[ch];
            }
    }
}

/* dx = invstd/m * (m dxhat - sum dxhat - xhat sum(dxhat xhat)), dxhat = dy gamma */
static void cpu_bn_backward(const hsi_cnn_backend *be, int n, int c, int s, const float *dy,
                            const float *xhat, const float *invstd, const float *gamma,
                            float *dgamma, float *dbeta, float *dx)
{
    (void)be;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        double sdy = 0, sdyx = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < s; j++) {
                size_t k = ((size_t)i * c + ch) * s + j;
                sdy += dy[k];
                sdyx += (double)dy[k] * xhat[k];
            }
        dgamma[ch] = (float)sdyx;
        dbeta[ch] = (float)sdy;
        if (!dx) continue;
        double m = (double)n * s;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < s; j++) {
                size_t k = ((size_t)i * c + ch) * s + j;
                dx[k] = (float)(gamma[ch] * invstd[ch] / m * (m * dy[k] - sdy - xhat[k] * sdyx));
            }
    }
}

/* ---------------------------------------------------------------- elementwise, optimisers */

static void cpu_mul(const hsi_cnn_backend *be, size_t n, const float *x, const float *mask,
                    float *y)
{
    (void)be;
    for (size_t i = 0; i < n; i++) y[i] = x[i] * mask[i];
}

static void cpu_copy(const hsi_cnn_backend *be, size_t n, const float *src, float *dst)
{
    (void)be;
    if (n && src != dst) memmove(dst, src, n * sizeof(float));
}

/* A resident table's rows by index. The training loop uses it on the CPU
 * only when told to (tests: it copies each window once more than a host
 * gather would); on a GPU it saves the upload of every batch. */
static void cpu_gather_rows(const hsi_cnn_backend *be, const float *table, size_t row_len,
                            const size_t *idx, int n, float *out)
{
    (void)be;
#pragma omp parallel for schedule(static) if ((size_t)n * row_len > 65536)
    for (int i = 0; i < n; i++)
        memcpy(out + (size_t)i * row_len, table + idx[i] * row_len, row_len * sizeof *out);
}

/* Windows from a band of rows: the host gather itself (features/patch.c);
 * on the CPU prediction gathers through the patch iterator instead, so this
 * serves a device that is host memory (tests). hsi_pixel is (row, col) as
 * uint32_t pairs. */
_Static_assert(sizeof(hsi_pixel) == 2 * sizeof(uint32_t), "hsi_pixel is a (row, col) pair");

static void cpu_gather_windows(const hsi_cnn_backend *be, const float *rows, size_t first,
                               size_t count, size_t scene_rows, size_t cols, size_t bands,
                               const uint32_t *pixels, int n, int radius, int mirror, float *out)
{
    (void)be;
    hsi_patch_gather_rows_unchecked(rows, first, count, scene_rows, cols, bands,
                                    (const hsi_pixel *)pixels, (size_t)n, radius,
                                    mirror ? HSI_BORDER_MIRROR : HSI_BORDER_ZERO, out);
}

static void cpu_sgd_update(const hsi_cnn_backend *be, size_t n, float *w, const float *g,
                           float *v, float lr, float momentum, int nesterov, float wd)
{
    (void)be;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * w[i];
        if (momentum == 0.0f) {
            w[i] -= lr * gi;
            continue;
        }
        v[i] = momentum * v[i] - lr * gi;
        w[i] += nesterov ? momentum * v[i] - lr * gi : v[i];
    }
}

static void cpu_adam_update(const hsi_cnn_backend *be, size_t n, float *w, const float *g,
                            float *m, float *v, float lr, float b1, float b2, float eps, float wd,
                            uint64_t t)
{
    (void)be;
    double c1 = 1.0 - pow(b1, (double)t), c2 = 1.0 - pow(b2, (double)t);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * w[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        double mh = m[i] / c1, vh = v[i] / c2;
        w[i] -= (float)(lr * mh / (sqrt(vh) + eps));
    }
}

static const hsi_cnn_backend cpu_backend = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .release = cpu_release,
    .upload = cpu_memcpy,
    .download = cpu_memcpy,
    .gemm = cpu_gemm,
    .conv3d_workspace = cpu_conv_workspace,
    .conv3d_forward = cpu_conv_forward,
    .conv3d_backward_data = cpu_conv_backward_data,
    .conv3d_backward_filter = cpu_conv_backward_filter,
    .conv3d_forward_maxpool = cpu_conv_forward_maxpool,
    .maxpool3d_forward = cpu_maxpool_forward,
    .maxpool3d_backward = cpu_maxpool_backward,
    .avgpool3d_forward = cpu_avgpool_forward,
    .avgpool3d_backward = cpu_avgpool_backward,
    .pad3d_forward = cpu_pad_forward,
    .pad3d_backward = cpu_pad_backward,
    .bias_add = cpu_bias_add,
    .bias_grad = cpu_bias_grad,
    .activation_forward = cpu_activation_forward,
    .activation_backward = cpu_activation_backward,
    .batchnorm_forward = cpu_bn_forward,
    .batchnorm_backward = cpu_bn_backward,
    .mul = cpu_mul,
    .copy = cpu_copy,
    .gather_rows = cpu_gather_rows,
    .gather_windows = cpu_gather_windows,
    .sgd_update = cpu_sgd_update,
    .adam_update = cpu_adam_update,
    .seq_pack = hsi_cnn_cpu_seq_pack,
    .seq_unpack = hsi_cnn_cpu_seq_unpack,
    .lstm_forward = hsi_cnn_cpu_lstm_forward,
    .lstm_backward = hsi_cnn_cpu_lstm_backward,
    .gru_forward = hsi_cnn_cpu_gru_forward,
    .gru_backward = hsi_cnn_cpu_gru_backward,
    .ctx = NULL,
};

static const hsi_cnn_backend reference_backend = {
    .name = "reference",
    .alloc = cpu_alloc,
    .release = cpu_release,
    .upload = cpu_memcpy,
    .download = cpu_memcpy,
    .gemm = cpu_gemm,
    .conv3d_workspace = naive_workspace,
    .conv3d_forward = naive_forward,
    .conv3d_backward_data = naive_backward_data,
    .conv3d_backward_filter = naive_backward_filter,
    .maxpool3d_forward = cpu_maxpool_forward,
    .maxpool3d_backward = cpu_maxpool_backward,
    .avgpool3d_forward = cpu_avgpool_forward,
    .avgpool3d_backward = cpu_avgpool_backward,
    .pad3d_forward = cpu_pad_forward,
    .pad3d_backward = cpu_pad_backward,
    .bias_add = cpu_bias_add,
    .bias_grad = cpu_bias_grad,
    .activation_forward = cpu_activation_forward,
    .activation_backward = cpu_activation_backward,
    .batchnorm_forward = cpu_bn_forward,
    .batchnorm_backward = cpu_bn_backward,
    .mul = cpu_mul,
    .copy = cpu_copy,
    .gather_rows = cpu_gather_rows,
    .gather_windows = cpu_gather_windows,
    .sgd_update = cpu_sgd_update,
    .adam_update = cpu_adam_update,
    .seq_pack = hsi_cnn_cpu_seq_pack,
    .seq_unpack = hsi_cnn_cpu_seq_unpack,
    .lstm_forward = hsi_cnn_cpu_lstm_forward,
    .lstm_backward = hsi_cnn_cpu_lstm_backward,
    .gru_forward = hsi_cnn_cpu_gru_forward,
    .gru_backward = hsi_cnn_cpu_gru_backward,
    .ctx = NULL,
};

const hsi_cnn_backend *hsi_cnn_backend_cpu(void)
{
    return &cpu_backend;
}

const hsi_cnn_backend *hsi_cnn_backend_reference(void)
{
    return &reference_backend;
}
