/*
 * test_spectral.c - rank policies, effective rank, the power-law tail fit and
 * the full spectrum (fs_spectral.h) on hand-built spectra with known answers,
 * on samples of known Pareto distributions and against dgesdd.  No PETSc.
 * The fit is quadratic in the sample size: under valgrind (FS_TEST_QUICK) the
 * samples are q = fs_test_quick() times smaller and the statistical
 * tolerances sqrt(q) times wider.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "fs_spectral.h"
#include "fs_testutil.h"

static double *dalloc(size_t n) {
  double *p = calloc(n ? n : 1, sizeof(double));
  ck_assert_ptr_nonnull(p);
  return p;
}

static double fro_of(const double *s, int n) {
  double t = 0.0;
  for (int i = 0; i < n; i++) t += s[i] * s[i];
  return sqrt(t);
}

/* sigma^2 = 16, 9, 4, 1: ||W||_F^2 = 30. */
START_TEST(energy_policy_known) {
  const double s[] = {4, 3, 2, 1};
  double fro = sqrt(30.0);
  fs_rank_choice c;
  struct { double f; int k; } want[] = {{0.5, 1}, {16.0 / 30, 1}, {0.8, 2}, {25.0 / 30, 2},
                                        {0.95, 3}, {29.0 / 30, 3}, {0.99, 4}, {1.0, 4}};
  for (size_t t = 0; t < sizeof want / sizeof want[0]; t++) {
    fs_rank_choose(FS_RANK_ENERGY, want[t].f, s, 4, 4, fro, &c);
    ck_assert_int_eq(c.k, want[t].k);
    ck_assert_int_eq(c.capped, 0);
  }
  /* Only two of four values computed: 0.9 needs three, the cap is hit. */
  fs_rank_choose(FS_RANK_ENERGY, 0.9, s, 2, 4, fro, &c);
  ck_assert_int_eq(c.k, 2);
  ck_assert_int_eq(c.capped, 1);
  ck_assert_double_eq_tol(fs_energy_fraction(s, 2, fro), 25.0 / 30, 1e-15);
  ck_assert_double_eq_tol(fs_energy_fraction(s, 4, fro), 1.0, 1e-15);
  /* Exact rank 2 among min(shape) = 6: F = 1 is reached at k = 2 despite rounding. */
  const double r2[] = {2, 1, 0, 0};
  fs_rank_choose(FS_RANK_ENERGY, 1.0, r2, 4, 6, sqrt(5.0), &c);
  ck_assert_int_eq(c.k, 2);
  ck_assert_int_eq(c.capped, 0);
  fs_rank_choose(FS_RANK_ENERGY, 1.0, r2, 2, 6, sqrt(5.0), &c);
  ck_assert_int_eq(c.k, 2);
  ck_assert_int_eq(c.capped, 0);
  /* Every value held and F = 1 with a norm that rounds: never capped. */
  double u[50];
  for (int i = 0; i < 50; i++) u[i] = 1.0 / (1.0 + i) + 0.1;
  fs_rank_choose(FS_RANK_ENERGY, 1.0, u, 50, 50, fro_of(u, 50) * (1 + 1e-15), &c);
  ck_assert_int_eq(c.k, 50);
  ck_assert_int_eq(c.capped, 0);
  /* The zero matrix keeps one direction, energy 1 by convention. */
  const double z[] = {0, 0, 0};
  fs_rank_choose(FS_RANK_ENERGY, 0.9, z, 3, 3, 0.0, &c);
  ck_assert_int_eq(c.k, 1);
  ck_assert_int_eq(c.capped, 0);
  ck_assert_double_eq(fs_energy_fraction(z, 1, 0.0), 1.0);
}
END_TEST

