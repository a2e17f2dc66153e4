/* rnn.c - the [lstm] and [gru] layers over the spectral axis: planning,
 * PyTorch's initialisation, forward and backpropagation through time, all
 * through the backend table (layout and parameters: rnn.h).
 *
 * Work is time-major so every GEMM has contiguous operands: with n samples,
 * D steps, F input features, u units and G gate rows (4u or 3u),
 *   forward:  xt (D n x F)  = pack(x)
 *             A  (D n x G)  = xt . W_ih^T            one GEMM for all steps
 *             per step t:  A_t (n x G) [+]= h_{t-1} (n x u) . W_hh^T, then the
 *             gate kernel makes h_t, c_t
 *   backward: per step t = D-1 .. 0: the gate kernel turns d loss / d h_t into
 *             dA_t, and d h_{t-1} = dA_t . W_hh (+ the GRU's direct path)
 *             dW_ih = dA^T . xt,  dW_hh = dA[1..]^T . h[0..D-2],  db = column
 *             sums,  dxt = dA . W_ih                  one GEMM each
 * The gates of every step stay in the activation arena for the backward
 * pass (rows of 4u for both kinds: the GRU keeps W_hn h + b_hn beside r, z, n).
 */
#include "cnn3d/rnn.h"

#include <math.h>

typedef struct rnn_geom {
    int C, D, S, F; /* input channels, steps, spatial size, features per step */
    int u, G;       /* units, gate rows (4u lstm, 3u gru) */
    int lstm;
} rnn_geom;

static rnn_geom geom(const hsi_cnn_layer *L)
{
    rnn_geom g;
    g.C = L->in.c;
    g.D = L->in.d;
    g.S = L->in.h * L->in.w;
    g.F = g.C * g.S;
    g.u = L->spec.units;
    g.lstm = L->spec.kind == HSI_CNN_LSTM;
    g.G = (g.lstm ? 4 : 3) * g.u;
    return g;
}

static size_t round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

void hsi_cnn_rnn_plan(hsi_cnn_layer *L)
{
    rnn_geom g = geom(L);
    L->out = L->spec.return_sequences ? (hsi_cnn_shape){g.u, g.D, 1, 1}
                                      : (hsi_cnn_shape){g.u, 1, 1, 1};
    L->n_weights = (size_t)g.G * (g.F + g.u);
    L->n_bias = 2 * (size_t)g.G;
    /* The two GEMMs per step, and the gates: about 12 (lstm) or 10 (gru)
     * operations per unit, counting sigmoid and tanh as one. */
    L->flops = (double)g.D * (2.0 * g.G * (g.F + g.u) + (g.lstm ? 12.0 : 10.0) * g.u);
}

size_t hsi_cnn_rnn_arena_floats(const hsi_cnn_layer *L, size_t B)
{
    rnn_geom g = geom(L);
    size_t steps = (size_t)g.D * B;
    return round16(steps * 4 * g.u) + round16(steps * g.u) + (g.lstm ? round16(steps * g.u) : 0);
}

float *hsi_cnn_rnn_take(hsi_cnn_layer *L, float *p, size_t B)
{
    rnn_geom g = geom(L);
    size_t steps = (size_t)g.D * B;
    L->rnn_gates = p;
    p += round16(steps * 4 * g.u);
    L->rnn_h = p;
    p += round16(steps * g.u);
    L->rnn_c = NULL;
    if (g.lstm) {
        L->rnn_c = p;
        p += round16(steps * g.u);
    }
    return p;
}

/* The shared workspace, in this order:
 *   xt   (D n x F)   packed input, then (backward) d loss / d xt
 *   dgx  (D n x G)   d loss / d (W_ih x + b_ih) of every step
 *   dgh  (D n x G)   gru: d loss / d (W_hh h + b_hh) (lstm: = dgx)
 *   dyt  (D n x u)   return_sequences: d loss / d h from the output, time-major
 *   dh   2 x (n x u) d loss / d h_{t-1} through the recurrence, ping-pong
 *   dc   (n x u)     lstm: d loss / d c_{t-1}
 *   gh   (n x G)     gru forward: W_hh h_{t-1} */
