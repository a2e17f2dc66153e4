/* gemm_bf16.h - bf16 GEMMs with fp32 accumulation for the CPU backend's
 * depth-shift convolutions and the tap layers (the thin first layer: its
 * forward pass and filter gradient) under `--precision bf16` (AVX512_BF16's
 * vdpbf16ps: two bf16 products per fp32 lane, twice sgemm's multiply-adds
 * per instruction). Internal to cnn3d/backend_cpu.c.
 *
 * Operands are fp32 and rounded to bf16 (nearest even) as they are packed;
 * C is fp32. Debian's OpenBLAS 0.3.21 is built without cblas_sbgemm, hence
 * these. Two products, each with the packing that makes its inner loop
 * contiguous:
 *   NN  C (m x n) = op(A) (m x k) . B (k x n)       pack_a, pack_b, gemm_nn
 *   NT  C (m x n) += A (m x k) . B (n x k)^T         rows (both), gemm_nt
 */
#ifndef HSI_CNN_GEMM_BF16_H
#define HSI_CNN_GEMM_BF16_H

#include <stddef.h>
#include <stdint.h>

/* 1 when this CPU runs AVX-512 F/BW/VL and AVX512_BF16. */
int hsi_cnn_bf16_cpu_ok(void);

/* Sizes, in floats (4 bytes), of the packed operands. */
size_t hsi_cnn_bf16_pack_a_floats(int m, int k);
size_t hsi_cnn_bf16_pack_b_floats(int k, int n);
size_t hsi_cnn_bf16_rows_floats(int rows, int k);

/* A (m x k, or its transpose k x m when trans; row stride lda) into row
 * blocks of bf16 pairs along k. */
void hsi_cnn_bf16_pack_a(int m, int k, const float *a, int lda, int trans, uint32_t *ap);
/* B (k x n, row stride ldb) into column panels of bf16 pairs along k. */
void hsi_cnn_bf16_pack_b(int k, int n, const float *b, int ldb, uint32_t *bp);
/* C (m x n, row stride ldc) = Ap . Bp, or += where accumulate. */
void hsi_cnn_bf16_gemm_nn(int m, int n, int k, const uint32_t *ap, const uint32_t *bp,
                          int accumulate, float *c, int ldc);

/* rows x k fp32 (row stride ld) into bf16 rows padded with zeros to a
 * multiple of 32. */
void hsi_cnn_bf16_rows(int rows, int k, const float *src, int ld, uint16_t *dst);
/* C (m x n, row stride ldc) += A . B^T for A (m x k) and B (n x k) from
 * hsi_cnn_bf16_rows. */
void hsi_cnn_bf16_gemm_nt(int m, int n, int k, const uint16_t *a, const uint16_t *b, float *c,
                          int ldc);
/* The same with each row of A and B given by a pointer (rows of any
 * spacing, e.g. shifted views of one row); every row must be readable for
 * k rounded up to 32 values, those past k multiplied by zeros in the other. */
void hsi_cnn_bf16_gemm_nt_rows(int m, int n, int k, const uint16_t *const *a,
                               const uint16_t *const *b, float *c, int ldc);

/* ---- the tap layers' forward pass in bf16 (conv_taps.h's G, one sample) ----
 *
 * Taps are paired along G's rows: pair-tap pt = a*RP + rp (RP = (R+1)/2)
 * multiplies G rows 2rp and 2rp+1, both shifted by a planes, so
 *     y[f][q] = bias[f] + sum_pt Wp[pt][f] . H[rp][q + a*plane]
 * with H[rp][j] = (G[2rp][j], G[2rp+1][j]) as one bf16 pair (row 2rp+1 = 0
 * when R is odd): one vdpbf16ps does two taps, and H's rows are read in
 * place like G's. */
#define HSI_CNN_BF16_TAPS_SLACK 48 /* values H needs past gstride per row */
/* Floats (4 bytes) of H for R rows of gstride columns; its row stride. */
size_t hsi_cnn_bf16_pairs_floats(int rows, size_t gstride);
size_t hsi_cnn_bf16_pairs_stride(size_t gstride);
/* H (RP x pairs_stride) from G (R x gstride, row stride gstride). */
void hsi_cnn_bf16_pairs(int rows, size_t gstride, const float *g, uint32_t *h);
/* Packed weights Wp (kd*RP pair-taps x f rounded up to 8) from w (f, c, kd,
 * kh, kw) of a conv with R = c*kh*kw plane rows. */
size_t hsi_cnn_bf16_taps_weight_floats(int f, int kd, int rows);
void hsi_cnn_bf16_taps_pack_weights(int f, int c, int kd, int kh, int kw, const float *w,
                                    uint32_t *wp);
/* y (f x Q, row stride Q) = bias + Wp . H for one sample, then max(0, .)
 * when relu; H from hsi_cnn_bf16_pairs, plane = oh*ow. */
void hsi_cnn_bf16_taps_forward(int f, int kd, int rows, int plane, int Q, size_t gstride,
                               const uint32_t *h, const uint32_t *wp, const float *bias, int relu,
                               float *y);

#endif
