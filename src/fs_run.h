/*
 * fs_run.h - the state of one analysis run, shared by its stages
 * (fs_analyze.c drives them; fs_reduce.c and io/fs_output.c read the results).
 *
 * Per-item arrays are indexed by global matrix or pair index (fs_plan).  A
 * rank fills the entries of the items it owns; the small agreed arrays
 * (kdone, pdone) are all-reduced so that every rank knows which results exist.
 */
#ifndef FS_RUN_H
#define FS_RUN_H

#include <mpi.h>

#include "fs_analyze.h"
#include "fs_classifier.h"
#include "fs_heads.h"
#include "fs_pair_extra.h"
#include "fs_pair.h"
#include "fs_plan.h"
#include "fs_spectral.h"
#include "fs_spectrum.h"

typedef enum { FS_STAGE_PLAN, FS_STAGE_SPECTRA, FS_STAGE_PAIRS, FS_STAGE_WRITE, FS_NSTAGES } fs_stage;

typedef struct fs_run {
  MPI_Comm comm; /* a private duplicate of the caller's communicator */
  int rank, size;
  const fs_analyze_opts *opts;
  fs_plan plan;
  int64_t nmine_mat, nmine_pair;
  int64_t *mine_mat, *mine_pair; /* global indices this rank owns, ascending */
  /* per global matrix */
  fs_spectrum *spec;
  fs_matrix_stats *stats;
  fs_matrix_spectral *spectral; /* rank policy, full spectrum and its statistics */
  double *seconds;
  char **mat_error; /* owner's error text, NULL if none */
  int *kdone;       /* triplets computed, 0 if failed: agreed */
  double **recv;    /* received reader bases: sigma (k values) then vectors (d x k) */
  fs_classifier_stats *cls; /* classifier statistics (classes 0 if not a classifier) */
  int *twin_state;  /* of a twin on its source's rank: 0 not seen, 1 contents equal and
                       prepared (classifier), 2 contents differ: computed on its own */
  /* per global pair */
  fs_pair_result *pres;
  fs_pair_extra *pextra; /* profile, flag table, exact commutator */
  char **pair_error;
  int *pdone; /* 1 if computed: agreed */
  /* per head item (fs_plan heads) */
  int64_t nmine_heads, *mine_heads;
  fs_heads_result *hres;
  char **heads_error;
  double *hseconds;
  int *hdone; /* 1 if computed: agreed */
  double time[FS_NSTAGES];
  double time_heads; /* the heads stage (not in time[]: its attribute lists four stages) */
  double read_seconds;   /* of the spectra stage: reading the owned matrices */
  double reduce_seconds; /* per-model reduction and the summary */
  double largest_owned;  /* bytes of the largest owned matrix in double */
  double busy;      /* seconds this rank spent on its items (spectra, group shares, pairs) */
  double *busy_all; /* every rank's busy seconds, after fs_run_agree_busy */
} fs_run;

/* Build the plan and the arrays; collective, fails on every rank or on none. */
int fs_run_init(fs_run *R, MPI_Comm comm, char *const *paths, int nmodels,
                const fs_analyze_opts *o, fs_error *err);
void fs_run_free(fs_run *R);

/* Keep a copy of msg in *slot (the first error of an item wins). */
void fs_run_set_error(char **slot, const char *msg);

/* A matrix as the writer (output-space basis) or reader (input-space basis)
 * of a pair.  The writer basis is always local; the reader basis may have
 * been received. */
void fs_run_writer_basis(const fs_run *R, int64_t gi, fs_basis *b);
void fs_run_reader_basis(const fs_run *R, int64_t gi, fs_basis *b);

/* After the spectra: every rank learns who computed what (the dynamic queue
 * decides at run time), pairs follow their writers, and the lists of owned
 * matrices and pairs are rebuilt; collective. */
int fs_run_agree_owners(fs_run *R, fs_error *err);

/* Gather every rank's busy seconds (collective); rank 0 logs the measured
 * load imbalance max / mean next to the plan's estimate. */
int fs_run_agree_busy(fs_run *R, fs_error *err);

/* All-reduce kdone / pdone / hdone; collective. */
int fs_run_agree_matrices(fs_run *R, fs_error *err);
int fs_run_agree_pairs(fs_run *R, fs_error *err);
int fs_run_agree_heads(fs_run *R, fs_error *err);

/* Model outcome from the agreed arrays: "ok", "partial" or "failed", with the
 * reason in why. */
const char *fs_run_model_status(const fs_run *R, int model, char *why, size_t n);

void fs_run_log_plan(const fs_run *R);

/* --timing: rank 0 logs one line per rank, stage times and peak memory
 * (VmHWM from getrusage) against the largest owned matrix; collective. */
void fs_run_log_timing(const fs_run *R);

#endif
