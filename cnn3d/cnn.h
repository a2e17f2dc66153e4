/* cnn.h - the 3D-CNN engine: model specs, networks, training, checkpoints.
 *
 * A network is described by a text spec (darknet-style INI: `[net]` then one
 * section per layer, `key = value`, `#` comments; see the files in cnn3d/specs) and
 * built once for a maximum batch size: every parameter lives in one arena and
 * every activation in another, both sized from the spec before any work.
 *
 * Tensors are float32, laid out (N, C, D, H, W): samples, channels, depth
 * (= spectral bands), height (y), width (x), exactly what hsi_patch_gather()
 * produces for C = 1. Spec files write kernel, pool and pad sizes in the
 * user's order "x, y, spectral"; internally they are kept as (d, h, w).
 *
 * Layers never compute themselves: they call the primitives of a backend
 * (cnn3d/backend.h), so a GPU backend plugs in without touching layer code.
 */
#ifndef HSI_CNN_H
#define HSI_CNN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/cube.h"
#include "base/progress.h"
#include "base/rng.h"
#include "base/status.h"
#include "cnn3d/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hsi_cnn_layer_kind {
    HSI_CNN_CONV3D = 0,
    HSI_CNN_MAXPOOL3D,
    HSI_CNN_AVGPOOL3D,
    HSI_CNN_ZEROPAD3D,
    HSI_CNN_FLATTEN,
    HSI_CNN_DENSE,
    HSI_CNN_DROPOUT,
    HSI_CNN_BATCHNORM,
    HSI_CNN_LSTM, /* spectral recurrent layers (cnn3d/rnn.c); append new kinds, never renumber */
    HSI_CNN_GRU
} hsi_cnn_layer_kind;

typedef enum hsi_cnn_loss {
    HSI_CNN_LOSS_CCE = 0, /* categorical cross-entropy: -1/N sum w_i log p_i,y_i */
    HSI_CNN_LOSS_MSE      /* mean squared error vs one-hot: 1/(N K) sum w_i (p - t)^2 */
} hsi_cnn_loss;

typedef enum hsi_cnn_optimizer { HSI_CNN_OPT_SGD = 0, HSI_CNN_OPT_ADAM } hsi_cnn_optimizer;

typedef enum hsi_cnn_init {
    HSI_CNN_INIT_GLOROT_UNIFORM = 0, /* U(-l, l), l = sqrt(6 / (fan_in + fan_out)) (Keras default) */
    HSI_CNN_INIT_HE_NORMAL,          /* N(0, 2 / fan_in) */
    HSI_CNN_INIT_HE_UNIFORM          /* U(-l, l), l = sqrt(6 / fan_in) */
} hsi_cnn_init;

/* Learning-rate schedule (cnn3d/schedule.c). The rate of epoch e (0-based)
 * is learning_rate / (1 + decay * iterations) times the schedule's factor
 * times the warm-up ramp; hsi_cnn_current_lr() is the one place it is
 * computed. */
typedef enum hsi_cnn_schedule_kind {
    HSI_CNN_SCHED_CONSTANT = 0,
    HSI_CNN_SCHED_STEP,    /* x gamma every `step` epochs */
    HSI_CNN_SCHED_COSINE,  /* half cosine from the rate to min_lr over the epochs after warm-up */
    HSI_CNN_SCHED_PLATEAU  /* x gamma after `patience` epochs without a better validation loss */
} hsi_cnn_schedule_kind;

typedef struct hsi_cnn_schedule {
    hsi_cnn_schedule_kind kind;
    int step;              /* step: epochs between reductions */
    int patience;          /* plateau: epochs without improvement before a reduction */
    double gamma;          /* step, plateau: factor of each reduction, 0 < gamma < 1 */
    double min_lr;         /* cosine: the final rate; plateau: the floor */
    int warmup;            /* epochs of linear warm-up from ~0 to the rate, per iteration */
} hsi_cnn_schedule;

