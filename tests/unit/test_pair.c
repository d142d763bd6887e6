/*
 * test_pair.c - principal angles, intersection dimensions, overlap, kappa and
 * balancedness (fs_pair.h) against values known by construction or computed
 * here with dense d x d matrices.  No PETSc: runs clean under valgrind.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs_pair.h"
#include "fs_testutil.h"

#define DEG (3.14159265358979323846 / 180.0)
#define HALF_PI 1.57079632679489661923

static double *dalloc(size_t n) {
  double *p = calloc(n ? n : 1, sizeof(double));
  ck_assert_ptr_nonnull(p);
  return p;
}

/* Subspaces with prescribed principal angles t[0..q), q = min(k, j):
 * U = Q [e_1..e_k], V_i = cos t_i Q e_i + sin t_i Q e_{k+i} for i < q and
 * V_i = Q e_{k+i} beyond (orthogonal to everything); Q random orthogonal.
 * Needs d >= k + j. */
static void angled_pair(int d, int k, int j, const double *t, double *U,
                        double *V) {
  double *Q = dalloc((size_t)d * d);
  fs_test_orthonormal(d, d, Q);
  int q = k < j ? k : j;
  memcpy(U, Q, sizeof(double) * (size_t)d * k);
  for (int i = 0; i < j; i++) {
    const double *qa = Q + (size_t)i * d, *qb = Q + (size_t)(k + i) * d;
    for (int r = 0; r < d; r++)
      V[r + (size_t)i * d] =
          i < q ? cos(t[i]) * qa[r] + sin(t[i]) * qb[r] : qb[r];
  }
  free(Q);
}

/* Dense reference: form A = V diag(a) V^T, B = U diag(b) U^T, AB - BA and
 * A - B as d x d matrices with plain loops. */
static void dense_reference(int d, const double *U, const double *b, int k,
                            const double *V, const double *a, int j,
                            double *kappa, double *bal) {
  double *A = dalloc((size_t)d * d), *B = dalloc((size_t)d * d);
  for (int r = 0; r < d; r++)
    for (int c = 0; c < d; c++) {
      long double sa = 0, sb = 0;
      for (int i = 0; i < j; i++) sa += (long double)V[r + i * d] * a[i] * V[c + i * d];
      for (int i = 0; i < k; i++) sb += (long double)U[r + i * d] * b[i] * U[c + i * d];
      A[r + c * d] = (double)sa;
      B[r + c * d] = (double)sb;
    }
  long double nc = 0, na = 0, nb = 0, nd = 0;
  for (int r = 0; r < d; r++)
    for (int c = 0; c < d; c++) {
      long double ab = 0, ba = 0;
      for (int i = 0; i < d; i++) {
        ab += (long double)A[r + i * d] * B[i + c * d];
        ba += (long double)B[r + i * d] * A[i + c * d];
      }
      nc += (ab - ba) * (ab - ba);
      na += (long double)A[r + c * d] * A[r + c * d];
      nb += (long double)B[r + c * d] * B[r + c * d];
      nd += (long double)(A[r + c * d] - B[r + c * d]) * (A[r + c * d] - B[r + c * d]);
    }
  *kappa = (double)(sqrtl(nc) / (sqrtl(2.0L) * sqrtl(na) * sqrtl(nb)));
  *bal = (double)(sqrtl(nd) / (sqrtl(na) + sqrtl(nb)));
  free(A);
  free(B);
}

static void random_weights(int k, double *w) {
  for (int i = 0; i < k; i++) w[i] = 0.1 + fabs(fs_test_normal());
}

/* ------------------------------------------------------------------------ */

START_TEST(angles_known) {
  fs_test_seed(11);
  enum { d = 40, k = 7 };
  /* Sorted; around 5 degrees on both sides; exactly orthogonal at the end. */
  const double t[k] = {0.0, 1e-9, 1e-5, 4.999 * DEG, 5.001 * DEG, 0.9, HALF_PI};
  double *U = dalloc(d * k), *V = dalloc(d * k), theta[k];
  angled_pair(d, k, k, t, U, V);
  fs_error err;
  ck_assert_int_eq(fs_principal_angles(d, U, k, V, k, theta, &err), 0);
  for (int i = 0; i < k; i++) {
    /* Below pi/4 the sine form gives ~1e-16 absolute, so 1e-9 keeps ~7
     * digits; the arccos form alone would return 0 for it. */
    ck_assert_msg(fabs(theta[i] - t[i]) < 1e-15,
                  "theta[%d] = %.17g, expected %.17g", i, theta[i], t[i]);
  }
  ck_assert_double_eq_tol(theta[1], 1e-9, 1e-15);
  free(U);
  free(V);
}
END_TEST

