/*
 * fs_classifier.c - equinorm and equiangularity of classifier rows
 * (fs_classifier.h; docs/mathematics.md, section 12).
 *
 * Method.  With n_c = w_c / ||w_c|| for the C' nonzero rows, N = [n_c] (C' x d),
 * s = sum_c n_c and G = N^T N (d x d):
 *   sum_{c != c'} cos = ||s||^2 - C',   sum_{c != c'} cos^2 = ||G||_F^2 - C',
 * because sum_{c,c'} cos = 1^T N N^T 1 and ||N N^T||_F = ||N^T N||_F.  G is
 * accumulated by dsyrk over blocks of 256 normalised rows (memory d^2 + 256 d).
 * When C' <= d the C' x C' matrix N N^T is cheaper and is formed instead, and
 * mean and variance are then taken in two passes over its entries (no
 * cancellation).  Neural collapse: V. Papyan, X. Y. Han, D. L. Donoho, PNAS
 * 117 (2020) 24652-24663 (equinorm, equiangularity, the simplex ETF).
 */
#include "fs_classifier.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs_lapack.h"

#define BLOCK 256

void fs_classifier_none(fs_classifier_stats *st) {
  *st = (fs_classifier_stats){0, 0, NAN, NAN, NAN, NAN};
}

/* Entry t of class c. */
static double wget(const double *W, int cols, int transposed, int c, int t) {
  return transposed ? W[(size_t)t * cols + c] : W[(size_t)c * cols + t];
}

/* ||w_c||, scaled so that no square over- or underflows. */
static double class_norm(const double *W, int cols, int transposed, int d, int c) {
  double m = 0.0, s = 0.0;
  for (int t = 0; t < d; t++) m = fmax(m, fabs(wget(W, cols, transposed, c, t)));
  if (m == 0.0) return 0.0;
  for (int t = 0; t < d; t++) {
    double x = wget(W, cols, transposed, c, t) / m;
    s += x * x;
  }
  return m * sqrt(s);
}

/* Columns of nb normalised classes from the list cls, into x (d x nb). */
static void normalised_block(const double *W, int cols, int transposed, int d, const int *cls,
                             const double *norm, int nb, double *x) {
  for (int b = 0; b < nb; b++)
    for (int t = 0; t < d; t++)
      x[t + (size_t)b * d] = wget(W, cols, transposed, cls[b], t) / norm[cls[b]];
}

/* Mean and population std of the off-diagonal entries of the C' x C' cosines. */
static int cos_direct(const double *W, int cols, int tr, int d, const int *cls, int C,
                      const double *norm, double *mean, double *sd, fs_error *err) {
  double *x = malloc(sizeof *x * (size_t)d * C), *g = malloc(sizeof *g * (size_t)C * C);
  if (!x || !g) {
    free(x), free(g);
    return fs_fail(err, "out of memory for the %d x %d cosines of a classifier", C, C);
  }
  normalised_block(W, cols, tr, d, cls, norm, C, x);
  fs_gemm('T', 'N', C, C, d, 1.0, x, d, x, d, 0.0, g, C);
  double s = 0.0, v = 0.0, np = (double)C * (C - 1) / 2.0;
  for (int c = 0; c < C; c++)
    for (int r = c + 1; r < C; r++) s += g[r + (size_t)c * C];
  *mean = s / np;
  for (int c = 0; c < C; c++)
    for (int r = c + 1; r < C; r++) v += (g[r + (size_t)c * C] - *mean) * (g[r + (size_t)c * C] - *mean);
  *sd = sqrt(v / np);
  free(x), free(g);
  return 0;
}

/* The same through s and the d x d Gram G. */
static int cos_gram(const double *W, int cols, int tr, int d, const int *cls, int C,
                    const double *norm, double *mean, double *sd, fs_error *err) {
  double *x = malloc(sizeof *x * (size_t)d * BLOCK), *g = calloc((size_t)d * d, sizeof *g);
  double *sum = calloc((size_t)d, sizeof *sum);
  if (!x || !g || !sum) {
    free(x), free(g), free(sum);
    return fs_fail(err, "out of memory for the %d x %d Gram of a classifier", d, d);
  }
  const double one = 1.0;
  for (int c0 = 0; c0 < C; c0 += BLOCK) {
    int nb = C - c0 < BLOCK ? C - c0 : BLOCK;
    normalised_block(W, cols, tr, d, cls + c0, norm, nb, x);
    dsyrk_("L", "N", &d, &nb, &one, x, &d, &one, g, &d, 1, 1);
    for (int b = 0; b < nb; b++)
      for (int t = 0; t < d; t++) sum[t] += x[t + (size_t)b * d];
  }
  double s2 = 0.0, ss = 0.0, pairs = (double)C * (C - 1);
  for (int c = 0; c < d; c++) {
    ss += sum[c] * sum[c];
    s2 += g[c + (size_t)c * d] * g[c + (size_t)c * d];
    for (int r = c + 1; r < d; r++) s2 += 2.0 * g[r + (size_t)c * d] * g[r + (size_t)c * d];
  }
  *mean = (ss - C) / pairs;
  double var = (s2 - C) / pairs - *mean * *mean;
  *sd = sqrt(fmax(var, 0.0));
  free(x), free(g), free(sum);
  return 0;
}

int fs_classifier_compute(const double *W, int rows, int cols, int transposed, fs_cos_path path,
                          fs_classifier_stats *st, fs_error *err) {
  fs_classifier_none(st);
  int C = transposed ? cols : rows, d = transposed ? rows : cols;
  if (!W || C < 1 || d < 1) return fs_fail(err, "classifier statistics: a %d x %d matrix", rows, cols);
  double *norm = malloc(sizeof *norm * (size_t)C);
  int *cls = malloc(sizeof *cls * (size_t)C);
  if (!norm || !cls) {
    free(norm), free(cls);
    return fs_fail(err, "out of memory for the norms of %d classes", C);
  }
  int nz = 0, rc = 0;
  double mean = 0.0, var = 0.0;
  for (int c = 0; c < C; c++) {
    norm[c] = class_norm(W, cols, transposed, d, c);
    if (!isfinite(norm[c])) rc = fs_fail(err, "classifier statistics: class %d is not finite", c);
    mean += norm[c];
    if (norm[c] > 0.0) cls[nz++] = c;
  }
  mean /= C;
  for (int c = 0; c < C; c++) var += (norm[c] - mean) * (norm[c] - mean);
  st->classes = C;
  st->zero_rows = C - nz;
  /* A zero classifier has equal norms: cv 0 (not 0/0). */
  st->norm_cv = mean > 0.0 ? sqrt(var / C) / mean : 0.0;
  if (!rc && nz >= 2) {
    if (path == FS_COS_AUTO) path = nz <= d ? FS_COS_DIRECT : FS_COS_GRAM;
    rc = path == FS_COS_DIRECT ? cos_direct(W, cols, transposed, d, cls, nz, norm, &st->cos_mean, &st->cos_std, err)
                               : cos_gram(W, cols, transposed, d, cls, nz, norm, &st->cos_mean, &st->cos_std, err);
    st->cos_simplex = -1.0 / (nz - 1);
  }
  free(norm), free(cls);
  if (rc) fs_classifier_none(st);
  return rc;
}

int fs_classifier_is_reader(const fs_plan *p, int64_t gi) {
  const fs_plan_matrix *x = &p->mat[gi];
  const fs_graph *g = &p->models[x->model].graph;
  for (int i = 0; i < g->npair; i++)
    if (g->pair[i].type == FS_PAIR_CLASSIFIER && g->pair[i].reader == x->local) return 1;
  return 0;
}
