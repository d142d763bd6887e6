/*
 * fs_load.c - reads a matrix of the layer graph as the layer applies it
 * (see fs_load.h): folds and unfoldings are applied here, once, so that the
 * spectra and every other stage see the same linear map.
 */
#include "fs_load.h"

#include <math.h>
#include <stdlib.h>

/* The BatchNorm scale gamma[co] / sqrt(var[co] + eps) of the nout output
 * channels of a map (1 for every channel when no BatchNorm is folded; gamma
 * alone for a plain affine scale, bn_var < 0 and bn_gamma >= 0). */
static int read_bn_scale(const fs_model *m, const fs_matrix *x, int64_t nout, double *scale,
                         fs_error *err) {
  for (int64_t i = 0; i < nout; i++) scale[i] = 1.0;
  if (x->bn_var < 0 && x->bn_gamma >= 0) {
    const fs_tensor *g = &m->tensors[x->bn_gamma];
    if (fs_tensor_numel(g) != nout)
      return fs_fail(err, "%s: scale '%s' does not have %lld channels", m->path, g->name,
                     (long long)nout);
    return fs_tensor_read_rows(m, g, 0, 1, scale, err);
  }
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
  int64_t nout = (x->bn_var < 0 && x->bn_gamma < 0) ? 0 : x->transposed ? full : fs_tensor_rows(t);
  /* A narrow column slice (a head of a fused QKV stored [in, out]) reads only
   * its columns; a wide one whole rows, compacted below. */
  int narrow = 2 * cols <= full;
  int64_t width = narrow ? cols : full;
  double *buf = malloc(sizeof *buf * (size_t)(rows * width + ngain + nout + 1));
  if (!buf) return fs_fail(err, "%s: tensor '%s': out of memory for %lld x %lld", m->path,
                           t->name, (long long)rows, (long long)width);
  double *gain = buf + rows * width, *bn = gain + ngain;
  int rc = 0;
  for (int64_t i = 0; i < x->rep && !rc; i++)
    rc = narrow ? fs_tensor_read_block(m, t, x->r0 + i * x->rstep, x->r1 + i * x->rstep, x->c0,
                                       x->c1, buf + i * blk * width, err)
                : fs_tensor_read_rows(m, t, x->r0 + i * x->rstep, x->r1 + i * x->rstep,
                                      buf + i * blk * width, err);
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
      buf[i * cols + c] = buf[i * width + (narrow ? 0 : x->c0) + c] * g;
    }
  }
  *out = buf;
  return 0;
}


/* ---- row blocks (fs_load_matrix_rows) ------------------------------------ */

/* The 1-D side vectors of x: the folded gain (ngain values) and the BatchNorm
 * scale of the nout output channels, in one malloc'd array (gain first). */
static int read_side(const fs_model *m, const fs_matrix *x, int64_t nout, double **side,
                     fs_error *err) {
  int64_t ngain = x->fold >= 0 ? fs_tensor_numel(&m->tensors[x->fold]) : 0;
  double *v = malloc(sizeof *v * (size_t)(ngain + nout + 1));
  if (!v) return fs_fail(err, "%s: tensor '%s': out of memory for its gain and scale", m->path,
                         m->tensors[x->tensor].name);
  int rc = x->fold >= 0 ? fs_tensor_read_rows(m, &m->tensors[x->fold], 0, 1, v, err) : 0;
  if (!rc && nout) rc = read_bn_scale(m, x, nout, v + ngain, err);
  if (rc) {
    free(v);
    return FS_ERR;
  }
  *side = v;
  return 0;
}

/* Rows [i0, i1) of an input unfolding I[ci][co k + s] = O[co][ci k + s]:
 * stream O through a chunk of stored rows, keep the columns of these ci. */
