/*
 * test_fuzz_regressions.c - inputs found by the fuzz targets (tests/fuzz,
 * docs/fuzzing.md) and headers that claim terabytes.
 *
 * regressions: every file in tests/data/fuzz-regressions/<format>/ is
 * opened under the name the fuzz target gives it (with the same fixed files
 * beside it) and, if it opens, every row of every tensor is read.  A clean
 * one-line error or a success passes; a crash or a sanitizer report fails.
 *
 * hostile sizes: crafted files whose headers claim 2^40 elements over a few
 * bytes of data are opened in a forked child whose address space is limited
 * to 1 GiB above what it already maps (setrlimit RLIMIT_AS); each must fail
 * with an error, not an allocation.  Under AddressSanitizer (which reserves
 * terabytes of shadow address space) the limit is not set; the sanitizer's
 * own allocator still turns a huge allocation into a report.
 */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs_model.h"
#include "fs_testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define FS_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FS_UNDER_ASAN 1
#endif
#endif
#ifndef FS_UNDER_ASAN
#define FS_UNDER_ASAN 0
#endif

#if FS_UNDER_ASAN
/* libhdf5 answers a corrupt object header (fuzz-regressions/keras) with a
 * malloc of petabytes; glibc returns NULL and libhdf5 fails cleanly, where
 * ASan would abort by default.  ASAN_OPTIONS still overrides this. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
#endif

/* Tensors above this many elements are not read (as in the fuzz targets). */
#define MAX_READ_ELEMS ((int64_t)1 << 24)

static void copy_file(const char *src, const char *dst) {
  FILE *f = fopen(src, "rb");
  ck_assert_msg(f != NULL, "cannot read %s", src);
  fs_buf b = {0};
  unsigned char chunk[4096];
  size_t k;
  while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) fs_buf_put(&b, chunk, k);
  fclose(f);
  fs_test_write_file(dst, b.p, b.n);
  fs_buf_free(&b);
}

/* Open path; on success read all rows of every tensor of bounded size.  The
 * outcome does not matter, only that it is reached, and that a failure
 * comes with a one-line message. */
static void open_and_read_all(const char *path) {
  fs_model m;
  fs_error err;
  err.msg[0] = '\0';
  if (fs_model_open(path, &m, &err) != 0) {
    ck_assert_msg(err.msg[0] && !strpbrk(err.msg, "\r\n"), "%s: no one-line error: '%s'", path,
                  err.msg);
    fs_model_close(&m);
    return;
  }
  for (int i = 0; i < m.ntensors; i++) {
    const fs_tensor *t = &m.tensors[i];
    int64_t numel = fs_tensor_numel(t), rows = fs_tensor_rows(t), cols = fs_tensor_cols(t);
    if (numel < 0 || numel > MAX_READ_ELEMS || rows <= 0 || cols <= 0) continue;
    int64_t step = cols >= 65536 ? 1 : 65536 / cols;
    double *out = malloc((size_t)(step * cols) * sizeof *out);
    ck_assert(out != NULL);
    for (int64_t r0 = 0; r0 < rows; r0 += step) {
      int64_t r1 = r0 + step < rows ? r0 + step : rows;
      if (fs_tensor_read_rows(&m, t, r0, r1, out, &err) != 0) {
        ck_assert_msg(err.msg[0] && !strchr(err.msg, '\n'), "%s: no one-line error", path);
        break;
      }
    }
    free(out);
  }
  fs_model_close(&m);
}

/* The name the fuzz target of this format family gives its input. */
static const char *name_for(const char *format, const unsigned char *head, size_t n) {
  if (!strcmp(format, "safetensors")) {
    size_t i = 0;
    while (i < n && (head[i] == ' ' || head[i] == '\n' || head[i] == '\r' || head[i] == '\t'))
      i++;
    return i < n && head[i] == '{' ? "model.safetensors.index.json" : "model.safetensors";
  }
  if (!strcmp(format, "gguf")) return "model.gguf";
  if (!strcmp(format, "onnx")) return "model.onnx";
  if (!strcmp(format, "tfjs")) return "model.json";
  if (!strcmp(format, "keras")) return "model.weights.h5";
  if (!strcmp(format, "npy")) return n >= 2 && head[0] == 'P' && head[1] == 'K' ? "arrays.npz"
                                                                                : "array.npy";
  return "model.pt";
}

