/* backend.h - the primitives the CNN layers call: one table per backend.
 *
 * Layer code (cnn3d/net.c) only calls through an hsi_cnn_backend, never
 * computes itself; a backend is a struct of function pointers (ggml and
 * darknet style). The CPU backend does conv3d as vol2col + OpenBLAS sgemm;
 * the reference backend does the same table with naive direct loops and is
 * the oracle the fast one is tested against. A cuDNN backend fills the same
 * slots with device memory behind alloc/upload/download.
 *
 * All tensors are float32 (N, C, D, H, W) row-major, per the descriptors.
 */
#ifndef HSI_CNN_BACKEND_H
#define HSI_CNN_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hsi_cnn_activation {
    HSI_CNN_ACT_LINEAR = 0,
    HSI_CNN_ACT_RELU,
    HSI_CNN_ACT_SIGMOID,
    HSI_CNN_ACT_TANH,
    HSI_CNN_ACT_SOFTMAX /* over the last axis of (rows, cols) */
} hsi_cnn_activation;

/* Convolution geometry. x is (n, c, d, h, w), weights (f, c, kd, kh, kw),
 * y (n, f, od, oh, ow); pd/ph/pw zeros are implied before the input (padding
 * "same"), as many as needed after it. */
typedef struct hsi_cnn_conv_desc {
    int n;
    int c, d, h, w;
    int f, kd, kh, kw;
    int sd, sh, sw;
    int pd, ph, pw;
    int od, oh, ow;
    /* 1: bf16 operands, fp32 accumulation and output, where the CPU has
     * AVX512_BF16 (hsi_cnn_net_set_precision): the depth-shift GEMMs, and
     * for thin first layers the tap kernels' forward pass and filter
     * gradient (cnn3d/gemm_bf16.c); the workspace does not depend on it. */
    int bf16;
} hsi_cnn_conv_desc;

/* The output size and the front padding of a convolution or pooling window
 * along one axis (input length in, window k, stride s), by Keras's rules,
 * which are TensorFlow's "VALID" and "SAME" padding (tf.nn.convolution;
 * GetWindowedOutputSize in tensorflow/core/framework/kernel_shape_util.cc):
 *   valid (same = 0): out = floor((in - k) / s) + 1, pad = 0;
 *                     -1 when k > in (no window fits).
 *   same  (same = 1): out = ceil(in / s); the zeros needed,
 *                     total = max((out - 1) s + k - in, 0), are split
 *                     pad = floor(total / 2) before the input and the rest
 *                     (one more when total is odd) after it.
 * Returns 0 and sets *out and *pad, or returns -1. Every plan of a layer and
 * every test geometry comes from here, so they cannot drift apart. */
int hsi_cnn_conv_geometry(int in, int k, int s, int same, int *out, int *pad);

/* Sets cd's output sizes (od, oh, ow) and front paddings (pd, ph, pw) from
 * its input (d, h, w), kernel and strides by hsi_cnn_conv_geometry on each
 * axis. Returns 0, or -1 (cd unchanged) when a valid window is larger than
 * its input along some axis. */
int hsi_cnn_conv_desc_geometry(hsi_cnn_conv_desc *cd, int same);

/* Pooling (window k, stride s, no padding) or zero padding (pd/ph/pw each
 * side) geometry: x (n, c, d, h, w) -> y (n, c, od, oh, ow). */
typedef struct hsi_cnn_pool_desc {
    int n;
    int c, d, h, w;
    int kd, kh, kw;
    int sd, sh, sw;
    int pd, ph, pw;
    int od, oh, ow;
} hsi_cnn_pool_desc;

/* One training patch's augmentation, drawn on the host from the net's RNG
 * (hsi_cnn_augment_draw, cnn3d/augment.c) and applied by a backend: a
 * mirror along x and/or y, then quarter turns; then the blend with the
 * batch's patch `partner` (-1: none) as that one is after its own turns,
 * (1 - t) x + t x'; then gain x + offset. */