/* Plateau bookkeeping: stored in checkpoints so a resumed run continues. */
typedef struct hsi_cnn_schedule_state {
    double best;           /* best monitored loss so far (INFINITY: none yet) */
    int wait;              /* epochs since it improved */
    double scale;          /* product of the reductions so far (1 at the start) */
} hsi_cnn_schedule_state;

/* On-the-fly augmentation of training patches (cnn3d/augment.c), drawn
 * from the net's RNG. */
typedef struct hsi_cnn_augment {
    int flip;              /* mirror x and/or y, each with probability 1/2 */
    int rotate;            /* rotate by 0, 90, 180 or 270 degrees (square patches) */
    double gain;           /* per patch: values x (1 + gain * N(0,1)) */
    double offset;         /* per patch: values + offset * N(0,1) */
    double mix;            /* probability to blend a patch with another of its class in the batch */
} hsi_cnn_augment;

/* Per-sample tensor shape (channels, depth = bands, height = y, width = x). */
typedef struct hsi_cnn_shape {
    int c, d, h, w;
} hsi_cnn_shape;

static inline size_t hsi_cnn_shape_size(hsi_cnn_shape s)
{
    return (size_t)s.c * s.d * s.h * s.w;
}

/* One [section] of a spec. Sizes are (d, h, w) = (spectral, y, x). */
typedef struct hsi_cnn_layer_spec {
    hsi_cnn_layer_kind kind;
    int line;              /* line of the [section] header, for messages */
    int units;             /* conv3d filters / dense units; 0 with units_is_classes */
    int units_is_classes;  /* dense: units = classes */
    int kernel[3];         /* conv3d kernel, pool window */
    int stride[3];         /* conv3d / pool stride (pool default = window) */
    int pad[3];            /* zeropad3d: zeros added on each side */
    int same;              /* conv3d: padding = same (Keras rule) */
    hsi_cnn_activation activation; /* conv3d / dense / batchnorm (applied after) */
    float rate;            /* dropout: fraction of units dropped in training */
    float bn_momentum;     /* batchnorm: running = m * running + (1 - m) * batch (Keras 0.99) */
    float bn_epsilon;      /* batchnorm: 1e-3 (Keras) */
    int return_sequences;  /* lstm / gru: 1 = every step's state (units, D, 1, 1), 0 = the last (units) */
} hsi_cnn_layer_spec;

typedef struct hsi_cnn_spec {
    char *path;            /* file name for messages ("<string>" when parsed from text) */
    char *text;            /* the whole spec text (stored in checkpoints) */
    int in_w, in_h, in_bands; /* patch x, y and bands; 0 = auto (taken from the data) */
    int classes;           /* 0 = auto */
    int batch, epochs;
    hsi_cnn_loss loss;
    hsi_cnn_optimizer optimizer;
    double learning_rate;
    double decay;          /* Keras: lr_t = lr / (1 + decay * iterations) */
    double momentum;
    int nesterov;
    double beta1, beta2, epsilon; /* Adam */
    double weight_decay;   /* L2: g += weight_decay * w, on every parameter */
    hsi_cnn_init init;
    double validation_split; /* fraction of training samples held out (0 = none) */
    int patience;          /* early stopping on validation loss (0 = off) */
    int n_layers;
    hsi_cnn_layer_spec *layers;
    hsi_cnn_schedule schedule; /* [net] schedule = ..., warmup = N */
    hsi_cnn_augment augment;   /* [net] augment = ... */
    char device[16];           /* [net] device = cpu|cuda|cuda:N|auto ("": cpu; cnn3d/device.h) */
} hsi_cnn_spec;

/* Parse a spec; `what` names it in messages ("lange.cfg:12: ..."). */
hsi_status hsi_cnn_spec_parse(const char *text, const char *what, hsi_cnn_spec **out);
hsi_status hsi_cnn_spec_load(const char *path, hsi_cnn_spec **out);
void hsi_cnn_spec_free(hsi_cnn_spec *spec);

