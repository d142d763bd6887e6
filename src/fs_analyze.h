/*
 * fs_analyze.h - one analysis run over a list of models, on a communicator.
 *
 * The data flow (docs/architecture.md):
 *   plan      every rank reads the headers and builds the same plan (partition/)
 *   spectra   each rank reads only the tensors it owns and computes their
 *             truncated SVDs (fs_spectrum), on PETSC_COMM_SELF
 *   agree     one all-reduce of per-matrix status and k, so that every rank
 *             knows which bases exist before anyone waits for one
 *   exchange  the owner of a pair (the owner of its writer) receives the
 *             reader's basis, point to point
 *   pairs     pair diagnostics on the owner (fs_pair)
 *   heads     attention-head diagnostics of each block on its owner, which
 *             reads the block's Q, K, V, O itself (fs_heads)
 *   reduce    per-model statistics on rank 0 (the pairs' values gathered
 *             a chunk of models at a time): /zoo, /stats and the summary table
 *   write     every rank writes its rows of one HDF5 file, collectively
 */
#ifndef FS_ANALYZE_H
#define FS_ANALYZE_H

#include <mpi.h>
#include <stdio.h>

#include "fs_commutator.h"
#include "fs_error.h"
#include "fs_spectral.h"
#include "fs_spectrum.h"

#define FS_MAX_EPS 16

typedef struct fs_analyze_opts {
  int kmax;                      /* singular triplets per matrix (capped by its shape) */
  double tau;                    /* relative tolerance of the numerical rank */
  fs_rank_policy rank_policy;    /* how k is chosen below kmax (SPEC 3.2; default fixed) */
  double rank_param;             /* F of the energy policy, T of the rank_tol policy */
  int full_spectrum;             /* 1: every singular value (dgesdd on the owner) and its statistics */
  fs_solver solver;              /* truncated SVD: auto (default), slepc or rsvd */
  int timing;                    /* 1: rank 0 logs every rank's stage times and peak memory */
  int neps;
  double eps_deg[FS_MAX_EPS];    /* angle tolerances of the intersection dimension */
  double head_threshold;         /* head pairs with an overlap above it are redundant (SPEC 3.9) */
  int no_heads;                  /* 1: no attention-head diagnostics (--no-heads) */
  int flag_table;                /* 1: dim_eps(i, j) for i, j <= 32 per pair (--flag-table) */
  fs_commutator_mode commutator; /* lowrank (default), exact or both (--commutator) */
  double align_ratio;            /* subspace-aligned: dim_eps / min(k, j) >= this at the median eps */
  double align_kappa;            /* basis-aligned: also kappa_rel <= this (SPEC 3.9) */
  const char *output;            /* HDF5 file */
  const char *command_line;      /* recorded as provenance */
  FILE *summary;                 /* rank 0 prints the summary table here; NULL: none */
  FILE *log;                     /* per-item errors; NULL: none */
  double mem_per_rank;           /* bytes per rank for one matrix; 0: no budget (fs_plan.h) */
  int schedule;                  /* fs_schedule: auto (default), lpt or dynamic */
  char *const *model_tags;       /* NULL, or per model its manifest tags ("seed=1 step=10") */
  struct fs_progress *progress;  /* NULL, or the progress reporter (src/fs_progress.h) */
} fs_analyze_opts;

void fs_analyze_defaults(fs_analyze_opts *o);

/* Analyse nmodels files.  Returns FS_ERR only when the run itself cannot go
 * on (the output cannot be written); a bad model is recorded in the output,
 * counted in *nfailed, and the others complete. Collective over comm. */
int fs_analyze(MPI_Comm comm, char *const *paths, int nmodels,
               const fs_analyze_opts *o, int *nfailed, fs_error *err);

#endif