START_TEST(pair_dims_and_overlap) {
  fs_test_seed(12);
  enum { d = 40, k = 7 };
  const double t[k] = {0.0, 1e-9, 1e-5, 4.999 * DEG, 5.001 * DEG, 0.9, HALF_PI};
  const double eps[3] = {1 * DEG, 5 * DEG, 10 * DEG};
  double *U = dalloc(d * k), *V = dalloc(d * k), sw[k], sr[k];
  angled_pair(d, k, k, t, U, V);
  for (int i = 0; i < k; i++) sw[i] = sr[i] = k - i;
  fs_basis w = {d, k, U, sw}, r = {d, k, V, sr};
  fs_pair_result res;
  fs_error err;
  ck_assert_int_eq(fs_pair_compute(&w, &r, eps, 3, &res, &err), 0);
  ck_assert_int_eq(res.q, k);
  ck_assert_int_eq(res.dim[0], 3);
  ck_assert_int_eq(res.dim[1], 4); /* 4.999 deg in, 5.001 deg out */
  ck_assert_int_eq(res.dim[2], 5);
  double ov = 0.0;
  for (int i = 0; i < k; i++) ov += cos(t[i]) * cos(t[i]);
  ck_assert_double_eq_tol(res.overlap, ov, 1e-13);
  ck_assert_double_eq_tol(res.overlap_random, (double)k * k / d, 1e-15);
  for (int i = 0; i < k; i++) ck_assert_double_eq_tol(res.theta[i], t[i], 1e-15);
  ck_assert(res.kappa >= 0.0 && res.kappa <= 1.0);
  ck_assert(res.balancedness >= 0.0 && res.balancedness <= 1.0);
  fs_pair_result_free(&res);
  fs_pair_result_free(&res); /* idempotent */
  free(U);
  free(V);
}
END_TEST

START_TEST(angles_unequal_sizes) {
  fs_test_seed(13);
  enum { d = 30 };
  const double t[4] = {2e-9, 0.3, 1.0, 1.5};
  for (int swap = 0; swap < 2; swap++) {
    int k = swap ? 7 : 4, j = swap ? 4 : 7;
    double *U = dalloc(d * k), *V = dalloc(d * j), theta[4];
    angled_pair(d, k, j, t, U, V);
    fs_error err;
    ck_assert_int_eq(fs_principal_angles(d, U, k, V, j, theta, &err), 0);
    for (int i = 0; i < 4; i++) ck_assert_double_eq_tol(theta[i], t[i], 1e-15);
    /* The angles are symmetric in the two subspaces. */
    ck_assert_int_eq(fs_principal_angles(d, V, j, U, k, theta, &err), 0);
    for (int i = 0; i < 4; i++) ck_assert_double_eq_tol(theta[i], t[i], 1e-15);
    free(U);
    free(V);
  }
}
END_TEST

START_TEST(angles_more_vectors_than_dimension) {
  /* d < k + j: at least k + j - d angles are exactly zero. */
  fs_test_seed(14);
  enum { d = 10, k = 6, j = 7, q = 6 };
  double U[d * k], V[d * j], theta[q], M[k * j], c[q];
  fs_test_orthonormal(d, k, U);
  fs_test_orthonormal(d, j, V);
  fs_error err;
  ck_assert_int_eq(fs_principal_angles(d, U, k, V, j, theta, &err), 0);
  for (int i = 0; i < k + j - d; i++) ck_assert_double_le(theta[i], 1e-14);
  /* The others against arccos of the reference cosines (accurate there). */
  for (int a = 0; a < k; a++)
    for (int b = 0; b < j; b++) {
      double s = 0.0;
      for (int r = 0; r < d; r++) s += U[r + a * d] * V[r + b * d];
      M[a + b * k] = s; /* row-major k x j for fs_test_full_svd */
    }
  double Mr[k * j];
  for (int a = 0; a < k; a++)
    for (int b = 0; b < j; b++) Mr[a * j + b] = M[a + b * k];
  ck_assert_int_eq(fs_test_full_svd(Mr, k, j, c, NULL, NULL), 0);
  for (int i = k + j - d; i < q; i++)
    if (c[i] < 0.99) ck_assert_double_eq_tol(theta[i], acos(c[i]), 1e-13);
  for (int i = 1; i < q; i++) ck_assert_double_ge(theta[i], theta[i - 1]);
}
END_TEST

