/*
 * fs_pair_extra.c - profile, flag table and exact commutator of one pair
 * (fs_pair_extra.h).  The exact mode reads the writer's output map O and the
 * reader's input unfolding I as the layers apply them (fs_load_matrix) on the
 * pair's owner; docs/mathematics.md, sections 4.1 and 6.2.
 */
#include "fs_pair_extra.h"

#include <petscsys.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_commutator_dist.h"
#include "fs_load.h"
#include "fs_run.h"

static int imin(int a, int b) { return a < b ? a : b; }

/* The loaded matrix X (rows x cols, row-major) as a Gram factor on the shared
 * space: the writer's output map O (B = O O^T) or the reader's input
 * unfolding I (A = I I^T).  A map X [out, in] has O = X and I = X^T; a
 * transposed map applies X^T, so O = X^T and I = X.  A row-major r x c array
 * is the column-major c x r array of its transpose. */
static fs_factor as_factor(const fs_matrix *x, const double *X, int writer) {
  int rows = (int)fs_matrix_rows(x), cols = (int)fs_matrix_cols(x);
  int want_x = writer ? !x->transposed : x->transposed; /* the factor is X itself */
  if (want_x) return (fs_factor){rows, cols, 1, X};     /* d = rows: X^T col-major */
  return (fs_factor){cols, rows, 0, X};                 /* d = cols: X^T = d x rows */
}

/* Both full matrices of pair p as the Gram factors I and O (the caller frees
 * *Ww and *Wr). */
static int load_factors(const fs_run *R, int64_t p, double **Ww, double **Wr, fs_factor *rdf,
                        fs_factor *wrf, fs_error *err) {
  const fs_plan_pair *q = &R->plan.pair[p];
  const fs_model *m = &R->plan.models[q->model].model;
  const fs_matrix *xw = fs_plan_matrix_of(&R->plan, q->writer), *xr = fs_plan_matrix_of(&R->plan, q->reader);
  *Ww = *Wr = NULL;
  int rc = fs_load_matrix(m, xw, Ww, err);
  if (!rc) rc = fs_load_matrix(m, xr, Wr, err);
  if (!rc) *wrf = as_factor(xw, *Ww, 1), *rdf = as_factor(xr, *Wr, 0);
  return rc ? fs_error_prefix(err, "exact commutator") : 0;
}

static int exact_commutator(const fs_run *R, int64_t p, fs_commutator *c, fs_error *err) {
  double *Ww, *Wr;
  fs_factor rdf, wrf;
  int rc = load_factors(R, p, &Ww, &Wr, &rdf, &wrf, err);
  if (!rc && fs_commutator_exact(&rdf, &wrf, FS_GRAM_AUTO, c, err)) rc = fs_error_prefix(err, "exact commutator");
  free(Ww), free(Wr);
  return rc;
}

static int option_int(const char *name, int dflt) {
  PetscInt v = dflt;
  PetscBool set = PETSC_FALSE;
  PetscOptionsGetInt(NULL, NULL, name, &v, &set);
  return set && v > 0 ? (int)v : dflt;
}

int fs_pair_extra_dist_min_d(void) { return option_int("-fs_exact_dist_min_d", 4096); }
int fs_pair_extra_dist_ranks(void) { return option_int("-fs_exact_dist_ranks", 64); }

/* The same answer on every rank: from the agreed kdone and the plan. */
static int distributed(const fs_run *R, int64_t p, int min_d) {
  const fs_plan_pair *q = &R->plan.pair[p];
  return R->opts->commutator != FS_COMMUTATOR_LOWRANK && R->size > 1 && R->kdone[q->writer] > 0 &&
         R->kdone[q->reader] > 0 && fs_matrix_in_dim(fs_plan_matrix_of(&R->plan, q->reader)) >= min_d;
}

static void store_exact(const fs_run *R, fs_pair_result *res, fs_pair_extra *x) {
  x->exact_done = 1;
  if (R->opts->commutator == FS_COMMUTATOR_EXACT) {
    res->kappa = x->exact.kappa, res->balancedness = x->exact.balancedness;
    res->kappa_random = x->exact.kappa_random, res->kappa_rel = x->exact.kappa_rel;
  }
}

