/*
 * test_spectrum.c - truncated SVD (fs_spectrum.h) against LAPACK's full SVD
 * (dgesdd, fs_testutil), for every SLEPc solver worth having, plus residual
 * and orthonormality checks that need no reference at all.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <petscsys.h>

#include "fs_petsc.h"
#include "fs_pair.h"
#include "fs_spectrum.h"
#include "fs_testutil.h"

void dgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
            const double *alpha, const double *a, const int *lda, const double *b,
            const int *ldb, const double *beta, double *c, const int *ldc, size_t lta,
            size_t ltb);

/* NULL = the default solver.  Not here: cyclic (slower than cross
 * everywhere, fails at k = min(m, n) in SLEPc 3.18) and randomized (stalls
 * on small gaps: 6 of 8 triplets of a 200x80 Gaussian in 100 iterations);
 * see docs/benchmarks.md.  "rsvd" is flagscope's block Krylov solver
 * (fs_rsvd.h), selected by -svd_type rsvd like a SLEPc type. */
static const char *const solvers[] = {NULL, "trlanczos", "lanczos", "cross",
                                      "lapack", "rsvd"};
#define NSOLVERS (int)(sizeof solvers / sizeof solvers[0])

static void use_solver(const char *type) {
  PetscOptionsClearValue(NULL, "-svd_type");
  if (type) ck_assert_int_eq(PetscOptionsSetValue(NULL, "-svd_type", type), 0);
}

static void clear_options(void) { PetscOptionsClearValue(NULL, "-svd_type"); }

static double *dalloc(size_t n) {
  double *p = calloc(n ? n : 1, sizeof(double));
  ck_assert_ptr_nonnull(p);
  return p;
}

/* Row-major W = X diag(s) Y^T with random orthonormal X (m x r), Y (n x r). */
static void build_spectrum(int m, int n, int r, const double *s, double *W) {
  double *X = dalloc((size_t)m * r), *Y = dalloc((size_t)n * r);
  fs_test_orthonormal(m, r, X);
  fs_test_orthonormal(n, r, Y);
  for (int i = 0; i < m; i++)
    for (int c = 0; c < n; c++) {
      double t = 0.0;
      for (int l = 0; l < r; l++) t += X[i + (size_t)l * m] * s[l] * Y[c + (size_t)l * n];
      W[(size_t)i * n + c] = t;
    }
  free(X);
  free(Y);
}

/* A realistic, slowly decaying spectrum s_i = i^-1/2, or plain Gaussian. */
static void build_matrix(int m, int n, int gaussian, double *W) {
  int r = m < n ? m : n;
  if (gaussian) {
    for (size_t i = 0; i < (size_t)m * n; i++) W[i] = fs_test_normal();
    return;
  }
  double *s = dalloc(r);
  for (int i = 0; i < r; i++) s[i] = 1.0 / sqrt(i + 1.0);
  build_spectrum(m, n, r, s, W);
  free(s);
}

/* ||X - Y (Y^T X)||_F >= sin of the largest angle between the spans. */
static double subspace_distance(int len, int k, const double *X, const double *Y) {
  double *P = dalloc((size_t)len * k), *h = dalloc(k);
  memcpy(P, X, sizeof(double) * (size_t)len * k);
  for (int c = 0; c < k; c++) {
    for (int l = 0; l < k; l++) {
      double t = 0.0;
      for (int r = 0; r < len; r++) t += Y[r + (size_t)l * len] * X[r + (size_t)c * len];
      h[l] = t;
    }
    for (int l = 0; l < k; l++)
      for (int r = 0; r < len; r++) P[r + (size_t)c * len] -= Y[r + (size_t)l * len] * h[l];
  }
  double s = 0.0;
  for (size_t i = 0; i < (size_t)len * k; i++) s += P[i] * P[i];
  free(P);
  free(h);
  return sqrt(s);
}

