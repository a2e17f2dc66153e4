/* conv_winograd.c - Winograd F(m, kd) along the spectral axis for the CPU
 * backend's depth-shift convolutions: transforms and block kernels (see
 * conv_winograd.h for the algebra and the names).
 *
 * Shapes, for one block of nb samples, T = ceil(od / m) tiles per sample,
 * plane = oh*ow, hw = h*w, R = c*kh*kw, N = nb*T*plane:
 *     Xt  (alpha x c x nb*T x hw)  the input transform, every xi
 *     V   (R x N)                  one xi's window gather (vol2plane with
 *                                  depth = tiles), or its data gradient
 *     Mx  (alpha x f x N)          U[xi] . V (forward), or Dt[xi] (gradients)
 *     DtT (nc x f)                 nc columns of Dt[xi] transposed (filter)
 * all a thread's scratch: 1.4 + 0.8 + 0.5 MB for the Lange net's conv2 at
 * nb = 1; U (alpha x f x R, 0.4 MB) is shared. The transforms make every xi
 * of a tile in one pass over its alpha input planes (mix8 / mix below), the
 * GEMMs then run one xi at a time, in chunks of nc columns where the BLAS
 * is faster so (plan's chunk). The filter gradient accumulates M[xi]^T =
 * V . Dt^T (R x f) rather than M[xi] = Dt . V^T: with both operands' sum
 * index contiguous (V^T) OpenBLAS packs both, with Dt's small chunk
 * transposed it packs one (or, in chunks, neither: conv2 filter 81 -> 69,
 * conv3 8.9 -> 7.8 CPU ms per batch).
 * Per pass on conv2 before the chunks (perf, 1 thread): the sgemm kernel
 * about half the time, OpenBLAS's packing a tenth, the gather or scatter a
 * seventh, the transforms a twentieth.
 */
#include "cnn3d/conv_winograd.h"

#include <cblas.h>
#include <string.h>

/* Finite points per alpha (infinity is the last point of every set). Small
 * dyadic points keep AT and BT exact in fp32 and their entries small; which
 * set goes with which alpha follows Lavin & Gray (F(2,3): 0, +-1; F(4,3)
 * and F(6,3): adding +-2, +-1/2), extended by +-4 for alpha 9 and 10. */
static const double points[HSI_CNN_WINO_MAX_ALPHA + 1][HSI_CNN_WINO_MAX_ALPHA - 1] = {
    [3] = {0, 1},
    [4] = {0, 1, -1},
    [5] = {0, 1, -1, 2},
    [6] = {0, 1, -1, 2, -2},
    [7] = {0, 1, -1, 2, -2, 0.5},
    [8] = {0, 1, -1, 2, -2, 0.5, -0.5},
    [9] = {0, 1, -1, 2, -2, 0.5, -0.5, 4},
    [10] = {0, 1, -1, 2, -2, 0.5, -0.5, 4, -4},
};

int hsi_cnn_wino_transforms(int m, int r, double *at, double *g, double *bt)
{
    const int alpha = m + r - 1;
    if (m < 1 || r < 1 || alpha < 3 || alpha > HSI_CNN_WINO_MAX_ALPHA) return -1;
    const int nf = alpha - 1; /* finite points; point nf is infinity */
    const double *pt = points[alpha];
    for (int i = 0; i < m; i++)
        for (int j = 0; j < alpha; j++) {
            double v = 1;
            if (j < nf)
                for (int k = 0; k < i; k++) v *= pt[j];
            else v = i == m - 1;
            at[i * alpha + j] = v;
        }
    for (int j = 0; j < alpha; j++) {
        double fj = 1;
        for (int k = 0; k < nf; k++)
            if (j < nf && k != j) fj *= pt[j] - pt[k];
        for (int a = 0; a < r; a++) {
            double v = 1;
            if (j < nf)
                for (int k = 0; k < a; k++) v *= pt[j];
            else v = a == r - 1;
            g[j * r + a] = j < nf ? v / fj : v;
        }
        /* BT row j: coefficients (degree 0 up) of prod over the finite
         * points other than j of (x - p_k); row nf: over all of them. */
        double c[HSI_CNN_WINO_MAX_ALPHA + 1] = {1};
        int deg = 0;
        for (int k = 0; k < nf; k++) {
            if (k == j) continue;
            deg++;
            for (int q = deg; q > 0; q--) c[q] = c[q - 1] - pt[k] * c[q];
            c[0] = -pt[k] * c[0];
        }
        for (int q = 0; q < alpha; q++) bt[j * alpha + q] = q <= deg ? c[q] : 0;
    }
    return 0;
}