/* Pair p on sub (its owner is rank 0 there). */
static void distributed_pair(fs_run *R, int64_t p, MPI_Comm sub) {
  int owner = R->plan.pair[p].owner == R->rank, ok = owner && R->pdone[p];
  double *Ww = NULL, *Wr = NULL;
  fs_factor rdf = {0}, wrf = {0};
  fs_error e;
  fs_error_clear(&e);
  if (ok && load_factors(R, p, &Ww, &Wr, &rdf, &wrf, &e)) ok = 0;
  fs_commutator c;
  int rc = fs_commutator_exact_dist(sub, ok, &rdf, &wrf, &c, &e);
  free(Ww), free(Wr);
  if (!owner || !R->pdone[p]) return; /* not ours, or failed before (reason kept) */
  if (!rc) {
    R->pextra[p].exact = c;
    store_exact(R, &R->pres[p], &R->pextra[p]);
    return;
  }
  if (!e.msg[0]) snprintf(e.msg, sizeof e.msg, "exact commutator (ScaLAPACK) failed");
  fs_run_set_error(&R->pair_error[p], e.msg);
  fs_pair_result_free(&R->pres[p]);
  fs_pair_extra_free(&R->pextra[p]);
  R->pdone[p] = 0;
}

void fs_pair_extra_exact_distributed(fs_run *R) {
  int min_d = fs_pair_extra_dist_min_d(), nr = fs_pair_extra_dist_ranks();
  if (nr > R->size) nr = R->size;
  for (int64_t p = 0; p < R->plan.npair; p++) {
    if (!distributed(R, p, min_d)) continue;
    int from_owner = (R->rank - R->plan.pair[p].owner + R->size) % R->size;
    MPI_Comm sub;
    MPI_Comm_split(R->comm, from_owner < nr ? 0 : MPI_UNDEFINED, from_owner, &sub);
    if (sub == MPI_COMM_NULL) continue;
    distributed_pair(R, p, sub);
    MPI_Comm_free(&sub);
  }
}

int fs_pair_extra_compute(const fs_run *R, int64_t p, const fs_basis *w, const fs_basis *r,
                          const double *eps, fs_pair_result *res, fs_pair_extra *x,
                          fs_error *err) {
  memset(x, 0, sizeof *x);
  const fs_analyze_opts *o = R->opts;
  fs_leading L;
  FS_TRY(fs_leading_init(w->d, w->vec, w->k, r->vec, r->k, &L, err));
  int rc = fs_profile_compute(&L, eps, o->neps, &x->profile, err);
  if (!rc && o->flag_table) rc = fs_flag_table_compute(&L, eps, o->neps, &x->flags, err);
  fs_leading_free(&L);
  if (!rc && o->commutator != FS_COMMUTATOR_LOWRANK && !distributed(R, p, fs_pair_extra_dist_min_d())) {
    rc = exact_commutator(R, p, &x->exact, err);
    if (!rc) store_exact(R, res, x);
  }
  if (rc) fs_pair_extra_free(x);
  return rc;
}

void fs_pair_extra_free(fs_pair_extra *x) {
  if (!x) return;
  fs_profile_free(&x->profile);
  fs_flag_table_free(&x->flags);
  memset(x, 0, sizeof *x);
}

int fs_pair_extra_profile_len(const fs_run *R, int64_t p) {
  if (!R->pdone[p]) return 0;
  const fs_plan_pair *q = &R->plan.pair[p];
  int s[FS_PROFILE_MAX];
  return fs_profile_grid(imin(R->kdone[q->writer], R->kdone[q->reader]), s);
}

int fs_pair_extra_flag_side(const fs_run *R, int64_t p) {
  if (!R->pdone[p] || !R->opts->flag_table) return 0;
  const fs_plan_pair *q = &R->plan.pair[p];
  return imin(FS_FLAG_MAX, imin(R->kdone[q->writer], R->kdone[q->reader]));
}
