/* backend_cuda_ops.cu - the CUDA backend's own kernels: pooling with the CPU
 * backend's argmax convention, zero padding and cropping, bias and
 * activations, softmax, batch normalisation, dropout's multiply, the
 * optimisers, and the recurrent layers' layout changes and gates.
 *
 * The per-element math is in cnn3d/cuda_math.h (tested on the CPU); here is
 * the indexing. Every output element has one writer and every sum is taken
 * in a fixed order (gathers, not atomics; fixed-shape tree reductions), so
 * the kernels are deterministic: two runs give the same bits.
 *
 * Tensors are (N, C, D, H, W) row-major; "nc" indexes the (sample,
 * channel) volumes.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cnn3d/backend_cuda.h"
#include "cnn3d/cuda_math.h"
#include "features/patch_window.h"

#define FOR_EACH(i, n) \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (size_t)blockDim.x * gridDim.x)

#define BEGIN(be)                                  \
    struct cuda_ctx *cx = cuda_ctx_of(be);         \
    if (cx->err) return;

#define LAUNCH(n, what, kernel, ...)                                                 \
    do {                                                                             \
        if ((n) == 0) break;                                                         \
        kernel<<<hsi_cuda_blocks(n), 256, 0, cx->stream>>>(__VA_ARGS__);             \
        HSI_CUDA_LAUNCHED(cx, what);                                                 \
    } while (0)

/* ---------------------------------------------------------------- pooling */

/* One thread per output: the first maximum of the window in (d, h, w) order
 * wins (strict >), as the CPU backend; argmax = its offset in the volume. */
__global__ void k_maxpool(hsi_cnn_pool_desc pd, size_t total, const float *x, float *y,
                          int32_t *argmax)
{
    const size_t in_vol = (size_t)pd.d * pd.h * pd.w, out_vol = (size_t)pd.od * pd.oh * pd.ow;
    FOR_EACH(i, total) {
        size_t nc = i / out_vol, o = i % out_vol;
        int ow = (int)(o % pd.ow), oh = (int)(o / pd.ow % pd.oh), od = (int)(o / pd.ow / pd.oh);
        const float *xi = x + nc * in_vol;
        int32_t where = (od * pd.sd * pd.h + oh * pd.sh) * pd.w + ow * pd.sw;
        float best = xi[where];
        for (int a = 0; a < pd.kd; a++)
            for (int b = 0; b < pd.kh; b++)
                for (int e = 0; e < pd.kw; e++) {
                    int32_t j = ((od * pd.sd + a) * pd.h + oh * pd.sh + b) * pd.w + ow * pd.sw + e;
                    if (xi[j] > best) best = xi[j], where = j;
                }
        y[i] = best;
        if (argmax) argmax[i] = where;
    }
}

/* One thread per input: the sum of the gradients of the windows whose
 * winner it is (gate: and whose pooled value is > 0), in output order - the
 * order in which the CPU adds them. */
__global__ void k_maxpool_back(hsi_cnn_pool_desc pd, size_t total, const float *dy,
                               const int32_t *argmax, const float *gate, float *dx)
{
    const size_t in_vol = (size_t)pd.d * pd.h * pd.w, out_vol = (size_t)pd.od * pd.oh * pd.ow;
    FOR_EACH(i, total) {
        size_t nc = i / in_vol, v = i % in_vol;
        int iw = (int)(v % pd.w), ih = (int)(v / pd.w % pd.h), id = (int)(v / pd.w / pd.h);
        int d0, d1, h0, h1, w0, w1;
        hsi_cm_pool_windows(id, pd.kd, pd.sd, pd.od, &d0, &d1);
        hsi_cm_pool_windows(ih, pd.kh, pd.sh, pd.oh, &h0, &h1);
        hsi_cm_pool_windows(iw, pd.kw, pd.sw, pd.ow, &w0, &w1);
        float g = 0.0f;
        const size_t base = nc * out_vol;
        for (int od = d0; od <= d1; od++)
            for (int oh = h0; oh <= h1; oh++)
                for (int ow = w0; ow <= w1; ow++) {
                    size_t o = base + ((size_t)od * pd.oh + oh) * pd.ow + ow;
                    if (argmax[o] == (int32_t)v && (!gate || gate[o] > 0)) g += dy[o];
                }
        dx[i] = g;
    }
}

__global__ void k_avgpool(hsi_cnn_pool_desc pd, size_t total, const float *x, float *y)
{
    const size_t in_vol = (size_t)pd.d * pd.h * pd.w, out_vol = (size_t)pd.od * pd.oh * pd.ow;
    const float inv = 1.0f / (pd.kd * pd.kh * pd.kw);
    FOR_EACH(i, total) {
        size_t nc = i / out_vol, o = i % out_vol;
        int ow = (int)(o % pd.ow), oh = (int)(o / pd.ow % pd.oh), od = (int)(o / pd.ow / pd.oh);
        const float *xi = x + nc * in_vol;
        float s = 0;
        for (int a = 0; a < pd.kd; a++)
            for (int b = 0; b < pd.kh; b++)
                for (int e = 0; e < pd.kw; e++)
                    s += xi[((od * pd.sd + a) * pd.h + oh * pd.sh + b) * pd.w + ow * pd.sw + e];
        y[i] = s * inv;
    }
}

