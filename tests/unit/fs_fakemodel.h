/* fs_fakemodel.h - hand-built models for the layer-graph tests: names,
 * shapes and metadata only (the graph reads no data). */
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

static inline void fake_meta(fake *f, const char *k, const char *v) {
  f->m.meta[f->m.nmeta].key = strdup(k);
  f->m.meta[f->m.nmeta++].value = strdup(v);
}

/* A scaled-down Llama/Mistral/Qwen in Hugging Face names: width D, H heads of
 * D / H, KV key/value heads; Qwen2 adds q/k/v biases. */
static inline void fake_hf_llama(fake *f, int blocks, int D, int H, int KV, int hidden,
                                 int biases) {
  char n[128];
  int hd = D / H;
  fake_tensor(f, "model.embed_tokens.weight", 2, 100, D);
  for (int b = 0; b < blocks; b++) {
#define T(fmt, nd, a, c) (snprintf(n, sizeof n, fmt, b), fake_tensor(f, n, nd, a, c))
    T("model.layers.%d.self_attn.q_proj.weight", 2, H * hd, D);
    T("model.layers.%d.self_attn.k_proj.weight", 2, KV * hd, D);
    T("model.layers.%d.self_attn.v_proj.weight", 2, KV * hd, D);
    if (biases) {
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
  fake_tensor(f, "lm_head.weight", 2, 100, D);
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

/* The pair of this type from writer w to reader r; fails the test if absent. */
static inline const fs_pair *pair_of(const fs_graph *g, fs_pair_type t, const char *w,
                                     const char *r) {
  for (int i = 0; i < g->npair; i++)
    if (g->pair[i].type == t && !strcmp(g->mat[g->pair[i].writer].name, w) &&
        !strcmp(g->mat[g->pair[i].reader].name, r))
      return &g->pair[i];
  ck_abort_msg("no %s pair %s -> %s", fs_pair_type_name(t), w, r);
  return NULL;
}

static inline int pairs_touching(const fs_graph *g, const fs_model *m, const char *tensor) {
  int n = 0;
  for (int i = 0; i < g->npair; i++)
    n += !strcmp(m->tensors[g->mat[g->pair[i].writer].tensor].name, tensor) ||
         !strcmp(m->tensors[g->mat[g->pair[i].reader].tensor].name, tensor);
  return n;
}

#endif
