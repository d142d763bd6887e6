/*
 * fs_graph_tfjs.c - residual networks in face-api's TF.js naming (the
 * dlib-style ResNet-34 of face-api's face recogniser), see
 * docs/layer-graph.md.
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
