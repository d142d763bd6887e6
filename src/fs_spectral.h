/*
 * fs_spectral.h - statistics of a spectrum of singular values (SPEC 3.1, 3.2):
 * the rank policies that choose k, the effective (entropy) rank and the
 * heavy-tail exponent of the squared singular values.  Pure functions of the
 * values, except fs_singular_values (LAPACK).  docs/mathematics.md has the
 * definitions and the references.
 */
#ifndef FS_SPECTRAL_H
#define FS_SPECTRAL_H

#include "fs_error.h"

/* ---- rank policies (SPEC 3.2) --------------------------------------------- */

typedef enum {
  FS_RANK_FIXED,  /* k = k_max (capped by the shape) */
  FS_RANK_ENERGY, /* smallest k with sum_{i<=k} sigma_i^2 >= F ||W||_F^2 */
  FS_RANK_TOL     /* #{i : sigma_i > T sigma_1}, at least 1 */
} fs_rank_policy;

/* "fixed", "energy" or "rank_tol". */
const char *fs_rank_policy_name(fs_rank_policy p);

typedef struct fs_rank_choice {
  int k;      /* values the policy keeps, 1 <= k <= held */
  int capped; /* 1: the held values do not satisfy the policy and held < mn */
} fs_rank_choice;

/* The policy's k among the held leading singular values sigma[0..held)
 * (descending, held >= 1) of a matrix with min(shape) = mn and Frobenius norm
 * fro.  param is F for FS_RANK_ENERGY, T for FS_RANK_TOL, unused for
 * FS_RANK_FIXED.  When the policy is not satisfied within the held values and
 * more exist (held < mn), k = held and capped = 1: the cap was hit.
 * The energy test allows the rounding of a sum of mn squares (a relative
 * 8 mn eps of ||W||_F^2), so that F = 1 is reached at the numerical rank. */
void fs_rank_choose(fs_rank_policy p, double param, const double *sigma, int held,
                    int mn, double fro, fs_rank_choice *c);

/* sum_{i<k} sigma_i^2 / fro^2: the energy fraction of the top k; 1 for the
 * zero matrix (nothing is missed). */
double fs_energy_fraction(const double *sigma, int k, double fro);

/* ---- full spectrum ----------------------------------------------------------- */

/* Every singular value (descending, min(m, n) of them) of the m x n row-major
 * matrix W, which is destroyed (LAPACK dgesdd, JOBZ = 'N', on the transpose
 * that the row-major array is to LAPACK: the same values). */
int fs_singular_values(double *W, int m, int n, double *s, fs_error *err);

/* Effective rank exp(H(p)), H the Shannon entropy (natural log, 0 ln 0 = 0)
 * of p_i = sigma_i^power / sum_j sigma_j^power over n values.  power = 2 is
 * what flagscope reports: Roy & Vetterli's effective rank (EUSIPCO 2007) of the
 * Gram W^T W, whose singular values are sigma_i^2; power = 1 is their rank of
 * W itself.  0 for an all-zero spectrum. */
double fs_entropy_rank(const double *sigma, int n, int power);

/* ---- power-law tail ------------------------------------------------------------ */

/* Smallest tail fs_powerlaw_fit considers. */
#define FS_POWERLAW_MIN_TAIL 10

typedef struct fs_powerlaw {
  double alpha; /* density exponent: p(x) ~ x^-alpha for x >= xmin */
  double xmin;  /* start of the tail */
  double ks;    /* Kolmogorov-Smirnov distance of the tail to the fit */
  int ntail;    /* samples x_i >= xmin */
} fs_powerlaw;

/* Continuous power-law fit of Clauset, Shalizi & Newman (SIAM Review 51,
 * 2009): for each distinct sample value as xmin with at least min_tail
 * samples in its tail, the maximum-likelihood exponent
 *   alpha = 1 + n_tail / sum_{x_i >= xmin} ln(x_i / xmin),
 * and the KS distance sup_x |S(x) - P(x)| between the empirical CDF S of the
 * tail and P(x) = 1 - (x / xmin)^(1 - alpha); the xmin of least distance wins
 * (the smallest on a tie).  Samples that are not finite and > 0 are ignored.
 * O(n^2) time, O(n) memory.  Returns 0, or FS_ERR if no candidate exists (fewer
 * than min_tail positive samples, or all equal) or memory runs out; fit is
 * then NaN / 0. */
int fs_powerlaw_fit(const double *x, int n, int min_tail, fs_powerlaw *fit);

/* ---- per matrix ------------------------------------------------------------------ */

/* What a run records per matrix beyond fs_matrix_stats (filled by its owner). */
typedef struct fs_matrix_spectral {
  int capped;            /* 1: the rank policy wanted more than the k_max computed */
  double energy;         /* fs_energy_fraction of the k kept */
  int nfull;             /* values in sigma_full: min(shape) in full-spectrum mode, else 0 */
  double *sigma_full;    /* every singular value, descending (owned) */
  double effective_rank; /* fs_entropy_rank(sigma_full, nfull, 2); NaN without it */
  fs_powerlaw tail;      /* fit of sigma_full^2 / max(shape); NaN / 0 without it */
} fs_matrix_spectral;

#endif