/* alpha = 8 (every default tile): the matrices as constants, so that each
 * instance below is straight-line code in which zero coefficients vanish
 * and +-1 cost no multiply (about half of BT's 64 products). Rows 0 .. 6
 * of POW8 are p_j^i for the finite points 0, 1, -1, 2, -2, 1/2, -1/2: AT of
 * any F(m, 9 - m) is its first m rows, with e_{m-1} as the infinity
 * column. hsi_cnn_wino_plan_init checks both against the construction. */
static const float POW8[7][7] = {
    {1, 1, 1, 1, 1, 1, 1},
    {0, 1, -1, 2, -2, 0.5f, -0.5f},
    {0, 1, 1, 4, 4, 0.25f, 0.25f},
    {0, 1, -1, 8, -8, 0.125f, -0.125f},
    {0, 1, 1, 16, 16, 0.0625f, 0.0625f},
    {0, 1, -1, 32, -32, 0.03125f, -0.03125f},
    {0, 1, 1, 64, 64, 0.015625f, 0.015625f},
};
static const float BT8[8][8] = {
    {-1, 0, 5.25f, 0, -5.25f, 0, 1, 0},
    {0, 1, 1, -4.25f, -4.25f, 1, 1, 0},
    {0, -1, 1, 4.25f, -4.25f, -1, 1, 0},
    {0, 0.5f, 0.25f, -2.5f, -1.25f, 2, 1, 0},
    {0, -0.5f, 0.25f, 2.5f, -1.25f, -2, 1, 0},
    {0, 2, 4, -2.5f, -5, 0.5f, 1, 0},
    {0, -2, 4, 2.5f, -5, -0.5f, 1, 0},
    {0, -1, 0, 5.25f, 0, -5.25f, 0, 1},
};

enum { IN = 0, IN_ADJ = 1, OUT = 2, OUT_ADJ = 3 }; /* BT, BT^T, AT, AT^T */

static inline __attribute__((always_inline)) float at8(int m, int i, int j)
{
    return j == 7 ? (float)(i == m - 1) : POW8[i][j];
}

int hsi_cnn_wino_plan_init(hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd, int m, int nb)
{
    double at[HSI_CNN_WINO_MAX_ALPHA * HSI_CNN_WINO_MAX_ALPHA];
    double bt[HSI_CNN_WINO_MAX_ALPHA * HSI_CNN_WINO_MAX_ALPHA];
    memset(p, 0, sizeof *p);
    if (cd->sd != 1 || hsi_cnn_wino_transforms(m, cd->kd, at, p->g, bt)) return -1;
    p->m = m, p->r = cd->kd, p->alpha = m + cd->kd - 1;
    p->tiles = (cd->od + m - 1) / m;
    p->nb = nb < 1 ? 1 : nb;
    const int A = p->alpha;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < A; j++) p->at[i * A + j] = p->att[j * m + i] = (float)at[i * A + j];
    for (int i = 0; i < A; i++)
        for (int j = 0; j < A; j++) p->bt[i * A + j] = p->btt[j * A + i] = (float)bt[i * A + j];
    /* The constant alpha = 8 kernels where the plan's matrices are theirs. */
    p->const8 = A == 8 && m <= 7;
    for (int i = 0; i < A && p->const8; i++)
        for (int j = 0; j < A; j++) {
            if (p->bt[i * A + j] != BT8[i][j]) p->const8 = 0;
            if (i < m && p->at[i * A + j] != at8(m, i, j)) p->const8 = 0;
        }
    return 0;
}

static size_t rows(const hsi_cnn_conv_desc *cd)
{
    return (size_t)cd->c * cd->kh * cd->kw;
}

static size_t cols(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd)
{
    return (size_t)p->nb * p->tiles * cd->oh * cd->ow;
}

size_t hsi_cnn_wino_u_floats(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd)
{
    return (size_t)p->alpha * cd->f * rows(cd);
}

/* Scratch: Xt for every xi (alpha x c x nb*T x hw), V (R x N) for one xi,
 * Mx for every xi (alpha x f x N), then a plane of zeros (the padding
 * slices' input) and a plane of discards (outputs past the volume). */
