/*
 * fs_commutator_dist.c - exact kappa and balancedness with ScaLAPACK
 * (fs_commutator_dist.h).
 *
 * Method.  Rank 0 of the communicator holds I (d x n2) and O (d x n1); they are
 * redistributed (pdgemr2d) from a 1 x 1 grid to blocks of up to 64 x 64 on an
 * nprow x npcol grid of all ranks, A = I I^T and B = O O^T formed by pdsyrk
 * (lower triangle) and completed to full storage (L + L^T, diagonal halved),
 * P = A B by pdgemm, and the Frobenius norms of P - P^T (= AB - BA), A - B, A
 * and B by pdlange; the traces (for kappa_random) from the local diagonals.
 * Same formulas and accuracy as the dense path of fs_commutator.c.
 * References: L. S. Blackford et al., ScaLAPACK Users' Guide, SIAM 1997
 * (descriptors, block-cyclic distribution, PBLAS); the bound kappa <= 1:
 * A. Boettcher, D. Wenzel, Linear Algebra Appl. 429 (2008) 1864-1885.
 */
#include "fs_commutator_dist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs_pair.h"

#define NB_MAX 64 /* block size of the distribution, smaller when d is small */

/* BLACS (C interface) and ScaLAPACK/PBLAS (Fortran symbols), from Debian's
 * libscalapack-openmpi; the hidden lengths of character arguments are passed. */
int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int handle);
void Cblacs_gridinit(int *ctxt, const char *order, int nprow, int npcol);
void Cblacs_gridinfo(int ctxt, int *nprow, int *npcol, int *myrow, int *mycol);
void Cblacs_gridexit(int ctxt);
void descinit_(int *desc, const int *m, const int *n, const int *mb, const int *nb, const int *irsrc,
               const int *icsrc, const int *ictxt, const int *lld, int *info);
int numroc_(const int *n, const int *nb, const int *iproc, const int *isrcproc, const int *nprocs);
void pdgemr2d_(const int *m, const int *n, const double *a, const int *ia, const int *ja,
               const int *desca, double *b, const int *ib, const int *jb, const int *descb,
               const int *ictxt);
void pdsyrk_(const char *uplo, const char *trans, const int *n, const int *k, const double *alpha,
             const double *a, const int *ia, const int *ja, const int *desca, const double *beta,
             double *c, const int *ic, const int *jc, const int *descc, size_t lu, size_t lt);
void pdgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
             const double *alpha, const double *a, const int *ia, const int *ja, const int *desca,
             const double *b, const int *ib, const int *jb, const int *descb, const double *beta,
             double *c, const int *ic, const int *jc, const int *descc, size_t la, size_t lb);
void pdgeadd_(const char *trans, const int *m, const int *n, const double *alpha, const double *a,
              const int *ia, const int *ja, const int *desca, const double *beta, double *c,
              const int *ic, const int *jc, const int *descc, size_t lt);
double pdlange_(const char *norm, const int *m, const int *n, const double *a, const int *ia,
                const int *ja, const int *desca, double *work, size_t ln);

typedef struct grid {
  int sys, ctxt, root_ctxt; /* BLACS system handle, the grid, the 1 x 1 grid of rank 0 */
  int nprow, npcol, myrow, mycol, nb;
} grid;

/* The most square nprow x npcol = size grid; blocks of min(64, d / max(nprow,
 * npcol)) so that every process holds part of a small matrix too. */
static void grid_create(MPI_Comm comm, int d, grid *g) {
  int size;
  MPI_Comm_size(comm, &size);
  int pr = (int)sqrt((double)size);
  while (size % pr) pr--;
  g->sys = Csys2blacs_handle(comm);
  g->ctxt = g->sys;
  Cblacs_gridinit(&g->ctxt, "Row", pr, size / pr);
  g->root_ctxt = g->sys;
  Cblacs_gridinit(&g->root_ctxt, "Row", 1, 1);
  Cblacs_gridinfo(g->ctxt, &g->nprow, &g->npcol, &g->myrow, &g->mycol);
  g->nb = d / (g->nprow > g->npcol ? g->nprow : g->npcol);
  g->nb = g->nb < 1 ? 1 : g->nb > NB_MAX ? NB_MAX : g->nb;
}

static void grid_free(grid *g) {
  if (g->root_ctxt >= 0) Cblacs_gridexit(g->root_ctxt);
  Cblacs_gridexit(g->ctxt);
  Cfree_blacs_system_handle(g->sys);
}