START_TEST(rank_tol_and_fixed_policies) {
  const double s[] = {10, 5, 1e-3, 1e-9};
  fs_rank_choice c;
  fs_rank_choose(FS_RANK_TOL, 1e-6, s, 4, 4, fro_of(s, 4), &c);
  ck_assert_int_eq(c.k, 3);
  ck_assert_int_eq(c.capped, 0);
  fs_rank_choose(FS_RANK_TOL, 0.4, s, 4, 4, fro_of(s, 4), &c);
  ck_assert_int_eq(c.k, 2);
  fs_rank_choose(FS_RANK_TOL, 0.5, s, 4, 4, fro_of(s, 4), &c); /* 5 is not > 5 */
  ck_assert_int_eq(c.k, 1);
  /* Every held value above the cut and more exist: capped; none more: not. */
  fs_rank_choose(FS_RANK_TOL, 1e-12, s, 4, 8, fro_of(s, 4), &c);
  ck_assert_int_eq(c.k, 4);
  ck_assert_int_eq(c.capped, 1);
  fs_rank_choose(FS_RANK_TOL, 1e-12, s, 4, 4, fro_of(s, 4), &c);
  ck_assert_int_eq(c.k, 4);
  ck_assert_int_eq(c.capped, 0);
  /* The cut seen inside the held values: not capped though more exist. */
  fs_rank_choose(FS_RANK_TOL, 1e-6, s, 4, 100, fro_of(s, 4), &c);
  ck_assert_int_eq(c.k, 3);
  ck_assert_int_eq(c.capped, 0);
  const double z[] = {0, 0};
  fs_rank_choose(FS_RANK_TOL, 1e-6, z, 2, 2, 0.0, &c);
  ck_assert_int_eq(c.k, 1);
  fs_rank_choose(FS_RANK_FIXED, 0.0, s, 4, 100, fro_of(s, 4), &c);
  ck_assert_int_eq(c.k, 4);
  ck_assert_int_eq(c.capped, 0);
  ck_assert_str_eq(fs_rank_policy_name(FS_RANK_FIXED), "fixed");
  ck_assert_str_eq(fs_rank_policy_name(FS_RANK_ENERGY), "energy");
  ck_assert_str_eq(fs_rank_policy_name(FS_RANK_TOL), "rank_tol");
}
END_TEST

START_TEST(entropy_rank_known) {
  double e[7];
  for (int i = 0; i < 7; i++) e[i] = 2.5;
  ck_assert_double_eq_tol(fs_entropy_rank(e, 7, 2), 7.0, 1e-13);
  ck_assert_double_eq_tol(fs_entropy_rank(e, 7, 1), 7.0, 1e-13);
  const double two[] = {1, 1, 0, 0};
  ck_assert_double_eq_tol(fs_entropy_rank(two, 4, 2), 2.0, 1e-14);
  /* sigma^2 = 3, 1: p = 3/4, 1/4. */
  const double s[] = {sqrt(3.0), 1.0};
  double h = -(0.75 * log(0.75) + 0.25 * log(0.25));
  ck_assert_double_eq_tol(fs_entropy_rank(s, 2, 2), exp(h), 1e-14);
  /* Roy & Vetterli's p of W itself: sigma = 3, 1 gives the same p. */
  const double s1[] = {3.0, 1.0};
  ck_assert_double_eq_tol(fs_entropy_rank(s1, 2, 1), exp(h), 1e-14);
  /* Scale-invariant, between 1 and n, 0 for the zero spectrum. */
  const double g[] = {5, 2, 1, 0.5, 0.1};
  double g9[5];
  for (int i = 0; i < 5; i++) g9[i] = 9 * g[i];
  double r = fs_entropy_rank(g, 5, 2);
  ck_assert_double_eq_tol(fs_entropy_rank(g9, 5, 2), r, 1e-13);
  ck_assert(r > 1.0 && r < 5.0);
  const double z[] = {0, 0, 0};
  ck_assert_double_eq(fs_entropy_rank(z, 3, 2), 0.0);
  const double one[] = {4, 0, 0};
  ck_assert_double_eq_tol(fs_entropy_rank(one, 3, 2), 1.0, 1e-15);
}
END_TEST

/* A uniform variate in (0, 1]. */
static double unit(void) {
  double u = 0.5 * (fs_test_uniform() + 1.0);
  return u > 0.0 ? u : 1.0;
}

/* n Pareto(alpha, xmin) draws, density ~ x^-alpha on [xmin, inf), by inversion. */
static void pareto(double *x, int n, double alpha, double xmin) {
  for (int i = 0; i < n; i++) x[i] = xmin * pow(unit(), -1.0 / (alpha - 1.0));
}

