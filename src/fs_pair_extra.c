/*
 * fs_pair_extra.c - profile, flag table and exact commutator of one pair
 * (fs_pair_extra.h).  The exact mode reads the writer's output map O and the
 * reader's input unfolding I as the layers apply them (fs_load_matrix) on the
 * pair's owner; docs/mathematics.md, sections 4.1 and 6.2.
 */
#include "fs_pair_extra.h"

#include <stdlib.h>
#include <string.h>

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

static int exact_commutator(const fs_run *R, int64_t p, fs_commutator *c, fs_error *err) {
  const fs_plan_pair *q = &R->plan.pair[p];
  const fs_model *m = &R->plan.models[q->model].model;
  const fs_matrix *xw = fs_plan_matrix_of(&R->plan, q->writer), *xr = fs_plan_matrix_of(&R->plan, q->reader);
  double *Ww = NULL, *Wr = NULL;
  int rc = fs_load_matrix(m, xw, &Ww, err);
  if (!rc) rc = fs_load_matrix(m, xr, &Wr, err);
  if (!rc) {
    fs_factor O = as_factor(xw, Ww, 1), I = as_factor(xr, Wr, 0);
    rc = fs_commutator_exact(&I, &O, FS_GRAM_AUTO, c, err);
  }
  free(Ww), free(Wr);
  return rc ? fs_error_prefix(err, "exact commutator") : 0;
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
  if (!rc && o->commutator != FS_COMMUTATOR_LOWRANK) {
    rc = exact_commutator(R, p, &x->exact, err);
    x->exact_done = !rc;
    if (!rc && o->commutator == FS_COMMUTATOR_EXACT) {
      res->kappa = x->exact.kappa, res->balancedness = x->exact.balancedness;
      res->kappa_random = x->exact.kappa_random, res->kappa_rel = x->exact.kappa_rel;
    }
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