/* One layer of a built network. Pointers point into the net's arenas. */
typedef struct hsi_cnn_layer {
    hsi_cnn_layer_spec spec;
    hsi_cnn_shape in, out;      /* per-sample shapes */
    size_t n_weights, n_bias;   /* trainable counts (bias = beta for batchnorm) */
    double flops;               /* per sample, forward (2 per multiply-add) */
    float *w, *b;               /* parameters (gamma, beta for batchnorm) */
    float *dw, *db;             /* their gradients */
    float *running_mean, *running_var; /* batchnorm state [c] */
    float *y;                   /* output activations [max_batch * |out|] */
    int32_t *argmax;            /* maxpool: winning input index per output */
    float *mask;                /* dropout: 0 or 1/(1-rate) per output */
    float *bn_xhat;             /* batchnorm: normalised input [max_batch * |out|] */
    float *bn_invstd;           /* batchnorm: 1/sqrt(var + eps) of the batch [c] */
    hsi_cnn_conv_desc conv;     /* conv3d geometry (n set per call) */
    hsi_cnn_pool_desc pool;     /* pooling / padding geometry */
    int folded;                 /* zeropad3d run as the next conv3d's own padding */
    /* lstm / gru, time-major for every step t of the batch (cnn3d/rnn.c):
     * gates [D * max_batch * 4 units], hidden states h and (lstm) cells c
     * [D * max_batch * units]. */
    float *rnn_gates, *rnn_h, *rnn_c;
} hsi_cnn_layer;

typedef struct hsi_cnn_net_options {
    int bands;       /* used where the spec says auto (0: must be in the spec) */
    int classes;     /* idem */
    int max_batch;   /* largest batch forward()/backward() will see (0: spec batch) */
    int training;    /* 0: inference only (no gradients, optimiser state) */
    uint64_t seed;   /* weight initialisation and dropout */
    const hsi_cnn_backend *backend; /* NULL: hsi_cnn_backend_cpu() */
} hsi_cnn_net_options;

typedef struct hsi_cnn_net {
    hsi_cnn_spec *spec;         /* owned copy */
    const hsi_cnn_backend *be;
    hsi_cnn_shape input;        /* (1, bands, in_h, in_w) */
    int classes;
    int max_batch;
    int training;
    int n_layers;
    hsi_cnn_layer *layers;
    /* Parameter arena: [params | grads | opt_m | opt_v | state]. */
    float *param_arena;
    size_t n_params;            /* trainable floats */
    size_t n_state;             /* non-trainable floats (batchnorm running stats) */
    float *params, *grads, *opt_m, *opt_v, *state;
    /* Activation arena: input, outputs, gradient ping-pong, workspace. */
    float *act_arena;
    size_t act_floats;
    float *x;                   /* input [max_batch * |input|] */
    float *grad_a, *grad_b;     /* backward ping-pong [max_batch * largest layer] */
    float *dlogits;             /* loss gradient [max_batch * classes] */
    float *work;                /* backend workspace */
    size_t work_floats;
    uint64_t iterations;        /* optimiser steps taken (Keras decay, Adam bias correction) */
    int epoch;                  /* epochs completed */
    hsi_rng rng;                /* dropout, shuffling */
    int want_input_grad;        /* backward() also computes d loss / d input */
    const float *input_grad;    /* then: [n * |input|] in backend memory, valid until the next call */
    float *host_scratch;        /* host buffer for dropout masks [max_batch * largest layer] */
    double lr_scale;            /* multiplies the spec's rate (linear scaling rule; 1 by default) */
    /* Called by hsi_cnn_backward after each layer's backward pass (top
     * layer first), when its dw and db (if it has any) are final: a
     * data-parallel trainer starts reducing them, and progresses the
     * reductions already started, while the layers below compute. The pass
     * stops at the lowest layer that trains (unless want_input_grad), and
     * frozen layers get no dw or db. */
    void (*grad_ready)(void *ctx, struct hsi_cnn_net *net, int layer);
    void *grad_ready_ctx;
    hsi_cnn_schedule_state sched; /* plateau state of the learning-rate schedule */
    int epoch_steps;            /* optimiser steps per epoch (set by hsi_cnn_train; warm-up) */
    uint8_t *frozen;            /* [n_layers]: 1 = no gradient, no update (transfer learning); NULL: none */
    /* Where hsi_cnn_loss_eval() puts d loss / d output for
     * hsi_cnn_backward(net, NULL, ...): dlogits itself on the CPU; on a
     * device backend (be->device) a host buffer that backward uploads. */
    float *loss_grad;
    float *host_out;            /* device backends: the outputs forward() returns [max_batch * classes] */
    /* Steps begun and ended (hsi_cnn_train_step_begin/end; at most two
     * apart), and the losses and hits of pending steps where the host
     * computed them (slot: step count % 2); else be->loss_finish gives them. */
    uint64_t steps_begun, steps_ended;
    double step_loss[2];
    int step_hits[2];
} hsi_cnn_net;

