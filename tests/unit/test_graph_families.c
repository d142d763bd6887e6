/* test_graph_families.c - the layer-graph rules of partition/fs_graph_paddle.c
 * and fs_graph_tfjs.c on the real PP-OCRv4 and face-api models, the
 * Mistral/Qwen grouped-query naming variants, depthwise convolutions, shapes
 * that contradict the family (clear notes, plain matrices), and the list of
 * unplaced tensors.  Expected pairs and heads are counted by hand from the
 * architectures (PaddleOCR's PPLCNetV3 + EncoderWithSVTR + CTCHead; face-api's
 * faceRecognitionNet), not from earlier output. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_fakemodel.h"
#include "fs_graph.h"
#include "fs_model.h"
#include "fs_testutil.h"

static void open_real(const char *rel, fs_model *m, fs_graph *g) {
  const char *path = fs_test_data(rel);
  ck_assert_msg(access(path, R_OK) == 0, "%s is missing: run scripts/fetch-test-data.sh", path);
  fs_error e;
  ck_assert_msg(!fs_model_open(path, m, &e), "%s", e.msg);
  ck_assert_msg(!fs_graph_build(m, g, &e), "%s", e.msg);
}

/* PP-OCRv4: stem conv2d_10 (BN batch_norm2d_2); 14 depthwise + pointwise
 * LCNetV3 blocks (dw 157, 159, ..., 183 pass through); squeeze-excitations
 * 106/107 (240 channels) and 117/118 (480); neck conv 142, 143; two SVTR blocks
 * (linear 77-80, 81-84; 8 heads of 15); final LayerNorm 47 into conv 144;
 * concat(backbone 480, conv 144's 480) into conv 145; conv 146; CTC linear 85.
 * chain: 10 pointwise links + stem + 2 x (2 SE links) = 18 in the backbone,
 * 184 -> 142, 142 -> 143, the two concat halves, 145 -> 146 = 23;
 * residual: 143 -> q, k, v; proj -> fc1 (x 2); fc2 -> q, k, v; fc2 -> 144 = 9;
 * mlp 2; ov 2 x 8; classifier 146 -> 85. */