/* The hand-made sample 1, e, e^2 (min_tail 2): xmin 1 gives alpha 2 and
 * KS 1/3, xmin e gives alpha 3 and KS 1/2 (worked in docs/mathematics.md). */
START_TEST(powerlaw_worked) {
  const double x[] = {exp(2.0), 1.0, exp(1.0)};
  fs_powerlaw f;
  ck_assert_int_eq(fs_powerlaw_fit(x, 3, 2, &f), 0);
  ck_assert_double_eq_tol(f.alpha, 2.0, 1e-14);
  ck_assert_double_eq(f.xmin, 1.0);
  ck_assert_double_eq_tol(f.ks, 1.0 / 3.0, 1e-14);
  ck_assert_int_eq(f.ntail, 3);
  /* Non-positive and non-finite samples are ignored. */
  const double y[] = {0.0, exp(1.0), -3.0, NAN, 1.0, INFINITY, exp(2.0)};
  fs_powerlaw g;
  ck_assert_int_eq(fs_powerlaw_fit(y, 7, 2, &g), 0);
  ck_assert_double_eq_tol(g.alpha, f.alpha, 1e-15);
  ck_assert_int_eq(g.ntail, 3);
  /* Too few samples, or all equal: no fit. */
  ck_assert_int_eq(fs_powerlaw_fit(x, 3, 4, &g), FS_ERR);
  ck_assert(isnan(g.alpha) && g.ntail == 0);
  const double e[] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
  ck_assert_int_eq(fs_powerlaw_fit(e, 12, FS_POWERLAW_MIN_TAIL, &g), FS_ERR);
  /* Scale changes xmin only. */
  double x7[3];
  for (int i = 0; i < 3; i++) x7[i] = 7 * x[i];
  ck_assert_int_eq(fs_powerlaw_fit(x7, 3, 2, &g), 0);
  ck_assert_double_eq_tol(g.alpha, 2.0, 1e-13);
  ck_assert_double_eq_tol(g.xmin, 7.0, 1e-13);
  ck_assert_double_eq_tol(g.ks, 1.0 / 3.0, 1e-13);
}
END_TEST

/* Pareto tails of known alpha above xmin = 1, under a body of uniform (0.1, 1)
 * values that is not a power law: the fit finds the tail and its exponent. */
static void check_pareto(double alpha, fs_powerlaw *out) {
  int q = fs_test_quick(), nt = 10000 / q, nb = 3000 / q;
  double w = sqrt((double)q);
  double *x = dalloc((size_t)(nt + nb));
  fs_test_seed(alpha == 2.5 ? 11 : 12);
  pareto(x, nt, alpha, 1.0);
  for (int i = 0; i < nb; i++) x[nt + i] = 0.1 + 0.9 * unit() * 0.999;
  fs_powerlaw f;
  ck_assert_int_eq(fs_powerlaw_fit(x, nt + nb, FS_POWERLAW_MIN_TAIL, &f), 0);
  ck_assert_msg(fabs(f.alpha / alpha - 1) < 0.03 * w, "alpha %g for %g", f.alpha, alpha);
  ck_assert_msg(fabs(f.xmin - 1.0) < 0.1 * w, "xmin %g", f.xmin);
  ck_assert_msg(f.ntail > nt * 0.8 && f.ntail < nt + nb, "ntail %d", f.ntail);
  ck_assert_msg(f.ks < 0.02 * w, "ks %g", f.ks);
  *out = f;
  free(x);
}

START_TEST(powerlaw_pareto_2_5) {
  fs_powerlaw f;
  check_pareto(2.5, &f);
}
END_TEST

START_TEST(powerlaw_pareto_4) {
  fs_powerlaw f;
  check_pareto(4.0, &f);
  /* Without a body: the whole sample is the tail, xmin = 2 near its minimum. */
  int q = fs_test_quick(), n = 5000 / q;
  double w = sqrt((double)q);
  double *x = dalloc((size_t)n);
  fs_test_seed(13);
  pareto(x, n, 4.0, 2.0);
  ck_assert_int_eq(fs_powerlaw_fit(x, n, FS_POWERLAW_MIN_TAIL, &f), 0);
  ck_assert_msg(fabs(f.alpha / 4.0 - 1) < 0.04 * w, "alpha %g", f.alpha);
  ck_assert_msg(f.xmin >= 2.0 && f.xmin < 2.0 + 0.2 * w, "xmin %g", f.xmin);
  free(x);
}
END_TEST

