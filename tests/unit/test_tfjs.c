/*
 * test_tfjs.c - the TensorFlow.js reader (io/fs_tfjs.c).
 *
 * Fixtures (tests/data/make_tfjs.py, numpy): model.json and the same groups
 * as a bare manifest, with a tensor straddling two shards, uint8/uint16
 * affine and float16 quantisation, int32 (plain and quantised), a Dense
 * kernel, a conv kernel and an embedding; expected.f64 holds every [out, in]
 * view computed by numpy.  The real face-api recognition net (fetched by
 * scripts/fetch-tfjs-data.sh) is checked against values numpy dequantised
 * from its raw bytes.  Hostile manifests are written here and must fail
 * with the path and a specific reason.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_model.h"
#include "fs_reader.h"
#include "fs_testutil.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static double *read_view(const fs_model *m, const char *name, int64_t *rows,
                         int64_t *cols) {
  const fs_tensor *t = fs_model_find(m, name);
  ck_assert_msg(t != NULL, "no tensor %s", name);
  *rows = fs_tensor_rows(t);
  *cols = fs_tensor_cols(t);
  double *v = malloc((size_t)(*rows * *cols + 1) * sizeof *v);
  fs_error err;
  ck_assert_msg(fs_tensor_read_rows(m, t, 0, *rows, v, &err) == 0, "%s", err.msg);
  return v;
}

static int close_enough(double a, double b) {
  return fabs(a - b) <= 4 * DBL_EPSILON * fabs(b);
}

/* Every tensor of expected.txt against expected.f64. */
static void check_expected(const fs_model *m) {
  FILE *ft = fopen(fs_test_data("tfjs/expected.txt"), "r");
  FILE *fb = fopen(fs_test_data("tfjs/expected.f64"), "rb");
  ck_assert(ft && fb);
  char name[128];
  long r, c, pos;
  int n = 0;
  while (fscanf(ft, "%127s %ld %ld %ld", name, &r, &c, &pos) == 4) {
    int64_t rows, cols;
    double *v = read_view(m, name, &rows, &cols);
    ck_assert_msg(rows == r && cols == c, "%s: view %ldx%ld, want %ldx%ld", name,
                  (long)rows, (long)cols, r, c);
    double *want = malloc((size_t)(r * c) * sizeof *want);
    ck_assert(fseek(fb, pos * 8, SEEK_SET) == 0);
    ck_assert(fread(want, 8, (size_t)(r * c), fb) == (size_t)(r * c));
    for (long i = 0; i < r * c; i++)
      ck_assert_msg(close_enough(v[i], want[i]), "%s[%ld] = %.17g, want %.17g", name, i,
                    v[i], want[i]);
    free(want);
    free(v);
    n++;
  }
  ck_assert_int_eq(n, 8);
  fclose(ft);
  fclose(fb);
}

