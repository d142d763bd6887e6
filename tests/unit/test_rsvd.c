/*
 * test_rsvd.c - the block Krylov SVD (fs_rsvd.h) against LAPACK's full SVD
 * (dgesdd, fs_testutil): singular values, subspaces, residuals recomputed
 * from W, orthonormality; the restart, breakdown and full-space paths; the
 * stopping test's failure.  No MPI, no PETSc (runs under valgrind too).
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs_rsvd.h"
#include "fs_testutil.h"

static double *dalloc(size_t n) {
  double *p = calloc(n ? n : 1, sizeof(double));
  ck_assert_ptr_nonnull(p);
  return p;
}

/* Row-major W = X diag(s) Y^T, X (m x r), Y (n x r) random orthonormal. */
static double *build(int m, int n, int r, double decay) {
  double *X = dalloc((size_t)m * r), *Y = dalloc((size_t)n * r), *W = dalloc((size_t)m * n);
  fs_test_orthonormal(m, r, X);
  fs_test_orthonormal(n, r, Y);
  for (int l = 0; l < r; l++) {
    double s = pow(l + 1.0, -decay);
    for (int i = 0; i < m; i++)
      for (int c = 0; c < n; c++)
        W[(size_t)i * n + c] += X[i + (size_t)l * m] * s * Y[c + (size_t)l * n];
  }
  free(X), free(Y);
  return W;
}

static double fro(const double *W, size_t len) {
  double s = 0.0;
  for (size_t i = 0; i < len; i++) s += W[i] * W[i];
  return sqrt(s);
}

