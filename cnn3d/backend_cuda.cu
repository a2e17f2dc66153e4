/* backend_cuda.cu - the CUDA + cuDNN backend of the 3D-CNN: the context
 * (one device, one stream, a cuDNN and a cuBLAS handle), device selection
 * and its errors, memory, the dense layers' GEMM on cuBLAS, and the table.
 *
 * Every primitive is queued on the context's stream; only download,
 * loss_finish (and the arena's allocation) wait for the device, so a
 * training step runs without host synchronisation: its loss is read back
 * while the next step runs (hsi_cnn_train_step_begin/end).
 * Errors are sticky (backend_cuda.h): the first failing call is kept, with
 * the call's name and what it was doing, and every later primitive is a
 * no-op until the owner reads it through be->status().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn3d/backend_cuda.h"
#include "cnn3d/device.h"

int hsi_cuda_fail(struct cuda_ctx *c, hsi_status st, const char *fmt, ...)
{
    if (c->err) return 1;
    /* "conv3d_2 backward: GPU 0: cuDNN cudnnConvolutionBackwardData (...) failed: ..." */
    size_t at = 0;
    if (c->label[0]) at = (size_t)snprintf(c->msg, sizeof c->msg, "%s: ", c->label);
    if (at >= sizeof c->msg) at = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg + at, sizeof c->msg - at, fmt, ap);
    va_end(ap);
    c->err = st;
    return 1;
}

int hsi_cuda_check(struct cuda_ctx *c, cudaError_t e, const char *call, const char *what)
{
    if (e == cudaSuccess) return 0;
    cudaGetLastError(); /* clear a non-sticky error */
    if (e == cudaErrorMemoryAllocation) {
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        return hsi_cuda_fail(c, HSI_ERR_NOMEM,
                             "GPU %d out of memory in %s (%s): %.0f MiB free of %.0f MiB; "
                             "use a smaller --batch",
                             c->device, call, what, free_b / 1048576.0, total_b / 1048576.0);
    }
    return hsi_cuda_fail(c, HSI_ERR_DEVICE, "GPU %d: %s (%s) failed: %s", c->device, call, what,
                         cudaGetErrorString(e));
}

int hsi_cudnn_check(struct cuda_ctx *c, cudnnStatus_t s, const char *call, const char *what)
{
    if (s == CUDNN_STATUS_SUCCESS) return 0;
    char detail[256] = "";
    cudnnGetLastErrorString(detail, sizeof detail);
    return hsi_cuda_fail(c, s == CUDNN_STATUS_ALLOC_FAILED ? HSI_ERR_NOMEM : HSI_ERR_DEVICE,
                         "GPU %d: cuDNN %s (%s) failed: %s%s%s", c->device, call, what,
                         cudnnGetErrorString(s), detail[0] ? ": " : "", detail);
}

int hsi_cublas_check(struct cuda_ctx *c, cublasStatus_t s, const char *call, const char *what)
{
    if (s == CUBLAS_STATUS_SUCCESS) return 0;
    return hsi_cuda_fail(c, s == CUBLAS_STATUS_ALLOC_FAILED ? HSI_ERR_NOMEM : HSI_ERR_DEVICE,
                         "GPU %d: cuBLAS %s (%s) failed: %s", c->device, call, what,
                         cublasGetStatusString(s));
}

int hsi_cuda_workspace(struct cuda_ctx *c, size_t bytes)
{
    if (c->err) return 1;
    if (bytes <= c->work_bytes) return 0;
    /* Grows only while new geometries are planned (the first steps), so
     * the synchronisation cudaFree implies stays out of steady training. */
    if (c->work) cudaFree(c->work);
    c->work = NULL;
    c->work_bytes = 0;
    if (hsi_cuda_check(c, cudaMalloc(&c->work, bytes), "cudaMalloc", "convolution workspace"))
        return 1;
    c->work_bytes = bytes;
    return 0;
}

