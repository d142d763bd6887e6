/*
 * test_profile.c - angles between leading columns, the intersection-dimension
 * profile and the flag table (fs_profile.h) against subspaces built with known
 * angles and against fs_principal_angles on explicitly truncated bases.
 * No PETSc: runs clean under valgrind.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_pair.h"
#include "fs_profile.h"
#include "fs_testutil.h"

#define DEG (3.14159265358979323846 / 180.0)
#define HALF_PI 1.57079632679489661923

static double *dalloc(size_t n) {
  double *p = calloc(n ? n : 1, sizeof(double));
  ck_assert_ptr_nonnull(p);
  return p;
}

/* U = Q[e_1..e_k], V_b = cos t_b Q e_b + sin t_b Q e_{k+b} (b < q), Q e_{k+b}
 * beyond: the angles between U_i and V_jj are t_0 .. t_{min(i,jj)-1}. */
static void angled_pair(int d, int k, int j, const double *t, double *U, double *V) {
  double *Q = dalloc((size_t)d * d);
  fs_test_orthonormal(d, d, Q);
  int q = k < j ? k : j;
  memcpy(U, Q, sizeof(double) * (size_t)d * k);
  for (int i = 0; i < j; i++)
    for (int r = 0; r < d; r++) {
      const double *qa = Q + (size_t)i * d, *qb = Q + (size_t)(k + i) * d;
      V[r + (size_t)i * d] = i < q ? cos(t[i]) * qa[r] + sin(t[i]) * qb[r] : qb[r];
    }
  free(Q);
}

START_TEST(grid) {
  int s[FS_PROFILE_MAX];
  ck_assert_int_eq(fs_profile_grid(0, s), 0);
  ck_assert_int_eq(fs_profile_grid(1, s), 1);
  ck_assert_int_eq(s[0], 1);
  ck_assert_int_eq(fs_profile_grid(5, s), 4);
  ck_assert(s[0] == 1 && s[1] == 2 && s[2] == 4 && s[3] == 5);
  ck_assert_int_eq(fs_profile_grid(8, s), 4);
  ck_assert(s[3] == 8);
  ck_assert_int_eq(fs_profile_grid(2147483647, s), 32);
}
END_TEST

/* Every (i, jj) against fs_principal_angles of the truncated bases; wide
 * (d < k + j) and tall cases, k < j and k > j. */
START_TEST(leading_against_truncated) {
  const int cases[][3] = {{40, 9, 6}, {12, 8, 10}, {7, 7, 7}, {30, 1, 5}};
  fs_test_seed(31);
  double worst = 0.0;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int d = cases[c][0], k = cases[c][1], j = cases[c][2];
    double *U = dalloc((size_t)d * k), *V = dalloc((size_t)d * j), a[16], b[16];
    fs_test_orthonormal(d, k, U);
    fs_test_orthonormal(d, j, V);
    fs_leading L;
    fs_error err;
    ck_assert_msg(!fs_leading_init(d, U, k, V, j, &L, &err), "%s", err.msg);
    for (int i = 1; i <= k; i++)
      for (int jj = 1; jj <= j; jj++) {
        ck_assert(!fs_leading_angles(&L, i, jj, a, &err));
        ck_assert(!fs_principal_angles(d, U, i, V, jj, b, &err));
        for (int t = 0; t < (i < jj ? i : jj); t++) worst = fmax(worst, fabs(a[t] - b[t]));
      }
    fs_leading_free(&L);
    free(U), free(V);
  }
  printf("leading-column angles vs fs_principal_angles of truncated bases: %.2e rad\n", worst);
  ck_assert_msg(worst < 1e-13, "largest difference %.3g rad", worst);
}
END_TEST

/* Subspaces that intersect in exactly r = 3 dimensions, with the next angles
 * 1e-6 rad below and above eps = 5 degrees, then 1e-9 rad, then wide ones. */