__global__ void k_avgpool_back(hsi_cnn_pool_desc pd, size_t total, const float *dy, float *dx)
{
    const size_t in_vol = (size_t)pd.d * pd.h * pd.w, out_vol = (size_t)pd.od * pd.oh * pd.ow;
    const float inv = 1.0f / (pd.kd * pd.kh * pd.kw);
    FOR_EACH(i, total) {
        size_t nc = i / in_vol, v = i % in_vol;
        int iw = (int)(v % pd.w), ih = (int)(v / pd.w % pd.h), id = (int)(v / pd.w / pd.h);
        int d0, d1, h0, h1, w0, w1;
        hsi_cm_pool_windows(id, pd.kd, pd.sd, pd.od, &d0, &d1);
        hsi_cm_pool_windows(ih, pd.kh, pd.sh, pd.oh, &h0, &h1);
        hsi_cm_pool_windows(iw, pd.kw, pd.sw, pd.ow, &w0, &w1);
        float g = 0.0f;
        for (int od = d0; od <= d1; od++)
            for (int oh = h0; oh <= h1; oh++)
                for (int ow = w0; ow <= w1; ow++)
                    g += dy[nc * out_vol + ((size_t)od * pd.oh + oh) * pd.ow + ow] * inv;
        dx[i] = g;
    }
}

void hsi_cuda_maxpool_forward(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                              const float *x, float *y, int32_t *argmax)
{
    BEGIN(be);
    size_t total = (size_t)pd->n * pd->c * pd->od * pd->oh * pd->ow;
    LAUNCH(total, "maxpool3d forward", k_maxpool, *pd, total, x, y, argmax);
}

void hsi_cuda_maxpool_backward(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                               const float *dy, const int32_t *argmax, const float *gate,
                               float *dx)
{
    BEGIN(be);
    size_t total = (size_t)pd->n * pd->c * pd->d * pd->h * pd->w;
    LAUNCH(total, "maxpool3d backward", k_maxpool_back, *pd, total, dy, argmax, gate, dx);
}

void hsi_cuda_avgpool_forward(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                              const float *x, float *y)
{
    BEGIN(be);
    size_t total = (size_t)pd->n * pd->c * pd->od * pd->oh * pd->ow;
    LAUNCH(total, "avgpool3d forward", k_avgpool, *pd, total, x, y);
}

void hsi_cuda_avgpool_backward(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                               const float *dy, float *dx)
{
    BEGIN(be);
    size_t total = (size_t)pd->n * pd->c * pd->d * pd->h * pd->w;
    LAUNCH(total, "avgpool3d backward", k_avgpool_back, *pd, total, dy, dx);
}

/* ---------------------------------------------------------------- padding */

struct pad_geom {
    int d, h, w;          /* the unpadded volume */
    int pd, ph, pw;       /* zeros before */
    int od, oh, ow;       /* the padded volume */
};

/* One thread per padded element: x's value inside, 0 in the border. */
__global__ void k_pad(pad_geom g, size_t total, const float *x, float *y)
{
    const size_t in_vol = (size_t)g.d * g.h * g.w, out_vol = (size_t)g.od * g.oh * g.ow;
    FOR_EACH(i, total) {
        size_t nc = i / out_vol, o = i % out_vol;
        int w = (int)(o % g.ow) - g.pw, h = (int)(o / g.ow % g.oh) - g.ph,
            d = (int)(o / g.ow / g.oh) - g.pd;
        y[i] = d >= 0 && d < g.d && h >= 0 && h < g.h && w >= 0 && w < g.w
                   ? x[nc * in_vol + ((size_t)d * g.h + h) * g.w + w]
                   : 0.0f;
    }
}

/* One thread per unpadded element: the crop (padding's adjoint). */
__global__ void k_crop(pad_geom g, size_t total, const float *dy, float *dx)
{
    const size_t in_vol = (size_t)g.d * g.h * g.w, out_vol = (size_t)g.od * g.oh * g.ow;
    FOR_EACH(i, total) {
        size_t nc = i / in_vol, v = i % in_vol;
        int w = (int)(v % g.w), h = (int)(v / g.w % g.h), d = (int)(v / g.w / g.h);
        dx[i] = dy[nc * out_vol + ((size_t)(d + g.pd) * g.oh + h + g.ph) * g.ow + w + g.pw];
    }
}

void hsi_cuda_pad_general(struct cuda_ctx *cx, int nc, int d, int h, int w, const int before[3],
                          const int after[3], const float *x, float *xp, int crop)
{
    if (cx->err) return;
    pad_geom g = {d, h, w, before[0], before[1], before[2], d + before[0] + after[0],
                  h + before[1] + after[1], w + before[2] + after[2]};
    if (!crop) {
        size_t total = (size_t)nc * g.od * g.oh * g.ow;
        LAUNCH(total, "conv3d explicit padding", k_pad, g, total, x, xp);
    } else {
        /* here x is the padded gradient and xp the cropped one */
        size_t total = (size_t)nc * d * h * w;
        LAUNCH(total, "conv3d gradient crop", k_crop, g, total, x, xp);
    }
}

void hsi_cuda_pad_forward(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd, const float *x,
                          float *y)
{
    BEGIN(be);
    pad_geom g = {pd->d, pd->h, pd->w, pd->pd, pd->ph, pd->pw, pd->od, pd->oh, pd->ow};
    size_t total = (size_t)pd->n * pd->c * pd->od * pd->oh * pd->ow;
    LAUNCH(total, "zeropad3d forward", k_pad, g, total, x, y);
}

void hsi_cuda_pad_backward(const hsi_cnn_backend *be, const hsi_cnn_pool_desc *pd,
                           const float *dy, float *dx)
{
    BEGIN(be);
    pad_geom g = {pd->d, pd->h, pd->w, pd->pd, pd->ph, pd->pw, pd->od, pd->oh, pd->ow};
    size_t total = (size_t)pd->n * pd->c * pd->d * pd->h * pd->w;
    LAUNCH(total, "zeropad3d backward", k_crop, g, total, dy, dx);
}

