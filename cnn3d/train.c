/* train.c - the training loop (seeded shuffles, mini-batches, validation,
 * early stopping, periodic checkpoints) and evaluation over a dataset. */
#include "cnn3d/cnn.h"
#include "cnn3d/device.h"
#include "cnn3d/dist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static hsi_status check_labels(const hsi_cnn_net *net, const hsi_cnn_dataset *d, const char *what)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->labels[i] < 0 || d->labels[i] >= net->classes)
            return hsi_error(HSI_ERR_DATA, "%s sample %zu has class %d; the net has %d classes",
                             what, i, (int)d->labels[i], net->classes);
    return HSI_OK;
}

/* ---------------------------------------------------------------- resident samples */

/* On a GPU, gathering every batch on the host and uploading it (50 windows
 * of 9 x 9 x 220 floats: 3.6 MB a step) can take longer than the step
 * itself. Where the backend gathers rows by index (be->gather_rows) and the
 * samples fit, hsi_cnn_train gathers each training and validation sample
 * once into a table in backend memory, and a step sends only its indices.
 * Augmentation is then drawn on the host (the net's RNG, as ever) and
 * applied there by the backend (be->augment); a backend without that slot
 * gathers and augments every batch on the host. */

/* Of the device memory free, the tables may take half: the rest is for
 * the convolutions' workspaces, which grow in the first steps. */
#define RESIDENT_SHARE 2

static size_t samples_bytes(const hsi_cnn_net *net, size_t n)
{
    return n * hsi_cnn_shape_size(net->input) * sizeof(float);
}

hsi_cnn_resident hsi_cnn_resident_env(void)
{
    const char *env = getenv("HSI_CNN_RESIDENT");
    if (env && *env == '0') return HSI_CNN_RESIDENT_NEVER;
    if (env && *env == '1') return HSI_CNN_RESIDENT_ALWAYS;
    return HSI_CNN_RESIDENT_AUTO;
}

const char *hsi_cnn_resident_plan(const hsi_cnn_net *net, size_t n_train, size_t n_val,
                                  hsi_cnn_resident mode, size_t *train_bytes, size_t *val_bytes)
{
    *train_bytes = *val_bytes = 0;
    const hsi_cnn_backend *be = net->be;
    if (mode == HSI_CNN_RESIDENT_AUTO) {
        mode = hsi_cnn_resident_env();
        if (mode == HSI_CNN_RESIDENT_NEVER) return "HSI_CNN_RESIDENT=0";
    }
    if (mode == HSI_CNN_RESIDENT_NEVER) return "not asked to";
    if (!be->gather_rows) return "the backend cannot gather them";
    if (hsi_cnn_augment_active(&net->spec->augment) && !be->augment)
        return "augmentation changes them on the host";
    size_t tb = samples_bytes(net, n_train), vb = samples_bytes(net, n_val);
    if (mode == HSI_CNN_RESIDENT_ALWAYS) {
        *train_bytes = tb, *val_bytes = vb;
        return NULL;
    }
    if (!be->device) return "on the CPU they would only be copied once more";
    size_t room = be->memory_free ? be->memory_free(be) / RESIDENT_SHARE : 0;
    if (tb > room) return "they do not fit in half of the device's free memory";
    *train_bytes = tb;
    if (vb <= room - tb) *val_bytes = vb;
    return NULL;
}

/* A table in backend memory of every sample of d, gathered in chunks
 * through the host buffer x (chunk samples). */
static hsi_status resident_load(hsi_cnn_net *net, const hsi_cnn_dataset *d, float *x, int chunk,
                                float **table)
{
    const hsi_cnn_backend *be = net->be;
    size_t in = hsi_cnn_shape_size(net->input);
    size_t *idx = malloc((size_t)chunk * sizeof *idx);
    *table = idx ? be->alloc(be, samples_bytes(net, d->n)) : NULL;
    hsi_status st = hsi_cnn_backend_check(be);
    if (!st && (!idx || !*table))
        st = hsi_error(HSI_ERR_NOMEM, "out of memory for %zu resident samples (%.1f MiB)", d->n,
                       samples_bytes(net, d->n) / 1048576.0);
    for (size_t start = 0; !st && start < d->n; start += (size_t)chunk) {
        size_t nb = d->n - start < (size_t)chunk ? d->n - start : (size_t)chunk;
        for (size_t i = 0; i < nb; i++) idx[i] = start + i;
        if (!(st = d->gather(d->ctx, idx, nb, x)))
            be->upload(be, *table + start * in, x, samples_bytes(net, nb));
    }
    if (!st) st = hsi_cnn_backend_check(be);
    free(idx);
    if (st && *table) {
        be->release(be, *table);
        *table = NULL;
    }
    return st;
}

