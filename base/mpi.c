/* mpi.c - starting MPI under a launcher, and the ranks' agreement on
 * success before every collective step (hsi svm, hsi cnn).
 *
 * Under mpirun every rank reads its own inputs, so one rank can fail where
 * the others do not. A rank that simply returned would leave the others
 * waiting forever in the next collective call (a window allocation, a
 * reduction, a gather, or MPI_Finalize). So each collective phase starts
 * with hsi_mpi_agree: one MPI_Allreduce says whether any rank failed and
 * which was first, and a broadcast hands that rank's status and message to
 * the others, who return "rank N failed: <message>". Every rank then unwinds
 * with an error, and the tool prints it once (from rank 0).
 *
 * The allreduce also carries whether a rank is finishing (hsi_mpi_finish,
 * just before MPI_Finalize), so a rank that ends while the others still work
 * is a failure for all of them rather than a hang.
 */
#include "base/mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* Solo mode: this rank works alone (the experiment farms whole jobs over
 * the ranks, and each job's grid search and prediction stay on its rank). */
static int solo;

void hsi_mpi_solo(int on)
{
    solo = on;
}

int hsi_mpi_solo_get(void)
{
    return solo;
}

#ifdef HAVE_MPI
#include <mpi.h>
#endif

struct hsi_mpi_counter {
    long next_local; /* one rank: the local count */
    int shared;      /* several ranks: the window at rank 0 holds the count */
#ifdef HAVE_MPI
    MPI_Win win;
    long *count;
#endif
};

hsi_status hsi_mpi_counter_open(hsi_mpi_counter **out)
{
    hsi_mpi_counter *c = calloc(1, sizeof *c);
    *out = c;
    if (!c) return hsi_error(HSI_ERR_NOMEM, "out of memory for the task counter");
#ifdef HAVE_MPI
    int rank, size;
    if (hsi_mpi_layout(&rank, &size)) {
        MPI_Aint bytes = rank == 0 ? (MPI_Aint)sizeof(long) : 0;
        if (MPI_Win_allocate(bytes, sizeof(long), MPI_INFO_NULL, MPI_COMM_WORLD, &c->count,
                             &c->win) != MPI_SUCCESS) {
            free(c);
            *out = NULL;
            return hsi_error(HSI_ERR_MPI, "MPI_Win_allocate failed for the task counter");
        }
        c->shared = 1;
        if (rank == 0) {
            MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, c->win);
            *c->count = 0;
            MPI_Win_unlock(0, c->win);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        MPI_Win_lock_all(0, c->win);
    }
#endif
    return HSI_OK;
}

long hsi_mpi_counter_next(hsi_mpi_counter *c)
{
#ifdef HAVE_MPI
    if (c->shared) {
        const long one = 1;
        long got = 0;
        MPI_Fetch_and_op(&one, &got, MPI_LONG, 0, 0, MPI_SUM, c->win);
        MPI_Win_flush(0, c->win);
        return got;
    }
#endif
    return c->next_local++;
}

void hsi_mpi_counter_close(hsi_mpi_counter *c)
{
    if (!c) return;
#ifdef HAVE_MPI
    if (c->shared) {
        MPI_Win_unlock_all(c->win);
        MPI_Win_free(&c->win);
    }
#endif
    free(c);
}

#ifdef HAVE_MPI

#define MESSAGE_MAX 1024

typedef struct failure {
    int status;
    char message[MESSAGE_MAX];
} failure;

/* Set on every rank by the same agreement, so every rank knows that all of
 * them are unwinding with an error; hsi_mpi_finish then has nothing to ask. */
static int failure_agreed;
static int failed_rank;
static failure agreed;

int hsi_mpi_start(int *argc, char ***argv, int *rank, int *ranks)
{
    *rank = 0;
    *ranks = 1;
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK")) return 0;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) return -1;
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, ranks);
    return 1;
}

void hsi_mpi_stop(void)
{
    int initialised = 0, finalised = 0;
    MPI_Initialized(&initialised);
    MPI_Finalized(&finalised);
    if (initialised && !finalised) MPI_Finalize();
}