/* ---------------------------------------------------------------- bias, activations */

/* y (rows, channels, vol) = act(y + bias[channel]) in one pass (after a conv). */
__global__ void k_bias_act(size_t total, int channels, size_t vol, const float *bias,
                           hsi_cnn_activation act, float *y)
{
    FOR_EACH(i, total) {
        float v = y[i];
        if (bias) v += bias[(i / vol) % channels];
        y[i] = hsi_cm_act_forward(act, v);
    }
}

/* Softmax: a thread per row (a dense layer's classes, or after a conv a
 * filter's volume of one sample). */
__global__ void k_softmax(int rows, int cols, float *y)
{
    FOR_EACH(r, (size_t)rows) hsi_cm_softmax_row(y + r * cols, cols);
}

void hsi_cuda_bias_act(struct cuda_ctx *cx, size_t rows, int channels, size_t vol,
                       const float *bias, hsi_cnn_activation act, float *y)
{
    if (cx->err) return;
    size_t total = rows * channels * vol;
    if (act == HSI_CNN_ACT_SOFTMAX) {
        /* As the CPU backend: the bias, then a softmax over each filter's
         * volume (rows * channels rows of vol). */
        if (bias)
            LAUNCH(total, "conv3d bias", k_bias_act, total, channels, vol, bias, HSI_CNN_ACT_LINEAR, y);
        LAUNCH(rows * channels, "conv3d softmax", k_softmax, (int)(rows * channels), (int)vol, y);
        return;
    }
    if (!bias && act == HSI_CNN_ACT_LINEAR) return;
    LAUNCH(total, "conv3d bias + activation", k_bias_act, total, channels, vol, bias, act, y);
}

/* sums[ch] = sum over n and vol of dy (n, channels, vol): one block per
 * channel, doubles, a fixed reduction tree. */
__global__ void k_channel_sums(int n, int channels, size_t vol, const float *dy, float *sums)
{
    __shared__ double part[256];
    int ch = blockIdx.x;
    double acc = 0;
    for (int i = 0; i < n; i++) {
        const float *p = dy + ((size_t)i * channels + ch) * vol;
        for (size_t j = threadIdx.x; j < vol; j += blockDim.x) acc += p[j];
    }
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) sums[ch] = (float)part[0];
}

void hsi_cuda_channel_sums(struct cuda_ctx *cx, int n, int channels, size_t vol, const float *dy,
                           float *sums)
{
    if (cx->err || channels <= 0) return;
    k_channel_sums<<<channels, 256, 0, cx->stream>>>(n, channels, vol, dy, sums);
    HSI_CUDA_LAUNCHED(cx, "conv3d bias gradient");
}

__global__ void k_bias_add(size_t total, int cols, const float *bias, float *y)
{
    FOR_EACH(i, total) y[i] += bias[i % cols];
}

/* db[c] = column sum of dy (rows x cols): a thread per column, rows in order. */
__global__ void k_bias_grad(int rows, int cols, const float *dy, float *db)
{
    FOR_EACH(col, (size_t)cols) {
        double s = 0;
        for (int r = 0; r < rows; r++) s += dy[(size_t)r * cols + col];
        db[col] = (float)s;
    }
}

void hsi_cuda_bias_add(const hsi_cnn_backend *be, int rows, int cols, const float *bias, float *y)
{
    BEGIN(be);
    size_t total = (size_t)rows * cols;
    LAUNCH(total, "bias add", k_bias_add, total, cols, bias, y);
}

void hsi_cuda_bias_grad(const hsi_cnn_backend *be, int rows, int cols, const float *dy, float *db)
{
    BEGIN(be);
    LAUNCH((size_t)cols, "bias gradient", k_bias_grad, rows, cols, dy, db);
}

__global__ void k_act(size_t total, hsi_cnn_activation act, float *y)
{
    FOR_EACH(i, total) y[i] = hsi_cm_act_forward(act, y[i]);
}

__global__ void k_act_back(size_t total, hsi_cnn_activation act, const float *y, float *dy)
{
    FOR_EACH(i, total) dy[i] = hsi_cm_act_backward(act, y[i], dy[i]);
}

__global__ void k_softmax_back(int rows, int cols, const float *y, float *dy)
{
    FOR_EACH(r, (size_t)rows) hsi_cm_softmax_backward_row(y + r * cols, dy + r * cols, cols);
}

void hsi_cuda_activation_forward(const hsi_cnn_backend *be, hsi_cnn_activation act, int rows,
                                 int cols, float *y)
{
    BEGIN(be);
    size_t total = (size_t)rows * cols;
    if (act == HSI_CNN_ACT_LINEAR) return;
    if (act == HSI_CNN_ACT_SOFTMAX) LAUNCH((size_t)rows, "softmax", k_softmax, rows, cols, y);
    else LAUNCH(total, "activation", k_act, total, act, y);
}

void hsi_cuda_activation_backward(const hsi_cnn_backend *be, hsi_cnn_activation act, int rows,
                                  int cols, const float *y, float *dy)
{
    BEGIN(be);
    size_t total = (size_t)rows * cols;
    if (act == HSI_CNN_ACT_LINEAR) return;
    if (act == HSI_CNN_ACT_SOFTMAX)
        LAUNCH((size_t)rows, "softmax backward", k_softmax_back, rows, cols, y, dy);
    else LAUNCH(total, "activation backward", k_act_back, total, act, y, dy);
}

/* ---------------------------------------------------------------- batch normalisation */