START_TEST(angles_full_space_and_orthogonal) {
  fs_test_seed(15);
  enum { d = 8 };
  double Q[d * d], theta[4];
  fs_test_orthonormal(d, d, Q);
  fs_error err;
  /* span(V) = whole space: every angle 0. */
  ck_assert_int_eq(fs_principal_angles(d, Q, 4, Q, d, theta, &err), 0);
  for (int i = 0; i < 4; i++) ck_assert_double_le(theta[i], 1e-14);
  /* Complementary subspaces: every angle pi/2, overlap 0. */
  ck_assert_int_eq(fs_principal_angles(d, Q, 4, Q + 4 * d, 4, theta, &err), 0);
  for (int i = 0; i < 4; i++) ck_assert_double_eq_tol(theta[i], HALF_PI, 1e-15);
  double s[4] = {1, 1, 1, 1};
  fs_basis w = {d, 4, Q, s}, r = {d, 4, Q + 4 * d, s};
  fs_pair_result res;
  const double eps = 10 * DEG;
  ck_assert_int_eq(fs_pair_compute(&w, &r, &eps, 1, &res, &err), 0);
  ck_assert_int_eq(res.dim[0], 0);
  ck_assert_double_le(res.overlap, 1e-28);
  /* Orthogonal supports: AB = BA = 0, and ||A - B|| = sqrt(||A||^2 + ||B||^2). */
  ck_assert_double_le(res.kappa, 1e-15);
  ck_assert_double_eq_tol(res.balancedness, sqrt(8.0) / 4.0, 1e-15);
  fs_pair_result_free(&res);
}
END_TEST

START_TEST(kappa_commuting) {
  /* Grams diagonal in one basis commute, whatever the weights and even when
   * the two spans only partly overlap ([V U] rank deficient). */
  fs_test_seed(16);
  enum { d = 20 };
  double Q[d * d], a[6], b[6], kappa, bal;
  fs_test_orthonormal(d, d, Q);
  random_weights(6, a);
  random_weights(6, b);
  fs_error err;
  ck_assert_int_eq(fs_gram_pair(d, Q, b, 6, Q, a, 6, &kappa, &bal, &err), 0);
  ck_assert_double_le(kappa, 1e-15);
  ck_assert_int_eq(fs_gram_pair(d, Q + 3 * d, b, 6, Q, a, 5, &kappa, &bal, &err), 0);
  ck_assert_double_le(kappa, 1e-15);
  double kr, br;
  dense_reference(d, Q + 3 * d, b, 6, Q, a, 5, &kr, &br);
  ck_assert_double_eq_tol(bal, br, 1e-14);
}
END_TEST

START_TEST(kappa_dense_reference) {
  fs_test_seed(17);
  /* d = 30 random; d < k + j (wide QR); k = j = d (full rank). */
  const int cases[][3] = {{30, 5, 7}, {30, 1, 1}, {10, 6, 7}, {8, 8, 8}, {5, 1, 5}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int d = cases[c][0], k = cases[c][1], j = cases[c][2];
    double *U = dalloc(d * k), *V = dalloc(d * j), a[8], b[8];
    fs_test_orthonormal(d, k, U);
    fs_test_orthonormal(d, j, V);
    random_weights(j, a);
    random_weights(k, b);
    double kappa, bal, kr, br;
    fs_error err;
    ck_assert_int_eq(fs_gram_pair(d, U, b, k, V, a, j, &kappa, &bal, &err), 0);
    dense_reference(d, U, b, k, V, a, j, &kr, &br);
    ck_assert_msg(fabs(kappa - kr) <= 1e-13 * kr + 1e-15,
                  "case %zu: kappa %.17g, dense %.17g", c, kappa, kr);
    ck_assert_msg(fabs(bal - br) <= 1e-13 * br,
                  "case %zu: balancedness %.17g, dense %.17g", c, bal, br);
    ck_assert(kappa <= 1.0 && bal <= 1.0);
    free(U);
    free(V);
  }
}
END_TEST