/* A distributed m x n matrix: descriptor and local array. */
typedef struct dmat {
  int desc[9], lr, lc;
  double *a;
} dmat;

static int dmat_create(const grid *g, int m, int n, dmat *x) {
  const int nb = g->nb, zero = 0;
  int info = 0;
  x->lr = numroc_(&m, &nb, &g->myrow, &zero, &g->nprow);
  x->lc = numroc_(&n, &nb, &g->mycol, &zero, &g->npcol);
  int lld = x->lr > 1 ? x->lr : 1;
  descinit_(x->desc, &m, &n, &nb, &nb, &zero, &zero, &g->ctxt, &lld, &info);
  x->a = calloc((size_t)(x->lr > 0 ? x->lr : 1) * (size_t)(x->lc > 0 ? x->lc : 1), sizeof *x->a);
  return info == 0 && x->a ? 0 : FS_ERR;
}

/* The d x n view of a factor on rank 0, scaled, into x (redistributed). */
static void scatter(const grid *g, const fs_factor *f, int d, int n, double scale, dmat *x) {
  const int one = 1;
  int src[9], info = 0;
  double *full = NULL;
  if (g->root_ctxt >= 0) { /* rank 0: a column-major d x n copy */
    full = malloc(sizeof *full * (size_t)d * (size_t)(n > 0 ? n : 1));
    for (int c = 0; full && c < n; c++)
      for (int r = 0; r < d; r++)
        full[r + (size_t)c * d] = scale * (f->trans ? f->a[c + (size_t)r * n] : f->a[r + (size_t)c * d]);
    descinit_(src, &d, &n, &d, &n, (const int[]){0}, (const int[]){0}, &g->root_ctxt, &d, &info);
  } else {
    int s[9] = {1, -1, d, n, d, n, 0, 0, 1};
    memcpy(src, s, sizeof src);
  }
  pdgemr2d_(&d, &n, full, &one, &one, src, x->a, &one, &one, x->desc, &g->ctxt);
  free(full);
}

/* Lower triangle + diagonal of a symmetric X completed to full storage:
 * X := X + X^T through t, then the doubled diagonal halved. */
static void symmetrise(const grid *g, int d, dmat *x, dmat *t) {
  const int one = 1;
  const double p1 = 1.0, z = 0.0;
  pdgeadd_("T", &d, &d, &p1, x->a, &one, &one, x->desc, &z, t->a, &one, &one, t->desc, 1);
  pdgeadd_("N", &d, &d, &p1, t->a, &one, &one, t->desc, &p1, x->a, &one, &one, x->desc, 1);
  for (int c = 0; c < x->lc; c++) {
    int gc = ((c / g->nb) * g->npcol + g->mycol) * g->nb + c % g->nb;
    for (int r = 0; r < x->lr; r++) {
      int gr = ((r / g->nb) * g->nprow + g->myrow) * g->nb + r % g->nb;
      if (gr == gc) x->a[r + (size_t)c * x->lr] *= 0.5;
    }
  }
}

static double local_trace(const grid *g, const dmat *x) {
  double s = 0.0;
  for (int c = 0; c < x->lc; c++) {
    int gc = ((c / g->nb) * g->npcol + g->mycol) * g->nb + c % g->nb;
    for (int r = 0; r < x->lr; r++)
      if (((r / g->nb) * g->nprow + g->myrow) * g->nb + r % g->nb == gc) s += x->a[r + (size_t)c * x->lr];
  }
  return s;
}

static double fro(const dmat *x, int d) {
  const int one = 1;
  double w = 0.0;
  return pdlange_("F", &d, &d, x->a, &one, &one, x->desc, &w, 1);
}

