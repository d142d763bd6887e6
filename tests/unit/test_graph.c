/* test_graph.c - layer graphs of the real example models and of hand-built
 * tensor lists with the families' names (no data is needed: the graph is
 * built from names, shapes and metadata). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_fakemodel.h"
#include "fs_graph.h"
#include "fs_model.h"
#include "fs_testutil.h"

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
  const fs_matrix *q = matrix_of(&g, q0);
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
  fake_hf_llama(&f, 3, 32, 4, 2, 48, FAKE_TIED);
  fake_meta(&f, "config.num_attention_heads", "4");
  fake_meta(&f, "config.num_key_value_heads", "2");
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_int_eq(g.head_dim, 8);
  ck_assert_int_eq(count_type(&g, FS_PAIR_OV), 12);
  ck_assert_int_eq(count_type(&g, FS_PAIR_MLP), 6);
  ck_assert_int_eq(count_type(&g, FS_PAIR_RESIDUAL), 3 * 5);
  /* no lm_head: the tied embedding is the classifier */
  ck_assert_ptr_nonnull(find_pair(&g, "model.layers.2.mlp.down_proj.weight",
                                  "model.embed_tokens.weight (tied output)"));
  ck_assert_str_eq(g.note, "");
  fake_free(&f, &g);
}
END_TEST

START_TEST(llama_without_head_count) {
  fake f;
  fake_init(&f);
  fake_hf_llama(&f, 2, 32, 4, 4, 48, 0);
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_int_eq(g.n_head, 0);
  ck_assert_int_eq(count_type(&g, FS_PAIR_OV), 0);
  ck_assert_int_eq(count_type(&g, FS_PAIR_MLP), 4); /* the rest of the graph stands */
  ck_assert_ptr_nonnull(strstr(g.note, "head count unknown"));
  fake_free(&f, &g);
}
END_TEST

START_TEST(llama_head_count_contradicts_shapes) {
  fake f;
  fake_init(&f);
  fake_hf_llama(&f, 2, 32, 4, 2, 48, 0);
  fake_meta(&f, "config.num_attention_heads", "3"); /* 3 does not divide 32 */
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_int_eq(count_type(&g, FS_PAIR_OV), 0);
  ck_assert_ptr_nonnull(strstr(g.note, "do not fit"));
  ck_assert_ptr_nonnull(strstr(g.note, "q_proj"));
  fake_free(&f, &g);
}
END_TEST

/* ---- other transformer families (width 16, 4 heads of 4, MLP 64, 2 blocks) -- */

#define BLOCKS(fmt_list)                                                               \
  for (int b = 0; b < 2; b++)                                                          \
    for (size_t i = 0; i < sizeof fmt_list / sizeof fmt_list[0]; i++) {                \
      char n[160];                                                                     \
      snprintf(n, sizeof n, fmt_list[i].fmt, b);                                       \
      fake_tensor(&f, n, fmt_list[i].nd, fmt_list[i].d0, fmt_list[i].d1);              \
    }

typedef struct tdef {
  const char *fmt;
  int nd;
  int64_t d0, d1;
} tdef;

static void expect_slice(const fs_graph *g, const char *name, int transposed, int64_t r0,
                         int64_t r1, int64_t c0, int64_t c1, int64_t rep, int64_t rstep) {
  const fs_matrix *x = matrix_of(g, name);
  ck_assert_int_eq(x->transposed, transposed);
  ck_assert_int_eq(x->r0, r0);
  ck_assert_int_eq(x->r1, r1);
  ck_assert_int_eq(x->c0, c0);
  ck_assert_int_eq(x->c1, c1);
  ck_assert_int_eq(x->rep, rep);
  ck_assert_int_eq(x->rstep, rstep);
}

