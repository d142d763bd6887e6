/*
 * test_io.c - checkpoint readers (io/fs_model.h): safetensors and GGUF.
 *
 * Real files: stories260K.gguf and stories260K-hf/model.safetensors hold the
 * same weights, written by independent writers, so every GGUF matrix must
 * equal its Hugging Face counterpart bit for bit.  Hand-built files (small
 * writers below) pin exact values of every dtype, and hostile files check
 * that each bad header fails with the path and a specific reason.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_model.h"
#include "fs_testutil.h"

#define GGUF_REAL "stories260K.gguf"
#define ST_REAL "stories260K-hf/model.safetensors"
#define GGUF_REAL_DATA_START 14176 /* end of the real GGUF header, aligned */

/* ------------------------------------------------------------------------ */
/* Byte buffers and file writers                                            */

static void write_buf(const char *path, fs_buf *b) {
  fs_test_write_file(path, b->p, b->n);
  free(b->p);
  memset(b, 0, sizeof *b);
}

/* Copy of a temporary path (fs_test_tmpfile recycles its buffers). */
static char *tmp_path(const char *name) { return strdup(fs_test_tmpfile(name)); }

/* A fresh directory, so that a config.json next to one test file cannot be
 * seen by another. */
/* safetensors: u64 header length, JSON header, data. */
static void st_write(const char *path, const char *json, const void *data, size_t n) {
  fs_buf b = {0};
  fs_buf_u64(&b, strlen(json));
  fs_buf_put(&b, json, strlen(json));
  if (n) fs_buf_put(&b, data, n);
  write_buf(path, &b);
}

/* GGUF pieces */
static void g_str(fs_buf *b, const char *s) {
  fs_buf_u64(b, strlen(s));
  fs_buf_put(b, s, strlen(s));
}

static void g_head(fs_buf *b, uint32_t version, uint64_t nt, uint64_t nkv) {
  fs_buf_put(b, "GGUF", 4);
  fs_buf_u32(b, version);
  fs_buf_u64(b, nt);
  fs_buf_u64(b, nkv);
}

/* Tensor info; dims are innermost-first, as GGUF stores them. */
static void g_tensor(fs_buf *b, const char *name, uint32_t nd, const uint64_t *dims,
                     uint32_t type, uint64_t off) {
  g_str(b, name);
  fs_buf_u32(b, nd);
  for (uint32_t i = 0; i < nd; i++) fs_buf_u64(b, dims[i]);
  fs_buf_u32(b, type);
  fs_buf_u64(b, off);
}

/* ------------------------------------------------------------------------ */
/* Assertion helpers                                                        */

static void assert_shape(const fs_tensor *t, int nd, int64_t d0, int64_t d1) {
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(t->ndim, nd);
  ck_assert_int_eq(t->shape[0], d0);
  if (nd > 1) ck_assert_int_eq(t->shape[1], d1);
}

static double *read_all(const fs_model *m, const char *name) {
  const fs_tensor *t = fs_model_find(m, name);
  ck_assert_msg(t != NULL, "%s: no tensor %s", m->path, name);
  size_t n = (size_t)fs_tensor_numel(t);
  double *v = malloc((n ? n : 1) * sizeof *v);
  fs_error err = {{0}};
  int rc = fs_tensor_read_rows(m, t, 0, fs_tensor_rows(t), v, &err);
  ck_assert_msg(rc == 0, "read %s failed: %s", name, err.msg);
  return v;
}

static void expect_read_fail(const fs_model *m, const fs_tensor *t, int64_t r0,
                             int64_t r1, const char *reason) {
  fs_error err = {{0}};
  size_t n = (size_t)((r1 > r0 ? r1 - r0 : 1) * (fs_tensor_cols(t) > 0 ? fs_tensor_cols(t) : 1));
  double *v = malloc(n * sizeof *v);
  ck_assert_int_eq(fs_tensor_read_rows(m, t, r0, r1, v, &err), FS_ERR);
  free(v);
  char tn[300];
  snprintf(tn, sizeof tn, "tensor '%s'", t->name);
  ck_assert_msg(strstr(err.msg, m->path) != NULL, "message lacks the path: %s", err.msg);
  ck_assert_msg(strstr(err.msg, tn) != NULL, "message lacks the tensor: %s", err.msg);
  ck_assert_msg(strstr(err.msg, reason) != NULL, "expected '%s' in: %s", reason, err.msg);
}

/* Same value, same bits (distinguishes -0.0, keeps NaN out). */
static void assert_bits(double got, double want) {
  ck_assert_msg(memcmp(&got, &want, sizeof got) == 0, "got %.17g, want %.17g", got, want);
}

static uint64_t fnv1a(const unsigned char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot read %s", path);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *p = malloc(*n);
  ck_assert_uint_eq(fread(p, 1, *n, f), *n);
  fclose(f);
  return p;
}

/* ------------------------------------------------------------------------ */
/* Real files                                                               */

START_TEST(test_real_gguf) {
  fs_model m;
  fs_test_open_ok(fs_test_example(GGUF_REAL), &m);
  ck_assert_int_eq(m.format, FS_FMT_GGUF);
  ck_assert_str_eq(fs_format_name(m.format), "gguf");
  ck_assert_int_eq(m.ntensors, 48);
  ck_assert_uint_eq(m.file_size, 1185376);
  assert_shape(fs_model_find(&m, "blk.0.ffn_up.weight"), 2, 172, 64);
  assert_shape(fs_model_find(&m, "blk.0.ffn_gate.weight"), 2, 172, 64);
  assert_shape(fs_model_find(&m, "blk.0.ffn_down.weight"), 2, 64, 172);
  assert_shape(fs_model_find(&m, "blk.0.attn_q.weight"), 2, 64, 64);
  assert_shape(fs_model_find(&m, "blk.4.attn_k.weight"), 2, 32, 64);
  assert_shape(fs_model_find(&m, "blk.2.attn_v.weight"), 2, 32, 64);
  assert_shape(fs_model_find(&m, "token_embd.weight"), 2, 512, 64);
  assert_shape(fs_model_find(&m, "output_norm.weight"), 1, 64, 0);
  const fs_tensor *k = fs_model_find(&m, "blk.0.attn_k.weight");
  ck_assert_int_eq(fs_tensor_rows(k), 32);
  ck_assert_int_eq(fs_tensor_cols(k), 64);
  ck_assert_int_eq(k->dtype, FS_DT_F32);
  ck_assert_int_eq(k->in_out, 0);
  ck_assert_uint_eq(k->nbytes, 32 * 64 * 4);
  ck_assert_uint_eq(k->offset, GGUF_REAL_DATA_START + 278784);
  const fs_tensor *norm = fs_model_find(&m, "output_norm.weight");
  ck_assert_int_eq(fs_tensor_rows(norm), 1);
  ck_assert_int_eq(fs_tensor_cols(norm), 64);
  ck_assert_int_eq(fs_model_index(&m, "token_embd.weight"), 0);
  ck_assert_int_eq(fs_model_index(&m, "no.such"), -1);
  ck_assert_ptr_null(fs_model_find(&m, "no.such"));

  ck_assert_int_eq(m.nmeta, 19);
  ck_assert_str_eq(fs_model_meta(&m, "llama.attention.head_count"), "8");
  ck_assert_str_eq(fs_model_meta(&m, "llama.attention.head_count_kv"), "4");
  ck_assert_str_eq(fs_model_meta(&m, "llama.block_count"), "5");
  ck_assert_str_eq(fs_model_meta(&m, "general.architecture"), "llama");
  ck_assert_str_eq(fs_model_meta(&m, "tokenizer.ggml.tokens"), "[512 strings]");
  ck_assert_str_eq(fs_model_meta(&m, "tokenizer.ggml.scores"), "[512 float32]");
  ck_assert_str_eq(fs_model_meta(&m, "tokenizer.ggml.token_type"), "[512 int32]");
  ck_assert_str_eq(fs_model_meta(&m, "tokenizer.ggml.padding_token_id"), "4294967295");
  ck_assert_str_eq(fs_model_meta(&m, "llama.attention.layer_norm_rms_epsilon"),
                   "9.99999975e-06");
  ck_assert_ptr_null(fs_model_meta(&m, "no.such"));

  /* header checksum: FNV-1a of bytes [0, data start), computed here */
  size_t n;
  unsigned char *bytes = slurp(fs_test_example(GGUF_REAL), &n);
  ck_assert_uint_eq(m.header_checksum, fnv1a(bytes, GGUF_REAL_DATA_START));
  free(bytes);
  fs_model_close(&m);
  fs_model_close(&m); /* closing twice is harmless */
}
END_TEST