START_TEST(ppocr_real) {
  fs_model m;
  fs_graph g;
  open_real("fetched/ch_PP-OCRv4_rec_infer.onnx", &m, &g);
  ck_assert_str_eq(g.family, "paddle");
  ck_assert_int_eq(g.n_head, 8);
  ck_assert_int_eq(g.n_head_kv, 8);
  ck_assert_int_eq(g.head_dim, 15);
  ck_assert_int_eq(g.nhead_block, 2); /* both SVTR blocks go to the head diagnostics */
  ck_assert_int_eq(fs_matrix_out_dim(&g.head_block[1].q), 120);
  ck_assert_int_eq(g.head_block[1].q.r0, 0);
  ck_assert_int_eq(g.head_block[1].v.r0, 240);
  ck_assert_int_eq(count_type(&g, FS_PAIR_CHAIN), 23);
  ck_assert_int_eq(count_type(&g, FS_PAIR_RESIDUAL), 9);
  ck_assert_int_eq(count_type(&g, FS_PAIR_MLP), 2);
  ck_assert_int_eq(count_type(&g, FS_PAIR_OV), 16);
  ck_assert_int_eq(count_type(&g, FS_PAIR_BLOCK), 0);
  ck_assert_int_eq(count_type(&g, FS_PAIR_CLASSIFIER), 1);
  ck_assert_int_eq(g.npair, 51);
  ck_assert_int_eq(g.nunplaced, 0);
  ck_assert_str_eq(g.note, "");
  /* the stem's BatchNorm: Paddle's w_0 = gamma, w_2 = variance */
  const fs_matrix *x = matrix_of(&g, "conv2d_10.w_0[bn batch_norm2d_2]");
  ck_assert_str_eq(tname(&m, x->bn_gamma), "batch_norm2d_2.w_0");
  ck_assert_str_eq(tname(&m, x->bn_var), "batch_norm2d_2.w_2");
  /* depthwise convs are analysed alone; the stream passes through them */
  ck_assert_ptr_nonnull(find_matrix(&g, "conv2d_157.w_0"));
  ck_assert_int_eq(pairs_touching(&g, &m, "conv2d_157.w_0"), 0);
  pair_of(&g, FS_PAIR_CHAIN, "conv2d_10.w_0[bn batch_norm2d_2]", "conv2d_158.w_0[in]");
  /* squeeze-excitation: read from the stream, the stream goes on past it */
  pair_of(&g, FS_PAIR_CHAIN, "conv2d_176.w_0", "conv2d_106.w_0[in]");
  pair_of(&g, FS_PAIR_CHAIN, "conv2d_106.w_0", "conv2d_107.w_0[in]");
  pair_of(&g, FS_PAIR_CHAIN, "conv2d_176.w_0", "conv2d_178.w_0[in]");
  ck_assert_int_eq(pairs_touching(&g, &m, "conv2d_107.w_0"), 1);
  /* the fused qkv [q | k | v] of block 0 read through LayerNorm 43; GQA-free heads */
  x = matrix_of(&g, "linear_77.w_0.k");
  ck_assert_int_eq(x->r0, 120);
  ck_assert_int_eq(x->r1, 240);
  ck_assert_str_eq(tname(&m, x->fold), "layer_norm_43.w_0");
  const fs_pair *p = pair_of(&g, FS_PAIR_OV, "linear_77.w_0.v[kv 3]", "linear_78.w_0[head 3]");
  ck_assert_int_eq(g.mat[p->writer].r0, 240 + 45);
  ck_assert_int_eq(g.mat[p->reader].c0, 45);
  ck_assert_int_eq(p->head, 3);
  pair_of(&g, FS_PAIR_RESIDUAL, "conv2d_143.w_0[bn batch_norm2d_149]", "linear_77.w_0.q");
  pair_of(&g, FS_PAIR_RESIDUAL, "linear_80.w_0", "linear_81.w_0.v");
  pair_of(&g, FS_PAIR_MLP, "linear_83.w_0", "linear_84.w_0");
  ck_assert_str_eq(tname(&m, matrix_of(&g, "linear_83.w_0")->fold), "layer_norm_46.w_0");
  /* after the blocks: the final LayerNorm folded into conv3's input unfolding */
  p = pair_of(&g, FS_PAIR_RESIDUAL, "linear_84.w_0", "conv2d_144.w_0[in][bn batch_norm2d_150]");
  ck_assert_str_eq(tname(&m, g.mat[p->reader].fold), "layer_norm_47.w_0");
  /* concat(h, z): rows 0..480 of conv4's input come from the backbone */
  p = pair_of(&g, FS_PAIR_CHAIN, "conv2d_184.w_0", "conv2d_145.w_0[in 0:480][bn batch_norm2d_151]");
  ck_assert_int_eq(g.mat[p->reader].r1, 480);
  ck_assert_int_eq(g.mat[p->reader].ksize, 3);
  p = pair_of(&g, FS_PAIR_CHAIN, "conv2d_144.w_0[bn batch_norm2d_150]",
              "conv2d_145.w_0[in 480:960][bn batch_norm2d_151]");
  ck_assert_int_eq(g.mat[p->reader].r0, 480);
  p = pair_of(&g, FS_PAIR_CLASSIFIER, "conv2d_146.w_0[bn batch_norm2d_152]", "linear_85.w_0");
  ck_assert_int_eq(fs_matrix_in_dim(&g.mat[p->reader]), 120);
  ck_assert_int_eq(fs_matrix_out_dim(&g.mat[p->reader]), 6625);
  fs_graph_free(&g);
  fs_model_close(&m);
}
END_TEST

/* face-api's recogniser: stem conv32_down, 14 residual blocks (conv32_1..3,
 * conv64_down, conv64_1..3, conv128_down, conv128_1..2, conv256_down,
 * conv256_1..2, conv256_down_out) of conv1 -> conv2, fc 256 -> 128.
 * block: 14 inner + stem -> first + 13 between blocks = 28; classifier 1. */
START_TEST(faceapi_real) {
  fs_model m;
  fs_graph g;
  open_real("fetched/face-api/face_recognition_model-weights_manifest.json", &m, &g);
  ck_assert_str_eq(g.family, "resnet-tfjs");
  ck_assert_int_eq(g.n_head, 0);
  ck_assert_int_eq(count_type(&g, FS_PAIR_BLOCK), 28);
  ck_assert_int_eq(count_type(&g, FS_PAIR_CLASSIFIER), 1);
  ck_assert_int_eq(g.npair, 29);
  ck_assert_int_eq(g.nmat, 1 + 28 * 2 + 1);
  ck_assert_int_eq(g.nunplaced, 0);
  const fs_matrix *x = matrix_of(&g, "conv64_down/conv1/conv/filters[in][scale]");
  ck_assert_str_eq(tname(&m, x->bn_gamma), "conv64_down/conv1/scale/weights");
  ck_assert_int_eq(x->bn_var, -1);
  ck_assert_int_eq(fs_matrix_in_dim(x), 32); /* the downsampling block reads 32 channels */
  pair_of(&g, FS_PAIR_BLOCK, "conv32_down/conv/filters[scale]", "conv32_1/conv1/conv/filters[in][scale]");
  pair_of(&g, FS_PAIR_BLOCK, "conv32_3/conv2/conv/filters[scale]",
          "conv64_down/conv1/conv/filters[in][scale]");
  const fs_pair *p = pair_of(&g, FS_PAIR_BLOCK, "conv128_1/conv1/conv/filters[scale]",
                             "conv128_1/conv2/conv/filters[in][scale]");
  ck_assert_int_eq(p->block, 9);
  p = pair_of(&g, FS_PAIR_CLASSIFIER, "conv256_down_out/conv2/conv/filters[scale]", "fc");
  ck_assert_int_eq(fs_matrix_in_dim(&g.mat[p->reader]), 256);
  ck_assert_int_eq(fs_matrix_out_dim(&g.mat[p->reader]), 128);
  fs_graph_free(&g);
  fs_model_close(&m);
}
END_TEST