static double orth_defect(int len, int k, const double *X) {
  double d = 0.0;
  for (int a = 0; a < k; a++)
    for (int b = 0; b < k; b++) {
      double t = 0.0;
      for (int r = 0; r < len; r++) t += X[r + (size_t)a * len] * X[r + (size_t)b * len];
      d = fmax(d, fabs(t - (a == b)));
    }
  return d;
}

/* max_i ||W v_i - s_i u_i|| and ||W^T u_i - s_i v_i||, relative to s_1. */
static double max_residual(const double *W, const fs_spectrum *s) {
  int m = s->m, n = s->n;
  double worst = 0.0;
  for (int i = 0; i < s->k; i++) {
    const double *u = s->U + (size_t)i * m, *v = s->V + (size_t)i * n;
    double r1 = 0.0, r2 = 0.0;
    for (int a = 0; a < m; a++) {
      double t = 0.0;
      for (int c = 0; c < n; c++) t += W[(size_t)a * n + c] * v[c];
      r1 += (t - s->sigma[i] * u[a]) * (t - s->sigma[i] * u[a]);
    }
    for (int c = 0; c < n; c++) {
      double t = 0.0;
      for (int a = 0; a < m; a++) t += W[(size_t)a * n + c] * u[a];
      r2 += (t - s->sigma[i] * v[c]) * (t - s->sigma[i] * v[c]);
    }
    worst = fmax(worst, sqrt(r1 + r2));
  }
  return s->sigma[0] > 0.0 ? worst / s->sigma[0] : worst;
}

static double exact_fro(const double *W, size_t len) {
  long double s = 0.0L;
  for (size_t i = 0; i < len; i++) s += (long double)W[i] * W[i];
  return (double)sqrtl(s);
}

/* Everything that can be checked for one matrix, solver and k. */
static void check_one(const double *W, int m, int n, int k, const double *sref,
                      const double *Uref, const double *Vref, const char *type) {
  int mn = m < n ? m : n;
  double *copy = dalloc((size_t)m * n);
  memcpy(copy, W, sizeof(double) * (size_t)m * n);
  fs_spectrum s;
  fs_error err;
  int rc = fs_spectrum_compute(W, m, n, k, &s, &err);
  ck_assert_msg(rc == 0, "%dx%d k=%d %s: %s", m, n, k, type ? type : "default",
                err.msg);
  ck_assert_int_eq(memcmp(copy, W, sizeof(double) * (size_t)m * n), 0);
  ck_assert(s.m == m && s.n == n && s.k == k);
  ck_assert_str_eq(s.solver, type ? type : fs_spectrum_default_solver(m, n, k));
  if (!strcmp(s.solver, "lapack")) ck_assert_int_eq(s.its, 0);
  else ck_assert_int_ge(s.its, 1);

  for (int i = 0; i < k; i++)
    ck_assert_msg(fabs(s.sigma[i] - sref[i]) <= 1e-10 * sref[i],
                  "%dx%d k=%d %s: sigma[%d] = %.17g, dgesdd %.17g", m, n, k,
                  s.solver, i, s.sigma[i], sref[i]);
  ck_assert_double_eq_tol(s.fro, exact_fro(W, (size_t)m * n), 1e-14 * s.fro);
  ck_assert_double_le(orth_defect(m, k, s.U), 1e-12);
  ck_assert_double_le(orth_defect(n, k, s.V), 1e-12);
  ck_assert_double_le(max_residual(W, &s), 1e-10);

  /* The top-k subspaces are well defined when sigma_k > sigma_{k+1}; the
   * perturbation bound is residual / gap (Wedin). */
  double gap = k < mn ? (sref[k - 1] - sref[k]) / sref[k - 1] : 1.0;
  if (gap > 1e-3) {
    double du = subspace_distance(m, k, s.U, Uref);
    double dv = subspace_distance(n, k, s.V, Vref);
    ck_assert_msg(du < 1e-8 && dv < 1e-8, "%dx%d k=%d %s: subspace distance %g %g",
                  m, n, k, s.solver, du, dv);
  }
  fs_spectrum_free(&s);
  free(copy);
}

