/* conv_taps.h - thin convolutions (few input rows per output: the first
 * layer of the nets we ship) as sums of shifted rows of the plane matrix,
 * vectorised over output positions with AVX2 + FMA. Internal to the CPU
 * backend (cnn3d/backend_cpu.c), which builds the plane matrix and falls
 * back to vol2col + sgemm where these kernels do not apply.
 *
 * G is vol2plane's matrix for one sample and all output slices: R = c*kh*kw
 * rows (c, b, e), row stride gstride = (od + kd - 1)*plane, column
 * j*plane + p = input depth slice j - pd at output x, y position p. With
 * q = d*plane + p an output position and tap t = a*R + r (a < kd, r < R):
 *     y[f][q]  = bias[f] + sum_t W[f][t] G[r][q + a*plane]
 *     dW[f][t] = sum_q dy[f][q] G[r][q + a*plane]
 * so both read G in place with contiguous loads; nothing like the K x
 * od*plane column matrix is built or packed.
 */
#ifndef HSI_CNN_CONV_TAPS_H
#define HSI_CNN_CONV_TAPS_H

#include <stddef.h>

#include "cnn3d/backend.h"

/* 1 when this CPU runs AVX2 and FMA. */
int hsi_cnn_taps_cpu_ok(void);
/* Which tap kernels run here, for hsi --version and the benches: "avx2", or
 * "generic" (none: thin layers take vol2col + sgemm). */
const char *hsi_cnn_taps_isa(void);

/* Floats G needs after its R*gstride values: the kernels read up to this
 * far past a row's end (results there are discarded or multiplied by 0);
 * the caller zeroes them. */
#define HSI_CNN_TAPS_SLACK 128

/* Packed weights, shared by the threads: taps x filters rounded up. */
size_t hsi_cnn_taps_weight_floats(const hsi_cnn_conv_desc *cd);
void hsi_cnn_taps_pack_weights(const hsi_cnn_conv_desc *cd, const float *w, float *wt);

/* Per-thread scratch (floats) of the two passes below. */
size_t hsi_cnn_taps_scratch_floats(const hsi_cnn_conv_desc *cd);

/* One sample: y (f x od*plane) = W . G + bias, then max(0, .) when relu. */
void hsi_cnn_taps_forward(const hsi_cnn_conv_desc *cd, const float *g, size_t gstride,
                          const float *wt, const float *bias, int relu, float *y,
                          float *scratch);

/* The outputs q_begin .. q_end - 1 (of od*plane; q_begin a multiple of
 * HSI_CNN_TAPS_FORWARD_TILE) of every filter only, by the same operations
 * as the whole pass: threads that split one sample's outputs into such
 * ranges (scratch their own, G shared) write the same bits as one thread. */
#define HSI_CNN_TAPS_FORWARD_TILE 24
void hsi_cnn_taps_forward_range(const hsi_cnn_conv_desc *cd, const float *g, size_t gstride,
                                const float *wt, const float *bias, int relu, float *y,
                                float *scratch, int q_begin, int q_end);

/* Filter gradient over a group of samples: acc (hsi_cnn_taps_acc_floats,
 * zeroed by the caller) += the 8-lane partial sums of dy (f x od*plane) . G
 * for one sample; hsi_cnn_taps_filter_finish adds the lanes, in order, into
 * dw (f x c*kd*kh*kw, the weights' layout). */
size_t hsi_cnn_taps_acc_floats(const hsi_cnn_conv_desc *cd);
void hsi_cnn_taps_filter_accumulate(const hsi_cnn_conv_desc *cd, const float *g, size_t gstride,
                                    const float *dy, float *acc, float *scratch);
void hsi_cnn_taps_filter_finish(const hsi_cnn_conv_desc *cd, const float *acc, float *dw);

#endif
