/* fs_fakemodel.h - hand-built models for the layer-graph tests (test_graph,
 * test_graph_families, test_layermap): names, shapes and metadata only (the
 * graph reads no data), their graphs, and lookups in a graph that fail the
 * running test when what they look for is absent. */
#ifndef FS_FAKEMODEL_H
#define FS_FAKEMODEL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_graph.h"
#include "fs_model.h"

typedef struct fake {
  fs_model m;
  int cap;
} fake;

static inline void fake_init(fake *f) {
  memset(f, 0, sizeof *f);
  f->m.path = strdup("fake.safetensors");
  f->cap = 256;
  f->m.tensors = calloc((size_t)f->cap, sizeof *f->m.tensors);
  f->m.meta = calloc(16, sizeof *f->m.meta);
}

static inline fs_tensor *fake_tensor(fake *f, const char *name, int ndim, int64_t d0, int64_t d1) {
  ck_assert_int_lt(f->m.ntensors, f->cap);
  fs_tensor *t = &f->m.tensors[f->m.ntensors++];
  t->name = strdup(name);
  t->dtype = FS_DT_F32;
  t->ndim = ndim;
  t->shape[0] = d0;
  t->shape[1] = ndim > 1 ? d1 : 0;
  t->nbytes = 4 * (uint64_t)d0 * (uint64_t)(ndim > 1 ? d1 : 1);
  return t;
}

static inline void fake_conv(fake *f, const char *name, int64_t co, int64_t ci, int64_t kh,
                             int64_t kw) {
  fs_tensor *t = fake_tensor(f, name, 2, co, ci * kh * kw);
  t->ndim = 4, t->shape[1] = ci, t->shape[2] = kh, t->shape[3] = kw;
}

/* A PyTorch BatchNorm module: weight, bias, running_mean, running_var of c. */
static inline void fake_bn(fake *f, const char *module, int64_t c) {
  static const char *parts[] = {"weight", "bias", "running_mean", "running_var"};
  for (int i = 0; i < 4; i++) {
    char n[160];
    snprintf(n, sizeof n, "%s.%s", module, parts[i]);
    fake_tensor(f, n, 1, c, 0);
  }
}

/* A k x k conv "<conv>.weight" [co, ci, k, k] and its BatchNorm module bn. */
static inline void fake_conv_bn(fake *f, const char *conv, const char *bn, int64_t co,
                                int64_t ci, int64_t k) {
  char n[160];
  snprintf(n, sizeof n, "%s.weight", conv);
  fake_conv(f, n, co, ci, k, k);
  fake_bn(f, bn, co);
}

static inline void fake_meta(fake *f, const char *k, const char *v) {
  ck_assert_int_lt(f->m.nmeta, 16);
  f->m.meta[f->m.nmeta].key = strdup(k);
  f->m.meta[f->m.nmeta++].value = strdup(v);
}

/* The graph of f; a failed build fails the test with its message. */
static inline void fake_graph(fake *f, fs_graph *g) {
  fs_error e;
  ck_assert_msg(!fs_graph_build(&f->m, g, &e), "%s", e.msg);
}

/* Frees the graph (unless NULL) and the model. */
static inline void fake_free(fake *f, fs_graph *g) {
  if (g) fs_graph_free(g);
  fs_model_close(&f->m);
}

/* fake_hf_llama options: q/k/v biases (Qwen2); no lm_head (the embedding is
 * tied to the output). */
enum { FAKE_QKV_BIAS = 1, FAKE_TIED = 2 };

/* A scaled-down Llama/Mistral/Qwen in Hugging Face names: width D, H heads of
 * D / H, KV key/value heads, opts of FAKE_QKV_BIAS | FAKE_TIED. */