START_TEST(test_real_safetensors) {
  fs_model m;
  fs_test_open_ok(fs_test_example(ST_REAL), &m);
  ck_assert_int_eq(m.format, FS_FMT_SAFETENSORS);
  ck_assert_str_eq(fs_format_name(m.format), "safetensors");
  ck_assert_int_eq(m.ntensors, 48);
  assert_shape(fs_model_find(&m, "model.layers.0.mlp.up_proj.weight"), 2, 172, 64);
  assert_shape(fs_model_find(&m, "model.layers.0.mlp.down_proj.weight"), 2, 64, 172);
  assert_shape(fs_model_find(&m, "model.layers.3.self_attn.k_proj.weight"), 2, 32, 64);
  assert_shape(fs_model_find(&m, "model.layers.3.self_attn.q_proj.weight"), 2, 64, 64);
  assert_shape(fs_model_find(&m, "model.embed_tokens.weight"), 2, 512, 64);
  assert_shape(fs_model_find(&m, "lm_head.weight"), 2, 512, 64);
  assert_shape(fs_model_find(&m, "model.norm.weight"), 1, 64, 0);
  const fs_tensor *t = fs_model_find(&m, "model.layers.0.input_layernorm.weight");
  ck_assert_uint_eq(t->offset, 8 + 5000 + 262144);
  ck_assert_uint_eq(t->nbytes, 256);
  ck_assert_int_eq(t->dtype, FS_DT_F32);
  /* __metadata__ and the config.json next to the file */
  ck_assert_str_eq(fs_model_meta(&m, "format"), "pt");
  ck_assert_str_eq(fs_model_meta(&m, "config.num_attention_heads"), "8");
  ck_assert_str_eq(fs_model_meta(&m, "config.num_key_value_heads"), "4");
  ck_assert_str_eq(fs_model_meta(&m, "config.model_type"), "llama");
  ck_assert_str_eq(fs_model_meta(&m, "config.rms_norm_eps"), "1e-05");
  ck_assert_str_eq(fs_model_meta(&m, "config.tie_word_embeddings"), "true");
  ck_assert_ptr_null(fs_model_meta(&m, "config.architectures")); /* an array */

  size_t n;
  unsigned char *bytes = slurp(fs_test_example(ST_REAL), &n);
  ck_assert_uint_eq(m.header_checksum, fnv1a(bytes, 8 + 5000));
  free(bytes);
  fs_model_close(&m);
}
END_TEST

/* GGUF name -> Hugging Face name for block b. */
static const char *const pair_gguf[] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                        "ffn_gate", "ffn_up", "ffn_down", "attn_norm",
                                        "ffn_norm"};
static const char *const pair_hf[] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", "input_layernorm",
    "post_attention_layernorm"};

static void compare_tensors(const fs_model *g, const char *gn, const fs_model *s,
                            const char *sn) {
  const fs_tensor *tg = fs_model_find(g, gn), *ts = fs_model_find(s, sn);
  ck_assert_msg(tg && ts, "missing %s or %s", gn, sn);
  ck_assert_int_eq(tg->ndim, ts->ndim);
  for (int d = 0; d < tg->ndim; d++) ck_assert_int_eq(tg->shape[d], ts->shape[d]);
  double *a = read_all(g, gn), *b = read_all(s, sn);
  size_t n = (size_t)fs_tensor_numel(tg);
  ck_assert_msg(memcmp(a, b, n * sizeof *a) == 0, "%s != %s", gn, sn);
  /* a row sub-range is the same slice of the full read */
  int64_t rows = fs_tensor_rows(tg), cols = fs_tensor_cols(tg);
  int64_t r0 = rows / 3, r1 = rows > 1 ? rows - 1 : rows;
  double *part = malloc((size_t)((r1 - r0) * cols + 1) * sizeof *part);
  fs_error err = {{0}};
  ck_assert_msg(fs_tensor_read_rows(g, tg, r0, r1, part, &err) == 0, "%s", err.msg);
  ck_assert(memcmp(part, b + r0 * cols, (size_t)((r1 - r0) * cols) * sizeof *part) == 0);
  ck_assert_msg(fs_tensor_read_rows(s, ts, r0, r1, part, &err) == 0, "%s", err.msg);
  ck_assert(memcmp(part, a + r0 * cols, (size_t)((r1 - r0) * cols) * sizeof *part) == 0);
  free(a);
  free(b);
  free(part);
}

START_TEST(test_cross_format) {
  fs_model g, s;
  fs_test_open_ok(fs_test_example(GGUF_REAL), &g);
  fs_test_open_ok(fs_test_example(ST_REAL), &s);
  char gn[128], sn[128];
  for (int b = 0; b < 5; b++)
    for (size_t p = 0; p < sizeof pair_gguf / sizeof pair_gguf[0]; p++) {
      snprintf(gn, sizeof gn, "blk.%d.%s.weight", b, pair_gguf[p]);
      snprintf(sn, sizeof sn, "model.layers.%d.%s.weight", b, pair_hf[p]);
      compare_tensors(&g, gn, &s, sn);
    }
  compare_tensors(&g, "token_embd.weight", &s, "model.embed_tokens.weight");
  compare_tensors(&g, "output.weight", &s, "lm_head.weight");
  compare_tensors(&g, "output_norm.weight", &s, "model.norm.weight");
  fs_model_close(&g);
  fs_model_close(&s);
}
END_TEST

