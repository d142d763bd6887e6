/* test_layermap.c - layer-map files (partition/fs_layermap.c): pairs and roles
 * named by hand extend, override or replace the inferred graph; every error
 * names the file, the line and the reason. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_fakemodel.h"
#include "fs_graph.h"
#include "fs_layermap.h"
#include "fs_testutil.h"

static char *dir;

/* Created inside a test: the helpers assert. */
static const char *map_dir(void) {
  if (!dir) dir = fs_test_tmpdir("layermap");
  return dir;
}

static char *write_map(const char *name, const char *text) {
  char *path = fs_test_join(map_dir(), name);
  fs_test_write_file(path, text, strlen(text));
  return path;
}

/* Builds m's graph under the map in text; returns 0 or the build's status. */
static int build_with(const char *name, const char *text, const fs_model *m, fs_graph *g,
                      fs_error *e) {
  char *path = write_map(name, text);
  fs_layermap *map;
  ck_assert_msg(!fs_layermap_read(path, &map, e), "%s", e->msg);
  fs_layermap_activate(map);
  int rc = fs_graph_build(m, g, e);
  fs_layermap_activate(NULL);
  fs_layermap_free(map);
  free(path);
  return rc;
}

/* An architecture no rule knows: an encoder/decoder pair, attention stored
 * [in, out] with a LayerNorm, a 1-D gain. */
static void fake_unknown(fake *f) {
  fake_tensor(f, "enc.w", 2, 16, 8);
  fake_tensor(f, "dec.w", 2, 8, 16);
  fake_tensor(f, "attn.value", 2, 8, 16); /* 2 kv heads x 4 rows, reads 16 */
  fake_tensor(f, "attn.out", 2, 16, 16);  /* 4 heads x 4 columns */
  fake_tensor(f, "mlp.in_t", 2, 16, 32);  /* stored [in, out] */
  fake_tensor(f, "ln.g", 1, 16, 0);
}

/* A two-block Llama with 4 heads and its inferred graph g0. */
static void inferred_llama(fake *f, fs_graph *g0) {
  fake_init(f);
  fake_hf_llama(f, 2, 16, 4, 4, 24, 0);
  fake_meta(f, "config.num_attention_heads", "4");
  fake_graph(f, g0);
}

START_TEST(extend_unknown_architecture) {
  fake f;
  fake_init(&f);
  fake_unknown(&f);
  fs_graph g;
  fs_error e;
  ck_assert_msg(!build_with("unknown.map",
                            "# hand-written map\n"
                            "pair chain enc.w dec.w block=0\n"
                            "pair ov attn.value attn.out heads=4 kv=2 block=1\n"
                            "pair residual attn.out mlp.in_t transpose=reader fold=ln.g\n",
                            &f.m, &g, &e), "%s", e.msg);
  ck_assert_str_eq(g.family, "layer-map");
  ck_assert_int_eq(count_type(&g, FS_PAIR_CHAIN), 1);
  ck_assert_int_eq(count_type(&g, FS_PAIR_OV), 4);
  ck_assert_int_eq(count_type(&g, FS_PAIR_RESIDUAL), 1);
  ck_assert_int_eq(g.n_head, 4);
  ck_assert_int_eq(g.n_head_kv, 2);
  ck_assert_int_eq(g.head_dim, 4);
  const fs_pair *p = pair_of(&g, FS_PAIR_CHAIN, "enc.w", "dec.w");
  ck_assert_int_eq(p->block, 0);
  p = pair_of(&g, FS_PAIR_OV, "attn.value[kv 1]", "attn.out[head 3]");
  ck_assert_int_eq(g.mat[p->writer].r0, 4);
  ck_assert_int_eq(g.mat[p->reader].c0, 12);
  ck_assert_int_eq(p->head, 3);
  pair_of(&g, FS_PAIR_OV, "attn.value[kv 0]", "attn.out[head 1]");
  p = pair_of(&g, FS_PAIR_RESIDUAL, "attn.out", "mlp.in_t");
  const fs_matrix *r = &g.mat[p->reader];
  ck_assert_int_eq(r->transposed, 1);
  ck_assert_int_eq(fs_matrix_in_dim(r), 16);
  ck_assert_int_eq(fs_matrix_out_dim(r), 32);
  ck_assert_str_eq(f.m.tensors[r->fold].name, "ln.g");
  ck_assert_int_eq(g.nunplaced, 0);
  fake_free(&f, &g);
}
END_TEST

