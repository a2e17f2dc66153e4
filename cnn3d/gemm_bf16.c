/* gemm_bf16.c - bf16 GEMMs with fp32 accumulation (see gemm_bf16.h).
 *
 * Compiled with target attributes and called only where
 * hsi_cnn_bf16_cpu_ok() (the backend checks), so the default build stays
 * portable. On a 2-core Zen 4 (one thread, the Lange net's conv2 shapes) these
 * ran at 2.1-2.3x OpenBLAS sgemm including the packing passes.
 *
 * NN register tile: MR = 8 rows x NR = 48 columns (3 zmm): 24 accumulators;
 * per pair of k: 3 loads of B, 8 broadcasts of A, 24 vdpbf16ps. Packed B is
 * [panel of NR columns][k pair][NR][2 bf16], packed A [block of MR rows][k
 * pair][MR] as 32-bit (2 bf16), so both are read in order.
 *
 * NT register tile: TM = 4 rows of A x TN = 6 rows of B, 24 accumulators,
 * each 16 lanes of partial dot products over k (32 bf16 per load), summed
 * across lanes at the end: for the filter gradient, where k (output
 * positions, ~1900) is long and both operands have k contiguous.
 */
#include "cnn3d/gemm_bf16.h"
#include "base/cpu.h"

#include <string.h>

#define MR 8
#define NR 48
#define TM 4
#define TN 6

static size_t pairs(int k)
{
    return (size_t)(k + 1) / 2;
}

size_t hsi_cnn_bf16_pack_a_floats(int m, int k)
{
    return (size_t)(m + MR - 1) / MR * MR * pairs(k);
}

size_t hsi_cnn_bf16_pack_b_floats(int k, int n)
{
    return (size_t)(n + NR - 1) / NR * NR * pairs(k);
}

size_t hsi_cnn_bf16_rows_floats(int rows, int k)
{
    return (size_t)rows * ((k + 31) / 32 * 32) / 2;
}

/* fp32 -> bf16, round to nearest even (the NaN-free inputs of a net). */
static inline uint32_t bf16_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return u >> 16;
}

void hsi_cnn_bf16_pack_a(int m, int k, const float *a, int lda, int trans, uint32_t *ap)
{
    const int kp = (int)pairs(k), blocks = (m + MR - 1) / MR;
    for (int b = 0; b < blocks; b++)
        for (int p = 0; p < kp; p++)
            for (int i = 0; i < MR; i++) {
                int r = b * MR + i, k0 = 2 * p, k1 = 2 * p + 1;
                uint32_t v = 0;
                if (r < m) {
                    float x0 = trans ? a[(size_t)k0 * lda + r] : a[(size_t)r * lda + k0];
                    float x1 = k1 >= k ? 0.0f : trans ? a[(size_t)k1 * lda + r] : a[(size_t)r * lda + k1];
                    v = bf16_bits(x0) | bf16_bits(x1) << 16;
                }
                ap[((size_t)b * kp + p) * MR + i] = v;
            }
}

size_t hsi_cnn_bf16_pairs_stride(size_t gstride)
{
    return (gstride + HSI_CNN_BF16_TAPS_SLACK + 15) & ~(size_t)15;
}

size_t hsi_cnn_bf16_pairs_floats(int rows, size_t gstride)
{
    return (size_t)(rows + 1) / 2 * hsi_cnn_bf16_pairs_stride(gstride);
}

size_t hsi_cnn_bf16_taps_weight_floats(int f, int kd, int rows)
{
    return (size_t)kd * ((rows + 1) / 2) * ((f + 7) / 8 * 8);
}

/* Wp[a*RP + rp][f] = (w[f] at tap (a, row 2rp), at tap (a, row 2rp+1)) in
 * bf16, zero for padding filters and a missing odd row; a plane row r = (c,
 * b, e) at shift a is weight ((c*kd + a)*kh + b)*kw + e of its filter. */
void hsi_cnn_bf16_taps_pack_weights(int f, int c, int kd, int kh, int kw, const float *w,
                                    uint32_t *wp)
{
    const int hw = kh * kw, rows = c * hw, rp_n = (rows + 1) / 2, fp = (f + 7) / 8 * 8;
    const size_t K = (size_t)c * kd * hw;
    for (int a = 0; a < kd; a++)
        for (int rp = 0; rp < rp_n; rp++)
            for (int i = 0; i < fp; i++) {
                uint32_t v = 0;
                if (i < f) {
                    int r0 = 2 * rp, r1 = 2 * rp + 1;
                    const float *wf = w + (size_t)i * K;
                    v = bf16_bits(wf[((size_t)(r0 / hw) * kd + a) * hw + r0 % hw]);
                    if (r1 < rows) v |= bf16_bits(wf[((size_t)(r1 / hw) * kd + a) * hw + r1 % hw]) << 16;
                }
                wp[((size_t)a * rp_n + rp) * fp + i] = v;
            }
}

