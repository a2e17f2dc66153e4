/* dist.c - data-parallel training steps and scene prediction over MPI ranks
 * (see dist.h). Every MPI call of the CNN engine is here; without MPI the
 * trainer is one rank and the scene split is the whole scene. */
#include "cnn3d/dist.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mpi.h"
#include "config.h"

#ifdef HAVE_MPI
#include <mpi.h>
#endif

/* A run of consecutive layers whose gradients are one allreduce:
 * net->grads[lo, hi). */
typedef struct bucket {
    size_t lo, hi;
} bucket;

struct hsi_cnn_dist {
    int rank, ranks;
    int no_overlap;
    int staged;          /* gradients in device memory: reduce a host copy */
    float *host;         /* [n_params] the host copy (staged), else NULL */
    float *weights;      /* [max_batch] per-sample loss weights of a shard */
    int n_buckets;
    bucket *buckets;     /* top of the net first: the order backward finishes them */
    int *closes;         /* [n_layers]: the bucket a layer's gradients complete, or -1 */
    int posted;          /* buckets started in this step */
    int zero_local;      /* this step contributes zeros (no samples, or a failed gather) */
    hsi_rng epoch_rng;   /* the shuffle stream after this epoch's permutation */
    uint64_t step_in_epoch;
    double comm_in_backward;
    hsi_cnn_dist_timing t;
#ifdef HAVE_MPI
    MPI_Request *req;    /* [n_buckets] */
#endif
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

hsi_status hsi_cnn_dist_new(hsi_cnn_net *net, const hsi_cnn_dist_options *o, hsi_cnn_dist **out)
{
    *out = NULL;
    if (!net->training) return hsi_error(HSI_ERR_ARG, "the net was built for inference only");
    hsi_cnn_dist *d = calloc(1, sizeof *d);
    if (!d) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    hsi_mpi_layout(&d->rank, &d->ranks);
    d->no_overlap = o && o->no_overlap;
    d->staged = net->be != hsi_cnn_backend_cpu() && net->be != hsi_cnn_backend_reference();
    size_t bucket_floats = (o && o->bucket_bytes ? o->bucket_bytes : (size_t)1 << 20) / sizeof(float);
    if (bucket_floats < 1) bucket_floats = 1;
    d->closes = malloc((size_t)net->n_layers * sizeof *d->closes);
    d->buckets = malloc(((size_t)net->n_layers + 1) * sizeof *d->buckets);
    d->weights = malloc((size_t)net->max_batch * sizeof *d->weights);
    if (d->staged) d->host = malloc((net->n_params + 1) * sizeof *d->host);
#ifdef HAVE_MPI
    d->req = malloc(((size_t)net->n_layers + 1) * sizeof *d->req);
    if (!d->req) goto nomem;
#endif
    if (!d->closes || !d->buckets || !d->weights || (d->staged && !d->host)) goto nomem;
    /* Buckets from the top layer down, closed once they hold bucket_floats:
     * the layers' gradients are consecutive in net->grads in layer order, so
     * a run of layers is one contiguous range. Frozen layers (transfer
     * learning) have no gradients to reduce: the backward pass does not
     * compute them, and stops at the lowest layer that trains (net.c), so
     * a frozen layer with parameters closes the open bucket at the layer
     * above it, and no bucket waits for a layer the pass does not reach. */
    int open = 0, last = -1;
    size_t lo = 0, hi = 0, reduced = 0;
    for (int i = net->n_layers - 1; i >= 0; i--) {
        hsi_cnn_layer *L = &net->layers[i];
        d->closes[i] = -1;
        size_t cnt = L->n_weights + L->n_bias;
        if (!cnt) continue;
        if (net->frozen && net->frozen[i]) {
            if (open) {
                d->buckets[d->n_buckets] = (bucket){lo, hi};
                d->closes[last] = d->n_buckets++;
                open = 0;
            }
            continue;
        }
        size_t off = (size_t)(L->dw - net->grads);
        if (!open) lo = off, hi = off + cnt, open = 1;
        else lo = off;
        last = i;
        reduced += cnt;
        if (hi - lo >= bucket_floats) {
            d->buckets[d->n_buckets] = (bucket){lo, hi};
            d->closes[i] = d->n_buckets++;
            open = 0;
        }
    }
    if (open) {
        d->buckets[d->n_buckets] = (bucket){lo, hi};
        d->closes[last] = d->n_buckets++;
    }
    for (int b = 0; b < d->n_buckets; b++)
        if (d->buckets[b].hi - d->buckets[b].lo > (size_t)INT_MAX) {
            hsi_cnn_dist_free(d);
            return hsi_error(HSI_ERR_SIZE, "a layer of %s has more than %d parameters: too many "
                             "for one MPI message", net->spec->path, INT_MAX);
        }
    d->t.ranks = d->ranks;
    d->t.buckets = d->n_buckets;
    d->t.bytes_per_step = d->ranks > 1 ? reduced * sizeof(float) : 0;
    *out = d;
    return HSI_OK;
nomem:
    hsi_cnn_dist_free(d);
    return hsi_error(HSI_ERR_NOMEM, "out of memory for the data-parallel trainer");
}

void hsi_cnn_dist_free(hsi_cnn_dist *d)
{
    if (!d) return;
    free(d->closes), free(d->buckets), free(d->weights), free(d->host);
#ifdef HAVE_MPI
    free(d->req);
#endif
    free(d);
}

int hsi_cnn_dist_rank(const hsi_cnn_dist *d) { return d->rank; }
int hsi_cnn_dist_ranks(const hsi_cnn_dist *d) { return d->ranks; }

void hsi_cnn_dist_shard(const hsi_cnn_dist *d, int n, int *first, int *count)
{
    long lo = (long)n * d->rank / d->ranks, hi = (long)n * (d->rank + 1) / d->ranks;
    *first = (int)lo;
    *count = (int)(hi - lo);
}

hsi_status hsi_cnn_dist_agree(const hsi_cnn_dist *d, hsi_status st)
{
    return d->ranks > 1 ? hsi_mpi_agree(st) : st;
}

void hsi_cnn_dist_get_timing(const hsi_cnn_dist *d, hsi_cnn_dist_timing *t)
{
    *t = d->t;
    t->compute_s = t->step_s - t->comm_s;
}

void hsi_cnn_dist_epoch_begin(hsi_cnn_dist *d, hsi_cnn_net *net)
{
    d->epoch_rng = net->rng;
    d->step_in_epoch = 0;
}

/* ---------------------------------------------------------------- reductions */

#ifdef HAVE_MPI

/* The buffer a bucket is reduced in: the gradients, or their host copy. */
static float *reduce_buffer(hsi_cnn_dist *d, hsi_cnn_net *net)
{
    return d->staged ? d->host : net->grads;
}

static void post_bucket(hsi_cnn_dist *d, hsi_cnn_net *net, int b)
{
    const bucket *bk = &d->buckets[b];
    float *buf = reduce_buffer(d, net);
    if (d->staged && !d->zero_local)
        net->be->download(net->be, d->host + bk->lo, net->grads + bk->lo,
                          (bk->hi - bk->lo) * sizeof(float));
    MPI_Iallreduce(MPI_IN_PLACE, buf + bk->lo, (int)(bk->hi - bk->lo), MPI_FLOAT, MPI_SUM,
                   MPI_COMM_WORLD, &d->req[b]);
    d->posted = b + 1;
}

/* Staged: the reduced sums back to the device, one copy per run of
 * adjacent buckets (all of them, unless frozen layers lie between). */
static void upload_sums(hsi_cnn_dist *d, hsi_cnn_net *net)
{
    for (int b = 0; b < d->n_buckets;) {
        size_t lo = d->buckets[b].lo, hi = d->buckets[b].hi;
        while (++b < d->n_buckets && d->buckets[b].hi == lo) lo = d->buckets[b].lo;
        net->be->upload(net->be, net->grads + lo, d->host + lo, (hi - lo) * sizeof *d->host);
    }
}

/* net->grad_ready, after every layer's backward pass: start the bucket this
 * layer completes, and give the reductions already started a turn (Open MPI
 * progresses non-blocking collectives only inside MPI calls, so every layer
 * boundary is a chance for a rendezvous or a reduction round to advance). */
static void grad_ready(void *ctx, hsi_cnn_net *net, int layer)
{
    hsi_cnn_dist *d = ctx;
    double t0 = now();
    int b = d->closes[layer];
    if (b >= 0) post_bucket(d, net, b);
    if (d->posted) {
        int done;
        MPI_Testall(d->posted, d->req, &done, MPI_STATUSES_IGNORE);
    }
    d->comm_in_backward += now() - t0;
}

#endif

double hsi_cnn_dist_step(hsi_cnn_dist *d, hsi_cnn_net *net, const float *x,
                         const int32_t *labels, const float *class_weights, int n, int n_global,
                         int *correct, hsi_status *st)
{
    double t_step = now();
    if (correct) *correct = 0;
    if (d->ranks == 1) {
        /* One rank: the plain step, timed. */
        if (*st) return NAN;
        double l = hsi_cnn_train_step(net, x, labels, class_weights, n, correct);
        d->t.steps++;
        d->t.samples += (uint64_t)n;
        d->t.step_s += now() - t_step;
        return l;
    }
#ifdef HAVE_MPI
    /* Dropout draws from net->rng; the ranks' shards differ, so each rank
     * and step gets its own stream, branched from the epoch's shuffle stream
     * (restored at the epoch's end, so every rank shuffles alike). */
    hsi_rng_seed(&net->rng, d->epoch_rng.s[0] ^ d->epoch_rng.s[3] ^
                                (0x9e3779b97f4a7c15ull * (d->step_in_epoch + 1)) ^
                                ((uint64_t)(d->rank + 1) << 48));
    d->step_in_epoch++;
    double comm = 0, t0;
    /* local: this rank's share of the global mean loss, its hits, whether it failed. */
    double local[3] = {0, 0, *st ? 1 : 0}, global[3];
    int pre = 0;
    d->zero_local = *st || n == 0;
    d->posted = 0;
    d->comm_in_backward = 0;
    if (!d->zero_local) {
        const float *p = hsi_cnn_forward(net, x, n, 1);
        /* Weight w_i n / N on a shard of n of the global N: the loss (a mean
         * over the n samples) and its gradient become this rank's part of
         * the global mean, and the allreduced sum is one process's gradient. */
        double share = (double)n / n_global;
        for (int i = 0; i < n; i++)
            d->weights[i] = (float)((class_weights ? class_weights[labels[i]] : 1.0) * share);
        hsi_cnn_activation last = net->layers[net->n_layers - 1].spec.activation;
        local[0] = hsi_cnn_loss_eval(net->spec->loss, last, p, labels, d->weights, n,
                                     net->classes, net->loss_grad, &pre);
        for (int i = 0; i < n; i++)
            local[1] += hsi_cnn_argmax(p + (size_t)i * net->classes, net->classes) == labels[i];
    }
    t0 = now();
    MPI_Request stats;
    MPI_Iallreduce(local, global, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &stats);
    comm += now() - t0;
    if (!d->zero_local) {
        if (!d->no_overlap) {
            net->grad_ready = grad_ready;
            net->grad_ready_ctx = d;
        }
        hsi_cnn_backward(net, NULL, n, pre);
        net->grad_ready = NULL;
        net->grad_ready_ctx = NULL;
        comm += d->comm_in_backward;
    } else {
        /* No samples here (a global batch smaller than the ranks, or a failed
         * gather): this rank adds zeros to every bucket. */
        if (d->staged) memset(d->host, 0, net->n_params * sizeof *d->host);
        else memset(net->grads, 0, net->n_params * sizeof *net->grads);
    }
    t0 = now();
    /* Buckets not started during the backward pass (all of them without
     * overlap, or when this rank had nothing to compute) start now. */
    for (int b = d->posted; b < d->n_buckets; b++) post_bucket(d, net, b);
    MPI_Waitall(d->n_buckets, d->req, MPI_STATUSES_IGNORE);
    MPI_Wait(&stats, MPI_STATUS_IGNORE);
    if (d->staged) upload_sums(d, net);
    double waited = now() - t0;
    comm += waited;
    if (global[2] > 0) {
        /* A rank failed to gather its samples: every rank knows it now and
         * learns which and why. */
        *st = hsi_mpi_agree(*st);
        if (!*st) *st = hsi_error(HSI_ERR_MPI, "a rank failed without a message");
        return NAN;
    }
    hsi_cnn_optimizer_step(net);
    if (correct) *correct = (int)global[1];
    d->t.steps++;
    d->t.samples += (uint64_t)n_global;
    d->t.step_s += now() - t_step;
    d->t.comm_s += comm;
    d->t.wait_s += waited;
    return global[0];
#else
    (void)x, (void)labels, (void)class_weights, (void)n, (void)n_global;
    return NAN; /* ranks > 1 needs MPI */
#endif
}

hsi_status hsi_cnn_dist_epoch_end(hsi_cnn_dist *d, hsi_cnn_net *net)
{
    if (d->ranks == 1) return HSI_OK;
    net->rng = d->epoch_rng;
#ifdef HAVE_MPI
    if (net->n_state) {
        /* Batch-norm running statistics saw each rank's shards: average them,
         * so every rank (and rank 0's checkpoint) holds the same state. */
        float *s = malloc(net->n_state * sizeof *s);
        if (!s) return hsi_mpi_agree(hsi_error(HSI_ERR_NOMEM, "out of memory"));
        net->be->download(net->be, s, net->state, net->n_state * sizeof *s);
        MPI_Allreduce(MPI_IN_PLACE, s, (int)net->n_state, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        for (size_t i = 0; i < net->n_state; i++) s[i] /= (float)d->ranks;
        net->be->upload(net->be, net->state, s, net->n_state * sizeof *s);
        free(s);
    }
#endif
    return HSI_OK;
}

/* ---------------------------------------------------------------- validation */

#ifdef HAVE_MPI
/* A contiguous run of another dataset's samples. */
typedef struct subset {
    const hsi_cnn_dataset *all;
    size_t first;
    size_t *idx; /* [batch] shifted indices */
} subset;

static hsi_status subset_gather(void *ctx, const size_t *idx, size_t n, float *x)
{
    subset *s = ctx;
    for (size_t i = 0; i < n; i++) s->idx[i] = s->first + idx[i];
    return s->all->gather(s->all->ctx, s->idx, n, x);
}
#endif

hsi_status hsi_cnn_dist_evaluate(hsi_cnn_dist *d, hsi_cnn_net *net, const hsi_cnn_dataset *data,
                                 int batch, double *loss, double *accuracy)
{
    if (d->ranks == 1) return hsi_cnn_evaluate(net, data, batch, loss, accuracy, NULL);
#ifdef HAVE_MPI
    /* Each rank scores a contiguous share; the sums are added up. */
    size_t first = data->n * (size_t)d->rank / (size_t)d->ranks;
    size_t count = data->n * (size_t)(d->rank + 1) / (size_t)d->ranks - first;
    if (batch <= 0 || batch > net->max_batch) batch = net->max_batch;
    subset sub = {data, first, malloc((size_t)batch * sizeof(size_t))};
    hsi_cnn_dataset part = {count, data->labels + first, subset_gather, &sub};
    double l = 0, a = 0;
    hsi_status st = sub.idx ? HSI_OK : hsi_error(HSI_ERR_NOMEM, "out of memory");
    if (!st && count) st = hsi_cnn_evaluate(net, &part, batch, &l, &a, NULL);
    free(sub.idx);
    if ((st = hsi_mpi_agree(st))) return st;
    double sums[2] = {count ? l * count : 0, count ? a * count : 0};
    MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    if (loss) *loss = data->n ? sums[0] / data->n : NAN;
    if (accuracy) *accuracy = data->n ? sums[1] / data->n : NAN;
    return HSI_OK;
#else
    return hsi_cnn_evaluate(net, data, batch, loss, accuracy, NULL);
#endif
}

/* ---------------------------------------------------------------- scene prediction */

hsi_status hsi_cnn_dist_scene_split(size_t rows, size_t cols, size_t r0, const uint8_t *only,
                                    size_t batch, uint8_t **mask, size_t *span0, size_t *span1)
{
    int rank, ranks;
    hsi_mpi_layout(&rank, &ranks);
    *mask = NULL;
    *span0 = 0;
    *span1 = rows * cols;
    if (ranks <= 1) return HSI_OK;
    /* The stream one process visits, and where each of its batches starts. */
    size_t total = 0;
    for (size_t r = r0; r + r0 < rows; r++)
        for (size_t c = r0; c + r0 < cols; c++) total += !only || only[r * cols + c];
    size_t batches = (total + batch - 1) / batch;
    /* Rank q's first pixel in the stream; its span starts at that pixel
     * (rank 0 at the raster's start) and ends where rank q + 1's starts. */
    size_t first[2] = {batches * (size_t)rank / ranks * batch,
                       batches * (size_t)(rank + 1) / ranks * batch};
    size_t at[2] = {rows * cols, rows * cols};
    size_t seen = 0;
    for (size_t r = r0; r + r0 < rows && seen <= first[1]; r++)
        for (size_t c = r0; c + r0 < cols; c++) {
            if (only && !only[r * cols + c]) continue;
            for (int e = 0; e < 2; e++)
                if (seen == first[e] && at[e] == rows * cols) at[e] = r * cols + c;
            seen++;
        }
    *span0 = rank == 0 ? 0 : at[0];
    *span1 = rank == ranks - 1 ? rows * cols : at[1];
    if (*span1 < *span0) *span1 = *span0;
    uint8_t *m = calloc(rows * cols + 1, 1);
    if (!m) return hsi_error(HSI_ERR_NOMEM, "out of memory");
    for (size_t i = *span0; i < *span1; i++) m[i] = only ? only[i] != 0 : 1;
    *mask = m;
    return HSI_OK;
}

hsi_status hsi_cnn_dist_scene_gather(hsi_status st, hsi_labels *labels, hsi_cube *prob,
                                     size_t span0, size_t span1, size_t *classified)
{
    int rank, ranks;
    if (!hsi_mpi_layout(&rank, &ranks)) return st;
#ifdef HAVE_MPI
    /* No rank may be missing from the gathers: agree on success first. */
    int k = prob ? (int)prob->bands : 0;
    if (!st && labels->rows * labels->cols > (size_t)INT_MAX)
        st = hsi_error(HSI_ERR_SIZE, "the scene has more than %d pixels: too many to gather in one "
                       "MPI message", INT_MAX);
    long have_prob = prob != NULL;
    static const char *const names[] = {"probability cubes"};
    if ((st = hsi_mpi_agree_same(st, "prediction", names, &have_prob, 1))) return st;
    int *counts = malloc(2 * (size_t)ranks * sizeof *counts);
    int span[2] = {(int)span0, (int)(span1 - span0)};
    int rc = MPI_SUCCESS;
    st = counts ? HSI_OK : hsi_error(HSI_ERR_NOMEM, "out of memory");
    if ((st = hsi_mpi_agree(st))) {
        free(counts);
        return st;
    }
    /* counts[2q] = rank q's first pixel, counts[2q+1] its pixel count. */
    rc = MPI_Allgather(span, 2, MPI_INT, counts, 2, MPI_INT, MPI_COMM_WORLD);
    int *displs = NULL, *sizes = NULL;
    if (rc == MPI_SUCCESS && rank == 0) {
        displs = malloc((size_t)ranks * sizeof *displs);
        sizes = malloc((size_t)ranks * sizeof *sizes);
        for (int q = 0; displs && sizes && q < ranks; q++)
            displs[q] = counts[2 * q], sizes[q] = counts[2 * q + 1];
    }
    /* Rank 0's own span is already in place. */
    const void *lab_send = rank == 0 ? MPI_IN_PLACE : (const void *)(labels->data + span0);
    if (rc == MPI_SUCCESS)
        rc = MPI_Gatherv(lab_send, span[1], MPI_UINT16_T, labels->data, sizes, displs,
                         MPI_UINT16_T, 0, MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS && prob) {
        MPI_Datatype pixel;
        MPI_Type_contiguous(k, MPI_FLOAT, &pixel);
        MPI_Type_commit(&pixel);
        const void *send = rank == 0 ? MPI_IN_PLACE : (const void *)(prob->data + span0 * (size_t)k);
        rc = MPI_Gatherv(send, span[1], pixel, prob->data, sizes, displs, pixel, 0,
                         MPI_COMM_WORLD);
        MPI_Type_free(&pixel);
    }
    if (rc == MPI_SUCCESS && classified) {
        unsigned long mine = (unsigned long)*classified, sum = 0;
        rc = MPI_Reduce(&mine, &sum, 1, MPI_UNSIGNED_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
        *classified = sum;
    }
    free(counts), free(displs), free(sizes);
    if (rc != MPI_SUCCESS) return hsi_error(HSI_ERR_MPI, "gathering the predicted rows failed");
    return HSI_OK;
#else
    (void)labels, (void)prob, (void)span0, (void)span1, (void)classified;
    return st;
#endif
}
