/* fs_testutil.c - helpers shared by the unit tests (see fs_testutil.h). */
#include "fs_testutil.h"

#include <check.h>
#include <errno.h>
#include <sys/stat.h>

#include "fs_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *join(const char *env, const char *fallback, const char *name) {
  static char buf[8][4096];
  static int slot;
  const char *dir = getenv(env);
  char *out = buf[slot++ % 8];
  snprintf(out, sizeof buf[0], "%s/%s", dir ? dir : fallback, name);
  return out;
}

const char *fs_test_example(const char *name) {
  return join("FS_EXAMPLES", FLAGSCOPE_EXAMPLES_DIR, name);
}

const char *fs_test_data(const char *name) {
  return join("FS_TEST_DATA", FLAGSCOPE_EXAMPLES_DIR "/../../tests/data", name);
}

static char tmpdir[256];

static void remove_tmpdir(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir);
}

const char *fs_test_tmpfile(const char *name) {
  char *dir = tmpdir;
  if (!dir[0]) {
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof tmpdir, "%s/fs_test_%d", t ? t : "/tmp", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0) abort();
    atexit(remove_tmpdir);
  }
  static char buf[8][512];
  static int slot;
  char *out = buf[slot++ % 8];
  snprintf(out, sizeof buf[0], "%s/%s", dir, name);
  return out;
}

static unsigned long long rng_state = 88172645463325252ULL;

void fs_test_seed(unsigned long long seed) { rng_state = seed ? seed : 1; }

double fs_test_uniform(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return 2.0 * ((double)(rng_state >> 11) / 9007199254740992.0) - 1.0;
}

double fs_test_normal(void) {
  double u1 = 0.5 * (fs_test_uniform() + 1.0), u2 = 0.5 * (fs_test_uniform() + 1.0);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

int fs_test_full_svd(const double *W, int m, int n, double *s, double *U,
                     double *V) {
  int mn = m < n ? m : n, info = 0, lwork = -1;
  double *a = malloc(sizeof(double) * (size_t)m * n);
  double *u = malloc(sizeof(double) * (size_t)m * mn);
  double *vt = malloc(sizeof(double) * (size_t)mn * n);
  int *iwork = malloc(sizeof(int) * 8 * (size_t)mn);
  for (int i = 0; i < m; i++)
    for (int c = 0; c < n; c++) a[i + (size_t)c * m] = W[(size_t)i * n + c];
  double q;
  dgesdd_("S", &m, &n, a, &m, s, u, &m, vt, &mn, &q, &lwork, iwork, &info);
  lwork = (int)q;
  double *work = malloc(sizeof(double) * (size_t)lwork);
  dgesdd_("S", &m, &n, a, &m, s, u, &m, vt, &mn, work, &lwork, iwork, &info);
  if (U) memcpy(U, u, sizeof(double) * (size_t)m * mn);
  if (V)
    for (int i = 0; i < mn; i++)
      for (int c = 0; c < n; c++) V[c + (size_t)i * n] = vt[i + (size_t)c * mn];
  free(a); free(u); free(vt); free(iwork); free(work);
  return info;
}

void fs_test_orthonormal(int d, int k, double *Q) {
  int info = 0, lwork = -1;
  double *tau = malloc(sizeof(double) * (size_t)k), q;
  for (size_t i = 0; i < (size_t)d * k; i++) Q[i] = fs_test_normal();
  dgeqrf_(&d, &k, Q, &d, tau, &q, &lwork, &info);
  lwork = (int)q;
  double *work = malloc(sizeof(double) * (size_t)(lwork > 64 * k ? lwork : 64 * k));
  dgeqrf_(&d, &k, Q, &d, tau, work, &lwork, &info);
  dorgqr_(&d, &k, &k, Q, &d, tau, work, &lwork, &info);
  free(tau); free(work);
}

int fs_test_write_safetensors(const char *path, int n, const char *const *names,
                              const int *rows, const int *cols,
                              const double *const *data) {
  char json[8192];
  size_t len = 0, pos = 0;
  len += (size_t)snprintf(json + len, sizeof json - len, "{");
  for (int i = 0; i < n; i++) {
    size_t bytes = 8 * (size_t)rows[i] * cols[i];
    len += (size_t)snprintf(json + len, sizeof json - len,
                            "%s\"%s\":{\"dtype\":\"F64\",\"shape\":[%d,%d],"
                            "\"data_offsets\":[%zu,%zu]}",
                            i ? "," : "", names[i], rows[i], cols[i], pos, pos + bytes);
    pos += bytes;
  }
  len += (size_t)snprintf(json + len, sizeof json - len, "}");
  while (len % 8) json[len++] = ' ';
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  unsigned long long hl = len; /* little-endian hosts only, as the readers assume */
  int ok = fwrite(&hl, 8, 1, f) == 1 && fwrite(json, 1, len, f) == len;
  for (int i = 0; ok && i < n; i++)
    ok = fwrite(data[i], 8, (size_t)rows[i] * cols[i], f) == (size_t)rows[i] * cols[i];
  return (fclose(f) == 0 && ok) ? 0 : -1;
}

void fs_buf_put(fs_buf *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
    ck_assert_ptr_nonnull(b->p);
  }
  if (n) memcpy(b->p + b->n, d, n);
  b->n += n;
}