/* GPT-2: c_attn stored [in 16, out 48] = [Q | K | V] along the stored columns. */
START_TEST(gpt2_fused_conv1d) {
  static const tdef blk[] = {{"h.%d.ln_1.weight", 1, 16, 0}, {"h.%d.attn.c_attn.weight", 2, 16, 48},
                             {"h.%d.attn.c_proj.weight", 2, 16, 16}, {"h.%d.ln_2.weight", 1, 16, 0},
                             {"h.%d.mlp.c_fc.weight", 2, 16, 64}, {"h.%d.mlp.c_proj.weight", 2, 64, 16}};
  fake f;
  fake_init(&f);
  fake_tensor(&f, "wte.weight", 2, 50, 16);
  BLOCKS(blk);
  fake_tensor(&f, "ln_f.weight", 1, 16, 0);
  fake_meta(&f, "config.n_head", "4");
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_str_eq(g.family, "gpt2");
  ck_assert_int_eq(g.head_dim, 4);
  expect_slice(&g, "h.0.attn.c_attn.weight.q", 1, 0, 16, 0, 16, 1, 0);
  expect_slice(&g, "h.0.attn.c_attn.weight.k", 1, 0, 16, 16, 32, 1, 0);
  expect_slice(&g, "h.0.attn.c_attn.weight.v", 1, 0, 16, 32, 48, 1, 0);
  expect_slice(&g, "h.1.attn.c_attn.weight.v[kv 1]", 1, 0, 16, 36, 40, 1, 0);
  expect_slice(&g, "h.1.attn.c_proj.weight[head 2]", 1, 8, 12, 0, 16, 1, 0); /* input rows */
  ck_assert_str_eq(f.m.tensors[matrix_of(&g, "h.0.attn.c_attn.weight.q")->fold].name, "h.0.ln_1.weight");
  ck_assert_str_eq(f.m.tensors[matrix_of(&g, "h.1.mlp.c_fc.weight")->fold].name, "h.1.ln_2.weight");
  ck_assert_int_eq(count_type(&g, FS_PAIR_OV), 8);
  ck_assert_int_eq(count_type(&g, FS_PAIR_MLP), 2);
  ck_assert_int_eq(count_type(&g, FS_PAIR_RESIDUAL), 8);
  pair_of(&g, FS_PAIR_MLP, "h.0.mlp.c_fc.weight", "h.0.mlp.c_proj.weight");
  pair_of(&g, FS_PAIR_RESIDUAL, "h.0.mlp.c_proj.weight", "h.1.attn.c_attn.weight.k");
  pair_of(&g, FS_PAIR_OV, "h.0.attn.c_attn.weight.v[kv 3]", "h.0.attn.c_proj.weight[head 3]");
  pair_of(&g, FS_PAIR_CLASSIFIER, "h.1.mlp.c_proj.weight", "wte.weight (tied output)");
  ck_assert_int_eq(fs_matrix_out_dim(matrix_of(&g, "h.0.mlp.c_fc.weight")), 64);
  fake_free(&f, &g);
}
END_TEST

/* GPT-NeoX: query_key_value [48, 16] holds [q_h; k_h; v_h] for each head h;
 * attention and MLP read the same residual. */