typedef struct rnn_work {
    float *xt, *dgx, *dgh, *dyt, *dh[2], *dc, *gh;
} rnn_work;

static rnn_work work_layout(const rnn_geom *g, float *w, size_t B)
{
    size_t steps = (size_t)g->D * B;
    rnn_work r;
    r.xt = w, w += round16(steps * g->F);
    r.dgx = w, w += round16(steps * g->G);
    r.dgh = g->lstm ? r.dgx : w;
    if (!g->lstm) w += round16(steps * g->G);
    r.dyt = w, w += round16(steps * g->u);
    r.dh[0] = w, w += round16(B * g->u);
    r.dh[1] = w, w += round16(B * g->u);
    r.dc = w, w += round16(B * g->u);
    r.gh = w; /* + round16(B * G): hsi_cnn_rnn_work_floats counts the same blocks */
    return r;
}

size_t hsi_cnn_rnn_work_floats(const hsi_cnn_layer *L, size_t B)
{
    rnn_geom g = geom(L);
    size_t steps = (size_t)g.D * B;
    return round16(steps * g.F) + round16(steps * g.G) * (g.lstm ? 1 : 2) +
           round16(steps * g.u) + 3 * round16(B * g.u) + round16(B * g.G);
}

void hsi_cnn_rnn_init(const hsi_cnn_layer *L, float *w, float *b, hsi_rng *rng)
{
    /* PyTorch's reset_parameters: every weight and bias U(-k, k), k = 1/sqrt(units). */
    double k = 1.0 / sqrt((double)L->spec.units);
    for (size_t i = 0; i < L->n_weights; i++) w[i] = (float)((2 * hsi_rng_uniform(rng) - 1) * k);
    for (size_t i = 0; i < L->n_bias; i++) b[i] = (float)((2 * hsi_rng_uniform(rng) - 1) * k);
}

void hsi_cnn_rnn_forward(const hsi_cnn_backend *be, hsi_cnn_layer *L, const float *x, int n,
                         float *work)
{
    rnn_geom g = geom(L);
    rnn_work wk = work_layout(&g, work, (size_t)n);
    const float *w_ih = L->w, *w_hh = L->w + (size_t)g.G * g.F;
    const float *b_ih = L->b, *b_hh = L->b + g.G;
    size_t nu = (size_t)n * g.u, ng = (size_t)n * 4 * g.u; /* one step of h, of gates */
    be->seq_pack(be, n, g.C, g.D, g.S, x, wk.xt);
    /* A (D n rows, stride 4u) = xt (D n x F) . W_ih^T (F x G) */
    be->gemm(be, 0, 1, g.D * n, g.G, g.F, 1.0f, wk.xt, g.F, w_ih, g.F, 0.0f, L->rnn_gates,
             4 * g.u);
    for (int t = 0; t < g.D; t++) {
        float *a = L->rnn_gates + t * ng, *h = L->rnn_h + t * nu;
        const float *h_prev = t ? h - nu : NULL;
        if (g.lstm) {
            /* A_t (n x 4u) += h_{t-1} (n x u) . W_hh^T (u x 4u) */
            if (h_prev)
                be->gemm(be, 0, 1, n, g.G, g.u, 1.0f, h_prev, g.u, w_hh, g.u, 1.0f, a, 4 * g.u);
            float *c = L->rnn_c + t * nu;
            be->lstm_forward(be, n, g.u, a, b_ih, b_hh, t ? c - nu : NULL, c, h);
        } else {
            /* gh (n x 3u) = h_{t-1} (n x u) . W_hh^T (u x 3u): kept apart, r gates its n part */
            if (h_prev)
                be->gemm(be, 0, 1, n, g.G, g.u, 1.0f, h_prev, g.u, w_hh, g.u, 0.0f, wk.gh, g.G);
            be->gru_forward(be, n, g.u, a, h_prev ? wk.gh : NULL, b_ih, b_hh, h_prev, h);
        }
    }
    if (L->spec.return_sequences) be->seq_unpack(be, n, g.u, g.D, 1, L->rnn_h, L->y); /* (n, u, D) */
    else be->copy(be, nu, L->rnn_h + (size_t)(g.D - 1) * nu, L->y);             /* (n, u) */
}