/* Orientation check from the model card: for layer 0, query head 0 (rows
 * 0..7 of attn_q, [out, in]) and its key/value head 0 (rows 0..7 of attn_k),
 * Wq_h^T Wk_h has rank 8 with top singular values ~1.51, 1.25, 1.07.  A
 * reader that confused rows and columns would slice other numbers. */
START_TEST(test_real_orientation) {
  fs_model g;
  fs_test_open_ok(fs_test_example(GGUF_REAL), &g);
  const fs_tensor *q = fs_model_find(&g, "blk.0.attn_q.weight"),
                  *k = fs_model_find(&g, "blk.0.attn_k.weight");
  static double wq[8 * 64], wk[8 * 64], prod[64 * 64], sv[64];
  fs_error err = {{0}};
  ck_assert_msg(fs_tensor_read_rows(&g, q, 0, 8, wq, &err) == 0, "%s", err.msg);
  ck_assert_msg(fs_tensor_read_rows(&g, k, 0, 8, wk, &err) == 0, "%s", err.msg);
  for (int i = 0; i < 64; i++)
    for (int j = 0; j < 64; j++) {
      double acc = 0;
      for (int r = 0; r < 8; r++) acc += wq[r * 64 + i] * wk[r * 64 + j];
      prod[i * 64 + j] = acc;
    }
  ck_assert_int_eq(fs_test_full_svd(prod, 64, 64, sv, NULL, NULL), 0);
  ck_assert_msg(fabs(sv[0] - 1.51) < 0.01 && fabs(sv[1] - 1.25) < 0.01 &&
                    fabs(sv[2] - 1.07) < 0.01,
                "singular values %g %g %g", sv[0], sv[1], sv[2]);
  ck_assert_msg(sv[7] > 0.1 && sv[8] < 1e-6 * sv[0], "rank: s8 %g s9 %g", sv[7], sv[8]);
  fs_model_close(&g);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Conversions                                                              */

START_TEST(test_half_conversions) {
  assert_bits(fs_f16_to_double(0x3C00), 1.0);
  assert_bits(fs_f16_to_double(0xC000), -2.0);
  assert_bits(fs_f16_to_double(0x0001), ldexp(1, -24));
  assert_bits(fs_f16_to_double(0x03FF), 1023 * ldexp(1, -24));
  assert_bits(fs_f16_to_double(0x0400), ldexp(1, -14));
  assert_bits(fs_f16_to_double(0x7BFF), 65504.0);
  assert_bits(fs_f16_to_double(0x3555), 0.333251953125);
  assert_bits(fs_f16_to_double(0x0000), 0.0);
  assert_bits(fs_f16_to_double(0x8000), -0.0);
  ck_assert(isinf(fs_f16_to_double(0x7C00)) && fs_f16_to_double(0x7C00) > 0);
  ck_assert(isinf(fs_f16_to_double(0xFC00)) && fs_f16_to_double(0xFC00) < 0);
  ck_assert(isnan(fs_f16_to_double(0x7E00)) && isnan(fs_f16_to_double(0x7C01)));
  assert_bits(fs_bf16_to_double(0x3F80), 1.0);
  assert_bits(fs_bf16_to_double(0xC000), -2.0);
  assert_bits(fs_bf16_to_double(0x4049), 3.140625);
  assert_bits(fs_bf16_to_double(0x0001), ldexp(1, -133));
  assert_bits(fs_bf16_to_double(0x8000), -0.0);
  ck_assert(isinf(fs_bf16_to_double(0x7F80)) && isinf(fs_bf16_to_double(0xFF80)));
  ck_assert(isnan(fs_bf16_to_double(0x7FC0)) && isnan(fs_bf16_to_double(0x7F81)));
  /* every bf16 is the top half of a binary32: compare all 65536 */
  for (uint32_t h = 0; h < 65536; h++) {
    uint32_t w = h << 16;
    float f;
    memcpy(&f, &w, 4);
    double d = fs_bf16_to_double((uint16_t)h);
    ck_assert_msg(isnan(f) ? isnan(d) : memcmp(&d, &(double){f}, 8) == 0, "bf16 %04x", h);
  }
  /* f16: strictly increasing over the finite positives, and odd */
  for (uint32_t h = 0; h < 0x7BFF; h++) {
    ck_assert(fs_f16_to_double((uint16_t)h) < fs_f16_to_double((uint16_t)(h + 1)));
    ck_assert(fs_f16_to_double((uint16_t)(h | 0x8000)) == -fs_f16_to_double((uint16_t)h));
  }
  ck_assert_uint_eq(fs_dtype_size(FS_DT_F64), 8);
  ck_assert_uint_eq(fs_dtype_size(FS_DT_F32), 4);
  ck_assert_uint_eq(fs_dtype_size(FS_DT_F16), 2);
  ck_assert_uint_eq(fs_dtype_size(FS_DT_BF16), 2);
  ck_assert_str_eq(fs_dtype_name(FS_DT_BF16), "BF16");
  ck_assert_str_eq(fs_dtype_name(FS_DT_F64), "F64");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Hand-built files with known values                                       */

/* a F64 [2,3], b F32 [3], c F16 [2,2], d BF16 [1,2], e F32 [0,4], f F32 [2,3,4] */
static char *write_st_dtypes(const char *name) {
  char *dir = fs_test_tmpdir(name), *path = fs_test_join(dir, "model.safetensors");
  fs_buf d = {0};
  for (int i = 1; i <= 6; i++) fs_buf_f64(&d, i == 5 ? 0.1 : i);     /* 0..48 */
  fs_buf_f32(&d, 0.1f); fs_buf_f32(&d, -3.5f); fs_buf_f32(&d, 1e-40f);      /* 48..60 */
  fs_buf_u16(&d, 0x3C00); fs_buf_u16(&d, 0xC000);                         /* 60..68 */
  fs_buf_u16(&d, 0x0001); fs_buf_u16(&d, 0x7BFF);
  fs_buf_u16(&d, 0x3F80); fs_buf_u16(&d, 0x4049);                         /* 68..72 */
  for (int i = 0; i < 24; i++) fs_buf_f32(&d, (float)i);               /* 72..168 */
  const char *json =
      "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"hand-built\"},"
      "\"a\":{\"dtype\":\"F64\",\"shape\":[2,3],\"data_offsets\":[0,48]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[48,60]},"
      "\"c\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[60,68]},"
      "\"d\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[68,72]},"
      "\"e\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[72,72]},"
      "\"f\":{\"dtype\":\"F32\",\"shape\":[2,3,4],\"data_offsets\":[72,168]}}   ";
  st_write(path, json, d.p, d.n);
  free(d.p);
  free(dir);
  return path;
}

START_TEST(test_st_dtypes) {
  char *path = write_st_dtypes("st_dtypes");
  fs_model m;
  fs_test_open_ok(path, &m);
  ck_assert_int_eq(m.ntensors, 6);
  ck_assert_str_eq(fs_model_meta(&m, "note"), "hand-built");
  ck_assert_int_eq(m.nmeta, 2); /* no config.json in this directory */
  double *a = read_all(&m, "a"), *b = read_all(&m, "b"), *c = read_all(&m, "c"),
         *d = read_all(&m, "d"), *f = read_all(&m, "f");
  for (int i = 0; i < 6; i++) assert_bits(a[i], i == 4 ? 0.1 : i + 1);
  assert_bits(b[0], (double)0.1f);
  assert_bits(b[1], -3.5);
  assert_bits(b[2], (double)1e-40f); /* a binary32 subnormal */
  assert_bits(c[0], 1.0);
  assert_bits(c[1], -2.0);
  assert_bits(c[2], ldexp(1, -24));
  assert_bits(c[3], 65504.0);
  assert_bits(d[0], 1.0);
  assert_bits(d[1], 3.140625);
  for (int i = 0; i < 24; i++) assert_bits(f[i], i);
  const fs_tensor *tf = fs_model_find(&m, "f"), *tb = fs_model_find(&m, "b"),
                  *te = fs_model_find(&m, "e"), *ta = fs_model_find(&m, "a");
  ck_assert_int_eq(fs_tensor_rows(tf), 2);
  ck_assert_int_eq(fs_tensor_cols(tf), 12);
  ck_assert_int_eq(fs_tensor_numel(tf), 24);
  ck_assert_int_eq(fs_tensor_rows(tb), 1);
  ck_assert_int_eq(fs_tensor_cols(tb), 3);
  ck_assert_int_eq(fs_tensor_numel(te), 0);
  ck_assert_int_eq(fs_tensor_rows(te), 0);
  ck_assert_str_eq(fs_dtype_name(fs_model_find(&m, "c")->dtype), "F16");
  /* one row of a, and an empty range */
  double row[3];
  fs_error err = {{0}};
  ck_assert_int_eq(fs_tensor_read_rows(&m, ta, 1, 2, row, &err), 0);
  assert_bits(row[0], 4.0);
  assert_bits(row[1], 0.1);
  assert_bits(row[2], 6.0);
  ck_assert_int_eq(fs_tensor_read_rows(&m, ta, 1, 1, row, &err), 0);
  ck_assert_int_eq(fs_tensor_read_rows(&m, te, 0, 0, row, &err), 0);
  /* bad ranges */
  expect_read_fail(&m, ta, 1, 3, "row range [1, 3) outside [0, 2)");
  expect_read_fail(&m, ta, -1, 1, "row range");
  expect_read_fail(&m, ta, 2, 1, "row range");
  free(a); free(b); free(c); free(d); free(f);
  fs_model_close(&m);
  free(path);
}
END_TEST

/* in_out: the bytes are the transpose of the [out, in] view.  Neither
 * format sets it, so a description is made by hand from the F64 tensor a
 * (stored [[1,2,3],[4,0.1,6]]) presented as its [3, 2] transpose. */
START_TEST(test_in_out_transpose) {
  char *path = write_st_dtypes("st_inout");
  fs_model m;
  fs_test_open_ok(path, &m);
  fs_tensor t = *fs_model_find(&m, "a");
  t.shape[0] = 3;
  t.shape[1] = 2;
  t.in_out = 1;
  ck_assert_int_eq(fs_tensor_rows(&t), 3);
  ck_assert_int_eq(fs_tensor_cols(&t), 2);
  double v[6];
  const double want[6] = {1, 4, 2, 0.1, 3, 6};
  fs_error err = {{0}};
  ck_assert_msg(fs_tensor_read_rows(&m, &t, 0, 3, v, &err) == 0, "%s", err.msg);
  for (int i = 0; i < 6; i++) assert_bits(v[i], want[i]);
  ck_assert_msg(fs_tensor_read_rows(&m, &t, 1, 3, v, &err) == 0, "%s", err.msg);
  for (int i = 0; i < 4; i++) assert_bits(v[i], want[2 + i]);
  /* a description that does not match its byte count is refused */
  t.shape[0] = 4;
  expect_read_fail(&m, &t, 0, 1, "inconsistent");
  fs_model_close(&m);
  free(path);
}
END_TEST

START_TEST(test_config_json) {
  char *dir = fs_test_tmpdir("cfg_ok"), *path = fs_test_join(dir, "w.safetensors"),
       *cfg = fs_test_join(dir, "config.json");
  float w[2] = {1, 2};
  st_write(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", w, 8);
  const char *text = "{\"num_attention_heads\": 8, \"hidden_act\": \"silu\", "
                     "\"rms_norm_eps\": 1e-06, \"initializer_range\": 0.02, "
                     "\"use_cache\": false, \"rope_scaling\": null, "
                     "\"architectures\": [\"X\"], \"sub\": {\"a\": 1}}";
  fs_test_write_file(cfg, text, strlen(text));
  fs_model m;
  fs_test_open_ok(path, &m);
  ck_assert_str_eq(fs_model_meta(&m, "config.num_attention_heads"), "8");
  ck_assert_str_eq(fs_model_meta(&m, "config.hidden_act"), "silu");
  ck_assert_str_eq(fs_model_meta(&m, "config.rms_norm_eps"), "1e-06");
  ck_assert_str_eq(fs_model_meta(&m, "config.initializer_range"), "0.02");
  ck_assert_str_eq(fs_model_meta(&m, "config.use_cache"), "false");
  ck_assert_ptr_null(fs_model_meta(&m, "config.rope_scaling"));
  ck_assert_ptr_null(fs_model_meta(&m, "config.architectures"));
  ck_assert_ptr_null(fs_model_meta(&m, "config.sub"));
  ck_assert_int_eq(m.nmeta, 5);
  fs_model_close(&m);
  /* a malformed config.json is an error that names it */
  const char *bad = "{\"num_attention_heads\": 8,";
  fs_test_write_file(cfg, bad, strlen(bad));
  fs_test_expect_open_fail(path, "config.json: invalid JSON");
  fs_test_write_file(cfg, "[1]", 3);
  fs_test_expect_open_fail(path, "config.json: not a JSON object");
  free(dir); free(path); free(cfg);
}
END_TEST

/* GGUF v3 with a value of every metadata type and tensors of every dtype. */
static char *write_gguf_dtypes(void) {
  char *path = tmp_path("dtypes.gguf");
  fs_buf b = {0};
  g_head(&b, 3, 4, 16);
  g_str(&b, "general.architecture"); fs_buf_u32(&b, 8); g_str(&b, "test");
  g_str(&b, "u8"); fs_buf_u32(&b, 0); fs_buf_u8(&b, 200);
  g_str(&b, "i8"); fs_buf_u32(&b, 1); fs_buf_u8(&b, 0xFB);
  g_str(&b, "u16"); fs_buf_u32(&b, 2); fs_buf_u16(&b, 65535);
  g_str(&b, "i16"); fs_buf_u32(&b, 3); fs_buf_u16(&b, 0x8000);
  g_str(&b, "u32"); fs_buf_u32(&b, 4); fs_buf_u32(&b, 4000000000u);
  g_str(&b, "i32"); fs_buf_u32(&b, 5); fs_buf_u32(&b, (uint32_t)-7);
  g_str(&b, "f32"); fs_buf_u32(&b, 6); fs_buf_f32(&b, 0.1f);
  g_str(&b, "bool"); fs_buf_u32(&b, 7); fs_buf_u8(&b, 1);
  g_str(&b, "u64"); fs_buf_u32(&b, 10); fs_buf_u64(&b, 9223372036854775809ull);
  g_str(&b, "i64"); fs_buf_u32(&b, 11); fs_buf_u64(&b, (uint64_t)INT64_MIN);
  g_str(&b, "f64"); fs_buf_u32(&b, 12); fs_buf_f64(&b, 0.1);
  g_str(&b, "ai32"); fs_buf_u32(&b, 9); fs_buf_u32(&b, 5); fs_buf_u64(&b, 3);
  fs_buf_u32(&b, 1); fs_buf_u32(&b, 2); fs_buf_u32(&b, 3);
  g_str(&b, "astr"); fs_buf_u32(&b, 9); fs_buf_u32(&b, 8); fs_buf_u64(&b, 2);
  g_str(&b, "a"); g_str(&b, "bc");
  g_str(&b, "anest"); fs_buf_u32(&b, 9); fs_buf_u32(&b, 9); fs_buf_u64(&b, 2);
  fs_buf_u32(&b, 0); fs_buf_u64(&b, 2); fs_buf_u8(&b, 1); fs_buf_u8(&b, 2);
  fs_buf_u32(&b, 8); fs_buf_u64(&b, 1); g_str(&b, "x");
  g_str(&b, "empty"); fs_buf_u32(&b, 8); g_str(&b, "");
  g_tensor(&b, "f32", 2, (uint64_t[]){3, 2}, 0, 0);   /* [2,3], 24 bytes */
  g_tensor(&b, "f16", 1, (uint64_t[]){4}, 1, 32);     /* [4], 8 bytes */
  g_tensor(&b, "bf16", 2, (uint64_t[]){2, 2}, 30, 64); /* [2,2], 8 bytes */
  g_tensor(&b, "f64", 3, (uint64_t[]){2, 1, 1}, 28, 96); /* [1,1,2] */
  fs_buf_pad(&b, 32);
  size_t data = b.n;
  for (int i = 1; i <= 6; i++) fs_buf_f32(&b, i == 2 ? 0.1f : (float)i);
  fs_buf_pad(&b, 32);
  fs_buf_u16(&b, 0x3C00); fs_buf_u16(&b, 0xC000); fs_buf_u16(&b, 0x0001); fs_buf_u16(&b, 0x7BFF);
  while (b.n < data + 64) fs_buf_u8(&b, 0);
  fs_buf_u16(&b, 0x3F80); fs_buf_u16(&b, 0xC000); fs_buf_u16(&b, 0x4049); fs_buf_u16(&b, 0x0001);
  while (b.n < data + 96) fs_buf_u8(&b, 0);
  fs_buf_f64(&b, 0.1); fs_buf_f64(&b, -1e300);
  write_buf(path, &b);
  return path;
}

START_TEST(test_gguf_dtypes) {
  char *path = write_gguf_dtypes();
  fs_model m;
  fs_test_open_ok(path, &m);
  ck_assert_int_eq(m.nmeta, 16);
  ck_assert_str_eq(fs_model_meta(&m, "general.architecture"), "test");
  ck_assert_str_eq(fs_model_meta(&m, "u8"), "200");
  ck_assert_str_eq(fs_model_meta(&m, "i8"), "-5");
  ck_assert_str_eq(fs_model_meta(&m, "u16"), "65535");
  ck_assert_str_eq(fs_model_meta(&m, "i16"), "-32768");
  ck_assert_str_eq(fs_model_meta(&m, "u32"), "4000000000");
  ck_assert_str_eq(fs_model_meta(&m, "i32"), "-7");
  ck_assert_str_eq(fs_model_meta(&m, "f32"), "0.100000001");
  ck_assert_str_eq(fs_model_meta(&m, "bool"), "true");
  ck_assert_str_eq(fs_model_meta(&m, "u64"), "9223372036854775809");
  ck_assert_str_eq(fs_model_meta(&m, "i64"), "-9223372036854775808");
  ck_assert_str_eq(fs_model_meta(&m, "f64"), "0.1");
  ck_assert_str_eq(fs_model_meta(&m, "ai32"), "[3 int32]");
  ck_assert_str_eq(fs_model_meta(&m, "astr"), "[2 strings]");
  ck_assert_str_eq(fs_model_meta(&m, "anest"), "[2 arrays]");
  ck_assert_str_eq(fs_model_meta(&m, "empty"), "");
  ck_assert_int_eq(m.ntensors, 4);
  assert_shape(fs_model_find(&m, "f32"), 2, 2, 3);
  assert_shape(fs_model_find(&m, "bf16"), 2, 2, 2);
  const fs_tensor *t64 = fs_model_find(&m, "f64");
  ck_assert_int_eq(t64->ndim, 3);
  ck_assert_int_eq(t64->shape[0], 1);
  ck_assert_int_eq(t64->shape[2], 2);
  ck_assert_int_eq(t64->dtype, FS_DT_F64);
  double *a = read_all(&m, "f32"), *h = read_all(&m, "f16"), *bf = read_all(&m, "bf16"),
         *d = read_all(&m, "f64");
  const double wa[6] = {1, (double)0.1f, 3, 4, 5, 6};
  for (int i = 0; i < 6; i++) assert_bits(a[i], wa[i]);
  assert_bits(h[0], 1.0);
  assert_bits(h[1], -2.0);
  assert_bits(h[2], ldexp(1, -24));
  assert_bits(h[3], 65504.0);
  assert_bits(bf[0], 1.0);
  assert_bits(bf[1], -2.0);
  assert_bits(bf[2], 3.140625);
  assert_bits(bf[3], ldexp(1, -133));
  assert_bits(d[0], 0.1);
  assert_bits(d[1], -1e300);
  free(a); free(h); free(bf); free(d);
  fs_model_close(&m);
  free(path);
}
END_TEST

/* v2, general.alignment 64: the data section moves to the next 64. */
START_TEST(test_gguf_v2_alignment) {
  char *path = tmp_path("v2align.gguf");
  fs_buf b = {0};
  g_head(&b, 2, 2, 1);
  g_str(&b, "general.alignment"); fs_buf_u32(&b, 4); fs_buf_u32(&b, 64);
  g_tensor(&b, "x", 1, (uint64_t[]){3}, 0, 0);
  g_tensor(&b, "y", 2, (uint64_t[]){2, 2}, 0, 64);
  size_t hdr = b.n;
  fs_buf_pad(&b, 64);
  size_t data = b.n;
  ck_assert_uint_gt(data - hdr, 0);
  fs_buf_f32(&b, 1); fs_buf_f32(&b, 2); fs_buf_f32(&b, 3);
  fs_buf_pad(&b, 64);
  for (int i = 0; i < 4; i++) fs_buf_f32(&b, 10.0f + (float)i);
  unsigned char *copy = malloc(b.n);
  memcpy(copy, b.p, b.n);
  write_buf(path, &b);
  fs_model m;
  fs_test_open_ok(path, &m);
  ck_assert_str_eq(fs_model_meta(&m, "general.alignment"), "64");
  ck_assert_uint_eq(fs_model_find(&m, "x")->offset, data);
  ck_assert_uint_eq(fs_model_find(&m, "y")->offset, data + 64);
  ck_assert_uint_eq(m.header_checksum, fnv1a(copy, data));
  double *y = read_all(&m, "y");
  for (int i = 0; i < 4; i++) assert_bits(y[i], 10 + i);
  free(y);
  free(copy);
  fs_model_close(&m);
  free(path);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Hostile and broken files                                                 */

START_TEST(test_bad_common) {
  char *p = tmp_path("missing.safetensors");
  fs_test_expect_open_fail(p, "cannot open");
  free(p);
  p = tmp_path("empty.gguf");
  fs_test_write_file(p, "", 0);
  fs_test_expect_open_fail(p, "empty file");
  free(p);
  p = tmp_path("short.safetensors");
  fs_test_write_file(p, "\x10\0\0\0\0", 5);
  fs_test_expect_open_fail(p, "too short");
  free(p);
  p = tmp_path("badmagic.gguf");
  fs_test_write_file(p, "GGUX\3\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24);
  fs_test_expect_open_fail(p, "no GGUF magic");
  free(p);
  p = fs_test_tmpdir("adir");
  fs_test_expect_open_fail(p, "not a regular file");
  free(p);
}
END_TEST

START_TEST(test_bad_st_length) {
  char *p = tmp_path("st_len.safetensors");
  fs_buf b = {0};
  fs_buf_u64(&b, 1000);
  fs_buf_put(&b, "{}", 2);
  write_buf(p, &b);
  fs_test_expect_open_fail(p, "header length 1000 exceeds the file");
  fs_buf_u64(&b, 1ull << 62);
  fs_buf_put(&b, "{\"a\":1}", 7);
  write_buf(p, &b);
  fs_test_expect_open_fail(p, "header length 4611686018427387904 exceeds the file");
  /* truncated: the length promises more JSON than there is */
  fs_buf_u64(&b, 20);
  fs_buf_put(&b, "{\"w\":{\"dt", 9);
  write_buf(p, &b);
  fs_test_expect_open_fail(p, "header length 20 exceeds the file");
  /* over the 100 MiB cap (a sparse file, so nothing is written) */
  uint64_t big = (100ull << 20) + 1;
  fs_buf_u64(&b, big);
  fs_buf_put(&b, "{", 1);
  write_buf(p, &b);
  ck_assert_int_eq(truncate(p, (off_t)(big + 64)), 0);
  fs_test_expect_open_fail(p, "exceeds the 100 MiB limit");
  unlink(p);
  free(p);
}
END_TEST

static const struct {
  const char *json;
  size_t data;
  const char *reason;
} st_bad[] = {
    {"{\"w\":{\"dtype\":\"F32\",", 0, "invalid JSON"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", 8, "invalid JSON"},
    {"{\"w\":1,\"w\":2}", 0, "invalid JSON"}, /* duplicate key */
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
     "tensor 'w': data_offsets [0, 8] past the end of the data section (4 bytes)"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 16,
     "tensor 'w': data_offsets end 0 < begin 8"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 16,
     "tensor 'w': data_offsets span 8 bytes but shape [3] of F32 needs 12"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 16,
     "tensor 'b': bytes [" /* ... overlap tensor 'a' */},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 16, "overlap tensor 'a'"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,0]}}", 0,
     "tensor 'w': negative dimension -2"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
     "\"data_offsets\":[0,0]}}", 0, "tensor 'w': shape [4294967296, 4294967296, 4294967296] overflows"},
    {"{\"w\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,0]}}",
     0, "overflows"}, /* numel fits int64, bytes do not */
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,0]}}",
     0, "invalid JSON"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8,
     "shape entry 0 is not an integer"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
     "9 dimensions"},
    {"{\"w\":{\"dtype\":\"F8_E8M0\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
     "unsupported dtype F8_E8M0 for tensor 'w'"},
    {"{\"w\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
     "unsupported dtype Q7 for tensor 'w'"},
    {"{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'w': missing or non-string"},
    {"{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "non-array \"shape\""},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
     "\"data_offsets\" is not [begin, end]"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4,
     "negative data_offsets"},
    {"{\"w\":5}", 0, "tensor 'w': entry is not a JSON object"},
    {"{\"__metadata__\":{\"a\":1}}", 0, "__metadata__ value of 'a' is not a string"},
    {"{\"__metadata__\":[]}", 0, "__metadata__ is not a JSON object"},
};

