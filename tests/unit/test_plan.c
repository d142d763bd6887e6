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

/* Group sizes from the budget, against the estimate written out by hand
 * (fs_plan.h): 1000 x 1000, k = 10, ncv = max(20, 25) = 25:
 *   g = 1: 8 (10^6 + 2000 * 27 + 2000 * 11)                 = 8 608 000
 *   g = 2: 8 (500 * 1000 + 2000 * 27 / 2 + 64 * 1000 + 22000) = 4 904 000
 *   g = 3: 8 (334 * 1000 + 18000 + 64000 + 22000)            = 3 504 000
 *   g = 4: 8 (250 * 1000 + 13500 + 64000 + 22000)            = 2 796 000 */
START_TEST(group_size_from_budget) {
  ck_assert_double_eq_tol(fs_plan_mem_estimate(1000, 1000, 10, 1), 8608000, 1e-6);
  ck_assert_double_eq_tol(fs_plan_mem_estimate(1000, 1000, 10, 2), 4904000, 1e-6);
  ck_assert_double_eq_tol(fs_plan_mem_estimate(1000, 1000, 10, 3), 3504000, 1e-6);
  ck_assert_double_eq_tol(fs_plan_mem_estimate(1000, 1000, 10, 4), 2796000, 1e-6);
  ck_assert_int_eq(fs_plan_group_size(1000, 1000, 10, 0, 8), 1);       /* no budget */
  ck_assert_int_eq(fs_plan_group_size(1000, 1000, 10, 9e6, 8), 1);
  ck_assert_int_eq(fs_plan_group_size(1000, 1000, 10, 8.6e6, 8), 2);
  ck_assert_int_eq(fs_plan_group_size(1000, 1000, 10, 5e6, 8), 2);
  ck_assert_int_eq(fs_plan_group_size(1000, 1000, 10, 3.6e6, 8), 3);
  ck_assert_int_eq(fs_plan_group_size(1000, 1000, 10, 3e6, 8), 4);
  ck_assert_int_eq(fs_plan_group_size(1000, 1000, 10, 3e6, 3), 3);     /* capped: all ranks */
  ck_assert_int_eq(fs_plan_group_size(1000, 1000, 10, 1e3, 1), 1);     /* one rank: alone */
  /* A Llama-7B MLP matrix, k = 64, 128 MiB: the smallest g that fits. */
  int g = fs_plan_group_size(4096, 11008, 64, 128.0 * 1048576, 64);
  ck_assert_int_gt(g, 1);
  ck_assert_double_le(fs_plan_mem_estimate(4096, 11008, 64, g), 128.0 * 1048576);
  ck_assert_double_gt(fs_plan_mem_estimate(4096, 11008, 64, g - 1), 128.0 * 1048576);
}
END_TEST

static double assign(const double *cost, const int *g, int n, int nranks, int dynamic, int *owner,
                     double *load) {
  double mk = fs_plan_assign_costs(cost, g, n, nranks, dynamic, owner, load, NULL);
  ck_assert_double_ge(mk, 0);
  return mk;
}

/* Graham's tight instance for m machines: two jobs each of 2m-1 .. m+1 and
 * three of m.  The optimum is 3m, LPT gives 4m - 1: the bound
 * (4/3 - 1/(3m)) OPT is reached exactly. */
START_TEST(lpt_graham_bound) {
  for (int m = 2; m <= 6; m++) {
    double cost[32];
    int owner[32], n = 0;
    double load[8];
    for (int t = 2 * m - 1; t > m; t--) cost[n++] = t, cost[n++] = t;
    cost[n++] = m, cost[n++] = m, cost[n++] = m;
    double mk = assign(cost, NULL, n, m, 0, owner, load);
    ck_assert_double_eq_tol(mk, 4.0 * m - 1, 1e-12);
    ck_assert_double_le(mk, (4.0 / 3 - 1.0 / (3 * m)) * 3 * m + 1e-9);
  }
}
END_TEST

/* Random instances: loads add up to the costs, and the makespan is within
 * list scheduling's bound sum / m + (1 - 1/m) max (Graham 1966). */
START_TEST(lpt_random_bound) {
  unsigned seed = 12345;
  double cost[200], load[7];
  int owner[200];
  for (int trial = 0; trial < 50; trial++) {
    int n = 1 + trial * 4 % 200, m = 1 + trial % 7;
    double sum = 0, big = 0;
    for (int i = 0; i < n; i++) {
      seed = seed * 1103515245u + 12345u;
      cost[i] = 1 + (seed >> 8) % 1000 * (trial % 3 ? 1.0 : (double)((seed >> 4) % 50));
      sum += cost[i], big = cost[i] > big ? cost[i] : big;
    }
    double mk = assign(cost, NULL, n, m, 0, owner, load), check = 0, tot = 0;
    for (int r = 0; r < m; r++) tot += load[r], check = load[r] > check ? load[r] : check;
    ck_assert_double_eq_tol(tot, sum, 1e-9 * sum);
    ck_assert_double_eq(check, mk);
    ck_assert_double_le(mk, sum / m + (1 - 1.0 / m) * big + 1e-9 * sum);
    ck_assert_double_ge(mk, big);
    ck_assert_double_ge(mk, sum / m - 1e-9 * sum);
  }
}
END_TEST