void hsi_cnn_rnn_backward(const hsi_cnn_backend *be, hsi_cnn_layer *L, const float *x,
                          const float *dy, float *dx, int n, float *work, int param_grad)
{
    rnn_geom g = geom(L);
    rnn_work wk = work_layout(&g, work, (size_t)n);
    const float *w_ih = L->w, *w_hh = L->w + (size_t)g.G * g.F;
    float *dw_ih = L->dw, *dw_hh = L->dw + (size_t)g.G * g.F;
    float *db_ih = L->db, *db_hh = L->db + g.G;
    size_t nu = (size_t)n * g.u, ng = (size_t)n * 4 * g.u, ngd = (size_t)n * g.G;
    int rs = L->spec.return_sequences;
    if (rs) be->seq_pack(be, n, g.u, g.D, 1, dy, wk.dyt); /* (n, u, D) -> (D, n, u) */
    float *dh_rec = NULL, *dh_next = wk.dh[0];
    for (int t = g.D - 1; t >= 0; t--) {
        const float *dh_out = rs ? wk.dyt + t * nu : t == g.D - 1 ? dy : NULL;
        const float *gates = L->rnn_gates + t * ng;
        float *dgx = wk.dgx + t * ngd, *dgh = wk.dgh + t * ngd;
        if (g.lstm) {
            const float *c = L->rnn_c + t * nu;
            be->lstm_backward(be, n, g.u, gates, t ? c - nu : NULL, c, dh_out, dh_rec,
                              t == g.D - 1 ? NULL : wk.dc, wk.dc, dgx);
            /* d h_{t-1} (n x u) = dA_t (n x 4u) . W_hh (4u x u) */
            if (t)
                be->gemm(be, 0, 0, n, g.u, g.G, 1.0f, dgx, g.G, w_hh, g.u, 0.0f, dh_next, g.u);
        } else {
            const float *h_prev = t ? L->rnn_h + (t - 1) * nu : NULL;
            be->gru_backward(be, n, g.u, gates, h_prev, dh_out, dh_rec, dgx, dgh,
                             t ? dh_next : NULL);
            /* d h_{t-1} (n x u) = dh * z + dgh_t (n x 3u) . W_hh (3u x u) */
            if (t)
                be->gemm(be, 0, 0, n, g.u, g.G, 1.0f, dgh, g.G, w_hh, g.u, 1.0f, dh_next, g.u);
        }
        dh_rec = dh_next;
        dh_next = dh_next == wk.dh[0] ? wk.dh[1] : wk.dh[0];
    }
    int rows = g.D * n;
    if (param_grad) {
        /* The forward pass's xt is gone (the workspace is shared): pack again. */
        be->seq_pack(be, n, g.C, g.D, g.S, x, wk.xt);
        /* dW_ih (G x F) = dA^T (G x D n) . xt (D n x F) */
        be->gemm(be, 1, 0, g.G, g.F, rows, 1.0f, wk.dgx, g.G, wk.xt, g.F, 0.0f, dw_ih, g.F);
        /* dW_hh (G x u) = dA[steps 1..]^T (G x (D-1) n) . h[steps 0..D-2] ((D-1) n x u);
         * h_{-1} = 0 adds nothing (with D = 1, k = 0 and dW_hh = 0). */
        be->gemm(be, 1, 0, g.G, g.u, rows - n, 1.0f, wk.dgh + ngd, g.G, L->rnn_h, g.u, 0.0f,
                 dw_hh, g.u);
        be->bias_grad(be, rows, g.G, wk.dgx, db_ih);
        be->bias_grad(be, rows, g.G, wk.dgh, db_hh);
    }
    if (dx) {
        /* dxt (D n x F) = dA (D n x G) . W_ih (G x F), over xt (used above) */
        be->gemm(be, 0, 0, rows, g.F, g.G, 1.0f, wk.dgx, g.G, w_ih, g.F, 0.0f, wk.xt, g.F);
        be->seq_unpack(be, n, g.C, g.D, g.S, wk.xt, dx);
    }
}
