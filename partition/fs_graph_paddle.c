/*
 * fs_graph_paddle.c - layer graphs of PaddlePaddle models by their parameter
 * names (conv2d_N.w_0, batch_norm2d_M.w_0..w_2, linear_N.w_0,
 * layer_norm_M.w_0), as Paddle and paddle2onnx export them; written for
 * PP-OCRv4's text recogniser (PP-LCNetV3 backbone re-parameterised for
 * inference, SVTR neck with two transformer blocks, CTC head), see
 * docs/layer-graph.md.
 *
 * Paddle names parameters by layer type and a global creation counter, so
 * names say nothing about the order of the layers.  The order comes from the
 * file's dataflow graph when it has one (ONNX: fs_tensor.use_order, the first
 * node reading each weight), else from the counter.  The layers are then
 * followed as one stream of channels:
 *   - a layer reading the stream's C channels pairs with its writer (chain);
 *     the last linear layer is the classifier;
 *   - a depthwise conv [C, 1, kh, kw] filters each channel on its own and
 *     mixes none: it is analysed alone and the stream passes through it;
 *   - a squeeze-excitation pair (1x1 C -> C/r, 1x1 C/r -> C) reads the stream
 *     and gates it channel by channel: C -> conv a -> conv b are chained, and
 *     the stream passes on unchanged (the gate is a product, not a write);
 *   - a layer reading C' + C channels reads the concatenation of an earlier
 *     stream of C' channels and the current one (SVTR: concat(h, z)): two
 *     pairs on row ranges of its input unfolding;
 *   - four linear layers [3C, C], [C, C], [F, C], [C, F] are a pre-norm
 *     transformer block (fused qkv = [q | k | v], head-major in each; proj;
 *     fc1; fc2), reading through the next two LayerNorm gains; after the last
 *     block the next LayerNorm is the final norm, folded into the next reader.
 * Paddle Linear weights are stored [in, out]; the ONNX reader already presents
 * them as [out, in] (MatMul B inputs), so nothing is transposed here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_graph_rules.h"
#include "fs_layermap.h"

/* SVTR's num_heads default (PaddleOCR EncoderWithSVTR), used by the PP-OCRv3
 * and v4 recognisers; a layer map's "heads" line or config.num_heads wins. */
#define SVTR_HEADS 8

typedef struct pd_layer {
  int t, linear;
  long num;
  int64_t order;
  bnorm bn;
} pd_layer;

/* "<stem><N><suffix>" exactly: N. */
static int pd_num(const char *name, const char *stem, const char *suffix, long *num) {
  size_t ns = strlen(stem), nx = strlen(suffix), n = strlen(name);
  if (n <= ns + nx || strncmp(name, stem, ns) || strcmp(name + n - nx, suffix)) return 0;
  long v = 0;
  for (const char *p = name + ns; p < name + n - nx; p++) {
    if (*p < '0' || *p > '9' || v > 100000000) return 0;
    v = 10 * v + (*p - '0');
  }
  *num = v;
  return 1;
}

static int by_order(const void *a, const void *b) {
  const pd_layer *x = a, *y = b;
  if (x->order != y->order) return (x->order > y->order) - (x->order < y->order);
  return (x->t > y->t) - (x->t < y->t);
}

typedef struct pd_ref {
  long num;
  int t;
} pd_ref;

static int by_num(const void *a, const void *b) {
  const pd_ref *x = a, *y = b;
  return (x->num > y->num) - (x->num < y->num);
}

/* Tensors "<stem>N<suffix>" (1-D), sorted by N. */
static int pd_list(const fs_model *m, const char *stem, const char *suffix, pd_ref *out) {
  int n = 0;
  for (int t = 0; t < m->ntensors; t++) {
    long v;
    if (m->tensors[t].ndim == 1 && pd_num(m->tensors[t].name, stem, suffix, &v))
      out[n++] = (pd_ref){v, t};
  }
  qsort(out, (size_t)n, sizeof *out, by_num);
  return n;
}