/* Groups take windows of consecutive ranks first (all members finish the
 * group together), then single items fill in; with the dynamic schedule
 * single items are left to the queue (owner -1). */
START_TEST(groups_take_windows) {
  double cost[] = {1, 8, 1, 4, 1, 1}, load[4];
  int g[] = {1, 4, 1, 2, 1, 1}, owner[6];
  double mk = assign(cost, g, 6, 4, 0, owner, load);
  ck_assert_double_eq_tol(mk, 4, 1e-12);
  ck_assert_int_eq(owner[1], 0);                      /* 8 / 4 on ranks 0..3 */
  ck_assert_int_eq(owner[3], 0);                      /* 4 / 2 on ranks 0..1 */
  for (int i = 0; i < 6; i += 2) ck_assert_int_ge(owner[i], 2); /* singles on 2, 3 */
  ck_assert_int_ge(owner[5], 2);
  for (int r = 0; r < 4; r++) ck_assert_double_eq_tol(load[r], 4, 1e-12);
  mk = assign(cost, g, 6, 4, 1, owner, load);
  ck_assert_double_eq_tol(mk, 4, 1e-12);
  ck_assert_int_eq(owner[1], 0);
  ck_assert_int_eq(owner[3], 0);
  ck_assert_int_eq(owner[0], -1);
  ck_assert_int_eq(owner[5], -1);
  /* A group wider than the ranks runs on all of them. */
  int wide[] = {9};
  double one[] = {9};
  ck_assert_double_eq_tol(assign(one, wide, 1, 3, 0, owner, load), 3, 1e-12);
  ck_assert_int_eq(owner[0], 0);
}
END_TEST

START_TEST(schedule_names) {
  ck_assert_int_eq(fs_schedule_parse("lpt"), FS_SCHED_LPT);
  ck_assert_int_eq(fs_schedule_parse("dynamic"), FS_SCHED_DYNAMIC);
  ck_assert_int_eq(fs_schedule_parse("auto"), FS_SCHED_AUTO);
  ck_assert_int_eq(fs_schedule_parse("fifo"), -1);
  ck_assert_str_eq(fs_schedule_name(FS_SCHED_DYNAMIC), "dynamic");
  /* auto: the example zoo of several models takes the queue, one model LPT. */
  fs_plan p;
  build(2, 64, &p);
  ck_assert_int_eq(p.schedule, FS_SCHED_LPT); /* fs_plan_build: LPT, no budget */
  for (int64_t i = 0; i < p.nmat; i++) ck_assert_int_eq(p.mat[i].nranks, 1);
  fs_plan_free(&p);
}
END_TEST

/* A budget below the largest matrices of the example zoo gives them groups,
 * recorded in the plan, and pairs follow their writers' leaders. */
START_TEST(budget_in_plan) {
  char *paths[] = {strdup(fs_test_example("stories260K.gguf"))};
  fs_plan_opts o = {64, 700 * 1024.0, FS_SCHED_AUTO, 0};
  fs_plan p;
  fs_error e;
  ck_assert_msg(!fs_plan_build_opts(paths, 1, &o, 3, &p, &e), "%s", e.msg);
  ck_assert_int_eq(p.schedule, FS_SCHED_LPT);
  int64_t groups = 0, whole = 0;
  for (int64_t i = 0; i < p.nmat; i++) {
    const fs_plan_matrix *w = &p.mat[i];
    int g = fs_plan_group_size(fs_matrix_rows(fs_plan_matrix_of(&p, i)),
                               fs_matrix_cols(fs_plan_matrix_of(&p, i)), w->k, o.mem_per_rank, 3);
    int classifier = 0; /* its statistics need every row: kept whole */
    for (int64_t j = 0; j < p.npair; j++)
      classifier |= p.pair[j].reader == i &&
                    p.models[0].graph.pair[p.pair[j].local].type == FS_PAIR_CLASSIFIER;
    if (classifier && g > 1) whole++, g = 1;
    ck_assert_int_eq(w->nranks, g);
    if (g > 1) {
      groups++;
      ck_assert_int_eq(w->first, w->owner);
      ck_assert_int_le(w->first + w->nranks, 3);
    }
  }
  ck_assert_int_eq(groups, p.ngroup);
  ck_assert_int_gt(groups, 0);
  ck_assert_int_eq(whole, p.nwhole);
  ck_assert_int_eq(whole, 1); /* output.weight, 512 x 64 */
  for (int64_t i = 0; i < p.npair; i++) ck_assert_int_eq(p.pair[i].owner, p.mat[p.pair[i].writer].owner);
  fs_plan_free(&p);
  free(paths[0]);
}
END_TEST

int main(void) {
  Suite *s = suite_create("plan");
  TCase *tc = tcase_create("plan");
  tcase_add_test(tc, failed_model_takes_no_rows);
  tcase_add_test(tc, k_is_capped_by_shape);
  tcase_add_test(tc, lpt_balances);
  tcase_add_test(tc, deterministic);
  tcase_add_test(tc, group_size_from_budget);
  tcase_add_test(tc, lpt_graham_bound);
  tcase_add_test(tc, lpt_random_bound);
  tcase_add_test(tc, groups_take_windows);
  tcase_add_test(tc, schedule_names);
  tcase_add_test(tc, budget_in_plan);
  suite_add_tcase(s, tc);
  return fs_test_run(s);
}
