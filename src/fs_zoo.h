/*
 * fs_zoo.h - a share of a zoo, model by model, each model its own durable
 * HDF5 file (flagscope analyze --zoo M --task I --ntasks N --outdir DIR).
 *
 * Task I of N takes the models [I n / N, (I + 1) n / N) of the manifest (n
 * models).  For each: a complete, valid file (fs_complete) is skipped; a
 * damaged one is reported and redone; otherwise fs_analyze runs on that one
 * model and the file is committed.  `flagscope merge` assembles the files.
 *
 * A stop request (SIGTERM/SIGUSR1 set *stop) is agreed collectively before
 * each model: the model in flight finishes, then the run returns with
 * stopped set, and nothing half-done is ever recorded.
 */
#ifndef FS_ZOO_H
#define FS_ZOO_H

#include <mpi.h>
#include <signal.h>

#include "fs_analyze.h"
#include "fs_manifest.h"

typedef struct fs_zoo_opts {
  const char *outdir;
  int task, ntasks;
  const char *options;                /* canonical analysis options, kept in each record */
  volatile sig_atomic_t *stop;        /* set asynchronously: stop after the model in flight */
  struct fs_progress *progress;       /* NULL: no progress lines */
} fs_zoo_opts;

typedef struct fs_zoo_counts {
  int mine, skipped, analysed, redone, failed, stopped;
} fs_zoo_counts;

/* The first and one-past-last model of task of ntasks among n. */
void fs_zoo_share(int n, int task, int ntasks, int *lo, int *hi);

/* Collective over comm.  Fails only when the output cannot be written. */
int fs_zoo_run(MPI_Comm comm, const fs_manifest *m, const fs_analyze_opts *o,
               const fs_zoo_opts *z, fs_zoo_counts *c, fs_error *err);

#endif
