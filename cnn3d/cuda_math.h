/* cuda_math.h - the per-element math of the CUDA backend's own kernels, as
 * inline functions that compile both for the device (nvcc) and the host (C).
 *
 * Each function is the body of one thread of a kernel in
 * cnn3d/backend_cuda_ops.cu and repeats, operation for operation, the loop
 * body of the CPU backend (cnn3d/backend_cpu.c, cnn3d/rnn_cpu.c), so the two
 * agree to the last bit where libm and the device's expf/tanhf agree, and to
 * a few ulps elsewhere. tests/test_cnn_device.c runs these functions on the
 * CPU against the CPU backend: the math is checked on every machine, the
 * kernels' indexing on a GPU (tests/test_cnn_cuda.c). The index rules a
 * kernel or a cuDNN plan depends on (pooling windows, padding) are here too,
 * so that they are checked on every machine as well.
 */
#ifndef HSI_CNN_CUDA_MATH_H
#define HSI_CNN_CUDA_MATH_H

#include <math.h>
#include <stdint.h>

#include "cnn3d/backend.h"

#ifdef __CUDACC__
#define HSI_HD __host__ __device__ __forceinline__
#else
#define HSI_HD static inline
#endif

HSI_HD float hsi_cm_sigmoid(float v)
{
    return 1.0f / (1.0f + expf(-v));
}

/* Elementwise activations (softmax is per row: hsi_cm_softmax_row). */
HSI_HD float hsi_cm_act_forward(hsi_cnn_activation act, float v)
{
    switch (act) {
    case HSI_CNN_ACT_RELU: return v > 0 ? v : 0.0f;
    case HSI_CNN_ACT_SIGMOID: return hsi_cm_sigmoid(v);
    case HSI_CNN_ACT_TANH: return tanhf(v);
    default: return v;
    }
}

/* d loss / d input from d loss / d output dy and the output y. */
HSI_HD float hsi_cm_act_backward(hsi_cnn_activation act, float y, float dy)
{
    switch (act) {
    case HSI_CNN_ACT_RELU: return y > 0 ? dy : 0.0f;
    case HSI_CNN_ACT_SIGMOID: return dy * (y * (1.0f - y));
    case HSI_CNN_ACT_TANH: return dy * (1.0f - y * y);
    default: return dy;
    }
}

/* Softmax of one row in place (max-shifted, the sum in double as the CPU). */
HSI_HD void hsi_cm_softmax_row(float *v, int cols)
{
    float mx = v[0];
    for (int c = 1; c < cols; c++) mx = v[c] > mx ? v[c] : mx;
    double s = 0;
    for (int c = 0; c < cols; c++) s += v[c] = expf(v[c] - mx);
    for (int c = 0; c < cols; c++) v[c] = (float)(v[c] / s);
}

/* Softmax backward of one row: g_c = p_c (g_c - sum_j g_j p_j). */
HSI_HD void hsi_cm_softmax_backward_row(const float *p, float *g, int cols)
{
    double dot = 0;
    for (int c = 0; c < cols; c++) dot += (double)g[c] * p[c];
    for (int c = 0; c < cols; c++) g[c] = (float)(p[c] * (g[c] - dot));
}

/* SGD (Keras form) on one parameter; v is untouched without momentum. */
HSI_HD void hsi_cm_sgd(float *w, float g, float *v, float lr, float momentum, int nesterov,
                       float wd)
{
    float gi = g + wd * *w;
    if (momentum == 0.0f) {
        *w -= lr * gi;
        return;
    }
    *v = momentum * *v - lr * gi;
    *w += nesterov ? momentum * *v - lr * gi : *v;
}

/* Adam on one parameter; c1 = 1 - b1^t and c2 = 1 - b2^t, once per step. */
HSI_HD void hsi_cm_adam(float *w, float g, float *m, float *v, float lr, float b1, float b2,
                        float eps, float wd, double c1, double c2)
{
    float gi = g + wd * *w;
    *m = b1 * *m + (1 - b1) * gi;
    *v = b2 * *v + (1 - b2) * gi * gi;
    double mh = *m / c1, vh = *v / c2;
    *w -= (float)(lr * mh / (sqrt(vh) + eps));
}