typedef struct hsi_cnn_aug_draw {
    int32_t flip_x, flip_y, quarter_turns, partner;
    float t, gain, offset;
} hsi_cnn_aug_draw;

typedef struct hsi_cnn_backend hsi_cnn_backend;

struct hsi_cnn_backend {
    const char *name;
    /* Memory the other primitives may touch (device memory for a GPU). */
    void *(*alloc)(const hsi_cnn_backend *be, size_t bytes); /* zeroed */
    void (*release)(const hsi_cnn_backend *be, void *p);
    void (*upload)(const hsi_cnn_backend *be, void *dst, const void *src, size_t bytes);
    void (*download)(const hsi_cnn_backend *be, void *dst, const void *src, size_t bytes);

    /* C (m x n) = alpha op(A) op(B) + beta C, row-major. */
    void (*gemm)(const hsi_cnn_backend *be, int trans_a, int trans_b, int m, int n, int k,
                 float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                 float *c, int ldc);

    /* Scratch floats the conv primitives need for this geometry (any n). */
    size_t (*conv3d_workspace)(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd);
    /* y = act(conv(x, w) + bias): the activation is fused (as in cuDNN's
     * ConvolutionBiasActivationForward) so the output is touched once. */
    void (*conv3d_forward)(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd,
                           const float *x, const float *w, const float *bias,
                           hsi_cnn_activation act, float *y, float *work);
    /* dx = conv^T(dy, w) (overwrites dx) */
    void (*conv3d_backward_data)(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd,
                                 const float *dy, const float *w, float *dx, float *work);
    /* dw = sum_n dy (x) correlation, dbias = sum of dy per filter (overwrite) */
    void (*conv3d_backward_filter)(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd,
                                   const float *x, const float *dy, float *dw, float *dbias,
                                   float *work);

    /* Optional (NULL: never): conv3d_forward followed by maxpool3d_forward
     * on its output (pd, which describes exactly that tensor), without
     * storing the conv output: it is pooled per sample while in cache.
     * Returns 1 when done, 0 when this backend does not fuse this pair (the
     * caller then runs the two). Same results, bit for bit. */
    int (*conv3d_forward_maxpool)(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd,
                                  const float *x, const float *w, const float *bias,
                                  hsi_cnn_activation act, const hsi_cnn_pool_desc *pd,
                                  float *ypool, int32_t *argmax, float *work);

    /* Pooling; argmax (max only) records the winning input offset within
     * the (d, h, w) volume of each output. Backward overwrites dx. */
    void (*maxpool3d_forward)(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                              const float *x, float *y, int32_t *argmax);
    /* gate (NULL or the pooled outputs y): pass the gradient only where
     * gate > 0. After a ReLU this is the ReLU's own backward pass (the
     * winner's ReLU output is the pooled value), so the net skips that pass
     * over the big un-pooled tensor. */
    void (*maxpool3d_backward)(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                               const float *dy, const int32_t *argmax, const float *gate,
                               float *dx);
    void (*avgpool3d_forward)(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                              const float *x, float *y);
    void (*avgpool3d_backward)(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                               const float *dy, float *dx);
    /* Zero padding and its adjoint (crop). */
    void (*pad3d_forward)(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                          const float *x, float *y);
    void (*pad3d_backward)(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                           const float *dy, float *dx);

    /* Dense helpers: y[r, :] += bias; db = column sums of dy (rows x cols). */
    void (*bias_add)(const hsi_cnn_backend *be, int rows, int cols, const float *bias,
                     float *y);
    void (*bias_grad)(const hsi_cnn_backend *be, int rows, int cols, const float *dy,
                      float *db);

    /* Activations in place on y (rows x cols); backward turns dy (d loss /
     * d output) into d loss / d input in place, from the outputs y. */
    void (*activation_forward)(const hsi_cnn_backend *be, hsi_cnn_activation act, int rows,
                               int cols, float *y);
    void (*activation_backward)(const hsi_cnn_backend *be, hsi_cnn_activation act, int rows,
                                int cols, const float *y, float *dy);

