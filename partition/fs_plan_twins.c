/*
 * fs_plan_twins.c - matrices of one model whose contents are identical
 * ("twins"), so that the run computes their spectrum once (see fs_plan.h).
 *
 * Two graph matrices are twins when the loaded matrices (fs_load_matrix) are
 * equal element for element: the same stored contents, the same slice, row
 * blocks and unfolding, and the same folds.  The typical pair is a tied output
 * embedding: GPT-2's wte.weight read as the input embedding (transposed) and
 * as the output head (not transposed, ln_f folded), or a checkpoint that
 * stores embed_tokens.weight and lm_head.weight with the same bytes.
 *
 * Decided from the header and a few small reads, the same on every rank:
 *   contents - the same tensor, or two tensors of one dtype, shape and layout
 *              whose first, middle and last rows agree bit for bit in their
 *              first FP_COLS columns (a fingerprint: such twins are flagged,
 *              and the owner compares the whole matrices before copying,
 *              fs_analyze.c);
 *   fold     - the same gain tensor, or none; a gain whose every value is
 *              exactly 1 is no fold (multiplying by 1.0 changes no bit);
 *   BatchNorm - the same tensors and eps; with a fold or a BatchNorm the map's
 *              orientation decides which side is scaled, so it must match too.
 * Matrices are sorted by that key; the first (lowest index) of a run of equal
 * keys is the source, the others its twins.  A transposed view and a plain
 * one of the same slice load the same matrix (the flag only says which side
 * the layer reads), so the twin's U and V are the source's U and V.
 */
#include <stdlib.h>
#include <string.h>

#include "fs_plan.h"

typedef struct twin_key {
  int content, fold, bn_gamma, bn_var, orient, unfold_in;
  int64_t r0, r1, c0, c1, rep, rstep, ksize;
  double bn_eps;
  int index;
} twin_key;

static int cmp_i64(int64_t a, int64_t b) { return (a > b) - (a < b); }

static int key_cmp(const void *pa, const void *pb) {
  const twin_key *a = pa, *b = pb;
  int64_t x[] = {a->content, a->fold, a->bn_gamma, a->bn_var, a->orient, a->unfold_in,
                 a->r0, a->r1, a->c0, a->c1, a->rep, a->rstep, a->ksize};
  int64_t y[] = {b->content, b->fold, b->bn_gamma, b->bn_var, b->orient, b->unfold_in,
                 b->r0, b->r1, b->c0, b->c1, b->rep, b->rstep, b->ksize};
  for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
    if (x[i] != y[i]) return cmp_i64(x[i], y[i]);
  if (a->bn_eps != b->bn_eps) return a->bn_eps < b->bn_eps ? -1 : 1;
  return a->index - b->index; /* the source comes first */
}

static int same_key(const twin_key *a, const twin_key *b) {
  twin_key x = *a, y = *b;
  x.index = y.index = 0;
  return key_cmp(&x, &y) == 0;
}

/* The first FP_COLS columns of the first, middle and last rows of the
 * [out, in] view (3 FP_COLS values, zero-padded), or NULL when they cannot
 * be read (the tensor is then its own class). */
#define FP_COLS 256
static double *fingerprint(const fs_model *m, int t) {
  const fs_tensor *x = &m->tensors[t];
  int64_t rows = fs_tensor_rows(x), cols = fs_tensor_cols(x), r[3] = {0, rows / 2, rows - 1};
  int64_t w = cols < FP_COLS ? cols : FP_COLS;
  if (rows <= 0 || cols <= 0) return NULL;
  double *f = calloc(3 * FP_COLS, sizeof *f);
  fs_error e;
  for (int i = 0; f && i < 3; i++)
    if (fs_tensor_read_block(m, x, r[i], r[i] + 1, 0, w, f + i * FP_COLS, &e)) {
      free(f);
      return NULL;
    }
  return f;
}

static int same_header(const fs_tensor *a, const fs_tensor *b) {
  if (a->dtype != b->dtype || a->ndim != b->ndim || a->in_out != b->in_out ||
      a->nbytes != b->nbytes)
    return 0;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return 0;
  return 1;
}

/* content[t]: the lowest tensor index with the same header and fingerprint
 * as t (t itself when none), for the tensors the graph's matrices read.
 * Returns 0, or FS_ERR when memory runs out. */
