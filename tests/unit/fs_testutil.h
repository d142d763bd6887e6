/* fs_testutil.h - helpers shared by the unit tests. */
#ifndef FS_TESTUTIL_H
#define FS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* $FS_EXAMPLES/<name> (the bundled example zoo) or $FS_TEST_DATA/<name>. */
const char *fs_test_example(const char *name);
const char *fs_test_data(const char *name);
/* A fresh path in a per-process temporary directory. */
const char *fs_test_tmpfile(const char *name);

/* Deterministic uniform(-1,1) and normal variates (xorshift; seeded). */
void fs_test_seed(unsigned long long seed);
double fs_test_uniform(void);
double fs_test_normal(void);

/* LAPACK, for independent reference computations (column-major). */
void dgesdd_(const char *jobz, const int *m, const int *n, double *a,
             const int *lda, double *s, double *u, const int *ldu, double *vt,
             const int *ldvt, double *work, const int *lwork, int *iwork,
             int *info);
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau,
             double *work, const int *lwork, int *info);
void dorgqr_(const int *m, const int *n, const int *k, double *a,
             const int *lda, const double *tau, double *work, const int *lwork,
             int *info);

/* Full SVD by dgesdd of the m x n row-major matrix W: s gets min(m,n) values;
 * U (m x min) and V (n x min) column-major if non-NULL.  Returns LAPACK info. */
int fs_test_full_svd(const double *W, int m, int n, double *s, double *U,
                     double *V);
/* A d x k matrix with orthonormal columns (column-major) from a random one. */
void fs_test_orthonormal(int d, int k, double *Q);

/* A growing byte buffer for building test files; the fs_buf_* writers store
 * little-endian values.  A zeroed fs_buf is empty; fs_buf_free empties it. */
typedef struct fs_buf {
  unsigned char *p;
  size_t n, cap;
} fs_buf;

void fs_buf_put(fs_buf *b, const void *d, size_t n);
void fs_buf_le(fs_buf *b, uint64_t v, int nbytes);
void fs_buf_u8(fs_buf *b, uint8_t v);
void fs_buf_u16(fs_buf *b, uint16_t v);
void fs_buf_u32(fs_buf *b, uint32_t v);
void fs_buf_u64(fs_buf *b, uint64_t v);
void fs_buf_f32(fs_buf *b, float v);
void fs_buf_f64(fs_buf *b, double v);
void fs_buf_pad(fs_buf *b, size_t align); /* zero bytes up to a multiple of align */
void fs_buf_free(fs_buf *b);

/* Write n bytes to path; a failure fails the running test. */
void fs_test_write_file(const char *path, const void *d, size_t n);

/* Checkpoint-reader assertions.  fs_test_open_ok fails the test with the
 * reader's message; fs_test_expect_open_fail expects a one-line error naming
 * the path and containing reason, and an empty model left behind. */
struct fs_model;
void fs_test_open_ok(const char *path, struct fs_model *m);
void fs_test_expect_open_fail(const char *path, const char *reason);
/* A fresh directory $tmp/name, and "dir/name"; both malloc'ed. */
char *fs_test_tmpdir(const char *name);
char *fs_test_join(const char *dir, const char *name);

/* Sample-size divisor: 1, or 4 when FS_TEST_QUICK is set to anything but 0
 * (tests/CMakeLists.txt sets it for the valgrind runs, which look for memory
 * errors, not statistics).  A test using it divides its sample sizes by it,
 * widens its statistical tolerances by its square root (standard errors grow
 * as 1/sqrt(n)) and keeps every code path. */
int fs_test_quick(void);

/* Run a Check suite (forking as CK_FORK says) and return the exit status. */
struct Suite;
int fs_test_run(struct Suite *suite);

/* Write an F64 safetensors file of n 2-D tensors (row-major data); returns 0. */
int fs_test_write_safetensors(const char *path, int n, const char *const *names,
                              const int *rows, const int *cols,
                              const double *const *data);

#endif