/* Block reduction of two doubles (256 threads, fixed tree). */
__device__ void block_sum2(double *a, double *b)
{
    __shared__ double sa[256], sb[256];
    sa[threadIdx.x] = *a;
    sb[threadIdx.x] = *b;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) {
            sa[threadIdx.x] += sa[threadIdx.x + s];
            sb[threadIdx.x] += sb[threadIdx.x + s];
        }
        __syncthreads();
    }
    *a = sa[0];
    *b = sb[0];
    __syncthreads();
}

/* One block per channel of x (n, c, s). */
__global__ void k_bn_forward(int n, int c, int s, const float *x, const float *gamma,
                             const float *beta, float *running_mean, float *running_var,
                             float momentum, float eps, int training, float *xhat, float *invstd,
                             float *y)
{
    int ch = blockIdx.x;
    double mean, var;
    const size_t m_count = (size_t)n * s;
    if (training) {
        double sum = 0, unused = 0;
        for (size_t k = threadIdx.x; k < m_count; k += blockDim.x)
            sum += x[((k / s) * c + ch) * s + k % s];
        block_sum2(&sum, &unused);
        mean = sum / (double)m_count;
        double sq = 0;
        unused = 0;
        for (size_t k = threadIdx.x; k < m_count; k += blockDim.x) {
            double d = x[((k / s) * c + ch) * s + k % s] - mean;
            sq += d * d;
        }
        block_sum2(&sq, &unused);
        var = sq / (double)m_count;
        double m = (double)m_count;
        double unbiased = m > 1 ? sq / (m - 1) : var;
        if (threadIdx.x == 0) {
            running_mean[ch] = (float)(momentum * running_mean[ch] + (1 - momentum) * mean);
            running_var[ch] = (float)(momentum * running_var[ch] + (1 - momentum) * unbiased);
        }
    } else {
        mean = running_mean[ch];
        var = running_var[ch];
    }
    float inv = (float)(1.0 / sqrt(var + eps));
    if (invstd && threadIdx.x == 0) invstd[ch] = inv;
    for (size_t k = threadIdx.x; k < m_count; k += blockDim.x) {
        size_t idx = ((k / s) * c + ch) * s + k % s;
        y[idx] = hsi_cm_bn_forward(x[idx], mean, inv, gamma[ch], beta[ch], xhat ? xhat + idx : NULL);
    }
}

__global__ void k_bn_backward(int n, int c, int s, const float *dy, const float *xhat,
                              const float *invstd, const float *gamma, float *dgamma,
                              float *dbeta, float *dx)
{
    int ch = blockIdx.x;
    const size_t m_count = (size_t)n * s;
    double sdy = 0, sdyx = 0;
    for (size_t k = threadIdx.x; k < m_count; k += blockDim.x) {
        size_t idx = ((k / s) * c + ch) * s + k % s;
        sdy += dy[idx];
        sdyx += (double)dy[idx] * xhat[idx];
    }
    block_sum2(&sdy, &sdyx);
    if (threadIdx.x == 0) {
        dgamma[ch] = (float)sdyx;
        dbeta[ch] = (float)sdy;
    }
    if (!dx) return;
    for (size_t k = threadIdx.x; k < m_count; k += blockDim.x) {
        size_t idx = ((k / s) * c + ch) * s + k % s;
        dx[idx] = hsi_cm_bn_backward(dy[idx], xhat[idx], gamma[ch], invstd[ch], (double)m_count,
                                     sdy, sdyx);
    }
}

void hsi_cuda_bn_forward(const hsi_cnn_backend *be, int n, int c, int s, const float *x,
                         const float *gamma, const float *beta, float *running_mean,
                         float *running_var, float momentum, float eps, int training, float *xhat,
                         float *invstd, float *y)
{
    BEGIN(be);
    if (c <= 0) return;
    k_bn_forward<<<c, 256, 0, cx->stream>>>(n, c, s, x, gamma, beta, running_mean, running_var,
                                            momentum, eps, training, xhat, invstd, y);
    HSI_CUDA_LAUNCHED(cx, "batchnorm forward");
}

void hsi_cuda_bn_backward(const hsi_cnn_backend *be, int n, int c, int s, const float *dy,
                          const float *xhat, const float *invstd, const float *gamma,
                          float *dgamma, float *dbeta, float *dx)
{
    BEGIN(be);
    if (c <= 0) return;
    k_bn_backward<<<c, 256, 0, cx->stream>>>(n, c, s, dy, xhat, invstd, gamma, dgamma, dbeta, dx);
    HSI_CUDA_LAUNCHED(cx, "batchnorm backward");
}

/* ---------------------------------------------------------------- elementwise, optimisers */

__global__ void k_mul(size_t n, const float *x, const float *mask, float *y)
{
    FOR_EACH(i, n) y[i] = x[i] * mask[i];
}

void hsi_cuda_mul(const hsi_cnn_backend *be, size_t n, const float *x, const float *mask, float *y)
{
    BEGIN(be);
    LAUNCH(n, "dropout", k_mul, n, x, mask, y);
}

void hsi_cuda_copy(const hsi_cnn_backend *be, size_t n, const float *src, float *dst)
{
    BEGIN(be);
    if (!n || src == dst) return;
    hsi_cuda_check(cx, cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice,
                                       cx->stream),
                   "cudaMemcpyAsync", "copy");
}

__global__ void k_sgd(size_t n, float *w, const float *g, float *v, float lr, float momentum,
                      int nesterov, float wd)
{
    FOR_EACH(i, n) {
        float vi = momentum == 0.0f ? 0.0f : v[i];
        hsi_cm_sgd(&w[i], g[i], &vi, lr, momentum, nesterov, wd);
        if (momentum != 0.0f) v[i] = vi;
    }
}