START_TEST(neox_interleaved_parallel) {
  static const tdef blk[] = {
      {"gpt_neox.layers.%d.input_layernorm.weight", 1, 16, 0},
      {"gpt_neox.layers.%d.attention.query_key_value.weight", 2, 48, 16},
      {"gpt_neox.layers.%d.attention.dense.weight", 2, 16, 16},
      {"gpt_neox.layers.%d.post_attention_layernorm.weight", 1, 16, 0},
      {"gpt_neox.layers.%d.mlp.dense_h_to_4h.weight", 2, 64, 16},
      {"gpt_neox.layers.%d.mlp.dense_4h_to_h.weight", 2, 16, 64}};
  fake f;
  fake_init(&f);
  fake_tensor(&f, "gpt_neox.embed_in.weight", 2, 50, 16);
  BLOCKS(blk);
  fake_tensor(&f, "gpt_neox.final_layer_norm.weight", 1, 16, 0);
  fake_tensor(&f, "embed_out.weight", 2, 50, 16);
  fake_meta(&f, "config.num_attention_heads", "4");
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_str_eq(g.family, "gptneox");
  expect_slice(&g, "gpt_neox.layers.0.attention.query_key_value.weight.q", 0, 0, 4, 0, 16, 4, 12);
  expect_slice(&g, "gpt_neox.layers.0.attention.query_key_value.weight.k", 0, 4, 8, 0, 16, 4, 12);
  expect_slice(&g, "gpt_neox.layers.0.attention.query_key_value.weight.v[kv 2]", 0, 32, 36, 0, 16, 1, 0);
  ck_assert_int_eq(fs_matrix_rows(matrix_of(&g, "gpt_neox.layers.0.attention.query_key_value.weight.v")), 16);
  ck_assert_int_eq(count_type(&g, FS_PAIR_RESIDUAL), 4 + 8);
  ck_assert_int_eq(count_type(&g, FS_PAIR_CLASSIFIER), 2);
  pair_of(&g, FS_PAIR_RESIDUAL, "gpt_neox.layers.0.attention.dense.weight",
          "gpt_neox.layers.1.mlp.dense_h_to_4h.weight");
  pair_of(&g, FS_PAIR_RESIDUAL, "gpt_neox.embed_in.weight", "gpt_neox.layers.0.mlp.dense_h_to_4h.weight");
  ck_assert_ptr_null(find_pair(&g, "gpt_neox.layers.0.attention.dense.weight",
                               "gpt_neox.layers.0.mlp.dense_h_to_4h.weight"));
  pair_of(&g, FS_PAIR_CLASSIFIER, "gpt_neox.layers.1.attention.dense.weight", "embed_out.weight");
  fake_free(&f, &g);
}
END_TEST

/* BERT: the norm after each residual add is the gain in front of the next readers. */
START_TEST(bert_post_norm) {
  static const tdef blk[] = {
      {"bert.encoder.layer.%d.attention.self.query.weight", 2, 16, 16},
      {"bert.encoder.layer.%d.attention.self.key.weight", 2, 16, 16},
      {"bert.encoder.layer.%d.attention.self.value.weight", 2, 16, 16},
      {"bert.encoder.layer.%d.attention.output.dense.weight", 2, 16, 16},
      {"bert.encoder.layer.%d.attention.output.LayerNorm.weight", 1, 16, 0},
      {"bert.encoder.layer.%d.intermediate.dense.weight", 2, 64, 16},
      {"bert.encoder.layer.%d.output.dense.weight", 2, 16, 64},
      {"bert.encoder.layer.%d.output.LayerNorm.weight", 1, 16, 0}};
  fake f;
  fake_init(&f);
  fake_tensor(&f, "bert.embeddings.word_embeddings.weight", 2, 50, 16);
  fake_tensor(&f, "bert.embeddings.LayerNorm.weight", 1, 16, 0);
  BLOCKS(blk);
  fake_meta(&f, "config.num_attention_heads", "4");
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_str_eq(g.family, "bert");
  const fs_matrix *q0 = matrix_of(&g, "bert.encoder.layer.0.attention.self.query.weight");
  const fs_matrix *q1 = matrix_of(&g, "bert.encoder.layer.1.attention.self.query.weight");
  const fs_matrix *u1 = matrix_of(&g, "bert.encoder.layer.1.intermediate.dense.weight");
  ck_assert_str_eq(f.m.tensors[q0->fold].name, "bert.embeddings.LayerNorm.weight");
  ck_assert_str_eq(f.m.tensors[q1->fold].name, "bert.encoder.layer.0.output.LayerNorm.weight");
  ck_assert_str_eq(f.m.tensors[u1->fold].name, "bert.encoder.layer.1.attention.output.LayerNorm.weight");
  ck_assert_int_eq(count_type(&g, FS_PAIR_RESIDUAL), 8);
  ck_assert_int_eq(count_type(&g, FS_PAIR_OV), 8);
  ck_assert_int_eq(count_type(&g, FS_PAIR_CLASSIFIER), 0);
  fake_free(&f, &g);
}
END_TEST