static int unfolded_rows(const fs_model *m, const fs_matrix *x, int64_t i0, int64_t i1,
                         double *out, fs_error *err) {
  const fs_tensor *t = &m->tensors[x->tensor];
  int64_t cout = fs_tensor_rows(t), full = fs_tensor_cols(t), k = x->ksize;
  int64_t cols = fs_matrix_cols(x), nr = i1 - i0;
  if (k <= 0 || full % k || x->rep != 1 || x->r0 < 0 || x->r1 > full / k || x->c0 < 0 ||
      x->c1 > cout * k)
    return fs_fail(err, "%s: tensor '%s': input unfolding with spatial size %lld does not fit "
                   "its %lld x %lld view", m->path, t->name, (long long)k, (long long)cout,
                   (long long)full);
  double *side = NULL, *chunk = malloc(sizeof *chunk * (size_t)(FS_LOAD_CHUNK_ROWS * full + 1));
  int rc = chunk ? read_side(m, x, x->bn_var < 0 ? 0 : cout, &side, err)
                 : fs_fail(err, "%s: tensor '%s': out of memory for a chunk", m->path, t->name);
  int64_t ngain = x->fold >= 0 ? fs_tensor_numel(&m->tensors[x->fold]) : 0;
  for (int64_t a = 0; !rc && a < cout; a += FS_LOAD_CHUNK_ROWS) {
    int64_t b = a + FS_LOAD_CHUNK_ROWS < cout ? a + FS_LOAD_CHUNK_ROWS : cout;
    rc = fs_tensor_read_rows(m, t, a, b, chunk, err);
    for (int64_t i = 0; !rc && i < nr; i++) {
      int64_t ci = x->r0 + i0 + i;
      double g = x->fold < 0 ? 1.0 : side[ci];
      for (int64_t c = 0; c < cols; c++) {
        int64_t j = x->c0 + c, co = j / k, s = j % k;
        if (co < a || co >= b) continue;
        double bn = x->bn_var < 0 ? 1.0 : side[ngain + co];
        out[i * cols + c] = chunk[(co - a) * full + ci * k + s] * bn * g;
      }
    }
  }
  free(chunk), free(side);
  return rc;
}

int fs_load_matrix_rows(const fs_model *m, const fs_matrix *x, int64_t i0, int64_t i1,
                        double *out, fs_error *err) {
  if (i0 < 0 || i1 > fs_matrix_rows(x) || i0 > i1)
    return fs_fail(err, "%s: matrix '%s': rows [%lld, %lld) outside its %lld", m->path, x->name,
                   (long long)i0, (long long)i1, (long long)fs_matrix_rows(x));
  if (x->unfold_in) return unfolded_rows(m, x, i0, i1, out, err);
  const fs_tensor *t = &m->tensors[x->tensor];
  int64_t cols = fs_matrix_cols(x), full = fs_tensor_cols(t), blk = x->r1 - x->r0;
  int64_t nout = x->bn_var < 0 ? 0 : x->transposed ? full : fs_tensor_rows(t);
  int64_t ngain = x->fold >= 0 ? fs_tensor_numel(&m->tensors[x->fold]) : 0;
  double *side = NULL, *chunk = malloc(sizeof *chunk * (size_t)(FS_LOAD_CHUNK_ROWS * full + 1));
  int rc = chunk ? read_side(m, x, nout, &side, err)
                 : fs_fail(err, "%s: tensor '%s': out of memory for a chunk", m->path, t->name);
  /* Consecutive matrix rows are consecutive stored rows inside one row block. */
  for (int64_t i = i0; !rc && i < i1;) {
    int64_t within = i % blk, n = blk - within;
    if (n > i1 - i) n = i1 - i;
    if (n > FS_LOAD_CHUNK_ROWS) n = FS_LOAD_CHUNK_ROWS;
    int64_t stored0 = x->r0 + (i / blk) * x->rstep + within;
    rc = fs_tensor_read_rows(m, t, stored0, stored0 + n, chunk, err);
    for (int64_t r = 0; !rc && r < n; r++)
      for (int64_t c = 0; c < cols; c++) {
        int64_t stored_row = stored0 + r;
        double g = x->fold < 0 ? 1.0 : side[x->transposed ? stored_row : x->c0 + c];
        if (nout) g *= side[ngain + (x->transposed ? x->c0 + c : stored_row)];
        out[(i - i0 + r) * cols + c] = chunk[r * full + x->c0 + c] * g;
      }
    i += n;
  }
  free(chunk), free(side);
  return rc;
}