static size_t round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

static size_t xt_floats(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd)
{
    return round16((size_t)p->alpha * cd->c * p->nb * p->tiles * cd->h * cd->w);
}

static size_t v_floats(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd)
{
    return round16(rows(cd) * cols(p, cd));
}

static size_t mx_floats(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd)
{
    return round16((size_t)p->alpha * cd->f * cols(p, cd));
}

static size_t dtt_floats(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd)
{
    return round16((size_t)cd->f * cols(p, cd));
}

static size_t spare_floats(const hsi_cnn_conv_desc *cd)
{
    size_t hw = (size_t)cd->h * cd->w;
    return round16(hw > (size_t)cd->oh * cd->ow ? hw : (size_t)cd->oh * cd->ow);
}

size_t hsi_cnn_wino_scratch_floats(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd)
{
    return xt_floats(p, cd) + v_floats(p, cd) + mx_floats(p, cd) + dtt_floats(p, cd) +
           2 * spare_floats(cd);
}

/* The geometry vol2plane and plane2vol see for Xt: every tile of the
 * block one depth slice of a volume nb*T deep, read without depth taps. */
static hsi_cnn_conv_desc tile_desc(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd)
{
    hsi_cnn_conv_desc t = *cd;
    t.n = 1;
    t.d = t.od = p->nb * p->tiles;
    t.kd = 1, t.sd = 1, t.pd = 0;
    return t;
}

void hsi_cnn_wino_filter_transform(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                                   const float *w, float *u)
{
    const int hw = cd->kh * cd->kw, R = (int)rows(cd);
    /* Called between the parallel passes: on one thread the others would
     * wait (each value is one thread's, the same bits for any count). */
#pragma omp parallel for collapse(2) schedule(static)
    for (int xi = 0; xi < p->alpha; xi++)
        for (int f = 0; f < cd->f; f++)
            for (int c = 0; c < cd->c; c++)
                for (int i = 0; i < hw; i++) {
                    double s = 0;
                    for (int a = 0; a < cd->kd; a++)
                        s += p->g[xi * p->r + a] *
                             w[(((size_t)f * cd->c + c) * cd->kd + a) * hw + i];
                    u[((size_t)xi * cd->f + f) * R + (size_t)c * hw + i] = (float)s;
                }
}

void hsi_cnn_wino_filter_finish(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                                const float *macc, float *dw)
{
    const int hw = cd->kh * cd->kw, R = (int)rows(cd);
#pragma omp parallel for collapse(2) schedule(static)
    for (int f = 0; f < cd->f; f++)
        for (int c = 0; c < cd->c; c++)
            for (int a = 0; a < cd->kd; a++)
                for (int i = 0; i < hw; i++) {
                    double s = 0;
                    for (int xi = 0; xi < p->alpha; xi++)
                        s += p->g[xi * p->r + a] *
                             macc[((size_t)xi * R + (size_t)c * hw + i) * cd->f + f];
                    dw[(((size_t)f * cd->c + c) * cd->kd + a) * hw + i] = (float)s;
                }
}

/* Every transform is, per tile and channel, B planes from A planes:
 *     dst[k][0 .. n) (=, or += with add) sum_j mat[k*A + j] src[j][0 .. n)
 * (input: BT, A = B = alpha; output: AT, alpha -> m; their adjoints with
 * the transposes). One pass reads the A planes once and keeps the sums in
 * registers. Instances with A and B constant for alpha = 8 (every default
 * tile), a generic one otherwise; each compiled for AVX2 and baseline and
 * chosen by the loader. No FMA in either, so both give the same bits. */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define WINO_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef WINO_CLONES
#define WINO_CLONES
#endif

/* 8 floats, any alignment (GCC vector extension: two SSE registers at the
 * baseline, one AVX register in the AVX2 clone). */
typedef float v8f __attribute__((vector_size(32), aligned(4)));

