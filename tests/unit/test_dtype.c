/*
 * test_dtype.c - element-type decoders (io/fs_dtype.c) and sharded
 * safetensors checkpoints (io/fs_safetensors_index.c).
 *
 * Expected values never come from flagscope itself:
 *   - F8: all 256 codes of E4M3 and E5M2 against tests/data/dtype/f8_table.f64,
 *     computed by tests/data/make_dtype.py from the OCP definition;
 *   - integers and F8 in safetensors: tests/data/dtype/dtypes.safetensors,
 *     whose "<name>.expected" F64 tensors numpy wrote next to each tensor;
 *   - block quantisation: hand-built blocks whose values this file computes
 *     from the documented formula, and tests/data/quant/quant.gguf, packed by
 *     tests/data/make_quant.py from logical values it also dequantised;
 *   - shards: tests/data/shards/ (make_shards.py) against the same tensors
 *     written to one reference file.
 * Hostile indexes are built here and must fail with one clear line.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_model.h"
#include "fs_testutil.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static void write_text(const char *path, const char *text) {
  fs_test_write_file(path, text, strlen(text));
}

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot read %s", path);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *p = malloc(*n ? *n : 1);
  ck_assert_uint_eq(fread(p, 1, *n, f), *n);
  fclose(f);
  return p;
}

static double *read_rows(const fs_model *m, const char *name, int64_t r0, int64_t r1) {
  const fs_tensor *t = fs_model_find(m, name);
  ck_assert_msg(t != NULL, "%s: no tensor %s", m->path, name);
  size_t n = (size_t)((r1 - r0) * fs_tensor_cols(t));
  double *v = malloc((n ? n : 1) * sizeof *v);
  fs_error err = {{0}};
  int rc = fs_tensor_read_rows(m, t, r0, r1, v, &err);
  ck_assert_msg(rc == 0, "read %s failed: %s", name, err.msg);
  return v;
}

static double *read_all(const fs_model *m, const char *name) {
  const fs_tensor *t = fs_model_find(m, name);
  ck_assert_msg(t != NULL, "%s: no tensor %s", m->path, name);
  return read_rows(m, name, 0, fs_tensor_rows(t));
}

/* Same value, same bits; two NaNs match (the F8 tables hold NaN codes). */
static void assert_same(double got, double want, const char *what, int i) {
  if (isnan(want)) {
    ck_assert_msg(isnan(got), "%s[%d]: got %.17g, want NaN", what, i, got);
    return;
  }
  ck_assert_msg(memcmp(&got, &want, sizeof got) == 0, "%s[%d]: got %.17g, want %.17g",
                what, i, got, want);
}

/* Decode n blocks of type t from bytes. */
static void decode(fs_dtype t, const unsigned char *src, size_t nblocks, double *dst) {
  const fs_dtype_info *info = fs_dtype_info_of(t);
  ck_assert_ptr_nonnull(info);
  ck_assert_ptr_nonnull(info->decode);
  info->decode(src, nblocks, dst);
}

/* f16 bits of a few exact values used below. */
#define H_ONE 0x3C00
#define H_HALF 0x3800
#define H_QUARTER 0x3400
#define H_TWO 0x4000
#define H_THREE 0x4200
#define H_MINUS_ONE 0xBC00

static void set16(unsigned char *p, uint16_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
}

/* ------------------------------------------------------------------------ */
/* The table                                                                */

/* Blocks and their bytes from the ggml block structs: sizes of the fields
 * (f16 = 2 bytes), summed here by hand. */
