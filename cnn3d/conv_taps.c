/* conv_taps.c - thin convolutions as shifted-row sums (see conv_taps.h).
 *
 * Why: the Lange net's first layer (c = 1, kernel 5 x 3 x 3) has 45 inputs
 * per output. As vol2col + sgemm that is a 48 x 45 by 45 x 9604 product per
 * sample; OpenBLAS packs the 1.7 MB column matrix to do only 45 FMAs per
 * output and reaches a third of its peak there, so this small layer took a
 * fifth of a training step. Here every output tile keeps its sums in
 * registers and reads the 9 plane rows in place.
 *
 * Register tiles (16 ymm registers):
 *   forward          4 filters x 24 outputs: 12 accumulators, 3 loads of G
 *                    and 4 broadcast weights per tap (12 FMAs);
 *   filter gradient  4 filters x 2 taps, 8 lanes each: 8 accumulators, 4
 *                    loads of dy and 2 of G per 8 outputs (8 FMAs), over
 *                    chunks of 128 outputs whose dy rows stay in L1.
 * Every loop over a tile is unrolled (#pragma GCC unroll) so the tile lives
 * in registers: indexed by a loop counter it would live on the stack, and
 * a store per FMA costs more than the FMA. Sums run in a fixed order, so
 * results do not depend on threads.
 */
#include "cnn3d/conv_taps.h"
#include "base/cpu.h"

#include <string.h>

#define FB 4      /* filters per register tile */
#define QT HSI_CNN_TAPS_FORWARD_TILE /* forward: outputs per register tile (3 vectors of 8) */
#define TB 2      /* filter gradient: taps per register tile */
#define CHUNK 128 /* filter gradient: outputs per pass; 48 dy rows = 24 KB */

_Static_assert(CHUNK <= HSI_CNN_TAPS_SLACK && QT <= HSI_CNN_TAPS_SLACK, "G slack too small");

static int round_up(int n, int m)
{
    return (n + m - 1) / m * m;
}

static int n_taps(const hsi_cnn_conv_desc *cd)
{
    return cd->c * cd->kd * cd->kh * cd->kw;
}

static int n_outputs(const hsi_cnn_conv_desc *cd)
{
    return cd->od * cd->oh * cd->ow;
}

size_t hsi_cnn_taps_weight_floats(const hsi_cnn_conv_desc *cd)
{
    return (size_t)n_taps(cd) * round_up(cd->f, FB);
}

/* Tap t = a*R + r: plane row r = (c, b, e) of G, shifted by a planes. */
static void tap_split(const hsi_cnn_conv_desc *cd, int t, int *a, int *r)
{
    int rows = cd->c * cd->kh * cd->kw;
    *a = t / rows;
    *r = t % rows;
}

/* Index of tap t in a filter's weights (c, kd, kh, kw). */
static int tap_weight_index(const hsi_cnn_conv_desc *cd, int t)
{
    int a, r, hw = cd->kh * cd->kw;
    tap_split(cd, t, &a, &r);
    return ((r / hw) * cd->kd + a) * hw + r % hw;
}

/* wt[t][f] (filters rounded up to FB with zeros), so a tile's FB weights of
 * one tap are adjacent. */
void hsi_cnn_taps_pack_weights(const hsi_cnn_conv_desc *cd, const float *w, float *wt)
{
    const int taps = n_taps(cd), fp = round_up(cd->f, FB);
    for (int t = 0; t < taps; t++) {
        int k = tap_weight_index(cd, t);
        for (int f = 0; f < fp; f++) wt[(size_t)t * fp + f] = f < cd->f ? w[(size_t)f * taps + k] : 0;
    }
}

size_t hsi_cnn_taps_acc_floats(const hsi_cnn_conv_desc *cd)
{
    return (size_t)round_up(n_taps(cd), TB) * round_up(cd->f, FB) * 8;
}

/* [tap offsets (ints)][dy chunk: fp x CHUNK][forward edge tile: FB x QT] */
static size_t offsets_floats(const hsi_cnn_conv_desc *cd)
{
    return (size_t)round_up(round_up(n_taps(cd), TB), 16);
}

size_t hsi_cnn_taps_scratch_floats(const hsi_cnn_conv_desc *cd)
{
    return offsets_floats(cd) + (size_t)round_up(cd->f, FB) * CHUNK + FB * QT;
}

/* off[t] = where tap t's row starts in G; padding taps read row 0 (their
 * results are dropped). */