START_TEST(kappa_nearly_commuting) {
  /* A = diag(a1, a2), B = R(phi) diag(b1, b2) R(phi)^T in a random 2-plane:
   * ||AB - BA||_F = sqrt(2) |a1-a2| |b1-b2| |sin phi cos phi| exactly.  The
   * trace formula would lose everything below ~1e-8 here. */
  fs_test_seed(18);
  enum { d = 20 };
  const double phis[3] = {1e-9, 1e-6, 0.3};
  const double a[2] = {1.0, 0.5}, b[2] = {0.8, 0.3};
  double Q[d * d], V[d * 2], U[d * 2];
  fs_test_orthonormal(d, d, Q);
  memcpy(V, Q, sizeof V);
  for (int p = 0; p < 3; p++) {
    double c = cos(phis[p]), s = sin(phis[p]);
    for (int r = 0; r < d; r++) {
      U[r] = c * Q[r] + s * Q[r + d];
      U[r + d] = -s * Q[r] + c * Q[r + d];
    }
    double kappa, bal;
    fs_error err;
    ck_assert_int_eq(fs_gram_pair(d, U, b, 2, V, a, 2, &kappa, &bal, &err), 0);
    double na = hypot(a[0], a[1]), nb = hypot(b[0], b[1]);
    double exact = fabs((a[0] - a[1]) * (b[0] - b[1]) * s * c) / (na * nb);
    ck_assert_msg(fabs(kappa - exact) <= 1e-6 * exact,
                  "phi %g: kappa %.17g, exact %.17g", phis[p], kappa, exact);
    /* Balanced weights (b = a): ||A - B||_F = |a1 - a2| sqrt(2) |sin phi|. */
    ck_assert_int_eq(fs_gram_pair(d, U, a, 2, V, a, 2, &kappa, &bal, &err), 0);
    double bex = fabs(a[0] - a[1]) * sqrt(2.0) * s / (2.0 * na);
    ck_assert_msg(fabs(bal - bex) <= 1e-6 * bex,
                  "phi %g: balancedness %.17g, exact %.17g", phis[p], bal, bex);
  }
}
END_TEST

/* Row-major product of column-major pieces: W = X diag(s) Y^T (X m x r,
 * Y n x r). */
static void build(int m, int n, int r, const double *X, const double *s,
                  const double *Y, double *W) {
  for (int i = 0; i < m; i++)
    for (int c = 0; c < n; c++) {
      double t = 0.0;
      for (int l = 0; l < r; l++) t += X[i + l * m] * s[l] * Y[c + l * n];
      W[i * n + c] = t;
    }
}