#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 10 || defined(__clang__))
#include <immintrin.h>
#define HAVE_BF16_KERNELS 1
#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

int hsi_cnn_bf16_cpu_ok(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16") &&
           (hsi_cpu()->features & HSI_CPU_AVX512BF16); /* HSI_CPU_ISA may cap it */
}

/* Lanes [0, left) of 16. */
static inline __mmask16 lanes(int left)
{
    return left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
}

/* Two fp32 rows (16 columns) -> 16 bf16 pairs: row k0 low half, k1 high. */
TARGET static inline __m512i pair16(__m512 r0, __m512 r1)
{
    __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(r0));
    __m512i hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(r1));
    return _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
}

TARGET void hsi_cnn_bf16_pack_b(int k, int n, const float *b, int ldb, uint32_t *bp)
{
    const int kp = (int)pairs(k), panels = (n + NR - 1) / NR;
    for (int p = 0; p < panels; p++) {
        uint32_t *o = bp + (size_t)p * kp * NR;
        const int n0 = p * NR, nn = n - n0 < NR ? n - n0 : NR;
        for (int q = 0; q < kp; q++, o += NR) {
            const float *r0 = b + (size_t)(2 * q) * ldb + n0;
            const float *r1 = 2 * q + 1 < k ? r0 + ldb : NULL;
            for (int j = 0; j < NR; j += 16) {
                __mmask16 m = lanes(nn - j);
                __m512 x0 = _mm512_maskz_loadu_ps(m, r0 + j);
                __m512 x1 = r1 ? _mm512_maskz_loadu_ps(m, r1 + j) : _mm512_setzero_ps();
                _mm512_storeu_si512(o + j, pair16(x0, x1));
            }
        }
    }
}

TARGET void hsi_cnn_bf16_gemm_nn(int m, int n, int k, const uint32_t *ap, const uint32_t *bp,
                                 int accumulate, float *c, int ldc)
{
    const int kp = (int)pairs(k), panels = (n + NR - 1) / NR, blocks = (m + MR - 1) / MR;
    for (int p = 0; p < panels; p++) {
        const uint32_t *bpp = bp + (size_t)p * kp * NR;
        const int n0 = p * NR, nn = n - n0 < NR ? n - n0 : NR;
        const __mmask16 mk[3] = {lanes(nn), lanes(nn - 16), lanes(nn - 32)};
        for (int blk = 0; blk < blocks; blk++) {
            const uint32_t *a = ap + (size_t)blk * kp * MR, *bb = bpp;
            __m512 s[MR][3];
#pragma GCC unroll 8
            for (int i = 0; i < MR; i++) s[i][0] = s[i][1] = s[i][2] = _mm512_setzero_ps();
            for (int q = 0; q < kp; q++, a += MR, bb += NR) {
                __m512bh b0 = (__m512bh)_mm512_loadu_si512(bb);
                __m512bh b1 = (__m512bh)_mm512_loadu_si512(bb + 16);
                __m512bh b2 = (__m512bh)_mm512_loadu_si512(bb + 32);
#pragma GCC unroll 8
                for (int i = 0; i < MR; i++) {
                    __m512bh ai = (__m512bh)_mm512_set1_epi32((int)a[i]);
                    s[i][0] = _mm512_dpbf16_ps(s[i][0], ai, b0);
                    s[i][1] = _mm512_dpbf16_ps(s[i][1], ai, b1);
                    s[i][2] = _mm512_dpbf16_ps(s[i][2], ai, b2);
                }
            }
            const int mm = m - blk * MR < MR ? m - blk * MR : MR;
            for (int i = 0; i < mm; i++) {
                float *cr = c + (size_t)(blk * MR + i) * ldc + n0;
#pragma GCC unroll 3
                for (int j = 0; j < 3; j++) {
                    __m512 v = s[i][j];
                    if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk[j], cr + 16 * j));
                    _mm512_mask_storeu_ps(cr + 16 * j, mk[j], v);
                }
            }
        }
    }
}

TARGET void hsi_cnn_bf16_rows(int rows, int k, const float *src, int ld, uint16_t *dst)
{
    const int k32 = (k + 31) / 32 * 32;
    for (int r = 0; r < rows; r++) {
        const float *x = src + (size_t)r * ld;
        uint16_t *o = dst + (size_t)r * k32;
        for (int j = 0; j < k32; j += 32) {
            __m512 x0 = _mm512_maskz_loadu_ps(lanes(k - j), x + j);
            __m512 x1 = _mm512_maskz_loadu_ps(lanes(k - j - 16), x + j + 16);
            _mm512_storeu_si512(o + j, (__m512i)_mm512_cvtne2ps_pbh(x1, x0));
        }
    }
}