/* ||X - Y Y^T X||_F (>= sin of the largest principal angle). */
static double distance(int len, int k, const double *X, const double *Y) {
  double worst = 0.0;
  double *h = dalloc(k), *p = dalloc(len);
  for (int c = 0; c < k; c++) {
    memcpy(p, X + (size_t)c * len, sizeof(double) * len);
    for (int l = 0; l < k; l++) {
      double t = 0.0;
      for (int r = 0; r < len; r++) t += Y[r + (size_t)l * len] * X[r + (size_t)c * len];
      h[l] = t;
    }
    for (int l = 0; l < k; l++)
      for (int r = 0; r < len; r++) p[r] -= Y[r + (size_t)l * len] * h[l];
    for (int r = 0; r < len; r++) worst += p[r] * p[r];
  }
  free(h), free(p);
  return sqrt(worst);
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

/* max_i max(||W v_i - s_i u_i||, ||W^T u_i - s_i v_i||) / max(s_i, floor). */
static double residual(const double *W, int m, int n, int k, const double *s,
                       const double *U, const double *V, double floor) {
  double worst = 0.0;
  for (int i = 0; i < k; i++) {
    const double *u = U + (size_t)i * m, *v = V + (size_t)i * n;
    double r1 = 0.0, r2 = 0.0;
    for (int a = 0; a < m; a++) {
      double t = -s[i] * u[a];
      for (int c = 0; c < n; c++) t += W[(size_t)a * n + c] * v[c];
      r1 += t * t;
    }
    for (int c = 0; c < n; c++) {
      double t = -s[i] * v[c];
      for (int a = 0; a < m; a++) t += W[(size_t)a * n + c] * u[a];
      r2 += t * t;
    }
    worst = fmax(worst, sqrt(fmax(r1, r2)) / fmax(s[i], floor));
  }
  return worst;
}

/* Solve with o and check everything against dgesdd; returns the blocks. */
static int check(const double *W, int m, int n, int k, fs_rsvd_opts *o) {
  int mn = m < n ? m : n, its = 0;
  double *sref = dalloc(mn), *Uref = dalloc((size_t)m * mn), *Vref = dalloc((size_t)n * mn);
  ck_assert_int_eq(fs_test_full_svd(W, m, n, sref, Uref, Vref), 0);
  double *s = dalloc(k), *U = dalloc((size_t)m * k), *V = dalloc((size_t)n * k), res = -1;
  o->floor = 1e-3 * fro(W, (size_t)m * n);
  fs_error err;
  int rc = fs_rsvd_solve(W, m, n, k, o, s, U, V, &its, &res, &err);
  ck_assert_msg(rc == 0, "%dx%d k=%d: %s", m, n, k, err.msg);
  ck_assert_int_ge(its, 0); /* 0: the Gram path answered */
  ck_assert_double_le(res, o->tol);
  /* the criterion, recomputed here from W independently */
  ck_assert_double_le(residual(W, m, n, k, s, U, V, o->floor), 2 * o->tol);
  for (int i = 0; i < k; i++)
    ck_assert_msg(fabs(s[i] - sref[i]) <= o->tol * fmax(sref[i], o->floor),
                  "%dx%d k=%d: sigma[%d] = %.17g, dgesdd %.17g", m, n, k, i, s[i], sref[i]);
  ck_assert_double_le(orth_defect(m, k, U), 1e-12);
  ck_assert_double_le(orth_defect(n, k, V), 1e-12);
  double gap = k < mn ? sref[k - 1] - sref[k] : sref[k - 1];
  if (gap > 1e-3 * sref[0]) { /* Wedin: angle <= residual / gap */
    double bound = 2 * o->tol * fmax(sref[0], o->floor) / gap * sqrt(k) + 1e-12;
    ck_assert_double_le(distance(m, k, U, Uref), bound);
    ck_assert_double_le(distance(n, k, V, Vref), bound);
  }
  free(sref), free(Uref), free(Vref), free(s), free(U), free(V);
  return its;
}

START_TEST(tall_and_wide) {
  fs_test_seed(11);
  const int shapes[3][2] = {{300, 200}, {150, 400}, {257, 257}};
  const int ks[3] = {1, 10, 40};
  for (int i = 0; i < 3; i++) {
    int m = shapes[i][0], n = shapes[i][1];
    double *W = build(m, n, m < n ? m : n, 0.5);
    for (int j = 0; j < 3; j++) {
      fs_rsvd_opts o;
      fs_rsvd_defaults(m, n, ks[j], &o);
      check(W, m, n, ks[j], &o);
    }
    free(W);
  }
}
END_TEST

/* A Krylov space limited to k + 2b: many thick restarts, same answer. */
START_TEST(thick_restarts) {
  fs_test_seed(12);
  double *W = build(400, 300, 300, 0.5);
  fs_rsvd_opts o;
  fs_rsvd_defaults(400, 300, 20, &o);
  o.block = 8, o.maxdim = 36;
  int its = check(W, 400, 300, 20, &o);
  ck_assert_int_gt(its, (36 - 20) / 8 + 2); /* it did restart */
  free(W);
}
END_TEST

/* Rank 12 with k = 30: the Krylov space becomes invariant (breakdown); the
 * dependent directions are replaced and the null triplets still come out
 * orthonormal with sigma at the rounding level. */
START_TEST(rank_deficient) {
  fs_test_seed(13);
  int m = 200, n = 120, k = 30, r = 12;
  double *W = build(m, n, r, 0.3);
  fs_rsvd_opts o;
  fs_rsvd_defaults(m, n, k, &o);
  o.floor = 1e-3 * fro(W, (size_t)m * n);
  double *s = dalloc(k), *U = dalloc((size_t)m * k), *V = dalloc((size_t)n * k), res;
  int its;
  fs_error err;
  ck_assert_int_eq(fs_rsvd_solve(W, m, n, k, &o, s, U, V, &its, &res, &err), 0);
  for (int i = 0; i < r; i++) ck_assert_double_eq_tol(s[i], pow(i + 1.0, -0.3), 1e-12);
  for (int i = r; i < k; i++) ck_assert_double_le(s[i], 1e-12);
  ck_assert_double_le(orth_defect(m, k, U), 1e-12);
  ck_assert_double_le(orth_defect(n, k, V), 1e-12);
  ck_assert_double_le(residual(W, m, n, k, s, U, V, o.floor), 2e-10);
  free(W), free(s), free(U), free(V);
}
END_TEST

/* k = min(m, n) and k close to it: one block spanning R^min(m,n), exact. */
START_TEST(whole_space) {
  fs_test_seed(14);
  double *W = build(90, 40, 40, 1.0);
  fs_rsvd_opts o;
  fs_rsvd_defaults(90, 40, 40, &o);
  check(W, 90, 40, 40, &o);
  fs_rsvd_defaults(90, 40, 35, &o);
  check(W, 90, 40, 35, &o);
  free(W);
}
END_TEST

START_TEST(deterministic) {
  fs_test_seed(15);
  double *W = build(120, 90, 90, 0.5);
  double s1[10], s2[10], *U = dalloc(120 * 10), *V = dalloc(90 * 10);
  fs_rsvd_opts o;
  fs_rsvd_defaults(120, 90, 10, &o);
  int its;
  fs_error err;
  ck_assert_int_eq(fs_rsvd_solve(W, 120, 90, 10, &o, s1, U, V, &its, NULL, &err), 0);
  ck_assert_int_eq(fs_rsvd_solve(W, 120, 90, 10, &o, s2, U, V, &its, NULL, &err), 0);
  ck_assert_int_eq(memcmp(s1, s2, sizeof s1), 0);
  free(W), free(U), free(V);
}
END_TEST

START_TEST(failures) {
  fs_test_seed(16);
  double *W = build(100, 80, 80, 0.5);
  double s[10], *U = dalloc(100 * 10), *V = dalloc(80 * 10);
  fs_rsvd_opts o;
  fs_rsvd_defaults(100, 80, 10, &o);
  int its;
  fs_error err;
  /* a test no arithmetic can meet, no restarts: a clear failure */
  o.tol = 1e-30, o.max_restarts = 0, o.maxdim = 40;
  ck_assert_int_eq(fs_rsvd_solve(W, 100, 80, 10, &o, s, U, V, &its, NULL, &err), FS_ERR);
  ck_assert_ptr_nonnull(strstr(err.msg, "residual"));
  fs_rsvd_defaults(100, 80, 10, &o);
  ck_assert_int_eq(fs_rsvd_solve(W, 100, 80, 0, &o, s, U, V, &its, NULL, &err), FS_ERR);
  ck_assert_int_eq(fs_rsvd_solve(W, 100, 80, 81, &o, s, U, V, &its, NULL, &err), FS_ERR);
  ck_assert_int_eq(fs_rsvd_solve(NULL, 100, 80, 5, &o, s, U, V, &its, NULL, &err), FS_ERR);
  free(W), free(U), free(V);
}
END_TEST

/* Aspect >= 4: the Gram path answers (its = 0), to the same test. */
START_TEST(gram_path) {
  fs_test_seed(17);
  const int shapes[2][2] = {{500, 100}, {90, 450}};
  for (int i = 0; i < 2; i++) {
    int m = shapes[i][0], n = shapes[i][1];
    double *W = build(m, n, m < n ? m : n, 0.5);
    fs_rsvd_opts o;
    fs_rsvd_defaults(m, n, 10, &o);
    ck_assert_int_eq(check(W, m, n, 10, &o), 0);
    o.gram = 0; /* and the Krylov path on the same matrix */
    ck_assert_int_gt(check(W, m, n, 10, &o), 0);
    free(W);
  }
}
END_TEST

/* Rank 12, k = 30, tall: the Gram path cannot resolve the null singular
 * values (its vectors there are noise), is rejected, and Krylov answers. */
START_TEST(gram_rejected) {
  fs_test_seed(18);
  int m = 600, n = 100, k = 30, r = 12;
  double *W = build(m, n, r, 0.3);
  fs_rsvd_opts o;
  fs_rsvd_defaults(m, n, k, &o);
  o.floor = 1e-3 * fro(W, (size_t)m * n);
  double *s = dalloc(k), *U = dalloc((size_t)m * k), *V = dalloc((size_t)n * k), res;
  int its = -1;
  fs_error err;
  ck_assert_int_eq(fs_rsvd_solve(W, m, n, k, &o, s, U, V, &its, &res, &err), 0);
  ck_assert_int_gt(its, 0);
  for (int i = 0; i < r; i++) ck_assert_double_eq_tol(s[i], pow(i + 1.0, -0.3), 1e-12);
  ck_assert_double_le(orth_defect(m, k, U), 1e-12);
  ck_assert_double_le(orth_defect(n, k, V), 1e-12);
  free(W), free(s), free(U), free(V);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("rsvd");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, tall_and_wide);
  tcase_add_test(tc, thick_restarts);
  tcase_add_test(tc, rank_deficient);
  tcase_add_test(tc, whole_space);
  tcase_add_test(tc, deterministic);
  tcase_add_test(tc, failures);
  tcase_add_test(tc, gram_path);
  tcase_add_test(tc, gram_rejected);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return fs_test_run(suite()); }
