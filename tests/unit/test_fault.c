/*
 * test_fault.c - the FLAGSCOPE_FAULT grammar (src/fs_fault.c): rules match
 * their stage, rank and model only; malformed specifications are refused.
 */
#include <check.h>
#include <stdlib.h>

#include "fs_fault.h"
#include "fs_testutil.h"

static int init(const char *spec, int rank) {
  setenv("FLAGSCOPE_FAULT", spec, 1);
  return fs_fault_init(rank);
}

START_TEST(test_unset) {
  unsetenv("FLAGSCOPE_FAULT");
  ck_assert_int_eq(fs_fault_init(0), 0);
  for (int s = 0; s < FS_FAULT_NSTAGES; s++) ck_assert(!fs_fault_hit((fs_fault_stage)s, 0));
}
END_TEST

START_TEST(test_match) {
  ck_assert_int_eq(init("spectra@1/2,write", 1), 0);
  ck_assert(fs_fault_hit(FS_FAULT_SPECTRA, 2));
  ck_assert(!fs_fault_hit(FS_FAULT_SPECTRA, 3)); /* another model */
  ck_assert(!fs_fault_hit(FS_FAULT_READ, 2));    /* another stage */
  ck_assert(fs_fault_hit(FS_FAULT_WRITE, -1));   /* every rank, not model-specific */
  ck_assert_int_eq(init("spectra@1/2", 0), 0);   /* another rank */
  ck_assert(!fs_fault_hit(FS_FAULT_SPECTRA, 2));
  ck_assert_int_eq(init("exchange@0/5", 0), 0);  /* model ignored where none applies */
  ck_assert(fs_fault_hit(FS_FAULT_EXCHANGE, -1));
  ck_assert_str_eq(fs_fault_stage_name(FS_FAULT_PAIRS), "pairs");
}
END_TEST

START_TEST(test_refused) {
  const char *bad[] = {"spectrum", "read@", "read@x", "read/-1", "read!stop", "read@1/",
                       ",", "open,,read", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    ck_assert_msg(init(bad[i], 0) != 0, "'%s' accepted", bad[i]);
    ck_assert(!fs_fault_hit(FS_FAULT_READ, 0)); /* nothing armed after a refusal */
  }
  unsetenv("FLAGSCOPE_FAULT");
}
END_TEST

static Suite *fault_suite(void) {
  Suite *s = suite_create("fault");
  TCase *tc = tcase_create("grammar");
  tcase_add_test(tc, test_unset);
  tcase_add_test(tc, test_match);
  tcase_add_test(tc, test_refused);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return fs_test_run(fault_suite()); }
