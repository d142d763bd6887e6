/*
 * fs_spectrum_impl.h - the parts of fs_spectrum.c that the distributed SVD
 * (fs_spectrum_dist.c) shares, so both solve, check and sign singular
 * triplets the same way.  Internal to src/: not part of the library's
 * interface.
 */
#ifndef FS_SPECTRUM_IMPL_H
#define FS_SPECTRUM_IMPL_H

#include <stddef.h>

#include <slepcsvd.h>

#include "fs_spectrum.h"

/* Sum of squares of x[0..len) (of x / scale unless scale is 0), blocked and
 * compensated (Higham 4.3). */
double fs_sumsq(const double *x, size_t len, double scale);

int fs_spectrum_alloc(fs_spectrum *s, int m, int n, int k, fs_error *err);
/* The zero matrix's defined triplets: sigma 0, leading unit vectors. */
void fs_spectrum_zero(fs_spectrum *s);
/* Unit length, and the sign rule: largest-magnitude entry of u positive. */
void fs_spectrum_normalise_pair(double *u, int m, double *v, int n);
/* Orthonormal U and V, completing the vectors of numerically null values. */
int fs_spectrum_check_vectors(fs_spectrum *s, fs_error *err);

/* An SVD solver for A on comm with flagscope's settings (type, k, tolerance,
 * implicit transpose, the floored convergence test reading *floor), then the
 * options database on top.  *out is set as soon as it exists: the caller
 * destroys it in every case. */
int fs_svd_configure(MPI_Comm comm, Mat A, int k, const char *type, double *floor, SVD *out,
                     fs_error *err);
/* The solver's type and iteration count into s. */
int fs_svd_record(SVD svd, fs_spectrum *s, fs_error *err);

/* Constants of the solve (fs_spectrum.c explains them). */
#define FS_SVD_FLOOR_FRACTION 1e-3
#define FS_SVD_FALLBACK_TYPE SVDCROSS

#endif
