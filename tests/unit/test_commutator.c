/*
 * test_commutator.c - exact commutator magnitude and balancedness
 * (fs_commutator.h) against a long-double dense reference, both evaluations
 * (dense d x d and the QR of [I O]), the low-rank mode of fs_pair at full and
 * at truncated rank, and constructed commuting, balanced and random pairs.
 * No PETSc: runs clean under valgrind.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_commutator.h"
#include "fs_pair.h"
#include "fs_testutil.h"

static double *dalloc(size_t n) {
  double *p = calloc(n ? n : 1, sizeof(double));
  ck_assert_ptr_nonnull(p);
  return p;
}

static double *gaussian(size_t n) {
  double *p = dalloc(n);
  for (size_t i = 0; i < n; i++) p[i] = fs_test_normal();
  return p;
}

/* Element (r, c) of the d x n view. */
static double at(const fs_factor *f, int r, int c) {
  return f->trans ? f->a[c + (size_t)r * f->n] : f->a[r + (size_t)c * f->d];
}

/* Dense long-double reference: A = I I^T, B = O O^T, their commutator. */
static void reference(const fs_factor *I, const fs_factor *O, double *kappa, double *bal) {
  int d = I->d;
  long double *A = calloc((size_t)d * d, sizeof *A), *B = calloc((size_t)d * d, sizeof *B);
  ck_assert(A && B);
  for (int r = 0; r < d; r++)
    for (int c = 0; c < d; c++) {
      for (int t = 0; t < I->n; t++) A[r + c * d] += (long double)at(I, r, t) * at(I, c, t);
      for (int t = 0; t < O->n; t++) B[r + c * d] += (long double)at(O, r, t) * at(O, c, t);
    }
  long double nc = 0, na = 0, nb = 0, nd = 0;
  for (int r = 0; r < d; r++)
    for (int c = 0; c < d; c++) {
      long double ab = 0, ba = 0;
      for (int t = 0; t < d; t++) ab += A[r + t * d] * B[t + c * d], ba += B[r + t * d] * A[t + c * d];
      nc += (ab - ba) * (ab - ba);
      na += A[r + c * d] * A[r + c * d], nb += B[r + c * d] * B[r + c * d];
      nd += (A[r + c * d] - B[r + c * d]) * (A[r + c * d] - B[r + c * d]);
    }
  *kappa = (double)(sqrtl(nc) / (sqrtl(2.0L) * sqrtl(na) * sqrtl(nb)));
  *bal = (double)(sqrtl(nd) / (sqrtl(na) + sqrtl(nb)));
  free(A), free(B);
}

START_TEST(both_paths_against_reference) {
  /* d, n1 (writer), n2 (reader): n1 + n2 below, near and above d */
  const int cases[][3] = {{30, 4, 6}, {12, 20, 9}, {16, 16, 16}, {9, 1, 1}, {5, 40, 3}};
  fs_test_seed(41);
  double worst = 0.0;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int d = cases[c][0], n1 = cases[c][1], n2 = cases[c][2];
    double *Oa = gaussian((size_t)d * n1), *Ia = gaussian((size_t)d * n2);
    for (int tr = 0; tr < 2; tr++) {
      fs_factor O = {d, n1, tr, Oa}, I = {d, n2, !tr, Ia};
      double kr, br;
      reference(&I, &O, &kr, &br);
      for (int path = FS_GRAM_DENSE; path <= FS_GRAM_FACTOR; path++) {
        fs_commutator x;
        fs_error err;
        ck_assert_msg(!fs_commutator_exact(&I, &O, path, &x, &err), "%s", err.msg);
        ck_assert_int_eq(x.path, path);
        worst = fmax(worst, fmax(fabs(x.kappa - kr), fabs(x.balancedness - br)));
        ck_assert(x.kappa <= 1.0 && x.balancedness <= 1.0);
      }
    }
    free(Oa), free(Ia);
  }
  printf("exact commutator (dense and factor) vs long-double reference: largest deviation %.2e\n", worst);
  ck_assert_msg(worst < 1e-14, "largest deviation %.3g", worst);
}
END_TEST