/* All solvers, k in {1, 8, 64}, for one shape and one kind of matrix. */
static void check_shape(int m, int n, int gaussian, unsigned long long seed) {
  int mn = m < n ? m : n;
  fs_test_seed(seed);
  double *W = dalloc((size_t)m * n), *sref = dalloc(mn);
  double *Uref = dalloc((size_t)m * mn), *Vref = dalloc((size_t)n * mn);
  build_matrix(m, n, gaussian, W);
  ck_assert_int_eq(fs_test_full_svd(W, m, n, sref, Uref, Vref), 0);
  const int ks[3] = {1, 8, 64};
  for (int t = 0; t < NSOLVERS; t++) {
    use_solver(solvers[t]);
    for (int i = 0; i < 3; i++)
      if (ks[i] <= mn) check_one(W, m, n, ks[i], sref, Uref, Vref, solvers[t]);
  }
  use_solver(NULL);
  free(W);
  free(sref);
  free(Uref);
  free(Vref);
}

START_TEST(tall_decaying) { check_shape(200, 80, 0, 101); }
END_TEST
START_TEST(wide_decaying) { check_shape(80, 200, 0, 102); }
END_TEST
START_TEST(large_decaying) { check_shape(768, 300, 0, 103); }
END_TEST
START_TEST(tall_gaussian) { check_shape(200, 80, 1, 104); }
END_TEST
START_TEST(wide_gaussian) { check_shape(80, 200, 1, 105); }
END_TEST
START_TEST(large_gaussian) { check_shape(768, 300, 1, 106); }
END_TEST

START_TEST(full_rank_k) {
  /* k = min(m, n): the whole spectrum, every solver. */
  fs_test_seed(107);
  enum { m = 40, n = 25 };
  double W[m * n], sref[n], Uref[m * n], Vref[n * n];
  build_matrix(m, n, 0, W);
  ck_assert_int_eq(fs_test_full_svd(W, m, n, sref, Uref, Vref), 0);
  for (int t = 0; t < NSOLVERS; t++) {
    use_solver(solvers[t]);
    check_one(W, m, n, n, sref, Uref, Vref, solvers[t]);
  }
  use_solver(NULL);
}
END_TEST

START_TEST(vectors_one_row_or_column) {
  /* 1 x n: sigma = ||w||, U = [1] (sign convention: the largest entry of u
   * is positive), V = w / ||w||; and its transpose. */
  double w[7] = {3, -4, 0, 12, 0, 0, 0}, sigma = 13.0;
  for (int t = 0; t < NSOLVERS; t++) {
    use_solver(solvers[t]);
    for (int tr = 0; tr < 2; tr++) {
      int m = tr ? 7 : 1, n = tr ? 1 : 7;
      fs_spectrum s;
      fs_error err;
      ck_assert_msg(fs_spectrum_compute(w, m, n, 1, &s, &err) == 0, "%s", err.msg);
      ck_assert_double_eq_tol(s.sigma[0], sigma, 1e-14 * sigma);
      /* The 1-vector is +1 either way: in the 7 x 1 case u = w / 13 has its
       * largest entry 12/13 > 0 already, so v is not flipped. */
      const double *one = tr ? s.V : s.U, *vec = tr ? s.U : s.V;
      ck_assert_double_eq_tol(one[0], 1.0, 1e-15);
      for (int i = 0; i < 7; i++)
        ck_assert_double_eq_tol(vec[i], w[i] / sigma, 1e-15);
      fs_spectrum_free(&s);
    }
  }
  use_solver(NULL);
}
END_TEST

