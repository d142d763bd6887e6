/* test_train.c - the MLP trainer (gradient against central finite
 * differences of the objective, bit-identical checkpoints for one seed,
 * checkpoints that read back as the chain the graph rule pairs) and the
 * trajectory rate estimator on series with known rates. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_graph.h"
#include "fs_model.h"
#include "fs_testutil.h"
#include "fs_train.h"
#include "fs_trajectory.h"

static fs_trainer *make(fs_activation a, double wd, uint64_t seed) {
  fs_train_opts o;
  fs_train_defaults(&o);
  o.act = a, o.wd = wd, o.seed = seed;
  o.depth = 3, o.width = 6, o.din = 5, o.dout = 3, o.teacher_width = 7, o.nsamples = 11;
  fs_trainer *t = NULL;
  fs_error e;
  ck_assert_msg(!fs_trainer_create(&o, &t, &e), "%s", e.msg);
  return t;
}

/* Every entry of every layer's gradient against (f(w+h) - f(w-h)) / 2h;
 * with weight decay, so the decay term is checked too.  ReLU kinks are
 * avoided by h far below the distance of any pre-activation to 0. */
static void check_gradient(fs_activation a) {
  fs_trainer *t = make(a, 0.07, 3);
  for (int s = 0; s < 5; s++) fs_trainer_step(t, NULL); /* away from the initial point */
  fs_mlp *m = fs_trainer_student(t);
  double worst = 0;
  for (int l = 0; l < m->depth; l++) {
    int n = m->dims[l + 1] * m->dims[l];
    fs_trainer_objective(t, 1);
    double *g = malloc(sizeof *g * (size_t)n);
    memcpy(g, fs_trainer_grad(t, l), sizeof *g * (size_t)n);
    for (int i = 0; i < n; i++) {
      double w = m->W[l][i], h = 1e-6;
      m->W[l][i] = w + h;
      double fp = fs_trainer_objective(t, 0);
      m->W[l][i] = w - h;
      double fm = fs_trainer_objective(t, 0);
      m->W[l][i] = w;
      double fd = (fp - fm) / (2 * h), err = fabs(fd - g[i]) / (1e-6 + fabs(g[i]));
      if (err > worst) worst = err;
      ck_assert_msg(err < 1e-5, "%s layer %d entry %d: gradient %.12g, finite difference %.12g",
                    fs_activation_name(a), l, i, g[i], fd);
    }
    free(g);
  }
  fs_trainer_destroy(&t);
}

START_TEST(gradient_linear) { check_gradient(FS_ACT_LINEAR); }
END_TEST
START_TEST(gradient_relu) { check_gradient(FS_ACT_RELU); }
END_TEST
START_TEST(gradient_tanh) { check_gradient(FS_ACT_TANH); }
END_TEST

/* Gradient descent decreases the objective (small steps, smooth model). */
START_TEST(descent_decreases_objective) {
  fs_trainer *t = make(FS_ACT_TANH, 0.01, 5);
  double f0 = fs_trainer_objective(t, 0), prev = f0;
  fs_error e;
  for (int s = 0; s < 200; s++) {
    ck_assert_msg(!fs_trainer_step(t, &e), "%s", e.msg);
    double f = fs_trainer_objective(t, 0);
    ck_assert_msg(f <= prev + 1e-15, "step %d: objective rose from %g to %g", s, prev, f);
    prev = f;
  }
  ck_assert_msg(prev < 0.5 * f0, "200 steps: %g -> %g", f0, prev);
  ck_assert_int_eq(fs_trainer_steps_done(t), 200);
  fs_trainer_destroy(&t);
}
END_TEST

static unsigned char *slurp(const char *path, long *n) {
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  *n = ftell(f);
  rewind(f);
  unsigned char *b = malloc((size_t)*n);
  ck_assert_int_eq((long)fread(b, 1, (size_t)*n, f), *n);
  fclose(f);
  return b;
}

static const char *train_and_write(uint64_t seed, const char *name) {
  fs_trainer *t = make(FS_ACT_RELU, 0.01, seed);
  fs_error e;
  for (int s = 0; s < 30; s++) ck_assert_msg(!fs_trainer_step(t, &e), "%s", e.msg);
  const char *path = fs_test_tmpfile(name);
  ck_assert_msg(!fs_trainer_write(t, path, &e), "%s", e.msg);
  fs_trainer_destroy(&t);
  return path;
}

/* The same seed gives bit-identical checkpoint files; another seed does not. */
START_TEST(same_seed_bit_identical) {
  long na, nb, nc;
  char *a = strdup(train_and_write(7, "a.safetensors"));
  char *b = strdup(train_and_write(7, "b.safetensors"));
  char *c = strdup(train_and_write(8, "c.safetensors"));
  unsigned char *ba = slurp(a, &na), *bb = slurp(b, &nb), *bc = slurp(c, &nc);
  ck_assert_int_eq(na, nb);
  ck_assert_msg(!memcmp(ba, bb, (size_t)na), "same seed, different checkpoints");
  ck_assert_msg(na != nc || memcmp(ba, bc, (size_t)na), "different seeds, same checkpoint");
  free(ba), free(bb), free(bc), free(a), free(b), free(c);
}
END_TEST

/* The checkpoint reads back as the weights in [out, in] layout, with its
 * metadata, and the graph rule makes the chain layers.0 -> 1 -> 2. */