/* Qwen2: Llama names, q/k/v biases, 4 heads sharing 2 kv heads. */
START_TEST(qwen_gqa_with_biases) {
  fake f;
  fake_init(&f);
  fake_hf_llama(&f, 2, 16, 4, 2, 24, FAKE_QKV_BIAS);
  fake_meta(&f, "config.num_attention_heads", "4");
  fake_meta(&f, "config.num_key_value_heads", "2");
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_str_eq(g.family, "llama");
  ck_assert_int_eq(g.n_head, 4);
  ck_assert_int_eq(g.n_head_kv, 2);
  ck_assert_int_eq(g.head_dim, 4);
  ck_assert_int_eq(count_type(&g, FS_PAIR_OV), 2 * 4);
  ck_assert_int_eq(count_type(&g, FS_PAIR_MLP), 2 * 2);
  ck_assert_int_eq(count_type(&g, FS_PAIR_RESIDUAL), 2 * 5);
  ck_assert_int_eq(count_type(&g, FS_PAIR_CLASSIFIER), 1);
  ck_assert_int_eq(g.nunplaced, 0); /* biases belong to their projections */
  ck_assert_str_eq(g.note, "");
  const fs_pair *p = pair_of(&g, FS_PAIR_OV, "model.layers.1.self_attn.v_proj.weight[kv 0]",
                             "model.layers.1.self_attn.o_proj.weight[head 1]");
  ck_assert_int_eq(p->block, 1);
  pair_of(&g, FS_PAIR_OV, "model.layers.1.self_attn.v_proj.weight[kv 1]",
          "model.layers.1.self_attn.o_proj.weight[head 2]");
  fake_free(&f, &g);
}
END_TEST

/* Mistral: 8 query heads, 2 kv heads (groups of 4). */
START_TEST(mistral_gqa) {
  fake f;
  fake_init(&f);
  fake_hf_llama(&f, 1, 32, 8, 2, 48, 0);
  fake_meta(&f, "config.num_attention_heads", "8");
  fake_meta(&f, "config.num_key_value_heads", "2");
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_int_eq(g.n_head, 8);
  ck_assert_int_eq(g.n_head_kv, 2);
  ck_assert_int_eq(g.head_dim, 4);
  ck_assert_int_eq(count_type(&g, FS_PAIR_OV), 8);
  for (int h = 0; h < 8; h++) {
    char w[96], r[96];
    snprintf(w, sizeof w, "model.layers.0.self_attn.v_proj.weight[kv %d]", h / 4);
    snprintf(r, sizeof r, "model.layers.0.self_attn.o_proj.weight[head %d]", h);
    const fs_pair *p = pair_of(&g, FS_PAIR_OV, w, r);
    ck_assert_int_eq(g.mat[p->writer].r0, (h / 4) * 4);
    ck_assert_int_eq(g.mat[p->reader].c0, h * 4);
  }
  fake_free(&f, &g);
}
END_TEST

/* Bad input: a head count that does not divide the width. */
START_TEST(heads_not_dividing_width) {
  fake f;
  fake_init(&f);
  fake_hf_llama(&f, 2, 16, 4, 4, 24, 0);
  fake_meta(&f, "config.num_attention_heads", "5");
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_int_eq(g.n_head, 0);
  ck_assert_int_eq(count_type(&g, FS_PAIR_OV), 0);
  ck_assert_int_eq(count_type(&g, FS_PAIR_MLP), 4); /* the rest of the graph stands */
  ck_assert_ptr_nonnull(strstr(g.note, "5 heads"));
  ck_assert_ptr_nonnull(strstr(g.note, "model.layers.0.self_attn.q_proj.weight"));
  ck_assert_ptr_nonnull(strstr(g.note, "ov pairs skipped"));
  fake_free(&f, &g);
}
END_TEST

