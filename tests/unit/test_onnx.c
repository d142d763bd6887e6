/*
 * test_onnx.c - the ONNX reader (io/fs_onnx.c).
 *
 * Expected values come from the reference implementation: tests/data/make_onnx.py
 * builds the fixtures with python3-onnx and writes what onnx.numpy_helper
 * says they hold into a format of our own (NAME.txt index + NAME.f64 raw
 * float64 values, described in that script), so this test needs no protobuf
 * and no Python.  Values are compared bit for bit.
 *
 * Files: tests/data/onnx/mixed.onnx (every element type in raw_data and in
 * the typed fields, Constant nodes, an If with Constants in its branches,
 * MatMul/Gemm/Conv weights), the real PP-OCRv4 recogniser fetched by
 * scripts/fetch-test-data.sh, and tests/data/onnx/hostile/ (one defect each).
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_model.h"
#include "fs_testutil.h"

#define PPOCR "fetched/ch_PP-OCRv4_rec_infer.onnx"

/* ------------------------------------------------------------------------ */
/* The expected-values format                                               */

static double *load_f64(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
  ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
  long len = ftell(f);
  ck_assert_int_ge(len, 0);
  ck_assert_int_eq(len % 8, 0);
  rewind(f);
  unsigned char *b = malloc((size_t)len + 1);
  ck_assert_uint_eq(fread(b, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  *n = (size_t)len / 8;
  double *v = malloc(*n * sizeof *v + 1);
  for (size_t i = 0; i < *n; i++) { /* little-endian, whatever the host */
    uint64_t u = 0;
    for (int k = 7; k >= 0; k--) u = (u << 8) | b[8 * i + (size_t)k];
    memcpy(&v[i], &u, 8);
  }
  free(b);
  return v;
}

/* Little-endian signed/unsigned integers of a plain integer dtype, decoded
 * here so that the reader's bytes can be checked without its decoders. */
static int int_layout(const char *dtype, int *width, int *is_signed) {
  static const struct { const char *n; int w, s; } t[] = {
      {"I8", 1, 1}, {"U8", 1, 0}, {"I16", 2, 1}, {"U16", 2, 0}, {"I32", 4, 1}, {"I64", 8, 1}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (strcmp(dtype, t[i].n) == 0) {
      *width = t[i].w;
      *is_signed = t[i].s;
      return 1;
    }
  return 0;
}

static double int_at(const unsigned char *p, int w, int is_signed) {
  uint64_t u = 0;
  for (int k = w - 1; k >= 0; k--) u = (u << 8) | p[k];
  if (is_signed && w < 8 && (u >> (8 * w - 1)) & 1) u |= ~0ULL << (8 * w);
  return is_signed ? (double)(int64_t)u : (double)u;
}

static void same_values(const char *what, const double *got, const double *want, size_t n) {
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(memcmp(&got[i], &want[i], sizeof got[i]) == 0,
                  "%s: value %zu is %.17g, python3-onnx says %.17g", what, i, got[i], want[i]);
}

/* Integer tensors whose decoder is not in fs_dtype yet: their bytes, read
 * through the model's hook, decoded here. */
static void check_int_bytes(const fs_model *m, const fs_tensor *t, const char *dtype,
                            int64_t r0, int64_t r1, const double *want) {
  int w, s;
  ck_assert_msg(int_layout(dtype, &w, &s), "%s: %s has no decoder", t->name, dtype);
  ck_assert_int_eq(t->in_out, 0);
  int64_t cols = fs_tensor_cols(t);
  size_t n = (size_t)((r1 - r0) * cols);
  unsigned char *b = malloc(n * (size_t)w + 1);
  fs_error err;
  ck_assert_ptr_nonnull(m->read_bytes);
  ck_assert_msg(m->read_bytes(m, t, (uint64_t)(r0 * cols * w), n * (size_t)w, b, &err) == 0,
                "%s", err.msg);
  double *got = malloc(n * sizeof *got + 1);
  for (size_t i = 0; i < n; i++) got[i] = int_at(b + i * (size_t)w, w, s);
  same_values(t->name, got, want, n);
  free(got);
  free(b);
}

static void check_tensor_line(const fs_model *m, const char *line, const double *vals,
                              size_t nvals) {
  char name[256], dtype[16];
  int in_out, ndim, used;
  int64_t shape[FS_MAX_DIMS], r0, r1, first;
  ck_assert_int_eq(sscanf(line, "tensor %255s %15s %d %d%n", name, dtype, &in_out, &ndim,
                          &used), 4);
  ck_assert(ndim >= 0 && ndim <= FS_MAX_DIMS);
  const char *p = line + used;
  for (int i = 0; i < ndim; i++) {
    int k;
    ck_assert_int_eq(sscanf(p, "%" SCNd64 "%n", &shape[i], &k), 1);
    p += k;
  }
  ck_assert_int_eq(sscanf(p, "%" SCNd64 " %" SCNd64 " %" SCNd64, &r0, &r1, &first), 3);
  const fs_tensor *t = fs_model_find(m, name);
  ck_assert_msg(t != NULL, "tensor '%s' missing", name);
  ck_assert_str_eq(fs_dtype_name(t->dtype), dtype);
  ck_assert_msg(t->in_out == in_out, "%s: in_out %d, expected %d", name, t->in_out, in_out);
  ck_assert_int_eq(t->ndim, ndim);
  for (int i = 0; i < ndim; i++)
    ck_assert_msg(t->shape[i] == shape[i], "%s: dim %d is %" PRId64 ", expected %" PRId64,
                  name, i, t->shape[i], shape[i]);
  int64_t cols = fs_tensor_cols(t);
  size_t n = (size_t)((r1 - r0) * cols);
  ck_assert_uint_le((size_t)first + n, nvals);
  if (!fs_dtype_supported(t->dtype)) {
    check_int_bytes(m, t, dtype, r0, r1, vals + first);
    return;
  }
  double *got = malloc(n * sizeof *got + 1);
  fs_error err;
  ck_assert_msg(fs_tensor_read_rows(m, t, r0, r1, got, &err) == 0, "%s", err.msg);
  same_values(name, got, vals + first, n);
  free(got);
}

/* Check a model against tests/data/onnx/<stem>.txt / .f64; returns the
 * number of tensor lines checked. */
static int check_expected(const fs_model *m, const char *stem) {
  char path[64];
  snprintf(path, sizeof path, "onnx/%s.f64", stem);
  size_t nvals;
  double *vals = load_f64(fs_test_data(path), &nvals);
  snprintf(path, sizeof path, "onnx/%s.txt", stem);
  FILE *f = fopen(fs_test_data(path), "r");
  ck_assert_msg(f != NULL, "cannot open %s", fs_test_data(path));
  char line[1024];
  int ntensor_lines = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    int n;
    char key[128];
    if (sscanf(line, "ntensors %d", &n) == 1) {
      ck_assert_int_eq(m->ntensors, n);
    } else if (sscanf(line, "meta %127s %n", key, &n) == 1) {
      const char *v = fs_model_meta(m, key);
      ck_assert_msg(v != NULL, "metadata '%s' missing", key);
      ck_assert_str_eq(v, line + n);
    } else if (strncmp(line, "tensor ", 7) == 0) {
      check_tensor_line(m, line, vals, nvals);
      ntensor_lines++;
    }
  }
  fclose(f);
  free(vals);
  return ntensor_lines;
}

/* ------------------------------------------------------------------------ */
/* The synthetic fixture                                                    */

START_TEST(test_mixed_fixture) {
  fs_model m;
  fs_error err;
  ck_assert_msg(fs_model_open(fs_test_data("onnx/mixed.onnx"), &m, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(m.format, FS_FMT_ONNX);
  ck_assert_str_eq(fs_format_name(m.format), "onnx");
  ck_assert_int_eq(check_expected(&m, "mixed"), 30);
  fs_model_close(&m);
}
END_TEST

/* Rows from the middle of a transposed weight: the row reader gathers one
 * segment per stored row through the read_bytes hook. */
START_TEST(test_in_out_row_range) {
  fs_model m;
  fs_error err;
  ck_assert_msg(fs_model_open(fs_test_data("onnx/mixed.onnx"), &m, &err) == 0, "%s", err.msg);
  const fs_tensor *t = fs_model_find(&m, "w_matmul"); /* stored [4, 3], view [3, 4] */
  ck_assert_ptr_nonnull(t);
  double all[12], mid[4];
  ck_assert_msg(fs_tensor_read_rows(&m, t, 0, 3, all, &err) == 0, "%s", err.msg);
  ck_assert_msg(fs_tensor_read_rows(&m, t, 1, 2, mid, &err) == 0, "%s", err.msg);
  same_values("w_matmul row 1", mid, all + 4, 4);
  ck_assert_int_ne(fs_tensor_read_rows(&m, t, 2, 4, all, &err), 0);
  ck_assert_ptr_nonnull(strstr(err.msg, "row range"));
  fs_model_close(&m);
}
END_TEST

static void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  ck_assert(in && out);
  char buf[4096];
  size_t k;
  while ((k = fread(buf, 1, sizeof buf, in)) > 0) ck_assert_uint_eq(fwrite(buf, 1, k, out), k);
  fclose(in);
  ck_assert_int_eq(fclose(out), 0);
}

/* ONNX has no magic: the name decides together with the first bytes. */
START_TEST(test_probe_needs_name) {
  fs_model m;
  fs_error err;
  char *other = strdup(fs_test_tmpfile("mixed.bin"));
  char *upper = strdup(fs_test_tmpfile("MIXED.ONNX"));
  copy_file(fs_test_data("onnx/mixed.onnx"), other);
  copy_file(fs_test_data("onnx/mixed.onnx"), upper);
  ck_assert_int_ne(fs_model_open(other, &m, &err), 0);
  ck_assert_ptr_nonnull(strstr(err.msg, "unrecognised format"));
  ck_assert_msg(fs_model_open(upper, &m, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(m.ntensors, 30);
  fs_model_close(&m);
  /* a .onnx file that does not start with a ModelProto field */
  char *junk = strdup(fs_test_tmpfile("junk.onnx"));
  FILE *f = fopen(junk, "wb");
  fputs("\xff\xff\xff not protobuf at all", f);
  fclose(f);
  ck_assert_int_ne(fs_model_open(junk, &m, &err), 0);
  ck_assert_ptr_nonnull(strstr(err.msg, "unrecognised format"));
  free(other);
  free(upper);
  free(junk);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The real model                                                           */

START_TEST(test_ppocr_real) {
  const char *path = fs_test_data(PPOCR);
  ck_assert_msg(access(path, R_OK) == 0,
                "%s is missing: run scripts/fetch-test-data.sh first", path);
  fs_model m;
  fs_error err;
  ck_assert_msg(fs_model_open(path, &m, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(check_expected(&m, "ppocr_rec"), 5);
  /* The fused qkv of the first transformer block: Paddle stores [120, 360]
   * = [in, q|k|v]; presented as [out, in] = [360, 120]. */
  const fs_tensor *qkv = fs_model_find(&m, "linear_77.w_0");
  ck_assert_ptr_nonnull(qkv);
  ck_assert_int_eq(fs_tensor_rows(qkv), 360);
  ck_assert_int_eq(fs_tensor_cols(qkv), 120);
  /* Every 2-D float tensor that feeds a MatMul is transposed (9 Linear
   * layers); Conv kernels are 4-D and stay as stored. */
  int n_in_out = 0, n_conv = 0;
  for (int i = 0; i < m.ntensors; i++) {
    n_in_out += m.tensors[i].in_out;
    n_conv += m.tensors[i].ndim == 4;
  }
  ck_assert_int_eq(n_in_out, 9);
  ck_assert_int_gt(n_conv, 0);
  fs_model_close(&m);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Hostile files                                                            */

static const struct {
  const char *file, *reason;
} hostile[] = {
    {"truncated.onnx", "truncated"},
    {"length_past_end.onnx", "field 7 (graph) of onnx.ModelProto at byte 2 claims 1000 bytes, "
                             "only 3 remain"},
    {"dims_overflow.onnx", "tensor 'huge': shape [1099511627776, 1099511627776] overflows"},
    {"raw_size.onnx", "tensor 'short': raw_data holds 20 bytes but shape [2, 3] of FLOAT "
                      "needs 24"},
    {"typed_count.onnx", "tensor 'typed_short': float_data holds 5 values but the dims give 6"},
    {"external.onnx", "tensor 'outside': external data (data_location EXTERNAL, location "
                      "'weights.bin') is not supported"},
    {"negative_dim.onnx", "tensor 'neg': negative dimension -2"},
    {"string.onnx", "tensor 'words': ONNX element type STRING is not supported"},
    {"int8_range.onnx", "tensor 'i8_range': int32_data value 300 at 1 is out of range for INT8"},
    {"deep.onnx", "nested deeper than 100"},
};

START_TEST(test_hostile) {
  char rel[128];
  snprintf(rel, sizeof rel, "onnx/hostile/%s", hostile[_i].file);
  const char *path = fs_test_data(rel);
  fs_model m;
  fs_error err;
  ck_assert_msg(fs_model_open(path, &m, &err) != 0, "%s opened", path);
  ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "no path in: %s", err.msg);
  ck_assert_msg(strstr(err.msg, hostile[_i].reason) != NULL, "%s: got \"%s\"",
                hostile[_i].file, err.msg);
  ck_assert_ptr_null(strchr(err.msg, '\n'));
  ck_assert_int_eq(m.ntensors, 0); /* left empty and safe to close */
  fs_model_close(&m);
}
END_TEST

/* Every prefix of a valid model is refused or read consistently, never
 * read out of bounds (valgrind checks the latter). */
START_TEST(test_every_truncation) {
  const char *src = fs_test_data("onnx/mixed.onnx");
  FILE *f = fopen(src, "rb");
  ck_assert_ptr_nonnull(f);
  unsigned char buf[8192];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  ck_assert_uint_lt(n, sizeof buf);
  char *path = strdup(fs_test_tmpfile("cut.onnx"));
  int opened = 0;
  for (size_t len = 1; len < n; len += 7) {
    f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
    fs_model m;
    fs_error err;
    if (fs_model_open(path, &m, &err) == 0) opened++;
    fs_model_close(&m);
  }
  /* Cuts at field boundaries may leave a smaller valid model: fine.  Most
   * cuts must fail. */
  ck_assert_int_lt(opened, (int)(n / 7) / 2);
  free(path);
}
END_TEST

static Suite *onnx_suite(void) {
  Suite *s = suite_create("onnx");
  TCase *good = tcase_create("fixture");
  tcase_add_test(good, test_mixed_fixture);
  tcase_add_test(good, test_in_out_row_range);
  tcase_add_test(good, test_probe_needs_name);
  suite_add_tcase(s, good);
  TCase *real = tcase_create("real");
  tcase_set_timeout(real, 120);
  tcase_add_test(real, test_ppocr_real);
  suite_add_tcase(s, real);
  TCase *bad = tcase_create("hostile");
  tcase_set_timeout(bad, 300);
  tcase_add_loop_test(bad, test_hostile, 0, (int)(sizeof hostile / sizeof hostile[0]));
  tcase_add_test(bad, test_every_truncation);
  suite_add_tcase(s, bad);
  return s;
}

int main(void) { return fs_test_run(onnx_suite()); }
