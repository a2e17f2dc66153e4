/* cnn_dist_check.c - the data-parallel pieces of cnn3d/dist.c checked on
 * every rank of `mpirun -np N` (run by tests/test_cnn_mpi.sh):
 *   - the shards of a global batch tile it, in rank order, for every size;
 *   - the scene split: the ranks' spans tile the raster, their masks tile
 *     the pixels one process classifies, and every rank but the last with
 *     pixels holds whole batches (so each batch is one process's batch);
 *   - a rank whose patch gather fails in the middle of training stops every
 *     rank at that step: all return an error, the others with "rank R
 *     failed: <its message>", none waits forever;
 *   - host staging gives the direct reduction's weights, also with a
 *     frozen layer between layers that train (a gap in the buckets).
 * Exit 0 on every rank when all checks hold; 77 without MPI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mpi.h"
#include "base/rng.h"
#include "cnn3d/cnn.h"
#include "cnn3d/dist.h"
#include "config.h"
#include "tests/check.h"

#ifdef HAVE_MPI
#include <mpi.h>

static const char spec_text[] = "[net]\ninput = 1, 1, 6\nclasses = 3\nbatch = 8\n"
                                "optimizer = sgd\nlearning_rate = 0.1\n"
                                "[flatten]\n[dense]\nunits = 5\nactivation = relu\n"
                                "[dense]\nunits = classes\nactivation = softmax\n";

static const char spec3_text[] = "[net]\ninput = 1, 1, 6\nclasses = 3\nbatch = 8\n"
                                 "optimizer = sgd\nlearning_rate = 0.1\n"
                                 "[flatten]\n[dense]\nunits = 5\nactivation = relu\n"
                                 "[dense]\nunits = 4\nactivation = relu\n"
                                 "[dense]\nunits = classes\nactivation = softmax\n";

typedef struct gather_ctx {
    int fail_rank, fail_call, calls, rank;
} gather_ctx;

/* Sample i: 6 values from i; the fail_rank's fail_call-th gather fails. */
static hsi_status gather(void *ctx, const size_t *idx, size_t n, float *x)
{
    gather_ctx *g = ctx;
    if (g->rank == g->fail_rank && ++g->calls == g->fail_call)
        return hsi_error(HSI_ERR_IO, "injected: patch %zu unreadable", idx[0]);
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 6; b++) x[i * 6 + b] = (float)((idx[i] * 7 + (size_t)b * 3) % 11) / 11.0f;
    return HSI_OK;
}

