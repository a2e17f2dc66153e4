/* rnn.h - the spectral recurrent layers [lstm] and [gru] (internal to the
 * engine: net.c plans, allocates and runs them through these; the CPU
 * backend's gate kernels are in rnn_cpu.c).
 *
 * A layer's input (C, D, H, W) per sample is a sequence of D steps (the
 * bands) of F = C*H*W features, feature index c*H*W + y*W + x: PyTorch's
 * x.permute(0, 2, 1, 3, 4).reshape(N, D, F) fed to nn.LSTM / nn.GRU with
 * batch_first = True. The state starts at zero. With G = 4 units (lstm,
 * gates i, f, g, o) or 3 units (gru, gates r, z, n), the parameters are
 * PyTorch's, in its order:
 *     w = [weight_ih (G x F) | weight_hh (G x units)]   (row-major)
 *     b = [bias_ih (G) | bias_hh (G)]
 * all initialised U(-1/sqrt(units), 1/sqrt(units)) from the net's seeded
 * RNG as PyTorch does (the spec's `init` is for conv3d and dense). The
 * output is every step's hidden state, (units, D, 1, 1) (return_sequences
 * = 1: PyTorch's output permuted to (N, units, D)), or the last one,
 * (units, 1, 1, 1).
 */
#ifndef HSI_CNN_RNN_H
#define HSI_CNN_RNN_H

#include "cnn3d/cnn.h"

/* Output shape, parameter counts and forward FLOPs of L (L->in, L->spec set). */
void hsi_cnn_rnn_plan(hsi_cnn_layer *L);
/* Activation-arena floats the layer keeps for the backward pass (gates,
 * hidden and cell states of every step) and the floats it needs of the
 * shared workspace, for batches up to max_batch. */
size_t hsi_cnn_rnn_arena_floats(const hsi_cnn_layer *L, size_t max_batch);
size_t hsi_cnn_rnn_work_floats(const hsi_cnn_layer *L, size_t max_batch);
/* Point L->rnn_* into the arena at p; returns the next free float (blocks
 * rounded to 16 floats, as hsi_cnn_rnn_arena_floats counts them). */
float *hsi_cnn_rnn_take(hsi_cnn_layer *L, float *p, size_t max_batch);
/* PyTorch's initialisation into host memory w, b. */
void hsi_cnn_rnn_init(const hsi_cnn_layer *L, float *w, float *b, hsi_rng *rng);
/* x: the layer input (n, C, D, H, W); L->y gets the output. */
void hsi_cnn_rnn_forward(const hsi_cnn_backend *be, hsi_cnn_layer *L, const float *x, int n,
                         float *work);
/* Backpropagation through time from dy = d loss / d L->y (n x |out|, read
 * only): overwrites L->dw and L->db (unless param_grad is 0: a frozen
 * layer) and, unless NULL, dx (n x |in|). */
void hsi_cnn_rnn_backward(const hsi_cnn_backend *be, hsi_cnn_layer *L, const float *x,
                          const float *dy, float *dx, int n, float *work, int param_grad);

/* The CPU kernels of the backend table's seq_* / lstm_* / gru_* slots. */
void hsi_cnn_cpu_seq_pack(const hsi_cnn_backend *be, int n, int c, int d, int s, const float *x,
                          float *xt);
void hsi_cnn_cpu_seq_unpack(const hsi_cnn_backend *be, int n, int c, int d, int s,
                            const float *xt, float *x);
void hsi_cnn_cpu_lstm_forward(const hsi_cnn_backend *be, int n, int u, float *a,
                              const float *b_ih, const float *b_hh, const float *c_prev, float *c,
                              float *h);
void hsi_cnn_cpu_lstm_backward(const hsi_cnn_backend *be, int n, int u, const float *gates,
                               const float *c_prev, const float *c, const float *dh_out,
                               const float *dh_rec, const float *dc_next, float *dc_prev,
                               float *da);
void hsi_cnn_cpu_gru_forward(const hsi_cnn_backend *be, int n, int u, float *g, const float *gh,
                             const float *b_ih, const float *b_hh, const float *h_prev, float *h);
void hsi_cnn_cpu_gru_backward(const hsi_cnn_backend *be, int n, int u, const float *g,
                              const float *h_prev, const float *dh_out, const float *dh_rec,
                              float *dgx, float *dgh, float *dh_prev);

#endif