/* One LSTM unit j of row r: a (4u: i, f, g, o pre-activations without
 * biases) becomes the activated gates; returns c, writes h. */
HSI_HD void hsi_cm_lstm_forward(float *ar, int u, int j, const float *b_ih, const float *b_hh,
                                float c_prev, float *c, float *h)
{
    float i = hsi_cm_sigmoid(ar[j] + b_ih[j] + b_hh[j]);
    float f = hsi_cm_sigmoid(ar[u + j] + b_ih[u + j] + b_hh[u + j]);
    float g = tanhf(ar[2 * u + j] + b_ih[2 * u + j] + b_hh[2 * u + j]);
    float og = hsi_cm_sigmoid(ar[3 * u + j] + b_ih[3 * u + j] + b_hh[3 * u + j]);
    float cc = f * c_prev + i * g;
    *c = cc;
    *h = og * tanhf(cc);
    ar[j] = i, ar[u + j] = f, ar[2 * u + j] = g, ar[3 * u + j] = og;
}

/* Its backward for unit j of a row: gr (the row's 4u gates), dh = dh_out +
 * dh_rec, dc_next (0: none); writes dr (the row's 4u) and returns dc_prev. */
HSI_HD float hsi_cm_lstm_backward(const float *gr, int u, int j, float c_prev, float c, float dh,
                                  float dc_next, float *dr)
{
    float i = gr[j], f = gr[u + j], g = gr[2 * u + j], og = gr[3 * u + j];
    float tc = tanhf(c);
    float dc = dh * og * (1.0f - tc * tc) + dc_next;
    dr[j] = dc * g * i * (1.0f - i);
    dr[u + j] = dc * c_prev * f * (1.0f - f);
    dr[2 * u + j] = dc * i * (1.0f - g * g);
    dr[3 * u + j] = dh * tc * og * (1.0f - og);
    return dc * f;
}

/* One GRU unit j of a row: gr (4u: gx in 3u -> r, z, n, gh_n + b_hn), hr
 * (the row's 3u of W_hh h, NULL: zero state); returns h. */
HSI_HD float hsi_cm_gru_forward(float *gr, const float *hr, int u, int j, const float *b_ih,
                                const float *b_hh, float h_prev)
{
    float rg = hsi_cm_sigmoid(gr[j] + b_ih[j] + (hr ? hr[j] : 0.0f) + b_hh[j]);
    float z = hsi_cm_sigmoid(gr[u + j] + b_ih[u + j] + (hr ? hr[u + j] : 0.0f) + b_hh[u + j]);
    float hn = (hr ? hr[2 * u + j] : 0.0f) + b_hh[2 * u + j];
    float nn = tanhf(gr[2 * u + j] + b_ih[2 * u + j] + rg * hn);
    gr[j] = rg, gr[u + j] = z, gr[2 * u + j] = nn, gr[3 * u + j] = hn;
    return (1.0f - z) * nn + z * h_prev;
}

/* Its backward for unit j: writes the row's dgx and dgh (3u each), returns
 * dh_prev's direct part dh * z. */
HSI_HD float hsi_cm_gru_backward(const float *gr, int u, int j, float h_prev, float dh, float *dx,
                                 float *dhh)
{
    float rg = gr[j], z = gr[u + j], nn = gr[2 * u + j], hn = gr[3 * u + j];
    float dn = dh * (1.0f - z) * (1.0f - nn * nn);
    float dr = dn * hn * rg * (1.0f - rg);
    float dz = dh * (h_prev - nn) * z * (1.0f - z);
    dx[j] = dr, dx[u + j] = dz, dx[2 * u + j] = dn;
    dhh[j] = dr, dhh[u + j] = dz, dhh[2 * u + j] = dn * rg;
    return dh * z;
}

/* Batch-norm output of one element: y = gamma ((x - mean) invstd) + beta;
 * xhat (may be NULL) gets the normalised value. */