/* The fixed files the fuzz targets keep beside their input. */
static void write_fixed_files(void) {
  static const char *const beside[][2] = {
      {"shards/model-00001-of-00003.safetensors", "model-00001-of-00003.safetensors"},
      {"shards/model-00002-of-00003.safetensors", "model-00002-of-00003.safetensors"},
      {"shards/config.json", "config.json"},
      {"tfjs/group1-shard1of2.bin", "group1-shard1of2.bin"},
      {"tfjs/group1-shard2of2.bin", "group1-shard2of2.bin"},
      {"tfjs/group2-shard1of1.bin", "group2-shard1of1.bin"},
  };
  for (size_t i = 0; i < sizeof beside / sizeof beside[0]; i++)
    copy_file(fs_test_data(beside[i][0]), fs_test_tmpfile(beside[i][1]));
  /* the third shard lives in a subdirectory */
  char sub[600];
  snprintf(sub, sizeof sub, "%s", fs_test_tmpfile("sub"));
  mkdir(sub, 0700);
  copy_file(fs_test_data("shards/sub/model-00003-of-00003.safetensors"),
            fs_test_tmpfile("sub/model-00003-of-00003.safetensors"));
}

START_TEST(test_regressions) {
  static const char *const formats[] = {"safetensors", "gguf", "onnx", "tfjs",
                                        "keras",       "npy",  "torch"};
  write_fixed_files();
  int total = 0;
  for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
    char dirpath[4096];
    snprintf(dirpath, sizeof dirpath, "%s/%s", fs_test_data("fuzz-regressions"), formats[f]);
    DIR *d = opendir(dirpath);
    if (!d) continue; /* no regression of this family (yet) */
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      char src[4096 + 256];
      struct stat st;
      snprintf(src, sizeof src, "%s/%s", dirpath, e->d_name);
      if (e->d_name[0] == '.' || stat(src, &st) != 0 || !S_ISREG(st.st_mode)) continue;
      unsigned char head[64] = {0};
      FILE *in = fopen(src, "rb");
      ck_assert_msg(in != NULL, "cannot read %s", src);
      size_t n = fread(head, 1, sizeof head, in);
      fclose(in);
      const char *dst = fs_test_tmpfile(name_for(formats[f], head, n));
      copy_file(src, dst);
      open_and_read_all(dst);
      unlink(dst);
      total++;
    }
    closedir(d);
  }
  ck_assert_msg(total > 0, "no regression inputs found in %s", fs_test_data("fuzz-regressions"));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Headers claiming terabytes                                               */

#define TERA_ELEMS ((uint64_t)1 << 40)

static void write_huge_safetensors(const char *path) {
  char json[128];
  int k = snprintf(json, sizeof json,
                   "{\"w\":{\"dtype\":\"F32\",\"shape\":[%llu],\"data_offsets\":[0,%llu]}}",
                   (unsigned long long)TERA_ELEMS, (unsigned long long)(TERA_ELEMS * 4));
  ck_assert(k > 0 && k < 92);
  memset(json + k, ' ', (size_t)(92 - k)); /* 8 + 92 = a file of 100 bytes */
  fs_buf b = {0};
  fs_buf_u64(&b, 92);
  fs_buf_put(&b, json, 92);
  fs_test_write_file(path, b.p, b.n);
  fs_buf_free(&b);
}

/* One tensor of 2^40 elements: dims {2^20, 2^20} (split) or {2^40}. */
static void write_huge_gguf(const char *path, int split) {
  fs_buf b = {0};
  fs_buf_put(&b, "GGUF", 4);
  fs_buf_u32(&b, 3); /* version */
  fs_buf_u64(&b, 1); /* tensors */
  fs_buf_u64(&b, 0); /* metadata entries */
  fs_buf_u64(&b, 1);
  fs_buf_put(&b, "w", 1);
  fs_buf_u32(&b, split ? 2 : 1); /* n_dims */
  if (split) {
    fs_buf_u64(&b, (uint64_t)1 << 20);
    fs_buf_u64(&b, (uint64_t)1 << 20);
  } else {
    fs_buf_u64(&b, TERA_ELEMS);
  }
  fs_buf_u32(&b, 0); /* F32 */
  fs_buf_u64(&b, 0); /* offset */
  fs_buf_pad(&b, 32);
  fs_buf_f32(&b, 1.0f);
  fs_test_write_file(path, b.p, b.n);
  fs_buf_free(&b);
}