/* ---------------------------------------------------------------- memory */

static void *cuda_alloc(const hsi_cnn_backend *be, size_t bytes)
{
    struct cuda_ctx *c = cuda_ctx_of(be);
    if (c->err) return NULL;
    void *p = NULL;
    char what[64];
    snprintf(what, sizeof what, "%.1f MiB arena", bytes / 1048576.0);
    if (hsi_cuda_check(c, cudaMalloc(&p, bytes ? bytes : 1), "cudaMalloc", what)) return NULL;
    if (hsi_cuda_check(c, cudaMemsetAsync(p, 0, bytes, c->stream), "cudaMemsetAsync", what)) {
        cudaFree(p);
        return NULL;
    }
    return p;
}

static void cuda_release(const hsi_cnn_backend *be, void *p)
{
    (void)be;
    if (p) cudaFree(p);
}

/* Uploads of at least this size (a training batch: 3.5 MB at 50 x 9 x 9 x
 * 220) are copied into a pinned buffer and sent from there by DMA while the
 * host goes on queuing the step; smaller ones go from pageable memory. */
#define HSI_CUDA_STAGE_MIN ((size_t)1 << 20)

/* A pinned buffer of at least `bytes`, free to overwrite; 0: use pageable. */
static int stage_ready(struct cuda_ctx *c, size_t bytes)
{
    if (c->stage_failed) return 0;
    /* the previous staged copy must have left the buffer */
    if (hsi_cuda_check(c, cudaEventSynchronize(c->stage_done), "cudaEventSynchronize", "upload"))
        return 0;
    if (bytes <= c->stage_bytes) return 1;
    if (c->stage) cudaFreeHost(c->stage);
    c->stage = NULL;
    c->stage_bytes = 0;
    if (cudaMallocHost((void **)&c->stage, bytes) != cudaSuccess) {
        cudaGetLastError(); /* no pinned memory: not an error, only slower */
        c->stage = NULL;
        c->stage_failed = 1;
        return 0;
    }
    c->stage_bytes = bytes;
    return 1;
}

/* Either way src may be reused as soon as this returns: from pageable
 * memory cudaMemcpyAsync returns once src is staged by the driver. */
static void cuda_upload(const hsi_cnn_backend *be, void *dst, const void *src, size_t bytes)
{
    struct cuda_ctx *c = cuda_ctx_of(be);
    if (c->err || !bytes) return;
    if (bytes >= HSI_CUDA_STAGE_MIN && stage_ready(c, bytes)) {
        memcpy(c->stage, src, bytes);
        if (!hsi_cuda_check(c, cudaMemcpyAsync(dst, c->stage, bytes, cudaMemcpyHostToDevice, c->stream),
                            "cudaMemcpyAsync", "upload"))
            hsi_cuda_check(c, cudaEventRecord(c->stage_done, c->stream), "cudaEventRecord", "upload");
        return;
    }
    if (c->err) return;
    hsi_cuda_check(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream),
                   "cudaMemcpyAsync", "upload");
}

static void cuda_download(const hsi_cnn_backend *be, void *dst, const void *src, size_t bytes)
{
    struct cuda_ctx *c = cuda_ctx_of(be);
    if (c->err || !bytes) {
        /* Never hand back stale host memory as results after a failure. */
        if (bytes) memset(dst, 0, bytes);
        return;
    }
    if (hsi_cuda_check(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream),
                       "cudaMemcpyAsync", "download") ||
        hsi_cuda_check(c, cudaStreamSynchronize(c->stream), "cudaStreamSynchronize",
                       "download (a kernel before it may have failed)"))
        memset(dst, 0, bytes);
}

/* ---------------------------------------------------------------- gemm */

/* Row-major C (m x n) = alpha op(A) op(B) + beta C. cuBLAS is column-major,
 * where a row-major matrix reads as its transpose: C^T = op(B)^T op(A)^T,
 * i.e. the column-major gemm of (B, A) with the same op flags, n x m. */
