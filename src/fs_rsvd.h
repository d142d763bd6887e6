/*
 * fs_rsvd.h - top-k singular triplets by a randomised block Krylov method:
 * block Golub-Kahan-Lanczos bidiagonalisation from a Gaussian start block,
 * full (BLAS-3) reorthogonalisation, Rayleigh-Ritz on the projected matrix,
 * a residual-based stopping test and explicit restarts.  All the work on W is
 * products with blocks of b columns (dgemm), so it runs near the BLAS-3 floor.
 *
 * References: N. Halko, P.-G. Martinsson, J. A. Tropp, "Finding structure
 * with randomness", SIAM Review 53 (2011) 217-288; C. Musco, C. Musco,
 * "Randomized block Krylov methods for stronger and faster approximate
 * singular value decomposition", NeurIPS 2015; G. H. Golub, R. Underwood,
 * "The block Lanczos method for computing eigenvalues" (1977); J. Baglama,
 * L. Reichel, "Augmented implicitly restarted Lanczos bidiagonalization
 * methods", SISC 27 (2005) (the residual of a Ritz triplet from the
 * bidiagonalisation).  Pure BLAS/LAPACK: no MPI, no PETSc.
 */
#ifndef FS_RSVD_H
#define FS_RSVD_H

#include "fs_error.h"

typedef struct fs_rsvd_opts {
  int block;          /* b: columns per block (>= 1) */
  int maxdim;         /* largest Krylov dimension before an explicit restart */
  int max_restarts;   /* restarts before giving up */
  double tol;         /* accept triplet i when r_i <= tol * max(sigma_i, floor) */
  double floor;       /* absolute part of the test (FS_SVD_FLOOR ||W||_F) */
  unsigned long long seed; /* of the Gaussian start block: same seed, same result */
  double gram;        /* try the Gram path first when max(m,n) >= gram min(m,n) (0: never) */
} fs_rsvd_opts;

/* Defaults for the top k of an m x n matrix: b = k/3 rounded up to a
 * multiple of 8 (at least 8), maxdim = max(4k, k + 8b), both capped by
 * min(m, n); tol 1e-10, floor 0, 50 restarts, Gram path from aspect 4. */
void fs_rsvd_defaults(int m, int n, int k, fs_rsvd_opts *o);

/* Top-k triplets of the m x n row-major W (1 <= k <= min(m,n)): sigma
 * descending, U (m x k) and V (n x k) column-major with orthonormal columns,
 * *its = Krylov blocks built (restarts included).  *res (may be NULL) gets the
 * largest r_i / max(sigma_i, floor), recomputed from W at the end; *its = 0
 * when the Gram path answered.  Fails if
 * the test is not met within the restarts or memory runs out. */
int fs_rsvd_solve(const double *W, int m, int n, int k, const fs_rsvd_opts *o,
                  double *sigma, double *U, double *V, int *its, double *res,
                  fs_error *err);

#endif