/* BatchNorms follow their convs: the k-th conv without a bias (sorted by N)
 * owns the k-th batch_norm2d_M (sorted by M) when the channels agree.
 * Paddle's BatchNorm: w_0 scale, b_0 shift, w_1 mean, w_2 variance. */
static void pd_batchnorms(const fs_model *m, pd_layer *lay, int n, pd_ref *scratch, fs_graph *g) {
  int nb = pd_list(m, "batch_norm2d_", ".w_2", scratch), k = 0;
  pd_layer **convs = malloc(sizeof *convs * (size_t)(n + 1));
  if (!convs) return; /* no folding: the convs are still analysed */
  int nc = 0;
  for (int i = 0; i < n; i++) {
    char bias[160];
    snprintf(bias, sizeof bias, "conv2d_%ld.b_0", lay[i].num);
    if (!lay[i].linear && fs_model_index(m, bias) < 0) convs[nc++] = &lay[i];
  }
  for (int a = 1; a < nc; a++) /* insertion sort by N: few convs */
    for (int b = a; b > 0 && convs[b - 1]->num > convs[b]->num; b--) {
      pd_layer *s = convs[b];
      convs[b] = convs[b - 1], convs[b - 1] = s;
    }
  for (int i = 0; i < nc && k < nb; i++, k++) {
    const fs_tensor *v = &m->tensors[scratch[k].t];
    int64_t cout = fs_tensor_rows(&m->tensors[convs[i]->t]);
    if (v->shape[0] != cout) {
      fs_graph_note(g, "%s: %lld channels, %s has %lld: BatchNorms not folded from here on",
                    m->tensors[convs[i]->t].name, (long long)cout, v->name, (long long)v->shape[0]);
      break;
    }
    char name[160];
    snprintf(name, sizeof name, "batch_norm2d_%ld.w_0", scratch[k].num);
    int gm = fs_model_index(m, name);
    bnorm *bn = &convs[i]->bn;
    bn->var = scratch[k].t;
    bn->gamma = (gm >= 0 && m->tensors[gm].ndim == 1 && m->tensors[gm].shape[0] == cout) ? gm : -1;
    bn->eps = 1e-5; /* Paddle's BatchNorm default epsilon */
    snprintf(bn->module, sizeof bn->module, "batch_norm2d_%ld", scratch[k].num);
  }
  free(convs);
}

/* The walk's state: the stream of channels and what wrote it. */
typedef struct pd_walk {
  const fs_model *m;
  fs_graph *g;
  pd_layer *lay;
  int n;
  pd_ref *norms;
  int nnorm, next_norm;
  int cur;           /* writer matrix of the stream, -1 before the first layer */
  int64_t C;         /* its channels */
  int hist[64];      /* earlier streams, for concatenations */
  int64_t hist_c[64];
  int nhist;
  int after_blocks;  /* the stream was written by a transformer block */
  int depth;
} pd_walk;

static int64_t pd_in(const fs_model *m, const pd_layer *l) {
  return l->linear ? fs_tensor_cols(&m->tensors[l->t]) : m->tensors[l->t].shape[1];
}
static int64_t pd_out(const fs_model *m, const pd_layer *l) {
  return fs_tensor_rows(&m->tensors[l->t]);
}
static int pd_1x1(const fs_model *m, const pd_layer *l) {
  return !l->linear && fs_tensor_cols(&m->tensors[l->t]) == m->tensors[l->t].shape[1];
}

static int is_se(const pd_walk *w, int i) {
  const pd_layer *a = &w->lay[i], *b = i + 1 < w->n ? &w->lay[i + 1] : NULL;
  if (!b || !pd_1x1(w->m, a) || !pd_1x1(w->m, b) || pd_in(w->m, a) != w->C) return 0;
  if (pd_out(w->m, a) >= w->C || pd_in(w->m, b) != pd_out(w->m, a) || pd_out(w->m, b) != w->C)
    return 0;
  return i + 2 >= w->n || pd_in(w->m, &w->lay[i + 2]) == w->C;
}