static void cuda_gemm(const hsi_cnn_backend *be, int trans_a, int trans_b, int m, int n, int k,
                      float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                      float *cm, int ldc)
{
    struct cuda_ctx *c = cuda_ctx_of(be);
    if (c->err || m <= 0 || n <= 0) return;
    hsi_cublas_check(c,
                     cublasSgemm(c->blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                 trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, b, ldb, a,
                                 lda, &beta, cm, ldc),
                     "cublasSgemm", "dense layer");
}

/* ---------------------------------------------------------------- status, table */

static hsi_status cuda_status(const hsi_cnn_backend *be)
{
    struct cuda_ctx *c = cuda_ctx_of(be);
    if (!c->err) {
        /* A launch that failed without a later check shows here. */
        cudaError_t e = cudaPeekAtLastError();
        if (e != cudaSuccess) hsi_cuda_check(c, e, "kernel", "a primitive of the last step");
    }
    if (!c->err) return HSI_OK;
    return hsi_error(c->err, "%s", c->msg);
}

static void cuda_trace(const hsi_cnn_backend *be, const char *what)
{
    struct cuda_ctx *c = cuda_ctx_of(be);
    snprintf(c->label, sizeof c->label, "%s", what);
}

static const hsi_cnn_backend cuda_template = {
    .name = "cuda",
    .alloc = cuda_alloc,
    .release = cuda_release,
    .upload = cuda_upload,
    .download = cuda_download,
    .gemm = cuda_gemm,
    .conv3d_workspace = hsi_cuda_conv_workspace,
    .conv3d_forward = hsi_cuda_conv_forward,
    .conv3d_backward_data = hsi_cuda_conv_backward_data,
    .conv3d_backward_filter = hsi_cuda_conv_backward_filter,
    .conv3d_forward_maxpool = NULL, /* the net runs conv, then pool */
    .maxpool3d_forward = hsi_cuda_maxpool_forward,
    .maxpool3d_backward = hsi_cuda_maxpool_backward,
    .avgpool3d_forward = hsi_cuda_avgpool_forward,
    .avgpool3d_backward = hsi_cuda_avgpool_backward,
    .pad3d_forward = hsi_cuda_pad_forward,
    .pad3d_backward = hsi_cuda_pad_backward,
    .bias_add = hsi_cuda_bias_add,
    .bias_grad = hsi_cuda_bias_grad,
    .activation_forward = hsi_cuda_activation_forward,
    .activation_backward = hsi_cuda_activation_backward,
    .batchnorm_forward = hsi_cuda_bn_forward,
    .batchnorm_backward = hsi_cuda_bn_backward,
    .mul = hsi_cuda_mul,
    .copy = hsi_cuda_copy,
    .sgd_update = hsi_cuda_sgd_update,
    .adam_update = hsi_cuda_adam_update,
    .seq_pack = hsi_cuda_seq_pack,
    .seq_unpack = hsi_cuda_seq_unpack,
    .lstm_forward = hsi_cuda_lstm_forward,
    .lstm_backward = hsi_cuda_lstm_backward,
    .gru_forward = hsi_cuda_gru_forward,
    .gru_backward = hsi_cuda_gru_backward,
    .ctx = NULL,
    .loss_start = hsi_cuda_loss_start,
    .loss_finish = hsi_cuda_loss_finish,
    .gather_rows = hsi_cuda_gather_rows,
    .gather_windows = hsi_cuda_gather_windows,
    .augment = hsi_cuda_augment,
    .memory_free = hsi_cuda_memory_free,
    .trace = cuda_trace,
    .device = 1,
    .status = cuda_status,
};

/* ---------------------------------------------------------------- opening */

