/*
 * test_classifier.c - equinorm and equiangularity statistics
 * (fs_classifier.h): a simplex equiangular tight frame (cosines exactly
 * -1/(C-1)), random classifiers against a direct long-double C x C
 * computation here, both evaluations (C x C cosines, d x d Gram), stored and
 * transposed layouts, zero rows.  No PETSc: runs clean under valgrind.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_classifier.h"
#include "fs_testutil.h"

/* Direct statistics of the C rows (w_c = W[c, :], row-major C x d). */
static void direct(const double *W, int C, int d, double *cv, double *mean, double *sd) {
  long double n[256], s = 0, v = 0, cs = 0, cv2 = 0;
  int np = C * (C - 1) / 2;
  for (int c = 0; c < C; c++) {
    n[c] = 0;
    for (int t = 0; t < d; t++) n[c] += (long double)W[c * d + t] * W[c * d + t];
    n[c] = sqrtl(n[c]);
    s += n[c];
  }
  s /= C;
  for (int c = 0; c < C; c++) v += (n[c] - s) * (n[c] - s);
  *cv = (double)(sqrtl(v / C) / s);
  for (int c = 0; c < C; c++)
    for (int e = c + 1; e < C; e++) {
      long double dot = 0;
      for (int t = 0; t < d; t++) dot += (long double)W[c * d + t] * W[e * d + t];
      cs += dot / (n[c] * n[e]);
    }
  cs /= np;
  for (int c = 0; c < C; c++)
    for (int e = c + 1; e < C; e++) {
      long double dot = 0;
      for (int t = 0; t < d; t++) dot += (long double)W[c * d + t] * W[e * d + t];
      cv2 += (dot / (n[c] * n[e]) - cs) * (dot / (n[c] * n[e]) - cs);
    }
  *mean = (double)cs, *sd = (double)sqrtl(cv2 / np);
}

static void transpose(const double *W, int r, int c, double *T) {
  for (int i = 0; i < r; i++)
    for (int j = 0; j < c; j++) T[j * r + i] = W[i * c + j];
}

START_TEST(random_against_direct) {
  const int cases[][2] = {{10, 40}, {60, 8}, {9, 9}}; /* C, d: C < d, C > d, C = d */
  fs_test_seed(51);
  double worst = 0.0;
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    int C = cases[k][0], d = cases[k][1];
    double *W = malloc(sizeof *W * C * d), *T = malloc(sizeof *T * C * d);
    for (int i = 0; i < C * d; i++) W[i] = fs_test_normal() + (i % d == 0 ? 0.7 : 0.0);
    transpose(W, C, d, T);
    double cv, mean, sd;
    direct(W, C, d, &cv, &mean, &sd);
    for (int path = FS_COS_AUTO; path <= FS_COS_GRAM; path++)
      for (int tr = 0; tr < 2; tr++) {
        fs_classifier_stats st;
        fs_error err;
        ck_assert(!fs_classifier_compute(tr ? T : W, tr ? d : C, tr ? C : d, tr, path, &st, &err));
        ck_assert_int_eq(st.classes, C);
        ck_assert_int_eq(st.zero_rows, 0);
        worst = fmax(worst, fmax(fabs(st.norm_cv - cv), fmax(fabs(st.cos_mean - mean), fabs(st.cos_std - sd))));
        ck_assert_double_eq_tol(st.cos_simplex, -1.0 / (C - 1), 1e-16);
      }
    free(W), free(T);
  }
  printf("classifier statistics vs direct long-double C x C: largest deviation %.2e\n", worst);
  ck_assert_msg(worst < 1e-12, "largest deviation %.3g", worst);
}
END_TEST

/* A simplex ETF of C classes in d = C - 1 dimensions (the centred unit
 * vectors e_c - 1/C, rotated into R^(C-1)), with unequal norms r_c. */