int hsi_mpi_layout(int *rank, int *size)
{
    *rank = 0;
    *size = 1;
    int initialised = 0, finalised = 0;
    MPI_Initialized(&initialised);
    MPI_Finalized(&finalised);
    if (!initialised || finalised || solo) return 0;
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    return *size > 1;
}

static int mpi_ranks(int *rank, int *size)
{
    return hsi_mpi_layout(rank, size);
}

/* This rank's view of an agreed failure: its own error if it failed too
 * (its message is the one to print), else the first failing rank's. */
static hsi_status agreed_failure(hsi_status st)
{
    if (st) return st;
    return hsi_error((hsi_status)agreed.status, "rank %d failed: %s", failed_rank, agreed.message);
}

static hsi_status agree(hsi_status st, int finishing)
{
    int rank = 0, size = 1;
    if (!mpi_ranks(&rank, &size)) return st;
    if (failure_agreed && finishing) return agreed_failure(st);
    /* MIN over ranks of: the rank if it failed; the rank if it is finishing;
     * the rank if it is not finishing (size stands for "none"). */
    int mine[3] = {st ? rank : size, finishing ? rank : size, finishing ? size : rank};
    int all[3];
    MPI_Allreduce(mine, all, 3, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (all[0] < size) {
        failed_rank = all[0];
        memset(&agreed, 0, sizeof agreed);
        if (rank == failed_rank) {
            agreed.status = st;
            snprintf(agreed.message, sizeof agreed.message, "%s",
                     *hsi_last_error() ? hsi_last_error() : hsi_status_str(st));
        }
        MPI_Bcast(&agreed, (int)sizeof agreed, MPI_BYTE, failed_rank, MPI_COMM_WORLD);
        failure_agreed = 1;
        return agreed_failure(st);
    }
    if (all[1] < size && all[2] < size) {
        /* Some ranks are finishing while others start another phase: their
         * command lines differ (one saw a usage error or --help). */
        failure_agreed = 1;
        failed_rank = all[1];
        agreed.status = HSI_ERR_ARG;
        snprintf(agreed.message, sizeof agreed.message,
                 "it stopped early (its command line differs from the others')");
        return agreed_failure(st);
    }
    failure_agreed = 0;
    return HSI_OK;
}

hsi_status hsi_mpi_agree(hsi_status st)
{
    return agree(st, 0);
}

hsi_status hsi_mpi_finish(hsi_status st)
{
    return agree(st, 1);
}

hsi_status hsi_mpi_agree_same(hsi_status st, const char *what, const char *const *names,
                              const long *values, int n)
{
    int rank = 0, size = 1;
    if (!mpi_ranks(&rank, &size)) return st;
    if ((st = hsi_mpi_agree(st))) return st;
    /* Every rank is here (the agreement succeeded): compare with rank 0. */
    enum { MAX_VALUES = 16 };
    long first[MAX_VALUES];
    if (n > MAX_VALUES) n = MAX_VALUES;
    memcpy(first, values, (size_t)n * sizeof *first);
    MPI_Bcast(first, n, MPI_LONG, 0, MPI_COMM_WORLD);
    for (int i = 0; i < n && !st; i++)
        if (values[i] != first[i])
            st = hsi_error(HSI_ERR_SIZE,
                           "%s: %ld %s, but rank 0 has %ld (every rank must be given the same "
                           "inputs)",
                           what, values[i], names[i], first[i]);
    return hsi_mpi_agree(st);
}

#else /* without MPI there is one process: nothing to start or agree on */

int hsi_mpi_start(int *argc, char ***argv, int *rank, int *ranks)
{
    (void)argc;
    (void)argv;
    *rank = 0;
    *ranks = 1;
    return 0;
}

void hsi_mpi_stop(void) {}

int hsi_mpi_layout(int *rank, int *size)
{
    *rank = 0;
    *size = 1;
    return 0;
}

hsi_status hsi_mpi_agree(hsi_status st)
{
    return st;
}

hsi_status hsi_mpi_finish(hsi_status st)
{
    return st;
}

hsi_status hsi_mpi_agree_same(hsi_status st, const char *what, const char *const *names,
                              const long *values, int n)
{
    (void)what;
    (void)names;
    (void)values;
    (void)n;
    return st;
}

#endif