START_TEST(rank_one) {
  /* W = x y^T: sigma_1 = |x| |y|, u_1 = +-x/|x|, v_1 = +-y/|y|; beyond the
   * rank (k = 3, default solver and the robust ones) sigma = 0 with an
   * orthonormal completion. */
  enum { m = 30, n = 20 };
  double x[m], y[n], W[m * n];
  fs_test_seed(112);
  for (int i = 0; i < m; i++) x[i] = fs_test_normal();
  for (int i = 0; i < n; i++) y[i] = fs_test_normal();
  double nx = 0.0, ny = 0.0;
  for (int i = 0; i < m; i++) nx += x[i] * x[i];
  for (int i = 0; i < n; i++) ny += y[i] * y[i];
  nx = sqrt(nx), ny = sqrt(ny);
  for (int i = 0; i < m; i++)
    for (int c = 0; c < n; c++) W[i * n + c] = x[i] * y[c];
  for (int t = 0; t < NSOLVERS; t++) {
    use_solver(solvers[t]);
    fs_spectrum s;
    fs_error err;
    ck_assert_msg(fs_spectrum_compute(W, m, n, 1, &s, &err) == 0, "%s", err.msg);
    ck_assert_double_eq_tol(s.sigma[0], nx * ny, 1e-13 * nx * ny);
    double sg = s.U[0] * x[0] > 0 ? 1.0 : -1.0;
    for (int i = 0; i < m; i++) ck_assert_double_eq_tol(s.U[i], sg * x[i] / nx, 1e-13);
    for (int i = 0; i < n; i++) ck_assert_double_eq_tol(s.V[i], sg * y[i] / ny, 1e-13);
    fs_spectrum_free(&s);
    if (t == 0 || !strcmp(solvers[t], "lapack") || !strcmp(solvers[t], "cross")) {
      ck_assert_msg(fs_spectrum_compute(W, m, n, 3, &s, &err) == 0, "%s", err.msg);
      ck_assert_double_eq_tol(s.sigma[0], nx * ny, 1e-13 * nx * ny);
      ck_assert_double_le(s.sigma[1], 1e-7 * s.sigma[0]);
      ck_assert_double_le(orth_defect(m, 3, s.U), 1e-10);
      ck_assert_double_le(orth_defect(n, 3, s.V), 1e-10);
      ck_assert_double_le(max_residual(W, &s), 1e-7);
      fs_spectrum_free(&s);
    }
  }
  use_solver(NULL);
}
END_TEST

START_TEST(zero_matrix) {
  enum { m = 30, n = 20, k = 5 };
  double *W = dalloc(m * n);
  fs_spectrum s;
  fs_error err;
  ck_assert_int_eq(fs_spectrum_compute(W, m, n, k, &s, &err), 0);
  ck_assert(s.fro == 0.0);
  for (int i = 0; i < k; i++) ck_assert(s.sigma[i] == 0.0);
  ck_assert_double_le(orth_defect(m, k, s.U), 0.0);
  ck_assert_double_le(orth_defect(n, k, s.V), 0.0);
  ck_assert_str_eq(s.solver, "none");
  fs_matrix_stats st;
  fs_spectrum_stats(&s, 1e-6, &st);
  ck_assert(st.fro == 0.0 && st.spec == 0.0 && st.stable_rank == 0.0);
  ck_assert_int_eq(st.numrank, 0);
  ck_assert_int_eq(st.numrank_lower, 0);
  fs_spectrum_free(&s);
  free(W);
}
END_TEST