static void open_ok(const char *path, fs_model *m) {
  fs_error err;
  ck_assert_msg(fs_model_open(path, m, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(m->format, FS_FMT_TFJS);
}

/* ------------------------------------------------------------------------ */
/* Fixtures                                                                 */

START_TEST(test_model_json) {
  fs_model m;
  open_ok(fs_test_data("tfjs/model.json"), &m);
  ck_assert_int_eq(m.ntensors, 8);
  ck_assert_int_eq(m.nfiles, 4); /* model.json and three shards */
  ck_assert_str_eq(fs_model_meta(&m, "format"), "layers-model");
  ck_assert_str_eq(fs_format_name(m.format), "tfjs");
  const fs_tensor *k = fs_model_find(&m, "dense/kernel");
  ck_assert(k->dtype == FS_DT_F32 && k->in_out == 1 && k->shape[0] == 4 && k->shape[1] == 3);
  const fs_tensor *c = fs_model_find(&m, "conv/kernel");
  ck_assert(c->dtype == FS_DT_F64 && c->ndim == 4 && !c->in_out);
  ck_assert(c->shape[0] == 5 && c->shape[1] == 3 && c->shape[2] == 2 && c->shape[3] == 2);
  ck_assert_uint_eq(c->nbytes, 60 * 8);
  const fs_tensor *e = fs_model_find(&m, "emb/embeddings");
  ck_assert(e->dtype == FS_DT_F64 && !e->in_out && e->shape[0] == 6);
  ck_assert(fs_model_find(&m, "half/kernel")->dtype == FS_DT_F16);
  ck_assert(fs_model_find(&m, "count")->dtype == FS_DT_I32);
  check_expected(&m);
  fs_model_close(&m);
}
END_TEST

/* Partial row ranges: the permuted cache and the in_out gather across the
 * shard boundary must give the same rows as a whole read. */
START_TEST(test_row_ranges) {
  fs_model m;
  open_ok(fs_test_data("tfjs/model.json"), &m);
  const char *names[] = {"conv/kernel", "dense/kernel", "q16/kernel"};
  for (int n = 0; n < 3; n++) {
    int64_t rows, cols;
    double *all = read_view(&m, names[n], &rows, &cols);
    const fs_tensor *t = fs_model_find(&m, names[n]);
    for (int64_t r0 = 0; r0 < rows; r0++) {
      double part[64];
      fs_error err;
      ck_assert(cols <= 64);
      /* read another tensor in between so the one-tensor cache is evicted */
      double other[8];
      ck_assert(fs_tensor_read_rows(&m, fs_model_find(&m, "dense/bias"), 0, 1, other, &err) == 0);
      ck_assert_msg(fs_tensor_read_rows(&m, t, r0, r0 + 1, part, &err) == 0, "%s", err.msg);
      for (int64_t j = 0; j < cols; j++) ck_assert(part[j] == all[r0 * cols + j]);
    }
    free(all);
  }
  fs_model_close(&m);
}
END_TEST

START_TEST(test_bare_manifest) {
  fs_model m;
  open_ok(fs_test_data("tfjs/manifest.json"), &m);
  ck_assert_int_eq(m.ntensors, 8);
  ck_assert_ptr_null(fs_model_meta(&m, "format"));
  check_expected(&m);
  fs_model_close(&m);
}
END_TEST

/* face-api's face recognition ResNet: uint8-quantised and float32 tensors,
 * conv kernels [7,7,3,32] etc. and the fc [256,128]. */
START_TEST(test_face_api) {
  const char *path =
      fs_test_data("fetched/face-api/face_recognition_model-weights_manifest.json");
  ck_assert_msg(access(path, R_OK) == 0, "%s is missing: run scripts/fetch-tfjs-data.sh first",
                path);
  fs_model m;
  open_ok(path, &m);
  ck_assert_int_eq(m.ntensors, 117);
  const fs_tensor *fc = fs_model_find(&m, "fc");
  ck_assert(fc->in_out && fc->shape[0] == 128 && fc->shape[1] == 256 && fc->dtype == FS_DT_F64);
  const fs_tensor *c0 = fs_model_find(&m, "conv32_down/conv/filters");
  ck_assert(c0->shape[0] == 32 && c0->shape[1] == 3 && c0->shape[2] == 7 && c0->shape[3] == 7);
  ck_assert(fs_model_find(&m, "conv64_1/conv1/conv/filters")->dtype == FS_DT_F32);
  FILE *f = fopen(fs_test_data("tfjs/face-api-expected.txt"), "r");
  ck_assert(f != NULL);
  char name[128], what[32];
  double want;
  int checked = 0;
  while (fscanf(f, "%127s %31s", name, what) == 2) {
    int64_t rows, cols;
    double *v = read_view(&m, name, &rows, &cols), got;
    if (strcmp(what, "sum") == 0 || strcmp(what, "sumsq") == 0) {
      ck_assert(fscanf(f, "%lf", &want) == 1);
      got = 0;
      for (int64_t i = 0; i < rows * cols; i++) got += what[3] ? v[i] * v[i] : v[i];
      ck_assert_msg(fabs(got - want) <= 1e-9 * (fabs(want) + 1), "%s %s %.17g want %.17g",
                    name, what, got, want);
    } else {
      long c;
      ck_assert(fscanf(f, "%ld %lf", &c, &want) == 2);
      got = v[atol(what) * cols + c];
      ck_assert_msg(close_enough(got, want), "%s[%s,%ld] %.17g want %.17g", name, what, c,
                    got, want);
    }
    free(v);
    checked++;
  }
  fclose(f);
  ck_assert_int_eq(checked, 60);
  fs_model_close(&m);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Probe                                                                    */

static int probe(const char *s) {
  size_t n = strlen(s);
  return fs_tfjs_probe((const unsigned char *)s, n < FS_PROBE_BYTES ? n : FS_PROBE_BYTES);
}

START_TEST(test_probe) {
  ck_assert(probe("{\"format\": \"graph-model\", \"generatedBy\": \"2.11\"}"));
  ck_assert(probe("{\"modelTopology\":{\"class_name\":\"Sequential\"}}"));
  ck_assert(probe("[\n  {\n      \"weights\":\n      [\n"));
  ck_assert(probe("[{\"paths\":[\"group1-shard1of1.bin\"],\"weights\":[]}]"));
  /* the sharded-safetensors index and other JSON are not TF.js */
  ck_assert(!probe("{\n  \"metadata\": {\n    \"total_size\": 1234\n  },\n  \"weight_map\": {"));
  ck_assert(!probe("{\"weight_map\": {}}"));
  ck_assert(!probe("[1, 2, 3]"));
  ck_assert(!probe("{\"architectures\": [\"LlamaForCausalLM\"]}"));
  static const unsigned char st[16] = {0x7b, 0, 0, 0, 0, 0, 0, 0, '{', '"'};
  ck_assert(!fs_tfjs_probe(st, sizeof st));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Hostile manifests                                                        */

/* manifest.json in the temporary folder next to a 32-byte w.bin */
static void must_fail(const char *json, const char *reason) {
  char path[512];
  unsigned char bin[32] = {0};
  snprintf(path, sizeof path, "%s", fs_test_tmpfile("w.bin"));
  fs_test_write_file(path, bin, sizeof bin);
  snprintf(path, sizeof path, "%s", fs_test_tmpfile("manifest.json"));
  fs_test_write_file(path, json, strlen(json));
  fs_model m;
  fs_error err;
  ck_assert_msg(fs_model_open(path, &m, &err) != 0, "accepted: %s", json);
  ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "message lacks the path: %s",
                err.msg);
  ck_assert_msg(strstr(err.msg, reason) != NULL, "expected '%s' in: %s", reason, err.msg);
  ck_assert(strchr(err.msg, '\n') == NULL);
  fs_model_close(&m);
}

#define G(paths, weights) "[{\"paths\":[" paths "],\"weights\":[" weights "]}]"
#define W(rest) "{\"name\":\"t\"," rest "}"

START_TEST(test_hostile) {
  must_fail(G("\"w.bin\"", W("\"shape\":[4,4],\"dtype\":\"float32\"")),
            "tensor 't': 64 bytes at offset 0 run past the end of the shards (32 bytes)");
  must_fail(G("\"w.bin\"", W("\"shape\":[4],\"dtype\":\"float32\"") ","
              W("\"shape\":[5],\"dtype\":\"float32\"")),
            "at offset 16 run past the end");
  must_fail(G("\"w.bin\"", W("\"shape\":[1000000,1000000],\"dtype\":\"float32\"")),
            "run past the end of the shards");
  must_fail(G("\"w.bin\"", W("\"shape\":[4294967296,4294967296,4294967296],"
                             "\"dtype\":\"float32\"")),
            "tensor 't': shape [4294967296, 4294967296, 4294967296] overflows");
  /* no elements, but a view whose column count would overflow */
  must_fail(G("\"w.bin\"", W("\"shape\":[4294967296,4294967296,0,4294967296],"
                             "\"dtype\":\"float32\"")),
            "overflows");
  must_fail(G("\"w.bin\"", W("\"shape\":[1,1,1,1,1,1,1,1,1],\"dtype\":\"float32\"")),
            "9 dimensions");
  must_fail(G("\"w.bin\"", W("\"shape\":[-2],\"dtype\":\"float32\"")), "non-negative");
  must_fail(G("\"../w.bin\"", ""), "shard path '../w.bin' escapes the manifest folder");
  must_fail(G("\"sub/../../w.bin\"", ""), "escapes the manifest folder");
  must_fail(G("\"/etc/hostname\"", ""), "is not relative to the manifest folder");
  must_fail(G("\"http://example.org/w.bin\"", ""), "is a URL");
  must_fail(G("\"missing.bin\"", ""), "shard 'missing.bin': cannot stat");
  must_fail(G("", ""), "missing or empty \"paths\"");
  must_fail(G("\"w.bin\"", W("\"shape\":[4],\"dtype\":\"float32\",\"quantization\":"
                             "{\"dtype\":\"int4\",\"scale\":1,\"min\":0}")),
            "tensor 't': unsupported quantization dtype int4");
  must_fail(G("\"w.bin\"", W("\"shape\":[4],\"dtype\":\"float32\",\"quantization\":"
                             "{\"dtype\":\"uint8\",\"min\":0}")),
            "needs finite \"scale\" and \"min\"");
  must_fail(G("\"w.bin\"", W("\"shape\":[4],\"dtype\":\"int32\",\"quantization\":"
                             "{\"dtype\":\"float16\"}")),
            "float16 quantisation of int32");
  must_fail(G("\"w.bin\"", W("\"shape\":[4],\"dtype\":\"bool\"")),
            "tensor 't': unsupported dtype bool");
  must_fail(G("\"w.bin\"", W("\"shape\":[4],\"dtype\":\"string\"")), "unsupported dtype string");
  must_fail(G("\"w.bin\"", "{\"shape\":[4],\"dtype\":\"float32\"}"), "without a \"name\"");
  must_fail(G("\"w.bin\"", W("\"shape\":[2],\"dtype\":\"float32\"") ","
              W("\"shape\":[2],\"dtype\":\"float32\"")),
            "tensor 't': name appears twice");
  must_fail("{\"format\":\"graph-model\",\"modelTopology\":{}}",
            "not a TF.js manifest: no \"weightsManifest\" array");
  must_fail("{\"format\":\"graph-model\",\"weightsManifest\":[{\"paths\":", "invalid JSON");
  must_fail("[{\"paths\":[\"w.bin\"]}]", "weights group 0: not an object with a \"weights\"");
}
END_TEST

/* A shard that shrinks after the open is an error on read, not garbage. */
START_TEST(test_shard_truncated) {
  char bin[512], man[512];
  unsigned char data[32] = {0};
  snprintf(bin, sizeof bin, "%s", fs_test_tmpfile("t.bin"));
  snprintf(man, sizeof man, "%s", fs_test_tmpfile("trunc.json"));
  fs_test_write_file(bin, data, sizeof data);
  const char *json = G("\"t.bin\"", W("\"shape\":[8],\"dtype\":\"float32\""));
  fs_test_write_file(man, json, strlen(json));
  fs_model m;
  fs_error err;
  ck_assert_msg(fs_model_open(man, &m, &err) == 0, "%s", err.msg);
  fs_test_write_file(bin, data, 16);
  double v[8];
  ck_assert(fs_tensor_read_rows(&m, &m.tensors[0], 0, 1, v, &err) != 0);
  ck_assert_msg(strstr(err.msg, "tensor 't'") && strstr(err.msg, "end of file"), "%s", err.msg);
  fs_model_close(&m);
}
END_TEST

static Suite *tfjs_suite(void) {
  Suite *s = suite_create("tfjs");
  TCase *tc = tcase_create("fixtures");
  tcase_add_test(tc, test_model_json);
  tcase_add_test(tc, test_row_ranges);
  tcase_add_test(tc, test_bare_manifest);
  tcase_add_test(tc, test_face_api);
  tcase_add_test(tc, test_probe);
  tcase_set_timeout(tc, 120);
  suite_add_tcase(s, tc);
  TCase *bad = tcase_create("hostile");
  tcase_add_test(bad, test_hostile);
  tcase_add_test(bad, test_shard_truncated);
  suite_add_tcase(s, bad);
  return s;
}

int main(void) { return fs_test_run(tfjs_suite()); }
