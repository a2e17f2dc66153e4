/* dist.h - data-parallel 3D-CNN training and scene prediction over MPI ranks.
 *
 * Training (Horovod-style, synchronous): every rank holds the whole net.
 * hsi_cnn_train draws one global batch of B samples from the epoch's seeded
 * permutation (the same on every rank) and hands rank r its share, samples
 * [B r / R, B (r+1) / R) of the batch. Each rank weights its loss by
 * n_r / B, so the SUM of the ranks' gradients is the gradient of the mean
 * loss over the global batch: what one process computes, up to the order
 * of the float sums. The gradients are summed with MPI_Iallreduce in
 * buckets of consecutive layers, each started as soon as its lowest layer's
 * gradients are final in the backward pass (net->grad_ready), so the
 * reductions of the upper layers run while the lower layers still compute.
 * Frozen layers' gradients are neither computed nor reduced.
 * Every rank then applies the same optimiser update. On a backend whose
 * memory is not the host's, the buckets are staged through host memory.
 *
 * What cannot match one process: batch normalisation uses the statistics of
 * each rank's shard (not synchronised, as in Horovod), and its running
 * statistics are averaged over the ranks at the end of every epoch; dropout
 * masks come from a stream per rank and step. Nets without those layers
 * give one process's weights within float rounding (tests/test_cnn_mpi.sh).
 *
 * Scene prediction: hsi_cnn_predict_file splits the scene's pixel stream
 * into the batches one process would form and gives each rank a run of
 * whole batches, so each batch is computed exactly as one process computes
 * it and the gathered output is bit-identical.
 */
#ifndef HSI_CNN_DIST_H
#define HSI_CNN_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "base/cube.h"
#include "base/status.h"
#include "cnn3d/cnn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hsi_cnn_dist hsi_cnn_dist;

typedef struct hsi_cnn_dist_options {
    size_t bucket_bytes; /* gradient bytes per allreduce bucket (0: 1 MiB) */
    int no_overlap;      /* 1: one blocking allreduce after the backward pass (for comparison) */
} hsi_cnn_dist_options;

/* Where a rank's step time went (seconds, summed over steps). */
typedef struct hsi_cnn_dist_timing {
    int ranks;
    int buckets;
    size_t bytes_per_step; /* gradient bytes each rank reduces per step */
    uint64_t steps, samples; /* steps taken, global samples they covered */
    double step_s;    /* whole steps: forward, loss, backward, reduction, update */
    double comm_s;    /* inside MPI calls (posting, progressing, waiting) and staging */
    double wait_s;    /* of comm_s: waiting after the backward pass for the reductions */
    double compute_s; /* step_s - comm_s */
} hsi_cnn_dist_timing;

/* A trainer for net on MPI_COMM_WORLD (one rank without MPI, or with MPI
 * not started: then steps are hsi_cnn_train_step's, with timing). Its
 * buckets hold the layers that train: set the frozen layers
 * (hsi_cnn_net_set_frozen, the same on every rank) before. */
hsi_status hsi_cnn_dist_new(hsi_cnn_net *net, const hsi_cnn_dist_options *o, hsi_cnn_dist **out);
void hsi_cnn_dist_free(hsi_cnn_dist *d);
int hsi_cnn_dist_rank(const hsi_cnn_dist *d);
int hsi_cnn_dist_ranks(const hsi_cnn_dist *d);

/* This rank's share of a global batch of n: samples [*first, *first + *count). */
void hsi_cnn_dist_shard(const hsi_cnn_dist *d, int n, int *first, int *count);

/* Around each epoch (collective): begin after the epoch's shuffle, end
 * after its last step (averages batch-norm running statistics, restores the
 * shuffle stream that per-rank dropout streams branched from). */
void hsi_cnn_dist_epoch_begin(hsi_cnn_dist *d, hsi_cnn_net *net);
hsi_status hsi_cnn_dist_epoch_end(hsi_cnn_dist *d, hsi_cnn_net *net);

/* One synchronous step (collective): this rank's n samples x / labels of a
 * global batch of n_global; *st is this rank's status on entry (a failed
 * gather: the rank still takes part, contributing nothing) and, when any
 * rank failed, the agreed error on return (NAN returned). Returns the
 * global batch's mean loss; *correct the global argmax hits. */
double hsi_cnn_dist_step(hsi_cnn_dist *d, hsi_cnn_net *net, const float *x,
                         const int32_t *labels, const float *class_weights, int n, int n_global,
                         int *correct, hsi_status *st);

/* hsi_cnn_evaluate's loss and accuracy over data (collective): each rank
 * scores a contiguous share of the samples and the sums are added up. */
hsi_status hsi_cnn_dist_evaluate(hsi_cnn_dist *d, hsi_cnn_net *net, const hsi_cnn_dataset *data,
                                 int batch, double *loss, double *accuracy);

/* hsi_mpi_agree over the trainer's ranks (st alone with one rank). */
hsi_status hsi_cnn_dist_agree(const hsi_cnn_dist *d, hsi_status st);

void hsi_cnn_dist_get_timing(const hsi_cnn_dist *d, hsi_cnn_dist_timing *t);

/* ---- scene prediction over ranks (used by hsi_cnn_predict_file) ---- */

/* The pixels one process would classify (rows x cols, those at least r0
 * from the edge, where only is nonzero when given), in row-major order,
 * batched by `batch`: this rank's whole batches as a mask (*mask, rows x
 * cols, caller frees; NULL with one rank) and the raster span
 * [*span0, *span1) (pixel indices) that holds them; the ranks' spans tile
 * the raster. */
hsi_status hsi_cnn_dist_scene_split(size_t rows, size_t cols, size_t r0, const uint8_t *only,
                                    size_t batch, uint8_t **mask, size_t *span0, size_t *span1);

/* Collective, after every rank classified its span (st: its status): agree,
 * then gather the spans of labels (and prob, k bands) into rank 0's and sum
 * *classified there. Other ranks' rasters are left as they are. */
hsi_status hsi_cnn_dist_scene_gather(hsi_status st, hsi_labels *labels, hsi_cube *prob,
                                     size_t span0, size_t span1, size_t *classified);

#ifdef __cplusplus
}
#endif
#endif