START_TEST(rank_deficient) {
  /* 250 of 300 rows zero (dead units), rank 50, k = 64 > rank: the
   * default path must deliver 64 orthonormal triplets, the top 50 exact. */
  fs_test_seed(108);
  enum { m = 300, n = 200, r = 50, k = 64 };
  double *W = dalloc(m * n), *sref = dalloc(n), *Uref = dalloc(m * n),
         *Vref = dalloc(n * n);
  for (int i = 0; i < r; i++)
    for (int c = 0; c < n; c++) W[i * n + c] = fs_test_normal();
  ck_assert_int_eq(fs_test_full_svd(W, m, n, sref, Uref, Vref), 0);
  const char *types[3] = {NULL, "lapack", "cross"};
  for (int t = 0; t < 3; t++) {
    use_solver(types[t]);
    fs_spectrum s;
    fs_error err;
    ck_assert_msg(fs_spectrum_compute(W, m, n, k, &s, &err) == 0, "%s", err.msg);
    /* The default Lanczos solver of SLEPc 3.18 stagnates here (its subspace
     * exceeds the rank); the cross-product solver takes over. */
    if (!types[t])
      ck_assert(!strcmp(s.solver, fs_spectrum_default_solver(m, n, k)) ||
                !strcmp(s.solver, "cross"));
    for (int i = 0; i < r; i++)
      ck_assert_double_eq_tol(s.sigma[i], sref[i], 1e-10 * sref[i]);
    for (int i = r; i < k; i++) ck_assert_double_le(s.sigma[i], 1e-7 * sref[0]);
    ck_assert_double_le(orth_defect(m, k, s.U), 1e-10);
    ck_assert_double_le(orth_defect(n, k, s.V), 1e-10);
    ck_assert_double_le(max_residual(W, &s), 1e-7);
    ck_assert_double_le(subspace_distance(m, r, s.U, Uref), 1e-8);
    fs_matrix_stats st;
    fs_spectrum_stats(&s, 1e-6, &st);
    ck_assert_int_eq(st.numrank, r);
    ck_assert_int_eq(st.numrank_lower, 0);
    fs_spectrum_free(&s);
  }
  use_solver(NULL);
  free(W);
  free(sref);
  free(Uref);
  free(Vref);
}
END_TEST

START_TEST(identity) {
  /* All singular values equal: any orthonormal basis is right. */
  enum { n = 50 };
  double *W = dalloc(n * n);
  for (int i = 0; i < n; i++) W[i * n + i] = 1.0;
  use_solver(NULL);
  fs_spectrum s;
  fs_error err;
  ck_assert_msg(fs_spectrum_compute(W, n, n, 5, &s, &err) == 0, "%s", err.msg);
  for (int i = 0; i < 5; i++) ck_assert_double_eq_tol(s.sigma[i], 1.0, 1e-14);
  ck_assert_double_le(orth_defect(n, 5, s.U), 1e-12);
  ck_assert_double_le(max_residual(W, &s), 1e-12);
  fs_spectrum_free(&s);
  free(W);
}
END_TEST

START_TEST(failures) {
  enum { m = 6, n = 4 };
  double W[m * n];
  for (int i = 0; i < m * n; i++) W[i] = i + 1.0;
  fs_spectrum s;
  fs_error err;
  W[9] = NAN;
  ck_assert_int_eq(fs_spectrum_compute(W, m, n, 2, &s, &err), FS_ERR);
  ck_assert_ptr_nonnull(strstr(err.msg, "not finite"));
  ck_assert_ptr_nonnull(strstr(err.msg, "W[2][1]"));
  ck_assert_ptr_null(s.sigma);
  fs_spectrum_free(&s);
  W[9] = -INFINITY;
  ck_assert_int_eq(fs_spectrum_compute(W, m, n, 2, &s, &err), FS_ERR);
  ck_assert_ptr_nonnull(strstr(err.msg, "not finite"));
  W[9] = 10.0;
  ck_assert_int_eq(fs_spectrum_compute(W, m, n, 5, &s, &err), FS_ERR);
  ck_assert_ptr_nonnull(strstr(err.msg, "k = 5"));
  ck_assert_int_eq(fs_spectrum_compute(W, m, n, 0, &s, &err), FS_ERR);
  ck_assert_int_eq(fs_spectrum_compute(NULL, m, n, 1, &s, &err), FS_ERR);
  ck_assert_int_eq(fs_spectrum_compute(W, 0, n, 1, &s, &err), FS_ERR);
  ck_assert(s.k == 0 && s.U == NULL && s.V == NULL);
  /* One line, no newline. */
  ck_assert_ptr_null(strchr(err.msg, '\n'));
  /* A solver that does not exist: a clean error from the options database. */
  use_solver("nosuchsolver");
  ck_assert_int_eq(fs_spectrum_compute(W, m, n, 2, &s, &err), FS_ERR);
  ck_assert_ptr_nonnull(strstr(err.msg, "failed"));
  use_solver(NULL);
}
END_TEST