    /* Batch normalisation over (n, c, s) with s = spatial size per channel.
     * Training: batch statistics, xhat and invstd saved, running stats
     * updated with momentum; inference: running statistics. */
    void (*batchnorm_forward)(const hsi_cnn_backend *be, int n, int c, int s, const float *x,
                              const float *gamma, const float *beta, float *running_mean,
                              float *running_var, float momentum, float eps, int training,
                              float *xhat, float *invstd, float *y);
    void (*batchnorm_backward)(const hsi_cnn_backend *be, int n, int c, int s,
                               const float *dy, const float *xhat, const float *invstd,
                               const float *gamma, float *dgamma, float *dbeta, float *dx);

    /* y = x * mask (dropout; the mask holds 0 or 1/(1-rate)) */
    void (*mul)(const hsi_cnn_backend *be, size_t n, const float *x, const float *mask,
                float *y);
    void (*copy)(const hsi_cnn_backend *be, size_t n, const float *src, float *dst);

    /* Optimiser updates over n parameters. SGD (Keras form):
     *   g' = g + wd w;  v = m v - lr g';  w += nesterov ? m v - lr g' : v
     * Adam (bias-corrected at step t >= 1):
     *   m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2;
     *   w -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps) */
    void (*sgd_update)(const hsi_cnn_backend *be, size_t n, float *w, const float *g,
                       float *v, float lr, float momentum, int nesterov, float wd);
    void (*adam_update)(const hsi_cnn_backend *be, size_t n, float *w, const float *g, float *m,
                        float *v, float lr, float b1, float b2, float eps, float wd, uint64_t t);