/* On a Llama the map extends: one more pair, an inferred duplicate not twice. */
START_TEST(extend_inferred) {
  fake f;
  fs_graph g0, g;
  fs_error e;
  inferred_llama(&f, &g0);
  ck_assert_msg(!build_with("extend.map",
                            "mode extend\n"
                            "pair chain model.layers.0.mlp.down_proj.weight model.layers.1.mlp.up_proj.weight\n"
                            "pair mlp model.layers.0.mlp.up_proj.weight model.layers.0.mlp.down_proj.weight  # inferred\n",
                            &f.m, &g, &e), "%s", e.msg);
  ck_assert_str_eq(g.family, "llama");
  ck_assert_int_eq(g.npair, g0.npair + 1);
  ck_assert_int_eq(count_type(&g, FS_PAIR_CHAIN), 1);
  ck_assert_int_eq(count_type(&g, FS_PAIR_MLP), count_type(&g0, FS_PAIR_MLP));
  ck_assert_int_eq(g.nmat, g0.nmat); /* the map reuses the inferred matrices */
  fs_graph_free(&g0);
  fake_free(&f, &g);
}
END_TEST

/* Override: the inferred pairs touching a tensor the map names go. */
START_TEST(override_inferred) {
  fake f;
  fs_graph g0, g;
  fs_error e;
  inferred_llama(&f, &g0);
  const char *gate = "model.layers.0.mlp.gate_proj.weight";
  const char *down = "model.layers.0.mlp.down_proj.weight";
  int touching = pairs_touching(&g0, &f.m, gate) + pairs_touching(&g0, &f.m, down);
  /* gate_0 and down_0: O_0 -> gate_0, gate_0 -> down_0, up_0 -> down_0, down_0 -> Q, K, V of block 1 */
  ck_assert_int_eq(touching - 1, 6);
  ck_assert_msg(!build_with("override.map",
                            "mode override\n"
                            "pair chain model.layers.0.mlp.gate_proj.weight "
                            "model.layers.0.mlp.down_proj.weight\n",
                            &f.m, &g, &e), "%s", e.msg);
  ck_assert_int_eq(g.npair, g0.npair - 6 + 1);
  ck_assert_int_eq(pairs_touching(&g, &f.m, gate), 1);
  pair_of(&g, FS_PAIR_CHAIN, gate, down);
  ck_assert_int_eq(count_type(&g, FS_PAIR_MLP), count_type(&g0, FS_PAIR_MLP) - 2);
  fs_graph_free(&g0);
  fake_free(&f, &g);
}
END_TEST

/* Replace: only the map; every other 2-D tensor analysed alone; an ignored
 * tensor has no matrix and is not unplaced; heads from the map. */
START_TEST(replace_and_roles) {
  fake f;
  fake_init(&f);
  fake_hf_llama(&f, 1, 16, 4, 4, 24, 0);
  fs_graph g;
  fs_error e;
  ck_assert_msg(!build_with("replace.map",
                            "mode replace\n"
                            "heads 4 2\n"
                            "pair mlp model.layers.0.mlp.up_proj.weight model.layers.0.mlp.down_proj.weight\n"
                            "role model.embed_tokens.weight ignore\n"
                            "role model.layers.0.self_attn.q_proj.weight matrix transpose\n",
                            &f.m, &g, &e), "%s", e.msg);
  ck_assert_str_eq(g.family, "layer-map");
  ck_assert_int_eq(g.npair, 1);
  ck_assert_ptr_null(find_matrix(&g, "model.embed_tokens.weight"));
  const fs_matrix *q = matrix_of(&g, "model.layers.0.self_attn.q_proj.weight");
  ck_assert_int_eq(q->transposed, 1);
  /* 9 2-D tensors, minus the ignored embedding */
  ck_assert_int_eq(g.nmat, 8);
  /* no rule ran: the 3 norms and the 5 matrices the map does not name are unplaced */
  ck_assert_int_eq(g.nunplaced, 3 + 5);
  fs_graph_free(&g);
  /* "heads" also overrides the metadata of a transformer family */
  ck_assert_msg(!build_with("heads.map", "heads 4 2\n", &f.m, &g, &e), "%s", e.msg);
  ck_assert_int_eq(g.n_head, 0); /* 2 kv heads do not fit K's 16 rows: said so */
  ck_assert_ptr_nonnull(strstr(g.note, "4 heads / 2 kv heads do not fit"));
  fs_graph_free(&g);
  ck_assert_msg(!build_with("heads4.map", "heads 4\n", &f.m, &g, &e), "%s", e.msg);
  ck_assert_int_eq(g.n_head, 4);
  ck_assert_int_eq(count_type(&g, FS_PAIR_OV), 4);
  fake_free(&f, &g);
}
END_TEST

