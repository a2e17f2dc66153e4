/* conv_winograd.h - Winograd minimal filtering along the spectral (depth)
 * axis for the CPU backend's depth-shift convolutions (Lavin & Gray, "Fast
 * algorithms for convolutional neural networks", CVPR 2016). Internal to
 * cnn3d/backend_cpu.c, which chooses the path, owns the threads and the
 * workspace, and calls the block kernels below.
 *
 * Along depth a stride-1 conv3d is a 1-D correlation whose "elements" are
 * plane matrices: with G_j (R x plane, R = c*kh*kw) the kh x kw windows of
 * input depth slice j (vol2plane) and Wp[a] (f x R) the weights of depth
 * tap a,
 *     y[o] = sum_{a < r} Wp[a] . G_{o+a},       r = kd.
 * F(m, r) computes m outputs of a tile from alpha = m + r - 1 inputs:
 *     y[t*m + i] = sum_xi AT[i][xi] U[xi] . V[xi, t]
 *     U[xi]      = sum_a  G[xi][a]  Wp[a]             (f x R, once a pass)
 *     V[xi, t]   = sum_j  BT[xi][j] G_{t*m + j - pd}  (R x plane per tile)
 * so a tile costs alpha GEMM products instead of m*r: with alpha = 8 and
 * r = 5 (F(4, 5), the Lange net's conv2 and conv3) 2.5x fewer multiplies.
 * V is linear in the input, so the depth transform is applied to the input
 * volume (c x d x h x w, small) before the window gather, not to the
 * kh*kw times bigger plane matrix.
 *
 * The three passes are the three derivatives of one bilinear form:
 *   forward:          y  from  U and V;
 *   data gradient:    its adjoint in x: Dt[xi] = sum_i AT[i][xi] dy[t*m+i],
 *                     dV[xi] = U[xi]^T . Dt[xi], scattered (plane2vol) and
 *                     transformed back by BT^T into dx;
 *   filter gradient:  its adjoint in w: M[xi] += Dt[xi] . V[xi]^T summed
 *                     over tiles and samples (kept transposed, R x f),
 *                     dWp[a] = sum_xi G[xi][a] M[xi]
 *                     (Lavin's F(r, m) on dy tiles: same points, A and G
 *                     swap roles).
 * Each is alpha GEMMs of the same f x R x (tiles*plane) size.
 *
 * Transforms (the Toom-Cook / wincnn construction, alpha - 1 finite points
 * and infinity; fractions in G): AT[i][j] = p_j^i, G[j][a] = p_j^a / f_j,
 * BT[j] = the coefficients of prod_{k != j} (x - p_k), with
 * f_j = prod_{k != j} (p_j - p_k); the infinity row/column picks the
 * leading coefficient. The points are 0, +-1, +-2, +-1/2, ... (dyadic: AT
 * and BT are exact in fp32); G, the only matrix with non-dyadic entries,
 * is applied in double (to the weights, and to the filter gradient's M).
 */
#ifndef HSI_CNN_CONV_WINOGRAD_H
#define HSI_CNN_CONV_WINOGRAD_H

#include <stddef.h>

#include "cnn3d/backend.h"

/* Largest number of points (alpha) with a point set below. */
#define HSI_CNN_WINO_MAX_ALPHA 10

/* The transforms of F(m, r): AT (m x alpha), G (alpha x r), BT (alpha x
 * alpha), row-major, alpha = m + r - 1. 0, or -1 where alpha is outside
 * 3 .. HSI_CNN_WINO_MAX_ALPHA or m, r < 1. */
int hsi_cnn_wino_transforms(int m, int r, double *at, double *g, double *bt);

/* One pass's geometry and transforms. */
typedef struct hsi_cnn_wino_plan {
    int m, r, alpha;  /* F(m, r) along depth, r = kd */
    int tiles;        /* T = ceil(od / m) per sample */
    int nb;           /* samples per block (one GEMM's columns: nb*T*plane) */
    int const8;       /* alpha = 8 with the constant-matrix transform kernels */
    /* Columns per GEMM (0: the whole block, N = nb*T*oh*ow, in one): the
     * caller's choice, see wino_chunk in backend_cpu.c. */
    int chunk;
    /* AT, BT and their transposes in fp32 (exact: dyadic entries) */
    float at[HSI_CNN_WINO_MAX_ALPHA * HSI_CNN_WINO_MAX_ALPHA];
    float att[HSI_CNN_WINO_MAX_ALPHA * HSI_CNN_WINO_MAX_ALPHA];
    float bt[HSI_CNN_WINO_MAX_ALPHA * HSI_CNN_WINO_MAX_ALPHA];
    float btt[HSI_CNN_WINO_MAX_ALPHA * HSI_CNN_WINO_MAX_ALPHA];
    double g[HSI_CNN_WINO_MAX_ALPHA * HSI_CNN_WINO_MAX_ALPHA];
} hsi_cnn_wino_plan;

