/*
 * fs_load.c - reads a matrix of the layer graph as the layer applies it
 * (see fs_load.h): folds and unfoldings are applied here, once, so that the
 * spectra and every other stage see the same linear map.
 */
#include "fs_load.h"

#include <math.h>
#include <stdlib.h>

/* The BatchNorm scale gamma[co] / sqrt(var[co] + eps) of the nout output
 * channels of a map (1 for every channel when no BatchNorm is folded). */
static int read_bn_scale(const fs_model *m, const fs_matrix *x, int64_t nout, double *scale,
                         fs_error *err) {
  for (int64_t i = 0; i < nout; i++) scale[i] = 1.0;
  if (x->bn_var < 0) return 0;
  const fs_tensor *v = &m->tensors[x->bn_var], *g = x->bn_gamma >= 0 ? &m->tensors[x->bn_gamma] : NULL;
  if (fs_tensor_numel(v) != nout || (g && fs_tensor_numel(g) != nout))
    return fs_fail(err, "%s: BatchNorm '%s' does not have %lld channels", m->path, v->name,
                   (long long)nout);
  double *var = malloc(sizeof *var * (size_t)(nout + 1));
  if (!var) return fs_fail(err, "%s: out of memory for BatchNorm '%s'", m->path, v->name);
  int rc = fs_tensor_read_rows(m, v, 0, 1, var, err);
  if (!rc && g) rc = fs_tensor_read_rows(m, g, 0, 1, scale, err);
  for (int64_t i = 0; i < nout && !rc; i++) {
    if (!(var[i] + x->bn_eps > 0))
      rc = fs_fail(err, "%s: BatchNorm '%s': channel %lld has variance %g (+ eps %g) <= 0",
                   m->path, v->name, (long long)i, var[i], x->bn_eps);
    else
      scale[i] /= sqrt(var[i] + x->bn_eps);
  }
  free(var);
  return rc;
}

/* The input unfolding of a kernel O = [c_out, c_in * k] (stored view):
 * I[ci][co * k + s] = O[co][ci * k + s] bn[co] gain[ci], rows [r0, r1) and
 * columns [c0, c1) of I.  The whole kernel is read. */
static int read_unfolded(const fs_model *m, const fs_matrix *x, double **out, fs_error *err) {
  const fs_tensor *t = &m->tensors[x->tensor];
  int64_t cout = fs_tensor_rows(t), full = fs_tensor_cols(t), k = x->ksize;
  int64_t rows = fs_matrix_rows(x), cols = fs_matrix_cols(x);
  if (k <= 0 || full % k || x->rep != 1 || x->r0 < 0 || x->r1 > full / k || x->c0 < 0 ||
      x->c1 > cout * k)
    return fs_fail(err, "%s: tensor '%s': input unfolding with spatial size %lld does not fit "
                   "its %lld x %lld view", m->path, t->name, (long long)k, (long long)cout,
                   (long long)full);
  int64_t ngain = x->fold >= 0 ? fs_tensor_numel(&m->tensors[x->fold]) : 0;
  double *w = malloc(sizeof *w * (size_t)(cout * full + cout + ngain + 1));
  double *I = malloc(sizeof *I * (size_t)(rows * cols + 1));
  if (!w || !I) {
    free(w), free(I);
    return fs_fail(err, "%s: tensor '%s': out of memory for %lld x %lld", m->path, t->name,
                   (long long)cout, (long long)full);
  }
  double *bn = w + cout * full, *gain = bn + cout;
  int rc = fs_tensor_read_rows(m, t, 0, cout, w, err);
  if (!rc) rc = read_bn_scale(m, x, cout, bn, err);
  if (!rc && x->fold >= 0) rc = fs_tensor_read_rows(m, &m->tensors[x->fold], 0, 1, gain, err);
  if (rc) {
    free(w), free(I);
    return FS_ERR;
  }
  for (int64_t i = 0; i < rows; i++) {
    int64_t ci = x->r0 + i;
    double g = x->fold < 0 ? 1.0 : gain[ci];
    for (int64_t c = 0; c < cols; c++) {
      int64_t j = x->c0 + c, co = j / k, s = j % k;
      I[i * cols + c] = w[co * full + ci * k + s] * bn[co] * g;
    }
  }
  free(w);
  *out = I;
  return 0;
}

/* The matrix as the layer applies it: its row blocks and columns of the
 * stored [out, in] view, with the folded normalisation gain multiplying the
 * map's inputs (the stored columns, or the stored rows of a transposed map)
 * and a folded BatchNorm scale its outputs (the stored rows, or the stored
 * columns of a transposed map); or a convolution's input unfolding. */
int fs_load_matrix(const fs_model *m, const fs_matrix *x, double **out, fs_error *err) {
  if (x->unfold_in) return read_unfolded(m, x, out, err);
  const fs_tensor *t = &m->tensors[x->tensor];
  int64_t rows = fs_matrix_rows(x), cols = fs_matrix_cols(x), full = fs_tensor_cols(t);
  int64_t blk = x->r1 - x->r0, ngain = x->fold >= 0 ? fs_tensor_numel(&m->tensors[x->fold]) : 0;
  int64_t nout = x->bn_var < 0 ? 0 : x->transposed ? full : fs_tensor_rows(t);
  double *buf = malloc(sizeof *buf * (size_t)(rows * full + ngain + nout + 1));
  if (!buf) return fs_fail(err, "%s: tensor '%s': out of memory for %lld x %lld", m->path,
                           t->name, (long long)rows, (long long)full);
  double *gain = buf + rows * full, *bn = gain + ngain;
  int rc = 0;
  for (int64_t i = 0; i < x->rep && !rc; i++)
    rc = fs_tensor_read_rows(m, t, x->r0 + i * x->rstep, x->r1 + i * x->rstep,
                             buf + i * blk * full, err);
  if (!rc && x->fold >= 0) rc = fs_tensor_read_rows(m, &m->tensors[x->fold], 0, 1, gain, err);
  if (!rc && nout) rc = read_bn_scale(m, x, nout, bn, err);
  if (rc) {
    free(buf);
    return FS_ERR;
  }
  for (int64_t i = 0; i < rows; i++) { /* compact the column slice in place, then fold */
    int64_t stored_row = x->r0 + (i / blk) * x->rstep + i % blk;
    for (int64_t c = 0; c < cols; c++) {
      double g = x->fold < 0 ? 1.0 : gain[x->transposed ? stored_row : x->c0 + c];
      if (nout) g *= bn[x->transposed ? x->c0 + c : stored_row];
      buf[i * cols + c] = buf[i * full + x->c0 + c] * g;
    }
  }
  *out = buf;
  return 0;
}