void hsi_cuda_sgd_update(const hsi_cnn_backend *be, size_t n, float *w, const float *g, float *v,
                         float lr, float momentum, int nesterov, float wd)
{
    BEGIN(be);
    LAUNCH(n, "sgd update", k_sgd, n, w, g, v, lr, momentum, nesterov, wd);
}

__global__ void k_adam(size_t n, float *w, const float *g, float *m, float *v, float lr, float b1,
                       float b2, float eps, float wd, double c1, double c2)
{
    FOR_EACH(i, n) hsi_cm_adam(&w[i], g[i], &m[i], &v[i], lr, b1, b2, eps, wd, c1, c2);
}

void hsi_cuda_adam_update(const hsi_cnn_backend *be, size_t n, float *w, const float *g, float *m,
                          float *v, float lr, float b1, float b2, float eps, float wd, uint64_t t)
{
    BEGIN(be);
    /* The bias corrections once per step on the host, in double as the CPU. */
    double c1 = 1.0 - pow(b1, (double)t), c2 = 1.0 - pow(b2, (double)t);
    LAUNCH(n, "adam update", k_adam, n, w, g, m, v, lr, b1, b2, eps, wd, c1, c2);
}

/* ---------------------------------------------------------------- recurrent layers */

/* x (n, c, d, s) <-> xt (d, n, c * s): a thread per element of xt. */
__global__ void k_seq(int n, int c, int d, int s, size_t total, const float *src, float *dst,
                      int unpack)
{
    const size_t f = (size_t)c * s;
    FOR_EACH(i, total) {
        size_t t = i / ((size_t)n * f), r = i % ((size_t)n * f);
        size_t smp = r / f, ch = r % f / s, k = r % s;
        size_t xi = ((smp * c + ch) * d + t) * s + k;
        if (unpack) dst[xi] = src[i];
        else dst[i] = src[xi];
    }
}

void hsi_cuda_seq_pack(const hsi_cnn_backend *be, int n, int c, int d, int s, const float *x,
                       float *xt)
{
    BEGIN(be);
    size_t total = (size_t)n * c * d * s;
    LAUNCH(total, "sequence pack", k_seq, n, c, d, s, total, x, xt, 0);
}

void hsi_cuda_seq_unpack(const hsi_cnn_backend *be, int n, int c, int d, int s, const float *xt,
                         float *x)
{
    BEGIN(be);
    size_t total = (size_t)n * c * d * s;
    LAUNCH(total, "sequence unpack", k_seq, n, c, d, s, total, xt, x, 1);
}

/* A thread per (row, unit). */
__global__ void k_lstm(int n, int u, float *a, const float *b_ih, const float *b_hh,
                       const float *c_prev, float *c, float *h)
{
    FOR_EACH(i, (size_t)n * u) {
        size_t r = i / u;
        int j = (int)(i % u);
        hsi_cm_lstm_forward(a + r * 4 * u, u, j, b_ih, b_hh, c_prev ? c_prev[i] : 0.0f, &c[i],
                            &h[i]);
    }
}

__global__ void k_lstm_back(int n, int u, const float *gates, const float *c_prev,
                            const float *c, const float *dh_out, const float *dh_rec,
                            const float *dc_next, float *dc_prev, float *da)
{
    FOR_EACH(i, (size_t)n * u) {
        size_t r = i / u;
        int j = (int)(i % u);
        float dh = (dh_out ? dh_out[i] : 0.0f) + (dh_rec ? dh_rec[i] : 0.0f);
        float dcp = hsi_cm_lstm_backward(gates + r * 4 * u, u, j, c_prev ? c_prev[i] : 0.0f, c[i],
                                         dh, dc_next ? dc_next[i] : 0.0f, da + r * 4 * u);
        dc_prev[i] = dcp; /* may alias dc_next: read above, by this thread only */
    }
}

__global__ void k_gru(int n, int u, float *g, const float *gh, const float *b_ih,
                      const float *b_hh, const float *h_prev, float *h)
{
    FOR_EACH(i, (size_t)n * u) {
        size_t r = i / u;
        int j = (int)(i % u);
        h[i] = hsi_cm_gru_forward(g + r * 4 * u, gh ? gh + r * 3 * u : NULL, u, j, b_ih, b_hh,
                                  h_prev ? h_prev[i] : 0.0f);
    }
}

__global__ void k_gru_back(int n, int u, const float *g, const float *h_prev, const float *dh_out,
                           const float *dh_rec, float *dgx, float *dgh, float *dh_prev)
{
    FOR_EACH(i, (size_t)n * u) {
        size_t r = i / u;
        int j = (int)(i % u);
        float dh = (dh_out ? dh_out[i] : 0.0f) + (dh_rec ? dh_rec[i] : 0.0f);
        float d = hsi_cm_gru_backward(g + r * 4 * u, u, j, h_prev ? h_prev[i] : 0.0f, dh,
                                      dgx + r * 3 * u, dgh + r * 3 * u);
        if (dh_prev) dh_prev[i] = d;
    }
}

void hsi_cuda_lstm_forward(const hsi_cnn_backend *be, int n, int u, float *a, const float *b_ih,
                           const float *b_hh, const float *c_prev, float *c, float *h)
{
    BEGIN(be);
    LAUNCH((size_t)n * u, "lstm step", k_lstm, n, u, a, b_ih, b_hh, c_prev, c, h);
}

void hsi_cuda_lstm_backward(const hsi_cnn_backend *be, int n, int u, const float *gates,
                            const float *c_prev, const float *c, const float *dh_out,
                            const float *dh_rec, const float *dc_next, float *dc_prev, float *da)
{
    BEGIN(be);
    LAUNCH((size_t)n * u, "lstm step backward", k_lstm_back, n, u, gates, c_prev, c, dh_out,
           dh_rec, dc_next, dc_prev, da);
}