/* ViT: the patch embedding is a convolution [D, 3, p, p] writing R^D. */
START_TEST(vit_patch_embedding) {
  static const tdef blk[] = {
      {"vit.encoder.layer.%d.layernorm_before.weight", 1, 16, 0},
      {"vit.encoder.layer.%d.attention.attention.query.weight", 2, 16, 16},
      {"vit.encoder.layer.%d.attention.attention.key.weight", 2, 16, 16},
      {"vit.encoder.layer.%d.attention.attention.value.weight", 2, 16, 16},
      {"vit.encoder.layer.%d.attention.output.dense.weight", 2, 16, 16},
      {"vit.encoder.layer.%d.layernorm_after.weight", 1, 16, 0},
      {"vit.encoder.layer.%d.intermediate.dense.weight", 2, 64, 16},
      {"vit.encoder.layer.%d.output.dense.weight", 2, 16, 64}};
  fake f;
  fake_init(&f);
  fake_conv(&f, "vit.embeddings.patch_embeddings.projection.weight", 16, 3, 2, 2);
  BLOCKS(blk);
  fake_tensor(&f, "vit.layernorm.weight", 1, 16, 0);
  fake_tensor(&f, "classifier.weight", 2, 10, 16);
  fake_meta(&f, "config.num_attention_heads", "4");
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_str_eq(g.family, "vit");
  const fs_matrix *pe = matrix_of(&g, "vit.embeddings.patch_embeddings.projection.weight");
  ck_assert_int_eq(pe->transposed, 0);
  ck_assert_int_eq(fs_matrix_out_dim(pe), 16);
  ck_assert_int_eq(fs_matrix_in_dim(pe), 12);
  pair_of(&g, FS_PAIR_RESIDUAL, "vit.embeddings.patch_embeddings.projection.weight",
          "vit.encoder.layer.0.attention.attention.value.weight");
  const fs_pair *c = pair_of(&g, FS_PAIR_CLASSIFIER, "vit.encoder.layer.1.output.dense.weight",
                             "classifier.weight");
  ck_assert_str_eq(f.m.tensors[g.mat[c->reader].fold].name, "vit.layernorm.weight");
  fake_free(&f, &g);
}
END_TEST

/* Fused QKV without a head count: GPT-2's concatenation still splits in
 * thirds; NeoX's per-head interleaving cannot be split and stays whole. */
START_TEST(fused_without_heads) {
  fake f;
  fake_init(&f);
  fake_tensor(&f, "h.0.attn.c_attn.weight", 2, 16, 48);
  fake_tensor(&f, "h.0.attn.c_proj.weight", 2, 16, 16);
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_ptr_nonnull(find_matrix(&g, "h.0.attn.c_attn.weight.v"));
  ck_assert_ptr_nonnull(strstr(g.note, "head count unknown"));
  fake_free(&f, &g);
  fake_init(&f);
  fake_tensor(&f, "gpt_neox.layers.0.attention.query_key_value.weight", 2, 48, 16);
  fake_tensor(&f, "gpt_neox.layers.0.attention.dense.weight", 2, 16, 16);
  fake_graph(&f, &g);
  ck_assert_ptr_nonnull(find_matrix(&g, "gpt_neox.layers.0.attention.query_key_value.weight"));
  ck_assert_ptr_null(find_matrix(&g, "gpt_neox.layers.0.attention.query_key_value.weight.q"));
  fake_free(&f, &g);
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
  fake_graph(&f, &g);
  ck_assert_str_eq(g.family, "mlp");
  ck_assert_int_eq(g.npair, 2);
  ck_assert_ptr_nonnull(find_pair(&g, "net.0.weight", "net.2.weight"));
  ck_assert_ptr_nonnull(find_pair(&g, "net.2.weight", "net.10.weight"));
  ck_assert_int_eq(g.nmat, 6); /* net x3, head, enc x2; the bias is not a matrix */
  ck_assert_ptr_nonnull(find_matrix(&g, "head.weight"));
  ck_assert_int_eq(matrix_of(&g, "head.weight")->block, -1);
  ck_assert_int_eq(matrix_of(&g, "net.10.weight")->block, 2);
  fake_free(&f, &g);
}
END_TEST

