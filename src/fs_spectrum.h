/*
 * fs_spectrum.h - truncated singular value decomposition of one weight matrix.
 *
 * Method: SLEPc's SVD solvers on a sequential dense PETSc matrix
 * (PETSC_COMM_SELF); the default solver per shape and k is chosen by
 * measurement (see docs/benchmarks.md) and everything can be overridden from
 * the PETSc options database (-svd_type, -svd_tol, -svd_ncv, -svd_max_it);
 * or the blocked BLAS-3 Krylov solver of fs_rsvd.h (-rsvd_tol, -rsvd_block,
 * -rsvd_maxdim), chosen per shape and k by fs_spectrum_choose.
 * References: V. Hernandez, J. E. Roman, V. Vidal, "SLEPc: A scalable and
 * flexible toolkit for the solution of eigenvalue problems", ACM TOMS 31
 * (2005); SLEPc Technical Report STR-8 (thick-restart Lanczos for the SVD).
 */
#ifndef FS_SPECTRUM_H
#define FS_SPECTRUM_H

#include "fs_error.h"

typedef struct fs_spectrum {
  int m, n;      /* shape of W, [out, in] */
  int k;         /* number of singular triplets held */
  double *sigma; /* k values, descending */
  double *U;     /* m x k, column-major: left singular vectors (output space) */
  double *V;     /* n x k, column-major: right singular vectors (input space) */
  double fro;    /* ||W||_F of the whole matrix */
  int its;       /* solver iterations (0 for direct solvers) */
  char solver[16]; /* SVDType that was used */
} fs_spectrum;

/* Which solver family: SLEPc (the options database picks the SVDType), the
 * block Krylov solver fs_rsvd, or auto (fs_spectrum_choose). */
typedef enum { FS_SOLVER_AUTO, FS_SOLVER_SLEPC, FS_SOLVER_RSVD } fs_solver;

/* "auto", "slepc", "rsvd"; parse returns FS_ERR for anything else. */
const char *fs_solver_name(fs_solver v);
int fs_solver_parse(const char *name, fs_solver *v);

/* The family auto picks for shape and k (measured; docs/benchmarks.md):
 * SLEPc whenever the options database names an -svd_type. */
fs_solver fs_spectrum_choose(int m, int n, int k);

/* Top-k singular triplets of the m x n matrix W (row-major), 1 <= k <= min(m, n).
 * Fails, with the solver's reason, if fewer than k triplets converge or W is
 * not finite.  s is empty (safe to free) after a failure.
 * fs_spectrum_compute is fs_spectrum_compute_with(..., FS_SOLVER_AUTO, ...). */
int fs_spectrum_compute(const double *W, int m, int n, int k, fs_spectrum *s,
                        fs_error *err);
int fs_spectrum_compute_with(const double *W, int m, int n, int k, fs_solver solver,
                             fs_spectrum *s, fs_error *err);
void fs_spectrum_free(fs_spectrum *s);

/* dst = the k triplets and norm of src (a matrix of identical contents,
 * fs_plan.h's twins): solver "copy", 0 iterations.  dst is empty after a
 * failure. */
int fs_spectrum_copy(const fs_spectrum *src, fs_spectrum *dst, fs_error *err);

/* The solver used when the options database does not name one. */
const char *fs_spectrum_default_solver(int m, int n, int k);

/* Per-matrix statistics derived from the triplets (SPEC 3.1). */
typedef struct fs_matrix_stats {
  double fro;         /* ||W||_F */
  double spec;        /* sigma_1 */
  double stable_rank; /* ||W||_F^2 / sigma_1^2 */
  int numrank;        /* #{i : sigma_i > tau * sigma_1} among the k held */
  int numrank_lower;  /* 1 if k was too small to see the rank: a lower bound */
} fs_matrix_stats;

void fs_spectrum_stats(const fs_spectrum *s, double tau, fs_matrix_stats *st);

#endif
