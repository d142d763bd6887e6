/* test_manifest.c - zoo manifests: the line grammar, path resolution, tags,
 * backwards compatibility with one-path-per-line files, and bad lines
 * reported with file:line while the other models go on. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_manifest.h"
#include "fs_testutil.h"

static int parse(const char *line, const char *dir, fs_manifest_entry *e, fs_error *err) {
  fs_error_clear(err);
  return fs_manifest_parse_line(line, dir, e, err);
}

START_TEST(plain_paths) {
  fs_manifest_entry e;
  fs_error err;
  ck_assert_int_eq(parse("model.safetensors\n", "zoo", &e, &err), 1);
  ck_assert_str_eq(e.path, "zoo/model.safetensors");
  ck_assert_str_eq(e.tags, "");
  fs_manifest_entry_free(&e);
  ck_assert_int_eq(parse("  /abs/m.gguf   # trailing comment\r\n", "zoo", &e, &err), 1);
  ck_assert_str_eq(e.path, "/abs/m.gguf");
  fs_manifest_entry_free(&e);
  /* one-path-per-line manifests: spaces inside a path without any '=' */
  ck_assert_int_eq(parse("my models/run 1.safetensors  \n", "", &e, &err), 1);
  ck_assert_str_eq(e.path, "my models/run 1.safetensors");
  fs_manifest_entry_free(&e);
  ck_assert_int_eq(parse("   # only a comment", "zoo", &e, &err), 0);
  ck_assert_int_eq(parse(" \t\r\n", "zoo", &e, &err), 0);
}
END_TEST

START_TEST(tags) {
  fs_manifest_entry e;
  fs_error err;
  ck_assert_int_eq(parse("run3/m.pt seed=3  step=1000\twd=0.1 family=mlp layers=maps/l.json # x",
                         "/z", &e, &err), 1);
  ck_assert_str_eq(e.path, "/z/run3/m.pt");
  ck_assert_str_eq(e.tags, "seed=3 step=1000 wd=0.1 family=mlp layers=/z/maps/l.json");
  char v[64];
  ck_assert(fs_manifest_tag(e.tags, "step", v, sizeof v));
  ck_assert_str_eq(v, "1000");
  ck_assert(fs_manifest_tag(e.tags, "layers", v, sizeof v));
  ck_assert_str_eq(v, "/z/maps/l.json");
  ck_assert(!fs_manifest_tag(e.tags, "ste", v, sizeof v));
  ck_assert(!fs_manifest_tag(e.tags, "seed=3", v, sizeof v));
  fs_manifest_entry_free(&e);
  ck_assert_int_eq(parse("\"a dir/with#hash.gguf\" seed=1", "d", &e, &err), 1);
  ck_assert_str_eq(e.path, "d/a dir/with#hash.gguf");
  ck_assert_str_eq(e.tags, "seed=1");
  fs_manifest_entry_free(&e);
}
END_TEST

static void bad(const char *line, const char *reason) {
  fs_manifest_entry e;
  fs_error err;
  ck_assert_msg(parse(line, "d", &e, &err) == FS_ERR, "accepted: %s", line);
  ck_assert_msg(strstr(err.msg, reason), "'%s': '%s' lacks '%s'", line, err.msg, reason);
  ck_assert_ptr_null(e.path);
}

START_TEST(bad_lines) {
  bad("m.pt seed=1 oops", "'oops' is not a key=value tag");
  bad("m.pt seed=", "tag 'seed' has no value");
  bad("m.pt =3", "is not a name");
  bad("m.pt 9x=3", "is not a name");
  bad("m.pt seed=1 seed=2", "tag 'seed' given twice");
  bad("m.pt family=Not-A-Family", "is not a family name");
  bad("\"m.pt seed=1", "unterminated quote");
  bad("\"\" seed=1", "empty path");
  bad("\"m.pt\"x=1", "right after the closing quote");
  bad("m.pt a=\"q\"", "quotes are not allowed");
  char line[2000] = "m.pt";
  for (int i = 0; i < 60; i++) snprintf(line + strlen(line), sizeof line - strlen(line), " k%d=0123456789", i);
  bad(line, "tags longer than 511 bytes");
}
END_TEST

START_TEST(read_file_with_bad_lines) {
  char *dir = fs_test_tmpdir("manifest");
  char *path = fs_test_join(dir, "zoo.txt");
  const char text[] =
      "# a zoo\n"
      "a.safetensors\n"
      "b.gguf seed=1 step=10\n"
      "c.pt seed x=1\n"          /* line 4: bad */
      "\n"
      "/abs/d.npz wd=0.01\n"
      "e.pt x=1 x=2\n";          /* line 7: bad, and no newline at the end */
  fs_test_write_file(path, text, sizeof text - 1);
  fs_manifest m;
  fs_error err;
  ck_assert_int_eq(fs_manifest_read(path, &m, &err), 0);
  ck_assert_int_eq(m.n, 3);
  char want[4200];
  snprintf(want, sizeof want, "%s/a.safetensors", dir);
  ck_assert_str_eq(m.entry[0].path, want);
  ck_assert_int_eq(m.entry[0].line, 2);
  ck_assert_str_eq(m.entry[1].tags, "seed=1 step=10");
  ck_assert_str_eq(m.entry[2].path, "/abs/d.npz");
  ck_assert_int_eq(m.entry[2].line, 6);
  ck_assert_int_eq(m.nbad, 2);
  snprintf(want, sizeof want, "%s:4: 'seed' is not a key=value tag", path);
  ck_assert_str_eq(m.bad[0], want);
  snprintf(want, sizeof want, "%s:7: tag 'x' given twice", path);
  ck_assert_str_eq(m.bad[1], want);
  fs_manifest_free(&m);
  ck_assert_int_eq(fs_manifest_read("/nonexistent/zoo.txt", &m, &err), FS_ERR);
  ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/zoo.txt: cannot read the manifest"));
  free(path), free(dir);
}
END_TEST

START_TEST(hostile_lines) { /* a NUL byte and a huge line are bad lines, not crashes */
  char *dir = fs_test_tmpdir("manifest_hostile");
  char *path = fs_test_join(dir, "zoo.txt");
  size_t n = 20000;
  char *text = malloc(n + 64);
  memcpy(text, "ok.pt\nnul\0byte.pt\n", 18);
  memset(text + 18, 'x', n);
  memcpy(text + 18 + n, "\nlast.pt\n", 9);
  fs_test_write_file(path, text, 18 + n + 9);
  fs_manifest m;
  fs_error err;
  ck_assert_int_eq(fs_manifest_read(path, &m, &err), 0);
  ck_assert_int_eq(m.n, 2);
  ck_assert_int_eq(m.nbad, 2);
  ck_assert_ptr_nonnull(strstr(m.bad[0], ":2: NUL byte"));
  ck_assert_ptr_nonnull(strstr(m.bad[1], ":3: line longer than"));
  ck_assert_int_eq(m.entry[1].line, 4);
  fs_manifest_free(&m);
  free(text), free(path), free(dir);
}
END_TEST

int main(void) {
  Suite *s = suite_create("manifest");
  TCase *tc = tcase_create("manifest");
  tcase_add_test(tc, plain_paths);
  tcase_add_test(tc, tags);
  tcase_add_test(tc, bad_lines);
  tcase_add_test(tc, read_file_with_bad_lines);
  tcase_add_test(tc, hostile_lines);
  suite_add_tcase(s, tc);
  return fs_test_run(s);
}
