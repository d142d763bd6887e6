/*
 * fs_spectrum.c - top-k singular triplets of one weight matrix with SLEPc.
 *
 * Method.  A row-major m x n array is, byte for byte, the column-major n x m
 * array of W^T, so W is wrapped without a copy as the sequential dense PETSc
 * matrix A = W^T (MatCreateSeqDense with the caller's storage).  Since
 * W^T = V S U^T, SLEPc's left singular vectors of A are the right singular
 * vectors of W and vice versa.  The transpose SLEPc needs for the products
 * with A^T is kept implicit (SVDSetImplicitTranspose): a dense MatMultTranspose
 * costs the same as MatMult, and an explicit transpose doubles the memory of
 * the largest work item and, measured, the time (docs/benchmarks.md).
 *
 * Solver: fs_spectrum_default_solver (measured; docs/benchmarks.md), set
 * before SVDSetFromOptions so that -svd_type and every other -svd_ option
 * override it.
 *
 * Accuracy.  Tolerance FS_SVD_TOL = 1e-12 on the residual
 *   r_i = sqrt(||W v_i - s_i u_i||^2 + ||W^T u_i - s_i v_i||^2),
 * which bounds |s_i - sigma_i| <= r_i (Weyl), so the singular values are
 * accurate to ~1e-12 relative (in practice much better: the error is
 * quadratic in r_i away from clusters).  SLEPc's default relative test,
 * r_i <= tol s_i, can never accept a zero singular value, so the Lanczos
 * solvers get the test r_i <= tol max(s_i, FS_SVD_FLOOR ||W||_F): relative
 * above 1e-3 ||W||_F and absolute (1e-15 ||W||_F, a few ulps of ||W||_2)
 * below it, where no backward-stable method can do better anyway (zero
 * singular values, from dead units, are then accepted).  The cross/cyclic
 * solvers only support SLEPc's built-in tests and keep the relative one.
 *
 * Robustness.  SLEPc 3.18's Lanczos bidiagonalisation can stagnate when its
 * subspace exceeds the rank of W; when the default solver fails and no
 * solver was named in the options, the cross-product solver is tried.
 * Every result is checked for orthonormal U and V; the vectors of
 * numerically zero singular values, which cross/cyclic get from W v / |W v|,
 * are completed to an orthonormal set (valid: any unit vector orthogonal to
 * the leading ones is a singular vector for sigma = 0).
 *
 * Determinism.  Objects are created and destroyed per call, so every solve
 * starts from the same initial vector whatever was solved before on the
 * rank; each singular pair is given a sign (largest-magnitude entry of u_i
 * positive, first one on ties).
 *
 * References: V. Hernandez, J. E. Roman, V. Vidal, ACM TOMS 31 (2005)
 * 351-362 (SLEPc); V. Hernandez, J. E. Roman, A. Tomas, ETNA 31 (2008) 68-85
 * (thick-restart Lanczos bidiagonalisation, SLEPc STR-8); N. J. Higham,
 * Accuracy and Stability of Numerical Algorithms, 2nd ed., SIAM 2002, 4.3
 * (compensated summation for the Frobenius norm).
 */
#include "fs_spectrum.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slepcsvd.h>
/* after slepcsvd.h: petscblaslapack.h needs petscsys.h's types */
#include <petscblaslapack.h>

#include "fs_petsc.h"
#include "fs_rsvd.h"
#include "fs_spectrum_impl.h"

#define FS_SVD_TOL 1e-12      /* residual tolerance, relative to sigma */
#define FS_SVD_FLOOR FS_SVD_FLOOR_FRACTION /* ... or to this fraction of ||W||_F */
#define FS_SVD_ORTH 1e-10     /* accepted |U^T U - I|, |V^T V - I| */
#define FS_SVD_NULL 1e-6      /* sigma_i <= this * sigma_1: numerically null */
#define FS_SVD_FALLBACK FS_SVD_FALLBACK_TYPE

/* ------------------------------------------------------------------------ */
/* Default solver                                                           */
/* ------------------------------------------------------------------------ */