START_TEST(test_table_layout) {
  static const struct { fs_dtype t; const char *name; int block, bytes; } want[] = {
      {FS_DT_F8_E4M3, "F8_E4M3", 1, 1}, {FS_DT_F8_E5M2, "F8_E5M2", 1, 1},
      {FS_DT_I8, "I8", 1, 1},           {FS_DT_U8, "U8", 1, 1},
      {FS_DT_I16, "I16", 1, 2},         {FS_DT_U16, "U16", 1, 2},
      {FS_DT_I32, "I32", 1, 4},         {FS_DT_I64, "I64", 1, 8},
      {FS_DT_Q8_0, "Q8_0", 32, 2 + 32}, {FS_DT_Q4_0, "Q4_0", 32, 2 + 16},
      {FS_DT_Q4_1, "Q4_1", 32, 2 + 2 + 16}, {FS_DT_Q5_0, "Q5_0", 32, 2 + 4 + 16},
      {FS_DT_Q5_1, "Q5_1", 32, 2 + 2 + 4 + 16},
      {FS_DT_Q2_K, "Q2_K", 256, 16 + 64 + 2 + 2},       /* scales, qs, d, dmin */
      {FS_DT_Q3_K, "Q3_K", 256, 32 + 64 + 12 + 2},      /* hmask, qs, scales, d */
      {FS_DT_Q4_K, "Q4_K", 256, 2 + 2 + 12 + 128},      /* d, dmin, scales, qs */
      {FS_DT_Q5_K, "Q5_K", 256, 2 + 2 + 12 + 32 + 128}, /* ... qh, qs */
      {FS_DT_Q6_K, "Q6_K", 256, 128 + 64 + 16 + 2},     /* ql, qh, scales, d */
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    const fs_dtype_info *info = fs_dtype_info_of(want[i].t);
    ck_assert_str_eq(info->name, want[i].name);
    ck_assert_int_eq(info->block, want[i].block);
    ck_assert_int_eq(info->bytes, want[i].bytes);
    ck_assert(fs_dtype_supported(want[i].t));
    ck_assert_int_eq(fs_dtype_from_name(want[i].name), want[i].t);
  }
  for (int t = 0; t < FS_DT_COUNT; t++) ck_assert(fs_dtype_supported((fs_dtype)t));
  uint64_t nb;
  ck_assert_int_eq(fs_dtype_nbytes(FS_DT_Q6_K, 512, &nb), 0);
  ck_assert_uint_eq(nb, 420);
  ck_assert_int_eq(fs_dtype_nbytes(FS_DT_Q6_K, 100, &nb), -1);
  ck_assert_uint_eq(fs_dtype_size(FS_DT_Q8_0), 0);
  ck_assert_uint_eq(fs_dtype_size(FS_DT_I64), 8);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 8-bit floats and integers                                                */

START_TEST(test_f8_all_codes) {
  size_t n;
  unsigned char *raw = slurp(fs_test_data("dtype/f8_table.f64"), &n);
  ck_assert_uint_eq(n, 512 * 8);
  double want[512], got[512];
  for (int i = 0; i < 512; i++) {
    uint64_t u = 0;
    for (int k = 7; k >= 0; k--) u = (u << 8) | raw[8 * i + k];
    memcpy(&want[i], &u, 8);
  }
  free(raw);
  unsigned char codes[256];
  for (int c = 0; c < 256; c++) codes[c] = (unsigned char)c;
  decode(FS_DT_F8_E4M3, codes, 256, got);
  decode(FS_DT_F8_E5M2, codes, 256, got + 256);
  for (int c = 0; c < 256; c++) {
    assert_same(got[c], want[c], "E4M3", c);
    assert_same(got[256 + c], want[256 + c], "E5M2", c);
  }
  /* landmarks of the definition, written out */
  assert_same(got[0x7e], 448, "E4M3 max", 0x7e);
  assert_same(got[0xfe], -448, "E4M3 min", 0xfe);
  assert_same(got[0x01], ldexp(1, -9), "E4M3 smallest subnormal", 1);
  assert_same(got[0x08], ldexp(1, -6), "E4M3 smallest normal", 8);
  assert_same(got[0x38], 1.0, "E4M3 one", 0x38);
  assert_same(got[0x80], -0.0, "E4M3 -0", 0x80);
  ck_assert(isnan(got[0x7f]) && isnan(got[0xff]));
  ck_assert(!isnan(got[0x78]) && !isinf(got[0x78])); /* S.1111.000 = 256 */
  assert_same(got[256 + 0x7b], 57344, "E5M2 max", 0x7b);
  assert_same(got[256 + 0x01], ldexp(1, -16), "E5M2 smallest", 1);
  assert_same(got[256 + 0x3c], 1.0, "E5M2 one", 0x3c);
  ck_assert(isinf(got[256 + 0x7c]) && got[256 + 0x7c] > 0);
  ck_assert(isinf(got[256 + 0xfc]) && got[256 + 0xfc] < 0);
  ck_assert(isnan(got[256 + 0x7d]) && isnan(got[256 + 0xff]));
}
END_TEST

START_TEST(test_integer_extremes) {
  double d[4];
  const unsigned char i8[] = {0x80, 0xff, 0x7f, 0x00};
  decode(FS_DT_I8, i8, 4, d);
  assert_same(d[0], -128, "I8", 0);
  assert_same(d[1], -1, "I8", 1);
  assert_same(d[2], 127, "I8", 2);
  decode(FS_DT_U8, i8, 4, d);
  assert_same(d[0], 128, "U8", 0);
  assert_same(d[1], 255, "U8", 1);
  const unsigned char i16[] = {0x00, 0x80, 0xff, 0x7f, 0xfe, 0xff};
  decode(FS_DT_I16, i16, 3, d);
  assert_same(d[0], -32768, "I16", 0);
  assert_same(d[1], 32767, "I16", 1);
  assert_same(d[2], -2, "I16", 2);
  decode(FS_DT_U16, i16, 3, d);
  assert_same(d[0], 32768, "U16", 0);
  assert_same(d[2], 65534, "U16", 2);
  const unsigned char i32[] = {0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0x7f};
  decode(FS_DT_I32, i32, 2, d);
  assert_same(d[0], -2147483648.0, "I32", 0);
  assert_same(d[1], 2147483647.0, "I32", 1);
  /* I64: exact up to 2^53; beyond, round to nearest, ties to even */
  unsigned char i64[32];
  const uint64_t v[4] = {(uint64_t)1 << 63, ((uint64_t)1 << 53) + 1,
                         ((uint64_t)1 << 53) + 3, ((uint64_t)1 << 63) - 1};
  for (int k = 0; k < 4; k++)
    for (int b = 0; b < 8; b++) i64[8 * k + b] = (unsigned char)(v[k] >> (8 * b));
  decode(FS_DT_I64, i64, 4, d);
  assert_same(d[0], -ldexp(1, 63), "I64", 0);
  assert_same(d[1], ldexp(1, 53), "I64", 1);     /* tie: down to even */
  assert_same(d[2], ldexp(1, 53) + 4, "I64", 2); /* tie: up to even */
  assert_same(d[3], ldexp(1, 63), "I64", 3);
}
END_TEST

/* numpy wrote each tensor and its F64 expectation into the same file. */
START_TEST(test_st_new_dtypes) {
  static const char *const names[] = {"f8_e4m3", "f8_e5m2", "i8", "u8",
                                      "i16",     "u16",     "i32", "i64"};
  static const char *const dts[] = {"F8_E4M3", "F8_E5M2", "I8", "U8",
                                    "I16",     "U16",     "I32", "I64"};
  fs_model m;
  fs_test_open_ok(fs_test_data("dtype/dtypes.safetensors"), &m);
  ck_assert_int_eq(m.format, FS_FMT_SAFETENSORS);
  ck_assert_int_eq(m.ntensors, 16);
  for (int k = 0; k < 8; k++) {
    char ename[64];
    snprintf(ename, sizeof ename, "%s.expected", names[k]);
    const fs_tensor *t = fs_model_find(&m, names[k]);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(fs_dtype_name(t->dtype), dts[k]);
    int n = (int)fs_tensor_numel(t);
    ck_assert_int_gt(n, 15);
    double *got = read_all(&m, names[k]), *want = read_all(&m, ename);
    for (int i = 0; i < n; i++) assert_same(got[i], want[i], names[k], i);
    /* the last row alone */
    int64_t rows = fs_tensor_rows(t), cols = fs_tensor_cols(t);
    double *last = read_rows(&m, names[k], rows - 1, rows);
    for (int64_t i = 0; i < cols; i++)
      assert_same(last[i], want[(rows - 1) * cols + i], names[k], (int)i);
    free(got);
    free(want);
    free(last);
  }
  fs_model_close(&m);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Hand-built blocks: chosen scales and quants, values from the formula     */

START_TEST(test_q8_0_block) {
  unsigned char b[34];
  double y[32];
  set16(b, H_HALF);
  for (int j = 0; j < 32; j++) b[2 + j] = (unsigned char)(int8_t)(j - 16);
  b[2 + 0] = 0x80; /* -128 */
  b[2 + 31] = 0x7f;
  decode(FS_DT_Q8_0, b, 1, y);
  for (int j = 1; j < 31; j++) assert_same(y[j], 0.5 * (j - 16), "Q8_0", j);
  assert_same(y[0], -64, "Q8_0", 0);
  assert_same(y[31], 63.5, "Q8_0", 31);
}
END_TEST

/* Element j in the low nibble of byte j, element j + 16 in its high one. */
START_TEST(test_q4_blocks) {
  unsigned char b[20];
  double y[32];
  set16(b, H_TWO);
  for (int j = 0; j < 16; j++) b[2 + j] = (unsigned char)(j | (15 - j) << 4);
  decode(FS_DT_Q4_0, b, 1, y);
  for (int j = 0; j < 16; j++) {
    assert_same(y[j], 2.0 * (j - 8), "Q4_0 low", j);
    assert_same(y[j + 16], 2.0 * (15 - j - 8), "Q4_0 high", j);
  }
  set16(b, H_QUARTER);
  set16(b + 2, H_MINUS_ONE);
  for (int j = 0; j < 16; j++) b[4 + j] = (unsigned char)(j | (15 - j) << 4);
  decode(FS_DT_Q4_1, b, 1, y);
  for (int j = 0; j < 16; j++) {
    assert_same(y[j], 0.25 * j - 1, "Q4_1 low", j);
    assert_same(y[j + 16], 0.25 * (15 - j) - 1, "Q4_1 high", j);
  }
}
END_TEST

/* The fifth bit of element j is bit j of the little-endian u32 qh. */
START_TEST(test_q5_blocks) {
  unsigned char b[24];
  double y[32];
  const uint32_t qh = 0x8000A001u; /* elements 0, 13, 15, 31 */
  set16(b, H_ONE);
  for (int k = 0; k < 4; k++) b[2 + k] = (unsigned char)(qh >> (8 * k));
  for (int j = 0; j < 16; j++) b[6 + j] = (unsigned char)(j | (15 - j) << 4);
  decode(FS_DT_Q5_0, b, 1, y);
  for (int j = 0; j < 32; j++) {
    int q = (j < 16 ? j : 31 - j) + (int)((qh >> j) & 1) * 16;
    assert_same(y[j], q - 16.0, "Q5_0", j);
  }
  assert_same(y[0], 0, "Q5_0", 0);
  assert_same(y[31], 0, "Q5_0", 31);
  assert_same(y[13], 13, "Q5_0", 13);
  assert_same(y[30], -15, "Q5_0", 30);
  set16(b, H_HALF);
  set16(b + 2, H_THREE);
  for (int k = 0; k < 4; k++) b[4 + k] = (unsigned char)(qh >> (8 * k));
  for (int j = 0; j < 16; j++) b[8 + j] = (unsigned char)(j | (15 - j) << 4);
  decode(FS_DT_Q5_1, b, 1, y);
  for (int j = 0; j < 32; j++) {
    int q = (j < 16 ? j : 31 - j) + (int)((qh >> j) & 1) * 16;
    assert_same(y[j], 0.5 * q + 3, "Q5_1", j);
  }
}
END_TEST

/* Q2_K: qs bytes 0xE4 hold 0,1,2,3 in bit pairs 0..3, so element
 * 128h + 32j + l has q = j; scale byte k = sc | mn << 4 for the k-th 16. */
START_TEST(test_q2_k_block) {
  unsigned char b[84];
  double y[256];
  memset(b, 0x21, 16); /* sc 1, mn 2 */
  b[5] = 0x3f;         /* sub-block 5 (elements 80..95, j = 2): sc 15, mn 3 */
  memset(b + 16, 0xE4, 64);
  set16(b + 80, H_ONE);
  set16(b + 82, H_HALF);
  decode(FS_DT_Q2_K, b, 1, y);
  for (int i = 0; i < 256; i++) {
    int j = (i % 128) / 32;
    double want = i / 16 == 5 ? 15.0 * j - 1.5 : 1.0 * j - 1.0;
    assert_same(y[i], want, "Q2_K", i);
  }
  assert_same(y[80], 28.5, "Q2_K", 80);
}
END_TEST

/* Q3_K: zero scale bytes mean scale -32 everywhere; hmask bit set means
 * q = low 2 bits, clear means low 2 bits - 4. */
START_TEST(test_q3_k_block) {
  unsigned char b[110];
  double y[256];
  memset(b, 0xff, 32);      /* hmask */
  memset(b + 32, 0xE5, 64); /* low bits 1, 1, 2, 3 for j = 0..3 */
  memset(b + 96, 0, 12);
  set16(b + 108, H_HALF);
  decode(FS_DT_Q3_K, b, 1, y);
  static const int low[4] = {1, 1, 2, 3};
  for (int i = 0; i < 256; i++) assert_same(y[i], 0.5 * -32 * low[(i % 128) / 32], "Q3_K", i);
  b[3] &= (unsigned char)~(1u << 6); /* element 128 + 64 + 3: h 1, j 2 -> bit 6 */
  b[96 + 8] = 0x03;                  /* top bits of scale 0: 48 - 32 = 16 */
  b[96 + 0] = 0x50;                  /* low nibble of scale 8: 5 -> 5 - 32 */
  b[96 + 11] = 0x80;                 /* top bits of scale 15 (bits 6-7): 32 - 32 */
  decode(FS_DT_Q3_K, b, 1, y);
  assert_same(y[0], 0.5 * 16 * 1, "Q3_K", 0);
  assert_same(y[15], 0.5 * 16 * 1, "Q3_K", 15);
  assert_same(y[16], 0.5 * -32 * 1, "Q3_K", 16);
  assert_same(y[128], 0.5 * -27 * 1, "Q3_K", 128);
  assert_same(y[195], 0.5 * -32 * (2 - 4), "Q3_K", 195);
  assert_same(y[194], 0.5 * -32 * 2, "Q3_K", 194);
  assert_same(y[255], 0.0, "Q3_K", 255);
  assert_same(y[239], 0.5 * -32 * 3, "Q3_K", 239);
}
END_TEST

/* Q4_K/Q5_K scales: bytes 0 = 0x45 and 4 = 0x83 give (sc, mn) = (5, 3) for
 * sub-block 0 and, with byte 8 = 0x21, (1 | 1 << 4, 2 | 2 << 4) = (17, 34)
 * for sub-block 4; every other pair is (0, 0). */
static void k_scales(unsigned char *p) {
  memset(p, 0, 12);
  p[0] = 0x45;
  p[4] = 0x83;
  p[8] = 0x21;
}

static double k_want(int i, int q) {
  int sub = i / 32;
  return sub == 0 ? 5.0 * q - 0.5 * 3 : sub == 4 ? 17.0 * q - 0.5 * 34 : 0.0;
}

START_TEST(test_q4_k_block) {
  unsigned char b[144];
  double y[256];
  set16(b, H_ONE);
  set16(b + 2, H_HALF);
  k_scales(b + 4);
  memset(b + 16, 0x97, 128); /* low nibble 7, high 9 */
  decode(FS_DT_Q4_K, b, 1, y);
  for (int i = 0; i < 256; i++)
    assert_same(y[i], k_want(i, (i % 64) < 32 ? 7 : 9), "Q4_K", i);
  assert_same(y[0], 33.5, "Q4_K", 0);
  assert_same(y[128], 102, "Q4_K", 128);
}
END_TEST

START_TEST(test_q5_k_block) {
  unsigned char b[176];
  double y[256];
  set16(b, H_ONE);
  set16(b + 2, H_HALF);
  k_scales(b + 4);
  memset(b + 16, 0, 32);
  b[16 + 3] = 0x11; /* bits 0 and 4: elements 3 (sub 0) and 128 + 3 (sub 4) */
  memset(b + 48, 0x97, 128);
  decode(FS_DT_Q5_K, b, 1, y);
  for (int i = 0; i < 256; i++) {
    int q = ((i % 64) < 32 ? 7 : 9) + ((i == 3 || i == 131) ? 16 : 0);
    assert_same(y[i], k_want(i, q), "Q5_K", i);
  }
  assert_same(y[3], 5.0 * 23 - 1.5, "Q5_K", 3);
}
END_TEST

/* Q6_K: ql bytes 0x21 give low nibble 1 (r = 0, 1) or 2 (r = 2, 3); signed
 * scales k - 8 for the k-th 16 elements. */
START_TEST(test_q6_k_block) {
  unsigned char b[210];
  double y[256];
  memset(b, 0x21, 128);
  memset(b + 128, 0, 64);
  b[128 + 5] = 0xC0; /* top bits of element 96 + 5 (h 0, r 3): 3 */
  for (int k = 0; k < 16; k++) b[192 + k] = (unsigned char)(int8_t)(k - 8);
  set16(b + 208, H_HALF);
  decode(FS_DT_Q6_K, b, 1, y);
  for (int i = 0; i < 256; i++) {
    int r = (i % 128) / 32, q = (r < 2 ? 1 : 2) + (i == 101 ? 48 : 0);
    assert_same(y[i], 0.5 * (i / 16 - 8) * (q - 32), "Q6_K", i);
  }
  assert_same(y[101], -18, "Q6_K", 101);
  assert_same(y[0], 0.5 * -8 * -31, "Q6_K", 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Round trip through a simple reference quantiser written here             */

/* The f16 nearest to v >= 0 at or above it (normal range only): its bits,
 * and its value through *out. */
static uint16_t f16_ceil(double v, double *out) {
  int e;
  frexp(v, &e); /* v = f * 2^e, f in [0.5, 1) */
  e -= 1;       /* v = g * 2^e, g in [1, 2) */
  ck_assert_int_ge(e, -14);
  ck_assert_int_le(e, 15);
  double m = ceil(ldexp(v, 10 - e)); /* 1024 <= m <= 2048 */
  if (m == 2048) {
    m = 1024;
    e++;
  }
  *out = ldexp(m, e - 10);
  return (uint16_t)((e + 15) << 10 | ((int)m - 1024));
}

/* Q8_0: d = max|x| / 127 (rounded up to an f16), q = round(x / d). */
START_TEST(test_q8_0_round_trip) {
  enum { NB = 8 };
  unsigned char blocks[NB * 34];
  double x[NB * 32], y[NB * 32], d[NB];
  int q[NB * 32];
  fs_test_seed(42);
  for (int b = 0; b < NB; b++) {
    double amax = 0;
    for (int j = 0; j < 32; j++) {
      x[32 * b + j] = 3 * fs_test_uniform() * (b + 1);
      amax = fmax(amax, fabs(x[32 * b + j]));
    }
    set16(blocks + 34 * b, f16_ceil(amax / 127, &d[b]));
    for (int j = 0; j < 32; j++) {
      q[32 * b + j] = (int)lround(x[32 * b + j] / d[b]);
      ck_assert_int_le(abs(q[32 * b + j]), 127);
      blocks[34 * b + 2 + j] = (unsigned char)(int8_t)q[32 * b + j];
    }
  }
  decode(FS_DT_Q8_0, blocks, NB, y);
  for (int i = 0; i < NB * 32; i++) {
    assert_same(y[i], d[i / 32] * q[i], "Q8_0 round trip", i);
    ck_assert_double_le(fabs(y[i] - x[i]), d[i / 32] / 2 * (1 + 1e-12));
  }
}
END_TEST

/* Q4_1: m = min x (an f16 at or below it), d = (max - m) / 15 rounded up,
 * q = round((x - m) / d) in [0, 15]. */
START_TEST(test_q4_1_round_trip) {
  enum { NB = 8 };
  unsigned char blocks[NB * 20];
  double x[NB * 32], y[NB * 32], d[NB], m[NB];
  int q[NB * 32];
  fs_test_seed(7);
  for (int b = 0; b < NB; b++) {
    double lo = INFINITY, hi = -INFINITY;
    for (int j = 0; j < 32; j++) {
      x[32 * b + j] = 1 + fs_test_uniform() * 0.5; /* positive: m > 0 */
      lo = fmin(lo, x[32 * b + j]);
      hi = fmax(hi, x[32 * b + j]);
    }
    /* the f16 at or below lo: one step under the ceiling unless exact */
    uint16_t mb = f16_ceil(lo, &m[b]);
    if (m[b] > lo) mb--, m[b] = fs_f16_to_double(mb);
    set16(blocks + 20 * b + 2, mb);
    set16(blocks + 20 * b, f16_ceil((hi - m[b]) / 15, &d[b]));
    for (int j = 0; j < 16; j++) blocks[20 * b + 4 + j] = 0;
    for (int j = 0; j < 32; j++) {
      int v = (int)lround((x[32 * b + j] - m[b]) / d[b]);
      ck_assert(v >= 0 && v <= 15);
      q[32 * b + j] = v;
      blocks[20 * b + 4 + j % 16] |= (unsigned char)(v << (j < 16 ? 0 : 4));
    }
  }
  decode(FS_DT_Q4_1, blocks, NB, y);
  for (int i = 0; i < NB * 32; i++) {
    assert_same(y[i], d[i / 32] * q[i] + m[i / 32], "Q4_1 round trip", i);
    ck_assert_double_le(fabs(y[i] - x[i]), d[i / 32] / 2 * (1 + 1e-9));
  }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Round trip through a GGUF file packed by an independent writer           */

static const char *const quant_names[] = {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
                                          "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"};

START_TEST(test_quant_gguf) {
  fs_model m;
  fs_test_open_ok(fs_test_data("quant/quant.gguf"), &m);
  ck_assert_int_eq(m.format, FS_FMT_GGUF);
  ck_assert_int_eq(m.ntensors, 20);
  for (int k = 0; k < 10; k++) {
    char ename[32];
    snprintf(ename, sizeof ename, "%s.expected", quant_names[k]);
    const fs_tensor *t = fs_model_find(&m, quant_names[k]);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(fs_dtype_name(t->dtype), quant_names[k]);
    int64_t rows = fs_tensor_rows(t), cols = fs_tensor_cols(t);
    ck_assert_int_eq(rows, k < 5 ? 3 : 2);
    ck_assert_int_eq(cols, k < 5 ? 96 : 512);
    double *got = read_all(&m, quant_names[k]), *want = read_all(&m, ename);
    for (int64_t i = 0; i < rows * cols; i++) assert_same(got[i], want[i], quant_names[k], (int)i);
    /* sub-ranges: the last row, and the rows after the first */
    double *last = read_rows(&m, quant_names[k], rows - 1, rows);
    double *tail = read_rows(&m, quant_names[k], 1, rows);
    for (int64_t i = 0; i < cols; i++)
      assert_same(last[i], want[(rows - 1) * cols + i], quant_names[k], (int)i);
    for (int64_t i = 0; i < (rows - 1) * cols; i++)
      assert_same(tail[i], want[cols + i], quant_names[k], (int)i);
    free(got); free(want); free(last); free(tail);
  }
  fs_model_close(&m);
}
END_TEST

/* A block-quantised tensor whose rows are not whole blocks: the bytes are a
 * whole number of blocks (so the header is accepted) but no row can be
 * decoded on its own. */
static void g_str(fs_buf *b, const char *s) {
  fs_buf_le(b, strlen(s), 8);
  fs_buf_put(b, s, strlen(s));
}

START_TEST(test_quant_partial_rows) {
  char *path = strdup(fs_test_tmpfile("partial.gguf"));
  fs_buf b = {0};
  fs_buf_put(&b, "GGUF", 4);
  fs_buf_le(&b, 3, 4);
  fs_buf_le(&b, 2, 8); /* tensors */
  fs_buf_le(&b, 0, 8); /* metadata */
  g_str(&b, "q8"); /* ne = [16, 4]: rows of 16 of a 32-element block */
  fs_buf_le(&b, 2, 4); fs_buf_le(&b, 16, 8); fs_buf_le(&b, 4, 8); fs_buf_le(&b, 8, 4); fs_buf_le(&b, 0, 8);
  g_str(&b, "q4k"); /* 300 elements: not a whole number of 256-blocks */
  fs_buf_le(&b, 1, 4); fs_buf_le(&b, 300, 8); fs_buf_le(&b, 12, 4); fs_buf_le(&b, 96, 8);
  while (b.n % 32) fs_buf_le(&b, 0, 1);
  for (int i = 0; i < 2 * 34; i++) fs_buf_le(&b, 0, 1);
  fs_test_write_file(path, b.p, b.n);
  fs_test_expect_open_fail(path, "tensor 'q4k': shape [300] overflows or splits a block");
  /* without the bad tensor the file opens; the partial rows are refused */
  b.p[8] = 1; /* tensor_count */
  size_t n = b.n;
  fs_test_write_file(path, b.p, n);
  fs_model m;
  fs_test_open_ok(path, &m);
  const fs_tensor *t = fs_model_find(&m, "q8");
  ck_assert_int_eq(fs_tensor_cols(t), 16);
  double v[64];
  fs_error err = {{0}};
  ck_assert_int_eq(fs_tensor_read_rows(&m, t, 0, 2, v, &err), FS_ERR);
  ck_assert_msg(strstr(err.msg, "tensor 'q8'") &&
                    strstr(err.msg, "Q8_0 rows of 16 elements are not whole blocks of 32"),
                "%s", err.msg);
  fs_model_close(&m);
  free(b.p);
  free(path);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Sharded safetensors                                                      */

START_TEST(test_shards) {
  fs_model m, ref;
  const char *index = fs_test_data("shards/model.safetensors.index.json");
  fs_test_open_ok(index, &m);
  fs_test_open_ok(fs_test_data("shards/reference/all.safetensors"), &ref);
  ck_assert_int_eq(m.format, FS_FMT_SAFETENSORS_INDEX);
  ck_assert_str_eq(fs_format_name(m.format), "safetensors-index");
  ck_assert_int_eq(m.nfiles, 4); /* the index and three shards */
  ck_assert_int_eq(m.ntensors, 6);
  ck_assert_int_eq(ref.ntensors, 6);
  ck_assert_str_eq(fs_model_meta(&m, "total_size"), "1952");
  ck_assert_str_eq(fs_model_meta(&m, "format"), "pt");
  ck_assert_str_eq(fs_model_meta(&m, "config.model_type"), "llama");
  ck_assert_str_eq(fs_model_meta(&m, "config.num_attention_heads"), "2");
  const fs_tensor *lm = fs_model_find(&m, "lm_head.weight");
  ck_assert_ptr_nonnull(lm);
  ck_assert_ptr_nonnull(strstr(m.files[lm->file], "shards/sub/model-00003-of-00003"));
  for (int i = 0; i < ref.ntensors; i++) {
    const fs_tensor *r = &ref.tensors[i], *t = fs_model_find(&m, r->name);
    ck_assert_msg(t != NULL, "no sharded tensor %s", r->name);
    ck_assert_int_eq(t->dtype, r->dtype);
    ck_assert_int_eq(t->ndim, r->ndim);
    for (int d = 0; d < t->ndim; d++) ck_assert_int_eq(t->shape[d], r->shape[d]);
    double *got = read_all(&m, r->name), *want = read_all(&ref, r->name);
    for (int64_t k = 0; k < fs_tensor_numel(r); k++) assert_same(got[k], want[k], r->name, (int)k);
    free(got);
    free(want);
  }
  fs_model_close(&ref);
  fs_model_close(&m);
}
END_TEST

/* A small F32 safetensors shard holding the named 2-element tensors. */
static void write_shard(const char *dir, const char *file, const char *const *names, int n) {
  char json[1024];
  size_t used = (size_t)snprintf(json, sizeof json, "{");
  for (int i = 0; i < n; i++)
    used += (size_t)snprintf(json + used, sizeof json - used,
                             "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[2],"
                             "\"data_offsets\":[%d,%d]}",
                             i ? "," : "", names[i], 8 * i, 8 * i + 8);
  snprintf(json + used, sizeof json - used, "}");
  fs_buf b = {0};
  fs_buf_le(&b, strlen(json), 8);
  fs_buf_put(&b, json, strlen(json));
  for (int i = 0; i < 2 * n; i++) fs_buf_le(&b, 0x3f800000, 4);
  char *path = fs_test_join(dir, file);
  fs_test_write_file(path, b.p, b.n);
  free(path);
  free(b.p);
}

/* An index in dir with the given weight_map body; returns its path. */
static char *write_index(const char *dir, const char *map) {
  char *path = fs_test_join(dir, "model.safetensors.index.json");
  char text[2048];
  snprintf(text, sizeof text, "{\"metadata\": {\"total_size\": 16},\n \"weight_map\": {%s}}\n",
           map);
  write_text(path, text);
  return path;
}

static void expect_index_fail(const char *dir, const char *map, const char *reason) {
  char *path = write_index(dir, map);
  fs_test_expect_open_fail(path, reason);
  free(path);
}

START_TEST(test_bad_index) {
  char *dir = fs_test_tmpdir("bad_index");
  static const char *const ab[] = {"a", "b"}, *const a[] = {"a"}, *const bc[] = {"b", "c"};
  write_shard(dir, "s1.safetensors", ab, 2);
  write_shard(dir, "s2.safetensors", bc, 2);
  write_shard(dir, "s3.safetensors", a, 1);
  /* a good index over s1 opens */
  char *ok = write_index(dir, "\"a\": \"s1.safetensors\", \"b\": \"s1.safetensors\"");
  fs_model m;
  fs_test_open_ok(ok, &m);
  ck_assert_int_eq(m.ntensors, 2);
  ck_assert_int_eq(m.nfiles, 2);
  fs_model_close(&m);
  free(ok);
  expect_index_fail(dir, "\"a\": \"../s1.safetensors\"",
                    "tensor 'a': shard '../s1.safetensors' escapes the index's folder");
  expect_index_fail(dir, "\"a\": \"x/../../s1.safetensors\"", "escapes the index's folder");
  expect_index_fail(dir, "\"a\": \"x/..\"", "escapes the index's folder");
  expect_index_fail(dir, "\"a\": \"/etc/passwd\"", "shard '/etc/passwd' is an absolute path");
  expect_index_fail(dir, "\"a\": \"\"", "tensor 'a': empty shard name");
  expect_index_fail(dir, "\"a\": 3", "tensor 'a': weight_map value is not a string");
  expect_index_fail(dir, "\"a\": \"gone.safetensors\"",
                    "shard 'gone.safetensors': cannot open: No such file");
  /* the map and the shards disagree */
  expect_index_fail(dir, "\"a\": \"s1.safetensors\"",
                    "tensor 'b': in shard 's1.safetensors' but not in the weight_map");
  expect_index_fail(dir,
                    "\"a\": \"s3.safetensors\", \"b\": \"s2.safetensors\", "
                    "\"c\": \"s2.safetensors\", \"d\": \"s3.safetensors\"",
                    "tensor 'd': listed in the weight_map but not found in shard "
                    "'s3.safetensors'");
  expect_index_fail(dir,
                    "\"a\": \"s1.safetensors\", \"b\": \"s1.safetensors\", "
                    "\"c\": \"s2.safetensors\"",
                    "tensor 'b': found in shard 's1.safetensors' and in shard "
                    "'s2.safetensors'");
  expect_index_fail(dir, "\"a\": \"s3.safetensors\", \"b\": \"s2.safetensors\", "
                         "\"c\": \"s3.safetensors\"",
                    "tensor 'c': the weight_map puts it in shard 's3.safetensors' but it "
                    "is in shard 's2.safetensors'");
  expect_index_fail(dir, "\"a\": \"s3.safetensors\", \"a\": \"s3.safetensors\"",
                    "index: invalid JSON: duplicate object key");
  /* a shard that is not a safetensors file */
  char *junk = fs_test_join(dir, "junk.safetensors");
  fs_test_write_file(junk, "\x10\0\0\0\0\0\0\0{}", 10);
  expect_index_fail(dir, "\"a\": \"junk.safetensors\"", "shard 'junk.safetensors': header length");
  free(junk);
  /* no weight_map, not an object, not JSON */
  char *path = fs_test_join(dir, "model.safetensors.index.json");
  write_text(path, "{\"metadata\": {}}");
  fs_test_expect_open_fail(path, "index: missing or non-object \"weight_map\"");
  write_text(path, "{\"weight_map\": {\"a\": \"s3.safetensors\"}, \"metadata\": [1]}");
  fs_test_expect_open_fail(path, "index: \"metadata\" is not a JSON object");
  write_text(path, "{\"weight_map\": {\"a\": \"s3.safetensors\"");
  fs_test_expect_open_fail(path, "index: invalid JSON");
  /* a huge index is refused before it is read */
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  fputs("{", f);
  for (int i = 0; i < 127; i++) fputc(' ', f);
  fclose(f);
  ck_assert_int_eq(truncate(path, (off_t)17 << 20), 0);
  fs_test_expect_open_fail(path, "index of 17825792 bytes exceeds the 16 MiB limit");
  free(path);
  free(dir);
}
END_TEST

/* The probe: JSON text is an index, a binary safetensors file is not. */
START_TEST(test_index_probe) {
  fs_model m;
  fs_test_open_ok(fs_test_data("dtype/dtypes.safetensors"), &m);
  ck_assert_int_eq(m.format, FS_FMT_SAFETENSORS);
  fs_model_close(&m);
  char *dir = fs_test_tmpdir("probe");
  char *path = fs_test_join(dir, "x.json");
  write_text(path, "{\"weight_map\": {}, \"metadata\": {\"k\": {\"a\": 1}, \"n\": null}}");
  fs_test_open_ok(path, &m);
  ck_assert_int_eq(m.format, FS_FMT_SAFETENSORS_INDEX);
  ck_assert_int_eq(m.ntensors, 0);
  ck_assert_str_eq(fs_model_meta(&m, "k"), "{1 keys}");
  ck_assert_str_eq(fs_model_meta(&m, "n"), "null");
  fs_model_close(&m);
  /* JSON with a control byte in the first 64 is not taken for an index */
  write_text(path, "{\"weight_map\":\x01{}}");
  fs_test_expect_open_fail(path, "unrecognised format");
  free(path);
  free(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *dtype_suite(void) {
  Suite *s = suite_create("dtype");
  TCase *dec = tcase_create("decoders");
  tcase_add_test(dec, test_table_layout);
  tcase_add_test(dec, test_f8_all_codes);
  tcase_add_test(dec, test_integer_extremes);
  tcase_add_test(dec, test_st_new_dtypes);
  tcase_add_test(dec, test_q8_0_block);
  tcase_add_test(dec, test_q4_blocks);
  tcase_add_test(dec, test_q5_blocks);
  tcase_add_test(dec, test_q2_k_block);
  tcase_add_test(dec, test_q3_k_block);
  tcase_add_test(dec, test_q4_k_block);
  tcase_add_test(dec, test_q5_k_block);
  tcase_add_test(dec, test_q6_k_block);
  tcase_add_test(dec, test_q8_0_round_trip);
  tcase_add_test(dec, test_q4_1_round_trip);
  tcase_add_test(dec, test_quant_gguf);
  tcase_add_test(dec, test_quant_partial_rows);
  suite_add_tcase(s, dec);
  TCase *sh = tcase_create("shards");
  tcase_add_test(sh, test_shards);
  tcase_add_test(sh, test_bad_index);
  tcase_add_test(sh, test_index_probe);
  tcase_set_timeout(sh, 120);
  suite_add_tcase(s, sh);
  return s;
}

int main(void) { return fs_test_run(dtype_suite()); }
