/* rnn_cpu.c - the CPU backend's kernels for the recurrent layers: the
 * time-major layout changes and the elementwise LSTM / GRU gates of one
 * step (the GEMMs around them are the backend's sgemm, called by rnn.c).
 * Equations and gate orders are PyTorch's (see backend.h); the state of the
 * step before the first is zero, passed as NULL.
 */
#include "cnn3d/rnn.h"

#include <math.h>

static inline float sigmoid(float v)
{
    return 1.0f / (1.0f + expf(-v));
}

/* x (n, c, d, s) -> xt (d, n, c * s) */
void hsi_cnn_cpu_seq_pack(const hsi_cnn_backend *be, int n, int c, int d, int s, const float *x,
                          float *xt)
{
    (void)be;
    size_t f = (size_t)c * s;
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            const float *src = x + ((size_t)i * c + ch) * d * s;
            for (int t = 0; t < d; t++) {
                float *dst = xt + ((size_t)t * n + i) * f + (size_t)ch * s;
                for (int k = 0; k < s; k++) dst[k] = src[(size_t)t * s + k];
            }
        }
}

/* xt (d, n, c * s) -> x (n, c, d, s) */
void hsi_cnn_cpu_seq_unpack(const hsi_cnn_backend *be, int n, int c, int d, int s,
                            const float *xt, float *x)
{
    (void)be;
    size_t f = (size_t)c * s;
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            float *dst = x + ((size_t)i * c + ch) * d * s;
            for (int t = 0; t < d; t++) {
                const float *src = xt + ((size_t)t * n + i) * f + (size_t)ch * s;
                for (int k = 0; k < s; k++) dst[(size_t)t * s + k] = src[k];
            }
        }
}

/* a (n x 4u: pre-activations without biases -> i, f, g, o); c_prev, c, h (n x u) */
void hsi_cnn_cpu_lstm_forward(const hsi_cnn_backend *be, int n, int u, float *a,
                              const float *b_ih, const float *b_hh, const float *c_prev, float *c,
                              float *h)
{
    (void)be;
    for (int r = 0; r < n; r++) {
        float *ar = a + (size_t)r * 4 * u;
        size_t o = (size_t)r * u;
        for (int j = 0; j < u; j++) {
            float i = sigmoid(ar[j] + b_ih[j] + b_hh[j]);
            float f = sigmoid(ar[u + j] + b_ih[u + j] + b_hh[u + j]);
            float g = tanhf(ar[2 * u + j] + b_ih[2 * u + j] + b_hh[2 * u + j]);
            float og = sigmoid(ar[3 * u + j] + b_ih[3 * u + j] + b_hh[3 * u + j]);
            float cc = f * (c_prev ? c_prev[o + j] : 0.0f) + i * g;
            c[o + j] = cc;
            h[o + j] = og * tanhf(cc);
            ar[j] = i, ar[u + j] = f, ar[2 * u + j] = g, ar[3 * u + j] = og;
        }
    }
}

/* gates (n x 4u: i, f, g, o); c_prev, c, dh_out, dh_rec, dc_next, dc_prev (n x u);
 * da (n x 4u) */
void hsi_cnn_cpu_lstm_backward(const hsi_cnn_backend *be, int n, int u, const float *gates,
                               const float *c_prev, const float *c, const float *dh_out,
                               const float *dh_rec, const float *dc_next, float *dc_prev,
                               float *da)
{
    (void)be;
    for (int r = 0; r < n; r++) {
        const float *gr = gates + (size_t)r * 4 * u;
        float *dr = da + (size_t)r * 4 * u;
        size_t o = (size_t)r * u;
        for (int j = 0; j < u; j++) {
            float i = gr[j], f = gr[u + j], g = gr[2 * u + j], og = gr[3 * u + j];
            float dh = (dh_out ? dh_out[o + j] : 0.0f) + (dh_rec ? dh_rec[o + j] : 0.0f);
            float tc = tanhf(c[o + j]);
            /* c feeds h_t (through tanh) and c_{t+1} (through f_{t+1}). */
            float dc = dh * og * (1.0f - tc * tc) + (dc_next ? dc_next[o + j] : 0.0f);
            float cp = c_prev ? c_prev[o + j] : 0.0f;
            dr[j] = dc * g * i * (1.0f - i);
            dr[u + j] = dc * cp * f * (1.0f - f);
            dr[2 * u + j] = dc * i * (1.0f - g * g);
            dr[3 * u + j] = dh * tc * og * (1.0f - og);
            dc_prev[o + j] = dc * f;
        }
    }
}

/* g (n x 4u: gx in 3u columns -> r, z, n, gh_n + b_hn); gh (n x 3u); h_prev, h (n x u) */
void hsi_cnn_cpu_gru_forward(const hsi_cnn_backend *be, int n, int u, float *g, const float *gh,
                             const float *b_ih, const float *b_hh, const float *h_prev, float *h)
{
    (void)be;
    for (int r = 0; r < n; r++) {
        float *gr = g + (size_t)r * 4 * u;
        const float *hr = gh ? gh + (size_t)r * 3 * u : NULL;
        size_t o = (size_t)r * u;
        for (int j = 0; j < u; j++) {
            float rg = sigmoid(gr[j] + b_ih[j] + (hr ? hr[j] : 0.0f) + b_hh[j]);
            float z = sigmoid(gr[u + j] + b_ih[u + j] + (hr ? hr[u + j] : 0.0f) + b_hh[u + j]);
            float hn = (hr ? hr[2 * u + j] : 0.0f) + b_hh[2 * u + j];
            float nn = tanhf(gr[2 * u + j] + b_ih[2 * u + j] + rg * hn);
            h[o + j] = (1.0f - z) * nn + z * (h_prev ? h_prev[o + j] : 0.0f);
            gr[j] = rg, gr[u + j] = z, gr[2 * u + j] = nn, gr[3 * u + j] = hn;
        }
    }
}

/* g (n x 4u: r, z, n, gh_n + b_hn); h_prev, dh_out, dh_rec, dh_prev (n x u);
 * dgx, dgh (n x 3u) */
void hsi_cnn_cpu_gru_backward(const hsi_cnn_backend *be, int n, int u, const float *g,
                              const float *h_prev, const float *dh_out, const float *dh_rec,
                              float *dgx, float *dgh, float *dh_prev)
{
    (void)be;
    for (int r = 0; r < n; r++) {
        const float *gr = g + (size_t)r * 4 * u;
        float *dx = dgx + (size_t)r * 3 * u, *dh_ = dgh + (size_t)r * 3 * u;
        size_t o = (size_t)r * u;
        for (int j = 0; j < u; j++) {
            float rg = gr[j], z = gr[u + j], nn = gr[2 * u + j], hn = gr[3 * u + j];
            float dh = (dh_out ? dh_out[o + j] : 0.0f) + (dh_rec ? dh_rec[o + j] : 0.0f);
            float hp = h_prev ? h_prev[o + j] : 0.0f;
            float dn = dh * (1.0f - z) * (1.0f - nn * nn); /* d loss / d n's pre-activation */
            float dr = dn * hn * rg * (1.0f - rg);
            float dz = dh * (hp - nn) * z * (1.0f - z);
            dx[j] = dr, dx[u + j] = dz, dx[2 * u + j] = dn;
            dh_[j] = dr, dh_[u + j] = dz, dh_[2 * u + j] = dn * rg; /* r gates W_hn h + b_hn */
            if (dh_prev) dh_prev[o + j] = dh * z;
        }
    }
}