/* The plan for conv cd (spectral stride 1) with output tile m and nb
 * samples per block; -1 where F(m, kd) has no point set. */
int hsi_cnn_wino_plan_init(hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd, int m, int nb);

/* Floats: U (alpha x f x R; also the filter gradient's M^T per group) and a
 * thread's scratch for one block. */
size_t hsi_cnn_wino_u_floats(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd);
size_t hsi_cnn_wino_scratch_floats(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd);

/* U[xi] = sum_a G[xi][a] Wp[a] from w (f, c, kd, kh, kw), in double. */
void hsi_cnn_wino_filter_transform(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                                   const float *w, float *u);

/* Columns per GEMM of the three passes for the CPU backend's Winograd
 * plans: -1 (the default) as the BLAS runs fastest (backend_cpu.c,
 * wino_chunk), 0 the whole block in one GEMM, k >= 1 k columns. For tests
 * and benches of every way; any value gives the same results up to
 * rounding. */
void hsi_cnn_cpu_set_wino_chunk(int columns);

/* The block kernels take nb samples: sample s of a block is x + s*step
 * samples (dy, y, dx likewise). */

/* out_s (f x od*plane, row stride od*plane, samples ostride apart) = the
 * convolution of sample s, no bias. */
void hsi_cnn_wino_forward_block(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                                const float *u, const float *x, int nb, int step, float *out,
                                size_t ostride, float *scratch);

/* The forward block in its three phases, for threads that share one
 * block (a batch with fewer blocks than threads): the input transform of
 * channels c0 .. c1 - 1; the product for one xi (its window gather into v,
 * R x N, the calling thread's own: another thread's scratch, see
 * hsi_cnn_wino_v); the output transform of filters f0 .. f1 - 1 (discard:
 * a plane of oh*ow floats of the calling thread's own, where outputs past
 * od go). Each phase reads what the one before wrote of the whole block,
 * so a barrier goes between them; hsi_cnn_wino_scratch_zero first. Every
 * value is computed by the same operations as in hsi_cnn_wino_forward_block,
 * which is these phases in order on one thread, however the ranges and xi
 * are split. */
void hsi_cnn_wino_scratch_zero(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                               float *scratch);
float *hsi_cnn_wino_v(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd, float *scratch);
void hsi_cnn_wino_forward_input(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                                const float *x, int nb, int step, float *scratch, int c0, int c1);
void hsi_cnn_wino_forward_product(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                                  const float *u, int nb, float *scratch, int xi, float *v);
void hsi_cnn_wino_forward_output(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd, int nb,
                                 float *scratch, float *out, size_t ostride, int f0, int f1,
                                 float *discard);

/* dx_s (c x d x h x w, overwritten) = conv^T of dy_s. */
void hsi_cnn_wino_data_block(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                             const float *u, const float *dy, int nb, int step, float *dx,
                             float *scratch);

/* macc (alpha x R x f: M[xi]^T) += sum over the block's samples and tiles
 * of V[xi] . Dt[xi]^T. */
void hsi_cnn_wino_filter_block(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                               const float *x, const float *dy, int nb, int step, float *macc,
                               float *scratch);

/* dw (f, c, kd, kh, kw) = sum_xi G[xi][a] macc[xi]^T, in double. */
void hsi_cnn_wino_filter_finish(const hsi_cnn_wino_plan *p, const hsi_cnn_conv_desc *cd,
                                const float *macc, float *dw);

/* From cnn3d/backend_cpu.c: the window gather of one sample's input depth
 * slices [d0 - pd, d0 + nd + kd - 1 - pd) into G (R x (nd + kd - 1)*plane)
 * and its adjoint (dx += scatter of dG; with set, those slices of dx are
 * overwritten instead). */
void hsi_cnn_cpu_vol2plane(const hsi_cnn_conv_desc *cd, const float *x, int d0, int nd, float *g);
void hsi_cnn_cpu_plane2vol(const hsi_cnn_conv_desc *cd, const float *g, int d0, int nd,
                           float *dx, int set);

#endif
