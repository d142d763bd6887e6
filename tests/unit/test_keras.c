/*
 * test_keras.c - the Keras HDF5 reader (io/fs_keras.c).
 *
 * Fixtures (tests/data/make_keras.py, h5py in Keras 2's legacy layout):
 * a save_weights file with fixed-length string attributes and a full-model
 * file (model_weights group, variable-length strings, layer_names split in
 * two chunks); expected.f64 holds every [out, in] view computed by numpy.
 * Broken files (missing attributes, groups, datasets; compression; strings;
 * the Keras 3 layout) must fail with the path and a specific reason.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_model.h"
#include "fs_reader.h"
#include "fs_testutil.h"

static void open_ok(const char *name, fs_model *m) {
  fs_error err;
  ck_assert_msg(fs_model_open(fs_test_data(name), m, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(m->format, FS_FMT_KERAS);
}

/* Every tensor of expected.txt against expected.f64, exactly: float32 and
 * float64 convert to double without rounding. */
static void check_expected(const fs_model *m) {
  FILE *ft = fopen(fs_test_data("keras/expected.txt"), "r");
  FILE *fb = fopen(fs_test_data("keras/expected.f64"), "rb");
  ck_assert(ft && fb);
  char name[128];
  long r, c, pos;
  int n = 0;
  while (fscanf(ft, "%127s %ld %ld %ld", name, &r, &c, &pos) == 4) {
    const fs_tensor *t = fs_model_find(m, name);
    ck_assert_msg(t != NULL, "no tensor %s", name);
    ck_assert_msg(fs_tensor_rows(t) == r && fs_tensor_cols(t) == c, "%s: view shape", name);
    double *v = malloc((size_t)(r * c) * sizeof *v), *want = malloc((size_t)(r * c) * 8);
    fs_error err;
    ck_assert(fseek(fb, pos * 8, SEEK_SET) == 0);
    ck_assert(fread(want, 8, (size_t)(r * c), fb) == (size_t)(r * c));
    ck_assert_msg(fs_tensor_read_rows(m, t, 0, r, v, &err) == 0, "%s", err.msg);
    for (long i = 0; i < r * c; i++)
      ck_assert_msg(v[i] == want[i], "%s[%ld] = %.17g, want %.17g", name, i, v[i], want[i]);
    /* one row at a time, after another tensor evicted the cache */
    for (long row = 0; row < r; row++) {
      double other[64];
      ck_assert(fs_tensor_cols(&m->tensors[0]) <= 64);
      ck_assert(fs_tensor_read_rows(m, &m->tensors[0], 0, 1, other, &err) == 0);
      ck_assert(fs_tensor_read_rows(m, t, row, row + 1, v, &err) == 0);
      for (long j = 0; j < c; j++) ck_assert(v[j] == want[row * c + j]);
    }
    free(v);
    free(want);
    n++;
  }
  ck_assert_int_eq(n, 6);
  fclose(ft);
  fclose(fb);
}

START_TEST(test_save_weights) {
  fs_model m;
  open_ok("keras/weights.hdf5", &m);
  ck_assert_int_eq(m.ntensors, 6);
  ck_assert_str_eq(fs_format_name(m.format), "keras-hdf5");
  ck_assert_str_eq(fs_model_meta(&m, "keras_version"), "2.13.1");
  ck_assert_str_eq(fs_model_meta(&m, "backend"), "tensorflow");
  const fs_tensor *k = fs_model_find(&m, "dense/kernel");
  ck_assert(k && k->dtype == FS_DT_F64 && k->in_out && k->shape[0] == 3 && k->shape[1] == 4);
  const fs_tensor *c = fs_model_find(&m, "conv2d/kernel");
  ck_assert(c && !c->in_out && c->ndim == 4 && c->shape[0] == 4 && c->shape[1] == 2 &&
            c->shape[2] == 3 && c->shape[3] == 3);
  const fs_tensor *e = fs_model_find(&m, "embedding/embeddings");
  ck_assert(e && !e->in_out && e->shape[0] == 10 && e->shape[1] == 4);
  check_expected(&m);
  fs_model_close(&m);
}
END_TEST