/* Bad input: block 1 has no K; block 1's up_proj reads the wrong width. */
START_TEST(missing_k_and_mismatched_reader) {
  fake f;
  fake_init(&f);
  fake_hf_llama(&f, 2, 16, 4, 4, 24, 0);
  fake_meta(&f, "config.num_attention_heads", "4");
  for (int i = 0; i < f.m.ntensors; i++) {
    fs_tensor *t = &f.m.tensors[i];
    if (!strcmp(t->name, "model.layers.1.self_attn.k_proj.weight")) t->name[0] = 'X';
    if (!strcmp(t->name, "model.layers.1.mlp.up_proj.weight")) t->shape[1] = 15;
  }
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_ptr_nonnull(strstr(g.note, "block 1 has no K (model.layers.1.self_attn.k_proj.weight)"));
  ck_assert_ptr_nonnull(strstr(g.note, "residual pair model.layers.1.self_attn.o_proj.weight -> "
                                       "model.layers.1.mlp.up_proj.weight skipped"));
  /* the K-less block keeps its other pairs; the odd up_proj keeps only the
   * pair its output still fits (up -> down) */
  ck_assert_int_eq(count_type(&g, FS_PAIR_OV), 8);
  ck_assert_ptr_nonnull(find_matrix(&g, "model.layers.1.mlp.up_proj.weight"));
  ck_assert_int_eq(pairs_touching(&g, &f.m, "model.layers.1.mlp.up_proj.weight"), 1);
  pair_of(&g, FS_PAIR_MLP, "model.layers.1.mlp.up_proj.weight", "model.layers.1.mlp.down_proj.weight");
  ck_assert_int_eq(g.nunplaced, 1); /* the renamed K tensor */
  ck_assert_str_eq(f.m.tensors[g.unplaced[0]].name, "Xodel.layers.1.self_attn.k_proj.weight");
  ck_assert_ptr_nonnull(find_matrix(&g, "Xodel.layers.1.self_attn.k_proj.weight"));
  fake_free(&f, &g);
}
END_TEST

/* Unplaced tensors are listed: a stray gain and a stray matrix; biases of a
 * placed layer and one-element scalars are not. */
START_TEST(unplaced_listed) {
  fake f;
  fake_init(&f);
  fake_tensor(&f, "net.0.weight", 2, 8, 4);
  fake_tensor(&f, "net.0.bias", 1, 8, 0);
  fake_tensor(&f, "net.2.weight", 2, 3, 8);
  fake_tensor(&f, "temperature", 1, 1, 0);
  fake_tensor(&f, "stray.gain", 1, 7, 0);
  fake_tensor(&f, "projection", 2, 5, 5);
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_str_eq(g.family, "mlp");
  ck_assert_int_eq(g.npair, 1);
  ck_assert_int_eq(g.nunplaced, 2);
  ck_assert_str_eq(f.m.tensors[g.unplaced[0]].name, "stray.gain");
  ck_assert_str_eq(f.m.tensors[g.unplaced[1]].name, "projection");
  ck_assert_ptr_nonnull(find_matrix(&g, "projection")); /* still analysed alone */
  ck_assert_ptr_nonnull(strstr(g.note, "2 tensors placed by no rule (stray.gain, ...)"));
  fake_free(&f, &g);
}
END_TEST

/* A depthwise conv [C, 1, 3, 3] mixes no channels: the pointwise conv after it
 * reads the channels the conv before it wrote. */
START_TEST(depthwise_passes_through) {
  fake f;
  fake_init(&f);
  fake_conv(&f, "features.0.weight", 8, 3, 3, 3);
  fake_conv(&f, "features.3.weight", 8, 1, 3, 3);
  fake_conv(&f, "features.6.weight", 16, 8, 1, 1);
  fake_tensor(&f, "features.9.weight", 2, 10, 16);
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_str_eq(g.family, "cnn");
  ck_assert_str_eq(g.note, "");
  ck_assert_int_eq(g.npair, 2);
  pair_of(&g, FS_PAIR_CHAIN, "features.0.weight", "features.6.weight[in]");
  pair_of(&g, FS_PAIR_CHAIN, "features.6.weight", "features.9.weight");
  ck_assert_ptr_nonnull(find_matrix(&g, "features.3.weight"));
  ck_assert_int_eq(pairs_touching(&g, &f.m, "features.3.weight"), 0);
  fake_free(&f, &g);
}
END_TEST