static inline __attribute__((always_inline)) void
mix(int A, int B, const float *mat, const float *const *src, float *const *dst, int n, int add)
{
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f v[HSI_CNN_WINO_MAX_ALPHA];
        for (int j = 0; j < A; j++) v[j] = *(const v8f *)(src[j] + i);
        for (int k = 0; k < B; k++) {
            v8f acc = mat[k * A] * v[0];
            for (int j = 1; j < A; j++) acc += mat[k * A + j] * v[j];
            if (add) *(v8f *)(dst[k] + i) += acc;
            else *(v8f *)(dst[k] + i) = acc;
        }
    }
    for (; i < n; i++) /* the same operations, one lane */
        for (int k = 0; k < B; k++) {
            float acc = mat[k * A] * src[0][i];
            for (int j = 1; j < A; j++) acc += mat[k * A + j] * src[j][i];
            if (add) dst[k][i] += acc;
            else dst[k][i] = acc;
        }
}

/* Coefficient (k, j) of transform `kind`: output k, input j. */
static inline __attribute__((always_inline)) float coef8(int kind, int m, int k, int j)
{
    return kind == IN ? BT8[k][j] : kind == IN_ADJ ? BT8[j][k] : kind == OUT ? at8(m, k, j)
                                                                             : at8(m, j, k);
}

static inline __attribute__((always_inline)) void
mix8(int kind, int m, int A, int B, const float *const *src, float *const *dst, int n, int add)
{
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f v[8];
#pragma GCC unroll 8
        for (int j = 0; j < A; j++) v[j] = *(const v8f *)(src[j] + i);
#pragma GCC unroll 8
        for (int k = 0; k < B; k++) {
            v8f acc = {0, 0, 0, 0, 0, 0, 0, 0};
            int first = 1;
#pragma GCC unroll 8
            for (int j = 0; j < A; j++) {
                const float c = coef8(kind, m, k, j);
                if (c == 0.0f) continue;
                const v8f t = c == 1.0f ? v[j] : c == -1.0f ? -v[j] : c * v[j];
                acc = first ? t : acc + t;
                first = 0;
            }
            if (add) *(v8f *)(dst[k] + i) += acc;
            else *(v8f *)(dst[k] + i) = acc;
        }
    }
    for (; i < n; i++)
#pragma GCC unroll 8
        for (int k = 0; k < B; k++) {
            float acc = 0.0f;
            int first = 1;
#pragma GCC unroll 8
            for (int j = 0; j < A; j++) {
                const float c = coef8(kind, m, k, j);
                if (c == 0.0f) continue;
                const float t = c == 1.0f ? src[j][i] : c == -1.0f ? -src[j][i] : c * src[j][i];
                acc = first ? t : acc + t;
                first = 0;
            }
            if (add) dst[k][i] += acc;
            else dst[k][i] = acc;
        }
}

#define MIX8_FN(kind, m, A, B)                                                                \
    WINO_CLONES static void mix8_##kind##_##m(const float *const *src, float *const *dst,     \
                                              int n, int add)                                 \
    {                                                                                         \
        if (add) mix8(kind, m, A, B, src, dst, n, 1);                                         \
        else mix8(kind, m, A, B, src, dst, n, 0);                                             \
    }
MIX8_FN(IN, 0, 8, 8)
MIX8_FN(IN_ADJ, 0, 8, 8)
MIX8_FN(OUT, 2, 8, 2) MIX8_FN(OUT, 3, 8, 3) MIX8_FN(OUT, 4, 8, 4)
MIX8_FN(OUT, 5, 8, 5) MIX8_FN(OUT, 6, 8, 6) MIX8_FN(OUT, 7, 8, 7)
MIX8_FN(OUT_ADJ, 2, 2, 8) MIX8_FN(OUT_ADJ, 3, 3, 8) MIX8_FN(OUT_ADJ, 4, 4, 8)
MIX8_FN(OUT_ADJ, 5, 5, 8) MIX8_FN(OUT_ADJ, 6, 6, 8) MIX8_FN(OUT_ADJ, 7, 7, 8)

/* Any other alpha: the matrix from the plan. */
WINO_CLONES static void mix_any(int A, int B, const float *mat, const float *const *src,
                                float *const *dst, int n, int add)
{
    mix(A, B, mat, src, dst, n, add);
}