const char *fs_spectrum_default_solver(int m, int n, int k) {
  /* Measured on 2 cores, OpenBLAS, 1 thread (docs/benchmarks.md, "Default
   * SVD solver").  Thick-restart Lanczos bidiagonalisation is fastest, or
   * within noise of the fastest, everywhere except when half or more of the
   * spectrum of a nearly square matrix (aspect ratio <= 1.75) is wanted:
   * then its subspace (ncv = 2k) is the whole space and the dense SVD
   * (SVDLAPACK: dgesdd on max(m,n) x max(m,n) arrays, 1.2x-3x faster there)
   * wins.  The dense solver's arrays grow with max(m,n)^2, hence the cap.
   * Cross is as fast as trlanczos but squares the condition number. */
  int mn = m < n ? m : n, mx = m > n ? m : n;
  if (2 * k >= mn && 4 * mx <= 7 * mn && mx <= 2048) return SVDLAPACK;
  return SVDTRLANCZOS;
}

const char *fs_solver_name(fs_solver v) {
  return v == FS_SOLVER_SLEPC ? "slepc" : v == FS_SOLVER_RSVD ? "rsvd" : "auto";
}

int fs_solver_parse(const char *name, fs_solver *v) {
  static const fs_solver all[] = {FS_SOLVER_AUTO, FS_SOLVER_SLEPC, FS_SOLVER_RSVD};
  for (int i = 0; i < 3; i++)
    if (!strcmp(name, fs_solver_name(all[i]))) return (*v = all[i]), 0;
  return FS_ERR;
}

/* -svd_type rsvd names fs_rsvd like a SLEPc type; any other -svd_type is
 * SLEPc's. */
static int named_type(fs_solver *v) {
  char type[64];
  PetscBool set = PETSC_FALSE;
  if (PetscOptionsGetString(NULL, NULL, "-svd_type", type, sizeof type, &set) || !set)
    return 0;
  *v = strcmp(type, "rsvd") ? FS_SOLVER_SLEPC : FS_SOLVER_RSVD;
  return 1;
}

fs_solver fs_spectrum_choose(int m, int n, int k) {
  fs_solver v;
  if (named_type(&v)) return v;
  /* Measured (docs/benchmarks.md, "Which solver"): once W no longer fits in
   * the caches (8M entries, 64 MB), SLEPc's Lanczos runs at the speed of
   * memory (one pass over W per matrix-vector product) and the blocked
   * solver, one pass per block of b vectors, is faster; below that Lanczos's
   * smaller number of products wins... */
  int mn = m < n ? m : n, mx = m > n ? m : n;
  if ((double)m * n >= 8e6 && 8 * k <= mn) return FS_SOLVER_RSVD;
  /* Tall, narrow and not tiny: fs_rsvd's Gram path (one dsyrk, BLAS-3)
   * costs about the same at every k, Lanczos grows with k.  While W fits in
   * the caches (below 4M entries) the Gram path wins from k = min(m,n)/24 on
   * (768 x 3072, GPT-2's MLP: 1.3x faster at k = 64, equal at k = 32,
   * Lanczos 1.6x faster at k = 16); beyond, each Lanczos product streams W
   * from memory and the Gram path wins at every k (1024 x 4096 at k = 32:
   * 1.4x). */
  if (mx >= 4 * mn && mn >= 64 && mn <= 2048 && ((double)m * n >= 4e6 || 24 * k >= mn))
    return FS_SOLVER_RSVD;
  return FS_SOLVER_SLEPC;
}

/* ------------------------------------------------------------------------ */
/* Frobenius norm and finiteness                                            */
/* ------------------------------------------------------------------------ */

/* Sum of squares of x[0..len) (divided by scale unless scale is 0): blocks
 * of 256 summed plainly, block sums combined with Kahan's compensation, so
 * the error is ~256 u instead of len u (Higham, 4.3). */
double fs_sumsq(const double *x, size_t len, double scale) {
  double sum = 0.0, comp = 0.0;
  for (size_t b = 0; b < len; b += 256) {
    size_t e = b + 256 < len ? b + 256 : len;
    double part = 0.0;
    if (scale == 0.0)
      for (size_t i = b; i < e; i++) part += x[i] * x[i];
    else
      for (size_t i = b; i < e; i++) part += (x[i] / scale) * (x[i] / scale);
    double y = part - comp, t = sum + y;
    comp = (t - sum) - y;
    sum = t;
  }
  return sum;
}