START_TEST(huge_and_tiny_entries) {
  /* The Frobenius norm must neither overflow nor underflow. */
  enum { m = 5, n = 3 };
  const double scales[2] = {1e300, 1e-300};
  for (int t = 0; t < 2; t++) {
    double W[m * n];
    for (int i = 0; i < m * n; i++) W[i] = (i % 4 + 1.0) * scales[t];
    long double ref = 0.0L;
    for (int i = 0; i < m * n; i++) ref += (long double)(i % 4 + 1.0) * (i % 4 + 1.0);
    double fro = (double)sqrtl(ref) * scales[t];
    fs_spectrum s;
    fs_error err;
    ck_assert_msg(fs_spectrum_compute(W, m, n, 2, &s, &err) == 0, "%s", err.msg);
    ck_assert_double_eq_tol(s.fro, fro, 1e-14 * fro);
    ck_assert(isfinite(s.sigma[0]) && s.sigma[0] > 0.0);
    fs_spectrum_free(&s);
  }
}
END_TEST

START_TEST(deterministic) {
  /* Same matrix, same bits, whatever was solved in between. */
  enum { m = 200, n = 80, k = 8 };
  double *A = dalloc(m * n), *B = dalloc(m * n);
  fs_test_seed(109);
  build_matrix(m, n, 0, A);
  build_matrix(m, n, 1, B);
  for (int t = 0; t < NSOLVERS; t++) {
    use_solver(solvers[t]);
    fs_spectrum s1, s2, s3;
    fs_error err;
    ck_assert_int_eq(fs_spectrum_compute(A, m, n, k, &s1, &err), 0);
    ck_assert_int_eq(fs_spectrum_compute(B, m, n, k, &s2, &err), 0);
    ck_assert_int_eq(fs_spectrum_compute(A, m, n, k, &s3, &err), 0);
    ck_assert_int_eq(memcmp(s1.sigma, s3.sigma, sizeof(double) * k), 0);
    ck_assert_int_eq(memcmp(s1.U, s3.U, sizeof(double) * m * k), 0);
    ck_assert_int_eq(memcmp(s1.V, s3.V, sizeof(double) * n * k), 0);
    fs_spectrum_free(&s1);
    fs_spectrum_free(&s2);
    fs_spectrum_free(&s3);
  }
  use_solver(NULL);
  free(A);
  free(B);
}
END_TEST

START_TEST(stats) {
  /* A prescribed spectrum: 10, 5, 1, 1e-3, 1e-8 and zeros. */
  fs_test_seed(110);
  enum { m = 40, n = 30 };
  double sv[n] = {10, 5, 1, 1e-3, 1e-8}, W[m * n];
  build_spectrum(m, n, n, sv, W);
  double fro2 = 100 + 25 + 1 + 1e-6 + 1e-16;
  fs_spectrum s;
  fs_matrix_stats st;
  fs_error err;
  ck_assert_int_eq(fs_spectrum_compute(W, m, n, 5, &s, &err), 0);
  fs_spectrum_stats(&s, 1e-6, &st);
  ck_assert_double_eq_tol(st.fro, sqrt(fro2), 1e-13);
  ck_assert_double_eq_tol(st.spec, 10.0, 1e-13);
  ck_assert_double_eq_tol(st.stable_rank, fro2 / 100.0, 1e-13);
  ck_assert_int_eq(st.numrank, 4); /* 1e-3 > 1e-6 * 10 > 1e-8 */
  ck_assert_int_eq(st.numrank_lower, 0);
  fs_spectrum_free(&s);
  /* k = 3 only sees values above the threshold: a lower bound. */
  ck_assert_int_eq(fs_spectrum_compute(W, m, n, 3, &s, &err), 0);
  fs_spectrum_stats(&s, 1e-6, &st);
  ck_assert_int_eq(st.numrank, 3);
  ck_assert_int_eq(st.numrank_lower, 1);
  fs_spectrum_free(&s);
  /* k = min(m, n) sees everything: exact even when all are above tau. */
  double sv2[n];
  for (int i = 0; i < n; i++) sv2[i] = 1.0 + i;
  build_spectrum(m, n, n, sv2, W);
  ck_assert_int_eq(fs_spectrum_compute(W, m, n, n, &s, &err), 0);
  fs_spectrum_stats(&s, 1e-3, &st);
  ck_assert_int_eq(st.numrank, n);
  ck_assert_int_eq(st.numrank_lower, 0);
  fs_spectrum_free(&s);
}
END_TEST

