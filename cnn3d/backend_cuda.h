/* backend_cuda.h - internals shared by the CUDA backend's sources (nvcc only):
 * the context behind hsi_cnn_backend.ctx, the sticky error, the checks.
 *
 *   backend_cuda.cu       context, device selection, memory, cuBLAS gemm, table
 *   backend_cuda_conv.cu  conv3d on cuDNN (plans cached per geometry)
 *   backend_cuda_ops.cu   own kernels: pooling, padding, bias, activations,
 *                         batch norm, optimisers, recurrent gates
 *
 * The table's functions return void, so a failing CUDA, cuDNN or cuBLAS call
 * is recorded once in the context (the first failure wins; every primitive
 * after it returns at once) and reported by be->status(), which the net,
 * training and prediction check (hsi_cnn_net_status).
 */
#ifndef HSI_CNN_BACKEND_CUDA_H
#define HSI_CNN_BACKEND_CUDA_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"
#include "cnn3d/backend.h"

/* A conv3d geometry's cuDNN descriptors, chosen algorithms and workspace
 * (backend_cuda_conv.cu); found at its first use, kept until the backend is
 * closed. */
struct cuda_conv_plan;

struct cuda_ctx {
    int device;
    int deterministic;      /* deterministic algorithms, chosen by heuristics, not timing */
    int tf32;               /* allow TF32 tensor cores in convolutions and GEMMs */
    cudaStream_t stream;
    cudnnHandle_t dnn;
    cublasHandle_t blas;
    hsi_status err;         /* sticky: the first failure */
    char msg[512];
    struct cuda_conv_plan **plans;
    int n_plans, cap_plans;
    void *work;             /* conv workspace: explicit padding + cuDNN's scratch */
    size_t work_bytes;
    char describe[256];
    char label[96];         /* what the net runs now (be->trace), for messages */
    float *stage;           /* pinned staging buffer for large uploads (NULL: none yet) */
    size_t stage_bytes;
    int stage_failed;       /* cudaMallocHost refused: pageable uploads from then on */
    cudaEvent_t stage_done; /* the last staged copy has left the buffer */
    /* The loss (hsi_cuda_loss_start/finish): two slots used in turn, each
     * row losses, hits, labels and weights of loss_rows rows, on the device
     * and pinned on the host; a slot's event marks its copies done. */
    void *loss_dev, *loss_host;
    size_t loss_rows;
    uint64_t loss_begun, loss_ended;
    int loss_n[2];          /* rows of each slot's pending loss (0: none) */
    cudaEvent_t loss_done[2];
    /* Small host data kernels read (sample indices, pixel coordinates,
     * augmentation draws): two halves of small_bytes each, device and
     * pinned host, used in turn (upload_small, backend_cuda_ops.cu). */
    void *small_dev, *small_host;
    size_t small_bytes;
    uint64_t small_calls;
    cudaEvent_t small_done[2];
    float *aug_tmp;         /* augmentation's turned batch [aug_floats] */
    size_t aug_floats;
};

static inline struct cuda_ctx *cuda_ctx_of(const hsi_cnn_backend *be)
{
    return (struct cuda_ctx *)be->ctx;
}

