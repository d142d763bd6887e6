/*
 * fs_pair.c - principal angles, intersection dimensions, overlap, commutator
 * magnitude and balancedness of two adjacent layers from their truncated
 * singular factors (SPEC 3.3 - 3.6; docs/mathematics.md derives everything).
 *
 * Methods.
 *  - Principal angles: A. V. Knyazev, M. E. Argentati, "Principal angles
 *    between subspaces in an A-based scalar product", SIAM J. Sci. Comput. 23
 *    (2002) 2008-2040, Algorithm 3.1 for the Euclidean product: cosines are
 *    the singular values of M = U^T V, sines the singular values of
 *    P = X - Y (Y^T X) with X the smaller basis; an angle below pi/4 is taken
 *    from its sine (arcsin is well conditioned there, arccos is not: an angle
 *    of 1e-9 has cosine 1 - 5e-19 = 1 in double precision), one above pi/4
 *    from its cosine.  Also A. Bjorck, G. H. Golub, Math. Comp. 27 (1973)
 *    579-594.
 *  - Commutator and difference of the low-rank Grams A = V diag(a) V^T and
 *    B = U diag(b) U^T without d x d matrices: with the thin Householder QR
 *    [V U] = Q R (R is p x (j+k), p = min(d, j+k)),
 *        AB - BA = Q (E - E^T) Q^T,  E = R_V diag(a) G diag(b) R_U^T,
 *        A - B   = Q (R diag(a, -b) R^T) Q^T,   G = V^T U,
 *    and the Frobenius norm is unitarily invariant, so only the small cores
 *    are formed; Q is never built.  Every entry of the cores is an O(1)
 *    sum whose rounding error is O(u ||A|| ||B||), so kappa is accurate to
 *    O(u) absolutely, where the trace formula 2 tr(A^2 B^2) - 2 tr((AB)^2)
 *    cancels two O(||A||^2 ||B||^2) terms and leaves O(sqrt(u)).
 *    Bound: A. Boettcher, D. Wenzel, Linear Algebra Appl. 429 (2008)
 *    1864-1885.  QR: G. H. Golub, C. F. Van Loan, Matrix Computations, 4th
 *    ed., 5.2.
 *
 * LAPACK/BLAS through the checked wrappers of fs_lapack.h.
 */
#include "fs_pair.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fs_lapack.h"

#define FS_HALF_PI 1.5707963267948966

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

/* ------------------------------------------------------------------------ */
/* Argument checks                                                          */
/* ------------------------------------------------------------------------ */

static int check_basis(const char *what, int d, int k, const double *vec,
                       fs_error *err) {
  if (k < 0 || k > d)
    return fs_fail(err, "%s basis has %d vectors in dimension %d", what, k, d);
  if (k > 0 && !vec) return fs_fail(err, "%s basis has no data", what);
  for (size_t i = 0; i < (size_t)d * (size_t)k; i++)
    if (!isfinite(vec[i]))
      return fs_fail(err, "%s basis is not finite (entry %zu of vector %zu)",
                     what, i % (size_t)d, i / (size_t)d);
  return 0;
}