HSI_HD float hsi_cm_bn_forward(float x, double mean, float inv, float gamma, float beta,
                               float *xhat)
{
    float h = (float)((x - mean) * inv);
    if (xhat) *xhat = h;
    return gamma * h + beta;
}

/* Batch-norm input gradient of one element (m = n s values per channel). */
HSI_HD float hsi_cm_bn_backward(float dy, float xhat, float gamma, float invstd, double m,
                                double sdy, double sdyx)
{
    return (float)(gamma * invstd / m * (m * dy - sdy - xhat * sdyx));
}

/* Loss of one sample (row p of k outputs, label y, weight w) and, unless
 * grad is NULL, its gradient / n, exactly as hsi_cnn_loss_eval (cnn3d/net.c):
 * CCE clips to [1e-7, 1 - 1e-7]; fused = CCE after softmax, whose gradient is
 * taken with respect to the logits. */
HSI_HD double hsi_cm_loss_row(int mse, int fused, const float *p, int k, int y, double w, int n,
                              float *grad)
{
    if (!mse) {
        const double eps = 1e-7;
        double py = p[y] < eps ? eps : p[y] > 1 - eps ? 1 - eps : p[y];
        if (grad)
            for (int c = 0; c < k; c++) {
                if (fused) grad[c] = (float)(w * (p[c] - (c == y)) / n);
                else grad[c] = c == y ? (float)(-w / (py * n)) : 0.0f;
            }
        return -w * log(py);
    }
    double s = 0;
    for (int c = 0; c < k; c++) {
        double d = p[c] - (c == y);
        s += d * d;
        if (grad) grad[c] = (float)(2.0 * w * d / ((double)n * k));
    }
    return w * s / k;
}

/* Pooling backward (k_maxpool_back, k_avgpool_back: a thread per input):
 * the output windows along one axis (window k, stride s, o outputs, no
 * padding) that contain input index t, [*lo, *hi] (none when *lo > *hi). */
HSI_HD void hsi_cm_pool_windows(int t, int k, int s, int o, int *lo, int *hi)
{
    int l = t - k + 1;
    *lo = l <= 0 ? 0 : (l + s - 1) / s;
    int h = t / s;
    *hi = h < o - 1 ? h : o - 1;
}

/* One axis of a convolution as the CUDA backend gives it to cuDNN
 * (backend_cuda_conv.cu): input in, window k, stride s, pad zeros before the
 * input and, by backend.h, as many after as the last of the o windows needs.
 * *after = those zeros after, max((o - 1) s + k - in - pad, 0), which an
 * explicit padding adds. Returns 1 when cuDNN's own padding (pad on both
 * sides) gives the same windows: at most pad zeros needed after, and
 * cuDNN's output count (in + 2 pad - k) / s + 1 is o. */
HSI_HD int hsi_cm_conv_axis(int in, int k, int s, int pad, int o, int *after)
{
    int need = (o - 1) * s + k - in - pad;
    *after = need > 0 ? need : 0;
    return need <= pad && (in + 2 * pad - k) / s + 1 == o;
}

/* Augmentation (cnn3d/augment.c; the kernels of hsi_cuda_augment): the
 * pixel (*si, *sj) of a patch plane (h x w) that lands at (i, j) after a
 * mirror along x (fx), one along y (fy), then k quarter turns counter-
 * clockwise (numpy.rot90 on (y, x): square planes when k > 0). */
HSI_HD void hsi_cm_augment_source(int i, int j, int h, int w, int fx, int fy, int k, int *si,
                                  int *sj)
{
    for (int r = 0; r < k; r++) { /* one turn: (i, j) of the result is (j, w-1-i) before */
        int t = i;
        i = j;
        j = w - 1 - t;
    }
    if (fy) i = h - 1 - i;
    if (fx) j = w - 1 - j;
    *si = i;
    *sj = j;
}

/* Same-class mixing: the patch value v blended with its partner's vj. */
HSI_HD float hsi_cm_augment_blend(float v, float vj, float t)
{
    return (1.0f - t) * v + t * vj;
}

/* Gain and offset. */
HSI_HD float hsi_cm_augment_scale(float v, float gain, float offset)
{
    return gain * v + offset;
}

#endif