START_TEST(no_rule_applies) {
  fake f;
  fake_init(&f);
  fake_tensor(&f, "alpha", 2, 3, 3);
  fake_tensor(&f, "beta", 1, 3, 0);
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_str_eq(g.family, "matrices");
  ck_assert_int_eq(g.nmat, 1);
  ck_assert_int_eq(g.npair, 0);
  fake_free(&f, &g);
}
END_TEST

/* ---- convolutional networks ------------------------------------------------ */

/* An input unfolding: rows = c_in, columns = c_out k, a transposed map. */
static void expect_unfolded(const fake *f, const fs_graph *g, const char *name, int64_t cin,
                            int64_t cout, int64_t k, const char *gamma, const char *var) {
  const fs_matrix *x = matrix_of(g, name);
  ck_assert_int_eq(x->unfold_in, 1);
  ck_assert_int_eq(x->transposed, 1);
  ck_assert_int_eq(x->ksize, k);
  ck_assert_int_eq(x->r0, 0);
  ck_assert_int_eq(x->r1, cin);
  ck_assert_int_eq(x->c0, 0);
  ck_assert_int_eq(x->c1, cout * k);
  ck_assert_int_eq(x->rep, 1);
  ck_assert_int_eq(fs_matrix_in_dim(x), cin);
  ck_assert_int_eq(x->fold, -1);
  ck_assert_str_eq(tname(&f->m, x->bn_gamma), gamma);
  ck_assert_str_eq(tname(&f->m, x->bn_var), var);
}

/* An output unfolding [c_out, c_in k], BatchNorm folded into its rows. */
static void expect_out(const fake *f, const fs_graph *g, const char *name, int64_t cout,
                       int64_t cols, const char *gamma, const char *var, int block) {
  const fs_matrix *x = matrix_of(g, name);
  ck_assert_int_eq(x->unfold_in, 0);
  ck_assert_int_eq(x->transposed, 0);
  ck_assert_int_eq(fs_matrix_rows(x), cout);
  ck_assert_int_eq(fs_matrix_cols(x), cols);
  ck_assert_int_eq(x->fold, -1);
  ck_assert_str_eq(tname(&f->m, x->bn_gamma), gamma);
  ck_assert_str_eq(tname(&f->m, x->bn_var), var);
  ck_assert_int_eq(x->block, block);
}

/* ResNet-18 shape, two stages of two basic blocks, widths 8 and 16; layer2.0
 * has a 1x1 downsample.  By hand: matrices = stem O + 4 blocks x 2 convs x
 * (O, I) + downsample (O, I) + fc = 20; block pairs = 4 (conv1 -> conv2) +
 * stem -> layer1.0.conv1 + layer1.0 -> layer1.1.conv1 + layer1.1 -> layer2.0
 * conv1 and downsample (2) + layer2.0 conv2 and downsample -> layer2.1.conv1
 * (2) = 10; classifier layer2.1.conv2 -> fc. */
