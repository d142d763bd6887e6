/* test_graph.c - layer graphs of the real example models and of hand-built
 * tensor lists with the families' names (no data is needed: the graph is
 * built from names, shapes and metadata). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_graph.h"
#include "fs_model.h"
#include "fs_testutil.h"

static int count_type(const fs_graph *g, fs_pair_type t) {
  int n = 0;
  for (int i = 0; i < g->npair; i++) n += g->pair[i].type == t;
  return n;
}

static const fs_pair *find_pair(const fs_graph *g, const char *w, const char *r) {
  for (int i = 0; i < g->npair; i++)
    if (!strcmp(g->mat[g->pair[i].writer].name, w) && !strcmp(g->mat[g->pair[i].reader].name, r))
      return &g->pair[i];
  return NULL;
}

static const fs_matrix *find_matrix(const fs_graph *g, const char *name) {
  for (int i = 0; i < g->nmat; i++)
    if (!strcmp(g->mat[i].name, name)) return &g->mat[i];
  return NULL;
}

/* ---- a hand-built model: names and shapes only -------------------------- */

typedef struct fake {
  fs_model m;
  int cap;
} fake;

static void fake_init(fake *f) {
  memset(f, 0, sizeof *f);
  f->m.path = strdup("fake.safetensors");
  f->cap = 256;
  f->m.tensors = calloc((size_t)f->cap, sizeof *f->m.tensors);
  f->m.meta = calloc(16, sizeof *f->m.meta);
}

static void fake_tensor(fake *f, const char *name, int ndim, int64_t d0, int64_t d1) {
  ck_assert_int_lt(f->m.ntensors, f->cap);
  fs_tensor *t = &f->m.tensors[f->m.ntensors++];
  t->name = strdup(name);
  t->dtype = FS_DT_F32;
  t->ndim = ndim;
  t->shape[0] = d0;
  t->shape[1] = d1;
  t->nbytes = 4 * (uint64_t)d0 * (uint64_t)(ndim > 1 ? d1 : 1);
}

static void fake_meta(fake *f, const char *k, const char *v) {
  f->m.meta[f->m.nmeta].key = strdup(k);
  f->m.meta[f->m.nmeta++].value = strdup(v);
}

/* A scaled-down Llama in Hugging Face names: width D, H heads, KV kv heads. */
static void fake_llama(fake *f, int blocks, int D, int H, int KV, int hidden, int with_head) {
  char n[128];
  int hd = D / H;
  fake_tensor(f, "model.embed_tokens.weight", 2, 100, D);
  for (int b = 0; b < blocks; b++) {
#define T(fmt, nd, a, c) (snprintf(n, sizeof n, fmt, b), fake_tensor(f, n, nd, a, c))
    T("model.layers.%d.self_attn.q_proj.weight", 2, H * hd, D);
    T("model.layers.%d.self_attn.k_proj.weight", 2, KV * hd, D);
    T("model.layers.%d.self_attn.v_proj.weight", 2, KV * hd, D);
    T("model.layers.%d.self_attn.o_proj.weight", 2, D, H * hd);
    T("model.layers.%d.mlp.gate_proj.weight", 2, hidden, D);
    T("model.layers.%d.mlp.up_proj.weight", 2, hidden, D);
    T("model.layers.%d.mlp.down_proj.weight", 2, D, hidden);
    T("model.layers.%d.input_layernorm.weight", 1, D, 0);
    T("model.layers.%d.post_attention_layernorm.weight", 1, D, 0);
#undef T
  }
  fake_tensor(f, "model.norm.weight", 1, D, 0);
  if (with_head) fake_tensor(f, "lm_head.weight", 2, 100, D);
}

/* ---- real models ---------------------------------------------------------- */