static int is_block(const pd_walk *w, int i) {
  if (i + 3 >= w->n) return 0;
  const pd_layer *q = &w->lay[i];
  for (int j = 0; j < 4; j++)
    if (!q[j].linear) return 0;
  int64_t C = w->C, F = pd_out(w->m, &q[2]);
  return pd_in(w->m, &q[0]) == C && pd_out(w->m, &q[0]) == 3 * C && pd_in(w->m, &q[1]) == C &&
         pd_out(w->m, &q[1]) == C && pd_in(w->m, &q[2]) == C && pd_in(w->m, &q[3]) == F &&
         pd_out(w->m, &q[3]) == C;
}

/* The next LayerNorm gain of C entries, or -1. */
static int take_norm(pd_walk *w) {
  if (w->next_norm >= w->nnorm) return -1;
  int t = w->norms[w->next_norm].t;
  if (w->m->tensors[t].shape[0] != w->C) return -1;
  w->next_norm++;
  return t;
}

static int pd_heads(const fs_model *m, int64_t C, int *h, int *kv) {
  const char *v = fs_model_meta(m, "config.num_heads");
  *h = v ? atoi(v) : 0, *kv = 0;
  fs_layermap_heads(fs_layermap_active(), h, kv);
  if (*h <= 0) *h = SVTR_HEADS;
  if (*kv <= 0) *kv = *h;
  return *h > 0 && C % *h == 0 && *h % *kv == 0 && *kv == *h;
}

/* One pre-norm transformer block: lay[i..i+3] = qkv, proj, fc1, fc2. */
static int pd_block(pd_walk *w, int i, fs_error *err) {
  const fs_model *m = w->m;
  fs_graph *g = w->g;
  int qkv = w->lay[i].t, proj = w->lay[i + 1].t, fc1 = w->lay[i + 2].t, fc2 = w->lay[i + 3].t;
  int64_t C = w->C;
  int b = w->depth, n1 = take_norm(w), n2 = take_norm(w), h, kv, x[3];
  static const char *sfx[3] = {".q", ".k", ".v"};
  for (int j = 0; j < 3; j++) {
    mapslice s = {qkv, 0, n1, b, -1, j * C, (j + 1) * C, 1, 0, 0, C, sfx[j]};
    if ((x[j] = fs_graph_add_matrix(g, m, &s, err)) < 0) return FS_ERR;
    FS_TRY(fs_graph_add_pair(g, FS_PAIR_RESIDUAL, w->cur, x[j], b, -1, err));
  }
  int o = fs_graph_add_whole(g, m, proj, 0, -1, b, err);
  int u = o < 0 ? -1 : fs_graph_add_whole(g, m, fc1, 0, n2, b, err);
  int d = u < 0 ? -1 : fs_graph_add_whole(g, m, fc2, 0, -1, b, err);
  if (d < 0) return FS_ERR;
  FS_TRY(fs_graph_add_pair(g, FS_PAIR_RESIDUAL, o, u, b, -1, err));
  FS_TRY(fs_graph_add_pair(g, FS_PAIR_MLP, u, d, b, -1, err));
  if (pd_heads(m, C, &h, &kv)) {
    int64_t hd = C / h;
    if (!g->n_head) g->n_head = h, g->n_head_kv = kv, g->head_dim = (int)hd;
    FS_TRY(fs_graph_add_head_block(g, b, x[0], x[1], x[2], o, err));
    int first = g->nmat;
    for (int k = 0; k < kv; k++) {
      char s1[32];
      snprintf(s1, sizeof s1, ".v[kv %d]", k);
      mapslice s = {qkv, 0, n1, b, k, 2 * C + k * hd, 2 * C + (k + 1) * hd, 1, 0, 0, C, s1};
      if (fs_graph_add_matrix(g, m, &s, err) < 0) return FS_ERR;
    }
    for (int k = 0; k < h; k++) {
      char s1[32];
      snprintf(s1, sizeof s1, "[head %d]", k);
      mapslice s = {proj, 0, -1, b, k, 0, C, 1, 0, k * hd, (k + 1) * hd, s1};
      int oi = fs_graph_add_matrix(g, m, &s, err);
      if (oi < 0) return FS_ERR;
      FS_TRY(fs_graph_add_pair(g, FS_PAIR_OV, first + k / (h / kv), oi, b, k, err));
    }
  } else {
    fs_graph_note(g, "%s: %d heads do not divide the width %lld: ov pairs skipped",
                  m->tensors[qkv].name, h, (long long)C);
  }
  w->cur = d, w->after_blocks = 1, w->depth++;
  return 0;
}