START_TEST(test_full_model) {
  fs_model m;
  open_ok("keras/model.hdf5", &m);
  ck_assert_int_eq(m.ntensors, 6); /* optimizer_weights are not model weights */
  ck_assert_str_eq(fs_model_meta(&m, "keras_version"), "2.13.1");
  check_expected(&m);
  fs_model m2;
  open_ok("keras/weights.hdf5", &m2);
  ck_assert_uint_eq(m.header_checksum, m2.header_checksum); /* same names and shapes */
  fs_model_close(&m2);
  fs_model_close(&m);
}
END_TEST

START_TEST(test_probe) {
  ck_assert(fs_keras_probe((const unsigned char *)"\x89HDF\r\n\x1a\n\0\0", 10));
  ck_assert(!fs_keras_probe((const unsigned char *)"\x89HDF\r\n\x1a", 7));
  ck_assert(!fs_keras_probe((const unsigned char *)"GGUF\3\0\0\0\0\0", 10));
}
END_TEST

static void must_fail(const char *name, const char *reason) {
  const char *path = fs_test_data(name);
  fs_model m;
  fs_error err;
  ck_assert_msg(fs_model_open(path, &m, &err) != 0, "accepted %s", name);
  ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "message lacks the path: %s",
                err.msg);
  ck_assert_msg(strstr(err.msg, reason) != NULL, "expected '%s' in: %s", reason, err.msg);
  ck_assert(strchr(err.msg, '\n') == NULL);
  fs_model_close(&m);
}

START_TEST(test_bad_files) {
  must_fail("keras/bad_no_layer_names.hdf5",
            "no \"layer_names\" attribute: not a Keras HDF5 weight file");
  must_fail("keras/bad_no_weight_names.hdf5", "layer 'dense': no \"weight_names\" attribute");
  must_fail("keras/bad_no_group.hdf5", "layer 'ghost': listed in layer_names but no group");
  must_fail("keras/bad_missing_dataset.hdf5",
            "tensor 'dense/kernel': no dataset 'dense/kernel:0'");
  must_fail("keras/bad_gzip.hdf5",
            "tensor 'dense/kernel': filtered (compressed) dataset, filter 'deflate'");
  must_fail("keras/bad_string_dataset.hdf5", "tensor 'text/vocab': dataset is not numeric");
  must_fail("keras/bad_layer_names_type.hdf5", "attribute 'layer_names' is not a list of strings");
  must_fail("keras/keras3.weights.hdf5", "Keras 3 .weights.h5 layout");
  /* data that would come from other files: never followed */
  must_fail("keras/bad_external_link.hdf5",
            "no dataset 'dense/kernel:0' (external links are not followed)");
  must_fail("keras/bad_external_storage.hdf5", "dataset with external storage");
}
END_TEST

/* A soft link stays inside the file and is followed. */
START_TEST(test_soft_link) {
  fs_model m;
  open_ok("keras/soft_link.hdf5", &m);
  ck_assert_int_eq(m.ntensors, 1);
  double v[4];
  fs_error err;
  ck_assert_msg(fs_tensor_read_rows(&m, &m.tensors[0], 2, 3, v, &err) == 0, "%s", err.msg);
  for (int i = 0; i < 4; i++) ck_assert(v[i] == 1.0);
  fs_model_close(&m);
}
END_TEST

/* A truncated HDF5 file is refused by the HDF5 library at open. */
START_TEST(test_truncated) {
  const char *src = fs_test_data("keras/weights.hdf5");
  FILE *f = fopen(src, "rb");
  ck_assert(f != NULL);
  unsigned char buf[4096];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  char path[512];
  snprintf(path, sizeof path, "%s", fs_test_tmpfile("trunc.hdf5"));
  f = fopen(path, "wb");
  ck_assert(f && fwrite(buf, 1, n, f) == n);
  fclose(f);
  fs_model m;
  fs_error err;
  ck_assert(fs_model_open(path, &m, &err) != 0);
  ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "%s", err.msg);
  fs_model_close(&m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("keras");
  TCase *tc = tcase_create("keras");
  tcase_add_test(tc, test_save_weights);
  tcase_add_test(tc, test_full_model);
  tcase_add_test(tc, test_probe);
  tcase_add_test(tc, test_bad_files);
  tcase_add_test(tc, test_soft_link);
  tcase_add_test(tc, test_truncated);
  suite_add_tcase(s, tc);
  return fs_test_run(s);
}