/* Paddle names without a dataflow graph (a safetensors export): creation
 * order, said so in the note. */
START_TEST(paddle_creation_order) {
  fake f;
  fake_init(&f);
  fake_conv(&f, "conv2d_1.w_0", 8, 3, 3, 3);
  static const char *bn[] = {"w_0", "b_0", "w_1", "w_2"};
  for (int i = 0; i < 4; i++) {
    char n[64];
    snprintf(n, sizeof n, "batch_norm2d_1.%s", bn[i]);
    fake_tensor(&f, n, 1, 8, 0);
  }
  fake_conv(&f, "conv2d_2.w_0", 8, 1, 3, 3);
  fake_tensor(&f, "conv2d_2.b_0", 1, 8, 0);
  fake_conv(&f, "conv2d_3.w_0", 16, 8, 1, 1);
  fake_tensor(&f, "conv2d_3.b_0", 1, 16, 0);
  fake_tensor(&f, "linear_1.w_0", 2, 10, 16);
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_str_eq(g.family, "paddle");
  ck_assert_ptr_nonnull(strstr(g.note, "no dataflow order"));
  ck_assert_int_eq(g.npair, 2);
  pair_of(&g, FS_PAIR_CHAIN, "conv2d_1.w_0[bn batch_norm2d_1]", "conv2d_3.w_0[in]");
  pair_of(&g, FS_PAIR_CLASSIFIER, "conv2d_3.w_0", "linear_1.w_0");
  ck_assert_int_eq(g.nunplaced, 0);
  fake_free(&f, &g);
}
END_TEST

/* face-api's separable nets (tiny_face_detector): TF's depthwise kernels
 * [3, 3, C, 1] presented as [1, C, 3, 3], pointwise [1, 1, C, C'] as
 * [C', C, 1, 1]; the pointwise convs chain through the depthwise ones. */
START_TEST(tfjs_separable_chain) {
  fake f;
  fake_init(&f);
  fake_conv(&f, "conv0/filters", 16, 3, 3, 3);
  fake_tensor(&f, "conv0/bias", 1, 16, 0);
  int64_t c = 16;
  for (int i = 1; i <= 5; i++, c *= 2) {
    char n[64];
    snprintf(n, sizeof n, "conv%d/depthwise_filter", i);
    fake_conv(&f, n, 1, c, 3, 3);
    snprintf(n, sizeof n, "conv%d/pointwise_filter", i);
    fake_conv(&f, n, 2 * c, c, 1, 1);
    snprintf(n, sizeof n, "conv%d/bias", i);
    fake_tensor(&f, n, 1, 2 * c, 0);
  }
  fake_conv(&f, "conv8/filters", 25, 512, 1, 1);
  fake_tensor(&f, "conv8/bias", 1, 25, 0);
  fs_graph g;
  fake_graph(&f, &g);
  ck_assert_str_eq(g.family, "cnn-tfjs");
  ck_assert_str_eq(g.note, "");
  ck_assert_int_eq(count_type(&g, FS_PAIR_CHAIN), 6);
  ck_assert_int_eq(g.npair, 6);
  ck_assert_int_eq(g.nmat, 1 + 5 + 5 * 2 + 2);
  ck_assert_int_eq(g.nunplaced, 0);
  pair_of(&g, FS_PAIR_CHAIN, "conv0/filters", "conv1/pointwise_filter[in]");
  const fs_pair *p = pair_of(&g, FS_PAIR_CHAIN, "conv4/pointwise_filter", "conv5/pointwise_filter[in]");
  ck_assert_int_eq(fs_matrix_in_dim(&g.mat[p->reader]), 256);
  pair_of(&g, FS_PAIR_CHAIN, "conv5/pointwise_filter", "conv8/filters[in]");
  ck_assert_int_eq(pairs_touching(&g, &f.m, "conv3/depthwise_filter"), 0);
  fake_free(&f, &g);
}
END_TEST

int main(void) {
  Suite *s = suite_create("graph_families");
  TCase *tc = tcase_create("families");
  tcase_add_test(tc, ppocr_real);
  tcase_add_test(tc, faceapi_real);
  tcase_add_test(tc, qwen_gqa_with_biases);
  tcase_add_test(tc, mistral_gqa);
  tcase_add_test(tc, heads_not_dividing_width);
  tcase_add_test(tc, missing_k_and_mismatched_reader);
  tcase_add_test(tc, unplaced_listed);
  tcase_add_test(tc, depthwise_passes_through);
  tcase_add_test(tc, paddle_creation_order);
  tcase_add_test(tc, tfjs_separable_chain);
  suite_add_tcase(s, tc);
  return fs_test_run(s);
}
