/*
 * fs_lapack.c - checked wrappers of BLAS dgemm and LAPACK dgesdd / dgeqrf for
 * the pair diagnostics (fs_lapack.h).  Workspace sizes come from LAPACK's
 * queries, never below the documented minimum.
 */
#include "fs_lapack.h"

#include <stdlib.h>

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

void fs_gemm(char ta, char tb, int m, int n, int k, double alpha, const double *a,
             int lda, const double *b, int ldb, double beta, double *c, int ldc) {
  if (m < 1 || n < 1) return;
  if (k < 1) {
    for (int j = 0; j < n; j++) /* beta 0: C may hold garbage, even NaN */
      for (int i = 0; i < m; i++) c[i + (size_t)j * ldc] = beta == 0.0 ? 0.0 : beta * c[i + (size_t)j * ldc];
    return;
  }
  dgemm_(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc, 1, 1);
}

int fs_singular_values_cm(int m, int n, double *a, double *s, fs_error *err) {
  int mn = imin(m, n), mx = imax(m, n), info = 0, lwork = -1, one = 1;
  double query = 0.0, dummy = 0.0;
  if (mn < 1) return 0;
  int *iwork = malloc(sizeof(int) * 8 * (size_t)mn);
  if (!iwork) return fs_fail(err, "out of memory for an SVD of %dx%d", m, n);
  dgesdd_("N", &m, &n, a, &m, s, &dummy, &one, &dummy, &one, &query, &lwork, iwork, &info, 1);
  /* never below the documented minimum for JOBZ = 'N' (some LAPACK versions
   * under-report it in the query) */
  lwork = imax((int)query, 3 * mn + imax(mx, 7 * mn));
  double *work = malloc(sizeof(double) * (size_t)lwork);
  if (!work) {
    free(iwork);
    return fs_fail(err, "out of memory for an SVD of %dx%d", m, n);
  }
  dgesdd_("N", &m, &n, a, &m, s, &dummy, &one, &dummy, &one, work, &lwork, iwork, &info, 1);
  free(work);
  free(iwork);
  if (info) return fs_fail(err, "dgesdd on a %dx%d matrix failed (info %d)", m, n, info);
  return 0;
}

/* dgeqrt, not dgeqrf: below its crossover of 128 columns dgeqrf runs the
 * unblocked dgeqr2 (BLAS-2), and the pairs' d x 64 residuals are all below
 * it; dgeqrt's panels of up to 128 columns are factored recursively
 * (dgeqrt3, BLAS-3).  Same Householder reflectors, same R. */
int fs_qr_r(int d, int nc, double *z, double *r, fs_error *err) {
  int p = imin(d, nc), info = 0, nb = imin(p, 128);
  if (p < 1) return 0;
  double *t = malloc(sizeof(double) * (size_t)nb * (size_t)p);
  double *work = malloc(sizeof(double) * (size_t)nb * (size_t)nc);
  if (!t || !work) {
    free(t), free(work);
    return fs_fail(err, "out of memory for a QR of %dx%d", d, nc);
  }
  dgeqrt_(&d, &nc, &nb, z, &d, t, &nb, work, &info);
  free(work);
  free(t);
  if (info) return fs_fail(err, "dgeqrt on a %dx%d matrix failed (info %d)", d, nc, info);
  for (int c = 0; c < nc; c++)
    for (int i = 0; i < p; i++) r[i + (size_t)c * p] = i <= c ? z[i + (size_t)c * d] : 0.0;
  return 0;
}
