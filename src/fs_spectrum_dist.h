/*
 * fs_spectrum_dist.h - top-k singular triplets of one matrix too large for a
 * rank, computed by a group of ranks on a sub-communicator.
 *
 * Method: the matrix W (rows x cols, as fs_load_matrix would return it) is
 * stored row-distributed as a MATMPIDENSE on the group, each rank reading
 * only its block of rows (fs_load_matrix_rows); SLEPc's SVD runs on the group
 * (thick-restart Lanczos by default: the dense solver would gather W on every
 * rank); sigma and both singular bases are gathered to the group's leader
 * (its rank 0), which then owns the matrix for the pairs and the output.
 * Signs, orthonormality checks and the convergence test are fs_spectrum's.
 * References: as fs_spectrum.h; PETSc MATMPIDENSE (Balay et al., PETSc
 * Users Manual, ANL-95/11).
 */
#ifndef FS_SPECTRUM_DIST_H
#define FS_SPECTRUM_DIST_H

#include <mpi.h>

#include "fs_error.h"
#include "fs_graph.h"
#include "fs_model.h"
#include "fs_spectrum.h"

/* Collective over group.  On the leader s holds the k triplets; on the other
 * members s is left empty.  Every member returns the same status, and a
 * failure's message (from the first rank that failed, e.g. the one whose rows
 * hold a NaN) is on every member. */
int fs_spectrum_dist_compute(MPI_Comm group, const fs_model *m, const fs_matrix *x, int k,
                             fs_spectrum *s, fs_error *err);

/* The same, and with full = 1 (the same on every member) also every singular
 * value, descending, into all[] on the leader (min(rows, cols) of them; NULL
 * elsewhere): ScaLAPACK's PDGESVD on the group (SLEPc's scalapack solver),
 * which needs about three times the members' share of W in workspace. */
int fs_spectrum_dist_compute_full(MPI_Comm group, const fs_model *m, const fs_matrix *x, int k,
                                  int full, double *all, fs_spectrum *s, fs_error *err);

#endif