START_TEST(balanced_pair) {
  /* W1 = U S V1^T (writer, d x n1) and W2 = V2 S U^T (reader, n2 x d) give
   * W1 W1^T = W2^T W2 = U S^2 U^T: balancedness and kappa are 0.  The bases
   * come from independent SVDs of W1 and W2 (signs differ, spans agree). */
  fs_test_seed(19);
  enum { d = 12, n1 = 9, n2 = 15, r = 6 };
  double Us[d * r], V1[n1 * r], V2[n2 * r], s[r] = {5, 4, 3, 2, 1.5, 1};
  fs_test_orthonormal(d, r, Us);
  fs_test_orthonormal(n1, r, V1);
  fs_test_orthonormal(n2, r, V2);
  double W1[d * n1], W2[n2 * d];
  build(d, n1, r, Us, s, V1, W1);
  build(n2, d, r, V2, s, Us, W2);
  double s1[n1], s2[d], L1[d * n1], R2[d * d];
  ck_assert_int_eq(fs_test_full_svd(W1, d, n1, s1, L1, NULL), 0);
  ck_assert_int_eq(fs_test_full_svd(W2, n2, d, s2, NULL, R2), 0);
  fs_basis w = {d, r, L1, s1}, rd = {d, r, R2, s2};
  fs_pair_result res;
  fs_error err;
  ck_assert_int_eq(fs_pair_compute(&w, &rd, NULL, 0, &res, &err), 0);
  ck_assert_double_le(res.balancedness, 1e-14);
  ck_assert_double_le(res.kappa, 1e-14);
  for (int i = 0; i < r; i++) ck_assert_double_le(res.theta[i], 1e-14);
  ck_assert_double_eq_tol(res.overlap, r, 1e-13);
  fs_pair_result_free(&res);

  /* Unbalanced by a factor 2 on one value: against the dense reference. */
  double a[r], b[r];
  for (int i = 0; i < r; i++) a[i] = b[i] = s[i] * s[i];
  a[2] *= 2.0;
  double kappa, bal, kr, br;
  ck_assert_int_eq(fs_gram_pair(d, L1, b, r, R2, a, r, &kappa, &bal, &err), 0);
  dense_reference(d, L1, b, r, R2, a, r, &kr, &br);
  ck_assert_double_eq_tol(bal, br, 1e-13 * br);
  /* A - B = 9 u_3 u_3^T: ||A - B|| = 9, ||A||^2 = 625 + 256 + 324 + 16 +
   * 5.0625 + 1, ||B||^2 = 625 + 256 + 81 + 16 + 5.0625 + 1. */
  ck_assert_double_eq_tol(bal, 9.0 / (sqrt(1227.0625) + sqrt(984.0625)), 1e-14);
  ck_assert_double_le(kappa, 1e-14);
}
END_TEST

START_TEST(zero_grams) {
  fs_test_seed(20);
  enum { d = 10 };
  double U[d * 3], V[d * 2], z[3] = {0, 0, 0}, a[2] = {1.0, 2.0};
  fs_test_orthonormal(d, 3, U);
  fs_test_orthonormal(d, 2, V);
  double kappa = -1, bal = -1;
  fs_error err;
  ck_assert_int_eq(fs_gram_pair(d, U, z, 3, V, z, 2, &kappa, &bal, &err), 0);
  ck_assert(kappa == 0.0 && bal == 0.0);
  ck_assert_int_eq(fs_gram_pair(d, U, z, 3, V, a, 2, &kappa, &bal, &err), 0);
  ck_assert(kappa == 0.0 && bal == 1.0);
  /* Through the pair: zero singular values, and no vectors at all. */
  fs_basis w = {d, 3, U, z}, r = {d, 2, V, z};
  fs_pair_result res;
  const double eps = 1.0;
  ck_assert_int_eq(fs_pair_compute(&w, &r, &eps, 1, &res, &err), 0);
  ck_assert(res.kappa == 0.0 && res.balancedness == 0.0);
  ck_assert(isfinite(res.theta[0]) && isfinite(res.theta[1]));
  fs_pair_result_free(&res);
  fs_basis e = {d, 0, NULL, NULL};
  ck_assert_int_eq(fs_pair_compute(&w, &e, &eps, 1, &res, &err), 0);
  ck_assert_int_eq(res.q, 0);
  ck_assert_int_eq(res.dim[0], 0);
  ck_assert(res.overlap == 0.0 && res.kappa == 0.0 && res.balancedness == 0.0);
  fs_pair_result_free(&res);
}
END_TEST