void fs_buf_le(fs_buf *b, uint64_t v, int nbytes) {
  unsigned char x[8];
  for (int i = 0; i < nbytes; i++) x[i] = (unsigned char)(v >> (8 * i));
  fs_buf_put(b, x, (size_t)nbytes);
}

void fs_buf_u8(fs_buf *b, uint8_t v) { fs_buf_le(b, v, 1); }
void fs_buf_u16(fs_buf *b, uint16_t v) { fs_buf_le(b, v, 2); }
void fs_buf_u32(fs_buf *b, uint32_t v) { fs_buf_le(b, v, 4); }
void fs_buf_u64(fs_buf *b, uint64_t v) { fs_buf_le(b, v, 8); }

void fs_buf_f32(fs_buf *b, float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  fs_buf_u32(b, u);
}

void fs_buf_f64(fs_buf *b, double v) {
  uint64_t u;
  memcpy(&u, &v, 8);
  fs_buf_u64(b, u);
}

void fs_buf_pad(fs_buf *b, size_t align) {
  while (b->n % align) fs_buf_u8(b, 0);
}

void fs_buf_free(fs_buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

void fs_test_write_file(const char *path, const void *d, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
  ck_assert_uint_eq(fwrite(d, 1, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
}

int fs_test_quick(void) {
  const char *q = getenv("FS_TEST_QUICK");
  return q && q[0] && strcmp(q, "0") ? 4 : 1;
}

int fs_test_run(Suite *suite) {
  SRunner *sr = srunner_create(suite);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

void fs_test_open_ok(const char *path, fs_model *m) {
  fs_error err = {{0}};
  ck_assert_msg(fs_model_open(path, m, &err) == 0, "open %s failed: %s", path, err.msg);
}

void fs_test_expect_open_fail(const char *path, const char *reason) {
  fs_model m;
  fs_error err = {{0}};
  ck_assert_msg(fs_model_open(path, &m, &err) == FS_ERR, "%s opened but should not", path);
  ck_assert_msg(strstr(err.msg, path) != NULL, "message lacks the path: %s", err.msg);
  ck_assert_msg(strstr(err.msg, reason) != NULL, "expected '%s' in: %s", reason, err.msg);
  ck_assert_msg(strchr(err.msg, '\n') == NULL, "multi-line message: %s", err.msg);
  /* a failed open leaves an empty model that is safe to close */
  ck_assert_int_eq(m.ntensors, 0);
  ck_assert_int_eq(m.nmeta, 0);
  ck_assert_int_eq(m.nfiles, 0);
  ck_assert_ptr_null(m.tensors);
  ck_assert_ptr_null(m.path);
  fs_model_close(&m);
}

char *fs_test_tmpdir(const char *name) {
  char *d = strdup(fs_test_tmpfile(name));
  ck_assert_msg(d && (mkdir(d, 0755) == 0 || errno == EEXIST), "mkdir %s", name);
  return d;
}

char *fs_test_join(const char *dir, const char *name) {
  char *p = malloc(strlen(dir) + strlen(name) + 2);
  ck_assert_ptr_nonnull(p);
  sprintf(p, "%s/%s", dir, name);
  return p;
}