static int check_weights(const char *what, int k, const double *w,
                         fs_error *err) {
  if (k > 0 && !w) return fs_fail(err, "%s weights missing", what);
  for (int i = 0; i < k; i++)
    if (!isfinite(w[i]) || w[i] < 0.0)
      return fs_fail(err, "%s weight %d is %g (must be finite and >= 0)", what,
                     i, w[i]);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Principal angles                                                         */
/* ------------------------------------------------------------------------ */

static void sort_ascending(double *x, int len) {
  for (int i = 1; i < len; i++) {
    double v = x[i];
    int jj = i - 1;
    for (; jj >= 0 && x[jj] > v; jj--) x[jj + 1] = x[jj];
    x[jj + 1] = v;
  }
}

/* Angles from M = U^T V (k x j), already formed by the caller. */
static int angles_core(int d, const double *U, int k, const double *V, int j,
                       const double *M, double *theta, fs_error *err) {
  int q = imin(k, j);
  if (q == 0) return 0;
  int rc = FS_ERR;
  double *m = malloc(sizeof(double) * (size_t)k * j);
  double *p = malloc(sizeof(double) * (size_t)d * q);
  double *cs = malloc(sizeof(double) * (size_t)q);
  double *sn = malloc(sizeof(double) * (size_t)q);
  if (!m || !p || !cs || !sn) {
    fs_fail(err, "out of memory for principal angles (d = %d, q = %d)", d, q);
    goto done;
  }
  /* Cosines, descending. */
  memcpy(m, M, sizeof(double) * (size_t)k * j);
  if (fs_singular_values_cm(k, j, m, cs, err)) goto done;

  /* Sines: P = X - Y (Y^T X) with X the smaller basis; Y^T X is M or M^T. */
  if (k <= j) { /* X = U, Y = V, Y^T X = M^T */
    memcpy(p, U, sizeof(double) * (size_t)d * q);
    fs_gemm('N', 'T', d, k, j, -1.0, V, d, M, k, 1.0, p, d);
  } else { /* X = V, Y = U, Y^T X = M */
    memcpy(p, V, sizeof(double) * (size_t)d * q);
    fs_gemm('N', 'N', d, j, k, -1.0, U, d, M, k, 1.0, p, d);
  }
  if (fs_singular_values_cm(d, q, p, sn, err)) goto done; /* descending */

  /* The i-th largest cosine and the i-th smallest sine belong to the same
   * angle; each angle comes from the well-conditioned one of the two. */
  for (int i = 0; i < q; i++) {
    double c = fmin(cs[i], 1.0), s = fmin(sn[q - 1 - i], 1.0);
    theta[i] = c * c >= 0.5 ? asin(s) : acos(c);
    theta[i] = fmin(fmax(theta[i], 0.0), FS_HALF_PI);
  }
  sort_ascending(theta, q); /* only rounding at pi/4 could disturb the order */
  rc = 0;
done:
  free(m);
  free(p);
  free(cs);
  free(sn);
  return rc;
}

int fs_principal_angles(int d, const double *U, int k, const double *V, int j,
                        double *theta, fs_error *err) {
  if (d < 1) return fs_fail(err, "principal angles: dimension %d", d);
  FS_TRY(check_basis("first", d, k, U, err));
  FS_TRY(check_basis("second", d, j, V, err));
  if (imin(k, j) > 0 && !theta)
    return fs_fail(err, "principal angles: no output array");
  double *M = malloc(sizeof(double) * (size_t)imax(k * j, 1));
  if (!M) return fs_fail(err, "out of memory for principal angles");
  fs_gemm('T', 'N', k, j, d, 1.0, U, d, V, d, 0.0, M, k);
  int rc = angles_core(d, U, k, V, j, M, theta, err);
  free(M);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Commutator and balancedness of the low-rank Grams                        */
/* ------------------------------------------------------------------------ */

/* sqrt(sum w_i^2) for 0 <= w_i <= 1 (weights already scaled). */
static double norm_weights(const double *w, int k) {
  double s = 0.0;
  for (int i = 0; i < k; i++) s += w[i] * w[i];
  return sqrt(s);
}

/* ||X - X^T||_F for the p x p matrix x. */
static double antisym_norm(int p, const double *x) {
  double s = 0.0;
  for (int c = 0; c < p; c++)
    for (int i = 0; i < c; i++) {
      double t = x[i + (size_t)c * p] - x[c + (size_t)i * p];
      s += t * t;
    }
  return sqrt(2.0 * s);
}

static double fro_norm(size_t len, const double *x) {
  double s = 0.0;
  for (size_t i = 0; i < len; i++) s += x[i] * x[i];
  return sqrt(s);
}

/* ||R_V diag(a) G diag(b) R_U^T - (.)^T||_F with G = V^T U = M^T; r is the
 * p x (j+k) factor of [V U]. */
static int commutator_core(int p, const double *r, const double *a, int j,
                           const double *b, int k, const double *M,
                           double *cnorm, fs_error *err) {
  double *f = malloc(sizeof(double) * (size_t)imax(j * k, 1));
  double *t = malloc(sizeof(double) * (size_t)imax(j * p, 1));
  double *e = malloc(sizeof(double) * (size_t)p * p);
  if (!f || !t || !e) {
    free(f); free(t); free(e);
    return fs_fail(err, "out of memory for the commutator core (%d)", p);
  }
  for (int c = 0; c < k; c++) /* F(row, c) = a_row G(row, c) b_c, G(row,c) = M(c,row) */
    for (int row = 0; row < j; row++)
      f[row + (size_t)c * j] = a[row] * M[c + (size_t)row * k] * b[c];
  const double *rv = r, *ru = r + (size_t)j * p;
  fs_gemm('N', 'T', j, p, k, 1.0, f, j, ru, p, 0.0, t, j);  /* T = F R_U^T   */
  fs_gemm('N', 'N', p, p, j, 1.0, rv, p, t, j, 0.0, e, p);  /* E = R_V T     */
  *cnorm = antisym_norm(p, e);
  free(f); free(t); free(e);
  return 0;
}

/* ||R diag(a, -b) R^T||_F = ||A - B||_F. */
static int difference_core(int p, const double *r, const double *a, int j,
                           const double *b, int k, double *dnorm,
                           fs_error *err) {
  int nc = j + k;
  double *w = malloc(sizeof(double) * (size_t)p * nc);
  double *x = malloc(sizeof(double) * (size_t)p * p);
  if (!w || !x) {
    free(w); free(x);
    return fs_fail(err, "out of memory for the difference core (%d)", p);
  }
  for (int c = 0; c < nc; c++) {
    double s = c < j ? a[c] : -b[c - j];
    for (int i = 0; i < p; i++) w[i + (size_t)c * p] = r[i + (size_t)c * p] * s;
  }
  fs_gemm('N', 'T', p, p, nc, 1.0, w, p, r, p, 0.0, x, p);
  *dnorm = fro_norm((size_t)p * p, x);
  free(w); free(x);
  return 0;
}

/* kappa and balancedness from M = U^T V; a, b already scaled to max 1. */
static int gram_core(int d, const double *U, const double *b, int k,
                     const double *V, const double *a, int j, const double *M,
                     double *kappa, double *bal, fs_error *err) {
  double na = norm_weights(a, j), nb = norm_weights(b, k);
  if (na == 0.0 || nb == 0.0) {
    /* A zero Gram commutes with everything; balancedness is 0 when both are
     * zero (A = B) and exactly 1 when only one is (||A - B|| = ||A|| + 0). */
    *kappa = 0.0;
    *bal = (na == 0.0 && nb == 0.0) ? 0.0 : 1.0;
    return 0;
  }
  int nc = j + k, p = imin(d, nc), rc = FS_ERR;
  double *z = malloc(sizeof(double) * (size_t)d * nc);
  double *r = malloc(sizeof(double) * (size_t)p * nc);
  double cn = 0.0, dn = 0.0;
  if (!z || !r) {
    fs_fail(err, "out of memory for the Gram pair (d = %d, %d vectors)", d, nc);
    goto done;
  }
  memcpy(z, V, sizeof(double) * (size_t)d * j);
  memcpy(z + (size_t)d * j, U, sizeof(double) * (size_t)d * k);
  if (fs_qr_r(d, nc, z, r, err)) goto done;
  if (commutator_core(p, r, a, j, b, k, M, &cn, err)) goto done;
  if (difference_core(p, r, a, j, b, k, &dn, err)) goto done;
  /* Both ratios are <= 1 mathematically; clip the rounding. */
  *kappa = fmin(cn / (sqrt(2.0) * na * nb), 1.0);
  *bal = fmin(dn / (na + nb), 1.0);
  rc = 0;
done:
  free(z);
  free(r);
  return rc;
}

static double max_weight(const double *w, int k) {
  double m = 0.0;
  for (int i = 0; i < k; i++) m = fmax(m, w[i]);
  return m;
}

int fs_gram_pair(int d, const double *U, const double *b, int k,
                 const double *V, const double *a, int j, double *kappa,
                 double *balancedness, fs_error *err) {
  if (d < 1) return fs_fail(err, "Gram pair: dimension %d", d);
  FS_TRY(check_basis("writer", d, k, U, err));
  FS_TRY(check_basis("reader", d, j, V, err));
  FS_TRY(check_weights("writer", k, b, err));
  FS_TRY(check_weights("reader", j, a, err));
  /* Both ratios are invariant under a common scaling of A and B: scale the
   * largest weight to 1 so that nothing overflows or underflows. */
  double s = fmax(max_weight(a, j), max_weight(b, k));
  double *as = malloc(sizeof(double) * (size_t)imax(j, 1));
  double *bs = malloc(sizeof(double) * (size_t)imax(k, 1));
  double *M = malloc(sizeof(double) * (size_t)imax(k * j, 1));
  int rc = FS_ERR;
  if (!as || !bs || !M) {
    fs_fail(err, "out of memory for the Gram pair");
    goto done;
  }
  for (int i = 0; i < j; i++) as[i] = s > 0.0 ? a[i] / s : 0.0;
  for (int i = 0; i < k; i++) bs[i] = s > 0.0 ? b[i] / s : 0.0;
  fs_gemm('T', 'N', k, j, d, 1.0, U, d, V, d, 0.0, M, k);
  rc = gram_core(d, U, bs, k, V, as, j, M, kappa, balancedness, err);
done:
  free(as);
  free(bs);
  free(M);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* One pair                                                                 */
/* ------------------------------------------------------------------------ */

static int check_pair(const fs_basis *w, const fs_basis *r, const double *eps,
                      int neps, fs_error *err) {
  if (!w || !r) return fs_fail(err, "pair: missing basis");
  if (w->d != r->d)
    return fs_fail(err, "pair: writer writes into dimension %d but reader "
                        "reads from dimension %d", w->d, r->d);
  if (w->d < 1) return fs_fail(err, "pair: dimension %d", w->d);
  if (neps < 0 || (neps > 0 && !eps))
    return fs_fail(err, "pair: invalid list of %d angle tolerances", neps);
  FS_TRY(check_basis("writer", w->d, w->k, w->vec, err));
  FS_TRY(check_basis("reader", r->d, r->k, r->vec, err));
  FS_TRY(check_weights("writer singular value", w->k, w->sigma, err));
  FS_TRY(check_weights("reader singular value", r->k, r->sigma, err));
  return 0;
}

/* Squared singular values scaled by the common largest one (so that sigma
 * up to DBL_MAX squares without overflow; kappa and balancedness do not
 * change under a common scaling). */
static void scaled_squares(const double *sigma, int k, double s, double *w) {
  for (int i = 0; i < k; i++) {
    double t = s > 0.0 ? sigma[i] / s : 0.0;
    w[i] = t * t;
  }
}

/* With B' = O B O^T, O Haar on O(d), and A, B diagonal without loss of
 * generality (p_m = sum a_i^m, q_m = sum b_i^m):
 *   E tr(A^2 B'^2) = p2 q2 / d
 *   E tr(A B' A B') = (p2 q2 + p2 q1^2 + p1^2 q2) / (d (d+2))
 *                     - (p1^2 - p2)(q1^2 - q2) / ((d-1) d (d+2))
 * from E O_ij^4 = 3/(d(d+2)), E O_ij^2 O_il^2 = 1/(d(d+2)) (l != j; likewise
 * along a column) and E O_ij O_kj O_kl O_il = -1/((d-1)d(d+2)) (i != k, j != l),
 * and E ||[A, B']||_F^2 = 2 E tr(A^2 B'^2) - 2 E tr(A B' A B'). */
double fs_kappa_random(int d, const double *a, int j, const double *b, int k) {
  double p1 = 0, p2 = 0, q1 = 0, q2 = 0;
  for (int i = 0; i < j; i++) p1 += a[i], p2 += a[i] * a[i];
  for (int i = 0; i < k; i++) q1 += b[i], q2 += b[i] * b[i];
  return fs_kappa_random_moments(d, p1, p2, q1, q2);
}

double fs_kappa_random_moments(int d, double p1, double p2, double q1, double q2) {
  double dd = d;
  if (d < 2 || p2 == 0.0 || q2 == 0.0) return 0.0;
  /* Scale both spectra to unit 2-norm: kappa does not depend on it, and the
   * sums below stay of order one. */
  double sa = sqrt(p2), sb = sqrt(q2);
  p1 /= sa, q1 /= sb;
  double e_a2b2 = 1.0 / dd;
  double e_abab = (1.0 + q1 * q1 + p1 * p1) / (dd * (dd + 2)) -
                  (p1 * p1 - 1.0) * (q1 * q1 - 1.0) / ((dd - 1) * dd * (dd + 2));
  double c2 = 2.0 * e_a2b2 - 2.0 * e_abab; /* E ||C||^2 / (||A||^2 ||B||^2) */
  return c2 > 0.0 ? sqrt(c2 / 2.0) : 0.0;
}

static int pair_fill(const fs_basis *w, const fs_basis *r, const double *eps,
                     int neps, fs_pair_result *res, double *M, double *a,
                     double *b, fs_error *err) {
  int d = w->d, k = w->k, j = r->k;
  const double *U = w->vec, *V = r->vec;
  fs_gemm('T', 'N', k, j, d, 1.0, U, d, V, d, 0.0, M, k);
  res->overlap = 0.0;
  for (size_t i = 0; i < (size_t)k * j; i++) res->overlap += M[i] * M[i];
  res->overlap_random = (double)k * (double)j / (double)d;
  FS_TRY(angles_core(d, U, k, V, j, M, res->theta, err));
  for (int e = 0; e < neps; e++) {
    int c = 0;
    while (c < res->q && res->theta[c] <= eps[e]) c++;
    res->dim[e] = c;
  }
  double s = fmax(max_weight(w->sigma, k), max_weight(r->sigma, j));
  scaled_squares(r->sigma, j, s, a);
  scaled_squares(w->sigma, k, s, b);
  FS_TRY(gram_core(d, U, b, k, V, a, j, M, &res->kappa, &res->balancedness, err));
  res->kappa_random = fs_kappa_random(d, a, j, b, k);
  res->kappa_rel = res->kappa_random > 0.0 ? res->kappa / res->kappa_random : 0.0;
  return 0;
}

int fs_pair_compute(const fs_basis *writer, const fs_basis *reader,
                    const double *eps, int neps, fs_pair_result *res,
                    fs_error *err) {
  memset(res, 0, sizeof *res);
  FS_TRY(check_pair(writer, reader, eps, neps, err));
  int d = writer->d, k = writer->k, j = reader->k, q = imin(k, j);
  res->d = d;
  res->k = k;
  res->j = j;
  res->q = q;
  res->neps = neps;
  res->theta = calloc((size_t)imax(q, 1), sizeof *res->theta);
  res->dim = calloc((size_t)imax(neps, 1), sizeof *res->dim);
  double *M = malloc(sizeof(double) * (size_t)imax(k * j, 1));
  double *a = calloc((size_t)imax(j, 1), sizeof(double));
  double *b = calloc((size_t)imax(k, 1), sizeof(double));
  int rc;
  if (!res->theta || !res->dim || !M || !a || !b)
    rc = fs_fail(err, "out of memory for pair (d = %d, k = %d, j = %d)", d, k, j);
  else
    rc = pair_fill(writer, reader, eps, neps, res, M, a, b, err);
  free(M);
  free(a);
  free(b);
  if (rc) fs_pair_result_free(res);
  return rc;
}

void fs_pair_result_free(fs_pair_result *res) {
  if (!res) return;
  free(res->theta);
  free(res->dim);
  memset(res, 0, sizeof *res);
}