START_TEST(checkpoint_reads_back_as_chain) {
  fs_trainer *t = make(FS_ACT_LINEAR, 0.1, 2);
  fs_error e;
  for (int s = 0; s < 3; s++) ck_assert(!fs_trainer_step(t, &e));
  const char *path = fs_test_tmpfile("chain.safetensors");
  ck_assert_msg(!fs_trainer_write(t, path, &e), "%s", e.msg);
  fs_model m;
  fs_test_open_ok(path, &m);
  fs_mlp *s = fs_trainer_student(t);
  ck_assert_int_eq(m.ntensors, 3);
  for (int l = 0; l < 3; l++) {
    char name[32];
    snprintf(name, sizeof name, "layers.%d.weight", l);
    const fs_tensor *x = fs_model_find(&m, name);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(x->shape[0], s->dims[l + 1]);
    ck_assert_int_eq(x->shape[1], s->dims[l]);
    double *v = malloc(sizeof *v * (size_t)(s->dims[l + 1] * s->dims[l]));
    ck_assert(!fs_tensor_read_rows(&m, x, 0, x->shape[0], v, &e));
    ck_assert(!memcmp(v, s->W[l], sizeof *v * (size_t)(s->dims[l + 1] * s->dims[l])));
    free(v);
  }
  ck_assert_str_eq(fs_model_meta(&m, "flagscope.train.step"), "3");
  ck_assert_str_eq(fs_model_meta(&m, "flagscope.train.activation"), "linear");
  fs_graph g;
  ck_assert_msg(!fs_graph_build(&m, &g, &e), "%s", e.msg);
  ck_assert_int_eq(g.npair, 2);
  for (int p = 0; p < 2; p++) ck_assert_int_eq(g.pair[p].type, FS_PAIR_CHAIN);
  fs_graph_free(&g);
  fs_model_close(&m);
  fs_trainer_destroy(&t);
}
END_TEST

/* Bad options are refused with a reason. */
START_TEST(bad_options) {
  fs_train_opts o;
  fs_train_defaults(&o);
  fs_trainer *t = NULL;
  fs_error e;
  o.depth = 0;
  ck_assert(fs_trainer_create(&o, &t, &e) && strstr(e.msg, "depth"));
  fs_train_defaults(&o);
  o.lr = 1, o.wd = 2;
  ck_assert(fs_trainer_create(&o, &t, &e) && strstr(e.msg, "weight decay"));
  fs_train_defaults(&o);
  o.lr = 50; /* diverges */
  ck_assert(!fs_trainer_create(&o, &t, &e));
  int rc = 0;
  for (int s = 0; s < 200 && !rc; s++) rc = fs_trainer_step(t, &e);
  ck_assert_msg(rc && strstr(e.msg, "no longer finite"), "lr 50 must diverge");
  fs_trainer_destroy(&t);
  ck_assert_ptr_null(t);
}
END_TEST

/* The estimator: an exact exponential gives its rate with zero error; the
 * window and the floor select the points; noise gives the OLS standard error
 * computed here by the textbook formula on the same points. */
START_TEST(rate_estimator) {
  long x[12];
  double y[12], rate, se;
  int m;
  for (int i = 0; i < 12; i++) x[i] = 100 * i, y[i] = 3.0 * exp(-0.02 * x[i]);
  fs_traj_fit_rate(x, y, 12, 0, 1100, 0, &rate, &se, &m);
  ck_assert_int_eq(m, 12);
  ck_assert_double_eq_tol(rate, 0.02, 1e-14);
  ck_assert_double_le(se, 1e-12);
  /* floor 1e-5: 3 e^-12 = 1.8e-5 (x = 600) is kept, 3 e^-14 = 2.5e-6 (x = 700) is not */
  fs_traj_fit_rate(x, y, 12, 0, 1100, 1e-5, &rate, &se, &m);
  ck_assert_int_eq(m, 7);
  fs_traj_fit_rate(x, y, 12, 250, 640, 0, &rate, &se, &m);
  ck_assert_int_eq(m, 4);
  ck_assert_double_eq_tol(rate, 0.02, 1e-14);
  fs_traj_fit_rate(x, y, 12, 250, 340, 0, &rate, &se, &m);
  ck_assert_int_eq(m, 1);
  ck_assert(isnan(rate) && isnan(se));
  /* noisy: ln y = -0.01 x + e_i with e = +-0.1 alternating */
  double sxx = 0, mx = 550, ssr = 0;
  for (int i = 0; i < 12; i++) y[i] = exp(-0.01 * x[i] + (i % 2 ? 0.1 : -0.1));
  fs_traj_fit_rate(x, y, 12, 0, 1100, 0, &rate, &se, &m);
  double b = 0, my = 0;
  for (int i = 0; i < 12; i++) my += log(y[i]) / 12;
  for (int i = 0; i < 12; i++) sxx += (x[i] - mx) * (x[i] - mx), b += (x[i] - mx) * (log(y[i]) - my);
  b /= sxx;
  for (int i = 0; i < 12; i++) {
    double r = log(y[i]) - my - b * (x[i] - mx);
    ssr += r * r;
  }
  ck_assert_double_eq_tol(rate, -b, 1e-12);
  ck_assert_double_eq_tol(se, sqrt(ssr / 10 / sxx), 1e-12);
  ck_assert_double_gt(se, 1e-5);
}
END_TEST

int main(void) {
  Suite *s = suite_create("train");
  TCase *tc = tcase_create("train");
  tcase_add_test(tc, gradient_linear);
  tcase_add_test(tc, gradient_relu);
  tcase_add_test(tc, gradient_tanh);
  tcase_add_test(tc, descent_decreases_objective);
  tcase_add_test(tc, same_seed_bit_identical);
  tcase_add_test(tc, checkpoint_reads_back_as_chain);
  tcase_add_test(tc, bad_options);
  tcase_add_test(tc, rate_estimator);
  suite_add_tcase(s, tc);
  return fs_test_run(s);
}