static void push_stream(pd_walk *w) {
  if (w->cur < 0) return;
  if (w->nhist == (int)(sizeof w->hist / sizeof w->hist[0])) {
    memmove(w->hist, w->hist + 1, sizeof w->hist - sizeof w->hist[0]);
    memmove(w->hist_c, w->hist_c + 1, sizeof w->hist_c - sizeof w->hist_c[0]);
    w->nhist--;
  }
  w->hist[w->nhist] = w->cur, w->hist_c[w->nhist++] = w->C;
}

/* A layer that reads: pairs with the stream (or a concatenation); then its
 * output becomes the stream. */
static int pd_layer_step(pd_walk *w, int i, fs_error *err) {
  const fs_model *m = w->m;
  fs_graph *g = w->g;
  const pd_layer *L = &w->lay[i];
  int64_t cin = pd_in(m, L), b = w->depth;
  int last = i == w->n - 1;
  fs_pair_type type = w->after_blocks ? FS_PAIR_RESIDUAL
                      : (last && L->linear) ? FS_PAIR_CLASSIFIER : FS_PAIR_CHAIN;
  int gain = w->after_blocks ? take_norm(w) : -1, r = -1, o;
  if (w->cur >= 0 && cin == w->C) {
    r = L->linear ? fs_graph_add_whole(g, m, L->t, 0, fs_graph_gain_for(m, gain, L->t, 0), b, err)
                  : fs_graph_add_in_rows(g, m, L->t, cin, 0, cin, &L->bn, gain, b, err);
    if (r < 0) return FS_ERR;
    FS_TRY(fs_graph_add_pair(g, type, w->cur, r, b, -1, err));
  } else if (w->cur >= 0 && !L->linear) {
    int j = w->nhist - 1;
    while (j >= 0 && w->hist_c[j] + w->C != cin) j--;
    if (j >= 0) { /* concat(earlier, current) along the channels */
      int64_t c0 = w->hist_c[j];
      int r0 = fs_graph_add_in_rows(g, m, L->t, cin, 0, c0, &L->bn, -1, b, err);
      int r1 = r0 < 0 ? -1 : fs_graph_add_in_rows(g, m, L->t, cin, c0, cin, &L->bn, -1, b, err);
      if (r1 < 0) return FS_ERR;
      FS_TRY(fs_graph_add_pair(g, FS_PAIR_CHAIN, w->hist[j], r0, b, -1, err));
      FS_TRY(fs_graph_add_pair(g, type, w->cur, r1, b, -1, err));
    } else {
      fs_graph_note(g, "%s reads %lld channels, the stream before it has %lld: not paired",
                    m->tensors[L->t].name, (long long)cin, (long long)w->C);
    }
  } else if (w->cur >= 0) {
    fs_graph_note(g, "%s reads %lld inputs, the stream before it has %lld: not paired",
                  m->tensors[L->t].name, (long long)cin, (long long)w->C);
  }
  o = L->linear ? (r >= 0 ? r : fs_graph_add_whole(g, m, L->t, 0, -1, b, err))
                : fs_graph_add_out(g, m, L->t, &L->bn, b, err);
  if (o < 0) return FS_ERR;
  push_stream(w);
  w->cur = o, w->C = pd_out(m, L), w->after_blocks = 0, w->depth++;
  return 0;
}

