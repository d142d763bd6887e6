/* test_st_write.c - the safetensors writer's encoders and a written file. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_model.h"
#include "fs_st_write.h"
#include "fs_testutil.h"

/* Every finite f16 and bf16 value survives decode -> encode unchanged. */
START_TEST(half_round_trips_exhaustive) {
  unsigned bad = 0, first = 0;
  for (unsigned h = 0; h < 65536; h++) {
    double f = fs_f16_to_double((uint16_t)h), b = fs_bf16_to_double((uint16_t)h);
    int ok = (isnan(f) ? isnan(fs_f16_to_double(fs_double_to_f16(f))) : fs_double_to_f16(f) == h) &&
             (isnan(b) || fs_double_to_bf16(b) == h);
    if (!ok && !bad++) first = h;
  }
  ck_assert_msg(bad == 0, "%u half values do not round-trip, the first 0x%04x", bad, first);
}
END_TEST

/* Ties go to even, overflow to infinity, and subnormals are kept. */
START_TEST(half_rounding) {
  /* 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even -> 1 */
  ck_assert_uint_eq(fs_double_to_f16(1.0 + ldexp(1, -11)), 0x3C00);
  /* 1 + 3 * 2^-11 is halfway between 1 + 2^-10 (odd) and 1 + 2^-9 -> even */
  ck_assert_uint_eq(fs_double_to_f16(1.0 + 3 * ldexp(1, -11)), 0x3C02);
  ck_assert_uint_eq(fs_double_to_f16(1.0 + ldexp(1, -11) + ldexp(1, -30)), 0x3C01);
  ck_assert_uint_eq(fs_double_to_f16(65504.0), 0x7BFF);
  ck_assert_uint_eq(fs_double_to_f16(65520.0), 0x7C00); /* rounds up to infinity */
  ck_assert_uint_eq(fs_double_to_f16(-1e6), 0xFC00);
  ck_assert_uint_eq(fs_double_to_f16(ldexp(1, -24)), 0x0001);
  ck_assert_uint_eq(fs_double_to_f16(ldexp(1, -25)), 0x0000);  /* tie to even: 0 */
  ck_assert_uint_eq(fs_double_to_f16(ldexp(3, -26)), 0x0001);  /* 0.75 ulp -> 1 */
  ck_assert_uint_eq(fs_double_to_f16(ldexp(1023, -24) + ldexp(1, -25)), 0x0400); /* carry into normal */
  ck_assert_uint_eq(fs_double_to_f16(-0.0), 0x8000);
  ck_assert_uint_eq(fs_double_to_bf16(1.0 + ldexp(1, -8)), 0x3F80);
  ck_assert_uint_eq(fs_double_to_bf16(1.0 + 3 * ldexp(1, -8)), 0x3F82);
  ck_assert_uint_eq(fs_double_to_bf16(3.0e38 * 1.2), 0x7F80);
  ck_assert_uint_eq(fs_double_to_bf16(INFINITY), 0x7F80);
}
END_TEST

/* Convert path to safetensors (target type `to`, -1 = keep) and compare every
 * tensor read back with the source, bit for bit (after rounding to BF16 when
 * that is the target). */
static void round_trip(const char *path, int to) {
  fs_model src, out;
  fs_error e;
  ck_assert_msg(!fs_model_open(path, &src, &e), "%s (fetched by scripts/setup.sh)", e.msg);
  const char *conv = fs_test_tmpfile("converted.safetensors");
  ck_assert_msg(!fs_st_write(&src, conv, to, &e), "%s", e.msg);
  ck_assert_msg(!fs_model_open(conv, &out, &e), "%s", e.msg);
  ck_assert_int_eq(out.ntensors, src.ntensors);
  ck_assert_str_eq(fs_model_meta(&out, "flagscope.source_format"), fs_format_name(src.format));
  for (int i = 0; i < src.ntensors; i++) {
    const fs_tensor *a = &src.tensors[i], *b = fs_model_find(&out, a->name);
    ck_assert_ptr_nonnull(b);
    int keep = (a->dtype == FS_DT_F64 || a->dtype == FS_DT_F32 || a->dtype == FS_DT_F16 ||
                a->dtype == FS_DT_BF16) ? (int)a->dtype : FS_DT_F32;
    ck_assert_int_eq((int)b->dtype, to < 0 ? keep : to);
    ck_assert_int_eq(b->ndim, a->ndim);
    for (int d = 0; d < a->ndim; d++) ck_assert_int_eq(b->shape[d], a->shape[d]);
    int64_t n = fs_tensor_numel(a);
    double *x = malloc(sizeof *x * (size_t)(n + 1)), *y = malloc(sizeof *y * (size_t)(n + 1));
    ck_assert_msg(!fs_tensor_read_rows(&src, a, 0, fs_tensor_rows(a), x, &e), "%s", e.msg);
    ck_assert_msg(!fs_tensor_read_rows(&out, b, 0, fs_tensor_rows(b), y, &e), "%s", e.msg);
    int64_t bad = -1; /* one assertion per tensor: Check's are costly in a loop */
    for (int64_t j = 0; j < n && bad < 0; j++) {
      double want = to == FS_DT_BF16 ? fs_bf16_to_double(fs_double_to_bf16(x[j]))
                    : (to < 0 && keep == FS_DT_F32) ? (double)(float)x[j] : x[j];
      if (memcmp(&want, &y[j], sizeof want) != 0) bad = j;
    }
    ck_assert_msg(bad < 0, "%s: %s[%lld] differs", path, a->name, (long long)bad);
    free(x), free(y);
  }
  fs_model_close(&out);
  fs_model_close(&src);
}

/* Every real model converts and reads back bit for bit (its own float type,
 * or F64), and rounds correctly to BF16. */
START_TEST(convert_reads_back) {
  const char *real[] = {fs_test_example("stories260K.gguf"),
                        fs_test_example("stories260K-hf/model.safetensors"),
                        fs_test_example("gnubg-nets.safetensors"),
                        fs_test_data("fetched/ch_PP-OCRv4_rec_infer.onnx"),
                        fs_test_data("fetched/face-api/face_recognition_model-weights_manifest.json")};
  char *paths[5];
  for (int i = 0; i < 5; i++) paths[i] = strdup(real[i]); /* fs_test_* reuse their buffers */
  for (int i = 0; i < 5; i++) {
    round_trip(paths[i], -1);
    round_trip(paths[i], FS_DT_F64);
  }
  round_trip(paths[0], FS_DT_BF16);
  for (int i = 0; i < 5; i++) free(paths[i]);
}
END_TEST

START_TEST(unwritable_output) {
  fs_model src;
  fs_error e;
  ck_assert(!fs_model_open(fs_test_example("stories260K.gguf"), &src, &e));
  ck_assert(fs_st_write(&src, "/nonexistent-dir/x.safetensors", -1, &e));
  ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent-dir/x.safetensors: cannot create"));
  fs_model_close(&src);
}
END_TEST

int main(void) {
  Suite *s = suite_create("st_write");
  TCase *tc = tcase_create("st_write");
  tcase_add_test(tc, half_round_trips_exhaustive);
  tcase_add_test(tc, half_rounding);
  tcase_add_test(tc, convert_reads_back);
  tcase_add_test(tc, unwritable_output);
  suite_add_tcase(s, tc);
  return fs_test_run(s);
}
