/*
 * fs_pair_extra.h - the diagnostics of a pair beyond fs_pair_result, computed
 * by the pair's owner after fs_pair_compute: the intersection-dimension
 * profile (always), the flag table (--flag-table) and the exact commutator
 * (--commutator exact|both), which reads both full matrices (fs_load_matrix).
 */
#ifndef FS_PAIR_EXTRA_H
#define FS_PAIR_EXTRA_H

#include <stdint.h>

#include "fs_commutator.h"
#include "fs_pair.h"
#include "fs_profile.h"

typedef struct fs_pair_extra {
  fs_profile profile;
  fs_flag_table flags; /* m = 0 unless requested */
  int exact_done;      /* 1: exact holds the exact-mode values */
  fs_commutator exact;
} fs_pair_extra;

struct fs_run;

/* Everything above for global pair p, whose bases are w and r and whose
 * low-rank result is res; in exact mode res's kappa, kappa_random, kappa_rel
 * and balancedness are replaced by the exact ones.  x is empty after a
 * failure. */
int fs_pair_extra_compute(const struct fs_run *R, int64_t p, const fs_basis *w,
                          const fs_basis *r, const double *eps, fs_pair_result *res,
                          fs_pair_extra *x, fs_error *err);
void fs_pair_extra_free(fs_pair_extra *x);

/* The exact commutators of the pairs whose shared space has dimension d >=
 * fs_pair_extra_dist_min_d() (in a run of more than one rank), which
 * fs_pair_extra_compute leaves out: one after the other, each on a
 * sub-communicator of up to fs_pair_extra_dist_ranks() ranks led by the pair's
 * owner, with ScaLAPACK (fs_commutator_dist).  Collective over the run; a
 * failure fails the pair on its owner (pdone 0, reason recorded), to be run
 * before the pairs are agreed. */
void fs_pair_extra_exact_distributed(struct fs_run *R);

/* The PETSc options -fs_exact_dist_min_d (default 4096) and
 * -fs_exact_dist_ranks (default 64). */
int fs_pair_extra_dist_min_d(void);
int fs_pair_extra_dist_ranks(void);

/* Grid points of pair p's profile, from the agreed k and j (same on every rank). */
int fs_pair_extra_profile_len(const struct fs_run *R, int64_t p);
/* Side m of pair p's flag table (0 without --flag-table or for a failed pair). */
int fs_pair_extra_flag_side(const struct fs_run *R, int64_t p);

#endif