static int pd_walk_layers(pd_walk *w, fs_error *err) {
  const fs_model *m = w->m;
  for (int i = 0; i < w->n; i++) {
    const pd_layer *L = &w->lay[i];
    if (w->cur >= 0 && !L->linear && fs_graph_depthwise_channels(m, L->t) == w->C) {
      if (fs_graph_add_out(w->g, m, L->t, &L->bn, w->depth++, err) < 0) return FS_ERR;
      continue;
    }
    if (w->cur >= 0 && !L->linear && is_se(w, i)) {
      const pd_layer *b = &w->lay[i + 1];
      int d = w->depth++;
      int ai = fs_graph_add_in_rows(w->g, m, L->t, w->C, 0, w->C, &L->bn, -1, d, err);
      int ao = ai < 0 ? -1 : fs_graph_add_out(w->g, m, L->t, &L->bn, d, err);
      int64_t cb = pd_in(m, b);
      int bi = ao < 0 ? -1 : fs_graph_add_in_rows(w->g, m, b->t, cb, 0, cb, &b->bn, -1, d, err);
      if (bi < 0 || fs_graph_add_out(w->g, m, b->t, &b->bn, d, err) < 0) return FS_ERR;
      FS_TRY(fs_graph_add_pair(w->g, FS_PAIR_CHAIN, w->cur, ai, d, -1, err));
      FS_TRY(fs_graph_add_pair(w->g, FS_PAIR_CHAIN, ao, bi, d, -1, err));
      i++;
      continue;
    }
    if (w->cur >= 0 && L->linear && is_block(w, i)) {
      FS_TRY(pd_block(w, i, err));
      i += 3;
      continue;
    }
    FS_TRY(pd_layer_step(w, i, err));
  }
  return 0;
}

int fs_graph_build_paddle(const fs_model *m, const char *used, fs_graph *g, fs_error *err) {
  pd_layer *lay = malloc(sizeof *lay * (size_t)(m->ntensors + 1));
  pd_ref *refs = malloc(sizeof *refs * (size_t)(m->ntensors + 1));
  pd_ref *norms = malloc(sizeof *norms * (size_t)(m->ntensors + 1));
  if (!lay || !refs || !norms) {
    free(lay), free(refs), free(norms);
    return fs_fail(err, "out of memory building the layer graph");
  }
  int n = 0, ordered = 1;
  for (int t = 0; t < m->ntensors; t++) {
    long v;
    const fs_tensor *x = &m->tensors[t];
    int conv = x->ndim == 4 && pd_num(x->name, "conv2d_", ".w_0", &v);
    int lin = !conv && x->ndim == 2 && pd_num(x->name, "linear_", ".w_0", &v);
    if (used[t] || (!conv && !lin) || fs_tensor_numel(x) <= 0) continue;
    lay[n] = (pd_layer){t, lin, v, x->use_order, {-1, -1, 0, ""}};
    ordered &= x->use_order > 0;
    n++;
  }
  int rc = 0;
  if (n) {
    /* without a dataflow order: creation order, convolutions before linears */
    for (int i = 0; i < n && !ordered; i++) lay[i].order = lay[i].num + (lay[i].linear ? 1000000000L : 0);
    if (!ordered)
      fs_graph_note(g, "no dataflow order in the file: Paddle layers taken in creation order, "
                    "convolutions first");
    qsort(lay, (size_t)n, sizeof *lay, by_order);
    pd_batchnorms(m, lay, n, refs, g);
    pd_walk w = {m, g, lay, n, norms, pd_list(m, "layer_norm_", ".w_0", norms), 0, -1, 0,
                 {0}, {0}, 0, 0, 0};
    rc = pd_walk_layers(&w, err);
    if (!rc && !g->family[0]) snprintf(g->family, sizeof g->family, "paddle");
  }
  free(lay), free(refs), free(norms);
  return rc;
}
