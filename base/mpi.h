/* mpi.h - MPI ranks: starting under a launcher, and agreeing on success.
 *
 * hsi runs on one process or, under mpirun/srun, on N ranks that each read
 * their own inputs, so one rank can fail alone. Each collective phase (the
 * SVM grid, whole-scene prediction, CNN training and its checkpoints, and a
 * tool's steps between them) starts with an agreement, so that no rank
 * waits in a collective call for one that has given up. Without MPI, or
 * with MPI not initialised or one rank, the agreements return st and do
 * nothing else.
 */
#ifndef HSI_MPI_H
#define HSI_MPI_H

#include "base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Start MPI when a launcher started this process (Open MPI's mpirun sets
 * OMPI_COMM_WORLD_SIZE, PMIx launchers such as srun PMIX_RANK), so a plain
 * run needs no MPI runtime. 1 when started (rank and ranks set), 0 when
 * not (rank 0 of 1), -1 when MPI_Init failed. */
int hsi_mpi_start(int *argc, char ***argv, int *rank, int *ranks);

/* MPI_Finalize when MPI was started and is not finalised yet. */
void hsi_mpi_stop(void);

/* This process's rank and the number of ranks (0 of 1 without MPI or
 * before/after it runs). Returns size > 1. */
int hsi_mpi_layout(int *rank, int *size);

/* Collective: every rank calls it at the same point. HSI_OK when every
 * rank passed HSI_OK. Otherwise every rank gets an error: a failing rank its
 * own st and message, the others the first failing rank's status with
 * "rank N failed: <its message>". */
hsi_status hsi_mpi_agree(hsi_status st);

/* Solo mode (on = 1): every function here treats this rank as the only
 * process, as without MPI: hsi_mpi_layout says rank 0 of 1, no agreement, no
 * shared counter, no gather. For callers that farm whole jobs over the ranks
 * (hsi experiment); off again before the next collective step. */
void hsi_mpi_solo(int on);
int hsi_mpi_solo_get(void);

/* The last agreement, just before MPI_Finalize, with the rank's final
 * status. A rank that finishes while another is still in hsi_mpi_agree
 * fails both (their command lines differ). After a failure has been
 * agreed, it returns at once: every rank already knows. */
hsi_status hsi_mpi_finish(hsi_status st);

/* hsi_mpi_agree(st), then, if all succeeded, refuse inputs that differ
 * between ranks: n (at most 16) values such as sizes and counts, named
 * names[i], must equal rank 0's, else the rank fails with
 * "WHAT: V NAME, but rank 0 has V0 (...)" and the ranks agree on that. */
hsi_status hsi_mpi_agree_same(hsi_status st, const char *what, const char *const *names,
                              const long *values, int n);

/* A task counter shared by the ranks, for handing out tasks 0, 1, 2, ...
 * dynamically (the SVM grid's cells, the experiment's jobs): each call of
 * next() returns a number no rank got before, by an MPI fetch-and-add on a
 * window at rank 0; on one rank (or without MPI, or in solo mode) a local
 * count. open and close are collective. */
typedef struct hsi_mpi_counter hsi_mpi_counter;
hsi_status hsi_mpi_counter_open(hsi_mpi_counter **out);
long hsi_mpi_counter_next(hsi_mpi_counter *c);
void hsi_mpi_counter_close(hsi_mpi_counter *c);

#ifdef __cplusplus
}
#endif
#endif
