/*
 * fs_output_extra.c - profile and flag-table datasets of /pairs and the
 * solver-settings attributes of the root (fs_output_extra.h).
 *
 * Ragged data: item p owns count(p) elements starting at offset(p), the
 * prefix sum of the counts.  The counts follow from the agreed k, j and pdone
 * (fs_pair_extra_profile_len, fs_pair_extra_flag_side), so every rank knows
 * every offset without a message; each owner writes its own elements.
 */
#include "fs_output_extra.h"

#include <petscsys.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int64_t (*count_fn)(const fs_run *R, int64_t p);
/* Element t of item p into dst (an int64_t or a double); e: the tolerance. */
typedef void (*fill_fn)(const fs_run *R, int64_t p, int64_t t, int e, void *dst);

static int64_t profile_count(const fs_run *R, int64_t p) { return fs_pair_extra_profile_len(R, p); }
static int64_t flag_count(const fs_run *R, int64_t p) {
  int64_t m = fs_pair_extra_flag_side(R, p);
  return m * m;
}

static const fs_profile *PRO(const fs_run *R, int64_t p) { return &R->pextra[p].profile; }
static void f_k(const fs_run *R, int64_t p, int64_t t, int e, void *dst) {
  (void)e, *(int64_t *)dst = PRO(R, p)->s[t];
}
static void f_dim(const fs_run *R, int64_t p, int64_t t, int e, void *dst) {
  *(int64_t *)dst = PRO(R, p)->dim[t * PRO(R, p)->neps + e];
}
static void f_dimr(const fs_run *R, int64_t p, int64_t t, int e, void *dst) {
  (void)e, *(int64_t *)dst = PRO(R, p)->dim_random[t];
}
static void f_ov(const fs_run *R, int64_t p, int64_t t, int e, void *dst) {
  (void)e, *(double *)dst = PRO(R, p)->overlap[t];
}
static void f_ovr(const fs_run *R, int64_t p, int64_t t, int e, void *dst) {
  (void)e, *(double *)dst = PRO(R, p)->overlap_random[t];
}
static void f_flag(const fs_run *R, int64_t p, int64_t t, int e, void *dst) {
  const fs_flag_table *f = &R->pextra[p].flags;
  *(int64_t *)dst = f->dim[(int64_t)e * f->m * f->m + t];
}

/* Offsets of every pair and the number of elements this rank writes. */
static int64_t *offsets(const fs_run *R, count_fn count, int64_t *total, int64_t *nl) {
  int64_t *off = malloc(sizeof *off * (size_t)(R->plan.npair + 1));
  *total = *nl = 0;
  for (int64_t p = 0; off && p < R->plan.npair; p++) off[p] = *total, *total += count(R, p);
  for (int64_t i = 0; off && i < R->nmine_pair; i++) *nl += count(R, R->mine_pair[i]);
  return off;
}

static int agree(const fs_run *R, int ok, const char *path, fs_error *err) {
  int all;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, R->comm);
  return all ? 0 : fs_fail(err, "out of memory writing %s", path);
}

static int write_ragged(fs_run *R, fs_h5 *h, const char *path, fs_h5_type type, count_fn count,
                        fill_fn fill, int e, const char *desc, fs_error *err) {
  int64_t total, nl, *off = offsets(R, count, &total, &nl);
  int64_t *idx = malloc(sizeof *idx * (size_t)(nl + 1));
  char *val = malloc(8 * (size_t)(nl + 1)); /* int64 or double */
  int rc = agree(R, off && idx && val, path, err);
  for (int64_t i = 0, o = 0; !rc && i < R->nmine_pair; i++) {
    int64_t p = R->mine_pair[i], c = count(R, p);
    for (int64_t t = 0; t < c; t++, o++) idx[o] = off[p] + t, fill(R, p, t, e, val + 8 * o);
  }
  if (!rc) rc = fs_h5_write(h, path, type, 0, total, nl, idx, val, err);
  if (!rc) rc = fs_h5_attr_string(h, path, "description", desc, err);
  free(off), free(idx), free(val);
  return rc;
}

/* Per-pair columns: the offset into the ragged data and the count. */
static int write_index(fs_run *R, fs_h5 *h, const char *offpath, const char *cntpath,
                       count_fn count, int side, const char *offdesc, const char *cntdesc,
                       fs_error *err) {
  int64_t total, nl, *off = offsets(R, count, &total, &nl), n = R->nmine_pair;
  int64_t *o = malloc(sizeof *o * (size_t)(n + 1)), *c = malloc(sizeof *c * (size_t)(n + 1));
  int rc = agree(R, off && o && c, offpath, err);
  for (int64_t i = 0; !rc && i < n; i++) {
    int64_t p = R->mine_pair[i];
    o[i] = off[p], c[i] = side ? fs_pair_extra_flag_side(R, p) : count(R, p);
  }
  if (!rc) rc = fs_h5_write(h, offpath, FS_H5_INT64, 0, R->plan.npair, n, R->mine_pair, o, err);
  if (!rc) rc = fs_h5_attr_string(h, offpath, "description", offdesc, err);
  if (!rc) rc = fs_h5_write(h, cntpath, FS_H5_INT64, 0, R->plan.npair, n, R->mine_pair, c, err);
  if (!rc) rc = fs_h5_attr_string(h, cntpath, "description", cntdesc, err);
  free(off), free(o), free(c);
  return rc;
}