/* An exponential tail is no power law: the best fit is further away (larger
 * KS distance) than for a Pareto sample of the same size. */
START_TEST(powerlaw_exponential_tail) {
  int n = 5000 / fs_test_quick();
  double *x = dalloc((size_t)n), *p = dalloc((size_t)n);
  fs_test_seed(14);
  for (int i = 0; i < n; i++) x[i] = -log(unit()) + 1e-12;
  pareto(p, n, 2.5, 1.0);
  fs_powerlaw fe, fp;
  ck_assert_int_eq(fs_powerlaw_fit(x, n, FS_POWERLAW_MIN_TAIL, &fe), 0);
  ck_assert_int_eq(fs_powerlaw_fit(p, n, FS_POWERLAW_MIN_TAIL, &fp), 0);
  ck_assert_msg(fe.ks > 2 * fp.ks, "exponential ks %g (ntail %d), pareto ks %g (ntail %d)",
                fe.ks, fe.ntail, fp.ks, fp.ntail);
  /* A spectrum whose squared values decay exponentially (sigma_i^2 = exp(-i/20)). */
  double *s2 = dalloc(400);
  for (int i = 0; i < 400; i++) s2[i] = exp(-i / 20.0);
  fs_powerlaw fs;
  ck_assert_int_eq(fs_powerlaw_fit(s2, 400, FS_POWERLAW_MIN_TAIL, &fs), 0);
  ck_assert_msg(fs.ks > 2 * fp.ks, "spectrum ks %g", fs.ks);
  free(x), free(p), free(s2);
}
END_TEST

/* The full spectrum against the reference SVD (fs_testutil), both orientations,
 * a vector and a rank-deficient matrix. */
START_TEST(full_spectrum_vs_dgesdd) {
  const int shapes[][2] = {{7, 5}, {5, 9}, {1, 6}, {6, 1}, {40, 40}, {33, 64}};
  fs_test_seed(15);
  for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
    int m = shapes[t][0], n = shapes[t][1], mn = m < n ? m : n;
    double *W = dalloc((size_t)m * n), *A = dalloc((size_t)m * n);
    double *s = dalloc((size_t)mn), *ref = dalloc((size_t)mn);
    for (int i = 0; i < m * n; i++) W[i] = A[i] = fs_test_normal();
    if (m == 40) /* rank 20: duplicate rows */
      for (int i = 20; i < 40; i++)
        for (int j = 0; j < n; j++) W[i * n + j] = A[i * n + j] = A[(i - 20) * n + j];
    ck_assert_int_eq(fs_test_full_svd(W, m, n, ref, NULL, NULL), 0);
    ck_assert_int_eq(fs_singular_values(A, m, n, s, NULL), 0);
    for (int i = 0; i < mn; i++) {
      ck_assert_double_eq_tol(s[i], ref[i], 1e-12 * ref[0]);
      if (i) ck_assert(s[i] <= s[i - 1]);
    }
    double fro = fro_of(ref, mn);
    ck_assert_double_eq_tol(fs_energy_fraction(s, mn, fro), 1.0, 1e-13);
    if (m == 40) ck_assert_double_eq_tol(s[20] / s[0], 0.0, 1e-13);
    free(W), free(A), free(s), free(ref);
  }
}
END_TEST

static Suite *spectral_suite(void) {
  Suite *s = suite_create("spectral");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, energy_policy_known);
  tcase_add_test(tc, rank_tol_and_fixed_policies);
  tcase_add_test(tc, entropy_rank_known);
  tcase_add_test(tc, powerlaw_worked);
  tcase_add_test(tc, powerlaw_pareto_2_5);
  tcase_add_test(tc, powerlaw_pareto_4);
  tcase_add_test(tc, powerlaw_exponential_tail);
  tcase_add_test(tc, full_spectrum_vs_dgesdd);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return fs_test_run(spectral_suite()); }
