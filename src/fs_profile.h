/*
 * fs_profile.h - intersection dimensions along the flags of two bases
 * (SPEC 3.4): the profile dim_eps(s, s) for s on a geometric grid up to
 * min(k, j), and the optional flag table dim_eps(i, j') for i, j' <= 32.
 *
 * The writer's U (d x k) and the reader's V (d x j) hold singular vectors in
 * descending order of singular value, so U_i = the first i columns of U is the
 * writer's top-i subspace: every entry comes from the leading columns of the
 * bases already held, never from a new SVD of W.  U_i^T V_j' is the leading
 * i x j' block of M = U^T V, and the sines come from the R factors of the two
 * complements (I - V V^T) U and (I - U U^T) V, so every (i, j') costs one
 * SVD of an i x j' block and one of at most (i + j) x i (docs/mathematics.md,
 * section 4.1).
 */
#ifndef FS_PROFILE_H
#define FS_PROFILE_H

#include "fs_error.h"

/* What the angles between any leading columns need; U and V are borrowed. */
typedef struct fs_leading {
  int d, k, j;
  int pe, pf;  /* rows of RE (min(d, k)) and RF (min(d, j)) */
  double *M;   /* k x j, U^T V */
  double *RE;  /* pe x k, R of (I - V V^T) U */
  double *RF;  /* pf x j, R of (I - U U^T) V */
} fs_leading;

int fs_leading_init(int d, const double *U, int k, const double *V, int j, fs_leading *L,
                    fs_error *err);
void fs_leading_free(fs_leading *L);

/* The min(i, jj) principal angles between span(U_i) and span(V_jj),
 * ascending, 1 <= i <= k, 1 <= jj <= j. */
int fs_leading_angles(const fs_leading *L, int i, int jj, double *theta, fs_error *err);

/* Grid of the profile for q = min(k, j): 1, 2, 4, ... below q, then q. */
int fs_profile_grid(int q, int *s);
#define FS_PROFILE_MAX 40 /* grid points for any q < 2^31 */

typedef struct fs_profile {
  int n, neps;           /* grid points, tolerances */
  int s[FS_PROFILE_MAX]; /* k = j = s at point g */
  int *dim;              /* n x neps: dim[g * neps + e] = dim_eps(s_g, s_g) */
  int *dim_random;       /* max(0, 2 s - d) */
  double *overlap;       /* ||U_s^T V_s||_F^2 */
  double *overlap_random; /* s^2 / d */
} fs_profile;

int fs_profile_compute(const fs_leading *L, const double *eps, int neps, fs_profile *p,
                       fs_error *err);
void fs_profile_free(fs_profile *p);

/* The flag table: m = min(FS_FLAG_MAX, k, j); dim[(e m + i - 1) m + jj - 1] =
 * dim_eps[e](i, jj) for 1 <= i, jj <= m (i counts writer vectors, jj reader
 * vectors). */
#define FS_FLAG_MAX 32
typedef struct fs_flag_table {
  int m, neps;
  int *dim;
} fs_flag_table;

int fs_flag_table_compute(const fs_leading *L, const double *eps, int neps, fs_flag_table *t,
                          fs_error *err);
void fs_flag_table_free(fs_flag_table *t);

#endif