START_TEST(test_bad_st_header) {
  char *dir = fs_test_tmpdir("st_bad"), *p = fs_test_join(dir, "bad.safetensors");
  unsigned char zeros[32] = {0};
  for (size_t i = 0; i < sizeof st_bad / sizeof st_bad[0]; i++) {
    st_write(p, st_bad[i].json, zeros, st_bad[i].data);
    fs_test_expect_open_fail(p, st_bad[i].reason);
  }
  free(dir);
  free(p);
}
END_TEST

/* One bad GGUF: preamble (v3), then the caller's bytes. */
static void gguf_expect(const char *name, fs_buf *b, const char *reason) {
  char *p = tmp_path(name);
  write_buf(p, b);
  fs_test_expect_open_fail(p, reason);
  free(p);
}

/* A single F32 tensor of n elements at offset off with the given type. */
static void one_tensor(fs_buf *b, uint32_t nd, const uint64_t *dims, uint32_t type,
                       uint64_t off, size_t data) {
  g_head(b, 3, 1, 0);
  g_tensor(b, "w", nd, dims, type, off);
  fs_buf_pad(b, 32);
  for (size_t i = 0; i < data; i++) fs_buf_u8(b, 0);
}

START_TEST(test_bad_gguf_preamble) {
  fs_buf b = {0};
  g_head(&b, 1, 0, 0);
  gguf_expect("v1.gguf", &b, "unsupported GGUF version 1");
  g_head(&b, 4, 0, 0);
  gguf_expect("v4.gguf", &b, "unsupported GGUF version 4");
  g_head(&b, 0x03000000u, 0, 0);
  gguf_expect("be.gguf", &b, "big-endian GGUF");
  g_head(&b, 3, 1ull << 60, 0);
  gguf_expect("nt.gguf", &b, "tensor_count 1152921504606846976 cannot fit");
  g_head(&b, 3, 0, 1ull << 60);
  gguf_expect("nkv.gguf", &b, "metadata_kv_count 1152921504606846976 cannot fit");
  fs_buf_put(&b, "GGUF\3\0\0", 7);
  gguf_expect("cut.gguf", &b, "unexpected end of file at byte 4");
}
END_TEST