/* Loss, accuracy and predictions over a dataset; its samples come from the
 * resident table when there is one (NULL: gathered on the host). */
static hsi_status evaluate(hsi_cnn_net *net, const hsi_cnn_dataset *data, const float *table,
                           int batch, double *loss, double *accuracy, int32_t *predicted)
{
    if (batch <= 0 || batch > net->max_batch) batch = net->max_batch;
    size_t in = hsi_cnn_shape_size(net->input);
    float *x = table ? NULL : malloc((size_t)batch * in * sizeof *x);
    size_t *idx = malloc((size_t)batch * sizeof *idx);
    if ((!table && !x) || !idx) {
        free(x), free(idx);
        return hsi_error(HSI_ERR_NOMEM, "out of memory evaluating %zu samples", data->n);
    }
    double total = 0;
    size_t hits = 0;
    hsi_status st = HSI_OK;
    for (size_t start = 0; start < data->n; start += batch) {
        int nb = (int)(data->n - start < (size_t)batch ? data->n - start : (size_t)batch);
        for (int i = 0; i < nb; i++) idx[i] = start + i;
        if (table) net->be->gather_rows(net->be, table, in, idx, nb, net->x);
        else if ((st = data->gather(data->ctx, idx, nb, x))) break;
        const float *p = hsi_cnn_forward(net, table ? net->x : x, nb, 0);
        if ((st = hsi_cnn_backend_check(net->be))) break; /* a GPU failure: p is void */
        if (data->labels)
            total += nb * hsi_cnn_loss_eval(net->spec->loss,
                                            net->layers[net->n_layers - 1].spec.activation, p,
                                            data->labels + start, NULL, nb, net->classes, NULL,
                                            NULL);
        for (int i = 0; i < nb; i++) {
            int c = hsi_cnn_argmax(p + (size_t)i * net->classes, net->classes);
            if (predicted) predicted[start + i] = c;
            if (data->labels) hits += c == data->labels[start + i];
        }
    }
    free(x), free(idx);
    if (st) return st;
    if (loss) *loss = data->n ? total / data->n : NAN;
    if (accuracy) *accuracy = data->n ? (double)hits / data->n : NAN;
    return HSI_OK;
}

hsi_status hsi_cnn_evaluate(hsi_cnn_net *net, const hsi_cnn_dataset *data, int batch,
                            double *loss, double *accuracy, int32_t *predicted)
{
    return evaluate(net, data, NULL, batch, loss, accuracy, predicted);
}

/* The running loss and hits of an epoch, a step at a time, and the step
 * whose loss is not read yet (hsi_cnn_train_step_begin/end). */
typedef struct step_tally {
    int epoch, epochs;
    const hsi_progress *progress;
    size_t batches, done, samples; /* steps and samples tallied */
    double loss_sum, lr;
    size_t hits;
    int pending_nb;                /* the begun step's samples */
    double pending_lr;
} step_tally;

/* Adds a step's loss (a mean over its nb samples) and hits; a non-finite
 * loss stops training. */
static hsi_status tally_step(step_tally *t, hsi_cnn_net *net, double l, int correct, int nb,
                             double lr)
{
    hsi_status st = hsi_cnn_backend_check(net->be); /* a GPU failure in the step */
    if (st) return st;
    if (!isfinite(l))
        return hsi_error(HSI_ERR_DATA, "training diverged at epoch %d (loss %g): lower the learning rate",
                         t->epoch + 1, l);
    t->loss_sum += l * nb;
    t->hits += (size_t)correct;
    t->samples += (size_t)nb;
    t->lr = lr;
    t->done++;
    char msg[128];
    snprintf(msg, sizeof msg, "epoch %d/%d loss %.4f acc %.4f lr %.3g", t->epoch + 1, t->epochs,
             t->loss_sum / t->samples, (double)t->hits / t->samples, lr);
    hsi_progress_report(t->progress, (double)t->done, (double)t->batches, msg);
    return HSI_OK;
}

/* Reads the oldest begun step's loss and tallies it. */
static hsi_status tally_end(step_tally *t, hsi_cnn_net *net)
{
    int correct = 0;
    double l = hsi_cnn_train_step_end(net, &correct);
    return tally_step(t, net, l, correct, t->pending_nb, t->pending_lr);
}

