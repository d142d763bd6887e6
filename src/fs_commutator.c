/*
 * fs_commutator.c - exact commutator magnitude and balancedness from the full
 * matrices (fs_commutator.h; docs/mathematics.md, section 6.2).
 *
 * Methods.  Dense: A = I I^T and B = O O^T by dsyrk, P = A B by dgemm, and
 * since A and B are symmetric, B A = P^T, so ||AB - BA||_F = ||P - P^T||_F.
 * Factor: Z = [I O] = Q R (dgeqrf; Golub & Van Loan, Matrix Computations,
 * 4th ed., 5.2), R = [R_I R_O]; then A B - B A = Q (E - E^T) Q^T with
 * E = R_I (R_I^T R_O) R_O^T and A - B = Q (R_I R_I^T - R_O R_O^T) Q^T, and the
 * Frobenius norm ignores Q.  The trace identity
 * ||C||_F^2 = 2 tr(G_I M G_O M^T) - 2 ||M^T M||_F^2 (M = I^T O, G_I = I^T I,
 * G_O = O^T O) costs less still but cancels: it leaves an absolute error of
 * O(sqrt(u)) in kappa (docs/mathematics.md, section 6), so it is not used.
 * Bound kappa <= 1: Boettcher & Wenzel, Linear Algebra Appl. 429 (2008) 1864-1885.
 */
#include "fs_commutator.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs_lapack.h"
#include "fs_pair.h"

static int imin(int a, int b) { return a < b ? a : b; }

const char *fs_commutator_mode_name(fs_commutator_mode m) {
  return m == FS_COMMUTATOR_EXACT ? "exact" : m == FS_COMMUTATOR_BOTH ? "both" : "lowrank";
}

int fs_commutator_mode_parse(const char *s, fs_commutator_mode *m) {
  if (!strcmp(s, "lowrank")) *m = FS_COMMUTATOR_LOWRANK;
  else if (!strcmp(s, "exact")) *m = FS_COMMUTATOR_EXACT;
  else if (!strcmp(s, "both")) *m = FS_COMMUTATOR_BOTH;
  else return FS_ERR;
  return 0;
}

double fs_commutator_flops(int d, int n1, int n2, fs_gram_path path) {
  double D = d, a = n1, b = n2, n = a + b, p = imin(d, n1 + n2);
  if (path == FS_GRAM_DENSE) return D * D * n + 2.0 * D * D * D;
  double qr = n <= D ? 2.0 * D * n * n - 2.0 / 3.0 * n * n * n : 2.0 * n * D * D - 2.0 / 3.0 * D * D * D;
  return qr + 4.0 * p * a * b + 2.0 * p * p * a + 2.0 * p * p * n;
}

/* Element (r, c) of the d x n view of a factor. */
static double fget(const fs_factor *f, int r, int c) {
  return f->trans ? f->a[c + (size_t)r * f->n] : f->a[r + (size_t)c * f->d];
}

static double fro(size_t len, const double *x) {
  double s = 0.0;
  for (size_t i = 0; i < len; i++) s += x[i] * x[i];
  return sqrt(s);
}

/* Moments of a Gram X X^T: trace ||X||_F^2 and ||X X^T||_F (= its p_1, p_2^(1/2)). */
typedef struct gram_norms {
  double na, nb, ndiff, ncomm, p1, q1;
} gram_norms;

/* X X^T into the d x d array g (both triangles). */
static void gram_dense(const fs_factor *f, double scale, double *g) {
  int d = f->d, n = f->n;
  double alpha = scale * scale, beta = 0.0;
  if (n > 0)
    dsyrk_("L", f->trans ? "T" : "N", &d, &n, &alpha, f->a, f->trans ? &n : &d, &beta, g, &d, 1, 1);
  else
    memset(g, 0, sizeof *g * (size_t)d * d);
  for (int c = 0; c < d; c++)
    for (int r = 0; r < c; r++) g[r + (size_t)c * d] = g[c + (size_t)r * d];
}

static int exact_dense(const fs_factor *I, const fs_factor *O, double scale, gram_norms *g,
                       fs_error *err) {
  int d = I->d;
  size_t dd = (size_t)d * d;
  double *A = malloc(sizeof *A * dd), *B = malloc(sizeof *B * dd), *P = malloc(sizeof *P * dd);
  if (!A || !B || !P) {
    free(A), free(B), free(P);
    return fs_fail(err, "out of memory for three %d x %d Grams (exact commutator)", d, d);
  }
  gram_dense(I, scale, A);
  gram_dense(O, scale, B);
  fs_gemm('N', 'N', d, d, d, 1.0, A, d, B, d, 0.0, P, d);
  double sc = 0.0, sd = 0.0;
  g->p1 = g->q1 = 0.0;
  for (int c = 0; c < d; c++) {
    g->p1 += A[c + (size_t)c * d], g->q1 += B[c + (size_t)c * d];
    for (int r = 0; r < c; r++) {
      double t = P[r + (size_t)c * d] - P[c + (size_t)r * d];
      sc += t * t;
    }
  }
  for (size_t i = 0; i < dd; i++) sd += (A[i] - B[i]) * (A[i] - B[i]);
  g->ncomm = sqrt(2.0 * sc), g->ndiff = sqrt(sd), g->na = fro(dd, A), g->nb = fro(dd, B);
  free(A), free(B), free(P);
  return 0;
}