/* One TM x TN tile of dot products over k32 (a multiple of 32) bf16. */
TARGET static void nt_tile(int mm, int nn, int k32, const uint16_t *const *ar,
                           const uint16_t *const *br, float *c, int ldc)
{
    __m512 s[TM][TN];
#pragma GCC unroll 4
    for (int i = 0; i < TM; i++)
#pragma GCC unroll 6
        for (int j = 0; j < TN; j++) s[i][j] = _mm512_setzero_ps();
    for (int q = 0; q < k32; q += 32) {
        __m512bh bv[TN];
#pragma GCC unroll 6
        for (int j = 0; j < TN; j++) bv[j] = (__m512bh)_mm512_loadu_si512(br[j] + q);
#pragma GCC unroll 4
        for (int i = 0; i < TM; i++) {
            __m512bh av = (__m512bh)_mm512_loadu_si512(ar[i] + q);
#pragma GCC unroll 6
            for (int j = 0; j < TN; j++) s[i][j] = _mm512_dpbf16_ps(s[i][j], av, bv[j]);
        }
    }
    for (int i = 0; i < mm; i++)
        for (int j = 0; j < nn; j++) c[(size_t)i * ldc + j] += _mm512_reduce_add_ps(s[i][j]);
}

void hsi_cnn_bf16_gemm_nt_rows(int m, int n, int k, const uint16_t *const *a,
                               const uint16_t *const *b, float *c, int ldc)
{
    const int k32 = (k + 31) / 32 * 32;
    for (int n0 = 0; n0 < n; n0 += TN)
        for (int m0 = 0; m0 < m; m0 += TM) {
            const int mm = m - m0 < TM ? m - m0 : TM, nn = n - n0 < TN ? n - n0 : TN;
            const uint16_t *ar[TM], *br[TN];
            /* Rows past the edge repeat row 0 of the tile; their sums are dropped. */
            for (int i = 0; i < TM; i++) ar[i] = a[m0 + (i < mm ? i : 0)];
            for (int j = 0; j < TN; j++) br[j] = b[n0 + (j < nn ? j : 0)];
            nt_tile(mm, nn, k32, ar, br, c + (size_t)m0 * ldc + n0, ldc);
        }
}

void hsi_cnn_bf16_gemm_nt(int m, int n, int k, const uint16_t *a, const uint16_t *b, float *c,
                          int ldc)
{
    const int k32 = (k + 31) / 32 * 32;
    for (int n0 = 0; n0 < n; n0 += TN)
        for (int m0 = 0; m0 < m; m0 += TM) {
            const int mm = m - m0 < TM ? m - m0 : TM, nn = n - n0 < TN ? n - n0 : TN;
            const uint16_t *ar[TM], *br[TN];
            for (int i = 0; i < TM; i++) ar[i] = a + (size_t)(m0 + (i < mm ? i : 0)) * k32;
            for (int j = 0; j < TN; j++) br[j] = b + (size_t)(n0 + (j < nn ? j : 0)) * k32;
            nt_tile(mm, nn, k32, ar, br, c + (size_t)m0 * ldc + n0, ldc);
        }
}

/* H[rp][j] = (G[2rp][j], G[2rp+1][j]) in bf16 for j < gstride, zeros up to
 * the row stride (and for the missing row when R is odd). g: R x gstride. */
TARGET void hsi_cnn_bf16_pairs(int rows, size_t gstride, const float *g, uint32_t *h)
{
    const size_t hs = hsi_cnn_bf16_pairs_stride(gstride);
    for (int rp = 0; rp < (rows + 1) / 2; rp++) {
        const float *r0 = g + (size_t)(2 * rp) * gstride;
        const float *r1 = 2 * rp + 1 < rows ? r0 + gstride : NULL;
        uint32_t *o = h + (size_t)rp * hs;
        for (size_t j = 0; j < hs; j += 16) {
            __mmask16 m = j >= gstride ? 0 : lanes((int)(gstride - j < 16 ? gstride - j : 16));
            __m512 x0 = _mm512_maskz_loadu_ps(m, r0 + j);
            __m512 x1 = r1 ? _mm512_maskz_loadu_ps(m, r1 + j) : _mm512_setzero_ps();
            _mm512_storeu_si512(o + j, pair16(x0, x1));
        }
    }
}