/* Transform `kind` of plan q (mat: its matrix as mix() reads it). */
static void mix_planes(const hsi_cnn_wino_plan *q, int kind, const float *mat,
                       const float *const *src, float *const *dst, int n, int add)
{
    const int m = q->m, a = q->alpha;
    if (q->const8) {
#define MIX8_CASE(kd, mm)                                                                     \
    if (kind == kd && (kd == IN || kd == IN_ADJ || m == mm)) {                                \
        mix8_##kd##_##mm(src, dst, n, add);                                                   \
        return;                                                                               \
    }
        MIX8_CASE(IN, 0) MIX8_CASE(IN_ADJ, 0)
        MIX8_CASE(OUT, 2) MIX8_CASE(OUT, 3) MIX8_CASE(OUT, 4)
        MIX8_CASE(OUT, 5) MIX8_CASE(OUT, 6) MIX8_CASE(OUT, 7)
        MIX8_CASE(OUT_ADJ, 2) MIX8_CASE(OUT_ADJ, 3) MIX8_CASE(OUT_ADJ, 4)
        MIX8_CASE(OUT_ADJ, 5) MIX8_CASE(OUT_ADJ, 6) MIX8_CASE(OUT_ADJ, 7)
#undef MIX8_CASE
    }
    const int A = kind == OUT ? a : kind == OUT_ADJ ? m : a;
    const int B = kind == OUT ? m : kind == OUT_ADJ ? a : a;
    mix_any(A, B, mat, src, dst, n, add);
}

/* Pointers into the scratch, for a block of q->nb samples. */
typedef struct {
    float *xt, *v, *mx, *dtt, *zero, *discard;
} scratch_parts;

static scratch_parts parts_of(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                              float *scratch)
{
    scratch_parts sp;
    sp.xt = scratch;
    sp.v = sp.xt + xt_floats(p, cd);
    sp.mx = sp.v + v_floats(p, cd);
    sp.dtt = sp.mx + mx_floats(p, cd);
    sp.zero = sp.dtt + dtt_floats(p, cd);
    sp.discard = sp.zero + spare_floats(cd);
    return sp;
}

/* The parts, with the zero plane zeroed. */
static scratch_parts parts(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                           float *scratch)
{
    scratch_parts sp = parts_of(p, cd, scratch);
    memset(sp.zero, 0, sizeof(float) * spare_floats(cd));
    return sp;
}

/* Xt[xi][c][s*T + t] = sum_j BT[xi][j] x_s[c][t*m + j - pd] for every xi
 * (slices outside the input are the zero padding); with adjoint, dx_s
 * += the transpose applied to Xt (slices outside are dropped). xt rows: q
 * (the block's plan) sizes, p's alpha. */
static void input_transform_range(const hsi_cnn_wino_plan *q, const hsi_cnn_conv_desc *cd,
                                  float *x, int step, float *xt, const scratch_parts *sp,
                                  int adjoint, int c0, int c1)
{
    const int hw = cd->h * cd->w, T = q->tiles, nbT = q->nb * T, A = q->alpha;
    const size_t in_size = (size_t)cd->c * cd->d * hw, xi_stride = (size_t)cd->c * nbT * hw;
    const float *planes[HSI_CNN_WINO_MAX_ALPHA];
    float *tiles[HSI_CNN_WINO_MAX_ALPHA];
    for (int s = 0; s < q->nb; s++)
        for (int c = c0; c < c1; c++) {
            float *xc = x + (size_t)s * step * in_size + (size_t)c * cd->d * hw;
            for (int t = 0; t < T; t++) {
                float *row = xt + ((size_t)c * nbT + (size_t)s * T + t) * hw;
                for (int j = 0; j < A; j++) {
                    const int id = t * q->m + j - cd->pd;
                    const int in = id >= 0 && id < cd->d;
                    planes[j] = in ? xc + (size_t)id * hw : adjoint ? sp->discard : sp->zero;
                    tiles[j] = row + j * xi_stride;
                }
                if (adjoint) mix_planes(q, IN_ADJ, q->btt, (const float *const *)tiles,
                                        (float *const *)planes, hw, 1);
                else mix_planes(q, IN, q->bt, planes, tiles, hw, 0);
            }
        }
}

static void input_transform(const hsi_cnn_wino_plan *q, const hsi_cnn_conv_desc *cd, float *x,
                            int step, float *xt, const scratch_parts *sp, int adjoint)
{
    input_transform_range(q, cd, x, step, xt, sp, adjoint, 0, cd->c);
}

/* out_s[f][t*m + i] = sum_xi AT[i][xi] Mx[xi][f][s*T + t] (outputs past od
 * discarded); with adjoint, Mx[xi][f][s*T + t] = sum_i AT[i][xi]
 * dy_s[f][t*m + i] (outputs past od read as zero). */