static int content_classes(const fs_model *m, const fs_graph *g, int *content) {
  int nt = m->ntensors, rc = 0;
  char *used = calloc((size_t)nt + 1, 1);
  double **fp = calloc((size_t)nt + 1, sizeof *fp);
  char *tried = calloc((size_t)nt + 1, 1);
  if (!used || !fp || !tried) rc = FS_ERR;
  for (int j = 0; !rc && j < g->nmat; j++) used[g->mat[j].tensor] = 1;
  for (int t = 0; t < nt; t++) content[t] = t;
  for (int t = 0; !rc && t < nt; t++) {
    if (!used[t]) continue;
    for (int u = 0; u < t; u++) {
      if (!used[u] || content[u] != u || !same_header(&m->tensors[u], &m->tensors[t])) continue;
      for (int v = u; v <= t; v += t - u) /* both fingerprints, read once each */
        if (!tried[v]) tried[v] = 1, fp[v] = fingerprint(m, v);
      if (fp[u] && fp[t] && !memcmp(fp[u], fp[t], sizeof **fp * 3 * FP_COLS)) {
        content[t] = u;
        break;
      }
    }
  }
  for (int t = 0; fp && t < nt; t++) free(fp[t]);
  free(fp), free(used), free(tried);
  return rc;
}

/* A gain of exactly 1 everywhere is no fold (-1); otherwise the tensor. */
static int fold_class(const fs_model *m, int fold, signed char *ones) {
  if (fold < 0) return -1;
  if (!ones[fold]) {
    const fs_tensor *t = &m->tensors[fold];
    int64_t n = fs_tensor_numel(t);
    double *v = n > 0 && fs_tensor_rows(t) == 1 ? malloc(sizeof *v * (size_t)n) : NULL;
    fs_error e;
    ones[fold] = -1;
    if (v && !fs_tensor_read_rows(m, t, 0, 1, v, &e)) {
      int64_t i = 0;
      while (i < n && v[i] == 1.0) i++;
      if (i == n) ones[fold] = 1;
    }
    free(v);
  }
  return ones[fold] > 0 ? -1 : fold;
}

int fs_plan_find_twins(const fs_model *m, const fs_graph *g, int *twin, int *check,
                       fs_error *err) {
  int n = g->nmat, nt = m->ntensors;
  twin_key *key = malloc(sizeof *key * (size_t)(n + 1));
  int *content = malloc(sizeof *content * (size_t)(nt + 1));
  signed char *ones = calloc((size_t)nt + 1, 1);
  int rc = key && content && ones ? content_classes(m, g, content) : FS_ERR;
  for (int j = 0; !rc && j < n; j++) {
    const fs_matrix *x = &g->mat[j];
    twin_key *k = &key[j];
    memset(k, 0, sizeof *k);
    k->content = content[x->tensor];
    k->fold = fold_class(m, x->fold, ones);
    k->bn_gamma = x->bn_gamma, k->bn_var = x->bn_var;
    k->bn_eps = x->bn_var >= 0 ? x->bn_eps : 0;
    /* Which side a fold scales depends on the orientation (fs_load.c). */
    k->orient = (k->fold >= 0 || x->bn_gamma >= 0 || x->bn_var >= 0) ? x->transposed : 0;
    k->unfold_in = x->unfold_in;
    k->r0 = x->r0, k->r1 = x->r1, k->c0 = x->c0, k->c1 = x->c1;
    k->rep = x->rep, k->rstep = x->rep > 1 ? x->rstep : 0, k->ksize = x->ksize;
    k->index = j;
    twin[j] = -1, check[j] = 0;
  }
  if (!rc) qsort(key, (size_t)n, sizeof *key, key_cmp);
  for (int i = 1, s = 0; !rc && i < n; i++) { /* s: the first of the current run */
    if (!same_key(&key[s], &key[i])) {
      s = i;
      continue;
    }
    int src = key[s].index, j = key[i].index;
    twin[j] = src;
    check[j] = g->mat[src].tensor != g->mat[j].tensor;
  }
  free(key), free(content), free(ones);
  return rc ? fs_fail(err, "out of memory finding identical matrices") : 0;
}

uint64_t fs_plan_twins_checksum(const int *twin, const int *check, int n) {
  uint64_t h = 14695981039346656037ull; /* FNV-1a 64 */
  for (int j = 0; j < n; j++) {
    uint64_t v = (uint64_t)(uint32_t)twin[j] ^ ((uint64_t)(check[j] != 0) << 32);
    for (int b = 0; b < 8; b++) h = (h ^ ((v >> (8 * b)) & 0xff)) * 1099511628211ull;
  }
  return h;
}