/* The architectures this module was compiled for (nvcc's list, "750,900"). */
#define HSI_CUDA_STR2(...) #__VA_ARGS__
#define HSI_CUDA_STR(...) HSI_CUDA_STR2(__VA_ARGS__)
#ifdef __CUDA_ARCH_LIST__
#define HSI_CUDA_ARCHS HSI_CUDA_STR(__CUDA_ARCH_LIST__)
#else
#define HSI_CUDA_ARCHS "(unknown)"
#endif

/* CUDA 13 builds code for compute capability 7.5 (Turing) and newer. */
#define HSI_CUDA_MIN_MAJOR 7
#define HSI_CUDA_MIN_MINOR 5

extern "C" hsi_status hsi_cnn_backend_cuda_open(int device, const hsi_cnn_device_options *o,
                                                hsi_cnn_backend **out)
{
    *out = NULL;
    int count = 0, driver = 0, runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) cudaGetLastError();
    if (driver == 0 && (e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice))
        return hsi_error(HSI_ERR_DEVICE, "no CUDA device: no NVIDIA driver is installed or loaded");
    if (e == cudaErrorInsufficientDriver)
        return hsi_error(HSI_ERR_DEVICE,
                         "the NVIDIA driver supports CUDA %d.%d, older than the CUDA %d.%d runtime "
                         "hsi was built with: update the driver",
                         driver / 1000, driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10);
    if (e == cudaErrorNoDevice || (e == cudaSuccess && count == 0))
        return hsi_error(HSI_ERR_DEVICE, "no CUDA device found");
    if (e != cudaSuccess)
        return hsi_error(HSI_ERR_DEVICE, "no usable CUDA device: %s", cudaGetErrorString(e));
    if (device < 0 || device >= count) {
        char last[32] = "";
        if (count > 1) snprintf(last, sizeof last, " .. cuda:%d", count - 1);
        return hsi_error(HSI_ERR_DEVICE, "cuda:%d: there %s %d CUDA device%s (cuda:0%s)", device,
                         count == 1 ? "is" : "are", count, count == 1 ? "" : "s", last);
    }
    cudaDeviceProp p;
    if ((e = cudaGetDeviceProperties(&p, device)) != cudaSuccess)
        return hsi_error(HSI_ERR_DEVICE, "cuda:%d: %s", device, cudaGetErrorString(e));
    if (p.major < HSI_CUDA_MIN_MAJOR || (p.major == HSI_CUDA_MIN_MAJOR && p.minor < HSI_CUDA_MIN_MINOR))
        return hsi_error(HSI_ERR_DEVICE,
                         "cuda:%d: %s has compute capability %d.%d; this build runs on %d.%d "
                         "(Turing) and newer, as CUDA 13 supports",
                         device, p.name, p.major, p.minor, HSI_CUDA_MIN_MAJOR, HSI_CUDA_MIN_MINOR);
    if ((e = cudaSetDevice(device)) != cudaSuccess)
        return hsi_error(HSI_ERR_DEVICE, "cuda:%d: cudaSetDevice: %s", device, cudaGetErrorString(e));
    if ((e = hsi_cuda_kernels_runnable()) != cudaSuccess) {
        /* A module built for other GPUs (CUDA_ARCHS; the GPU bundle's is
         * sm_90 only), or PTX newer than the driver: say so now, not at
         * the first kernel of a training run. */
        cudaGetLastError();
        return hsi_error(HSI_ERR_DEVICE,
                         "cuda:%d: %s (sm_%d%d) cannot run hsi's CUDA kernels: %s; this module "
                         "has code for CUDA architectures %s (configure CUDA_ARCHS=%d%d builds "
                         "for this one)",
                         device, p.name, p.major, p.minor, cudaGetErrorString(e),
                         HSI_CUDA_ARCHS, p.major, p.minor);
    }

    hsi_cnn_backend *be = (hsi_cnn_backend *)malloc(sizeof *be);
    struct cuda_ctx *c = (struct cuda_ctx *)calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return hsi_error(HSI_ERR_NOMEM, "out of memory");
    }
    *be = cuda_template;
    be->ctx = c;
    c->device = device;
    c->deterministic = o && o->deterministic;
    c->tf32 = o && o->tf32;
    hsi_cuda_check(c, cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking),
                   "cudaStreamCreate", "opening the device");
    if (!c->err)
        hsi_cuda_check(c, cudaEventCreateWithFlags(&c->stage_done, cudaEventDisableTiming),
                       "cudaEventCreate", "opening the device");
    for (int i = 0; i < 2 && !c->err; i++)
        if (!hsi_cuda_check(c, cudaEventCreateWithFlags(&c->loss_done[i], cudaEventDisableTiming),
                            "cudaEventCreate", "opening the device"))
            hsi_cuda_check(c, cudaEventCreateWithFlags(&c->small_done[i], cudaEventDisableTiming),
                           "cudaEventCreate", "opening the device");
    if (!c->err) hsi_cudnn_check(c, cudnnCreate(&c->dnn), "cudnnCreate", "opening the device");
    if (!c->err) hsi_cudnn_check(c, cudnnSetStream(c->dnn, c->stream), "cudnnSetStream", "opening");
    if (!c->err) hsi_cublas_check(c, cublasCreate(&c->blas), "cublasCreate", "opening the device");
    if (!c->err) hsi_cublas_check(c, cublasSetStream(c->blas, c->stream), "cublasSetStream", "opening");
    if (!c->err)
        hsi_cublas_check(c,
                         cublasSetMathMode(c->blas, c->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                            : CUBLAS_DEFAULT_MATH),
                         "cublasSetMathMode", "opening");
    if (c->err) {
        hsi_status st = hsi_error(c->err, "%s", c->msg);
        hsi_cnn_backend_cuda_close(be);
        return st;
    }
    int bl = 0;
    cublasGetVersion(c->blas, &bl);
    size_t dnn = cudnnGetVersion();
    snprintf(c->describe, sizeof c->describe,
             "cuda:%d (%s, sm_%d%d, %.0f GiB; driver %d.%d, runtime %d.%d, cuDNN %zu.%zu.%zu, "
             "cuBLAS %d.%d.%d; %s%s)",
             device, p.name, p.major, p.minor, p.totalGlobalMem / 1073741824.0, driver / 1000,
             driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10, dnn / 10000,
             dnn % 10000 / 100, dnn % 100, bl / 10000, bl % 10000 / 100, bl % 100,
             c->tf32 ? "TF32 allowed" : "FP32", c->deterministic ? ", deterministic" : "");
    *out = be;
    return HSI_OK;
}

