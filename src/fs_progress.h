/*
 * fs_progress.h - progress lines on rank 0, one at a time, readable in a
 * SLURM log:
 *   flagscope: progress task 2/3: models 4/9 (1 skipped), matrices 212, 14.1 matrices/s, elapsed 15 s, ETA 19 s
 *
 * The matrices done on every rank are summed with non-blocking all-reduces
 * (MPI_Iallreduce): a busy rank only tests its request between two matrices
 * and never waits for a slower one.  Each round carries (matrices done,
 * ranks finished); a rank whose own work is over keeps joining rounds until
 * one says every rank is finished, so every rank takes part in the same
 * rounds and the stage ends with no request left open.  The rounds run on a
 * duplicate of the run's communicator (begin and end are collective), so
 * they never interleave with the run's own collectives.
 */
#ifndef FS_PROGRESS_H
#define FS_PROGRESS_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

typedef struct fs_progress {
  FILE *out;           /* rank 0 prints here; NULL: silent (other ranks, --quiet) */
  double interval;     /* seconds between two lines within a stage */
  char label[64];      /* "task 2/3", or "" */
  double t0, last;
  int models_total;    /* of this task; 0 in a one-run analysis */
  int models_done, models_skipped, models_run;
  int64_t mat_before;  /* matrices of the runs already finished, summed over ranks */
  int64_t stage_total; /* matrices of the current run (0: unknown) */
  /* the current round */
  MPI_Comm comm;
  int size, active;
  MPI_Request req;
  int64_t mine, send[2], recv[2], seen;
} fs_progress;

void fs_progress_init(fs_progress *P, FILE *out, const char *label, int models_total,
                      double interval);

/* The spectra of one run start: nmat matrices over comm (collective entry). */
void fs_progress_begin(fs_progress *P, MPI_Comm comm, int64_t nmat);
/* This rank finished one matrix. */
void fs_progress_tick(fs_progress *P);
/* This rank's matrices are done: join rounds until every rank's are (collective). */
void fs_progress_end(fs_progress *P);

/* A zoo model is finished (skipped: its file was already complete): a line. */
void fs_progress_model(fs_progress *P, int skipped);

#endif