    /* Spectral recurrent layers ([lstm], [gru]; cnn3d/rnn.c does the
     * GEMMs, these the layout changes and the gates). A sample (c, d, s),
     * s = h * w, is a sequence of d steps of c * s features (feature
     * index ch * s + k), which the layers handle time-major:
     *   seq_pack:   x (n, c, d, s) -> xt (d, n, c * s)
     *   seq_unpack: xt (d, n, c * s) -> x (n, c, d, s)   (both overwrite) */
    void (*seq_pack)(const hsi_cnn_backend *be, int n, int c, int d, int s, const float *x,
                     float *xt);
    void (*seq_unpack)(const hsi_cnn_backend *be, int n, int c, int d, int s, const float *xt,
                       float *x);
    /* One LSTM step over n rows of u units, PyTorch's gate order (i, f, g, o):
     * a (n x 4u) holds W_ih x_t + W_hh h_{t-1} without biases and becomes
     * the activated gates (i, f, g, o) after adding b_ih + b_hh (4u each);
     *   c = f * c_prev + i * g;  h = o * tanh(c)     (c, h: n x u)
     * c_prev NULL: the zero initial state. */
    void (*lstm_forward)(const hsi_cnn_backend *be, int n, int u, float *a, const float *b_ih,
                         const float *b_hh, const float *c_prev, float *c, float *h);
    /* Its backward: gates (n x 4u, as forward left them), c_prev (NULL:
     * zero) and c; d loss / d h_t = dh_out + dh_rec (n x u, either NULL:
     * none), d loss / d c_t through step t + 1 in dc_next (NULL: none).
     * Writes da (n x 4u) = d loss / d pre-activations (the same for W_ih x,
     * W_hh h and both biases) and dc_prev = d loss / d c_{t-1} (may be
     * dc_next: in place). */
    void (*lstm_backward)(const hsi_cnn_backend *be, int n, int u, const float *gates,
                          const float *c_prev, const float *c, const float *dh_out,
                          const float *dh_rec, const float *dc_next, float *dc_prev, float *da);
    /* One GRU step, PyTorch's gate order (r, z, n):
     *   r = sig(gx_r + b_ir + gh_r + b_hr),  z = sig(gx_z + b_iz + gh_z + b_hz)
     *   n = tanh(gx_n + b_in + r * (gh_n + b_hn)),  h = (1 - z) * n + z * h_prev
     * g (n rows of 4u) holds gx = W_ih x_t in its first 3u columns and
     * becomes (r, z, n, gh_n + b_hn); gh (n x 3u) = W_hh h_{t-1} (NULL with
     * h_prev NULL: the zero initial state). */
    void (*gru_forward)(const hsi_cnn_backend *be, int n, int u, float *g, const float *gh,
                        const float *b_ih, const float *b_hh, const float *h_prev, float *h);
    /* Its backward: g as forward left it, h_prev (NULL: zero), d loss / d h_t
     * = dh_out + dh_rec (either NULL: none). Writes dgx (n x 3u) = d loss /
     * d (W_ih x_t + b_ih), dgh (n x 3u) = d loss / d (W_hh h_{t-1} + b_hh)
     * and, unless NULL, dh_prev (n x u) = dh * z, the direct path to
     * h_{t-1} (the caller adds dgh W_hh). dh_prev must not alias dh_rec. */
    void (*gru_backward)(const hsi_cnn_backend *be, int n, int u, const float *g,
                         const float *h_prev, const float *dh_out, const float *dh_rec,
                         float *dgx, float *dgh, float *dh_prev);
    void *ctx;
    /* Optional (NULL: the net computes the loss on the host from the
     * outputs read back), in two halves so that the host never waits for
     * the device inside a training step. loss_start queues the loss of
     * outputs p (n x k, backend memory) against labels (host, 0-based) with
     * sample weights w (host; NULL: 1), exactly as hsi_cnn_loss_eval()
     * defines it (mse: 1 for MSE, else CCE; fused: CCE after softmax,
     * gradient w.r.t. the logits): it writes d loss / d p (or / d logits)
     * into grad (n x k, backend memory) and starts copying the n row losses
     * and hits to the host; labels and w may be reused once it returns.
     * loss_finish waits for the oldest loss_start not yet finished (at most
     * two may be pending: a step's loss is read while the next step runs)
     * and returns its mean loss and, unless hits is NULL, the count of rows
     * whose first maximum is the label. */
    void (*loss_start)(const hsi_cnn_backend *be, int mse, int fused, const float *p,
                       const int32_t *labels, const float *w, int n, int k, float *grad);
    double (*loss_finish)(const hsi_cnn_backend *be, int *hits);
    /* Optional (NULL: the training loop gathers every batch on the host
     * and uploads it): rows of a table in backend memory picked by host
     * indices, out[i, :] = table[idx[i], :] for i < n (row_len floats a
     * row; out is backend memory). With the training samples held in such
     * a table (cnn3d/train.c), a step sends only its n indices to a GPU. */
    void (*gather_rows)(const hsi_cnn_backend *be, const float *table, size_t row_len,
                        const size_t *idx, int n, float *out);
    /* Optional (NULL: whole-scene prediction gathers windows on the host):
     * the (2r+1) x (2r+1) windows of n pixels from a band of scene rows in
     * backend memory, rows [first, first + count) of a scene_rows x cols x
     * bands scene (BIP), by features/patch_window.h's rule (mirror: 1 for
     * the mirror border mode, 0 for zero and skip), into out (n, 1, bands,
     * S, S) in backend memory. pixels: n (row, col) pairs of scene
     * coordinates (host memory), each window's rows (clipped to the scene)
     * in the band. On a GPU only the rows (once per tile) and the pixel
     * coordinates cross PCIe, not 81 copies of each spectrum. */
    void (*gather_windows)(const hsi_cnn_backend *be, const float *rows, size_t first,
                           size_t count, size_t scene_rows, size_t cols, size_t bands,
                           const uint32_t *pixels, int n, int radius, int mirror, float *out);
    /* Optional (NULL: augmented batches are gathered and changed on the
     * host): n patches x (n, planes, h, w) in backend memory augmented as
     * draws[i] says (host memory), exactly as hsi_cnn_augment_batch does:
     * blend and scale say whether mixing and gain/offset are on at all
     * (off, a patch is not touched by them, not even by x * 1 + 0). */
    void (*augment)(const hsi_cnn_backend *be, const hsi_cnn_aug_draw *draws, int n,
                    size_t planes, int h, int w, int blend, int scale, float *x);
    /* Optional (NULL: unknown): bytes of backend memory free now. */
    size_t (*memory_free)(const hsi_cnn_backend *be);
    /* Optional (NULL: none): the net names what it runs next ("conv3d_2
     * backward", "loss", "optimizer"), for the backend's error messages. */
    void (*trace)(const hsi_cnn_backend *be, const char *what);
    /* 1: alloc returns device memory, which the host reaches only through
     * upload and download (the CUDA backend); 0: host memory. */
    int device;
    /* The table's functions return void: a backend that can fail (a GPU)
     * records its first failure and reports it here (HSI_OK: none; the
     * message through hsi_last_error()); NULL: never fails. */
    hsi_status (*status)(const hsi_cnn_backend *be);
};

