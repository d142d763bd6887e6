/*
 * test_reduce.c - the pieces of the model-wide statistics that need no MPI:
 * quantiles (Hyndman-Fan type 7) against values computed by hand, the median
 * eps, statistic names.  The gathered statistics themselves are checked
 * against numpy in e2e.report and e2e.stats.np3.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "fs_reduce.h"
#include "fs_testutil.h"

START_TEST(quantiles_by_hand) {
  const double x[] = {1, 2, 4, 8, 16};
  /* h = 4p: p = 0.1 -> 1 + 0.4 (2 - 1); 0.25 -> x[1]; 0.5 -> x[2]; 0.9 -> 8 + 0.6 * 8 */
  ck_assert_double_eq_tol(fs_quantile_sorted(x, 5, 0.10), 1.4, 1e-15);
  ck_assert_double_eq(fs_quantile_sorted(x, 5, 0.25), 2);
  ck_assert_double_eq(fs_quantile_sorted(x, 5, 0.50), 4);
  ck_assert_double_eq_tol(fs_quantile_sorted(x, 5, 0.90), 12.8, 1e-14);
  ck_assert_double_eq(fs_quantile_sorted(x, 5, 0.0), 1);
  ck_assert_double_eq(fs_quantile_sorted(x, 5, 1.0), 16);
  const double y[] = {3, 5};
  ck_assert_double_eq(fs_quantile_sorted(y, 2, 0.5), 4);    /* the mean of two */
  ck_assert_double_eq(fs_quantile_sorted(y, 1, 0.9), 3);    /* one value */
  ck_assert_double_eq(fs_quantile_sorted(y, 2, 0.75), 4.5);
}
END_TEST

START_TEST(median_eps) {
  const double a[] = {1, 5, 10}, b[] = {10, 1, 5}, c[] = {2, 1}, d[] = {7};
  ck_assert_int_eq(fs_align_eps_index(a, 3), 1);
  ck_assert_int_eq(fs_align_eps_index(b, 3), 2); /* 5 degrees, wherever it is listed */
  ck_assert_int_eq(fs_align_eps_index(c, 2), 1); /* the lower of two: 1 degree */
  ck_assert_int_eq(fs_align_eps_index(d, 1), 0);
  const double e[] = {3, 3, 3, 9};
  ck_assert_int_eq(fs_align_eps_index(e, 4), 1); /* ties by position */
}
END_TEST

START_TEST(names) {
  ck_assert_str_eq(fs_stat_name(FS_ST_RATIO0), "ratio");
  ck_assert_str_eq(fs_stat_name(FS_ST_RATIO0 + 2), "ratio");
  ck_assert_str_eq(fs_stat_name(FS_ST_KREL), "kappa_rel");
  ck_assert_str_eq(fs_stat_name(FS_ST_BAL), "balancedness");
  ck_assert_str_eq(fs_display_name("/a/b/stories260K-hf/model.safetensors"),
                   "stories260K-hf/model.safetensors");
  ck_assert_str_eq(fs_display_name("/a/b/gnubg.safetensors"), "gnubg.safetensors");
}
END_TEST

static Suite *reduce_suite(void) {
  Suite *s = suite_create("reduce");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, quantiles_by_hand);
  tcase_add_test(tc, median_eps);
  tcase_add_test(tc, names);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return fs_test_run(reduce_suite()); }