START_TEST(resnet18_like) {
  fake f;
  fake_init(&f);
  fake_conv_bn(&f, "conv1", "bn1", 8, 3, 7);
  for (int L = 1; L <= 2; L++)
    for (int B = 0; B < 2; B++) {
      char c[64], b[64];
      int64_t w = 8 * L, win = (L == 2 && B == 0) ? 8 : w;
      for (int j = 1; j <= 2; j++) {
        snprintf(c, sizeof c, "layer%d.%d.conv%d", L, B, j);
        snprintf(b, sizeof b, "layer%d.%d.bn%d", L, B, j);
        fake_conv_bn(&f, c, b, w, j == 1 ? win : w, 3);
      }
    }
  fake_conv_bn(&f, "layer2.0.downsample.0", "layer2.0.downsample.1", 16, 8, 1);
  fake_tensor(&f, "fc.weight", 2, 10, 16);
  fake_tensor(&f, "fc.bias", 1, 10, 0);
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_str_eq(g.family, "resnet");
  ck_assert_str_eq(g.note, "");
  ck_assert_int_eq(g.nmat, 20);
  ck_assert_int_eq(count_type(&g, FS_PAIR_BLOCK), 10);
  ck_assert_int_eq(count_type(&g, FS_PAIR_CLASSIFIER), 1);
  ck_assert_int_eq(g.npair, 11);
  /* the stem: output unfolding only, BatchNorm bn1 */
  expect_out(&f, &g, "conv1.weight[bn bn1]", 8, 3 * 49, "bn1.weight", "bn1.running_var", -1);
  ck_assert_ptr_null(find_matrix(&g, "conv1.weight[in][bn bn1]"));
  ck_assert_double_eq(matrix_of(&g, "conv1.weight[bn bn1]")->bn_eps, 1e-5);
  expect_out(&f, &g, "layer2.0.conv1.weight[bn bn1]", 16, 8 * 9, "layer2.0.bn1.weight",
             "layer2.0.bn1.running_var", 2);
  expect_unfolded(&f, &g, "layer1.0.conv1.weight[in][bn bn1]", 8, 8, 9, "layer1.0.bn1.weight",
                  "layer1.0.bn1.running_var");
  expect_unfolded(&f, &g, "layer2.0.conv1.weight[in][bn bn1]", 8, 16, 9, "layer2.0.bn1.weight",
                  "layer2.0.bn1.running_var");
  expect_unfolded(&f, &g, "layer2.0.downsample.0.weight[in][bn 1]", 8, 16, 1,
                  "layer2.0.downsample.1.weight", "layer2.0.downsample.1.running_var");
  expect_out(&f, &g, "layer2.0.downsample.0.weight[bn 1]", 16, 8,
             "layer2.0.downsample.1.weight", "layer2.0.downsample.1.running_var", 2);
  const fs_pair *p = pair_of(&g, FS_PAIR_BLOCK, "conv1.weight[bn bn1]", "layer1.0.conv1.weight[in][bn bn1]");
  ck_assert_int_eq(p->block, 0);
  p = pair_of(&g, FS_PAIR_BLOCK, "layer1.1.conv1.weight[bn bn1]", "layer1.1.conv2.weight[in][bn bn2]");
  ck_assert_int_eq(p->block, 1);
  pair_of(&g, FS_PAIR_BLOCK, "layer1.0.conv2.weight[bn bn2]", "layer1.1.conv1.weight[in][bn bn1]");
  pair_of(&g, FS_PAIR_BLOCK, "layer1.1.conv2.weight[bn bn2]", "layer2.0.conv1.weight[in][bn bn1]");
  pair_of(&g, FS_PAIR_BLOCK, "layer1.1.conv2.weight[bn bn2]",
          "layer2.0.downsample.0.weight[in][bn 1]");
  pair_of(&g, FS_PAIR_BLOCK, "layer2.0.conv2.weight[bn bn2]", "layer2.1.conv1.weight[in][bn bn1]");
  p = pair_of(&g, FS_PAIR_BLOCK, "layer2.0.downsample.0.weight[bn 1]",
              "layer2.1.conv1.weight[in][bn bn1]");
  ck_assert_int_eq(p->block, 3);
  ck_assert_ptr_null(find_pair(&g, "layer1.0.conv2.weight[bn bn2]", "layer2.0.conv1.weight[in][bn bn1]"));
  p = pair_of(&g, FS_PAIR_CLASSIFIER, "layer2.1.conv2.weight[bn bn2]", "fc.weight");
  ck_assert_int_eq(p->block, 4);
  const fs_matrix *fc = matrix_of(&g, "fc.weight");
  ck_assert_int_eq(fc->unfold_in + fc->transposed, 0);
  ck_assert_int_eq(fs_matrix_in_dim(fc), 16);
  ck_assert_int_eq(fc->bn_var, -1);
  fake_free(&f, &g);
}
END_TEST