static int *tap_offsets(const hsi_cnn_conv_desc *cd, size_t gstride, float *scratch)
{
    int *off = (int *)scratch;
    const int taps = n_taps(cd), padded = round_up(taps, TB), plane = cd->oh * cd->ow;
    for (int t = 0; t < padded; t++) {
        int a = 0, r = 0;
        if (t < taps) tap_split(cd, t, &a, &r);
        off[t] = (int)((size_t)r * gstride + (size_t)a * plane);
    }
    return off;
}

void hsi_cnn_taps_filter_finish(const hsi_cnn_conv_desc *cd, const float *acc, float *dw)
{
    const int taps = n_taps(cd), tp = round_up(taps, TB), fp = round_up(cd->f, FB);
    for (int t0 = 0; t0 < tp; t0 += TB)
        for (int f0 = 0; f0 < fp; f0 += FB) {
            const float *tile = acc + ((size_t)(t0 / TB) * (fp / FB) + f0 / FB) * FB * TB * 8;
            for (int i = 0; i < FB; i++)
                for (int j = 0; j < TB; j++) {
                    int f = f0 + i, t = t0 + j;
                    if (f >= cd->f || t >= taps) continue;
                    const float *v = tile + (i * TB + j) * 8;
                    float s = ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
                    dw[(size_t)f * taps + tap_weight_index(cd, t)] += s;
                }
        }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma")))

int hsi_cnn_taps_cpu_ok(void)
{
    /* hsi_cpu: HSI_CPU_ISA may cap it below AVX2 */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           (hsi_cpu()->features & HSI_CPU_AVX2) && (hsi_cpu()->features & HSI_CPU_FMA);
}

TARGET void hsi_cnn_taps_forward_range(const hsi_cnn_conv_desc *cd, const float *g,
                                       size_t gstride, const float *wt, const float *bias,
                                       int relu, float *y, float *scratch, int q_begin, int q_end)
{
    const int taps = n_taps(cd), fp = round_up(cd->f, FB), Q = n_outputs(cd);
    const int *off = tap_offsets(cd, gstride, scratch);
    float *edge = scratch + offsets_floats(cd) + (size_t)fp * CHUNK;
    const __m256 zero = _mm256_setzero_ps();
    /* Tiles start at multiples of QT whatever the range (q_begin is one):
     * every output gets the same register tile, so the same sums. */
    if (q_end > Q) q_end = Q;
    for (int q0 = q_begin; q0 < q_end; q0 += QT)
        for (int f0 = 0; f0 < cd->f; f0 += FB) {
            __m256 s[FB][3];
#pragma GCC unroll 4
            for (int i = 0; i < FB; i++) s[i][0] = s[i][1] = s[i][2] = zero;
            const float *w = wt + f0;
            for (int t = 0; t < taps; t++, w += fp) {
                const float *gp = g + off[t] + q0;
                __m256 g0 = _mm256_loadu_ps(gp), g1 = _mm256_loadu_ps(gp + 8),
                       g2 = _mm256_loadu_ps(gp + 16);
#pragma GCC unroll 4
                for (int i = 0; i < FB; i++) {
                    __m256 wi = _mm256_broadcast_ss(w + i);
                    s[i][0] = _mm256_fmadd_ps(wi, g0, s[i][0]);
                    s[i][1] = _mm256_fmadd_ps(wi, g1, s[i][1]);
                    s[i][2] = _mm256_fmadd_ps(wi, g2, s[i][2]);
                }
            }
            /* Bias and ReLU in registers; a tile past the last output or
             * filter goes through the edge buffer. */
            int whole = q0 + QT <= Q && f0 + FB <= cd->f;
            float *dst = whole ? y + (size_t)f0 * Q + q0 : edge;
            size_t ld = whole ? (size_t)Q : QT;
#pragma GCC unroll 4
            for (int i = 0; i < FB; i++) {
                __m256 b = _mm256_set1_ps(bias && f0 + i < cd->f ? bias[f0 + i] : 0.0f);
#pragma GCC unroll 3
                for (int j = 0; j < 3; j++) {
                    __m256 v = _mm256_add_ps(s[i][j], b);
                    if (relu) v = _mm256_max_ps(v, zero);
                    _mm256_storeu_ps(dst + i * ld + 8 * j, v);
                }
            }
            if (!whole)
                for (int i = 0; i < FB && f0 + i < cd->f; i++)
                    memcpy(y + (size_t)(f0 + i) * Q + q0, edge + i * QT,
                           sizeof(float) * (Q - q0 < QT ? Q - q0 : QT));
        }
}

TARGET void hsi_cnn_taps_filter_accumulate(const hsi_cnn_conv_desc *cd, const float *g,
                                           size_t gstride, const float *dy, float *acc,
                                           float *scratch)
{
    const int tp = round_up(n_taps(cd), TB), fp = round_up(cd->f, FB), Q = n_outputs(cd);
    const int *off = tap_offsets(cd, gstride, scratch);
    float *chunk = scratch + offsets_floats(cd);
    for (int q0 = 0; q0 < Q; q0 += CHUNK) {
        const int len = Q - q0 < CHUNK ? Q - q0 : CHUNK, vlen = round_up(len, 8);
        /* dy's chunk, zero past the last output and for padding filters (so
         * the G values read there count for nothing). */
        for (int f = 0; f < fp; f++) {
            float *row = chunk + (size_t)f * CHUNK;
            int have = f < cd->f ? len : 0;
            if (have) memcpy(row, dy + (size_t)f * Q + q0, sizeof(float) * have);
            memset(row + have, 0, sizeof(float) * (vlen - have));
        }
        for (int t0 = 0; t0 < tp; t0 += TB)
            for (int f0 = 0; f0 < fp; f0 += FB) {
                float *tile = acc + ((size_t)(t0 / TB) * (fp / FB) + f0 / FB) * FB * TB * 8;
                __m256 s[FB][TB];
#pragma GCC unroll 4
                for (int i = 0; i < FB; i++)
#pragma GCC unroll 2
                    for (int j = 0; j < TB; j++) s[i][j] = _mm256_loadu_ps(tile + (i * TB + j) * 8);
                const float *g0 = g + off[t0] + q0, *g1 = g + off[t0 + 1] + q0;
                const float *d = chunk + (size_t)f0 * CHUNK;
                for (int v = 0; v < vlen; v += 8) {
                    __m256 a0 = _mm256_loadu_ps(g0 + v), a1 = _mm256_loadu_ps(g1 + v);
                    /* Keep every operand in a register: left to itself GCC
                     * re-reads them as memory operands of each FMA, 10-12
                     * loads per 8 FMAs instead of 6. */
                    __asm__("" : "+x"(a0), "+x"(a1));
#pragma GCC unroll 4
                    for (int i = 0; i < FB; i++) {
                        __m256 di = _mm256_loadu_ps(d + i * CHUNK + v);
                        __asm__("" : "+x"(di));
                        s[i][0] = _mm256_fmadd_ps(di, a0, s[i][0]);
                        s[i][1] = _mm256_fmadd_ps(di, a1, s[i][1]);
                    }
                }
#pragma GCC unroll 4
                for (int i = 0; i < FB; i++)
#pragma GCC unroll 2
                    for (int j = 0; j < TB; j++) _mm256_storeu_ps(tile + (i * TB + j) * 8, s[i][j]);
            }
    }
}

const char *hsi_cnn_taps_isa(void)
{
    return hsi_cnn_taps_cpu_ok() ? "avx2" : "generic";
}

#else /* not x86: the backend never calls the kernels below */

const char *hsi_cnn_taps_isa(void)
{
    return "generic";
}


int hsi_cnn_taps_cpu_ok(void)
{
    return 0;
}

void hsi_cnn_taps_forward_range(const hsi_cnn_conv_desc *cd, const float *g, size_t gstride,
                                const float *wt, const float *bias, int relu, float *y,
                                float *scratch, int q_begin, int q_end)
{
    (void)cd, (void)g, (void)gstride, (void)wt, (void)bias, (void)relu, (void)y, (void)scratch;
    (void)q_begin, (void)q_end;
}

void hsi_cnn_taps_filter_accumulate(const hsi_cnn_conv_desc *cd, const float *g, size_t gstride,
                                    const float *dy, float *acc, float *scratch)
{
    (void)cd, (void)g, (void)gstride, (void)dy, (void)acc, (void)scratch;
}
#endif

void hsi_cnn_taps_forward(const hsi_cnn_conv_desc *cd, const float *g, size_t gstride,
                          const float *wt, const float *bias, int relu, float *y, float *scratch)
{
    hsi_cnn_taps_forward_range(cd, g, gstride, wt, bias, relu, y, scratch, 0, n_outputs(cd));
}