static void output_transform_range(const hsi_cnn_wino_plan *q, const hsi_cnn_conv_desc *cd,
                                   float *mx, float *out, size_t ostride,
                                   const scratch_parts *sp, int adjoint, int f0, int f1)
{
    const int plane = cd->oh * cd->ow, T = q->tiles, A = q->alpha, m = q->m;
    const size_t P = (size_t)cd->od * plane, N = cols(q, cd), xi_stride = (size_t)cd->f * N;
    float *outs[HSI_CNN_WINO_MAX_ALPHA], *tiles[HSI_CNN_WINO_MAX_ALPHA];
    for (int s = 0; s < q->nb; s++)
        for (int f = f0; f < f1; f++) {
            float *ys = out + s * ostride + f * P;
            float *mrow = mx + f * N + (size_t)s * T * plane;
            for (int t = 0; t < T; t++) {
                for (int i = 0; i < m; i++)
                    outs[i] = t * m + i < cd->od ? ys + (size_t)(t * m + i) * plane
                              : adjoint          ? sp->zero
                                                 : sp->discard;
                for (int xi = 0; xi < A; xi++) tiles[xi] = mrow + (size_t)t * plane + xi * xi_stride;
                if (adjoint) mix_planes(q, OUT_ADJ, q->att, (const float *const *)outs, tiles, plane, 0);
                else mix_planes(q, OUT, q->at, (const float *const *)tiles, outs, plane, 0);
            }
        }
}

static void output_transform(const hsi_cnn_wino_plan *q, const hsi_cnn_conv_desc *cd, float *mx,
                             float *out, size_t ostride, const scratch_parts *sp, int adjoint)
{
    output_transform_range(q, cd, mx, out, ostride, sp, adjoint, 0, cd->f);
}

/* Columns per GEMM (plan's chunk; 0: all N of the block in one). */
static int chunk_cols(const hsi_cnn_wino_plan *q, const hsi_cnn_conv_desc *cd)
{
    const int all = (int)cols(q, cd);
    return q->chunk <= 0 || q->chunk > all ? all : q->chunk;
}

/* The block's own plan: the last block of a pass may be short. */
static hsi_cnn_wino_plan block_plan(const hsi_cnn_wino_plan *p, int nb)
{
    hsi_cnn_wino_plan q = *p;
    q.nb = nb;
    return q;
}

void hsi_cnn_wino_forward_input(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                                const float *x, int nb, int step, float *scratch, int c0, int c1)
{
    const hsi_cnn_wino_plan q = block_plan(p, nb);
    const scratch_parts sp = parts_of(p, cd, scratch);
    input_transform_range(&q, cd, (float *)x, step, sp.xt, &sp, 0, c0, c1);
}

void hsi_cnn_wino_forward_product(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                                  const float *u, int nb, float *scratch, int xi, float *v)
{
    const hsi_cnn_wino_plan q = block_plan(p, nb);
    const hsi_cnn_conv_desc td = tile_desc(&q, cd);
    const int R = (int)rows(cd), N = (int)cols(&q, cd), span = chunk_cols(&q, cd);
    const scratch_parts sp = parts_of(p, cd, scratch);
    const size_t xi_xt = (size_t)cd->c * td.d * cd->h * cd->w, xi_mx = (size_t)cd->f * N;
    hsi_cnn_cpu_vol2plane(&td, sp.xt + xi * xi_xt, 0, td.od, v);
    /* Mx[xi] (f x N) = U[xi] (f x R) . V (R x N), span columns at a time */
    for (int j0 = 0; j0 < N; j0 += span)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cd->f,
                    N - j0 < span ? N - j0 : span, R, 1.0f, u + (size_t)xi * cd->f * R, R,
                    v + j0, N, 0.0f, sp.mx + xi * xi_mx + j0, N);
}

void hsi_cnn_wino_forward_output(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd, int nb,
                                 float *scratch, float *out, size_t ostride, int f0, int f1,
                                 float *discard)
{
    const hsi_cnn_wino_plan q = block_plan(p, nb);
    scratch_parts sp = parts_of(p, cd, scratch);
    sp.discard = discard;
    output_transform_range(&q, cd, sp.mx, out, ostride, &sp, 0, f0, f1);
}

float *hsi_cnn_wino_v(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd, float *scratch)
{
    return parts_of(p, cd, scratch).v;
}