START_TEST(simplex_etf) {
  enum { C = 12, d = C - 1 };
  fs_test_seed(52);
  double B[C * C], W[C * d], r[C];
  fs_test_orthonormal(C, C, B);
  { /* Gram-Schmidt with column 0 = 1/sqrt(C): the rows of B[:, 1:] are e_c - 1/C in 1^perp */
    for (int i = 0; i < C; i++) B[i] = 1.0 / sqrt(C);
    for (int c = 1; c < C; c++)
      for (int pass = 0; pass < 2; pass++)
        for (int e = 0; e < c; e++) {
          double h = 0, nn = 0;
          for (int i = 0; i < C; i++) h += B[i + e * C] * B[i + c * C];
          for (int i = 0; i < C; i++) B[i + c * C] -= h * B[i + e * C];
          for (int i = 0; i < C; i++) nn += B[i + c * C] * B[i + c * C];
          for (int i = 0; i < C; i++) B[i + c * C] /= sqrt(nn);
        }
  }
  double sum = 0, sq = 0;
  for (int c = 0; c < C; c++) {
    r[c] = 1.0 + 0.1 * c, sum += r[c];
    for (int t = 0; t < d; t++) W[c * d + t] = r[c] * B[c + (t + 1) * C]; /* e_c projected on 1^perp */
  }
  sum /= C;
  for (int c = 0; c < C; c++) sq += (r[c] - sum) * (r[c] - sum);
  double cv = sqrt(sq / C) / sum; /* ||w_c|| = r_c sqrt(1 - 1/C): the factor cancels */
  for (int path = FS_COS_DIRECT; path <= FS_COS_GRAM; path++) {
    fs_classifier_stats st;
    fs_error err;
    ck_assert(!fs_classifier_compute(W, C, d, 0, path, &st, &err));
    ck_assert_double_eq_tol(st.cos_mean, -1.0 / (C - 1), 1e-15);
    ck_assert_double_eq_tol(st.cos_simplex, -1.0 / (C - 1), 1e-16);
    /* two passes over the cosines: rounding only; the Gram path subtracts two
     * sums of size 1/(C-1)^2 and keeps sqrt(u)-level noise (docs, section 12) */
    printf("simplex ETF, %s path: cos_mean + 1/(C-1) = %.1e, cos_std = %.1e\n",
           path == FS_COS_DIRECT ? "direct" : "Gram", st.cos_mean + 1.0 / (C - 1), st.cos_std);
    ck_assert_msg(st.cos_std <= (path == FS_COS_DIRECT ? 1e-15 : 1e-7), "path %d: std %g", path, st.cos_std);
    ck_assert_double_eq_tol(st.norm_cv, cv, 1e-14);
  }
}
END_TEST

START_TEST(zero_rows) {
  enum { C = 5, d = 3 };
  double W[C * d] = {1, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0};
  fs_classifier_stats st;
  fs_error err;
  ck_assert(!fs_classifier_compute(W, C, d, 0, FS_COS_AUTO, &st, &err));
  ck_assert_int_eq(st.zero_rows, 3);
  ck_assert_double_eq_tol(st.cos_mean, 0.0, 1e-16); /* e_1 and e_2: one pair, cosine 0 */
  ck_assert_double_eq_tol(st.cos_std, 0.0, 1e-16);
  ck_assert_double_eq_tol(st.cos_simplex, -1.0, 1e-16);
  ck_assert(st.norm_cv > 0);
  W[7] = 0; /* one nonzero row: no pair of classes */
  ck_assert(!fs_classifier_compute(W, C, d, 0, FS_COS_AUTO, &st, &err));
  ck_assert(isnan(st.cos_mean) && st.classes == C && st.zero_rows == 4);
  W[0] = 0; /* the zero classifier: equal norms */
  ck_assert(!fs_classifier_compute(W, C, d, 0, FS_COS_GRAM, &st, &err));
  ck_assert(st.norm_cv == 0.0 && isnan(st.cos_std));
  W[4] = INFINITY;
  ck_assert_int_eq(fs_classifier_compute(W, C, d, 0, FS_COS_AUTO, &st, &err), FS_ERR);
  ck_assert_int_eq(st.classes, 0);
}
END_TEST

static Suite *classifier_suite(void) {
  Suite *s = suite_create("classifier");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, random_against_direct);
  tcase_add_test(tc, simplex_etf);
  tcase_add_test(tc, zero_rows);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return fs_test_run(classifier_suite()); }
