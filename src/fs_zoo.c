/*
 * fs_zoo.c - a zoo share, model by model (see fs_zoo.h).  Rank 0 checks and
 * commits the files (one process touches the records) and broadcasts its
 * verdicts; every rank runs each analysis, so the collective steps match.
 */
#include "fs_zoo.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fs_complete.h"
#include "fs_killpoint.h"
#include "fs_progress.h"

void fs_zoo_share(int n, int task, int ntasks, int *lo, int *hi) {
  *lo = (int)((long long)n * task / ntasks);
  *hi = (int)((long long)n * (task + 1) / ntasks);
}

static int make_outdir(MPI_Comm comm, int rank, const char *dir, fs_error *err) {
  int ok = 1;
  if (rank == 0 && mkdir(dir, 0777) != 0 && errno != EEXIST) ok = 0;
  int e = errno;
  MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
  return ok ? 0 : fs_fail(err, "%s: cannot create the output folder: %s", dir, strerror(e));
}

/* Rank 0's verdict on model i's files, agreed: 1 valid, 0 absent, -1 damaged. */
static int check_model(MPI_Comm comm, int rank, const char *h5, const char *rec,
                       const fs_manifest_entry *e, const char *options, FILE *log) {
  int v = 0;
  if (rank == 0) {
    char why[1024];
    v = fs_complete_check(h5, rec, e->path, e->tags, options, NULL, 0, why, sizeof why);
    if (v < 0 && log) fprintf(log, "flagscope: %s; analysing it again\n", why);
  }
  MPI_Bcast(&v, 1, MPI_INT, 0, comm);
  return v;
}

static int stop_agreed(MPI_Comm comm, volatile sig_atomic_t *stop) {
  int mine = stop && *stop, any = 0;
  MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm);
  return any;
}

static int run_model(MPI_Comm comm, int rank, const fs_manifest_entry *e, const char *h5,
                     const char *rec, const fs_analyze_opts *o, const fs_zoo_opts *z,
                     fs_zoo_counts *c, fs_error *err) {
  fs_analyze_opts one = *o;
  char *path = e->path, *tags = e->tags;
  one.output = h5;
  one.model_tags = &tags;
  one.summary = NULL;
  one.progress = z->progress;
  int nfailed = 0;
  FS_TRY(fs_analyze(comm, &path, 1, &one, &nfailed, err));
  c->failed += nfailed;
  fs_killpoint("rename", rank);
  int rc = 0;
  if (rank == 0) rc = fs_complete_commit(h5, rec, e->path, e->tags, z->options, err);
  MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
  if (rc && rank != 0) fs_fail(err, "%s: committing the model failed on rank 0", h5);
  if (!rc) fs_killpoint("model", rank);
  return rc;
}

int fs_zoo_run(MPI_Comm comm, const fs_manifest *m, const fs_analyze_opts *o,
               const fs_zoo_opts *z, fs_zoo_counts *c, fs_error *err) {
  int rank, lo, hi;
  MPI_Comm_rank(comm, &rank);
  memset(c, 0, sizeof *c);
  fs_zoo_share(m->n, z->task, z->ntasks, &lo, &hi);
  c->mine = hi - lo;
  FS_TRY(make_outdir(comm, rank, z->outdir, err));
  FILE *log = rank == 0 ? o->log : NULL;
  for (int i = lo; i < hi; i++) {
    char h5[4300], rec[4300];
    fs_complete_paths(z->outdir, i, h5, rec, sizeof h5);
    int v = check_model(comm, rank, h5, rec, &m->entry[i], z->options, log);
    if (v == 1) {
      c->skipped++;
      if (z->progress) fs_progress_model(z->progress, 1);
      continue;
    }
    if (stop_agreed(comm, z->stop)) {
      c->stopped = 1;
      if (log) fprintf(log, "flagscope: stop requested: %d of the %d models of task %d left for a rerun\n",
                       hi - i, hi - lo, z->task);
      break;
    }
    c->redone += v < 0;
    FS_TRY(run_model(comm, rank, &m->entry[i], h5, rec, o, z, c, err));
    c->analysed++;
    if (z->progress) fs_progress_model(z->progress, 0);
  }
  return 0;
}