void hsi_cnn_wino_scratch_zero(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                               float *scratch)
{
    (void)parts(p, cd, scratch);
}

void hsi_cnn_wino_forward_block(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                                const float *u, const float *x, int nb, int step, float *out,
                                size_t ostride, float *scratch)
{
    const scratch_parts sp = parts(p, cd, scratch);
    hsi_cnn_wino_forward_input(p, cd, x, nb, step, scratch, 0, cd->c);
    for (int xi = 0; xi < p->alpha; xi++)
        hsi_cnn_wino_forward_product(p, cd, u, nb, scratch, xi, sp.v);
    hsi_cnn_wino_forward_output(p, cd, nb, scratch, out, ostride, 0, cd->f, sp.discard);
}

void hsi_cnn_wino_data_block(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                             const float *u, const float *dy, int nb, int step, float *dx,
                             float *scratch)
{
    const hsi_cnn_wino_plan q = block_plan(p, nb);
    const hsi_cnn_conv_desc td = tile_desc(&q, cd);
    const int R = (int)rows(cd), N = (int)cols(&q, cd), span = chunk_cols(&q, cd);
    const scratch_parts sp = parts(p, cd, scratch);
    const size_t xi_xt = (size_t)cd->c * td.d * cd->h * cd->w, xi_mx = (size_t)cd->f * N;
    const size_t in_size = (size_t)cd->c * cd->d * cd->h * cd->w;
    /* Dt[xi] for every xi (in Mx) from dy. */
    output_transform(&q, cd, sp.mx, (float *)dy, (size_t)step * cd->f * cd->od * cd->oh * cd->ow,
                     &sp, 1);
    for (int xi = 0; xi < q.alpha; xi++) {
        /* dV (R x N) = U[xi]^T (R x f) . Dt[xi] (f x N), span columns at a time,
         * scattered into dXt[xi] */
        for (int j0 = 0; j0 < N; j0 += span)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, R, N - j0 < span ? N - j0 : span,
                        cd->f, 1.0f, u + (size_t)xi * cd->f * R, R, sp.mx + xi * xi_mx + j0, N,
                        0.0f, sp.v + j0, N);
        hsi_cnn_cpu_plane2vol(&td, sp.v, 0, td.od, sp.xt + xi * xi_xt, 1); /* every slice */
    }
    for (int s = 0; s < nb; s++) memset(dx + (size_t)s * step * in_size, 0, sizeof(float) * in_size);
    input_transform(&q, cd, dx, step, sp.xt, &sp, 1);
}

void hsi_cnn_wino_filter_block(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                               const float *x, const float *dy, int nb, int step, float *macc,
                               float *scratch)
{
    const hsi_cnn_wino_plan q = block_plan(p, nb);
    const hsi_cnn_conv_desc td = tile_desc(&q, cd);
    const int R = (int)rows(cd), N = (int)cols(&q, cd), span = chunk_cols(&q, cd);
    const scratch_parts sp = parts(p, cd, scratch);
    const size_t xi_xt = (size_t)cd->c * td.d * cd->h * cd->w, xi_mx = (size_t)cd->f * N;
    input_transform(&q, cd, (float *)x, step, sp.xt, &sp, 0);
    output_transform(&q, cd, sp.mx, (float *)dy, (size_t)step * cd->f * cd->od * cd->oh * cd->ow,
                     &sp, 1);
    for (int xi = 0; xi < q.alpha; xi++) {
        hsi_cnn_cpu_vol2plane(&td, sp.xt + xi * xi_xt, 0, td.od, sp.v);
        for (int j0 = 0; j0 < N; j0 += span) {
            const int nc = N - j0 < span ? N - j0 : span;
            /* Dt^T (nc x f) of columns [j0, j0 + nc) of Dt[xi] (f x N) */
            const float *dt = sp.mx + xi * xi_mx + j0;
            for (int f = 0; f < cd->f; f++)
                for (int j = 0; j < nc; j++) sp.dtt[(size_t)j * cd->f + f] = dt[(size_t)f * N + j];
            /* M[xi]^T (R x f) += V[:, j0 .. j0 + nc) (R x nc) . Dt^T (nc x f) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, cd->f, nc, 1.0f, sp.v + j0,
                        N, sp.dtt, cd->f, 1.0f, macc + (size_t)xi * cd->f * R, cd->f);
        }
    }
}
