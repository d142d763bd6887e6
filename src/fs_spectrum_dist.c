/*
 * fs_spectrum_dist.c - the SVD of one matrix on a group of ranks (see
 * fs_spectrum_dist.h).
 *
 * Layout.  PETSc's MATMPIDENSE distributes rows: rank r of the group holds
 * rows [r0, r1) (PETSc's default split, m/g or m/g + 1 rows) as a column-major
 * block.  The operator is W itself (not W^T as in fs_spectrum.c, whose
 * row-major array is W^T column-major): left singular vectors of the operator
 * are those of W.  Rows are read FS_LOAD_CHUNK_ROWS at a time and transposed
 * into the block, so the peak is the block plus one chunk.
 *
 * Agreement.  Reading can fail on one member only (its rows hold a NaN), and
 * the vector check runs on the leader only; after each such step the group
 * agrees (MPI_Allreduce) before any further collective, so all members fail
 * or go on together, and the first failure's message is broadcast.
 *
 * Results.  Rounding differs from the single-rank solve (the reductions of
 * the products are split over ranks), so the singular values agree with it
 * to the solver tolerance (~1e-12 relative; measured ~1e-15), not bit for bit.
 */
#include "fs_spectrum_dist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs_load.h"
#include "fs_petsc.h"
#include "fs_spectrum_impl.h"

/* All members fail if one did; the message of the lowest failing rank. */
static int agree(MPI_Comm g, int rc, fs_error *err) {
  int rank, size, first;
  MPI_Comm_rank(g, &rank);
  MPI_Comm_size(g, &size);
  int mine = rc ? rank : size;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, g);
  if (first == size) return 0;
  MPI_Bcast(err->msg, (int)sizeof err->msg, MPI_CHAR, first, g);
  return FS_ERR;
}

typedef struct dist {
  MPI_Comm g;
  int rank, size;
  int m, n, k;
  PetscInt r0, r1; /* my rows */
  Mat A;
} dist;

/* Fill my row block from the checkpoint; *amax gets its largest |entry|. */
static int fill_block(dist *d, const fs_model *model, const fs_matrix *x, double *amax,
                      fs_error *err) {
  PetscScalar *a;
  PetscInt lda;
  FS_PETSC(err, MatDenseGetLDA(d->A, &lda));
  double *chunk = malloc(sizeof *chunk * (size_t)(FS_LOAD_CHUNK_ROWS * d->n + 1));
  if (!chunk) return fs_fail(err, "out of memory for a chunk of %d rows of %d", FS_LOAD_CHUNK_ROWS, d->n);
  PetscErrorCode perr = MatDenseGetArrayWrite(d->A, &a);
  int rc = perr ? fs_petsc_fail(err, perr, "MatDenseGetArrayWrite", __FILE__, __LINE__) : 0;
  *amax = 0;
  for (PetscInt i = d->r0; !rc && i < d->r1; i += FS_LOAD_CHUNK_ROWS) {
    PetscInt nr = d->r1 - i < FS_LOAD_CHUNK_ROWS ? d->r1 - i : FS_LOAD_CHUNK_ROWS;
    rc = fs_load_matrix_rows(model, x, i, i + nr, chunk, err);
    for (PetscInt r = 0; !rc && r < nr; r++)
      for (int c = 0; c < d->n; c++) {
        double v = chunk[r * d->n + c];
        a[(i - d->r0 + r) + (size_t)c * (size_t)lda] = v;
        if (fabs(v) > *amax) *amax = fabs(v);
        if (!isfinite(v)) rc = fs_fail(err, "matrix %dx%d is not finite: W[%lld][%d] = %g", d->m,
                                       d->n, (long long)(i + r), c, v);
      }
  }
  if (!perr) {
    perr = MatDenseRestoreArrayWrite(d->A, &a);
    if (perr && !rc) rc = fs_petsc_fail(err, perr, "MatDenseRestoreArrayWrite", __FILE__, __LINE__);
  }
  free(chunk);
  return rc;
}

/* ||W||_F without overflow: the global largest entry, then the sum of
 * squares of W / amax, each block's part summed by fs_sumsq (collective). */
static int frobenius(dist *d, double amax_local, double *fro, fs_error *err) {
  double amax, part = 0, ss;
  MPI_Allreduce(&amax_local, &amax, 1, MPI_DOUBLE, MPI_MAX, d->g);
  if (amax > 0) {
    const PetscScalar *a;
    PetscInt lda;
    FS_PETSC(err, MatDenseGetLDA(d->A, &lda));
    FS_PETSC(err, MatDenseGetArrayRead(d->A, &a));
    for (int c = 0; c < d->n; c++) part += fs_sumsq(a + (size_t)c * (size_t)lda, (size_t)(d->r1 - d->r0), amax);
    FS_PETSC(err, MatDenseRestoreArrayRead(d->A, &a));
  }
  MPI_Allreduce(&part, &ss, 1, MPI_DOUBLE, MPI_SUM, d->g);
  *fro = amax > 0 ? amax * sqrt(ss) : 0.0;
  return 0;
}