static int exact_factor(const fs_factor *I, const fs_factor *O, double scale, gram_norms *g,
                        fs_error *err) {
  int d = I->d, n2 = I->n, n1 = O->n, n = n1 + n2, p = imin(d, n);
  double *z = malloc(sizeof *z * (size_t)d * n), *r = malloc(sizeof *r * (size_t)p * n);
  double *t1 = malloc(sizeof *t1 * ((size_t)n2 * n1 + 1)), *t2 = malloc(sizeof *t2 * ((size_t)p * n1 + 1));
  double *e = malloc(sizeof *e * (size_t)p * p), *x = malloc(sizeof *x * (size_t)p * p);
  int rc = 0;
  if (!z || !r || !t1 || !t2 || !e || !x) {
    rc = fs_fail(err, "out of memory for the exact commutator through [I O] (%d x %d)", d, n);
    goto done;
  }
  for (int c = 0; c < n; c++)
    for (int i = 0; i < d; i++)
      z[i + (size_t)c * d] = scale * (c < n2 ? fget(I, i, c) : fget(O, i, c - n2));
  if ((rc = fs_qr_r(d, n, z, r, err))) goto done;
  const double *ri = r, *ro = r + (size_t)p * n2;
  fs_gemm('T', 'N', n2, n1, p, 1.0, ri, p, ro, p, 0.0, t1, n2);  /* R_I^T R_O */
  fs_gemm('N', 'N', p, n1, n2, 1.0, ri, p, t1, n2, 0.0, t2, p);  /* R_I (.)  */
  fs_gemm('N', 'T', p, p, n1, 1.0, t2, p, ro, p, 0.0, e, p);     /* (.) R_O^T */
  double sc = 0.0;
  for (int c = 0; c < p; c++)
    for (int i = 0; i < c; i++) {
      double t = e[i + (size_t)c * p] - e[c + (size_t)i * p];
      sc += t * t;
    }
  g->ncomm = sqrt(2.0 * sc);
  fs_gemm('N', 'T', p, p, n2, 1.0, ri, p, ri, p, 0.0, e, p);     /* A core */
  fs_gemm('N', 'T', p, p, n1, 1.0, ro, p, ro, p, 0.0, x, p);     /* B core */
  g->na = fro((size_t)p * p, e), g->nb = fro((size_t)p * p, x);
  g->p1 = g->q1 = 0.0;
  for (int c = 0; c < p; c++) g->p1 += e[c + (size_t)c * p], g->q1 += x[c + (size_t)c * p];
  for (size_t i = 0; i < (size_t)p * p; i++) e[i] -= x[i];
  g->ndiff = fro((size_t)p * p, e);
done:
  free(z), free(r), free(t1), free(t2), free(e), free(x);
  return rc;
}

/* A power of two bringing the larger factor norm near 1, so that the Gram
 * entries neither overflow nor underflow (kappa and balancedness are
 * invariant under a common scaling of A and B). */
static double common_scale(const fs_factor *I, const fs_factor *O) {
  double m = 0.0;
  const fs_factor *f[2] = {I, O};
  for (int t = 0; t < 2; t++)
    for (size_t i = 0; i < (size_t)f[t]->d * f[t]->n; i++) m = fmax(m, fabs(f[t]->a[i]));
  if (m == 0.0) return 1.0;
  int e;
  frexp(m, &e);
  return ldexp(1.0, -e);
}

static int check_factor(const char *what, const fs_factor *f, fs_error *err) {
  if (f->d < 1 || f->n < 0 || (f->n > 0 && !f->a))
    return fs_fail(err, "exact commutator: %s factor is %d x %d", what, f->d, f->n);
  for (size_t i = 0; i < (size_t)f->d * f->n; i++)
    if (!isfinite(f->a[i]))
      return fs_fail(err, "exact commutator: %s matrix has a non-finite entry", what);
  return 0;
}

int fs_commutator_exact(const fs_factor *I, const fs_factor *O, fs_gram_path path,
                        fs_commutator *res, fs_error *err) {
  memset(res, 0, sizeof *res);
  FS_TRY(check_factor("reader", I, err));
  FS_TRY(check_factor("writer", O, err));
  if (I->d != O->d)
    return fs_fail(err, "exact commutator: writer writes into dimension %d, reader reads %d",
                   O->d, I->d);
  if (path == FS_GRAM_AUTO)
    path = fs_commutator_flops(I->d, O->n, I->n, FS_GRAM_FACTOR) <
                   fs_commutator_flops(I->d, O->n, I->n, FS_GRAM_DENSE)
               ? FS_GRAM_FACTOR : FS_GRAM_DENSE;
  gram_norms g = {0, 0, 0, 0, 0, 0};
  double s = common_scale(I, O);
  FS_TRY(path == FS_GRAM_DENSE ? exact_dense(I, O, s, &g, err) : exact_factor(I, O, s, &g, err));
  res->path = path;
  if (g.na == 0.0 || g.nb == 0.0) { /* as fs_gram_pair: a zero Gram commutes with everything */
    res->balancedness = (g.na == 0.0 && g.nb == 0.0) ? 0.0 : 1.0;
    return 0;
  }
  res->kappa = fmin(g.ncomm / (sqrt(2.0) * g.na * g.nb), 1.0);
  res->balancedness = fmin(g.ndiff / (g.na + g.nb), 1.0);
  res->kappa_random = fs_kappa_random_moments(I->d, g.p1, g.na * g.na, g.q1, g.nb * g.nb);
  res->kappa_rel = res->kappa_random > 0.0 ? res->kappa / res->kappa_random : 0.0;
  return 0;
}