int main(int argc, char **argv)
{
    int rank, ranks;
    if (hsi_mpi_start(&argc, &argv, &rank, &ranks) != 1) check_skip("run under mpirun");

    /* Shards of batches 0..40 tile them in rank order. */
    hsi_cnn_dist *d = NULL;
    hsi_cnn_spec *spec = NULL;
    hsi_cnn_net *net = NULL;
    CHECK_OK(hsi_cnn_spec_parse(spec_text, "test", &spec));
    hsi_cnn_net_options no = {.training = 1, .seed = 5, .max_batch = 8};
    CHECK_OK(hsi_cnn_net_new(spec, &no, &net));
    CHECK_OK(hsi_cnn_dist_new(net, NULL, &d));
    CHECK_INT_EQ(hsi_cnn_dist_ranks(d), ranks);
    for (int n = 0; n <= 40; n++) {
        int mine[2], all[64];
        hsi_cnn_dist_shard(d, n, &mine[0], &mine[1]);
        MPI_Allgather(mine, 2, MPI_INT, all, 2, MPI_INT, MPI_COMM_WORLD);
        int next = 0;
        for (int q = 0; q < ranks; q++) {
            CHECK_INT_EQ(all[2 * q], next);
            CHECK(all[2 * q + 1] >= n / ranks && all[2 * q + 1] <= (n + ranks - 1) / ranks);
            next += all[2 * q + 1];
        }
        CHECK_INT_EQ(next, n);
    }

    /* Scene splits of random masks, borders and batches. */
    hsi_rng rng;
    hsi_rng_seed(&rng, 42);
    for (int trial = 0; trial < 50; trial++) {
        size_t rows = 1 + hsi_rng_below(&rng, 12), cols = 1 + hsi_rng_below(&rng, 12);
        size_t r0 = hsi_rng_below(&rng, 3), batch = 1 + hsi_rng_below(&rng, 20);
        int masked = (int)hsi_rng_below(&rng, 2);
        uint8_t *only = malloc(rows * cols);
        for (size_t i = 0; i < rows * cols; i++) only[i] = hsi_rng_uniform(&rng) < 0.6;
        uint8_t *mask = NULL;
        size_t span[2];
        CHECK_OK(hsi_cnn_dist_scene_split(rows, cols, r0, masked ? only : NULL, batch, &mask,
                                          &span[0], &span[1]));
        unsigned long s[2] = {span[0], span[1]}, spans[128];
        MPI_Allgather(s, 2, MPI_UNSIGNED_LONG, spans, 2, MPI_UNSIGNED_LONG, MPI_COMM_WORLD);
        for (int q = 0; q < ranks; q++) {
            CHECK(spans[2 * q] <= spans[2 * q + 1]);
            CHECK(spans[2 * q] == (q ? spans[2 * q - 1] : 0));
        }
        CHECK(spans[2 * ranks - 1] == rows * cols);
        /* Every eligible pixel in exactly one rank's mask, none other. */
        uint8_t *sum = calloc(rows * cols, 1);
        MPI_Allreduce(mask, sum, (int)(rows * cols), MPI_UINT8_T, MPI_SUM, MPI_COMM_WORLD);
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < cols; c++) {
                int eligible = r >= r0 && r + r0 < rows && c >= r0 && c + r0 < cols &&
                               (!masked || only[r * cols + c]);
                if (eligible) CHECK_INT_EQ(sum[r * cols + c], 1);
            }
        /* Whole batches, but on the last rank that has pixels. */
        unsigned long mine = 0, counts[64];
        for (size_t r = r0; r + r0 < rows; r++)
            for (size_t c = r0; c + r0 < cols; c++) mine += mask[r * cols + c] != 0;
        MPI_Allgather(&mine, 1, MPI_UNSIGNED_LONG, counts, 1, MPI_UNSIGNED_LONG, MPI_COMM_WORLD);
        int last = -1;
        for (int q = 0; q < ranks; q++)
            if (counts[q]) last = q;
        for (int q = 0; q < last; q++) CHECK(counts[q] % batch == 0);
        free(only), free(mask), free(sum);
    }

    /* A gather failing on the last rank at its 3rd call (an epoch has 5
     * global batches of 8): every rank returns an error at that step. */
    int32_t labels[40];
    for (int i = 0; i < 40; i++) labels[i] = i % 3;
    gather_ctx g = {ranks - 1, 3, 0, rank};
    hsi_cnn_dataset set = {40, labels, gather, &g};
    hsi_cnn_train_options to = {.epochs = 3, .batch = 8, .dist = d};
    hsi_status st = hsi_cnn_train(net, &set, NULL, &to);
    CHECK(st != HSI_OK);
    char want[64];
    if (rank == ranks - 1) snprintf(want, sizeof want, "injected: patch");
    else snprintf(want, sizeof want, "rank %d failed: injected: patch", ranks - 1);
    CHECK_MSG(strstr(hsi_last_error(), want) != NULL, "rank %d: '%s' lacks '%s'", rank,
              hsi_last_error(), want);
    CHECK_INT_EQ(net->epoch, 0);
    /* The failure is agreed: the last agreement returns at once. */
    CHECK(hsi_mpi_finish(st) != HSI_OK);

    /* Host staging (a backend whose memory is not the host's): the CPU
     * backend's table under another address, so the trainer copies each
     * bucket to host memory, reduces it there and copies it back. The
     * weights must be those of the direct reduction, bit for bit. */
    hsi_cnn_backend staged = *hsi_cnn_backend_cpu();
    hsi_cnn_net *nets[2] = {NULL, NULL};
    gather_ctx ok = {-1, 0, 0, rank};
    hsi_cnn_dataset good = {40, labels, gather, &ok};
    for (int k = 0; k < 2; k++) {
        hsi_cnn_net_options o = {.training = 1, .seed = 9, .max_batch = 8,
                                 .backend = k ? &staged : NULL};
        hsi_cnn_dist *dk = NULL;
        hsi_cnn_dist_options dopt = {64, 0}; /* 16-float buckets: several */
        CHECK_OK(hsi_cnn_net_new(spec, &o, &nets[k]));
        CHECK_OK(hsi_cnn_dist_new(nets[k], &dopt, &dk));
        hsi_cnn_train_options t2 = {.epochs = 2, .batch = 8, .dist = dk};
        CHECK_OK(hsi_cnn_train(nets[k], &good, NULL, &t2));
        hsi_cnn_dist_timing tm;
        hsi_cnn_dist_get_timing(dk, &tm);
        CHECK(tm.buckets > 1);
        CHECK_INT_EQ(tm.steps, 10);
        hsi_cnn_dist_free(dk);
    }
    CHECK(memcmp(nets[0]->params, nets[1]->params, nets[0]->n_params * sizeof(float)) == 0);
    hsi_cnn_net_free(nets[0]);
    hsi_cnn_net_free(nets[1]);

    /* A frozen layer between two that train (dense_2 of three): its
     * gradients are not reduced, so the buckets leave a gap that the staged
     * copy back skips; both reductions give the same weights, the frozen
     * layer's unchanged, and the bytes reduced are the trainable ones. */
    hsi_cnn_spec *spec3 = NULL;
    CHECK_OK(hsi_cnn_spec_parse(spec3_text, "test3", &spec3));
    float *frozen_w = NULL;
    for (int k = 0; spec3 && k < 2; k++) {
        hsi_cnn_net_options o = {.training = 1, .seed = 11, .max_batch = 8,
                                 .backend = k ? &staged : NULL};
        hsi_cnn_dist *dk = NULL;
        hsi_cnn_dist_options dopt = {32, k}; /* a bucket per layer; staged: after the pass */
        const uint8_t freeze[4] = {0, 0, 1, 0};
        CHECK_OK(hsi_cnn_net_new(spec3, &o, &nets[k]));
        CHECK_OK(hsi_cnn_net_set_frozen(nets[k], freeze));
        const hsi_cnn_layer *F = &nets[k]->layers[2];
        size_t nf = F->n_weights + F->n_bias;
        if (!k) frozen_w = malloc(nf * sizeof *frozen_w);
        if (!k && frozen_w) memcpy(frozen_w, F->w, nf * sizeof *frozen_w);
        CHECK_OK(hsi_cnn_dist_new(nets[k], &dopt, &dk));
        hsi_cnn_train_options t3 = {.epochs = 2, .batch = 8, .dist = dk};
        CHECK_OK(hsi_cnn_train(nets[k], &good, NULL, &t3));
        hsi_cnn_dist_timing tm;
        hsi_cnn_dist_get_timing(dk, &tm);
        CHECK_INT_EQ(tm.buckets, 2); /* dense_3, dense_1: not the frozen dense_2 */
        if (ranks > 1)
            CHECK_INT_EQ(tm.bytes_per_step, hsi_cnn_trainable_params(nets[k]) * sizeof(float));
        if (frozen_w) CHECK(memcmp(frozen_w, F->w, nf * sizeof *frozen_w) == 0);
        hsi_cnn_dist_free(dk);
    }
    if (nets[0] && nets[1])
        CHECK(memcmp(nets[0]->params, nets[1]->params, nets[0]->n_params * sizeof(float)) == 0);
    hsi_cnn_net_free(nets[0]);
    hsi_cnn_net_free(nets[1]);
    hsi_cnn_spec_free(spec3);
    free(frozen_w);

    hsi_cnn_dist_free(d);
    hsi_cnn_net_free(net);
    hsi_cnn_spec_free(spec);
    hsi_mpi_stop();
    return check_finish();
}

#else

int main(void)
{
    check_skip("built without MPI");
}

#endif
