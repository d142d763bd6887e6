/* fuzz_common.c - see fuzz_common.h. */
#include "fuzz_common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_model.h"

#ifndef FUZZ_SOURCE_DIR
#error "FUZZ_SOURCE_DIR must name the source tree"
#endif

static char dir[PATH_MAX];

static void remove_dir(void) {
  /* Best effort: the files the targets write, then the directory. */
  char cmd[PATH_MAX + 16];
  if (!dir[0]) return;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) { /* nothing to do */ }
}

const char *fuzz_dir(void) {
  if (dir[0]) return dir;
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/flagscope-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    fprintf(stderr, "fuzz: mkdtemp %s: %s\n", dir, strerror(errno));
    abort();
  }
  atexit(remove_dir);
  return dir;
}

static void write_file(const char *path, const uint8_t *data, size_t size) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
    abort();
  }
  size_t done = 0;
  while (done < size) {
    ssize_t k = write(fd, data + done, size - done);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      fprintf(stderr, "fuzz: short write to %s\n", path);
      abort();
    }
    done += (size_t)k;
  }
  close(fd);
}

void fuzz_copy_beside(const char *src_rel, const char *as) {
  char src[PATH_MAX], dst[PATH_MAX];
  snprintf(src, sizeof src, "%s/%s", FUZZ_SOURCE_DIR, src_rel);
  snprintf(dst, sizeof dst, "%s/%s", fuzz_dir(), as);
  char *slash = strrchr(dst, '/');
  if (slash && slash > dst + strlen(fuzz_dir())) {
    *slash = '\0';
    mkdir(dst, 0700);
    *slash = '/';
  }
  FILE *f = fopen(src, "rb");
  if (!f) {
    fprintf(stderr, "fuzz: cannot read %s: %s\n", src, strerror(errno));
    abort();
  }
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  size_t k;
  while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
    n += k;
    if (n == cap) {
      uint8_t *grown = realloc(buf, cap *= 2);
      if (!grown) free(buf);
      buf = grown;
    }
  }
  fclose(f);
  if (!buf) abort();
  write_file(dst, buf, n);
  free(buf);
}

/* Errors are one line (they name tensors and keys taken from the file). */
static void check_message(const fs_error *err) {
  if (!err->msg[0] || strchr(err->msg, '\n') || strchr(err->msg, '\r')) {
    fprintf(stderr, "fuzz: error message is not one line: '%s'\n", err->msg);
    abort();
  }
}

int fuzz_open_and_read(const uint8_t *data, size_t size, const char *name) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
  write_file(path, data, size);
  fs_model m;
  fs_error err;
  err.msg[0] = '\0';
  if (fs_model_open(path, &m, &err) != 0) {
    check_message(&err);
    fs_model_close(&m); /* must be safe on a failed open */
    return 0;
  }
  for (int i = 0; i < m.ntensors; i++) {
    const fs_tensor *t = &m.tensors[i];
    int64_t numel = fs_tensor_numel(t), rows = fs_tensor_rows(t), cols = fs_tensor_cols(t);
    if (numel < 0 || numel > FUZZ_MAX_ELEMS || rows <= 0 || cols <= 0) continue;
    /* Rows in chunks of about 64 K values, so memory stays small. */
    int64_t step = cols >= 65536 ? 1 : 65536 / cols;
    double *out = malloc((size_t)(step * cols) * sizeof *out);
    if (!out) abort();
    for (int64_t r0 = 0; r0 < rows; r0 += step) {
      int64_t r1 = r0 + step < rows ? r0 + step : rows;
      if (fs_tensor_read_rows(&m, t, r0, r1, out, &err) != 0) {
        check_message(&err);
        break;
      }
    }
    free(out);
  }
  fs_model_close(&m);
  return 0;
}