static void write_huge_npy(const char *path) {
  char hdr[118];
  int k = snprintf(hdr, sizeof hdr,
                   "{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576), }");
  ck_assert(k > 0 && k < (int)sizeof hdr - 1);
  memset(hdr + k, ' ', sizeof hdr - 1 - (size_t)k);
  hdr[sizeof hdr - 1] = '\n'; /* 10 + 118 = 128, a multiple of 64 */
  fs_buf b = {0};
  fs_buf_put(&b, "\x93NUMPY\x01\x00", 8);
  fs_buf_u16(&b, (uint16_t)sizeof hdr);
  fs_buf_put(&b, hdr, sizeof hdr);
  fs_buf_f32(&b, 1.0f);
  fs_test_write_file(path, b.p, b.n);
  fs_buf_free(&b);
}

static void write_huge_tfjs(const char *path) {
  const char *json =
      "{\"format\":\"layers-model\",\"modelTopology\":{},\"weightsManifest\":[{\"paths\":"
      "[\"group2-shard1of1.bin\"],\"weights\":[{\"name\":\"w\",\"shape\":[1048576,1048576],"
      "\"dtype\":\"float32\"}]}]}";
  fs_test_write_file(path, json, strlen(json));
}

/* Virtual memory the process maps now, in bytes (/proc/self/statm). */
static uint64_t mapped_now(void) {
  unsigned long pages = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%lu", &pages) != 1) pages = 0;
    fclose(f);
  }
  return (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

START_TEST(test_hostile_sizes) {
  const char *files[6];
  files[0] = fs_test_tmpfile("huge.safetensors");
  write_huge_safetensors(files[0]);
  files[1] = fs_test_tmpfile("huge.gguf");
  write_huge_gguf(files[1], 1);
  files[5] = fs_test_tmpfile("huge1d.gguf");
  write_huge_gguf(files[5], 0);
  files[2] = fs_test_tmpfile("huge.npy");
  write_huge_npy(files[2]);
  files[3] = fs_test_data("fuzz-regressions/torch/huge_storage.pt");
  char tfjs_dir[600];
  snprintf(tfjs_dir, sizeof tfjs_dir, "%s", fs_test_tmpfile("hugetfjs"));
  mkdir(tfjs_dir, 0700);
  files[4] = fs_test_tmpfile("hugetfjs/model.json");
  write_huge_tfjs(files[4]);
  copy_file(fs_test_data("tfjs/group2-shard1of1.bin"),
            fs_test_tmpfile("hugetfjs/group2-shard1of1.bin"));
  const int nfiles = (int)(sizeof files / sizeof files[0]);

  fflush(NULL);
  pid_t pid = fork();
  ck_assert(pid >= 0);
  if (pid == 0) {
    if (!FS_UNDER_ASAN) {
      uint64_t limit = mapped_now() + ((uint64_t)1 << 30);
      struct rlimit rl = {(rlim_t)limit, (rlim_t)limit};
      if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(100);
    }
    for (int i = 0; i < nfiles; i++) {
      fs_model m;
      fs_error err;
      err.msg[0] = '\0';
      int rc = fs_model_open(files[i], &m, &err);
      fs_model_close(&m);
      if (rc == 0) _exit(10 + i);                           /* opened: not refused */
      if (!err.msg[0] || strchr(err.msg, '\n')) _exit(20 + i); /* no one-line error */
      fprintf(stderr, "  refused: %s\n", err.msg);
    }
    _exit(0);
  }
  int status = 0;
  ck_assert(waitpid(pid, &status, 0) == pid);
  ck_assert_msg(!WIFSIGNALED(status), "child killed by signal %d", WTERMSIG(status));
  ck_assert(WIFEXITED(status));
  int code = WEXITSTATUS(status);
  ck_assert_msg(code != 100, "setrlimit(RLIMIT_AS) failed");
  if (code >= 10 && code < 10 + nfiles)
    ck_abort_msg("%s: opened although it claims terabytes", files[code - 10]);
  if (code >= 20 && code < 20 + nfiles)
    ck_abort_msg("%s: failed without a one-line error", files[code - 20]);
  ck_assert_msg(code == 0, "child exited with status %d", code);
}
END_TEST

static Suite *fuzz_regressions_suite(void) {
  Suite *s = suite_create("fuzz_regressions");
  TCase *tc = tcase_create("inputs");
  /* the hostile sizes first: their child then inherits no memory that a
   * regression input made libhdf5 leak (see docs/fuzzing.md) */
  tcase_add_test(tc, test_hostile_sizes);
  tcase_add_test(tc, test_regressions);
  tcase_set_timeout(tc, 120);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return fs_test_run(fuzz_regressions_suite()); }
