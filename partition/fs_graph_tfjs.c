/*
 * fs_graph_tfjs.c - face-api's TF.js networks by their weight names, see
 * docs/layer-graph.md: the residual network of the face recogniser, and the
 * separable-convolution chains of its detector, landmark and expression nets.
 *
 * Residual networks (the dlib-style ResNet-34 of the face recogniser):
 *
 * Weights: "<M>/conv/filters" (the reader presents TF's [kh, kw, in, out] as
 * [out, in, kh, kw]), "<M>/conv/bias", and an affine "<M>/scale/weights",
 * "<M>/scale/biases" after every conv (the exporter's folded BatchNorm: the
 * scale multiplies output channel co, so it is folded like a BatchNorm with
 * unit variance).  A module "<B>/conv1", "<B>/conv2" is a residual block B
 * (conv1 -> relu -> conv2, plus the shortcut: identity, or average pooling
 * with zero channels appended in the "_down" blocks, which has no weights);
 * any other conv module is a plain layer (the stem "conv32_down").  The
 * manifest lists the layers in the order the network applies them.  A dense
 * "fc" [out, in] after global average pooling reads the last block's channels.
 *
 * Separable chains (tiny_face_detector, face_landmark_68_tiny, ...): in
 * manifest order "<M>/filters" (a conv), "<M>/depthwise_filter" (TF's
 * [kh, kw, C, 1], presented as [1, C, kh, kw]: it filters each channel alone,
 * mixes none, and the stream passes through it), "<M>/pointwise_filter" (a
 * 1x1 conv reading the channels), "<M>/weights" (a dense layer, the last one
 * the classifier or regression head).  Consecutive layers whose channels
 * follow are chain pairs; dense connections that add earlier outputs and
 * shortcut convs reading an earlier stream are not followed (the note says
 * which layer could not be paired).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_graph_rules.h"

static int ends_with(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && !strncmp(s + n - k, suffix, k);
}

/* The affine scale of module M ("<M>/scale/weights", one per channel). */
static bnorm tf_scale(const fs_model *m, const char *M, size_t n, int64_t cout) {
  bnorm b = {-1, -1, 0, ""};
  char name[320];
  snprintf(name, sizeof name, "%.*s/scale/weights", (int)n, M);
  int t = fs_model_index(m, name);
  if (t >= 0 && m->tensors[t].ndim == 1 && m->tensors[t].shape[0] == cout) {
    b.gamma = t;
    snprintf(b.module, sizeof b.module, "scale");
  }
  return b;
}

int fs_graph_build_tfjs_resnet(const fs_model *m, const char *used, fs_graph *g, fs_error *err) {
  static const char *tail = "/conv/filters";
  int nconv = 0, nblock = 0, rc = 0;
  for (int t = 0; t < m->ntensors; t++) {
    const char *s = m->tensors[t].name;
    nconv += !used[t] && m->tensors[t].ndim == 4 && ends_with(s, strlen(s), tail);
    nblock += !used[t] && m->tensors[t].ndim == 4 && ends_with(s, strlen(s), "/conv2/conv/filters");
  }
  if (nconv < 2 || !nblock) return 0;
  int stream = -1, inner = -1, depth = 0, last_t = -1;
  for (int t = 0; t < m->ntensors && !rc; t++) {
    const fs_tensor *x = &m->tensors[t];
    size_t n = strlen(x->name);
    if (used[t] || x->ndim != 4 || !ends_with(x->name, n, tail)) continue;
    size_t mlen = n - strlen(tail); /* the module M */
    int second = ends_with(x->name, mlen, "/conv2"), first = ends_with(x->name, mlen, "/conv1");
    bnorm bn = tf_scale(m, x->name, mlen, fs_tensor_rows(x));
    int64_t cin = x->shape[1];
    int o = fs_graph_add_out(g, m, t, &bn, depth, err), r = -1;
    if (o < 0) return FS_ERR;
    int from = second ? inner : stream;
    if (from >= 0) {
      if ((r = fs_graph_add_in_rows(g, m, t, cin, 0, cin, &bn, -1, depth, err)) < 0) return FS_ERR;
      rc = fs_graph_add_pair(g, FS_PAIR_BLOCK, from, r, depth, -1, err);
    }
    if (first) inner = o;
    else stream = o, inner = -1, depth++, last_t = t;
  }
  /* the classifier: the first dense layer reading the last block's channels */
  for (int t = 0; t < m->ntensors && !rc && stream >= 0; t++) {
    const fs_tensor *x = &m->tensors[t];
    if (used[t] || x->ndim != 2 || t < last_t || fs_tensor_cols(x) != fs_tensor_rows(&m->tensors[last_t]))
      continue;
    int c = fs_graph_add_whole(g, m, t, 0, -1, depth, err);
    rc = c < 0 ? FS_ERR : fs_graph_add_pair(g, FS_PAIR_CLASSIFIER, stream, c, depth, -1, err);
    break;
  }
  if (!rc && !g->family[0]) snprintf(g->family, sizeof g->family, "resnet-tfjs");
  return rc;
}