/* Errors in the map name the file, the line and the reason. */
static void expect_read_error(const char *text, const char *where, const char *reason) {
  char *path = write_map("bad.map", text);
  fs_layermap *map = (fs_layermap *)1;
  fs_error e;
  ck_assert_int_ne(fs_layermap_read(path, &map, &e), 0);
  ck_assert_ptr_null(map);
  char want[1024];
  snprintf(want, sizeof want, "%s%s", path, where);
  ck_assert_msg(strstr(e.msg, want) && strstr(e.msg, reason), "got '%s', wanted '%s' and '%s'",
                e.msg, want, reason);
  free(path);
}

START_TEST(malformed_maps) {
  expect_read_error("pair chain a b\nfrobnicate x\n", ":2:", "unknown directive 'frobnicate'");
  expect_read_error("# c\n\npair chian a b\n", ":3:", "unknown pair type 'chian'");
  expect_read_error("pair chain a\n", ":1:", "needs a type, a writer and a reader");
  expect_read_error("pair chain a b stride=2\n", ":1:", "unknown pair option 'stride'");
  expect_read_error("pair chain a b transpose=left\n", ":1:", "expected writer, reader or both");
  expect_read_error("pair chain a b heads=4\n", ":1:", "split ov pairs only");
  expect_read_error("pair ov a b heads=4 kv=3\n", ":1:", "kv=3 does not divide heads=4");
  expect_read_error("pair ov a b kv=2\n", ":1:", "kv= needs heads=");
  expect_read_error("pair ov a b heads=x\n", ":1:", "expected a head count");
  expect_read_error("heads 6 4\n", ":1:", "4 key/value heads do not divide 6 heads");
  expect_read_error("mode extend\nmode replace\npair chain a b\n", ":2:", "mode given twice");
  expect_read_error("mode merge\n", ":1:", "expected extend, override or replace");
  expect_read_error("role a weight\n", ":1:", "expected 'role TENSOR matrix");
  expect_read_error("# nothing\n", "", "no pair, role or heads line");
  fs_layermap *map;
  fs_error e;
  char *missing = fs_test_join(map_dir(), "missing.map");
  ck_assert_int_ne(fs_layermap_read(missing, &map, &e), 0);
  ck_assert_ptr_nonnull(strstr(e.msg, "cannot read the layer map"));
  free(missing);
}
END_TEST

/* Errors that depend on the model fail its graph, naming file and line. */
START_TEST(map_contradicts_model) {
  fake f;
  fake_init(&f);
  fake_unknown(&f);
  fs_graph g;
  fs_error e;
  ck_assert_int_ne(build_with("m1.map", "pair chain enc.w dec.w\npair chain enc.w nosuch.w\n",
                              &f.m, &g, &e), 0);
  ck_assert_ptr_nonnull(strstr(e.msg, "m1.map:2: reader tensor 'nosuch.w' is not in the model"));
  ck_assert_int_ne(build_with("m2.map", "pair chain enc.w ln.g\n", &f.m, &g, &e), 0);
  ck_assert_ptr_nonnull(strstr(e.msg, "m2.map:1: reader tensor 'ln.g' is not a matrix"));
  ck_assert_int_ne(build_with("m3.map", "pair chain dec.w attn.out\n", &f.m, &g, &e), 0);
  ck_assert_ptr_nonnull(strstr(e.msg, "m3.map:1: writer 'dec.w' writes 8 dimensions, reader "
                                      "'attn.out' reads 16"));
  ck_assert_int_ne(build_with("m4.map", "pair ov attn.value attn.out heads=3 kv=3\n", &f.m, &g, &e), 0);
  ck_assert_ptr_nonnull(strstr(e.msg, "m4.map:1: heads=3 kv=3 do not fit"));
  ck_assert_int_ne(build_with("m5.map", "pair chain attn.value enc.w fold=ln.g\n", &f.m, &g, &e), 0);
  ck_assert_ptr_nonnull(strstr(e.msg, "m5.map:1: fold tensor 'ln.g' must be 1-D with 8 entries"));
  ck_assert_int_ne(build_with("m6.map", "role ln.g matrix\n", &f.m, &g, &e), 0);
  ck_assert_ptr_nonnull(strstr(e.msg, "m6.map:1: role tensor 'ln.g' is not a matrix"));
  fake_free(&f, NULL);
}
END_TEST

int main(void) {
  Suite *s = suite_create("layermap");
  TCase *tc = tcase_create("layermap");
  tcase_add_test(tc, extend_unknown_architecture);
  tcase_add_test(tc, extend_inferred);
  tcase_add_test(tc, override_inferred);
  tcase_add_test(tc, replace_and_roles);
  tcase_add_test(tc, malformed_maps);
  tcase_add_test(tc, map_contradicts_model);
  suite_add_tcase(s, tc);
  int rc = fs_test_run(s);
  free(dir);
  return rc;
}
