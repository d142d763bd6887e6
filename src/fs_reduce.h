/*
 * fs_reduce.h - model-wide statistics of a run (SPEC 3.9), reduced to rank 0.
 *
 * For every model and pair type, and for every per-pair quantity
 *   ratio (one per eps)   dim_eps / min(k, j), the intersection ratio
 *   ratio_random          max(0, k + j - d) / min(k, j), its random baseline
 *   overlap_rel           ||U^T V||_F^2 / (k j / d)
 *   kappa, kappa_rel      the commutator and its random-rotation-relative form
 *   balancedness
 * the count of finite values, mean, min, max, the quantiles 10/25/50/75/90 %
 * (linear interpolation between order statistics: numpy's default, Hyndman-
 * Fan type 7) and the depth profile (the mean per block, blocks ascending;
 * pairs without a block, block -1, are left out of the profile only).
 * Per model and pair type also: the fraction of pairs that are subspace-aligned
 * (ratio at the alignment eps >= align_ratio) and, of those, the fraction also
 * basis-aligned (kappa_rel <= align_kappa).  docs/mathematics.md has the formulas.
 *
 * Parallel: every pair owner packs (pair, type, block, values) of its pairs;
 * the records are gathered to rank 0 (MPI_Gatherv) one chunk of whole models
 * at a time, so rank 0 holds at most max(FS_REDUCE_CHUNK, largest model's
 * pairs) records at once.  Rank 0 orders them by pair index before summing, so
 * the statistics do not depend on the number of ranks (bit for bit).
 *
 * Head redundancy (SPEC 3.9): per model and overlap kind, the mean over its
 * blocks of the mean off-diagonal overlap and the sum of the redundant head
 * pairs (fs_heads computes both per block), gathered the same way.
 */
#ifndef FS_REDUCE_H
#define FS_REDUCE_H

#include "fs_run.h"

#define FS_NQUANT 5 /* 10, 25, 50, 75, 90 % */
#define FS_REDUCE_CHUNK (1 << 18)

extern const double fs_quantile_levels[FS_NQUANT];

typedef enum { FS_ST_RANDOM, FS_ST_OVERLAP, FS_ST_KAPPA, FS_ST_KREL, FS_ST_BAL, FS_ST_RATIO0 } fs_stat_index;

typedef struct fs_stat_summary {
  int64_t count;          /* finite values */
  double mean, min, max;  /* NaN when count is 0 */
  double q[FS_NQUANT];
  int nblocks;            /* depth profile: mean of the values of each block */
  int64_t *block;
  double *profile;
} fs_stat_summary;

typedef struct fs_type_summary {
  int64_t npairs;               /* pairs computed (failed ones are not counted) */
  int64_t n_subspace, n_basis;  /* subspace-aligned; of those, also basis-aligned */
  fs_stat_summary *stat;        /* nstat entries, NULL when npairs is 0 */
} fs_type_summary;

/* Head redundancy of a model (SPEC 3.9) from its blocks' overlap matrices
 * (fs_heads): per kind the sum over blocks of mean_offdiag (n[k] finite ones)
 * and of n_redundant. */
typedef struct fs_head_summary {
  int blocks;                         /* head blocks computed */
  int n[FS_HEAD_NKINDS];
  double overlap[FS_HEAD_NKINDS];     /* sum; the mean is overlap / n */
  int64_t redundant[FS_HEAD_NKINDS];
} fs_head_summary;

typedef struct fs_zoo_stats {
  int nmodels, neps, nstat;     /* nstat = FS_ST_RATIO0 + neps */
  int align_eps;                /* index of the eps the alignment fractions use */
  double align_ratio, align_kappa;
  fs_type_summary (*model)[FS_PAIR_NTYPES];
  fs_head_summary *heads;       /* per model */
} fs_zoo_stats;

/* Name of statistic s ("ratio" for every eps). */
const char *fs_stat_name(int s);

/* The eps index the alignment uses: the median of the eps values given. */
int fs_align_eps_index(const double *eps, int neps);

/* Quantile p in [0, 1] of n >= 1 sorted values (linear interpolation). */
double fs_quantile_sorted(const double *x, int64_t n, double p);

/* Collective.  On rank 0 *out receives the statistics (fs_zoo_stats_free);
 * on the other ranks *out is NULL.  Fails on every rank or on none. */
int fs_reduce_models(const fs_run *R, fs_zoo_stats **out, fs_error *err);
void fs_zoo_stats_free(fs_zoo_stats *z);

/* Fraction helpers shared by the table writers: NaN when undefined. */
double fs_zoo_frac_subspace(const fs_type_summary *t);
double fs_zoo_frac_basis(const fs_type_summary *t);

/* The file name, with its folder when the name is Hugging Face's generic
 * "model*.safetensors" (the folder names the model there). */
const char *fs_display_name(const char *path);

/* Rank 0: print the summary table.  Every rank: *nfailed = models not "ok". */
int fs_reduce_report(const fs_run *R, const fs_zoo_stats *z, FILE *f, int *nfailed);

#endif