/* Column i of the leader's U (length m) or V (length n) from a distributed vector. */
static int gather(dist *d, Vec v, double *dst, fs_error *err) {
  const PetscInt *ranges;
  const PetscScalar *a;
  PetscInt lo, hi;
  FS_PETSC(err, VecGetOwnershipRange(v, &lo, &hi));
  FS_PETSC(err, VecGetOwnershipRanges(v, &ranges));
  int *cnt = malloc(sizeof *cnt * (size_t)d->size * 2);
  if (!cnt) return fs_fail(err, "out of memory gathering a singular vector");
  for (int r = 0; r < d->size; r++)
    cnt[r] = (int)(ranges[r + 1] - ranges[r]), cnt[d->size + r] = (int)ranges[r];
  PetscErrorCode perr = VecGetArrayRead(v, &a);
  if (!perr) {
    MPI_Gatherv(a, (int)(hi - lo), MPI_DOUBLE, dst, cnt, cnt + d->size, MPI_DOUBLE, 0, d->g);
    perr = VecRestoreArrayRead(v, &a);
  }
  free(cnt);
  if (perr) return fs_petsc_fail(err, perr, "VecGetArrayRead", __FILE__, __LINE__);
  return 0;
}

/* Solve, gather the triplets to the leader, check them there. */
static int solve(dist *d, const char *type, double *floor, fs_spectrum *s, fs_error *err) {
  SVD svd = NULL;
  Vec u = NULL, v = NULL;
  PetscInt nconv = 0;
  int rc = fs_svd_configure(d->g, d->A, d->k, type, floor, &svd, err);
  PetscErrorCode perr = rc ? 0 : SVDSolve(svd);
  if (perr) rc = fs_petsc_fail(err, perr, "SVDSolve", __FILE__, __LINE__);
  if (!rc) rc = fs_svd_record(svd, s, err);
  if (!rc && (perr = SVDGetConverged(svd, &nconv)))
    rc = fs_petsc_fail(err, perr, "SVDGetConverged", __FILE__, __LINE__);
  if (!rc && nconv < d->k)
    rc = fs_fail(err, "SVD of %dx%d matrix on %d ranks: only %d of %d singular triplets "
                 "converged (solver %s, %d iterations)", d->m, d->n, d->size, (int)nconv, d->k,
                 s->solver, s->its);
  if (!rc && (perr = MatCreateVecs(d->A, &v, &u)))
    rc = fs_petsc_fail(err, perr, "MatCreateVecs", __FILE__, __LINE__);
  for (int i = 0; !rc && i < d->k; i++) {
    PetscReal sigma;
    if ((perr = SVDGetSingularTriplet(svd, i, &sigma, u, v))) {
      rc = fs_petsc_fail(err, perr, "SVDGetSingularTriplet", __FILE__, __LINE__);
      break;
    }
    rc = gather(d, u, d->rank ? NULL : s->U + (size_t)i * d->m, err);
    if (!rc) rc = gather(d, v, d->rank ? NULL : s->V + (size_t)i * d->n, err);
    if (!rc && !d->rank) {
      s->sigma[i] = sigma;
      fs_spectrum_normalise_pair(s->U + (size_t)i * d->m, d->m, s->V + (size_t)i * d->n, d->n);
    }
  }
  if (!rc && !d->rank) rc = fs_spectrum_check_vectors(s, err);
  VecDestroy(&u), VecDestroy(&v), SVDDestroy(&svd);
  return agree(d->g, rc, err);
}

/* The Krylov default (the dense solver would gather W on every rank), the
 * cross-product fallback as in fs_spectrum.c when no solver was named. */
static int solve_with_fallback(dist *d, double *floor, fs_spectrum *s, fs_error *err) {
  PetscBool named = PETSC_FALSE;
  FS_PETSC(err, PetscOptionsHasName(NULL, NULL, "-svd_type", &named));
  int rc = solve(d, SVDTRLANCZOS, floor, s, err);
  if (!rc || named) return rc;
  fs_error first = *err;
  if (!solve(d, FS_SVD_FALLBACK_TYPE, floor, s, err)) return 0;
  return fs_error_prefix(err, "%.200s; fallback", first.msg);
}

/* Every singular value of the distributed matrix (--full-spectrum), on the
 * leader in all[]: ScaLAPACK's PDGESVD through SLEPc, which redistributes W
 * block-cyclically on the group, so no rank ever holds all of it. */