hsi_status hsi_cnn_net_new(const hsi_cnn_spec *spec, const hsi_cnn_net_options *opts,
                           hsi_cnn_net **out);

/* What hsi_cnn_net_new(spec, opts) would allocate, planned and counted but
 * not allocated: *bytes of its arenas and host buffers, and *flops, its
 * forward FLOPs per sample. For budgets that size a net before building it
 * (the dense path's trunk, cnn3d/predict_dense.c). */
hsi_status hsi_cnn_net_size(const hsi_cnn_spec *spec, const hsi_cnn_net_options *opts,
                            size_t *bytes, double *flops);

void hsi_cnn_net_free(hsi_cnn_net *net);

/* Arithmetic of the convolutions' GEMMs. BF16: operands rounded to bf16,
 * products summed in fp32 (AVX512_BF16), for the depth-shift convolutions
 * (all but thin first layers) in training and inference; weights, their
 * updates and every other layer stay fp32. */
typedef enum { HSI_CNN_FP32 = 0, HSI_CNN_BF16 = 1 } hsi_cnn_precision;
/* HSI_ERR_UNSUPPORTED for BF16 where the CPU lacks AVX512_BF16 or the net
 * is not on the CPU backend. */
hsi_status hsi_cnn_net_set_precision(hsi_cnn_net *net, hsi_cnn_precision precision);

/* Shapes and parameter counts without allocating the arenas (for summary). */
hsi_status hsi_cnn_net_plan(const hsi_cnn_spec *spec, int bands, int classes,
                            hsi_cnn_shape *input, hsi_cnn_layer *layers /* [n_layers] */);

/* Trainable parameters and batch-norm state values (running mean and
 * variance) of planned layers: what a net's arena and a checkpoint hold. */
void hsi_cnn_count_params(const hsi_cnn_layer *layers, int n_layers, size_t *n_params,
                          size_t *n_state);

/* Forward n samples (n <= max_batch) from x (n x |input|, (N,1,D,H,W);
 * host memory, or net->x). training = 1 uses dropout and batch statistics.
 * Returns the output (n x classes) in host memory inside the net (valid
 * until the next call; on a device backend a copy read back). */
const float *hsi_cnn_forward(hsi_cnn_net *net, const float *x, int n, int training);

/* The same for inference in two halves: start queues the pass (x may be
 * reused once it returns) and finish waits for it and returns the outputs
 * (host memory, as forward's). On a GPU the caller prepares the next batch
 * in between; on the CPU start does all the work. */
void hsi_cnn_forward_start(hsi_cnn_net *net, const float *x, int n);
const float *hsi_cnn_forward_finish(hsi_cnn_net *net, int n);

/* The class of one row of outputs p[0..k-1]: the first largest. */
int hsi_cnn_argmax(const float *p, int k);

/* Inference from layer `first` on, for a caller that has put that layer's
 * input (n samples) in hsi_cnn_layer_input(net, first) itself: dense scene
 * prediction (cnn3d/predict_dense.c) computes the layers below [flatten]
 * once per tile of the scene and gathers each pixel's window of their
 * output there. Returns the outputs as hsi_cnn_forward does. */
float *hsi_cnn_layer_input(hsi_cnn_net *net, int layer);
const float *hsi_cnn_forward_from(hsi_cnn_net *net, int first, int n);