START_TEST(known_intersections) {
  enum { d = 60, k = 10, j = 12 };
  const double e5 = 5 * DEG;
  const double t[k] = {0, 0, 0, e5 - 1e-6, e5 + 1e-6, 0.3, 1e-9, 0.9, 1.2, HALF_PI};
  double sorted[k];
  memcpy(sorted, t, sizeof sorted);
  fs_test_seed(32);
  double *U = dalloc(d * k), *V = dalloc(d * j);
  angled_pair(d, k, j, t, U, V);
  const double eps[3] = {0.0, e5, 10 * DEG};
  fs_leading L;
  fs_error err;
  ck_assert(!fs_leading_init(d, U, k, V, j, &L, &err));
  fs_flag_table ft;
  ck_assert_msg(!fs_flag_table_compute(&L, eps, 3, &ft, &err), "%s", err.msg);
  ck_assert_int_eq(ft.m, k);
  int bad = 0;
  for (int e = 0; e < 3; e++)
    for (int i = 1; i <= k; i++)
      for (int jj = 1; jj <= k; jj++) {
        int want = 0; /* the angles of (U_i, V_jj) are t_0 .. t_{min-1} */
        for (int b = 0; b < (i < jj ? i : jj); b++)
          want += e == 0 ? t[b] <= 1e-15 : t[b] <= eps[e]; /* eps 0: angles are O(u), not 0 */
        int got = ft.dim[((size_t)e * k + i - 1) * k + jj - 1];
        if (e == 0) continue; /* dim_0 counts rounding: only eps > 0 is well posed */
        bad += got != want;
      }
  ck_assert_int_eq(bad, 0);
  /* the endpoint of the profile is (10, 10): 3 + (5 deg - 1e-6) + 1e-9 at 5 degrees */
  fs_profile pr;
  ck_assert(!fs_profile_compute(&L, eps, 3, &pr, &err));
  ck_assert_int_eq(pr.n, 5);
  ck_assert_int_eq(pr.s[4], 10);
  ck_assert_int_eq(pr.dim[4 * 3 + 1], 5);
  ck_assert_int_eq(pr.dim[4 * 3 + 2], 6); /* + 5 deg + 1e-6; 0.3 rad = 17.2 deg is out */
  ck_assert_int_eq(pr.dim[2 * 3 + 1], 4); /* s = 4: 0, 0, 0, 5 deg - 1e-6 */
  ck_assert_int_eq(pr.dim_random[4], 0);
  double ov = 0;
  for (int b = 0; b < k; b++) ov += cos(t[b]) * cos(t[b]);
  ck_assert_double_eq_tol(pr.overlap[4], ov, 1e-13);
  ck_assert_double_eq_tol(pr.overlap_random[4], 100.0 / d, 1e-15);
  /* the small angles themselves: 1e-9 rad to 1e-16 absolute */
  double th[k];
  ck_assert(!fs_leading_angles(&L, k, k, th, &err));
  ck_assert_double_eq_tol(th[3], 1e-9, 1e-15);
  fs_profile_free(&pr);
  fs_flag_table_free(&ft);
  fs_leading_free(&L);
  free(U), free(V);
}
END_TEST

/* Random subspaces with 2 s > d intersect in exactly 2 s - d dimensions: the
 * profile sees at least the baseline, and its overlap averages s^2 / d. */
START_TEST(random_baseline) {
  enum { d = 24, k = 20, trials = 40 };
  fs_test_seed(33);
  double U[d * k], V[d * k], ratio = 0.0;
  const double eps[1] = {1e-8};
  for (int n = 0; n < trials; n++) {
    fs_test_orthonormal(d, k, U);
    fs_test_orthonormal(d, k, V);
    fs_leading L;
    fs_profile pr;
    fs_error err;
    ck_assert(!fs_leading_init(d, U, k, V, k, &L, &err));
    ck_assert(!fs_profile_compute(&L, eps, 1, &pr, &err));
    for (int g = 0; g < pr.n; g++) {
      ck_assert_int_eq(pr.dim_random[g], pr.s[g] * 2 > d ? 2 * pr.s[g] - d : 0);
      ck_assert_int_eq(pr.dim[g], pr.dim_random[g]); /* general position: exactly */
    }
    ratio += pr.overlap[2] / pr.overlap_random[2]; /* s = 4 */
    fs_profile_free(&pr);
    fs_leading_free(&L);
  }
  ratio /= trials;
  printf("random subspaces: mean overlap / (s^2/d) at s = 4: %.3f\n", ratio);
  ck_assert_msg(ratio > 0.85 && ratio < 1.15, "mean overlap / (s^2/d) = %g", ratio);
}
END_TEST

START_TEST(errors) {
  double U[4] = {1, 0, 0, 1};
  fs_leading L;
  fs_error err;
  ck_assert_int_eq(fs_leading_init(2, U, 3, U, 1, &L, &err), FS_ERR);
  ck_assert_int_eq(fs_leading_init(2, U, 0, U, 1, &L, &err), FS_ERR);
  ck_assert(!fs_leading_init(2, U, 2, U, 2, &L, &err));
  double th[2];
  ck_assert_int_eq(fs_leading_angles(&L, 3, 1, th, &err), FS_ERR);
  ck_assert(!fs_leading_angles(&L, 2, 2, th, &err));
  ck_assert(th[0] <= 1e-15 && th[1] <= 1e-15);
  fs_leading_free(&L);
  fs_leading_free(&L);
}
END_TEST

static Suite *profile_suite(void) {
  Suite *s = suite_create("profile");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, grid);
  tcase_add_test(tc, leading_against_truncated);
  tcase_add_test(tc, known_intersections);
  tcase_add_test(tc, random_baseline);
  tcase_add_test(tc, errors);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return fs_test_run(profile_suite()); }
