/*
 * fs_output_extra.c - profile and flag-table datasets of /pairs and the
 * solver-settings attributes of the root (fs_output_extra.h).
 *
 * Ragged data: item p owns count(p) elements starting at offset(p), the
 * prefix sum of the counts.  The counts follow from the agreed k, j and pdone
 * (fs_pair_extra_profile_len, fs_pair_extra_flag_side), so every rank knows
 * every offset without a message; each owner writes its own elements, through
 * the shared ragged writer fs_output_ragged (fs_output_table.h).
 */
#include "fs_output_extra.h"

#include <petscsys.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_output_table.h"

static int64_t profile_count(const fs_run *R, int64_t p) { return fs_pair_extra_profile_len(R, p); }
static int64_t flag_side(const fs_run *R, int64_t p) { return fs_pair_extra_flag_side(R, p); }
static int64_t flag_count(const fs_run *R, int64_t p) { return flag_side(R, p) * flag_side(R, p); }

/* The row's count(p) values, stored as int (and the profile's dim strided by
 * the tolerance), as the int64 or double elements of the dataset; e: the
 * tolerance's index.  The counts come from the agreed state, as the offsets
 * do, so exactly that many are written. */
static const fs_profile *PRO(const fs_run *R, int64_t p) { return &R->pextra[p].profile; }
static void f_k(const fs_run *R, int64_t p, int e, void *dst) {
  (void)e;
  for (int64_t t = 0; t < profile_count(R, p); t++) ((int64_t *)dst)[t] = PRO(R, p)->s[t];
}
static void f_dim(const fs_run *R, int64_t p, int e, void *dst) {
  for (int64_t t = 0; t < profile_count(R, p); t++)
    ((int64_t *)dst)[t] = PRO(R, p)->dim[t * PRO(R, p)->neps + e];
}
static void f_dimr(const fs_run *R, int64_t p, int e, void *dst) {
  (void)e;
  for (int64_t t = 0; t < profile_count(R, p); t++) ((int64_t *)dst)[t] = PRO(R, p)->dim_random[t];
}
static const void *v_ov(const fs_run *R, int64_t p) { return PRO(R, p)->overlap; }
static const void *v_ovr(const fs_run *R, int64_t p) { return PRO(R, p)->overlap_random; }
static void f_flag(const fs_run *R, int64_t p, int e, void *dst) {
  const fs_flag_table *f = &R->pextra[p].flags;
  for (int64_t t = 0; t < flag_count(R, p); t++)
    ((int64_t *)dst)[t] = f->dim[(int64_t)e * f->m * f->m + t];
}

/* A per-pair int64 column of /pairs: get(R, p) for this rank's pairs. */
static int write_pair_column(fs_run *R, fs_h5 *h, const char *path,
                             int64_t (*get)(const fs_run *, int64_t), const char *desc,
                             fs_error *err) {
  int64_t n = R->nmine_pair, *v = malloc(sizeof *v * (size_t)(n + 1));
  int ok = v != NULL, all;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, R->comm);
  int rc = all ? 0 : fs_fail(err, "out of memory writing %s", path);
  for (int64_t i = 0; !rc && i < n; i++) v[i] = get(R, R->mine_pair[i]);
  if (!rc) rc = fs_h5_write(h, path, FS_H5_INT64, 0, R->plan.npair, n, R->mine_pair, v, err);
  if (!rc) rc = fs_h5_attr_string(h, path, "description", desc, err);
  free(v);
  return rc;
}

static int write_ragged(fs_run *R, fs_h5 *h, const ragged *g, fs_error *err) {
  return fs_output_ragged(R, h, g, R->plan.npair, R->mine_pair, R->nmine_pair, err);
}

/* One dataset per tolerance, with its eps_degrees attribute; the first
 * writes the offsets offpath (NULL: written already). */
static int write_per_eps(fs_run *R, fs_h5 *h, const char *stem, const char *offpath,
                         const char *offdesc, int64_t (*count)(const fs_run *, int64_t),
                         void (*fill)(const fs_run *, int64_t, int, void *), const char *descfmt,
                         fs_error *err) {
  for (int e = 0; e < R->opts->neps; e++) {
    char path[64], desc[200];
    snprintf(path, sizeof path, "%s%d", stem, e);
    snprintf(desc, sizeof desc, descfmt, R->opts->eps_deg[e]);
    ragged g = {path, e ? NULL : offpath, offdesc, FS_H5_INT64, count, NULL, desc, fill, e};
    FS_TRY(write_ragged(R, h, &g, err));
    FS_TRY(fs_h5_attr_doubles(h, path, "eps_degrees", &R->opts->eps_deg[e], 1, err));
  }
  return 0;
}

static int write_profiles(fs_run *R, fs_h5 *h, fs_error *err) {
  static const ragged k = {"/pairs/profile_k", "/pairs/profile_offset",
                           "first element of the pair's profile in the profile_* datasets",
                           FS_H5_INT64, profile_count, NULL,
                           "(ragged) s: the profile point uses the top s writer and top s reader vectors",
                           f_k, 0};
  static const ragged rest[] = {
      {"/pairs/profile_dim_random", NULL, NULL, FS_H5_INT64, profile_count, NULL,
       "(ragged) max(0, 2 s - d): intersection dimension of random s-subspaces", f_dimr, 0},
      {"/pairs/profile_overlap", NULL, NULL, FS_H5_DOUBLE, profile_count, v_ov,
       "(ragged) ||U_s^T V_s||_F^2", NULL, 0},
      {"/pairs/profile_overlap_random", NULL, NULL, FS_H5_DOUBLE, profile_count, v_ovr,
       "(ragged) s^2 / d, its expectation for random subspaces", NULL, 0},
  };
  FS_TRY(write_pair_column(R, h, "/pairs/profile_count", profile_count,
                           "points of the pair's profile: s = 1, 2, 4, ... below q, then q (0 if failed)",
                           err));
  FS_TRY(write_ragged(R, h, &k, err));
  FS_TRY(write_per_eps(R, h, "/pairs/profile_dim_eps", NULL, NULL, profile_count, f_dim,
                       "(ragged) dim_eps(s, s) = #{theta_i(U_s, V_s) <= %g deg}", err));
  for (int i = 0; i < NCOL(rest); i++) FS_TRY(write_ragged(R, h, &rest[i], err));
  return 0;
}

int fs_output_pair_extras(fs_run *R, fs_h5 *h, fs_error *err) {
  FS_TRY(write_profiles(R, h, err));
  FS_TRY(write_pair_column(R, h, "/pairs/flag_size", flag_side,
                           "side m = min(32, k, j) of the pair's flag table (0 without --flag-table)",
                           err));
  return write_per_eps(R, h, "/pairs/flag_dim_eps", "/pairs/flag_offset",
                       "first element of the pair's flag table in the flag_dim_eps* datasets",
                       flag_count, f_flag,
                       "(ragged, m x m per pair, row i-1 = top i writer vectors, column "
                       "j-1 = top j reader vectors) dim_eps(i, j) at %g deg", err);
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