/* Backward from dout = d loss / d output (n x classes, last forward(); host
 * memory): fills net->grads of the layers that train (frozen layers' are
 * left as they were) and, with net->want_input_grad, net->input_grad. dout
 * may be NULL when hsi_cnn_loss_eval() has put the gradient in
 * net->loss_grad already (with *pre_activation set). */
void hsi_cnn_backward(hsi_cnn_net *net, const float *dout, int n, int dout_is_pre_activation);

/* Loss of outputs p (n x k) against labels (0-based) with optional sample
 * weights (NULL = 1); writes d loss / d p (or d loss / d logits when the last
 * activation is softmax and the loss CCE: *pre_activation = 1) into grad. */
double hsi_cnn_loss_eval(hsi_cnn_loss loss, hsi_cnn_activation last_act, const float *p,
                         const int32_t *labels, const float *weights, int n, int k,
                         float *grad, int *pre_activation);

/* One training step on a batch: forward, loss, backward, optimiser update.
 * Returns the batch loss; *correct counts argmax hits. x is host memory, or
 * net->x already filled (be->gather_rows). */
double hsi_cnn_train_step(hsi_cnn_net *net, const float *x, const int32_t *labels,
                          const float *class_weights, int n, int *correct);

/* The same step in two halves. begin queues the whole step (x, labels and
 * class_weights may be reused once it returns); end returns its loss and
 * hits, oldest first. On a GPU (be->loss_start) the host waits only in
 * end, and the next step may begin before this one ends (at most two steps
 * begun and not ended), so the device never idles between steps while the
 * host reads a loss; on the CPU begin does all the work. end returns NAN
 * when no step is pending. */
void hsi_cnn_train_step_begin(hsi_cnn_net *net, const float *x, const int32_t *labels,
                              const float *class_weights, int n);
double hsi_cnn_train_step_end(hsi_cnn_net *net, int *correct);

/* Apply the optimiser to net->grads (one iteration). */
void hsi_cnn_optimizer_step(hsi_cnn_net *net);

/* Learning rate of the next optimiser step: the spec's rate, Keras decay,
 * the schedule and its warm-up (cnn3d/schedule.c), times net->lr_scale (the
 * linear scaling rule of data-parallel training: the warm-up ramps to the
 * scaled rate, as Goyal et al. 2017). */
double hsi_cnn_current_lr(const hsi_cnn_net *net);

/* ---- schedules, augmentation, transfer (schedule.c, augment.c, transfer.c) ---- */

/* "constant", "step[:EVERY[:GAMMA]]", "cosine[:MIN_LR]" or
 * "plateau[:PATIENCE[:GAMMA[:MIN_LR]]]" (defaults: step 10 epochs, gamma 0.1,
 * plateau patience 5, min_lr 0). Keeps out->warmup. Errors name `what`. */
hsi_status hsi_cnn_schedule_parse(const char *text, const char *what, hsi_cnn_schedule *out);
/* The same text back ("cosine:1e-05"), for messages and summaries. */
void hsi_cnn_schedule_format(const hsi_cnn_schedule *s, char *buf, size_t len);
/* NULL when the fields are in range, else what is wrong (checkpoint reader). */
const char *hsi_cnn_schedule_invalid(const hsi_cnn_schedule *s);
/* The schedule's factor (with warm-up) of the next step's rate. */
double hsi_cnn_schedule_factor(const hsi_cnn_net *net);
/* Reset the plateau state (a new run). */
void hsi_cnn_schedule_reset(hsi_cnn_net *net);
/* End of an epoch: the plateau schedule watches `loss` (validation loss,
 * else training loss). */
void hsi_cnn_schedule_epoch_end(hsi_cnn_net *net, double loss);

/* "none" or a comma list of flip, rotate, gain:SD, offset:SD, mix:P
 * (e.g. "flip,rotate,gain:0.05,mix:0.3"). Errors name `what`. */