/* Register tile: 8 filters x 48 outputs (3 zmm), 24 accumulators; per
 * pair-tap 3 loads of H, 8 broadcast weight pairs, 24 vdpbf16ps. Outputs
 * outer, filters inner: a tile's H columns (kd*RP x 48 pairs, 4.8 KB for
 * the Lange net's conv1) stay in L1 for all filters. */
TARGET void hsi_cnn_bf16_taps_forward(int f, int kd, int rows, int plane, int Q, size_t gstride,
                                      const uint32_t *h, const uint32_t *wp, const float *bias,
                                      int relu, float *y)
{
    const int rp_n = (rows + 1) / 2, fp = (f + 7) / 8 * 8;
    const size_t hs = hsi_cnn_bf16_pairs_stride(gstride);
    const __m512 zero = _mm512_setzero_ps();
    for (int q0 = 0; q0 < Q; q0 += 48) {
        const __mmask16 mk[3] = {lanes(Q - q0), lanes(Q - q0 - 16), lanes(Q - q0 - 32)};
        for (int f0 = 0; f0 < f; f0 += 8) {
            __m512 s[8][3];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) s[i][0] = s[i][1] = s[i][2] = zero;
            const uint32_t *w = wp + f0;
            for (int a = 0; a < kd; a++) {
                const uint32_t *ha = h + (size_t)a * plane + q0;
                for (int rp = 0; rp < rp_n; rp++, w += fp) {
                    const uint32_t *hp = ha + (size_t)rp * hs;
                    __m512bh b0 = (__m512bh)_mm512_loadu_si512(hp);
                    __m512bh b1 = (__m512bh)_mm512_loadu_si512(hp + 16);
                    __m512bh b2 = (__m512bh)_mm512_loadu_si512(hp + 32);
#pragma GCC unroll 8
                    for (int i = 0; i < 8; i++) {
                        __m512bh ai = (__m512bh)_mm512_set1_epi32((int)w[i]);
                        s[i][0] = _mm512_dpbf16_ps(s[i][0], ai, b0);
                        s[i][1] = _mm512_dpbf16_ps(s[i][1], ai, b1);
                        s[i][2] = _mm512_dpbf16_ps(s[i][2], ai, b2);
                    }
                }
            }
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                if (f0 + i >= f) break;
                const __m512 b = _mm512_set1_ps(bias ? bias[f0 + i] : 0.0f);
                float *yr = y + (size_t)(f0 + i) * Q + q0;
#pragma GCC unroll 3
                for (int j = 0; j < 3; j++) {
                    __m512 v = _mm512_add_ps(s[i][j], b);
                    if (relu) v = _mm512_max_ps(v, zero);
                    _mm512_mask_storeu_ps(yr + 16 * j, mk[j], v);
                }
            }
        }
    }
}

#else /* no AVX512_BF16 kernels in this build: the backend never calls these */

int hsi_cnn_bf16_cpu_ok(void)
{
    return 0;
}

void hsi_cnn_bf16_pack_b(int k, int n, const float *b, int ldb, uint32_t *bp)
{
    (void)k, (void)n, (void)b, (void)ldb, (void)bp;
}

void hsi_cnn_bf16_gemm_nn(int m, int n, int k, const uint32_t *ap, const uint32_t *bp,
                          int accumulate, float *c, int ldc)
{
    (void)m, (void)n, (void)k, (void)ap, (void)bp, (void)accumulate, (void)c, (void)ldc;
}

void hsi_cnn_bf16_rows(int rows, int k, const float *src, int ld, uint16_t *dst)
{
    (void)rows, (void)k, (void)src, (void)ld, (void)dst;
}

void hsi_cnn_bf16_gemm_nt(int m, int n, int k, const uint16_t *a, const uint16_t *b, float *c,
                          int ldc)
{
    (void)m, (void)n, (void)k, (void)a, (void)b, (void)c, (void)ldc;
}

void hsi_cnn_bf16_gemm_nt_rows(int m, int n, int k, const uint16_t *const *a,
                               const uint16_t *const *b, float *c, int ldc)
{
    (void)m, (void)n, (void)k, (void)a, (void)b, (void)c, (void)ldc;
}
void hsi_cnn_bf16_pairs(int rows, size_t gstride, const float *g, uint32_t *h)
{
    (void)rows, (void)gstride, (void)g, (void)h;
}

void hsi_cnn_bf16_taps_forward(int f, int kd, int rows, int plane, int Q, size_t gstride,
                               const uint32_t *h, const uint32_t *wp, const float *bias, int relu,
                               float *y)
{
    (void)f, (void)kd, (void)rows, (void)plane, (void)Q, (void)gstride, (void)h, (void)wp;
    (void)bias, (void)relu, (void)y;
}
#endif