static void check_stories(const char *file, const char *q0, const char *norm0,
                          const char *v1, const char *o1h3, const char *head) {
  fs_model m;
  fs_graph g;
  fs_error e;
  ck_assert_msg(!fs_model_open(fs_test_example(file), &m, &e), "%s", e.msg);
  ck_assert_msg(!fs_graph_build(&m, &g, &e), "%s", e.msg);
  ck_assert_str_eq(g.family, "llama");
  ck_assert_int_eq(g.n_head, 8);
  ck_assert_int_eq(g.n_head_kv, 4);
  ck_assert_int_eq(g.head_dim, 8);
  /* 5 blocks x (7 whole + 4 V slices + 8 O slices) + embedding + output head */
  ck_assert_int_eq(g.nmat, 5 * 19 + 2);
  ck_assert_int_eq(count_type(&g, FS_PAIR_MLP), 10);
  ck_assert_int_eq(count_type(&g, FS_PAIR_OV), 40);
  ck_assert_int_eq(count_type(&g, FS_PAIR_RESIDUAL), 25);
  ck_assert_int_eq(count_type(&g, FS_PAIR_CLASSIFIER), 1);
  ck_assert_int_eq(g.npair, 76);
  const fs_matrix *q = find_matrix(&g, q0);
  ck_assert_ptr_nonnull(q);
  ck_assert_str_eq(m.tensors[q->fold].name, norm0); /* the norm gain is folded into Q */
  /* grouped-query attention: query head 3 reads key/value head 1 */
  const fs_pair *p = find_pair(&g, v1, o1h3);
  ck_assert_ptr_nonnull(p);
  ck_assert_int_eq(p->type, FS_PAIR_OV);
  ck_assert_int_eq(p->head, 3);
  ck_assert_int_eq(fs_matrix_rows(&g.mat[p->writer]), 8);
  ck_assert_int_eq(g.mat[p->writer].r0, 8);
  ck_assert_int_eq(g.mat[p->reader].c0, 24);
  ck_assert_int_eq(fs_matrix_out_dim(&g.mat[p->writer]), 8);
  ck_assert_int_eq(fs_matrix_in_dim(&g.mat[p->reader]), 8);
  /* the classifier reads the residual stream through the final norm */
  const fs_matrix *c = NULL;
  for (int i = 0; i < g.npair; i++)
    if (g.pair[i].type == FS_PAIR_CLASSIFIER) c = &g.mat[g.pair[i].reader];
  ck_assert_ptr_nonnull(c);
  ck_assert_str_eq(c->name, head);
  ck_assert_int_ge(c->fold, 0);
  /* the embedding writes the residual stream as its transpose */
  ck_assert_int_eq(g.mat[0].transposed, 1);
  ck_assert_int_eq(fs_matrix_out_dim(&g.mat[0]), 64);
  fs_graph_free(&g);
  fs_model_close(&m);
}

START_TEST(stories_gguf) {
  check_stories("stories260K.gguf", "blk.0.attn_q.weight", "blk.0.attn_norm.weight",
                "blk.1.attn_v.weight[kv 1]", "blk.1.attn_output.weight[head 3]", "output.weight");
}
END_TEST

START_TEST(stories_hf) {
  check_stories("stories260K-hf/model.safetensors", "model.layers.0.self_attn.q_proj.weight",
                "model.layers.0.input_layernorm.weight",
                "model.layers.1.self_attn.v_proj.weight[kv 1]",
                "model.layers.1.self_attn.o_proj.weight[head 3]", "lm_head.weight");
}
END_TEST

START_TEST(gnubg_chains) {
  fs_model m;
  fs_graph g;
  fs_error e;
  ck_assert_msg(!fs_model_open(fs_test_example("gnubg-nets.safetensors"), &m, &e),
                "%s (run scripts/fetch-models.sh)", e.msg);
  ck_assert_msg(!fs_graph_build(&m, &g, &e), "%s", e.msg);
  ck_assert_str_eq(g.family, "mlp");
  ck_assert_int_eq(g.nmat, 6); /* biases are not matrices */
  ck_assert_int_eq(g.npair, 3);
  ck_assert_ptr_nonnull(find_pair(&g, "contact.fc1.weight", "contact.fc2.weight"));
  ck_assert_ptr_nonnull(find_pair(&g, "race.fc1.weight", "race.fc2.weight"));
  ck_assert_ptr_nonnull(find_pair(&g, "crashed.fc1.weight", "crashed.fc2.weight"));
  ck_assert_int_eq(fs_matrix_in_dim(&g.mat[g.pair[0].reader]), 128);
  fs_graph_free(&g);
  fs_model_close(&m);
}
END_TEST

/* ---- hand-built ----------------------------------------------------------- */

START_TEST(llama_tied_and_heads_from_config) {
  fake f;
  fake_init(&f);
  fake_llama(&f, 3, 32, 4, 2, 48, 0);
  fake_meta(&f, "config.num_attention_heads", "4");
  fake_meta(&f, "config.num_key_value_heads", "2");
  fs_graph g;
  fs_error e;
  ck_assert_msg(!fs_graph_build(&f.m, &g, &e), "%s", e.msg);
  ck_assert_int_eq(g.head_dim, 8);
  ck_assert_int_eq(count_type(&g, FS_PAIR_OV), 12);
  ck_assert_int_eq(count_type(&g, FS_PAIR_MLP), 6);
  ck_assert_int_eq(count_type(&g, FS_PAIR_RESIDUAL), 3 * 5);
  /* no lm_head: the tied embedding is the classifier */
  ck_assert_ptr_nonnull(find_pair(&g, "model.layers.2.mlp.down_proj.weight",
                                  "model.embed_tokens.weight (tied output)"));
  ck_assert_str_eq(g.note, "");
  fs_graph_free(&g);
  fs_model_close(&f.m);
}
END_TEST