START_TEST(test_bad_gguf_metadata) {
  fs_buf b = {0};
  g_head(&b, 3, 0, 1);
  fs_buf_u64(&b, 1ull << 40);
  fs_buf_put(&b, "abcdefghijklmnop", 16);
  gguf_expect("keylen.gguf", &b,
              "metadata entry 0: key: string of 1099511627776 bytes at byte 24 runs past");
  g_head(&b, 3, 0, 1);
  g_str(&b, "k"); fs_buf_u32(&b, 8); fs_buf_u64(&b, 1ull << 40); fs_buf_u64(&b, 0);
  gguf_expect("vallen.gguf", &b, "metadata 'k': string of 1099511627776 bytes");
  g_head(&b, 3, 0, 1);
  g_str(&b, "k"); fs_buf_u32(&b, 13); fs_buf_u64(&b, 0);
  gguf_expect("vtype.gguf", &b, "metadata 'k': unknown value type 13");
  g_head(&b, 3, 0, 1);
  g_str(&b, "k"); fs_buf_u32(&b, 9); fs_buf_u32(&b, 4); fs_buf_u64(&b, 1ull << 62); fs_buf_u64(&b, 0);
  gguf_expect("acount.gguf", &b, "metadata 'k': array of 4611686018427387904 uint32");
  g_head(&b, 3, 0, 1);
  g_str(&b, "k"); fs_buf_u32(&b, 9); fs_buf_u32(&b, 8); fs_buf_u64(&b, 3); g_str(&b, "a");
  gguf_expect("astrcut.gguf", &b, "metadata 'k': array of 3 string");
  g_head(&b, 3, 0, 1);
  g_str(&b, "k"); fs_buf_u32(&b, 9); fs_buf_u32(&b, 42); fs_buf_u64(&b, 1); fs_buf_u64(&b, 0);
  gguf_expect("aetype.gguf", &b, "metadata 'k': unknown value type 42");
  g_head(&b, 3, 0, 1);
  g_str(&b, "k");
  fs_buf_u32(&b, 9); /* an array of arrays of arrays ... */
  for (int i = 0; i < 6; i++) { fs_buf_u32(&b, 9); fs_buf_u64(&b, 1); }
  for (int i = 0; i < 8; i++) fs_buf_u64(&b, 0);
  gguf_expect("nest.gguf", &b, "metadata 'k': arrays nested deeper than 4");
  g_head(&b, 3, 0, 1);
  g_str(&b, "k"); fs_buf_u32(&b, 7); fs_buf_u8(&b, 2);
  gguf_expect("bool.gguf", &b, "metadata 'k': invalid bool value 2");
  g_head(&b, 3, 0, 1);
  g_str(&b, "general.alignment"); fs_buf_u32(&b, 4); fs_buf_u32(&b, 24);
  gguf_expect("align24.gguf", &b, "alignment 24 is not a power of two");
  g_head(&b, 3, 0, 1);
  g_str(&b, "general.alignment"); fs_buf_u32(&b, 10); fs_buf_u64(&b, 32);
  gguf_expect("align64.gguf", &b, "has type uint64, expected uint32");
  g_head(&b, 3, 0, 2);
  g_str(&b, "k"); fs_buf_u32(&b, 4); fs_buf_u32(&b, 1);
  g_str(&b, "k"); fs_buf_u32(&b, 4); fs_buf_u32(&b, 2);
  gguf_expect("dupkey.gguf", &b, "metadata 'k': key appears twice");
}
END_TEST