void hsi_cuda_gru_forward(const hsi_cnn_backend *be, int n, int u, float *g, const float *gh,
                          const float *b_ih, const float *b_hh, const float *h_prev, float *h)
{
    BEGIN(be);
    LAUNCH((size_t)n * u, "gru step", k_gru, n, u, g, gh, b_ih, b_hh, h_prev, h);
}

void hsi_cuda_gru_backward(const hsi_cnn_backend *be, int n, int u, const float *g,
                           const float *h_prev, const float *dh_out, const float *dh_rec,
                           float *dgx, float *dgh, float *dh_prev)
{
    BEGIN(be);
    LAUNCH((size_t)n * u, "gru step backward", k_gru_back, n, u, g, h_prev, dh_out, dh_rec, dgx,
           dgh, dh_prev);
}

/* ---------------------------------------------------------------- loss */

/* A thread per row: its loss (hsi_cm_loss_row, as hsi_cnn_loss_eval), its
 * gradient, and whether its first maximum is the label. */
__global__ void k_loss(int mse, int fused, const float *p, const int32_t *labels, const float *w,
                       int n, int k, float *grad, double *row_loss, int32_t *hit)
{
    FOR_EACH(r, (size_t)n) {
        const float *pr = p + r * k;
        int y = labels[r];
        row_loss[r] = hsi_cm_loss_row(mse, fused, pr, k, y, w ? w[r] : 1.0, n, grad + r * k);
        int best = 0;
        for (int c = 1; c < k; c++)
            if (pr[c] > pr[best]) best = c;
        hit[r] = best == y;
    }
}

/* One slot's buffers, device and pinned host alike, `rows` rows each:
 * [row losses (double) | hits (int32) | labels (int32) | weights (float)];
 * the first two come back, the last two go out. */
struct loss_slot_view {
    double *row_loss;
    int32_t *hit, *lab;
    float *w;
};

static size_t loss_slot_bytes(size_t rows)
{
    return rows * (sizeof(double) + 2 * sizeof(int32_t) + sizeof(float));
}

static loss_slot_view loss_slot(void *base, size_t rows, int slot)
{
    char *b = (char *)base + (size_t)slot * loss_slot_bytes(rows);
    loss_slot_view v;
    v.row_loss = (double *)b;
    v.hit = (int32_t *)(v.row_loss + rows);
    v.lab = v.hit + rows;
    v.w = (float *)(v.lab + rows);
    return v;
}

/* Grow both slots to n rows, after the stream is synchronised: a pending
 * slot's results are then on the host, and move to the new buffer. */
static int loss_grow(struct cuda_ctx *cx, int n)
{
    void *dev = NULL, *host = NULL;
    size_t rows = (size_t)n, bytes = 2 * loss_slot_bytes(rows);
    if (hsi_cuda_check(cx, cudaMalloc(&dev, bytes), "cudaMalloc", "loss")) return 1;
    if (hsi_cuda_check(cx, cudaMallocHost(&host, bytes), "cudaMallocHost", "loss")) {
        cudaFree(dev);
        return 1;
    }
    for (int slot = 0; slot < 2 && cx->loss_host; slot++) {
        int m = cx->loss_n[slot];
        if (m <= 0) continue;
        loss_slot_view from = loss_slot(cx->loss_host, cx->loss_rows, slot);
        loss_slot_view to = loss_slot(host, rows, slot);
        memcpy(to.row_loss, from.row_loss, m * sizeof *to.row_loss);
        memcpy(to.hit, from.hit, m * sizeof *to.hit);
    }
    if (cx->loss_dev) cudaFree(cx->loss_dev);
    if (cx->loss_host) cudaFreeHost(cx->loss_host);
    cx->loss_dev = dev, cx->loss_host = host, cx->loss_rows = rows;
    return 0;
}

/* Queues the loss kernel and the copies of its row losses and hits into
 * the pinned slot of this call (calls alternate between two slots, so a
 * step's loss is read while the next step runs). */
void hsi_cuda_loss_start(const hsi_cnn_backend *be, int mse, int fused, const float *p,
                         const int32_t *labels, const float *w, int n, int k, float *grad)
{
    struct cuda_ctx *cx = cuda_ctx_of(be);
    int slot = (int)(cx->loss_begun++ % 2);
    cx->loss_n[slot] = 0;
    if (cx->err || n <= 0) return;
    if ((size_t)n > cx->loss_rows) {
        /* Growing moves the slots: a pending one's copies must be done. */
        if (hsi_cuda_check(cx, cudaStreamSynchronize(cx->stream), "cudaStreamSynchronize",
                           "the training step (a kernel in it may have failed)") ||
            loss_grow(cx, n))
            return;
    } else if (cx->loss_begun - cx->loss_ended > 2) {
        /* This slot's last use was never finished: its copies must be done
         * before the host part is overwritten. */
        if (hsi_cuda_check(cx, cudaEventSynchronize(cx->loss_done[slot]), "cudaEventSynchronize",
                           "loss"))
            return;
    }
    loss_slot_view h = loss_slot(cx->loss_host, cx->loss_rows, slot);
    loss_slot_view d = loss_slot(cx->loss_dev, cx->loss_rows, slot);
    memcpy(h.lab, labels, n * sizeof *h.lab);
    if (hsi_cuda_check(cx, cudaMemcpyAsync(d.lab, h.lab, n * sizeof *h.lab, cudaMemcpyHostToDevice,
                                           cx->stream),
                       "cudaMemcpyAsync", "loss labels"))
        return;
    if (w) {
        memcpy(h.w, w, n * sizeof *h.w);
        if (hsi_cuda_check(cx, cudaMemcpyAsync(d.w, h.w, n * sizeof *h.w, cudaMemcpyHostToDevice,
                                               cx->stream),
                           "cudaMemcpyAsync", "loss weights"))
            return;
    }
    k_loss<<<hsi_cuda_blocks(n), 256, 0, cx->stream>>>(mse, fused, p, d.lab, w ? d.w : NULL, n, k,
                                                       grad, d.row_loss, d.hit);
    if (HSI_CUDA_LAUNCHED(cx, "loss")) return;
    if (hsi_cuda_check(cx, cudaMemcpyAsync(h.row_loss, d.row_loss, n * sizeof *h.row_loss,
                                           cudaMemcpyDeviceToHost, cx->stream),
                       "cudaMemcpyAsync", "loss") ||
        hsi_cuda_check(cx, cudaMemcpyAsync(h.hit, d.hit, n * sizeof *h.hit, cudaMemcpyDeviceToHost,
                                           cx->stream),
                       "cudaMemcpyAsync", "loss hits") ||
        hsi_cuda_check(cx, cudaEventRecord(cx->loss_done[slot], cx->stream), "cudaEventRecord",
                       "loss"))
        return;
    cx->loss_n[slot] = n;
}

