/*
 * fs_lapack.h - the BLAS/LAPACK routines the library calls directly (spectra,
 * pairs, heads, the trainer), through their Fortran symbols (LP64, as
 * Debian's OpenBLAS and reference LAPACK are built), with the hidden
 * character-length arguments gfortran expects passed explicitly; and small
 * wrappers that check and allocate.  One declaration each, here.
 */
#ifndef FS_LAPACK_H
#define FS_LAPACK_H

#include <stddef.h>

#include "fs_error.h"

void dgemm_(const char *ta, const char *tb, const int *m, const int *n,
            const int *k, const double *alpha, const double *a, const int *lda,
            const double *b, const int *ldb, const double *beta, double *c,
            const int *ldc, size_t lta, size_t ltb);
void dsyrk_(const char *uplo, const char *trans, const int *n, const int *k,
            const double *alpha, const double *a, const int *lda,
            const double *beta, double *c, const int *ldc, size_t lu, size_t lt);
void dgesdd_(const char *jobz, const int *m, const int *n, double *a,
             const int *lda, double *s, double *u, const int *ldu, double *vt,
             const int *ldvt, double *work, const int *lwork, int *iwork,
             int *info, size_t ljobz);
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau,
             double *work, const int *lwork, int *info);
void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda,
             const double *tau, double *work, const int *lwork, int *info);
void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a,
             const int *lda, const double *vl, const double *vu, const int *il, const int *iu,
             const double *abstol, int *m, double *w, double *z, const int *ldz, int *isuppz,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t lj, size_t lr, size_t lu);
void dgeqrt_(const int *m, const int *n, const int *nb, double *a, const int *lda, double *t,
             const int *ldt, double *work, int *info);
void dgemqrt_(const char *side, const char *trans, const int *m, const int *n, const int *k,
              const int *nb, const double *v, const int *ldv, const double *t, const int *ldt,
              double *c, const int *ldc, double *work, int *info, size_t lside, size_t ltrans);

/* C (m x n) = alpha op(A) op(B) + beta C, column-major; no-op when empty,
 * beta C when the inner dimension is 0 (C's old contents unread when beta is
 * 0, as in BLAS). */
void fs_gemm(char ta, char tb, int m, int n, int k, double alpha, const double *a,
             int lda, const double *b, int ldb, double beta, double *c, int ldc);

/* Singular values (descending, min(m, n) of them) of the column-major m x n
 * matrix a (leading dimension m), which is destroyed. */
int fs_singular_values_cm(int m, int n, double *a, double *s, fs_error *err);

/* The p x nc upper-trapezoidal factor R (p = min(d, nc), column-major, zeros
 * below the diagonal) of the Householder QR of the d x nc matrix z, which is
 * destroyed. */
int fs_qr_r(int d, int nc, double *z, double *r, fs_error *err);

#endif