static int all_values(dist *d, double *all, fs_error *err) {
  int mn = d->m < d->n ? d->m : d->n;
  SVD svd = NULL;
  PetscInt nconv = 0;
  int rc = !d->rank && !all ? fs_fail(err, "out of memory for %d singular values", mn) : 0;
  FS_TRY(agree(d->g, rc, err));
  rc = fs_svd_configure(d->g, d->A, mn, SVDSCALAPACK, NULL, &svd, err);
  PetscErrorCode perr = rc ? 0 : SVDSolve(svd);
  if (perr) rc = fs_petsc_fail(err, perr, "SVDSolve (scalapack)", __FILE__, __LINE__);
  if (!rc && (perr = SVDGetConverged(svd, &nconv)))
    rc = fs_petsc_fail(err, perr, "SVDGetConverged", __FILE__, __LINE__);
  if (!rc && nconv < mn)
    rc = fs_fail(err, "full spectrum of %dx%d matrix on %d ranks: %d of %d values", d->m, d->n,
                 d->size, (int)nconv, mn);
  for (int i = 0; !rc && i < mn; i++) { /* values only: replicated on every member */
    PetscReal sigma;
    if ((perr = SVDGetSingularTriplet(svd, i, &sigma, NULL, NULL)))
      rc = fs_petsc_fail(err, perr, "SVDGetSingularTriplet", __FILE__, __LINE__);
    else if (!d->rank)
      all[i] = sigma;
  }
  SVDDestroy(&svd);
  return agree(d->g, rc, err);
}

static int run(dist *d, const fs_model *model, const fs_matrix *x, fs_spectrum *s,
               int full, double *all, fs_error *err) {
  double amax = 0, fro = 0;
  PetscInt mloc = PETSC_DECIDE, m = d->m;
  FS_PETSC(err, PetscSplitOwnership(d->g, &mloc, &m));
  MPI_Exscan(&mloc, &d->r0, 1, MPIU_INT, MPI_SUM, d->g);
  if (!d->rank) d->r0 = 0;
  d->r1 = d->r0 + mloc;
  PetscErrorCode perr = MatCreateDense(d->g, mloc, PETSC_DECIDE, d->m, d->n, NULL, &d->A);
  int rc = perr ? fs_petsc_fail(err, perr, "MatCreateDense", __FILE__, __LINE__) : 0;
  if (!rc) rc = fill_block(d, model, x, &amax, err);
  FS_TRY(agree(d->g, rc, err));
  FS_PETSC(err, MatAssemblyBegin(d->A, MAT_FINAL_ASSEMBLY));
  FS_PETSC(err, MatAssemblyEnd(d->A, MAT_FINAL_ASSEMBLY));
  FS_TRY(frobenius(d, amax, &fro, err));
  rc = d->rank ? 0 : fs_spectrum_alloc(s, d->m, d->n, d->k, err);
  FS_TRY(agree(d->g, rc, err));
  if (!d->rank) s->fro = fro;
  if (fro == 0.0) { /* every member knows it: fro is all-reduced */
    if (!d->rank) fs_spectrum_zero(s);
    for (int i = 0; full && all && i < (d->m < d->n ? d->m : d->n); i++) all[i] = 0.0;
    return 0;
  }
  /* Extreme magnitudes as in fs_spectrum.c: solve 2^-e W, scale back. */
  int e;
  frexp(fro, &e);
  if (abs(e) < 500) e = 0;
  if (e) FS_PETSC(err, MatScale(d->A, ldexp(1.0, -e)));
  double floor = FS_SVD_FLOOR_FRACTION * ldexp(fro, -e);
  FS_TRY(solve_with_fallback(d, &floor, s, err));
  for (int i = 0; !d->rank && i < d->k; i++) s->sigma[i] = ldexp(s->sigma[i], e);
  if (full) {
    FS_TRY(all_values(d, all, err));
    for (int i = 0; !d->rank && i < (d->m < d->n ? d->m : d->n); i++) all[i] = ldexp(all[i], e);
  }
  return 0;
}

int fs_spectrum_dist_compute(MPI_Comm group, const fs_model *m, const fs_matrix *x, int k,
                             fs_spectrum *s, fs_error *err) {
  return fs_spectrum_dist_compute_full(group, m, x, k, 0, NULL, s, err);
}

int fs_spectrum_dist_compute_full(MPI_Comm group, const fs_model *m, const fs_matrix *x, int k,
                                  int full, double *all, fs_spectrum *s, fs_error *err) {
  memset(s, 0, sizeof *s);
  dist d = {.g = group, .m = (int)fs_matrix_rows(x), .n = (int)fs_matrix_cols(x), .k = k};
  MPI_Comm_rank(group, &d.rank);
  MPI_Comm_size(group, &d.size);
  int mn = d.m < d.n ? d.m : d.n;
  if (d.m < 1 || d.n < 1 || k < 1 || k > mn)
    return fs_fail(err, "SVD of %dx%d matrix: k = %d outside [1, %d]", d.m, d.n, k, mn);
  int rc = run(&d, m, x, s, full, all, err);
  MatDestroy(&d.A);
  if (rc || d.rank) fs_spectrum_free(s);
  if (!rc && d.rank) memset(s, 0, sizeof *s);
  return rc;
}