/* Waits for the oldest pending loss and sums it in row order, as
 * hsi_cnn_loss_eval adds the rows. */
double hsi_cuda_loss_finish(const hsi_cnn_backend *be, int *hits)
{
    struct cuda_ctx *cx = cuda_ctx_of(be);
    if (hits) *hits = 0;
    if (cx->loss_ended == cx->loss_begun) return NAN;
    int slot = (int)(cx->loss_ended++ % 2);
    int n = cx->loss_n[slot];
    cx->loss_n[slot] = 0;
    if (cx->err || n <= 0) return 0.0;
    if (hsi_cuda_check(cx, cudaEventSynchronize(cx->loss_done[slot]), "cudaEventSynchronize",
                       "the training step (a kernel in it may have failed)"))
        return 0.0;
    loss_slot_view h = loss_slot(cx->loss_host, cx->loss_rows, slot);
    double total = 0;
    int hh = 0;
    for (int r = 0; r < n; r++) total += h.row_loss[r], hh += h.hit[r];
    if (hits) *hits = hh;
    return total / n;
}

/* ---------------------------------------------------------------- resident samples */

/* out[i, :] = table[idx[i], :]: a block per row, its threads along the
 * row (a 9 x 9 x 220 window is 17,820 floats, 70 KB, read and written
 * coalesced). idx: n row numbers (int64). */
__global__ void k_gather_rows(const float *table, size_t row_len, const int64_t *idx, int n,
                              float *out)
{
    for (int i = blockIdx.x; i < n; i += gridDim.x) {
        const float *src = table + (size_t)idx[i] * row_len;
        float *dst = out + (size_t)i * row_len;
        for (size_t j = threadIdx.x; j < row_len; j += blockDim.x) dst[j] = src[j];
    }
}

/* Small host data a kernel reads (sample indices, pixel coordinates,
 * augmentation draws) sent to the device through a pinned buffer of two
 * halves used in turn (a half is rewritten only after the copy from it is
 * done, which its event says); returns the device copy, or NULL after a
 * failure. */
static void *upload_small(struct cuda_ctx *cx, const void *src, size_t bytes, const char *what)
{
    if (bytes > cx->small_bytes) {
        if (hsi_cuda_check(cx, cudaStreamSynchronize(cx->stream), "cudaStreamSynchronize", what))
            return NULL;
        if (cx->small_dev) cudaFree(cx->small_dev);
        if (cx->small_host) cudaFreeHost(cx->small_host);
        cx->small_dev = cx->small_host = NULL;
        cx->small_bytes = 0;
        size_t cap = (bytes + 255) / 256 * 256; /* each half aligned for any element type */
        if (hsi_cuda_check(cx, cudaMalloc(&cx->small_dev, 2 * cap), "cudaMalloc", what) ||
            hsi_cuda_check(cx, cudaMallocHost(&cx->small_host, 2 * cap), "cudaMallocHost", what))
            return NULL;
        cx->small_bytes = cap;
    }
    int half = (int)(cx->small_calls++ % 2);
    if (hsi_cuda_check(cx, cudaEventSynchronize(cx->small_done[half]), "cudaEventSynchronize", what))
        return NULL;
    char *h = (char *)cx->small_host + (size_t)half * cx->small_bytes;
    char *d = (char *)cx->small_dev + (size_t)half * cx->small_bytes;
    memcpy(h, src, bytes);
    if (hsi_cuda_check(cx, cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, cx->stream),
                       "cudaMemcpyAsync", what) ||
        hsi_cuda_check(cx, cudaEventRecord(cx->small_done[half], cx->stream), "cudaEventRecord", what))
        return NULL;
    return d;
}

/* Only the n indices cross to the device. */
void hsi_cuda_gather_rows(const hsi_cnn_backend *be, const float *table, size_t row_len,
                          const size_t *idx, int n, float *out)
{
    struct cuda_ctx *cx = cuda_ctx_of(be);
    if (cx->err || n <= 0) return;
    static_assert(sizeof(size_t) == sizeof(int64_t), "row indices are sent as 64-bit");
    const int64_t *d = (const int64_t *)upload_small(cx, idx, n * sizeof *idx, "sample indices");
    if (!d) return;
    unsigned blocks = n < 65535 ? (unsigned)n : 65535u;
    k_gather_rows<<<blocks, 256, 0, cx->stream>>>(table, row_len, d, n, out);
    HSI_CUDA_LAUNCHED(cx, "gathering samples");
}