START_TEST(scale_invariance) {
  /* A common scaling of both Grams changes neither ratio; singular values of
   * 1e200 (squares overflow) and 1e-200 (squares underflow) give the same
   * numbers as O(1) ones. */
  fs_test_seed(21);
  enum { d = 16, k = 4, j = 5 };
  double U[d * k], V[d * j], sw[k], sr[j];
  fs_test_orthonormal(d, k, U);
  fs_test_orthonormal(d, j, V);
  for (int i = 0; i < k; i++) sw[i] = 3.0 - 0.5 * i;
  for (int i = 0; i < j; i++) sr[i] = 2.0 - 0.3 * i;
  fs_basis w = {d, k, U, sw}, r = {d, j, V, sr};
  fs_pair_result ref, res;
  fs_error err;
  ck_assert_int_eq(fs_pair_compute(&w, &r, NULL, 0, &ref, &err), 0);
  const double scales[2] = {1e200, 1e-200};
  for (int t = 0; t < 2; t++) {
    double sw2[k], sr2[j];
    for (int i = 0; i < k; i++) sw2[i] = sw[i] * scales[t];
    for (int i = 0; i < j; i++) sr2[i] = sr[i] * scales[t];
    fs_basis w2 = {d, k, U, sw2}, r2 = {d, j, V, sr2};
    ck_assert_int_eq(fs_pair_compute(&w2, &r2, NULL, 0, &res, &err), 0);
    ck_assert_double_eq_tol(res.kappa, ref.kappa, 1e-14 * ref.kappa);
    ck_assert_double_eq_tol(res.balancedness, ref.balancedness,
                            1e-14 * ref.balancedness);
    fs_pair_result_free(&res);
  }
  double a[j], b[k], kr, br;
  for (int i = 0; i < j; i++) a[i] = sr[i] * sr[i];
  for (int i = 0; i < k; i++) b[i] = sw[i] * sw[i];
  dense_reference(d, U, b, k, V, a, j, &kr, &br);
  ck_assert_double_eq_tol(ref.kappa, kr, 1e-13 * kr);
  ck_assert_double_eq_tol(ref.balancedness, br, 1e-13 * br);
  fs_pair_result_free(&ref);
}
END_TEST

START_TEST(worked_example) {
  /* docs/mathematics.md, section 8: d = 2, two rank-one Grams at 30 deg. */
  const double t = 30 * DEG, U[2] = {1.0, 0.0}, V[2] = {cos(t), sin(t)};
  const double sw = 2.0, sr = 1.0, eps[2] = {10 * DEG, 45 * DEG};
  fs_basis w = {2, 1, U, &sw}, r = {2, 1, V, &sr};
  fs_pair_result res;
  fs_error err;
  ck_assert_int_eq(fs_pair_compute(&w, &r, eps, 2, &res, &err), 0);
  ck_assert_double_eq_tol(res.theta[0], t, 1e-15);
  ck_assert_int_eq(res.dim[0], 0);
  ck_assert_int_eq(res.dim[1], 1);
  ck_assert_double_eq_tol(res.overlap, 0.75, 1e-15);
  ck_assert(res.overlap_random == 0.5);
  ck_assert_double_eq_tol(res.kappa, sin(2 * t) / 2, 1e-15);
  ck_assert_double_eq_tol(res.balancedness, sqrt(11.0) / 5.0, 1e-15);
  fs_pair_result_free(&res);
}
END_TEST

START_TEST(errors) {
  enum { d = 6 };
  double U[d * 3] = {0}, V[8 * 2] = {0}, s[3] = {1, 1, 1}, theta[3];
  for (int i = 0; i < 3; i++) U[i + i * d] = 1.0;
  for (int i = 0; i < 2; i++) V[i + i * 8] = 1.0;
  fs_basis w = {d, 3, U, s}, r = {8, 2, V, s};
  fs_pair_result res;
  fs_error err;
  err.msg[0] = '\0';
  /* Writer and reader in different spaces. */
  ck_assert_int_eq(fs_pair_compute(&w, &r, NULL, 0, &res, &err), FS_ERR);
  ck_assert_ptr_nonnull(strstr(err.msg, "dimension"));
  ck_assert_ptr_null(res.theta);
  fs_pair_result_free(&res);
  /* More vectors than dimensions. */
  ck_assert_int_eq(fs_principal_angles(2, U, 3, U, 1, theta, &err), FS_ERR);
  /* Non-finite basis, negative weight. */
  U[4] = NAN;
  ck_assert_int_eq(fs_principal_angles(d, U, 3, U, 3, theta, &err), FS_ERR);
  ck_assert_ptr_nonnull(strstr(err.msg, "finite"));
  U[4] = 0.0;
  double neg[3] = {1, -1, 0}, kappa, bal;
  ck_assert_int_eq(fs_gram_pair(d, U, neg, 3, U, s, 3, &kappa, &bal, &err), FS_ERR);
  /* Negative number of tolerances. */
  fs_basis r6 = {d, 2, U, s};
  ck_assert_int_eq(fs_pair_compute(&w, &r6, NULL, -1, &res, &err), FS_ERR);
}
END_TEST

