/*
 * fs_pair.h - diagnostics of two adjacent layers (SPEC 3.3 - 3.6).
 *
 * Layer l writes into a space S of dimension d and layer l+1 reads from it.
 * The writer brings U (d x k): its top-k left singular vectors and sigma_w, so
 * that its output Gram is B ~ U diag(sigma_w^2) U^T; the reader brings
 * V (d x j): its top-j right singular vectors and sigma_r, so that its input
 * Gram is A ~ V diag(sigma_r^2) V^T.  From these rank-k/j factors alone:
 *   - principal angles between span(U) and span(V), small ones in sine form
 *     (Knyazev & Argentati, SIAM J. Sci. Comput. 23 (2002) 2008-2040);
 *   - intersection dimensions dim_eps = #{theta_i <= eps};
 *   - overlap ||U^T V||_F^2 and its random-subspace expectation k j / d;
 *   - commutator magnitude kappa = ||AB - BA||_F / (sqrt 2 ||A||_F ||B||_F)
 *     (Boettcher & Wenzel, Linear Algebra Appl. 429 (2008) 1864-1885), and
 *     relative to its root-mean-square value when one basis is rotated at
 *     random (Haar measure; Collins & Sniady, Commun. Math. Phys. 264 (2006)
 *     773-795, for the orthogonal Weingarten moments);
 *   - balancedness ||A - B||_F / (||A||_F + ||B||_F).
 * kappa and balancedness are evaluated on the rank-k/j Grams ("low-rank
 * mode"); they equal the exact values when k and j are the full ranks.
 * docs/mathematics.md derives every formula.
 */
#ifndef FS_PAIR_H
#define FS_PAIR_H

#include "fs_error.h"

/* An orthonormal basis with the singular values that weight it. */
typedef struct fs_basis {
  int d, k;
  const double *vec;   /* d x k, column-major, orthonormal columns */
  const double *sigma; /* k singular values, descending */
} fs_basis;

typedef struct fs_pair_result {
  int d, k, j, q;        /* q = min(k, j) principal angles */
  double *theta;         /* q angles in radians, ascending */
  int neps;
  int *dim;              /* dim[e] = #{theta_i <= eps[e]} */
  double overlap;        /* ||U^T V||_F^2 */
  double overlap_random; /* k j / d */
  double kappa;          /* commutator magnitude, in [0, 1] */
  double kappa_random;   /* sqrt of E kappa^2 when one Gram is rotated by a Haar-random
                            orthogonal matrix (closed form, fs_kappa_random) */
  double kappa_rel;      /* kappa / kappa_random: 0 = one shared basis, ~1 = as
                            misaligned as a random rotation (0 when kappa_random is 0) */
  double balancedness;   /* in [0, 1] */
} fs_pair_result;

/* Principal angles between span(U) (d x k) and span(V) (d x j), ascending. */
int fs_principal_angles(int d, const double *U, int k, const double *V, int j,
                        double *theta, fs_error *err);

/* kappa and balancedness of A = V diag(a) V^T and B = U diag(b) U^T, where a
 * and b are the Gram eigenvalues (squared singular values). */
int fs_gram_pair(int d, const double *U, const double *b, int k,
                 const double *V, const double *a, int j, double *kappa,
                 double *balancedness, fs_error *err);

/* sqrt(E_O kappa^2) for B rotated to O B O^T by a Haar-random O in O(d), where
 * A and B have the eigenvalues a (j of them) and b (k), the rest zero.  From the
 * fourth moments of Haar orthogonal matrices (docs/mathematics.md, section 6). */
double fs_kappa_random(int d, const double *a, int j, const double *b, int k);
/* The same from the moments p1 = tr A, p2 = ||A||_F^2, q1 = tr B, q2 = ||B||_F^2
 * (exact mode knows the Grams, not their eigenvalues). */
double fs_kappa_random_moments(int d, double p1, double p2, double q1, double q2);

/* Everything above for one pair; eps in radians.  res is empty (safe to free)
 * after a failure. */
int fs_pair_compute(const fs_basis *writer, const fs_basis *reader,
                    const double *eps, int neps, fs_pair_result *res,
                    fs_error *err);
void fs_pair_result_free(fs_pair_result *res);

/* Intersection dimension of random subspaces: max(0, k + j - d). */
static inline int fs_pair_random_dim(const fs_pair_result *r) {
  return r->k + r->j > r->d ? r->k + r->j - r->d : 0;
}

#endif