/* Left singular vectors and values of the d x n factor (column-major). */
static void factor_svd(int d, int n, const double *X, double *U, double *s) {
  double *Xr = dalloc((size_t)d * n); /* row-major d x n for fs_test_full_svd */
  for (int r = 0; r < d; r++)
    for (int c = 0; c < n; c++) Xr[(size_t)r * n + c] = X[r + (size_t)c * d];
  ck_assert_int_eq(fs_test_full_svd(Xr, d, n, s, U, NULL), 0);
  free(Xr);
}

/* Low-rank mode = exact mode when k covers the rank; with k below the rank,
 * the low-rank value is the exact value of the best rank-k factors. */
START_TEST(lowrank_against_exact) {
  enum { d = 20, n1 = 14, n2 = 11 };
  fs_test_seed(42);
  double *Oa = gaussian((size_t)d * n1), *Ia = gaussian((size_t)d * n2);
  double Uo[d * n1], so[n1], Ui[d * n2], si[n2], b[n1], a[n2];
  factor_svd(d, n1, Oa, Uo, so);
  factor_svd(d, n2, Ia, Ui, si);
  for (int i = 0; i < n1; i++) b[i] = so[i] * so[i];
  for (int i = 0; i < n2; i++) a[i] = si[i] * si[i];
  fs_factor O = {d, n1, 0, Oa}, I = {d, n2, 0, Ia};
  fs_commutator x;
  fs_error err;
  ck_assert(!fs_commutator_exact(&I, &O, FS_GRAM_AUTO, &x, &err));
  double kl, bl;
  ck_assert(!fs_gram_pair(d, Uo, b, n1, Ui, a, n2, &kl, &bl, &err));
  printf("full rank: |kappa lowrank - exact| = %.1e, |balancedness| = %.1e\n", fabs(kl - x.kappa),
         fabs(bl - x.balancedness));
  ck_assert_double_eq_tol(kl, x.kappa, 1e-13);
  ck_assert_double_eq_tol(bl, x.balancedness, 1e-13);
  ck_assert_double_eq_tol(fs_kappa_random(d, a, n2, b, n1), x.kappa_random, 1e-13);
  /* k = j = 4: U_k diag(s_k) is a factor of the truncated Gram */
  enum { k = 4 };
  double Ok[d * k], Ik[d * k];
  for (int c = 0; c < k; c++)
    for (int r = 0; r < d; r++) Ok[r + c * d] = Uo[r + c * d] * so[c], Ik[r + c * d] = Ui[r + c * d] * si[c];
  fs_factor Otr = {d, k, 0, Ok}, Itr = {d, k, 0, Ik};
  fs_commutator xt;
  ck_assert(!fs_commutator_exact(&Itr, &Otr, FS_GRAM_DENSE, &xt, &err));
  ck_assert(!fs_gram_pair(d, Uo, b, k, Ui, a, k, &kl, &bl, &err));
  ck_assert_double_eq_tol(kl, xt.kappa, 1e-13);
  ck_assert_double_eq_tol(bl, xt.balancedness, 1e-13);
  /* ... and differs from the full exact value by more than rounding */
  ck_assert_msg(fabs(kl - x.kappa) > 1e-3 || fabs(bl - x.balancedness) > 1e-3,
                "truncation changed nothing: %g vs %g", kl, x.kappa);
  free(Oa), free(Ia);
}
END_TEST

/* I = Q diag(a) P1^T and O = Q diag(b) P2^T share the left basis Q: the Grams
 * commute (kappa 0); with b = a they are equal (balancedness 0). */