START_TEST(options_override) {
  /* -svd_type from the options database wins over the default, and -svd_tol
   * too (a loose tolerance converges in fewer iterations). */
  fs_test_seed(111);
  enum { m = 300, n = 200, k = 8 };
  double *W = dalloc(m * n);
  build_matrix(m, n, 1, W);
  fs_spectrum s;
  fs_error err;
  use_solver("lapack");
  ck_assert_int_eq(fs_spectrum_compute(W, m, n, k, &s, &err), 0);
  ck_assert_str_eq(s.solver, "lapack");
  fs_spectrum_free(&s);
  use_solver("trlanczos");
  ck_assert_int_eq(fs_spectrum_compute(W, m, n, k, &s, &err), 0);
  int tight = s.its;
  fs_spectrum_free(&s);
  ck_assert_int_eq(PetscOptionsSetValue(NULL, "-svd_tol", "1e-3"), 0);
  ck_assert_int_eq(fs_spectrum_compute(W, m, n, k, &s, &err), 0);
  PetscOptionsClearValue(NULL, "-svd_tol");
  ck_assert_int_lt(s.its, tight);
  fs_spectrum_free(&s);
  use_solver(NULL);
  free(W);
}
END_TEST

/* The auto rule at the shapes it was measured on (docs/benchmarks.md, "Which
 * solver"): the Gram path for tall matrices from k = min/24 on while W fits in
 * the caches and at every k beyond; block Krylov for large ones at small k. */
START_TEST(auto_rule) {
  ck_assert_int_eq(fs_spectrum_choose(768, 3072, 64), FS_SOLVER_RSVD);
  ck_assert_int_eq(fs_spectrum_choose(3072, 768, 32), FS_SOLVER_RSVD);
  ck_assert_int_eq(fs_spectrum_choose(768, 3072, 16), FS_SOLVER_SLEPC);
  ck_assert_int_eq(fs_spectrum_choose(3072, 768, 24), FS_SOLVER_SLEPC);
  ck_assert_int_eq(fs_spectrum_choose(1024, 4096, 16), FS_SOLVER_RSVD);
  ck_assert_int_eq(fs_spectrum_choose(768, 64, 64), FS_SOLVER_RSVD); /* a head slice */
  ck_assert_int_eq(fs_spectrum_choose(768, 768, 64), FS_SOLVER_SLEPC);
  ck_assert_int_eq(fs_spectrum_choose(4096, 4096, 64), FS_SOLVER_RSVD);
  ck_assert_int_eq(fs_spectrum_choose(128, 250, 64), FS_SOLVER_SLEPC);
}
END_TEST

/* A slowly decaying spectrum, sigma_i = i^-0.5, of a 768 x 3072 matrix built as
 * Q1 diag(sigma) Q2^T: the top 64 singular values within 1e-10 relative of
 * LAPACK's dgesdd (and of the constructed values), and the top-64 singular
 * subspaces within 1e-8 rad of dgesdd's and of span(Q1), span(Q2) (the gap
 * sigma_64 - sigma_65 = 9.5e-4 bounds the subspace error by r / gap, Wedin). */