/* Record a failure (only the first is kept); returns 1 when it is one. */
int hsi_cuda_fail(struct cuda_ctx *c, hsi_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int hsi_cuda_check(struct cuda_ctx *c, cudaError_t e, const char *call, const char *what);
int hsi_cudnn_check(struct cuda_ctx *c, cudnnStatus_t s, const char *call, const char *what);
int hsi_cublas_check(struct cuda_ctx *c, cublasStatus_t s, const char *call, const char *what);
/* After a kernel launch: a bad configuration shows at once, faults later. */
#define HSI_CUDA_LAUNCHED(c, what) hsi_cuda_check((c), cudaGetLastError(), "kernel launch", (what))

/* Grow the context's workspace to at least `bytes` (keeping nothing). */
int hsi_cuda_workspace(struct cuda_ctx *c, size_t bytes);

/* Grid size for n elements at 256 threads, capped (the kernels loop). */
static inline unsigned hsi_cuda_blocks(size_t n)
{
    size_t b = (n + 255) / 256;
    if (b < 1) b = 1;
    return b > 65535u * 8 ? 65535u * 8 : (unsigned)b;
}

/* The conv primitives (backend_cuda_conv.cu). */
size_t hsi_cuda_conv_workspace(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd);
void hsi_cuda_conv_forward(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd,
                           const float *x, const float *w, const float *bias,
                           hsi_cnn_activation act, float *y, float *work);
void hsi_cuda_conv_backward_data(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd,
                                 const float *dy, const float *w, float *dx, float *work);
void hsi_cuda_conv_backward_filter(const hsi_cnn_backend *be, const hsi_cnn_conv_desc *cd,
                                   const float *x, const float *dy, float *dw, float *dbias,
                                   float *work);
void hsi_cuda_conv_plans_free(struct cuda_ctx *c);

/* The own kernels (backend_cuda_ops.cu), with the table's signatures. */
void hsi_cuda_maxpool_forward(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                              const float *x, float *y, int32_t *argmax);
void hsi_cuda_maxpool_backward(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                               const float *dy, const int32_t *argmax, const float *gate,
                               float *dx);
void hsi_cuda_avgpool_forward(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                              const float *x, float *y);
void hsi_cuda_avgpool_backward(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                               const float *dy, float *dx);
void hsi_cuda_pad_forward(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                          const float *x, float *y);
void hsi_cuda_pad_backward(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                           const float *dy, float *dx);
/* Zero padding with pads (before, after) per axis: x (nc, d, h, w) ->
 * xp (nc, d + b0 + a0, ...), and its crop; used by the convolutions. */
void hsi_cuda_pad_general(struct cuda_ctx *c, int nc, int d, int h, int w, const int before[3],
                          const int after[3], const float *x, float *xp, int crop);
void hsi_cuda_bias_act(struct cuda_ctx *c, size_t rows, int channels, size_t vol,
                       const float *bias, hsi_cnn_activation act, float *y);
void hsi_cuda_channel_sums(struct cuda_ctx *c, int n, int channels, size_t vol, const float *dy,
                           float *sums);
void hsi_cuda_bias_add(const hsi_cnn_backend *be, int rows, int cols, const float *bias,
                       float *y);
void hsi_cuda_bias_grad(const hsi_cnn_backend *be, int rows, int cols, const float *dy,
                        float *db);
void hsi_cuda_activation_forward(const hsi_cnn_backend *be, hsi_cnn_activation act, int rows,
                                 int cols, float *y);
void hsi_cuda_activation_backward(const hsi_cnn_backend *be, hsi_cnn_activation act, int rows,
                                  int cols, const float *y, float *dy);
void hsi_cuda_bn_forward(const hsi_cnn_backend *be, int n, int c, int s, const float *x,
                         const float *gamma, const float *beta, float *running_mean,
                         float *running_var, float momentum, float eps, int training,
                         float *xhat, float *invstd, float *y);
void hsi_cuda_bn_backward(const hsi_cnn_backend *be, int n, int c, int s, const float *dy,
                          const float *xhat, const float *invstd, const float *gamma,
                          float *dgamma, float *dbeta, float *dx);
void hsi_cuda_mul(const hsi_cnn_backend *be, size_t n, const float *x, const float *mask,
                  float *y);
void hsi_cuda_copy(const hsi_cnn_backend *be, size_t n, const float *src, float *dst);
void hsi_cuda_sgd_update(const hsi_cnn_backend *be, size_t n, float *w, const float *g, float *v,
                         float lr, float momentum, int nesterov, float wd);
void hsi_cuda_adam_update(const hsi_cnn_backend *be, size_t n, float *w, const float *g, float *m,
                          float *v, float lr, float b1, float b2, float eps, float wd, uint64_t t);
void hsi_cuda_seq_pack(const hsi_cnn_backend *be, int n, int c, int d, int s, const float *x,
                       float *xt);
void hsi_cuda_seq_unpack(const hsi_cnn_backend *be, int n, int c, int d, int s, const float *xt,
                         float *x);
void hsi_cuda_lstm_forward(const hsi_cnn_backend *be, int n, int u, float *a, const float *b_ih,
                           const float *b_hh, const float *c_prev, float *c, float *h);
void hsi_cuda_lstm_backward(const hsi_cnn_backend *be, int n, int u, const float *gates,
                            const float *c_prev, const float *c, const float *dh_out,
                            const float *dh_rec, const float *dc_next, float *dc_prev, float *da);
void hsi_cuda_gru_forward(const hsi_cnn_backend *be, int n, int u, float *g, const float *gh,
                          const float *b_ih, const float *b_hh, const float *h_prev, float *h);
void hsi_cuda_loss_start(const hsi_cnn_backend *be, int mse, int fused, const float *p,
                         const int32_t *labels, const float *w, int n, int k, float *grad);
double hsi_cuda_loss_finish(const hsi_cnn_backend *be, int *hits);
void hsi_cuda_gather_rows(const hsi_cnn_backend *be, const float *table, size_t row_len,
                          const size_t *idx, int n, float *out);
void hsi_cuda_gather_windows(const hsi_cnn_backend *be, const float *rows, size_t first,
                             size_t count, size_t scene_rows, size_t cols, size_t bands,
                             const uint32_t *pixels, int n, int radius, int mirror, float *out);
void hsi_cuda_augment(const hsi_cnn_backend *be, const hsi_cnn_aug_draw *draws, int n,
                      size_t planes, int h, int w, int blend, int scale, float *x);
size_t hsi_cuda_memory_free(const hsi_cnn_backend *be);
/* cudaSuccess when the module has code for the current device. */
cudaError_t hsi_cuda_kernels_runnable(void);
void hsi_cuda_gru_backward(const hsi_cnn_backend *be, int n, int u, const float *g,
                           const float *h_prev, const float *dh_out, const float *dh_rec,
                           float *dgx, float *dgh, float *dh_prev);

#endif