/* ---- separable chains ------------------------------------------------------- */

typedef enum { SEP_NONE, SEP_CONV, SEP_DEPTHWISE, SEP_DENSE } sep_kind;

static sep_kind sep_kind_of(const fs_tensor *x) {
  size_t n = strlen(x->name);
  if (x->ndim == 4 && ends_with(x->name, n, "/depthwise_filter")) return SEP_DEPTHWISE;
  if (x->ndim == 4 && (ends_with(x->name, n, "/filters") || ends_with(x->name, n, "/pointwise_filter")))
    return SEP_CONV;
  if (x->ndim == 2 && ends_with(x->name, n, "/weights")) return SEP_DENSE;
  return SEP_NONE;
}

/* One layer reading the stream (cur, C); returns its writer matrix. */
static int sep_step(const fs_model *m, fs_graph *g, int t, sep_kind k, int last_dense, int cur,
                    int64_t C, int depth, fs_error *err) {
  const fs_tensor *x = &m->tensors[t];
  bnorm none = {-1, -1, 0, ""};
  int64_t cin = k == SEP_DENSE ? fs_tensor_cols(x) : x->shape[1];
  int r = -1;
  if (cur >= 0 && cin == C) {
    r = k == SEP_DENSE ? fs_graph_add_whole(g, m, t, 0, -1, depth, err)
                       : fs_graph_add_in_rows(g, m, t, cin, 0, cin, &none, -1, depth, err);
    if (r < 0) return FS_ERR;
    if (fs_graph_add_pair(g, last_dense ? FS_PAIR_CLASSIFIER : FS_PAIR_CHAIN, cur, r, depth, -1, err))
      return FS_ERR;
  } else if (cur >= 0) {
    fs_graph_note(g, "%s reads %lld channels, the layer before it writes %lld: not paired "
                  "(a shortcut or a dense connection)", x->name, (long long)cin, (long long)C);
  }
  if (k == SEP_DENSE) return r >= 0 ? r : fs_graph_add_whole(g, m, t, 0, -1, depth, err);
  return fs_graph_add_out(g, m, t, &none, depth, err);
}

int fs_graph_build_tfjs_chain(const fs_model *m, const char *used, fs_graph *g, fs_error *err) {
  int ndw = 0, last = -1;
  for (int t = 0; t < m->ntensors; t++) {
    sep_kind k = used[t] ? SEP_NONE : sep_kind_of(&m->tensors[t]);
    ndw += k == SEP_DEPTHWISE;
    if (k == SEP_DENSE) last = t;
  }
  if (!ndw) return 0;
  int cur = -1, depth = 0;
  int64_t C = 0;
  for (int t = 0; t < m->ntensors; t++) {
    sep_kind k = used[t] ? SEP_NONE : sep_kind_of(&m->tensors[t]);
    if (k == SEP_NONE) continue;
    if (k == SEP_DEPTHWISE) { /* analysed alone; the stream passes through */
      bnorm none = {-1, -1, 0, ""};
      if (fs_graph_add_out(g, m, t, &none, depth, err) < 0) return FS_ERR;
      if (cur >= 0 && fs_graph_depthwise_channels(m, t) != C)
        fs_graph_note(g, "%s filters %lld channels, the layer before it writes %lld",
                      m->tensors[t].name, (long long)fs_graph_depthwise_channels(m, t), (long long)C);
      continue;
    }
    int o = sep_step(m, g, t, k, t == last, cur, C, depth++, err);
    if (o < 0) return FS_ERR;
    cur = o, C = fs_tensor_rows(&m->tensors[t]);
  }
  if (!g->family[0]) snprintf(g->family, sizeof g->family, "cnn-tfjs");
  return 0;
}