int fs_output_pair_extras(fs_run *R, fs_h5 *h, fs_error *err) {
  FS_TRY(write_index(R, h, "/pairs/profile_offset", "/pairs/profile_count", profile_count, 0,
                     "first element of the pair's profile in the profile_* datasets",
                     "points of the pair's profile: s = 1, 2, 4, ... below q, then q (0 if failed)",
                     err));
  FS_TRY(write_ragged(R, h, "/pairs/profile_k", FS_H5_INT64, profile_count, f_k, 0,
                      "(ragged) s: the profile point uses the top s writer and top s reader vectors", err));
  for (int e = 0; e < R->opts->neps; e++) {
    char path[64], desc[160];
    snprintf(path, sizeof path, "/pairs/profile_dim_eps%d", e);
    snprintf(desc, sizeof desc, "(ragged) dim_eps(s, s) = #{theta_i(U_s, V_s) <= %g deg}", R->opts->eps_deg[e]);
    FS_TRY(write_ragged(R, h, path, FS_H5_INT64, profile_count, f_dim, e, desc, err));
    FS_TRY(fs_h5_attr_doubles(h, path, "eps_degrees", &R->opts->eps_deg[e], 1, err));
  }
  FS_TRY(write_ragged(R, h, "/pairs/profile_dim_random", FS_H5_INT64, profile_count, f_dimr, 0,
                      "(ragged) max(0, 2 s - d): intersection dimension of random s-subspaces", err));
  FS_TRY(write_ragged(R, h, "/pairs/profile_overlap", FS_H5_DOUBLE, profile_count, f_ov, 0,
                      "(ragged) ||U_s^T V_s||_F^2", err));
  FS_TRY(write_ragged(R, h, "/pairs/profile_overlap_random", FS_H5_DOUBLE, profile_count, f_ovr, 0,
                      "(ragged) s^2 / d, its expectation for random subspaces", err));
  FS_TRY(write_index(R, h, "/pairs/flag_offset", "/pairs/flag_size", flag_count, 1,
                     "first element of the pair's flag table in the flag_dim_eps* datasets",
                     "side m = min(32, k, j) of the pair's flag table (0 without --flag-table)",
                     err));
  for (int e = 0; e < R->opts->neps; e++) {
    char path[64], desc[200];
    snprintf(path, sizeof path, "/pairs/flag_dim_eps%d", e);
    snprintf(desc, sizeof desc, "(ragged, m x m per pair, row i-1 = top i writer vectors, column "
             "j-1 = top j reader vectors) dim_eps(i, j) at %g deg", R->opts->eps_deg[e]);
    FS_TRY(write_ragged(R, h, path, FS_H5_INT64, flag_count, f_flag, e, desc, err));
    FS_TRY(fs_h5_attr_doubles(h, path, "eps_degrees", &R->opts->eps_deg[e], 1, err));
  }
  return 0;
}

/* An option's value from the PETSc options database, or dflt. */
static int option_attr(fs_h5 *h, const char *attr, const char *opt, const char *dflt,
                       fs_error *err) {
  char buf[256];
  PetscBool set = PETSC_FALSE;
  PetscOptionsGetString(NULL, NULL, opt, buf, sizeof buf, &set);
  if (set && !buf[0]) snprintf(buf, sizeof buf, "true"); /* a flag given without a value */
  return fs_h5_attr_string(h, "/", attr, set ? buf : dflt, err);
}

int fs_output_solver_settings(fs_run *R, fs_h5 *h, fs_error *err) {
  FS_TRY(option_attr(h, "svd_ncv", "-svd_ncv", "default (SLEPc chooses from k and the solver)", err));
  FS_TRY(option_attr(h, "svd_mpd", "-svd_mpd", "default (SLEPc: mpd = ncv)", err));
  FS_TRY(option_attr(h, "svd_max_it", "-svd_max_it", "default (SLEPc)", err));
  FS_TRY(option_attr(h, "svd_implicittranspose", "-svd_implicittranspose",
                     "true (flagscope sets SVDSetImplicitTranspose)", err));
  static const char *conv[] = {"-svd_conv_abs", "-svd_conv_rel", "-svd_conv_norm", "-svd_conv_maxit",
                               "-svd_conv_user"};
  PetscBool named = PETSC_FALSE;
  for (int i = 0; i < 5 && !named; i++) PetscOptionsHasName(NULL, NULL, conv[i], &named);
  FS_TRY(fs_h5_attr_string(h, "/", "svd_conv", named ? "given in petsc_options" :
                           "flagscope: residual <= tol max(sigma, 1e-3 ||W||_F) for trlanczos, "
                           "lanczos and randomized; SLEPc's relative test for the others", err));
  FS_TRY(fs_h5_attr_doubles(h, "/", "svd_tol_default", (double[]){1e-12}, 1, err));
  char *all = NULL;
  PetscOptionsGetAll(NULL, &all);
  int rc = fs_h5_attr_string(h, "/", "petsc_options", all ? all : "", err);
  PetscFree(all);
  FS_TRY(rc);
  FS_TRY(fs_h5_attr_string(h, "/", "commutator", fs_commutator_mode_name(R->opts->commutator), err));
  FS_TRY(fs_h5_attr_int(h, "/", "exact_dist_min_d", fs_pair_extra_dist_min_d(), err));
  FS_TRY(fs_h5_attr_int(h, "/", "exact_dist_ranks", fs_pair_extra_dist_ranks(), err));
  return fs_h5_attr_int(h, "/", "flag_table", R->opts->flag_table, err);
}