/* kappa_random against a Monte-Carlo average over random rotations of B
 * (dense A, B' = Q diag(b) Q^T and their commutator, formed in the test). */
START_TEST(kappa_random_monte_carlo) {
  enum { d = 8, j = 3, k = 5, N = 20000 };
  const double a[j] = {3.0, 1.5, 0.2}, b[k] = {2.0, 1.0, 0.7, 0.3, 0.1};
  double Q[d * d], B[d * d], C, sum = 0.0, na2 = 0.0, nb2 = 0.0;
  for (int i = 0; i < j; i++) na2 += a[i] * a[i];
  for (int i = 0; i < k; i++) nb2 += b[i] * b[i];
  fs_test_seed(99);
  for (int n = 0; n < N; n++) {
    fs_test_orthonormal(d, d, Q); /* sign conventions do not matter for diagonal B */
    for (int r = 0; r < d; r++)
      for (int c = 0; c < d; c++) {
        double v = 0.0;
        for (int t = 0; t < k; t++) v += Q[r + t * d] * b[t] * Q[c + t * d];
        B[r + c * d] = v;
      }
    double c2 = 0.0; /* A = diag(a, 0...): (AB - BA)_rc = (a_r - a_c) B_rc */
    for (int r = 0; r < d; r++)
      for (int c = 0; c < d; c++) {
        C = ((r < j ? a[r] : 0.0) - (c < j ? a[c] : 0.0)) * B[r + c * d];
        c2 += C * C;
      }
    sum += c2 / (2.0 * na2 * nb2);
  }
  double mc = sqrt(sum / N), closed = fs_kappa_random(d, a, j, b, k);
  ck_assert_double_eq_tol(closed, mc, 0.01 * mc); /* the Monte-Carlo error is ~0.3% */
  /* identity Grams always commute; a single dimension cannot rotate */
  const double one[4] = {1, 1, 1, 1};
  ck_assert_double_eq_tol(fs_kappa_random(4, one, 4, one, 4), 0.0, 1e-15);
  ck_assert_double_eq(fs_kappa_random(1, a, 1, b, 1), 0.0);
  /* and a pair result carries kappa / kappa_random */
  fs_pair_result res;
  double U[d * 2], V[d * 2], su[2] = {2, 1}, sv[2] = {3, 1}, eps = 0.1;
  fs_test_orthonormal(d, 2, U);
  fs_test_orthonormal(d, 2, V);
  fs_basis w = {d, 2, U, su}, rd = {d, 2, V, sv};
  fs_error e;
  ck_assert(!fs_pair_compute(&w, &rd, &eps, 1, &res, &e));
  double ws[2] = {4, 1}, rs[2] = {9, 1};
  ck_assert_double_eq_tol(res.kappa_random, fs_kappa_random(d, rs, 2, ws, 2), 1e-14);
  ck_assert_double_eq_tol(res.kappa_rel, res.kappa / res.kappa_random, 1e-14);
  fs_pair_result_free(&res);
}
END_TEST

static Suite *pair_suite(void) {
  Suite *s = suite_create("pair");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, angles_known);
  tcase_add_test(tc, pair_dims_and_overlap);
  tcase_add_test(tc, angles_unequal_sizes);
  tcase_add_test(tc, angles_more_vectors_than_dimension);
  tcase_add_test(tc, angles_full_space_and_orthogonal);
  tcase_add_test(tc, kappa_commuting);
  tcase_add_test(tc, kappa_dense_reference);
  tcase_add_test(tc, kappa_nearly_commuting);
  tcase_add_test(tc, balanced_pair);
  tcase_add_test(tc, zero_grams);
  tcase_add_test(tc, scale_invariance);
  tcase_add_test(tc, worked_example);
  tcase_add_test(tc, errors);
  tcase_add_test(tc, kappa_random_monte_carlo);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return fs_test_run(pair_suite()); }
