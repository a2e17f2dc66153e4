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
    const float *input_grad;    /* then: [n * |input|], valid until the next call */
    float *host_scratch;        /* host buffer for dropout masks [max_batch * largest layer] */
    double lr_scale;            /* multiplies the spec's rate (linear scaling rule; 1 by default) */
    /* Called by hsi_cnn_backward after each layer's backward pass (top
     * layer first), when its dw and db (if it has any) are final: a
     * data-parallel trainer starts reducing them, and progresses the
     * reductions already started, while the layers below compute. */
    void (*grad_ready)(void *ctx, struct hsi_cnn_net *net, int layer);
    void *grad_ready_ctx;
} hsi_cnn_net;

hsi_status hsi_cnn_net_new(const hsi_cnn_spec *spec, const hsi_cnn_net_options *opts,
                           hsi_cnn_net **out);
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

/* Forward n samples (n <= max_batch) from x (n x |input|, (N,1,D,H,W)).
 * training = 1 uses dropout and batch statistics. Returns the output
 * (n x classes) inside the net (valid until the next call). */
const float *hsi_cnn_forward(hsi_cnn_net *net, const float *x, int n, int training);

/* Backward from dout = d loss / d output (n x classes, last forward()):
 * fills net->grads. dout may be NULL when hsi_cnn_loss_eval() has put the
 * gradient in net->dlogits already (with *pre_activation set). */
void hsi_cnn_backward(hsi_cnn_net *net, const float *dout, int n, int dout_is_pre_activation);

/* Loss of outputs p (n x k) against labels (0-based) with optional sample
 * weights (NULL = 1); writes d loss / d p (or d loss / d logits when the last
 * activation is softmax and the loss CCE: *pre_activation = 1) into grad. */
double hsi_cnn_loss_eval(hsi_cnn_loss loss, hsi_cnn_activation last_act, const float *p,
                         const int32_t *labels, const float *weights, int n, int k,
                         float *grad, int *pre_activation);

/* One training step on a batch: forward, loss, backward, optimiser update.
 * Returns the batch loss; *correct counts argmax hits. */
double hsi_cnn_train_step(hsi_cnn_net *net, const float *x, const int32_t *labels,
                          const float *class_weights, int n, int *correct);

/* Apply the optimiser to net->grads (one iteration). */
void hsi_cnn_optimizer_step(hsi_cnn_net *net);

/* Learning rate in effect at the current iteration (Keras decay), times
 * net->lr_scale. */
double hsi_cnn_current_lr(const hsi_cnn_net *net);

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
    void *epoch_ctx;
    /* Data-parallel training over MPI ranks (cnn3d/dist.h); NULL: this
     * process alone. batch is then the global batch, sharded over the ranks. */
    struct hsi_cnn_dist *dist;
} hsi_cnn_train_options;

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
} hsi_cnn_scene_options;

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

const char *hsi_cnn_layer_kind_name(hsi_cnn_layer_kind kind);
const char *hsi_cnn_activation_name(hsi_cnn_activation act);

#ifdef __cplusplus
}
#endif
#endif