START_TEST(commuting_and_balanced) {
  enum { d = 16, n1 = 10, n2 = 13, r = 8 };
  fs_test_seed(43);
  double Q[d * r], P1[n1 * r], P2[n2 * r], a[r], b[r], O[d * n1], I[d * n2];
  fs_test_orthonormal(d, r, Q);
  fs_test_orthonormal(n1, r, P1);
  fs_test_orthonormal(n2, r, P2);
  for (int i = 0; i < r; i++) a[i] = 1.0 + i, b[i] = 3.0 / (1.0 + i);
  for (int bal = 0; bal < 2; bal++) {
    for (int c = 0; c < n1; c++)
      for (int row = 0; row < d; row++) {
        double v = 0;
        for (int t = 0; t < r; t++) v += Q[row + t * d] * (bal ? a[t] : b[t]) * P1[c + t * n1];
        O[row + c * d] = v;
      }
    for (int c = 0; c < n2; c++)
      for (int row = 0; row < d; row++) {
        double v = 0;
        for (int t = 0; t < r; t++) v += Q[row + t * d] * a[t] * P2[c + t * n2];
        I[row + c * d] = v;
      }
    fs_factor fo = {d, n1, 0, O}, fi = {d, n2, 0, I};
    for (int path = FS_GRAM_DENSE; path <= FS_GRAM_FACTOR; path++) {
      fs_commutator x;
      fs_error err;
      ck_assert(!fs_commutator_exact(&fi, &fo, path, &x, &err));
      ck_assert_msg(x.kappa <= 1e-14, "path %d: kappa %g", path, x.kappa);
      if (bal) ck_assert_msg(x.balancedness <= 1e-14, "path %d: balancedness %g", path, x.balancedness);
      else ck_assert(x.balancedness > 0.1);
    }
  }
}
END_TEST

/* Gaussian weights have rotation-invariant Grams, so E kappa^2 = kappa_random^2:
 * the root-mean-square kappa_rel over random pairs is 1. */
START_TEST(random_pairs_baseline) {
  enum { d = 24, n1 = 30, n2 = 18, trials = 60 };
  fs_test_seed(44);
  double s2 = 0.0;
  for (int t = 0; t < trials; t++) {
    double *Oa = gaussian((size_t)d * n1), *Ia = gaussian((size_t)d * n2);
    fs_factor O = {d, n1, 0, Oa}, I = {d, n2, 0, Ia};
    fs_commutator x;
    fs_error err;
    ck_assert(!fs_commutator_exact(&I, &O, FS_GRAM_AUTO, &x, &err));
    s2 += x.kappa_rel * x.kappa_rel;
    free(Oa), free(Ia);
  }
  double rms = sqrt(s2 / trials);
  printf("random Gaussian pairs: rms kappa_rel = %.3f over %d trials\n", rms, trials);
  ck_assert_msg(rms > 0.9 && rms < 1.1, "rms kappa_rel of random pairs %g", rms);
}
END_TEST

START_TEST(errors_and_zero) {
  double a[6] = {1, 2, 3, 4, 5, 6}, z[6] = {0};
  fs_factor I = {3, 2, 0, a}, O = {2, 3, 0, a}, Z = {3, 2, 1, z};
  fs_commutator x;
  fs_error err;
  ck_assert_int_eq(fs_commutator_exact(&I, &O, FS_GRAM_AUTO, &x, &err), FS_ERR);
  ck_assert_ptr_nonnull(strstr(err.msg, "dimension"));
  ck_assert(!fs_commutator_exact(&I, &Z, FS_GRAM_AUTO, &x, &err));
  ck_assert(x.kappa == 0.0 && x.balancedness == 1.0 && x.kappa_rel == 0.0);
  ck_assert(!fs_commutator_exact(&Z, &Z, FS_GRAM_FACTOR, &x, &err));
  ck_assert(x.kappa == 0.0 && x.balancedness == 0.0);
  a[4] = NAN;
  ck_assert_int_eq(fs_commutator_exact(&I, &I, FS_GRAM_AUTO, &x, &err), FS_ERR);
  fs_commutator_mode m;
  ck_assert(!fs_commutator_mode_parse("both", &m) && m == FS_COMMUTATOR_BOTH);
  ck_assert_int_eq(fs_commutator_mode_parse("Exact", &m), FS_ERR);
  /* the cost model picks the factor path for thin factors, dense for wide */
  ck_assert(fs_commutator_flops(4096, 64, 64, FS_GRAM_FACTOR) < fs_commutator_flops(4096, 64, 64, FS_GRAM_DENSE));
  ck_assert(fs_commutator_flops(64, 4096, 4096, FS_GRAM_DENSE) < fs_commutator_flops(64, 4096, 4096, FS_GRAM_FACTOR));
}
END_TEST

static Suite *commutator_suite(void) {
  Suite *s = suite_create("commutator");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, both_paths_against_reference);
  tcase_add_test(tc, lowrank_against_exact);
  tcase_add_test(tc, commuting_and_balanced);
  tcase_add_test(tc, random_pairs_baseline);
  tcase_add_test(tc, errors_and_zero);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return fs_test_run(commutator_suite()); }
