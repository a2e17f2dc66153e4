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

static int argmax_row(const float *p, int k)
{
    int best = 0;
    for (int c = 1; c < k; c++)
        if (p[c] > p[best]) best = c;
    return best;
}

static hsi_status check_labels(const hsi_cnn_net *net, const hsi_cnn_dataset *d, const char *what)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->labels[i] < 0 || d->labels[i] >= net->classes)
            return hsi_error(HSI_ERR_DATA, "%s sample %zu has class %d; the net has %d classes",
                             what, i, (int)d->labels[i], net->classes);
    return HSI_OK;
}

hsi_status hsi_cnn_evaluate(hsi_cnn_net *net, const hsi_cnn_dataset *data, int batch,
                            double *loss, double *accuracy, int32_t *predicted)
{
    if (batch <= 0 || batch > net->max_batch) batch = net->max_batch;
    size_t in = hsi_cnn_shape_size(net->input);
    float *x = malloc((size_t)batch * in * sizeof *x);
    size_t *idx = malloc((size_t)batch * sizeof *idx);
    if (!x || !idx) {
        free(x), free(idx);
        return hsi_error(HSI_ERR_NOMEM, "out of memory evaluating %zu samples", data->n);
    }
    double total = 0;
    size_t hits = 0;
    hsi_status st = HSI_OK;
    for (size_t start = 0; start < data->n; start += batch) {
        int nb = (int)(data->n - start < (size_t)batch ? data->n - start : (size_t)batch);
        for (int i = 0; i < nb; i++) idx[i] = start + i;
        if ((st = data->gather(data->ctx, idx, nb, x))) break;
        const float *p = hsi_cnn_forward(net, x, nb, 0);
        if ((st = hsi_cnn_backend_check(net->be))) break; /* a GPU failure: p is void */
        if (data->labels)
            total += nb * hsi_cnn_loss_eval(net->spec->loss,
                                            net->layers[net->n_layers - 1].spec.activation, p,
                                            data->labels + start, NULL, nb, net->classes, NULL,
                                            NULL);
        for (int i = 0; i < nb; i++) {
            int c = argmax_row(p + (size_t)i * net->classes, net->classes);
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
    if (dist) st = hsi_cnn_dist_agree(dist, st);
    if (st) {
        free(x), free(order), free(labels), free(best), free(best_state);
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
        double loss_sum = 0;
        size_t hits = 0;
        for (size_t b = 0; b < batches; b++) {
            size_t start = b * batch;
            int nb = (int)(train->n - start < (size_t)batch ? train->n - start : (size_t)batch);
            /* This rank's share of the global batch (all of it alone). */
            int first = 0, mine = nb;
            if (dist) hsi_cnn_dist_shard(dist, nb, &first, &mine);
            for (int i = 0; i < mine; i++) labels[i] = train->labels[order[start + first + i]];
            if (mine) st = train->gather(train->ctx, order + start + first, mine, x);
            /* Augmentation draws from net->rng like dropout: over several
             * ranks each augments its own shard, reproducibly for a rank
             * count but not as one process would (cnn3d/dist.c). */
            if (!st && mine && hsi_cnn_augment_active(aug))
                st = hsi_cnn_augment_batch(aug, &net->rng, net->input, x, labels, mine);
            lr = hsi_cnn_current_lr(net);
            int correct = 0;
            double l = dist ? hsi_cnn_dist_step(dist, net, x, labels, opts->class_weights, mine,
                                                nb, &correct, &st)
                       : st ? NAN
                            : hsi_cnn_train_step(net, x, labels, opts->class_weights, nb, &correct);
            if (!st) st = hsi_cnn_backend_check(net->be); /* a GPU failure in the step */
            if (st) break;
            if (!isfinite(l)) {
                st = hsi_error(HSI_ERR_DATA,
                               "training diverged at epoch %d (loss %g): lower the learning rate",
                               epoch + 1, l);
                break;
            }
            loss_sum += l * nb;
            hits += correct;
            char msg[128];
            snprintf(msg, sizeof msg, "epoch %d/%d loss %.4f acc %.4f lr %.3g", epoch + 1,
                     opts->epochs, loss_sum / (start + nb), (double)hits / (start + nb), lr);
            hsi_progress_report(&opts->progress, (double)(b + 1), (double)batches, msg);
        }
        if (!st && dist) st = hsi_cnn_dist_epoch_end(dist, net);
        if (st) break;
        hsi_cnn_epoch_stats s = {.epoch = epoch + 1, .epochs = opts->epochs,
                                 .loss = loss_sum / train->n,
                                 .accuracy = (double)hits / train->n, .val_loss = NAN,
                                 .val_accuracy = NAN, .lr = lr, .improved = 1};
        if (val && val->n) {
            st = dist ? hsi_cnn_dist_evaluate(dist, net, val, shard, &s.val_loss, &s.val_accuracy)
                      : hsi_cnn_evaluate(net, val, shard, &s.val_loss, &s.val_accuracy, NULL);
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
    free(x), free(order), free(labels), free(best), free(best_state);
    return st;
}