START_TEST(slow_decay_against_dgesdd) {
  enum { m = 768, n = 3072, k = 64 };
  fs_test_seed(61);
  double *Q1 = malloc(sizeof(double) * m * m), *Q2 = malloc(sizeof(double) * (size_t)n * m);
  double *W = malloc(sizeof(double) * (size_t)m * n), *s = malloc(sizeof(double) * m);
  double *U = malloc(sizeof(double) * (size_t)m * m), *V = malloc(sizeof(double) * (size_t)n * m);
  ck_assert(Q1 && Q2 && W && s && U && V);
  fs_test_orthonormal(m, m, Q1);
  fs_test_orthonormal(n, m, Q2);
  for (int t = 0; t < m; t++)
    for (int i = 0; i < n; i++) Q2[i + (size_t)t * n] *= 1.0 / sqrt(t + 1.0);
  /* row-major W (m x n) = column-major W^T (n x m) = Q2 diag(sigma) Q1^T */
  const int nn = n, mm = m;
  const double one = 1.0, zero = 0.0;
  dgemm_("N", "T", &nn, &mm, &mm, &one, Q2, &nn, Q1, &mm, &zero, W, &nn, 1, 1);
  for (int t = 0; t < m; t++)
    for (int i = 0; i < n; i++) Q2[i + (size_t)t * n] *= sqrt(t + 1.0);
  fs_spectrum sp;
  fs_error err;
  ck_assert_msg(!fs_spectrum_compute(W, m, n, k, &sp, &err), "%s", err.msg);
  ck_assert_int_eq(fs_test_full_svd(W, m, n, s, U, V), 0);
  double dev = 0.0, devc = 0.0, th[k], au = 0.0, av = 0.0, aq = 0.0;
  for (int i = 0; i < k; i++) {
    dev = fmax(dev, fabs(sp.sigma[i] - s[i]) / s[i]);
    devc = fmax(devc, fabs(sp.sigma[i] - 1.0 / sqrt(i + 1.0)) * sqrt(i + 1.0));
  }
  ck_assert(!fs_principal_angles(m, sp.U, k, U, k, th, &err));
  au = th[k - 1];
  ck_assert(!fs_principal_angles(n, sp.V, k, V, k, th, &err));
  av = th[k - 1];
  ck_assert(!fs_principal_angles(m, sp.U, k, Q1, k, th, &err));
  aq = th[k - 1];
  ck_assert(!fs_principal_angles(n, sp.V, k, Q2, k, th, &err));
  aq = fmax(aq, th[k - 1]);
  printf("768 x 3072, sigma_i = i^-0.5, k = 64, solver %s: sigma vs dgesdd %.1e, vs construction "
         "%.1e relative; largest angle to dgesdd's U_k %.1e, V_k %.1e, to the constructed "
         "bases %.1e rad\n", sp.solver, dev, devc, au, av, aq);
  ck_assert_double_lt(dev, 1e-10);
  ck_assert_double_lt(devc, 1e-10);
  ck_assert_double_lt(fmax(au, fmax(av, aq)), 1e-8);
  fs_spectrum_free(&sp);
  free(Q1), free(Q2), free(W), free(s), free(U), free(V);
}
END_TEST

static Suite *spectrum_suite(void) {
  Suite *s = suite_create("spectrum");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 240);
  tcase_add_checked_fixture(tc, clear_options, clear_options);
  tcase_add_test(tc, tall_decaying);
  tcase_add_test(tc, wide_decaying);
  tcase_add_test(tc, large_decaying);
  tcase_add_test(tc, tall_gaussian);
  tcase_add_test(tc, wide_gaussian);
  tcase_add_test(tc, large_gaussian);
  tcase_add_test(tc, full_rank_k);
  tcase_add_test(tc, vectors_one_row_or_column);
  tcase_add_test(tc, rank_one);
  tcase_add_test(tc, zero_matrix);
  tcase_add_test(tc, rank_deficient);
  tcase_add_test(tc, identity);
  tcase_add_test(tc, failures);
  tcase_add_test(tc, huge_and_tiny_entries);
  tcase_add_test(tc, deterministic);
  tcase_add_test(tc, stats);
  tcase_add_test(tc, options_override);
  tcase_add_test(tc, auto_rule);
  tcase_add_test(tc, slow_decay_against_dgesdd);
  suite_add_tcase(s, tc);
  return s;
}

int main(int argc, char **argv) {
  fs_error err;
  if (fs_petsc_init(&argc, &argv, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return EXIT_FAILURE;
  }
  SRunner *sr = srunner_create(spectrum_suite());
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  fs_petsc_finalize();
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