/* The windows of n pixels from a band of rows on the device (shape and rule:
 * features/patch_window.h): a block per window, its threads along the
 * window's bands x S x S elements, so the writes are coalesced; the reads
 * hit the same few rows of the band for neighbouring pixels (L2). px: n
 * (row, col) pairs. */
__global__ void k_gather_windows(const float *rows, long first, long scene_rows, long cols,
                                 long bands, const uint32_t *px, int n, int radius, int mirror,
                                 float *out)
{
    long S = 2L * radius + 1, per = bands * S * S;
    for (int i = blockIdx.x; i < n; i += gridDim.x) {
        long row = px[2 * i], col = px[2 * i + 1];
        float *dst = out + (size_t)i * per;
        for (long j = threadIdx.x; j < per; j += blockDim.x) {
            long src = hsi_window_element(j, row, col, radius, bands, scene_rows, cols, first, mirror);
            dst[j] = src < 0 ? 0.0f : rows[src];
        }
    }
}

/* The pixel coordinates go through upload_small, as gather_rows' indices. */
void hsi_cuda_gather_windows(const hsi_cnn_backend *be, const float *rows, size_t first,
                             size_t count, size_t scene_rows, size_t cols, size_t bands,
                             const uint32_t *pixels, int n, int radius, int mirror, float *out)
{
    (void)count;
    struct cuda_ctx *cx = cuda_ctx_of(be);
    if (cx->err || n <= 0) return;
    const uint32_t *d = (const uint32_t *)upload_small(cx, pixels, 2 * n * sizeof *pixels,
                                                       "window pixels");
    if (!d) return;
    unsigned blocks = n < 65535 ? (unsigned)n : 65535u;
    k_gather_windows<<<blocks, 256, 0, cx->stream>>>(rows, (long)first, (long)scene_rows,
                                                     (long)cols, (long)bands, d, n, radius, mirror,
                                                     out);
    HSI_CUDA_LAUNCHED(cx, "gathering windows");
}

/* ---------------------------------------------------------------- augmentation */

/* Two passes over the batch x (n, planes, h, w), as cnn3d/augment.c's host
 * application: tmp = every patch turned and mirrored (an element a thread,
 * its source by hsi_cm_augment_source), then x = tmp blended with the
 * partner's tmp and scaled. A partner is read as it is after its own
 * turns, before any blending: hence the two passes through tmp. */
__global__ void k_aug_turn(const float *x, const hsi_cnn_aug_draw *d, int n, size_t planes, int h,
                           int w, float *tmp)
{
    size_t plane = (size_t)h * w, size = planes * plane;
    FOR_EACH(e, (size_t)n * size) {
        size_t i = e / size, p = e % size / plane, r = e % plane;
        int sy, sx;
        hsi_cm_augment_source((int)(r / w), (int)(r % w), h, w, d[i].flip_x, d[i].flip_y,
                              d[i].quarter_turns, &sy, &sx);
        tmp[e] = x[i * size + p * plane + (size_t)sy * w + sx];
    }
}

__global__ void k_aug_mix(const float *tmp, const hsi_cnn_aug_draw *d, int n, size_t size,
                          int blend, int scale, float *x)
{
    FOR_EACH(e, (size_t)n * size) {
        size_t i = e / size, v = e % size;
        float val = tmp[e];
        if (blend && d[i].partner >= 0)
            val = hsi_cm_augment_blend(val, tmp[(size_t)d[i].partner * size + v], d[i].t);
        if (scale) val = hsi_cm_augment_scale(val, d[i].gain, d[i].offset);
        x[e] = val;
    }
}

void hsi_cuda_augment(const hsi_cnn_backend *be, const hsi_cnn_aug_draw *draws, int n,
                      size_t planes, int h, int w, int blend, int scale, float *x)
{
    BEGIN(be);
    if (n <= 0) return;
    size_t floats = (size_t)n * planes * h * w;
    if (floats > cx->aug_floats) { /* grows in the first step only */
        if (cx->aug_tmp) cudaFree(cx->aug_tmp);
        cx->aug_tmp = NULL;
        cx->aug_floats = 0;
        if (hsi_cuda_check(cx, cudaMalloc(&cx->aug_tmp, floats * sizeof(float)), "cudaMalloc",
                           "augmentation scratch"))
            return;
        cx->aug_floats = floats;
    }
    const hsi_cnn_aug_draw *d =
        (const hsi_cnn_aug_draw *)upload_small(cx, draws, n * sizeof *draws, "augmentation draws");
    if (!d) return;
    LAUNCH(floats, "augmentation (turns)", k_aug_turn, x, d, n, planes, h, w, cx->aug_tmp);
    LAUNCH(floats, "augmentation (mix, gain)", k_aug_mix, cx->aug_tmp, d, n, planes * h * w, blend,
           scale, x);
}

/* Whether this module holds code the current GPU can run: machine code for
 * its architecture, or PTX its driver can compile (cudaErrorNoKernelImage-
 * ForDevice, cudaErrorUnsupportedPtxVersion otherwise). Asked once, when
 * the backend opens, rather than failing at the first kernel. */
cudaError_t hsi_cuda_kernels_runnable(void)
{
    cudaFuncAttributes a;
    return cudaFuncGetAttributes(&a, k_mul);
}

size_t hsi_cuda_memory_free(const hsi_cnn_backend *be)
{
    struct cuda_ctx *cx = cuda_ctx_of(be);
    size_t free_b = 0, total_b = 0;
    if (cx->err || cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return free_b;
}