hsi_status hsi_cnn_train(hsi_cnn_net *net, const hsi_cnn_dataset *train,
                         const hsi_cnn_dataset *val, const hsi_cnn_train_options *opts)
{
    /* With several ranks (opts->dist), every failure before or between the
     * collective steps is agreed on, so that no rank waits for one that left. */
    hsi_cnn_dist *dist = opts->dist;
    hsi_status st = HSI_OK;
    int batch = opts->batch > 0 ? opts->batch : net->spec->batch;
    int shard = dist ? (batch + hsi_cnn_dist_ranks(dist) - 1) / hsi_cnn_dist_ranks(dist) : batch;
    if (!net->training) st = hsi_error(HSI_ERR_ARG, "the net was built for inference only");
    else if (train->n == 0) st = hsi_error(HSI_ERR_DATA, "no training samples");
    else if (!(st = check_labels(net, train, "training")) && val && val->n)
        st = check_labels(net, val, "validation");
    if (!st && dist && shard > net->max_batch)
        st = hsi_error(HSI_ERR_ARG, "a global batch of %d on %d ranks needs the net built for "
                       "batches of %d, not %d", batch, hsi_cnn_dist_ranks(dist), shard,
                       net->max_batch);
    if (!dist && batch > net->max_batch) batch = shard = net->max_batch;
    size_t in = hsi_cnn_shape_size(net->input);
    float *x = NULL, *best = NULL, *best_state = NULL;
    size_t *order = NULL;
    int32_t *labels = NULL;
    if (!st) {
        x = malloc((size_t)shard * in * sizeof *x);
        order = malloc(train->n * sizeof *order);
        labels = malloc((size_t)shard * sizeof *labels);
        best = opts->patience > 0 && val && val->n ? malloc(net->n_params * sizeof *best) : NULL;
        best_state = best && net->n_state ? malloc(net->n_state * sizeof *best_state) : NULL;
        if (!x || !order || !labels || (opts->patience > 0 && val && val->n && !best) ||
            (best && net->n_state && !best_state))
            st = hsi_error(HSI_ERR_NOMEM, "out of memory for training batches");
    }
    /* The samples held in backend memory, where that pays (see above); with
     * several ranks the validation set is split over them, from the host. */
    float *train_table = NULL, *val_table = NULL;
    size_t train_bytes = 0, val_bytes = 0;
    hsi_cnn_aug_draw *draws = NULL; /* augmentation of held windows */
    if (!st) {
        int many = dist && hsi_cnn_dist_ranks(dist) > 1;
        const char *why = hsi_cnn_resident_plan(net, train->n, val && !many ? val->n : 0,
                                                opts->resident, &train_bytes, &val_bytes);
        if (train_bytes) st = resident_load(net, train, x, shard, &train_table);
        if (!st && val_bytes) st = resident_load(net, val, x, shard, &val_table);
        if (!st && opts->resident_chosen && net->epoch < opts->epochs)
            opts->resident_chosen(opts->epoch_ctx, net, why, train_bytes, val_bytes);
        /* Held windows are augmented where they are, from draws made here. */
        if (!st && train_table && hsi_cnn_augment_active(&net->spec->augment) &&
            !(draws = malloc((size_t)shard * sizeof *draws)))
            st = hsi_error(HSI_ERR_NOMEM, "out of memory for training batches");
    }
    if (dist) st = hsi_cnn_dist_agree(dist, st);
    if (st) {
        if (train_table) net->be->release(net->be, train_table);
        if (val_table) net->be->release(net->be, val_table);
        free(x), free(order), free(labels), free(best), free(best_state), free(draws);
        return st;
    }
    double best_loss = INFINITY;
    int since_best = 0, have_best = 0;
    size_t batches = (train->n + batch - 1) / batch;
    net->epoch_steps = (int)batches; /* the warm-up ramps over steps */
    const hsi_cnn_augment *aug = &net->spec->augment;
    for (int epoch = net->epoch; epoch < opts->epochs && !st; epoch++) {
        double t0 = seconds_now(), lr = hsi_cnn_current_lr(net);
        /* A fresh seeded permutation every epoch, from the net's RNG (saved in
         * checkpoints, so a resumed run continues the same sequence). */
        for (size_t i = 0; i < train->n; i++) order[i] = i;
        hsi_rng_shuffle(&net->rng, order, train->n);
        if (dist) hsi_cnn_dist_epoch_begin(dist, net);
        step_tally tally = {.epoch = epoch, .epochs = opts->epochs, .progress = &opts->progress,
                            .batches = batches};
        for (size_t b = 0; b < batches; b++) {
            size_t start = b * batch;
            int nb = (int)(train->n - start < (size_t)batch ? train->n - start : (size_t)batch);
            /* This rank's share of the global batch (all of it alone). */
            int first = 0, mine = nb;
            if (dist) hsi_cnn_dist_shard(dist, nb, &first, &mine);
            for (int i = 0; i < mine; i++) labels[i] = train->labels[order[start + first + i]];
            /* Augmentation draws from net->rng like dropout: over several
             * ranks each augments its own shard, reproducibly for a rank
             * count but not as one process would (cnn3d/dist.c). */
            const float *xin = x;
            if (mine && train_table) {
                net->be->gather_rows(net->be, train_table, in, order + start + first, mine, net->x);
                xin = net->x;
                if (draws && !(st = hsi_cnn_augment_draw(aug, &net->rng, net->input, labels, mine,
                                                         draws)))
                    net->be->augment(net->be, draws, mine, (size_t)net->input.c * net->input.d,
                                     net->input.h, net->input.w, aug->mix > 0,
                                     aug->gain > 0 || aug->offset > 0, net->x);
            } else if (mine) {
                st = train->gather(train->ctx, order + start + first, mine, x);
                if (!st && hsi_cnn_augment_active(aug))
                    st = hsi_cnn_augment_batch(aug, &net->rng, net->input, x, labels, mine);
            }
            lr = hsi_cnn_current_lr(net);
            if (dist) {
                int correct = 0;
                double l = hsi_cnn_dist_step(dist, net, xin, labels, opts->class_weights, mine, nb,
                                             &correct, &st);
                if (!st) st = tally_step(&tally, net, l, correct, nb, lr);
            } else if (!st) {
                /* This step is queued before the last one's loss is read, so
                 * that a GPU goes on computing while the host waits for it. */
                hsi_cnn_train_step_begin(net, xin, labels, opts->class_weights, nb);
                if (b > 0) st = tally_end(&tally, net);
                tally.pending_nb = nb, tally.pending_lr = lr;
            }
            if (st) break;
        }
        if (!st && !dist && batches) st = tally_end(&tally, net);
        while (net->steps_ended < net->steps_begun) hsi_cnn_train_step_end(net, NULL);
        lr = tally.lr;
        if (!st && dist) st = hsi_cnn_dist_epoch_end(dist, net);
        if (st) break;
        hsi_cnn_epoch_stats s = {.epoch = epoch + 1, .epochs = opts->epochs,
                                 .loss = tally.loss_sum / train->n,
                                 .accuracy = (double)tally.hits / train->n, .val_loss = NAN,
                                 .val_accuracy = NAN, .lr = lr, .improved = 1};
        if (val && val->n) {
            st = dist && hsi_cnn_dist_ranks(dist) > 1
                     ? hsi_cnn_dist_evaluate(dist, net, val, shard, &s.val_loss, &s.val_accuracy)
                     : evaluate(net, val, val_table, shard, &s.val_loss, &s.val_accuracy, NULL);
            if (st) break;
            s.improved = s.val_loss < best_loss;
            if (s.improved) {
                best_loss = s.val_loss;
                since_best = 0;
                if (best) {
                    net->be->download(net->be, best, net->params, net->n_params * sizeof *best);
                    if (best_state)
                        net->be->download(net->be, best_state, net->state,
                                          net->n_state * sizeof *best_state);
                    have_best = 1;
                }
            } else {
                since_best++;
            }
        }
        net->epoch = epoch + 1;
        hsi_cnn_schedule_epoch_end(net, val && val->n ? s.val_loss : s.loss);
        s.seconds = seconds_now() - t0;
        if (opts->epoch_end) opts->epoch_end(opts->epoch_ctx, &s);
        int stop = opts->patience > 0 && since_best >= opts->patience;
        /* Early stopping keeps the weights of the best validation epoch, and
         * so does a run whose epochs end after the best one. */
        int last = net->epoch >= opts->epochs;
        if ((stop || last) && have_best && since_best > 0) {
            net->be->upload(net->be, net->params, best, net->n_params * sizeof *best);
            if (best_state)
                net->be->upload(net->be, net->state, best_state, net->n_state * sizeof *best_state);
        }
        if (opts->checkpoint_path &&
            (stop || (opts->checkpoint_every > 0 && net->epoch % opts->checkpoint_every == 0))) {
            /* Rank 0 writes for all (every rank holds the same net). */
            if (!dist || hsi_cnn_dist_rank(dist) == 0)
                st = hsi_cnn_checkpoint_write(opts->checkpoint_path, net, opts->meta);
            if (dist) st = hsi_cnn_dist_agree(dist, st);
            if (st) break;
        }
        if (stop) break;
    }
    if (train_table) net->be->release(net->be, train_table);
    if (val_table) net->be->release(net->be, val_table);
    free(x), free(order), free(labels), free(best), free(best_state), free(draws);
    return st;
}