START_TEST(llama_without_head_count) {
  fake f;
  fake_init(&f);
  fake_llama(&f, 2, 32, 4, 4, 48, 1);
  fs_graph g;
  fs_error e;
  ck_assert_msg(!fs_graph_build(&f.m, &g, &e), "%s", e.msg);
  ck_assert_int_eq(g.n_head, 0);
  ck_assert_int_eq(count_type(&g, FS_PAIR_OV), 0);
  ck_assert_int_eq(count_type(&g, FS_PAIR_MLP), 4); /* the rest of the graph stands */
  ck_assert_ptr_nonnull(strstr(g.note, "head count unknown"));
  fs_graph_free(&g);
  fs_model_close(&f.m);
}
END_TEST

START_TEST(llama_head_count_contradicts_shapes) {
  fake f;
  fake_init(&f);
  fake_llama(&f, 2, 32, 4, 2, 48, 1);
  fake_meta(&f, "config.num_attention_heads", "3"); /* 3 does not divide 32 */
  fs_graph g;
  fs_error e;
  ck_assert_msg(!fs_graph_build(&f.m, &g, &e), "%s", e.msg);
  ck_assert_int_eq(count_type(&g, FS_PAIR_OV), 0);
  ck_assert_ptr_nonnull(strstr(g.note, "do not fit"));
  ck_assert_ptr_nonnull(strstr(g.note, "q_proj"));
  fs_graph_free(&g);
  fs_model_close(&f.m);
}
END_TEST

START_TEST(mlp_chain_and_strays) {
  fake f;
  fake_init(&f);
  fake_tensor(&f, "net.0.weight", 2, 16, 8);
  fake_tensor(&f, "net.0.bias", 1, 16, 0);
  fake_tensor(&f, "net.10.weight", 2, 2, 4); /* numeric, not lexical, order: 2 < 4 < 10 */
  fake_tensor(&f, "net.2.weight", 2, 4, 16);
  fake_tensor(&f, "head.weight", 2, 7, 9);  /* no layer index: a matrix on its own */
  fake_tensor(&f, "enc.1.weight", 2, 5, 3);  /* a group whose shapes do not chain */
  fake_tensor(&f, "enc.2.weight", 2, 6, 6);
  fs_graph g;
  fs_error e;
  ck_assert_msg(!fs_graph_build(&f.m, &g, &e), "%s", e.msg);
  ck_assert_str_eq(g.family, "mlp");
  ck_assert_int_eq(g.npair, 2);
  ck_assert_ptr_nonnull(find_pair(&g, "net.0.weight", "net.2.weight"));
  ck_assert_ptr_nonnull(find_pair(&g, "net.2.weight", "net.10.weight"));
  ck_assert_int_eq(g.nmat, 6); /* net x3, head, enc x2; the bias is not a matrix */
  ck_assert_ptr_nonnull(find_matrix(&g, "head.weight"));
  ck_assert_int_eq(find_matrix(&g, "head.weight")->block, -1);
  ck_assert_int_eq(find_matrix(&g, "net.10.weight")->block, 2);
  fs_graph_free(&g);
  fs_model_close(&f.m);
}
END_TEST

START_TEST(no_rule_applies) {
  fake f;
  fake_init(&f);
  fake_tensor(&f, "alpha", 2, 3, 3);
  fake_tensor(&f, "beta", 1, 3, 0);
  fs_graph g;
  fs_error e;
  ck_assert_msg(!fs_graph_build(&f.m, &g, &e), "%s", e.msg);
  ck_assert_str_eq(g.family, "matrices");
  ck_assert_int_eq(g.nmat, 1);
  ck_assert_int_eq(g.npair, 0);
  fs_graph_free(&g);
  fs_model_close(&f.m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("graph");
  TCase *tc = tcase_create("graph");
  tcase_add_test(tc, stories_gguf);
  tcase_add_test(tc, stories_hf);
  tcase_add_test(tc, gnubg_chains);
  tcase_add_test(tc, llama_tied_and_heads_from_config);
  tcase_add_test(tc, llama_without_head_count);
  tcase_add_test(tc, llama_head_count_contradicts_shapes);
  tcase_add_test(tc, mlp_chain_and_strays);
  tcase_add_test(tc, no_rule_applies);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
