/*
 * fs_reduce.h - model-wide statistics of a run, reduced to rank 0.
 *
 * Per model and pair type: the number of pairs and the means of the
 * intersection ratio dim_eps / min(k, j) at every eps and of its random
 * baseline max(0, k + j - d) / min(k, j), of the overlap
 * relative to its random expectation, of kappa and of kappa relative to its
 * random-rotation value, and of balancedness.  Pair
 * owners add their pairs into one array that is summed onto rank 0
 * (MPI_Reduce), so the cost is one message of models x types x fields.
 */
#ifndef FS_REDUCE_H
#define FS_REDUCE_H

#include "fs_run.h"

typedef struct fs_model_summary {
  int npairs[FS_PAIR_NTYPES];
  double ratio[FS_PAIR_NTYPES][FS_MAX_EPS]; /* mean dim_eps / min(k, j) */
  double random_ratio[FS_PAIR_NTYPES];      /* mean max(0, k + j - d) / min(k, j) */
  double overlap_rel[FS_PAIR_NTYPES];       /* mean ||U^T V||_F^2 / (k j / d) */
  double kappa[FS_PAIR_NTYPES];
  double kappa_rel[FS_PAIR_NTYPES];         /* mean kappa / kappa_random */
  double balancedness[FS_PAIR_NTYPES];
} fs_model_summary;

/* Collective.  On rank 0 *out receives one summary per model (caller frees);
 * on the other ranks *out is NULL. */
int fs_reduce_models(const fs_run *R, fs_model_summary **out, fs_error *err);

/* Rank 0: print the summary table.  Every rank: *nfailed = models not "ok". */
int fs_reduce_report(const fs_run *R, const fs_model_summary *sum, FILE *f,
                     int *nfailed);

#endif