/* Bottleneck blocks (conv1 1x1, conv2 3x3, conv3 1x1) under a prefix, a
 * downsample in the first block (the stem writes to both its readers), and a
 * BatchNorm eps from the configuration. */
START_TEST(resnet_bottleneck_prefix) {
  fake f;
  fake_init(&f);
  fake_conv_bn(&f, "model.conv1", "model.bn1", 4, 3, 3);
  fake_conv_bn(&f, "model.layer1.0.conv1", "model.layer1.0.bn1", 2, 4, 1);
  fake_conv_bn(&f, "model.layer1.0.conv2", "model.layer1.0.bn2", 2, 2, 3);
  fake_conv_bn(&f, "model.layer1.0.conv3", "model.layer1.0.bn3", 8, 2, 1);
  fake_conv_bn(&f, "model.layer1.0.downsample.0", "model.layer1.0.downsample.1", 8, 4, 1);
  fake_tensor(&f, "model.fc.weight", 2, 5, 8);
  fake_meta(&f, "config.batch_norm_eps", "0.001");
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_str_eq(g.family, "resnet");
  ck_assert_int_eq(g.nmat, 1 + 3 * 2 + 2 + 1);
  ck_assert_int_eq(count_type(&g, FS_PAIR_BLOCK), 2 + 2);
  ck_assert_int_eq(count_type(&g, FS_PAIR_CLASSIFIER), 2);
  pair_of(&g, FS_PAIR_BLOCK, "model.layer1.0.conv2.weight[bn bn2]", "model.layer1.0.conv3.weight[in][bn bn3]");
  pair_of(&g, FS_PAIR_BLOCK, "model.conv1.weight[bn bn1]",
          "model.layer1.0.downsample.0.weight[in][bn 1]");
  pair_of(&g, FS_PAIR_CLASSIFIER, "model.layer1.0.downsample.0.weight[bn 1]", "model.fc.weight");
  pair_of(&g, FS_PAIR_CLASSIFIER, "model.layer1.0.conv3.weight[bn bn3]", "model.fc.weight");
  expect_unfolded(&f, &g, "model.layer1.0.conv2.weight[in][bn bn2]", 2, 2, 9,
                  "model.layer1.0.bn2.weight", "model.layer1.0.bn2.running_var");
  ck_assert_double_eq(matrix_of(&g, "model.layer1.0.conv2.weight[in][bn bn2]")->bn_eps, 1e-3);
  fake_free(&f, &g);
}
END_TEST

/* LeNet names: conv1 (BatchNorm bn1), conv2 (none), fc1 reading the flattened
 * [16, 5, 5] map, fc2, fc3.  By hand: conv2 reads 6 channels through I =
 * [6, 16 x 25]; fc1 [120, 400] reads 16 channels through I = [16, 120 x 25]
 * (I[c][o 25 + p] = W[o][c 25 + p]); fc2 and fc3 read directly. */