hsi_status hsi_cnn_augment_parse(const char *text, const char *what, hsi_cnn_augment *out);
void hsi_cnn_augment_format(const hsi_cnn_augment *a, char *buf, size_t len);
const char *hsi_cnn_augment_invalid(const hsi_cnn_augment *a);
static inline int hsi_cnn_augment_active(const hsi_cnn_augment *a)
{
    return a->flip || a->rotate || a->gain > 0 || a->offset > 0 || a->mix > 0;
}
/* Augment n patches in place (x: n x shape, (N, C, D, H, W)); labels pair
 * patches for mixing. Draws from rng. Rotation needs h == w (refused with
 * HSI_ERR_ARG otherwise). */
hsi_status hsi_cnn_augment_batch(const hsi_cnn_augment *a, hsi_rng *rng, hsi_cnn_shape shape,
                                 float *x, const int32_t *labels, int n);
/* The same in two halves: the draws for n patches (d: n entries; the same
 * RNG calls in the same order as hsi_cnn_augment_batch), and their
 * application on the host (tmp: n x shape floats of scratch; blend and
 * scale: mixing and gain/offset on, as a backend's augment slot takes). */
hsi_status hsi_cnn_augment_draw(const hsi_cnn_augment *a, hsi_rng *rng, hsi_cnn_shape shape,
                                const int32_t *labels, int n, hsi_cnn_aug_draw *d);
void hsi_cnn_augment_apply(const hsi_cnn_aug_draw *d, int n, size_t planes, int h, int w,
                           int blend, int scale, float *x, float *tmp);

/* Layer names as `hsi cnn summary` prints them ("conv3d_1", "dense_3"). */
void hsi_cnn_layer_name(const hsi_cnn_layer_spec *layers, int i, char *buf, size_t len);
/* Parse --freeze: a comma list of layer names ("conv3d_1"), 1-based layer
 * positions ("3") or ranges of them ("1-4", "2-"), "none", or "all-but-head"
 * (every layer but the last). Sets frozen[0..n_layers-1]. */
hsi_status hsi_cnn_freeze_parse(const char *text, const hsi_cnn_layer_spec *layers, int n_layers,
                                uint8_t *frozen);
/* Set the net's frozen layers (NULL or all zero: none); allocates net->frozen. */
hsi_status hsi_cnn_net_set_frozen(hsi_cnn_net *net, const uint8_t *frozen);
/* Trainable parameters: those of layers that are not frozen. */
size_t hsi_cnn_trainable_params(const hsi_cnn_net *net);

/* Transfer learning: copy the weights (and batch-norm statistics) of src
 * into dst layer by layer, where the layers have the same kind and the same
 * parameter shapes. The last dense layer (the head) is left as initialised
 * when the class counts differ. Any other layer whose shapes differ is
 * HSI_ERR_SIZE naming it, both shapes and the cause (e.g. another band
 * count: preprocess both scenes to the same bands, e.g. pca:K). The specs
 * must have the same layer kinds in the same order. `report` (may be NULL,
 * caller frees) gets one line per layer: copied, replaced or no parameters. */
hsi_status hsi_cnn_transfer(hsi_cnn_net *dst, const hsi_cnn_net *src, const char *src_name,
                            char **report);

/* ---- training loop ---- */

/* Where samples come from: labels[i] in 0..classes-1, and a gather that
 * writes the samples idx[0..n-1] into x (n x |input|). */
typedef struct hsi_cnn_dataset {
    size_t n;
    const int32_t *labels;
    hsi_status (*gather)(void *ctx, const size_t *idx, size_t n, float *x);
    void *ctx;
} hsi_cnn_dataset;

typedef struct hsi_cnn_epoch_stats {
    int epoch, epochs;
    double loss, accuracy;
    double val_loss, val_accuracy; /* NaN without validation data */
    double seconds;
    double lr;
    int improved;                  /* validation loss improved (or no validation) */
} hsi_cnn_epoch_stats;

/* Whether training holds its samples in backend memory (cnn3d/train.c):
 * AUTO where that pays (a GPU with room for them in half its free memory,
 * which also augments them there if asked; HSI_CNN_RESIDENT=0 or 1 in the
 * environment overrides,
 * for A/B runs), ALWAYS where the backend can (tests), NEVER. Whole-scene
 * prediction on a GPU likewise sends each tile's rows once and gathers the
 * windows there, unless HSI_CNN_RESIDENT=0 (cnn3d/predict.c). */