START_TEST(test_bad_gguf_tensors) {
  fs_buf b = {0};
  uint64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  one_tensor(&b, 9, nine, 0, 0, 32);
  gguf_expect("ndims.gguf", &b, "tensor 'w': n_dims 9 exceeds 8");
  one_tensor(&b, 1, (uint64_t[]){4}, 0, 4, 64);
  gguf_expect("unaligned.gguf", &b, "tensor 'w': offset 4 is not a multiple of the alignment 32");
  one_tensor(&b, 1, (uint64_t[]){1000}, 0, 0, 32);
  gguf_expect("pastend.gguf", &b, "tensor 'w': data at offset 0 (4000 bytes) runs past the end");
  one_tensor(&b, 1, (uint64_t[]){4}, 0, 1ull << 63, 32);
  gguf_expect("hugeoff.gguf", &b, "runs past the end");
  one_tensor(&b, 1, (uint64_t[]){4}, 77, 0, 32);
  gguf_expect("type77.gguf", &b, "unknown GGUF tensor type 77 for tensor 'w'");
  one_tensor(&b, 2, (uint64_t[]){256, 4}, 15, 0, 1024);
  gguf_expect("q8k.gguf", &b, "unsupported GGUF tensor type Q8_K (15) for tensor 'w'");
  one_tensor(&b, 2, (uint64_t[]){1ull << 32, 1ull << 32}, 0, 0, 32);
  gguf_expect("dimovf.gguf", &b, "tensor 'w': shape [4294967296, 4294967296] overflows");
  one_tensor(&b, 1, (uint64_t[]){1ull << 63}, 0, 0, 32);
  gguf_expect("dimbig.gguf", &b, "tensor 'w': dimension 9223372036854775808 is too large");
  /* name cut short, dims cut short */
  g_head(&b, 3, 1, 0);
  fs_buf_u64(&b, 40); fs_buf_put(&b, "blk", 3);
  for (int i = 0; i < 24; i++) fs_buf_u8(&b, 0);
  gguf_expect("namecut.gguf", &b, "tensor info 0: name: string of 40 bytes");
  g_head(&b, 3, 1, 0);
  g_str(&b, "w"); fs_buf_u32(&b, 2); fs_buf_u64(&b, 4);
  fs_buf_u32(&b, 0); fs_buf_u32(&b, 0); fs_buf_u32(&b, 0);
  gguf_expect("dimcut.gguf", &b, "tensor 'w': unexpected end of file");
  /* two tensors: same name; overlapping bytes */
  g_head(&b, 3, 2, 0);
  g_tensor(&b, "w", 1, (uint64_t[]){8}, 0, 0);
  g_tensor(&b, "w", 1, (uint64_t[]){8}, 0, 32);
  fs_buf_pad(&b, 32);
  for (int i = 0; i < 64; i++) fs_buf_u8(&b, 0);
  gguf_expect("dupname.gguf", &b, "tensor 'w': name appears twice");
  g_head(&b, 3, 2, 0);
  g_tensor(&b, "a", 1, (uint64_t[]){16}, 0, 0);
  g_tensor(&b, "b", 1, (uint64_t[]){8}, 0, 32);
  fs_buf_pad(&b, 32);
  for (int i = 0; i < 64; i++) fs_buf_u8(&b, 0);
  gguf_expect("overlap.gguf", &b, "overlap tensor 'a'");
}
END_TEST