START_TEST(cnn_chain_lenet) {
  fake f;
  fake_init(&f);
  fake_conv_bn(&f, "conv1", "bn1", 6, 1, 5);
  fake_conv(&f, "conv2.weight", 16, 6, 5, 5);
  fake_tensor(&f, "conv2.bias", 1, 16, 0);
  fake_tensor(&f, "fc1.weight", 2, 120, 400);
  fake_tensor(&f, "fc2.weight", 2, 84, 120);
  fake_tensor(&f, "fc3.weight", 2, 10, 84);
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_str_eq(g.family, "cnn");
  ck_assert_str_eq(g.note, "");
  ck_assert_int_eq(g.nmat, 7);
  ck_assert_int_eq(count_type(&g, FS_PAIR_CHAIN), 4);
  ck_assert_int_eq(g.npair, 4);
  expect_out(&f, &g, "conv1.weight[bn bn1]", 6, 25, "bn1.weight", "bn1.running_var", 0);
  expect_out(&f, &g, "conv2.weight", 16, 150, "(none)", "(none)", 1);
  expect_unfolded(&f, &g, "conv2.weight[in]", 6, 16, 25, "(none)", "(none)");
  expect_unfolded(&f, &g, "fc1.weight[in]", 16, 120, 25, "(none)", "(none)");
  const fs_pair *p = pair_of(&g, FS_PAIR_CHAIN, "conv1.weight[bn bn1]", "conv2.weight[in]");
  ck_assert_int_eq(p->block, 0);
  pair_of(&g, FS_PAIR_CHAIN, "conv2.weight", "fc1.weight[in]");
  pair_of(&g, FS_PAIR_CHAIN, "fc1.weight", "fc2.weight");
  p = pair_of(&g, FS_PAIR_CHAIN, "fc2.weight", "fc3.weight");
  ck_assert_int_eq(p->block, 3);
  ck_assert_int_eq(matrix_of(&g, "fc3.weight")->block, 4);
  fake_free(&f, &g);
}
END_TEST

/* A Sequential: features.N with the BatchNorm at N+1; a grouped conv whose
 * channels do not chain is not paired (and said so); a linear reading the
 * pooled channels directly; a linear group of its own is left to the MLP rule. */
START_TEST(cnn_chain_sequential) {
  fake f;
  fake_init(&f);
  fake_conv_bn(&f, "features.0", "features.1", 8, 3, 3);
  fake_conv_bn(&f, "features.3", "features.4", 16, 8, 3);
  fake_conv(&f, "features.7.weight", 16, 4, 3, 3); /* groups = 4 */
  fake_tensor(&f, "features.9.weight", 2, 12, 16);
  fake_tensor(&f, "classifier.0.weight", 2, 10, 12);
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_str_eq(g.family, "cnn");
  ck_assert_int_eq(g.npair, 2);
  pair_of(&g, FS_PAIR_CHAIN, "features.0.weight[bn 1]", "features.3.weight[in][bn 4]");
  expect_unfolded(&f, &g, "features.3.weight[in][bn 4]", 8, 16, 9, "features.4.weight",
                  "features.4.running_var");
  pair_of(&g, FS_PAIR_CHAIN, "features.7.weight", "features.9.weight"); /* pooled: in = 16 */
  ck_assert_ptr_nonnull(strstr(g.note, "features.3.weight -> features.7.weight not paired"));
  ck_assert_ptr_null(find_matrix(&g, "features.7.weight[in]"));
  ck_assert_int_eq(matrix_of(&g, "classifier.0.weight")->block, -1);
  ck_assert_int_eq(g.nmat, 6);
  fake_free(&f, &g);
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
  tcase_add_test(tc, gpt2_fused_conv1d);
  tcase_add_test(tc, neox_interleaved_parallel);
  tcase_add_test(tc, bert_post_norm);
  tcase_add_test(tc, vit_patch_embedding);
  tcase_add_test(tc, fused_without_heads);
  tcase_add_test(tc, mlp_chain_and_strays);
  tcase_add_test(tc, no_rule_applies);
  tcase_add_test(tc, resnet18_like);
  tcase_add_test(tc, resnet_bottleneck_prefix);
  tcase_add_test(tc, cnn_chain_lenet);
  tcase_add_test(tc, cnn_chain_sequential);
  suite_add_tcase(s, tc);
  return fs_test_run(s);
}