/* ||W||_F, failing with the position of the first non-finite entry. */
static int frobenius_checked(const double *W, int m, int n, double *fro,
                             fs_error *err) {
  size_t len = (size_t)m * (size_t)n;
  double ss = fs_sumsq(W, len, 0.0);
  if (isfinite(ss) && ss >= DBL_MIN / DBL_EPSILON) {
    *fro = sqrt(ss); /* the fast path: no overflow, no underflow */
    return 0;
  }
  double amax = 0.0;
  for (size_t i = 0; i < len; i++) {
    if (!isfinite(W[i]))
      return fs_fail(err, "matrix %dx%d is not finite: W[%zu][%zu] = %g", m, n,
                     i / (size_t)n, i % (size_t)n, W[i]);
    if (fabs(W[i]) > amax) amax = fabs(W[i]);
  }
  /* Finite but over- or underflowing squares: rescale by the largest entry. */
  *fro = amax > 0.0 ? amax * sqrt(fs_sumsq(W, len, amax)) : 0.0;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Output helpers                                                           */
/* ------------------------------------------------------------------------ */

int fs_spectrum_alloc(fs_spectrum *s, int m, int n, int k, fs_error *err) {
  s->m = m;
  s->n = n;
  s->k = k;
  s->sigma = calloc((size_t)k, sizeof *s->sigma);
  s->U = calloc((size_t)m * (size_t)k, sizeof *s->U);
  s->V = calloc((size_t)n * (size_t)k, sizeof *s->V);
  if (!s->sigma || !s->U || !s->V)
    return fs_fail(err, "out of memory for %d singular triplets of a %dx%d matrix",
                   k, m, n);
  return 0;
}

/* The zero matrix: every singular value is 0 and every orthonormal pair is
 * a singular pair; the defined choice is the leading unit vectors. */
void fs_spectrum_zero(fs_spectrum *s) {
  for (int i = 0; i < s->k; i++) {
    s->sigma[i] = 0.0;
    s->U[i + (size_t)i * s->m] = 1.0;
    s->V[i + (size_t)i * s->n] = 1.0;
  }
  strcpy(s->solver, "none");
  s->its = 0;
}

static double norm2(const double *x, int len) {
  /* Plain squares unless they over- or underflow (singular vectors are unit
   * length: always the plain path; the scaled one divides every entry). */
  double ss = fs_sumsq(x, (size_t)len, 0.0);
  if (isfinite(ss) && ss >= DBL_MIN / DBL_EPSILON) return sqrt(ss);
  double scale = 0.0;
  for (int i = 0; i < len; i++)
    if (fabs(x[i]) > scale) scale = fabs(x[i]);
  return scale > 0.0 ? scale * sqrt(fs_sumsq(x, (size_t)len, scale)) : 0.0;
}

/* Normalise u and v (the solvers return unit vectors up to rounding; this
 * makes them unit to the last bit the caller can rely on) and fix the sign. */
void fs_spectrum_normalise_pair(double *u, int m, double *v, int n) {
  double nu = norm2(u, m), nv = norm2(v, n);
  int imax = 0;
  for (int i = 1; i < m; i++)
    if (fabs(u[i]) > fabs(u[imax])) imax = i;
  double su = u[imax] < 0.0 ? -1.0 : 1.0;
  if (nu > 0.0)
    for (int i = 0; i < m; i++) u[i] *= su / nu;
  if (nv > 0.0)
    for (int i = 0; i < n; i++) v[i] *= su / nv;
}

/* ------------------------------------------------------------------------ */
/* Orthonormality check and completion of numerically null vectors          */
/* ------------------------------------------------------------------------ */

/* max |X^T X - I| over the k x k Gram of the len x k matrix X. */
static int orth_defect(int len, int k, const double *X, double *defect,
                       fs_error *err) {
  PetscBLASInt bl, bk;
  const PetscScalar one = 1.0, zero = 0.0;
  FS_PETSC(err, PetscBLASIntCast(len, &bl));
  FS_PETSC(err, PetscBLASIntCast(k, &bk));
  double *G = malloc(sizeof(double) * (size_t)k * (size_t)k);
  if (!G) return fs_fail(err, "out of memory for a %dx%d Gram matrix", k, k);
  BLASgemm_("T", "N", &bk, &bk, &bl, &one, X, &bl, X, &bl, &zero, G, &bk);
  double d = 0.0;
  for (int c = 0; c < k; c++)
    for (int r = 0; r < k; r++)
      d = fmax(d, fabs(G[r + (size_t)c * k] - (r == c ? 1.0 : 0.0)));
  free(G);
  *defect = d;
  return 0;
}

/* x -= X[:, 0..i) X[:, 0..i)^T x, twice ("twice is enough": Giraud, Langou,
 * Rozloznik, Comput. Math. Appl. 50 (2005) 1069-1075); returns ||x||. */
static double project_out(int len, int i, const double *X, double *x) {
  for (int pass = 0; pass < 2; pass++)
    for (int c = 0; c < i; c++) {
      const double *q = X + (size_t)c * len;
      double h = 0.0;
      for (int r = 0; r < len; r++) h += q[r] * x[r];
      for (int r = 0; r < len; r++) x[r] -= h * q[r];
    }
  return norm2(x, len);
}

/* Columns first..k-1 of X belong to singular values at the rounding level.
 * If the leading columns span the range (resp. row space) of W, any unit
 * vector orthogonal to them is a valid singular vector for sigma = 0, so
 * each such column is made orthogonal to the earlier ones; one that loses
 * more than half its norm (it was mostly noise) is replaced by the first
 * unit vector e_l that survives the projection. */
static void complete_basis(int len, int k, int first, double *X) {
  int l = 0;
  for (int i = first; i < k; i++) {
    double *x = X + (size_t)i * len;
    double nx = project_out(len, i, X, x);
    while (nx < 0.5 && l < len) {
      memset(x, 0, sizeof(double) * (size_t)len);
      x[l++] = 1.0;
      nx = project_out(len, i, X, x);
    }
    for (int r = 0; r < len; r++) x[r] /= nx;
  }
}

/* Every solver returns orthonormal vectors for the singular values that
 * carry the matrix; cross and cyclic compute u = A v / ||A v|| and lose
 * orthogonality where sigma is at the rounding level (rank-deficient W with
 * k > rank).  Complete those; fail if anything else is wrong. */
int fs_spectrum_check_vectors(fs_spectrum *s, fs_error *err) {
  double du, dv;
  FS_TRY(orth_defect(s->m, s->k, s->U, &du, err));
  FS_TRY(orth_defect(s->n, s->k, s->V, &dv, err));
  if (fmax(du, dv) <= FS_SVD_ORTH) return 0;
  int first = 0;
  while (first < s->k && s->sigma[first] > FS_SVD_NULL * s->sigma[0]) first++;
  complete_basis(s->m, s->k, first, s->U);
  complete_basis(s->n, s->k, first, s->V);
  for (int i = first; i < s->k; i++)
    fs_spectrum_normalise_pair(s->U + (size_t)i * s->m, s->m, s->V + (size_t)i * s->n, s->n);
  FS_TRY(orth_defect(s->m, s->k, s->U, &du, err));
  FS_TRY(orth_defect(s->n, s->k, s->V, &dv, err));
  if (fmax(du, dv) > FS_SVD_ORTH)
    return fs_fail(err, "SVD of %dx%d matrix: solver %s returned singular "
                        "vectors that are not orthonormal (|U^T U - I| = %.1e, "
                        "|V^T V - I| = %.1e)",
                   s->m, s->n, s->solver, du, dv);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* SLEPc solve                                                              */
/* ------------------------------------------------------------------------ */

typedef struct solve_ctx {
  Mat A;        /* W^T wrapped, n x m */
  SVD svd;
  Vec left;     /* length n: left singular vector of A = right one of W */
  Vec right;    /* length m: right singular vector of A = left one of W */
  double floor; /* FS_SVD_FLOOR * ||W||_F, read by conv_floor */
} solve_ctx;

/* r <= tol * max(sigma, floor): relative for the singular values that carry
 * the matrix, absolute (near the rounding level) for the negligible ones. */
static PetscErrorCode conv_floor(SVD svd, PetscReal sigma, PetscReal res,
                                 PetscReal *errest, void *ctx) {
  (void)svd;
  double floor = *(const double *)ctx;
  *errest = res / (sigma > floor ? sigma : floor);
  return 0;
}

/* Configure the solver: ours first, then the options database on top. */
static int configure(solve_ctx *c, int k, const char *type, fs_error *err) {
  return fs_svd_configure(PETSC_COMM_SELF, c->A, k, type, &c->floor, &c->svd, err);
}

int fs_svd_configure(MPI_Comm comm, Mat A, int k, const char *type, double *floor, SVD *out,
                     fs_error *err) {
  SVD svd;
  FS_PETSC(err, SVDCreate(comm, &svd));
  *out = svd; /* the caller destroys it, whatever happens next */
  FS_PETSC(err, SVDSetOperators(svd, A, NULL));
  FS_PETSC(err, SVDSetProblemType(svd, SVD_STANDARD));
  FS_PETSC(err, SVDSetType(svd, type));
  FS_PETSC(err, SVDSetWhichSingularTriplets(svd, SVD_LARGEST));
  FS_PETSC(err, SVDSetDimensions(svd, k, PETSC_DEFAULT, PETSC_DEFAULT));
  FS_PETSC(err, SVDSetTolerances(svd, FS_SVD_TOL, PETSC_DEFAULT));
  FS_PETSC(err, SVDSetImplicitTranspose(svd, PETSC_TRUE));
  FS_PETSC(err, SVDSetFromOptions(svd));

  /* Our convergence test unless the user chose one (-svd_conv_*), and only
   * for the solvers that accept a user test. */
  SVDConv conv;
  PetscBool krylov;
  FS_PETSC(err, SVDGetConvergenceTest(svd, &conv));
  FS_PETSC(err, PetscObjectTypeCompareAny((PetscObject)svd, &krylov, SVDTRLANCZOS, SVDLANCZOS,
                                          SVDRANDOMIZED, ""));
  if (krylov && conv == (SVDConv)-1)
    FS_PETSC(err, SVDSetConvergenceTestFunction(svd, conv_floor, floor, NULL));
  return 0;
}

/* Copy triplet i out of SLEPc into column i of s. */
static int get_triplet(solve_ctx *c, int i, fs_spectrum *s, fs_error *err) {
  PetscReal sigma;
  const PetscScalar *a;
  double *u = s->U + (size_t)i * s->m, *v = s->V + (size_t)i * s->n;
  FS_PETSC(err, SVDGetSingularTriplet(c->svd, i, &sigma, c->left, c->right));
  FS_PETSC(err, VecGetArrayRead(c->right, &a));
  memcpy(u, a, sizeof(double) * (size_t)s->m);
  FS_PETSC(err, VecRestoreArrayRead(c->right, &a));
  FS_PETSC(err, VecGetArrayRead(c->left, &a));
  memcpy(v, a, sizeof(double) * (size_t)s->n);
  FS_PETSC(err, VecRestoreArrayRead(c->left, &a));
  fs_spectrum_normalise_pair(u, s->m, v, s->n);
  s->sigma[i] = sigma;
  return 0;
}

static int record_solver(solve_ctx *c, fs_spectrum *s, fs_error *err) {
  return fs_svd_record(c->svd, s, err);
}

int fs_svd_record(SVD svd, fs_spectrum *s, fs_error *err) {
  SVDType type;
  PetscInt its;
  PetscBool direct;
  FS_PETSC(err, SVDGetType(svd, &type));
  FS_PETSC(err, SVDGetIterationNumber(svd, &its));
  FS_PETSC(err, PetscObjectTypeCompareAny((PetscObject)svd, &direct,
                                          SVDLAPACK, SVDSCALAPACK,
                                          SVDELEMENTAL, ""));
  snprintf(s->solver, sizeof s->solver, "%s", type);
  s->its = direct ? 0 : (int)its;
  return 0;
}

static int solve(solve_ctx *c, const double *W, const char *type,
                 fs_spectrum *s, fs_error *err) {
  int m = s->m, n = s->n, k = s->k;
  /* SLEPc only reads the operator: the const cast is safe. */
  FS_PETSC(err, MatCreateSeqDense(PETSC_COMM_SELF, n, m, (PetscScalar *)W, &c->A));
  FS_TRY(configure(c, k, type, err));
  FS_PETSC(err, SVDSolve(c->svd));

  PetscInt nconv;
  SVDConvergedReason reason;
  FS_PETSC(err, SVDGetConverged(c->svd, &nconv));
  FS_PETSC(err, SVDGetConvergedReason(c->svd, &reason));
  FS_TRY(record_solver(c, s, err));
  if (nconv < k)
    return fs_fail(err, "SVD of %dx%d matrix: only %d of %d singular triplets "
                        "converged (solver %s, %d iterations, %s)",
                   m, n, (int)nconv, k, s->solver, s->its,
                   SVDConvergedReasons[reason]);

  FS_PETSC(err, MatCreateVecs(c->A, &c->right, &c->left));
  for (int i = 0; i < k; i++) FS_TRY(get_triplet(c, i, s, err));
  return fs_spectrum_check_vectors(s, err);
}

/* One attempt with solver type (the options database may override it). */
static int attempt(const double *W, const char *type, fs_spectrum *s,
                   double floor, fs_error *err) {
  solve_ctx c = {NULL, NULL, NULL, NULL, floor};
  int rc = solve(&c, W, type, s, err);
  /* Destroy in every case; keep the first error. */
  PetscErrorCode e1 = VecDestroy(&c.left), e2 = VecDestroy(&c.right);
  PetscErrorCode e3 = SVDDestroy(&c.svd), e4 = MatDestroy(&c.A);
  if (!rc && (e1 || e2 || e3 || e4))
    rc = fs_fail(err, "destroying the SVD objects failed (PETSc error %d)",
                 (int)(e1 ? e1 : e2 ? e2 : e3 ? e3 : e4));
  return rc;
}

/* The default solver, and when it fails and the user did not name a solver,
 * FS_SVD_FALLBACK: SLEPc 3.18's Lanczos bidiagonalisation can stagnate once
 * its subspace (ncv = 2k) exceeds the rank of W (breakdown), which
 * rank-deficient layers (dead units) trigger; the cross-product solver's
 * Krylov-Schur iteration handles the invariant subspace. */
static int run_slepc(const double *W, fs_spectrum *s, double floor,
                     fs_error *err) {
  PetscBool named = PETSC_FALSE;
  FS_PETSC(err, PetscOptionsHasName(NULL, NULL, "-svd_type", &named));
  const char *type = fs_spectrum_default_solver(s->m, s->n, s->k);
  int rc = attempt(W, type, s, floor, err);
  if (!rc || named || !strcmp(type, FS_SVD_FALLBACK)) return rc;
  fs_error first = *err;
  if (!attempt(W, FS_SVD_FALLBACK, s, floor, err)) return 0;
  return fs_error_prefix(err, "%.200s; fallback", first.msg);
}

/* The block Krylov solver (fs_rsvd.h), with -rsvd_tol, -rsvd_block and
 * -rsvd_maxdim, -rsvd_gram from the options database; the same output conventions and
 * checks as the SLEPc path. */
static int run_rsvd(const double *W, fs_spectrum *s, double floor, fs_error *err) {
  fs_rsvd_opts o;
  PetscInt block, maxdim;
  PetscBool set;
  fs_rsvd_defaults(s->m, s->n, s->k, &o);
  o.floor = floor;
  FS_PETSC(err, PetscOptionsGetReal(NULL, NULL, "-rsvd_tol", &o.tol, NULL));
  FS_PETSC(err, PetscOptionsGetInt(NULL, NULL, "-rsvd_block", &block, &set));
  if (set) o.block = (int)block;
  FS_PETSC(err, PetscOptionsGetInt(NULL, NULL, "-rsvd_maxdim", &maxdim, &set));
  if (set) o.maxdim = (int)maxdim;
  FS_PETSC(err, PetscOptionsGetReal(NULL, NULL, "-rsvd_gram", &o.gram, NULL));
  FS_TRY(fs_rsvd_solve(W, s->m, s->n, s->k, &o, s->sigma, s->U, s->V, &s->its,
                       NULL, err));
  for (int i = 0; i < s->k; i++)
    fs_spectrum_normalise_pair(s->U + (size_t)i * s->m, s->m, s->V + (size_t)i * s->n, s->n);
  strcpy(s->solver, s->its ? "rsvd" : "rsvd-gram");
  return fs_spectrum_check_vectors(s, err);
}

static int run_solver(const double *W, fs_spectrum *s, fs_solver solver,
                      double floor, fs_error *err) {
  fs_solver named;
  if (solver == FS_SOLVER_AUTO) solver = fs_spectrum_choose(s->m, s->n, s->k);
  else if (named_type(&named) && named == FS_SOLVER_RSVD) solver = FS_SOLVER_RSVD;
  return solver == FS_SOLVER_RSVD ? run_rsvd(W, s, floor, err)
                                  : run_slepc(W, s, floor, err);
}

/* Matrices of extreme magnitude (||W||_F beyond 2^+-500, where squares and
 * the solvers' inner products over- or underflow) are solved as 2^-e W, an
 * exact scaling, with the singular values scaled back; all others in place. */
static int solve_scaled(const double *W, fs_spectrum *s, fs_solver solver,
                        double fro, fs_error *err) {
  int e;
  frexp(fro, &e);
  if (abs(e) < 500) return run_solver(W, s, solver, FS_SVD_FLOOR * fro, err);
  size_t len = (size_t)s->m * (size_t)s->n;
  double *Ws = malloc(sizeof(double) * len);
  if (!Ws) return fs_fail(err, "out of memory for a scaled %dx%d copy", s->m, s->n);
  for (size_t i = 0; i < len; i++) Ws[i] = ldexp(W[i], -e);
  int rc = run_solver(Ws, s, solver, FS_SVD_FLOOR * ldexp(fro, -e), err);
  free(Ws);
  for (int i = 0; i < s->k && !rc; i++) s->sigma[i] = ldexp(s->sigma[i], e);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Public interface                                                         */
/* ------------------------------------------------------------------------ */

int fs_spectrum_compute(const double *W, int m, int n, int k, fs_spectrum *s,
                        fs_error *err) {
  return fs_spectrum_compute_with(W, m, n, k, FS_SOLVER_AUTO, s, err);
}

int fs_spectrum_compute_with(const double *W, int m, int n, int k, fs_solver solver,
                             fs_spectrum *s, fs_error *err) {
  memset(s, 0, sizeof *s);
  if (!W || m < 1 || n < 1)
    return fs_fail(err, "SVD: invalid matrix (%dx%d%s)", m, n,
                   W ? "" : ", no data");
  int mn = m < n ? m : n;
  if (k < 1 || k > mn)
    return fs_fail(err, "SVD of %dx%d matrix: k = %d outside [1, %d]", m, n, k,
                   mn);

  double fro = 0.0;
  FS_TRY(frobenius_checked(W, m, n, &fro, err));
  int rc = fs_spectrum_alloc(s, m, n, k, err);
  if (!rc) {
    s->fro = fro;
    if (fro == 0.0)
      fs_spectrum_zero(s);
    else
      rc = solve_scaled(W, s, solver, fro, err);
  }
  if (rc) fs_spectrum_free(s);
  return rc;
}

int fs_spectrum_copy(const fs_spectrum *src, fs_spectrum *dst, fs_error *err) {
  memset(dst, 0, sizeof *dst);
  if (fs_spectrum_alloc(dst, src->m, src->n, src->k, err)) {
    fs_spectrum_free(dst);
    return FS_ERR;
  }
  size_t k = (size_t)src->k;
  memcpy(dst->sigma, src->sigma, sizeof *dst->sigma * k);
  memcpy(dst->U, src->U, sizeof *dst->U * (size_t)src->m * k); /* the leading k columns */
  memcpy(dst->V, src->V, sizeof *dst->V * (size_t)src->n * k);
  dst->fro = src->fro;
  snprintf(dst->solver, sizeof dst->solver, "copy");
  return 0;
}

void fs_spectrum_free(fs_spectrum *s) {
  if (!s) return;
  free(s->sigma);
  free(s->U);
  free(s->V);
  memset(s, 0, sizeof *s);
}

void fs_spectrum_stats(const fs_spectrum *s, double tau, fs_matrix_stats *st) {
  memset(st, 0, sizeof *st);
  st->fro = s->fro;
  if (s->k < 1) return;
  double s1 = s->sigma[0];
  st->spec = s1;
  /* The zero matrix has stable rank 0 by convention (0/0 otherwise). */
  st->stable_rank = s1 > 0.0 ? (s->fro / s1) * (s->fro / s1) : 0.0;
  int r = 0;
  if (s1 > 0.0)
    while (r < s->k && s->sigma[r] > tau * s1) r++;
  st->numrank = r;
  /* All k held values above the threshold and more exist: only a bound. */
  int mn = s->m < s->n ? s->m : s->n;
  st->numrank_lower = (r == s->k && s->k < mn) ? 1 : 0;
}