/* The norms of the dense path, distributed; v = {ncomm, ndiff, na, nb, p1, q1}. */
static int norms(MPI_Comm comm, const grid *g, const fs_factor *rdf, const fs_factor *wrf,
                 const int dims[3], double scale, double v[6]) {
  int d = dims[0], n1 = dims[1], n2 = dims[2], rc = 0;
  const int one = 1;
  const double p1 = 1.0, m1 = -1.0, z = 0.0;
  dmat fi = {0}, fo = {0}, A = {0}, B = {0}, P = {0}, T = {0};
  int ok = !dmat_create(g, d, n2, &fi) && !dmat_create(g, d, n1, &fo) && !dmat_create(g, d, d, &A) &&
           !dmat_create(g, d, d, &B) && !dmat_create(g, d, d, &P) && !dmat_create(g, d, d, &T), all;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
  if (all) {
    scatter(g, rdf, d, n2, scale, &fi);
    scatter(g, wrf, d, n1, scale, &fo);
    pdsyrk_("L", "N", &d, &n2, &p1, fi.a, &one, &one, fi.desc, &z, A.a, &one, &one, A.desc, 1, 1);
    pdsyrk_("L", "N", &d, &n1, &p1, fo.a, &one, &one, fo.desc, &z, B.a, &one, &one, B.desc, 1, 1);
    symmetrise(g, d, &A, &T);
    symmetrise(g, d, &B, &T);
    pdgemm_("N", "N", &d, &d, &d, &p1, A.a, &one, &one, A.desc, B.a, &one, &one, B.desc, &z, P.a,
            &one, &one, P.desc, 1, 1);
    pdgeadd_("T", &d, &d, &m1, P.a, &one, &one, P.desc, &z, T.a, &one, &one, T.desc, 1);
    pdgeadd_("N", &d, &d, &p1, P.a, &one, &one, P.desc, &p1, T.a, &one, &one, T.desc, 1); /* P - P^T */
    v[0] = fro(&T, d);
    pdgeadd_("N", &d, &d, &p1, A.a, &one, &one, A.desc, &z, T.a, &one, &one, T.desc, 1);
    pdgeadd_("N", &d, &d, &m1, B.a, &one, &one, B.desc, &p1, T.a, &one, &one, T.desc, 1); /* A - B */
    v[1] = fro(&T, d), v[2] = fro(&A, d), v[3] = fro(&B, d);
    double tr[2] = {local_trace(g, &A), local_trace(g, &B)};
    MPI_Allreduce(MPI_IN_PLACE, tr, 2, MPI_DOUBLE, MPI_SUM, comm);
    v[4] = tr[0], v[5] = tr[1];
  } else {
    rc = FS_ERR;
  }
  free(fi.a), free(fo.a), free(A.a), free(B.a), free(P.a), free(T.a);
  return rc;
}

/* A power of two bringing the largest entry of both factors near 1. */
static double common_scale(const fs_factor *rdf, const fs_factor *wrf) {
  double m = 0.0;
  for (size_t i = 0; i < (size_t)rdf->d * rdf->n; i++) m = fmax(m, fabs(rdf->a[i]));
  for (size_t i = 0; i < (size_t)wrf->d * wrf->n; i++) m = fmax(m, fabs(wrf->a[i]));
  int e = 0;
  if (m > 0.0) frexp(m, &e);
  return ldexp(1.0, -e);
}

int fs_commutator_exact_dist(MPI_Comm comm, int ok, const fs_factor *rdf, const fs_factor *wrf,
                             fs_commutator *res, fs_error *err) {
  memset(res, 0, sizeof *res);
  int rank;
  MPI_Comm_rank(comm, &rank);
  double head[5] = {0, 0, 0, 0, 1.0}; /* ok, d, n1, n2, scale: from rank 0 */
  if (rank == 0) {
    ok = ok && rdf && wrf && rdf->d == wrf->d && rdf->d > 0 && rdf->n > 0 && wrf->n > 0;
    if (ok) head[1] = rdf->d, head[2] = wrf->n, head[3] = rdf->n, head[4] = common_scale(rdf, wrf);
    head[0] = ok;
  }
  MPI_Bcast(head, 5, MPI_DOUBLE, 0, comm);
  if (!head[0]) return FS_ERR;
  int dims[3] = {(int)head[1], (int)head[2], (int)head[3]};
  grid g;
  grid_create(comm, dims[0], &g);
  double v[6] = {0};
  int rc = norms(comm, &g, rdf, wrf, dims, head[4], v);
  grid_free(&g);
  if (rc) return fs_fail(err, "exact commutator (ScaLAPACK, d = %d): out of memory on some rank", dims[0]);
  res->path = FS_GRAM_SCALAPACK;
  double na = v[2], nb = v[3];
  if (na == 0.0 || nb == 0.0) {
    res->balancedness = (na == 0.0 && nb == 0.0) ? 0.0 : 1.0;
    return 0;
  }
  res->kappa = fmin(v[0] / (sqrt(2.0) * na * nb), 1.0);
  res->balancedness = fmin(v[1] / (na + nb), 1.0);
  res->kappa_random = fs_kappa_random_moments(dims[0], v[4], na * na, v[5], nb * nb);
  res->kappa_rel = res->kappa_random > 0.0 ? res->kappa / res->kappa_random : 0.0;
  return 0;
}
