/*
 * fs_commutator_dist.h - the exact commutator of fs_commutator.h with the
 * d x d Grams distributed over a communicator: ScaLAPACK pdsyrk / pdgemm on a
 * block-cyclic process grid (docs/mathematics.md, section 6.3).  For large d,
 * where 3 d^2 doubles do not fit, or 2 d^3 flops take too long, on one rank.
 */
#ifndef FS_COMMUTATOR_DIST_H
#define FS_COMMUTATOR_DIST_H

#include <mpi.h>

#include "fs_commutator.h"

/* Collective over comm.  The factors live on rank 0 of comm (ignored
 * elsewhere); ok = 0 on rank 0 makes every rank return FS_ERR with err
 * untouched (the caller keeps its reason).  rdf: the reader's input unfolding I,
 * wrf: the writer's output map O.  Every rank gets the result. */
int fs_commutator_exact_dist(MPI_Comm comm, int ok, const fs_factor *rdf, const fs_factor *wrf,
                             fs_commutator *res, fs_error *err);

#endif