/* vol2col + OpenBLAS sgemm, OpenMP over samples. */
const hsi_cnn_backend *hsi_cnn_backend_cpu(void);
/* The same table with naive direct convolution: the test oracle. */
const hsi_cnn_backend *hsi_cnn_backend_reference(void);

/* Direct (naive) convolution primitives, exported for tests and benches. */
void hsi_cnn_conv3d_naive_forward(const hsi_cnn_conv_desc *cd, const float *x, const float *w,
                                  const float *bias, float *y);
void hsi_cnn_conv3d_naive_backward_data(const hsi_cnn_conv_desc *cd, const float *dy,
                                        const float *w, float *dx);
void hsi_cnn_conv3d_naive_backward_filter(const hsi_cnn_conv_desc *cd, const float *x,
                                          const float *dy, float *dw, float *dbias);

/* Tuning knob of the CPU backend: target size in bytes of one vol2col block
 * (a run of output depth slices); 0 restores the default. */
void hsi_cnn_cpu_set_block_bytes(size_t bytes);

/* Whether thin convolutions (the first layer) may use the AVX2 shifted-row
 * kernels of cnn3d/conv_taps.c (1, the default, where the CPU has AVX2 and
 * FMA) or must use vol2col + sgemm (0): for tests and benches of both. Set
 * it before building a net or sizing a workspace: the workspace depends on it. */
void hsi_cnn_cpu_set_tap_kernels(int enabled);

/* Whether the CPU backend fuses a conv with the max-pool after it
 * (conv3d_forward_maxpool; 1, the default) or declines (0): for A/B runs. */
void hsi_cnn_cpu_set_fused_pool(int enabled);

/* Whether depth-shift convolutions run as Winograd F(m, kd) along the
 * spectral axis (cnn3d/conv_winograd.c) where that saves multiplies: 1 (the
 * default: alpha = 8 points, F(4, 5) for kd = 5), 0 (off: depth-shift
 * sgemms), or m >= 2 to force output tile m wherever its transforms exist
 * (tests, benches). Set a forced tile before sizing a workspace; 0/1 may be
 * flipped on a built net. Until it is called, HSI_CNN_WINOGRAD in the
 * environment gives the mode (HSI_CNN_WINOGRAD=0 hsi cnn train ...: A/B runs). */
void hsi_cnn_cpu_set_winograd(int mode);

/* The CPU backend's way of running this convolution: "taps" (conv_taps.c),
 * "winograd" (conv_winograd.c), "shift" (depth-shift sgemms) or "vol2col"
 * (vol2col + sgemm). */
const char *hsi_cnn_cpu_conv_path(const hsi_cnn_conv_desc *cd);

#ifdef __cplusplus
}
#endif
#endif
