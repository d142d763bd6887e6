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
  for (unsigned h = 0; h < 65536; h++) {
    double f = fs_f16_to_double((uint16_t)h), b = fs_bf16_to_double((uint16_t)h);
    if (!isnan(f)) ck_assert_uint_eq(fs_double_to_f16(f), h);
    if (!isnan(b)) ck_assert_uint_eq(fs_double_to_bf16(b), h);
    if (isnan(f)) ck_assert(isnan(fs_f16_to_double(fs_double_to_f16(f))));
  }
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

/* A converted file reads back bit for bit, in each target type. */
START_TEST(convert_reads_back) {
  fs_model src, out;
  fs_error e;
  ck_assert_msg(!fs_model_open(fs_test_example("stories260K.gguf"), &src, &e), "%s", e.msg);
  const char *path = fs_test_tmpfile("converted.safetensors");
  const int targets[] = {-1, FS_DT_F64, FS_DT_BF16};
  for (int k = 0; k < 3; k++) {
    ck_assert_msg(!fs_st_write(&src, path, targets[k], &e), "%s", e.msg);
    ck_assert_msg(!fs_model_open(path, &out, &e), "%s", e.msg);
    ck_assert_int_eq(out.ntensors, src.ntensors);
    ck_assert_str_eq(fs_model_meta(&out, "general.architecture"), "llama");
    ck_assert_str_eq(fs_model_meta(&out, "flagscope.source_format"), "gguf");
    for (int i = 0; i < src.ntensors; i++) {
      const fs_tensor *a = &src.tensors[i], *b = fs_model_find(&out, a->name);
      ck_assert_ptr_nonnull(b);
      ck_assert_int_eq((int)b->dtype, targets[k] < 0 ? (int)a->dtype : targets[k]);
      ck_assert_int_eq(b->ndim, a->ndim);
      for (int d = 0; d < a->ndim; d++) ck_assert_int_eq(b->shape[d], a->shape[d]);
      int64_t n = fs_tensor_numel(a);
      double *x = malloc(sizeof *x * (size_t)n), *y = malloc(sizeof *y * (size_t)n);
      ck_assert(!fs_tensor_read_rows(&src, a, 0, fs_tensor_rows(a), x, &e));
      ck_assert(!fs_tensor_read_rows(&out, b, 0, fs_tensor_rows(b), y, &e));
      for (int64_t j = 0; j < n; j++) {
        double want = targets[k] == FS_DT_BF16 ? fs_bf16_to_double(fs_double_to_bf16(x[j])) : x[j];
        ck_assert_msg(memcmp(&want, &y[j], sizeof want) == 0, "%s[%lld]", a->name, (long long)j);
      }
      free(x), free(y);
    }
    fs_model_close(&out);
  }
  fs_model_close(&src);
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
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