extern "C" void hsi_cnn_backend_cuda_close(hsi_cnn_backend *be)
{
    if (!be) return;
    struct cuda_ctx *c = cuda_ctx_of(be);
    if (c->stream) cudaStreamSynchronize(c->stream);
    hsi_cuda_conv_plans_free(c);
    if (c->work) cudaFree(c->work);
    if (c->loss_dev) cudaFree(c->loss_dev);
    if (c->loss_host) cudaFreeHost(c->loss_host);
    if (c->small_dev) cudaFree(c->small_dev);
    if (c->small_host) cudaFreeHost(c->small_host);
    if (c->aug_tmp) cudaFree(c->aug_tmp);
    for (int i = 0; i < 2; i++) {
        if (c->loss_done[i]) cudaEventDestroy(c->loss_done[i]);
        if (c->small_done[i]) cudaEventDestroy(c->small_done[i]);
    }
    if (c->stage) cudaFreeHost(c->stage);
    if (c->stage_done) cudaEventDestroy(c->stage_done);
    if (c->blas) cublasDestroy(c->blas);
    if (c->dnn) cudnnDestroy(c->dnn);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
    free(be);
}

extern "C" void hsi_cnn_backend_cuda_describe(const hsi_cnn_backend *be, char *buf, size_t len)
{
    snprintf(buf, len, "%s", cuda_ctx_of(be)->describe);
}