/* The real header cut at every 7th byte: never a crash, always a clean
 * error naming the file. */
START_TEST(test_gguf_truncated) {
  size_t n;
  unsigned char *bytes = slurp(fs_test_example(GGUF_REAL), &n);
  char *p = tmp_path("trunc.gguf");
  for (size_t len = 0; len <= GGUF_REAL_DATA_START; len += 7) {
    fs_test_write_file(p, bytes, len);
    fs_model m;
    fs_error err = {{0}};
    int rc = fs_model_open(p, &m, &err);
    ck_assert_msg(rc == FS_ERR, "truncated at %zu bytes but opened", len);
    ck_assert_msg(strstr(err.msg, p) != NULL, "at %zu: %s", len, err.msg);
    ck_assert_int_eq(m.ntensors, 0);
    fs_model_close(&m);
  }
  unlink(p);
  free(p);
  free(bytes);
}
END_TEST

START_TEST(test_nonfinite) {
  char *dir = fs_test_tmpdir("nonfinite"), *p = fs_test_join(dir, "nan.safetensors");
  fs_buf d = {0};
  for (int i = 0; i < 6; i++) fs_buf_f32(&d, i == 4 ? NAN : (float)i);
  fs_buf_u16(&d, 0x3C00); fs_buf_u16(&d, 0xFF80);
  st_write(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
              "\"h\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[24,28]}}",
           d.p, d.n);
  free(d.p);
  fs_model m;
  fs_test_open_ok(p, &m);
  const fs_tensor *w = fs_model_find(&m, "w"), *h = fs_model_find(&m, "h");
  expect_read_fail(&m, w, 0, 2, "non-finite value NaN at element 4 (row 1, column 1)");
  expect_read_fail(&m, w, 1, 2, "NaN at element 4");
  expect_read_fail(&m, h, 0, 1, "-Inf at element 1");
  double row[3];
  fs_error err = {{0}};
  ck_assert_int_eq(fs_tensor_read_rows(&m, w, 0, 1, row, &err), 0); /* row 0 is clean */
  fs_model_close(&m);

  char *g = tmp_path("inf.gguf");
  fs_buf b = {0};
  g_head(&b, 3, 1, 0);
  g_tensor(&b, "blk.0.attn_q.weight", 2, (uint64_t[]){2, 2}, 1, 0);
  fs_buf_pad(&b, 32);
  fs_buf_u16(&b, 0x3C00); fs_buf_u16(&b, 0x3C00); fs_buf_u16(&b, 0x3C00); fs_buf_u16(&b, 0x7C00);
  write_buf(g, &b);
  fs_test_open_ok(g, &m);
  expect_read_fail(&m, &m.tensors[0], 0, 2, "Inf at element 3 (row 1, column 1)");
  fs_model_close(&m);
  free(g); free(p); free(dir);
}
END_TEST

