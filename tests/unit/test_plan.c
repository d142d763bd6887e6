/* test_plan.c - work list and longest-processing-time assignment. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_plan.h"
#include "fs_testutil.h"

static void build(int nranks, int kmax, fs_plan *p) {
  char *paths[3];
  paths[0] = strdup(fs_test_example("stories260K.gguf"));
  paths[1] = strdup(fs_test_data("no-such-model.gguf"));
  paths[2] = strdup(fs_test_example("stories260K-hf/model.safetensors"));
  fs_error e;
  ck_assert_msg(!fs_plan_build(paths, 3, kmax, nranks, p, &e), "%s", e.msg);
  for (int i = 0; i < 3; i++) free(paths[i]);
}

START_TEST(failed_model_takes_no_rows) {
  fs_plan p;
  build(2, 64, &p);
  ck_assert_int_eq(p.nmodels, 3);
  ck_assert(p.models[0].ok && !p.models[1].ok && p.models[2].ok);
  ck_assert_ptr_nonnull(strstr(p.models[1].error, "no-such-model.gguf"));
  ck_assert_int_eq(p.nmat, 2 * 97);
  ck_assert_int_eq(p.npair, 2 * 76);
  ck_assert_int_eq(p.models[2].mat0, 97);
  ck_assert_int_eq(p.models[2].pair0, 76);
  for (int64_t i = 0; i < p.npair; i++) {
    ck_assert_int_eq(p.pair[i].model, p.mat[p.pair[i].writer].model);
    ck_assert_int_eq(p.pair[i].owner, p.mat[p.pair[i].writer].owner);
  }
  fs_plan_free(&p);
}
END_TEST

START_TEST(k_is_capped_by_shape) {
  fs_plan p;
  build(1, 16, &p);
  for (int64_t i = 0; i < p.nmat; i++) {
    const fs_matrix *x = fs_plan_matrix_of(&p, i);
    int64_t want = 16;
    if (fs_matrix_rows(x) < want) want = fs_matrix_rows(x);
    if (fs_matrix_cols(x) < want) want = fs_matrix_cols(x);
    ck_assert_int_eq(p.mat[i].k, want);
  }
  ck_assert_int_eq(fs_plan_k(64, 8, 64), 8);
  ck_assert_int_eq(fs_plan_k(64, 1, 100), 1);
  fs_plan_free(&p);
}
END_TEST

/* LPT: every rank used, loads (matrices and head items) add up, and the spread of the loads is at most
 * the largest single cost (the greedy rule never overfills by more). */
START_TEST(lpt_balances) {
  for (int nr = 1; nr <= 5; nr++) {
    fs_plan p;
    build(nr, 64, &p);
    double *load = calloc((size_t)nr, sizeof *load), biggest = 0;
    for (int64_t i = 0; i < p.nmat; i++) {
      ck_assert(p.mat[i].owner >= 0 && p.mat[i].owner < nr);
      load[p.mat[i].owner] += p.mat[i].cost;
      if (p.mat[i].cost > biggest) biggest = p.mat[i].cost;
    }
    for (int64_t i = 0; i < p.nheads; i++) { /* head items continue the same loads */
      ck_assert(p.heads[i].owner >= 0 && p.heads[i].owner < nr);
      load[p.heads[i].owner] += p.heads[i].cost;
      if (p.heads[i].cost > biggest) biggest = p.heads[i].cost;
    }
    double lo = load[0], hi = load[0];
    for (int r = 0; r < nr; r++) {
      ck_assert_double_eq_tol(load[r], p.load[r], 1e-6 * load[r] + 1e-9);
      lo = load[r] < lo ? load[r] : lo;
      hi = load[r] > hi ? load[r] : hi;
    }
    ck_assert_double_le(hi - lo, biggest);
    free(load);
    fs_plan_free(&p);
  }
}
END_TEST

/* Two builds give the same plan: ranks never need to talk about ownership. */
START_TEST(deterministic) {
  fs_plan a, b;
  build(3, 64, &a);
  build(3, 64, &b);
  ck_assert_int_eq(a.nmat, b.nmat);
  for (int64_t i = 0; i < a.nmat; i++) ck_assert_int_eq(a.mat[i].owner, b.mat[i].owner);
  fs_plan_free(&a);
  fs_plan_free(&b);
}
END_TEST

int main(void) {
  Suite *s = suite_create("plan");
  TCase *tc = tcase_create("plan");
  tcase_add_test(tc, failed_model_takes_no_rows);
  tcase_add_test(tc, k_is_capped_by_shape);
  tcase_add_test(tc, lpt_balances);
  tcase_add_test(tc, deterministic);
  suite_add_tcase(s, tc);
  return fs_test_run(s);
}