typedef enum hsi_cnn_resident {
    HSI_CNN_RESIDENT_AUTO = 0,
    HSI_CNN_RESIDENT_NEVER,
    HSI_CNN_RESIDENT_ALWAYS
} hsi_cnn_resident;

typedef struct hsi_cnn_train_options {
    int epochs;                 /* total epochs (the net resumes at net->epoch) */
    int batch;
    const float *class_weights; /* [classes] or NULL */
    int patience;               /* stop after this many epochs without val improvement */
    const char *checkpoint_path;/* NULL: none */
    int checkpoint_every;       /* epochs between checkpoints (0: only at the end) */
    const struct hsi_cnn_meta *meta; /* what checkpoints carry besides the net */
    hsi_progress progress;      /* batches within an epoch */
    void (*epoch_end)(void *ctx, const hsi_cnn_epoch_stats *s);
    /* Told once, before the first step, where the samples are: why is NULL
     * when the training samples are held in backend memory (train_bytes,
     * val_bytes: the tables' sizes), else hsi_cnn_resident_plan's reason.
     * The one decision, so that what the user reads is what ran. May be NULL. */
    void (*resident_chosen)(void *ctx, const hsi_cnn_net *net, const char *why,
                            size_t train_bytes, size_t val_bytes);
    void *epoch_ctx;            /* for epoch_end and resident_chosen */
    /* Data-parallel training over MPI ranks (cnn3d/dist.h); NULL: this
     * process alone. batch is then the global batch, sharded over the ranks. */
    struct hsi_cnn_dist *dist;
    hsi_cnn_resident resident;
} hsi_cnn_train_options;

/* HSI_CNN_RESIDENT in the environment: "0" NEVER, "1" ALWAYS, else AUTO. */
hsi_cnn_resident hsi_cnn_resident_env(void);

/* What hsi_cnn_train will hold in backend memory for n_train training and
 * n_val validation samples: the bytes of each table (0: gathered on the
 * host and uploaded every batch; the validation table may be left out when
 * the training one takes the room). Returns NULL when the training samples
 * are held, else why not. hsi_cnn_train asks this once and tells its
 * answer through opts->resident_chosen. */
const char *hsi_cnn_resident_plan(const hsi_cnn_net *net, size_t n_train, size_t n_val,
                                  hsi_cnn_resident mode, size_t *train_bytes, size_t *val_bytes);

hsi_status hsi_cnn_train(hsi_cnn_net *net, const hsi_cnn_dataset *train,
                         const hsi_cnn_dataset *val, const hsi_cnn_train_options *opts);

/* Evaluate: mean loss and accuracy over a dataset; predicted (may be NULL)
 * receives the argmax class of each sample. */
hsi_status hsi_cnn_evaluate(hsi_cnn_net *net, const hsi_cnn_dataset *data, int batch,
                            double *loss, double *accuracy, int32_t *predicted);

/* ---- checkpoints ---- */

struct hsi_preprocess;

/* What a checkpoint stores besides the spec, the parameters and the
 * optimiser state: patch radius, border mode, preprocessing, class table. */
typedef struct hsi_cnn_meta {
    int radius;
    int border;                         /* hsi_border_mode */
    struct hsi_preprocess *preprocess;  /* NULL: none */
    int n_classes;
    hsi_class_info *classes;            /* [n_classes + 1], entry 0 = unlabelled; may be NULL */
    char bands[256];                    /* band selection used ("" = all) */
    uint64_t seed;                      /* the training run's seed (validation split) */
} hsi_cnn_meta;

void hsi_cnn_meta_clear(hsi_cnn_meta *meta);

/* May a checkpoint be written to `path`? The writer checks again at the
 * commit; this lets train refuse a bad -o (a device, an input such as the
 * spec) before hours of training. */
hsi_status hsi_cnn_checkpoint_check_output(const char *path);