/* fs_tensor_read_block: a column block equals the same columns of whole
 * rows, per row from the file (F32 stored [out, in]) and through the
 * whole-row fallback (in_out); a NaN outside the block is not its concern,
 * one inside is named by the tensor's row and column; bad columns refused. */
START_TEST(test_read_block) {
  char *dir = fs_test_tmpdir("block"), *p = fs_test_join(dir, "b.safetensors");
  fs_buf d = {0};
  for (int i = 0; i < 5 * 12; i++) fs_buf_f32(&d, i == 2 * 12 + 10 ? NAN : (float)(i * 0.5 - 7));
  st_write(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[5,12],\"data_offsets\":[0,240]}}", d.p,
           d.n);
  free(d.p);
  fs_model m;
  fs_test_open_ok(p, &m);
  fs_tensor t = *fs_model_find(&m, "w");
  double blk[4 * 5];
  fs_error err = {{0}};
  ck_assert_msg(fs_tensor_read_block(&m, &t, 1, 5, 3, 8, blk, &err) == 0, "%s", err.msg);
  for (int i = 0; i < 4; i++)
    for (int c = 0; c < 5; c++) assert_bits(blk[i * 5 + c], (float)(((1 + i) * 12 + 3 + c) * 0.5 - 7));
  ck_assert_int_ne(fs_tensor_read_block(&m, &t, 0, 5, 8, 12, blk, &err), 0);
  ck_assert_msg(strstr(err.msg, "NaN at element 34 (row 2, column 10)") && strstr(err.msg, "'w'"),
                "%s", err.msg);
  ck_assert_int_ne(fs_tensor_read_block(&m, &t, 0, 1, 6, 13, blk, &err), 0);
  ck_assert_msg(strstr(err.msg, "outside the 12 columns"), "%s", err.msg);
  t.shape[0] = 12, t.shape[1] = 5, t.in_out = 1; /* the view [12, 5] of the stored [5, 12] */
  ck_assert_msg(fs_tensor_read_block(&m, &t, 3, 7, 1, 3, blk, &err) == 0, "%s", err.msg);
  for (int i = 0; i < 4; i++)
    for (int c = 0; c < 2; c++) assert_bits(blk[i * 2 + c], (float)(((1 + c) * 12 + 3 + i) * 0.5 - 7));
  fs_model_close(&m);
  free(p), free(dir);
}
END_TEST

/* A file that shrinks after open is caught on read, not read past. */
START_TEST(test_file_changed) {
  char *dir = fs_test_tmpdir("changed"), *p = fs_test_join(dir, "c.safetensors");
  float w[4] = {1, 2, 3, 4};
  st_write(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", w, 16);
  fs_model m;
  fs_test_open_ok(p, &m);
  ck_assert_int_eq(truncate(p, 20), 0);
  expect_read_fail(&m, &m.tensors[0], 0, 1, "file changed since it was opened");
  unlink(p);
  expect_read_fail(&m, &m.tensors[0], 0, 1, "cannot reopen");
  fs_model_close(&m);
  free(p); free(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *io_suite(void) {
  Suite *s = suite_create("io");
  TCase *real = tcase_create("real");
  tcase_add_test(real, test_real_gguf);
  tcase_add_test(real, test_real_safetensors);
  tcase_add_test(real, test_cross_format);
  tcase_add_test(real, test_real_orientation);
  tcase_set_timeout(real, 120);
  suite_add_tcase(s, real);
  TCase *values = tcase_create("values");
  tcase_add_test(values, test_half_conversions);
  tcase_add_test(values, test_st_dtypes);
  tcase_add_test(values, test_in_out_transpose);
  tcase_add_test(values, test_read_block);
  tcase_add_test(values, test_config_json);
  tcase_add_test(values, test_gguf_dtypes);
  tcase_add_test(values, test_gguf_v2_alignment);
  suite_add_tcase(s, values);
  TCase *bad = tcase_create("hostile");
  tcase_add_test(bad, test_bad_common);
  tcase_add_test(bad, test_bad_st_length);
  tcase_add_test(bad, test_bad_st_header);
  tcase_add_test(bad, test_bad_gguf_preamble);
  tcase_add_test(bad, test_bad_gguf_metadata);
  tcase_add_test(bad, test_bad_gguf_tensors);
  tcase_add_test(bad, test_gguf_truncated);
  tcase_add_test(bad, test_nonfinite);
  tcase_add_test(bad, test_file_changed);
  tcase_set_timeout(bad, 300);
  suite_add_tcase(s, bad);
  return s;
}

int main(void) { return fs_test_run(io_suite()); }