static inline void fake_hf_llama(fake *f, int blocks, int D, int H, int KV, int hidden,
                                 int opts) {
  char n[128];
  int hd = D / H;
  fake_tensor(f, "model.embed_tokens.weight", 2, 100, D);
  for (int b = 0; b < blocks; b++) {
#define T(fmt, nd, a, c) (snprintf(n, sizeof n, fmt, b), fake_tensor(f, n, nd, a, c))
    T("model.layers.%d.self_attn.q_proj.weight", 2, H * hd, D);
    T("model.layers.%d.self_attn.k_proj.weight", 2, KV * hd, D);
    T("model.layers.%d.self_attn.v_proj.weight", 2, KV * hd, D);
    if (opts & FAKE_QKV_BIAS) {
      T("model.layers.%d.self_attn.q_proj.bias", 1, H * hd, 0);
      T("model.layers.%d.self_attn.k_proj.bias", 1, KV * hd, 0);
      T("model.layers.%d.self_attn.v_proj.bias", 1, KV * hd, 0);
    }
    T("model.layers.%d.self_attn.o_proj.weight", 2, D, H * hd);
    T("model.layers.%d.mlp.gate_proj.weight", 2, hidden, D);
    T("model.layers.%d.mlp.up_proj.weight", 2, hidden, D);
    T("model.layers.%d.mlp.down_proj.weight", 2, D, hidden);
    T("model.layers.%d.input_layernorm.weight", 1, D, 0);
    T("model.layers.%d.post_attention_layernorm.weight", 1, D, 0);
#undef T
  }
  fake_tensor(f, "model.norm.weight", 1, D, 0);
  if (!(opts & FAKE_TIED)) fake_tensor(f, "lm_head.weight", 2, 100, D);
}

static inline int count_type(const fs_graph *g, fs_pair_type t) {
  int n = 0;
  for (int i = 0; i < g->npair; i++) n += g->pair[i].type == t;
  return n;
}

static inline const fs_matrix *find_matrix(const fs_graph *g, const char *name) {
  for (int i = 0; i < g->nmat; i++)
    if (!strcmp(g->mat[i].name, name)) return &g->mat[i];
  return NULL;
}

/* The first pair from writer w to reader r, of any type, or NULL. */
static inline const fs_pair *find_pair(const fs_graph *g, const char *w, const char *r) {
  for (int i = 0; i < g->npair; i++)
    if (!strcmp(g->mat[g->pair[i].writer].name, w) && !strcmp(g->mat[g->pair[i].reader].name, r))
      return &g->pair[i];
  return NULL;
}

/* The pair from writer w to reader r, which must exist, be the only one
 * between them and be of type t; else the test fails. */
static inline const fs_pair *pair_of(const fs_graph *g, fs_pair_type t, const char *w,
                                     const char *r) {
  const fs_pair *p = find_pair(g, w, r);
  ck_assert_msg(p != NULL, "no %s pair %s -> %s", fs_pair_type_name(t), w, r);
  ck_assert_msg(p->type == t, "%s -> %s is a %s pair, not %s", w, r, fs_pair_type_name(p->type),
                fs_pair_type_name(t));
  for (const fs_pair *q = p + 1; q < g->pair + g->npair; q++)
    ck_assert_msg(strcmp(g->mat[q->writer].name, w) || strcmp(g->mat[q->reader].name, r),
                  "two pairs %s -> %s", w, r);
  return p;
}

/* A matrix that must exist. */
static inline const fs_matrix *matrix_of(const fs_graph *g, const char *name) {
  const fs_matrix *x = find_matrix(g, name);
  ck_assert_msg(x != NULL, "no matrix %s", name);
  return x;
}

/* Tensor t's name, "(none)" for -1 (an absent fold, gain or variance). */
static inline const char *tname(const fs_model *m, int t) {
  return t >= 0 ? m->tensors[t].name : "(none)";
}

static inline int pairs_touching(const fs_graph *g, const fs_model *m, const char *tensor) {
  int n = 0;
  for (int i = 0; i < g->npair; i++)
    n += !strcmp(m->tensors[g->mat[g->pair[i].writer].tensor].name, tensor) ||
         !strcmp(m->tensors[g->mat[g->pair[i].reader].tensor].name, tensor);
  return n;
}

#endif