/* Write atomically: magic "HSICNN\0\1", version, the spec text, shapes, the
 * metadata, parameters, optimiser state, RNG, then an FNV-1a 64 checksum of
 * everything before it. meta may be NULL (the radius of the net's input is
 * recorded); the net's input must be a centred patch (x = y, odd). */
hsi_status hsi_cnn_checkpoint_write(const char *path, const hsi_cnn_net *net,
                                    const hsi_cnn_meta *meta);

/* Read a checkpoint into a new net (for training when training = 1) and its
 * metadata. A truncated, corrupt or foreign file is HSI_ERR_FORMAT naming it,
 * and so is one whose fields disagree with its spec, the net the spec builds
 * or each other (patch radius, border mode, shapes, counts, band selection,
 * preprocessing), naming the field: a valid checksum is not trusted alone. */
hsi_status hsi_cnn_checkpoint_read(const char *path, int training, int max_batch,
                                   const hsi_cnn_backend *backend, hsi_cnn_net **net,
                                   hsi_cnn_meta *meta);

/* ---- whole-scene prediction ---- */

struct hsi_read_options;

typedef struct hsi_cnn_scene_options {
    const struct hsi_read_options *read; /* .mat variable etc.; bands NULL: the model's */
    const char *model_name;       /* names the model in messages (e.g. its path) */
    size_t tile_rows;             /* cube rows held at a time (0: about 64 MiB) */
    int probability;              /* also produce the probability cube */
    const hsi_progress *progress; /* pixels classified of the scene */
    const uint8_t *only;          /* rows x cols: classify only where nonzero (NULL: all) */
    size_t memory;                /* budget of the dense path's tiles (0: hsi_memory_default) */
    struct hsi_cnn_predict_report *report; /* told which path ran (cnn3d/predict_dense.h); may be NULL */
} hsi_cnn_scene_options;

/* Whether hsi_cnn_predict_file with this net gathers the windows on the
 * device from each tile's rows (a GPU backend with gather_windows, unless
 * HSI_CNN_RESIDENT=0); it then reads the next tile on a second thread while
 * the device computes, holding two tiles (cnn3d/predict_budget.c counts
 * them). */
int hsi_cnn_predict_on_device(const hsi_cnn_net *net);

/* Classify every pixel of the cube file at path with net (built with
 * max_batch = the batch size to use) and the checkpoint's metadata: the
 * file is read a tile of rows at a time (plus the patch radius above and
 * below), the tile preprocessed as in training, and its patches classified
 * batch by batch, so memory holds one tile, one batch and the outputs.
 * *labels gets the class raster (the model's class table, the scene's
 * georeferencing; pixels that are nodata in every band, and with the skip
 * border mode the pixels near the edge, and pixels outside o->only, get 0;
 * row tiles without a pixel of o->only are not read), *prob (when prob is given
 * and o->probability set) P(class k) in band k-1. The number of classified
 * pixels goes to *classified (may be NULL). A band count other than the
 * model's is HSI_ERR_SIZE naming path. Under MPI (several ranks) it is
 * collective: the ranks share the batches (cnn3d/dist.h) and rank 0 alone
 * receives the rasters (NULL on the others), identical to one process's. */
hsi_status hsi_cnn_predict_file(hsi_cnn_net *net, const hsi_cnn_meta *meta, const char *path,
                                const hsi_cnn_scene_options *o, hsi_labels **labels,
                                hsi_cube **prob, size_t *classified);

/* ---- summary ---- */

/* Keras-style table (layer, output shape, parameters, FLOPs) into a string
 * (caller frees). */
hsi_status hsi_cnn_summary(const hsi_cnn_spec *spec, int bands, int classes, char **out);
/* The same with frozen layers (frozen[n_layers], 1 = frozen; NULL: none)
 * marked '*' and counted as non-trainable. */
hsi_status hsi_cnn_summary_frozen(const hsi_cnn_spec *spec, int bands, int classes,
                                  const uint8_t *frozen, char **out);

const char *hsi_cnn_layer_kind_name(hsi_cnn_layer_kind kind);
const char *hsi_cnn_activation_name(hsi_cnn_activation act);

#ifdef __cplusplus
}
#endif
#endif
