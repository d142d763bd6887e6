/*
 * fs_output_zoo.c - the /zoo and /stats tables of HDF5 schema version 1
 * (docs/hdf5-schema.md): the model-wide statistics of fs_reduce, which live on
 * rank 0.  Rank 0 writes every row; the other ranks take part in each
 * collective create and write with no rows (the global sizes are broadcast
 * first, since only rank 0 knows them).
 *
 * /zoo: one row per model, the per-type statistics spread into columns
 * "<type>_<statistic>" so that a model is one line of a spreadsheet.
 * /stats: one row per (model, pair type, statistic), long format, with the
 * quantiles and the depth profile (ragged: profile_block / profile_value).
 * Without statistics (z NULL: the reduction failed, the run says so) /zoo has
 * its model columns, NaN statistics and no pairs counted, and /stats no rows.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs_h5out.h"
#include "fs_heads.h"
#include "fs_output.h"
#include "fs_reduce.h"

/* A column of a rank-0 table: type, width, description, and its values. */
typedef struct zcol {
  char name[64];
  fs_h5_type type;
  size_t width;
  char description[256];
} zcol;

static int write_col(fs_h5 *h, const char *group, const zcol *c, int64_t nrows, int mine,
                     const void *data, fs_error *err) {
  char path[160];
  snprintf(path, sizeof path, "%s/%s", group, c->name);
  int64_t *idx = malloc(sizeof *idx * (size_t)(nrows + 1));
  for (int64_t i = 0; idx && i < nrows; i++) idx[i] = i;
  /* a failed malloc passes NULL rows: fs_h5_write then fails on every rank */
  int rc = fs_h5_write(h, path, c->type, c->width, nrows, mine ? nrows : 0, idx, data, err);
  free(idx);
  FS_TRY(rc);
  return fs_h5_attr_string(h, path, "description", c->description, err);
}

static int64_t model_parameters(const fs_plan_model *pm) {
  if (!pm->ok) return -1;
  int64_t n = 0;
  for (int i = 0; i < pm->model.ntensors; i++) n += fs_tensor_numel(&pm->model.tensors[i]);
  return n;
}

/* ---- /zoo --------------------------------------------------------------------- */

/* The per-type columns of /zoo: what, of which statistic. */
typedef enum { Z_PAIRS, Z_MEAN, Z_MEDIAN, Z_SUB, Z_BASIS } zkind;
typedef struct zspec {
  const char *suffix;
  zkind kind;
  int stat; /* -1: the ratio at the alignment eps */
  const char *description;
} zspec;

static const zspec zoo_specs[] = {
    {"pairs", Z_PAIRS, 0, "pairs of this type computed"},
    {"ratio_mean", Z_MEAN, -1, "mean intersection ratio dim_eps / min(k, j) at align_eps_degrees"},
    {"ratio_median", Z_MEDIAN, -1, "median intersection ratio at align_eps_degrees"},
    {"kappa_mean", Z_MEAN, FS_ST_KAPPA, "mean commutator kappa"},
    {"kappa_rel_mean", Z_MEAN, FS_ST_KREL, "mean kappa / kappa_random"},
    {"kappa_rel_median", Z_MEDIAN, FS_ST_KREL, "median kappa / kappa_random"},
    {"balancedness_mean", Z_MEAN, FS_ST_BAL, "mean balancedness"},
    {"balancedness_median", Z_MEDIAN, FS_ST_BAL, "median balancedness"},
    {"aligned_subspace", Z_SUB, 0,
     "fraction of the pairs whose ratio at align_eps_degrees is >= align_ratio"},
    {"aligned_basis", Z_BASIS, 0,
     "fraction of the subspace-aligned pairs whose kappa_rel is <= align_kappa (NaN if none)"},
};
#define NZSPEC ((int)(sizeof zoo_specs / sizeof zoo_specs[0]))

static double zoo_value(const fs_zoo_stats *z, int m, int t, const zspec *sp) {
  if (!z) return sp->kind == Z_PAIRS ? 0 : NAN; /* the reduction failed */
  const fs_type_summary *ts = &z->model[m][t];
  int s = sp->stat < 0 ? FS_ST_RATIO0 + z->align_eps : sp->stat;
  switch (sp->kind) {
  case Z_SUB: return fs_zoo_frac_subspace(ts);
  case Z_BASIS: return fs_zoo_frac_basis(ts);
  case Z_MEAN: return ts->stat ? ts->stat[s].mean : NAN;
  case Z_MEDIAN: return ts->stat ? ts->stat[s].q[2] : NAN;
  default: return (double)ts->npairs;
  }
}

typedef enum { ZB_PATH, ZB_NAME, ZB_FORMAT, ZB_FAMILY, ZB_STATUS, ZB_REASON, ZB_TAGS, ZB_PARAMS,
               ZB_SIZE, ZB_NMAT, ZB_NPAIR, ZB_N } zbase;
static const zcol zoo_base[ZB_N] = {
    {"path", FS_H5_STRING, 512, "checkpoint file as given (row i is row i of /models)"},
    {"name", FS_H5_STRING, 128, "short name: the file name, with its folder for model*.safetensors"},
    {"format", FS_H5_STRING, 16, "checkpoint format"},
    {"family", FS_H5_STRING, 16, "layer-graph family"},
    {"status", FS_H5_STRING, 8, "ok, partial (some items failed) or failed"},
    {"reason", FS_H5_STRING, 512, "reason of a failure, or a note on the graph"},
    {"tags", FS_H5_STRING, 512, "key=value tags of the model's manifest line (seed, step, wd, ...), as in /models"},
    {"parameters", FS_H5_INT64, 0, "number of weights: elements of every tensor of the file (-1 if unreadable)"},
    {"file_size", FS_H5_INT64, 0, "bytes"},
    {"n_matrices", FS_H5_INT64, 0, "matrices analysed"},
    {"n_pairs", FS_H5_INT64, 0, "adjacent pairs in the layer graph"},
};

static void zoo_base_value(const fs_run *R, int m, int c, char *dst, size_t width) {
  const fs_plan_model *pm = &R->plan.models[m];
  char why[FS_ERRMSG_MAX];
  const char *status = fs_run_model_status(R, m, why, sizeof why);
  int64_t *i = (int64_t *)dst;
  switch (c) {
  case ZB_PATH: snprintf(dst, width, "%s", pm->path); break;
  case ZB_NAME: snprintf(dst, width, "%s", fs_display_name(pm->path)); break;
  case ZB_FORMAT: snprintf(dst, width, "%s", pm->ok ? fs_format_name(pm->model.format) : ""); break;
  case ZB_FAMILY: snprintf(dst, width, "%s", pm->ok ? pm->graph.family : ""); break;
  case ZB_STATUS: snprintf(dst, width, "%s", status); break;
  case ZB_REASON: snprintf(dst, width, "%s", why); break;
  case ZB_TAGS:
    snprintf(dst, width, "%s", R->opts->model_tags && R->opts->model_tags[m] ? R->opts->model_tags[m] : "");
    break;
  case ZB_PARAMS: *i = model_parameters(pm); break;
  case ZB_SIZE: *i = pm->model.file_size; break;
  case ZB_NMAT: *i = pm->ok ? pm->graph.nmat : 0; break;
  default: *i = pm->ok ? pm->graph.npair : 0; break;
  }
}

static int write_zoo(const fs_run *R, const fs_zoo_stats *z, fs_h5 *h, fs_error *err) {
  int64_t n = R->plan.nmodels;
  int mine = R->rank == 0;
  FS_TRY(fs_h5_group(h, "/zoo", err));
  for (int c = 0; c < ZB_N; c++) {
    size_t w = zoo_base[c].type == FS_H5_STRING ? zoo_base[c].width : 8;
    char *buf = calloc((size_t)n + 1, w);
    for (int64_t m = 0; buf && mine && m < n; m++) zoo_base_value(R, (int)m, c, buf + w * (size_t)m, w);
    int rc = write_col(h, "/zoo", &zoo_base[c], n, mine, buf, err);
    free(buf);
    FS_TRY(rc);
  }
  for (int t = 0; t < FS_PAIR_NTYPES; t++)
    for (int k = 0; k < NZSPEC; k++) {
      const zspec *sp = &zoo_specs[k];
      zcol c = {.type = sp->kind == Z_PAIRS ? FS_H5_INT64 : FS_H5_DOUBLE};
      snprintf(c.name, sizeof c.name, "%s_%s", fs_pair_type_name(t), sp->suffix);
      snprintf(c.description, sizeof c.description, "%s pairs: %s", fs_pair_type_name(t), sp->description);
      double *buf = calloc((size_t)n + 1, 8);
      for (int64_t m = 0; buf && mine && m < n; m++) {
        double v = zoo_value(z, (int)m, t, sp);
        if (sp->kind == Z_PAIRS) ((int64_t *)buf)[m] = (int64_t)v;
        else buf[m] = v;
      }
      int rc = write_col(h, "/zoo", &c, n, mine, buf, err);
      free(buf);
      FS_TRY(rc);
    }
  return 0;
}

/* Head redundancy per model: head_blocks, then head_<kind>_overlap (mean over
 * blocks of mean_offdiag) and head_<kind>_redundant (sum of n_redundant). */
static void head_kind_name(int k, char *buf, size_t n) {
  size_t o = 0;
  for (const char *c = fs_head_kind_name(k); *c && o + 2 < n; c++) {
    if (*c == '>') buf[o++] = '_';
    else buf[o++] = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
  }
  buf[o] = '\0';
}

static int write_zoo_heads(const fs_run *R, const fs_zoo_stats *z, fs_h5 *h, fs_error *err) {
  int64_t n = R->plan.nmodels;
  int mine = R->rank == 0;
  for (int k = -1; k < FS_HEAD_NKINDS; k++)
    for (int what = 0; what < (k < 0 ? 1 : 2); what++) {
      zcol c = {.type = k >= 0 && what == 0 ? FS_H5_DOUBLE : FS_H5_INT64};
      char kn[16];
      if (k >= 0) head_kind_name(k, kn, sizeof kn);
      if (k < 0) {
        snprintf(c.name, sizeof c.name, "head_blocks");
        snprintf(c.description, sizeof c.description, "attention-head blocks computed");
      } else {
        snprintf(c.name, sizeof c.name, "head_%s_%s", kn, what ? "redundant" : "overlap");
        snprintf(c.description, sizeof c.description, what
                 ? "%s overlaps: head pairs above head_threshold, summed over the blocks"
                 : "%s overlaps: mean over the blocks of mean_offdiag (NaN if none)",
                 fs_head_kind_name(k));
      }
      double *buf = calloc((size_t)n + 1, 8);
      for (int64_t m = 0; buf && mine && m < n; m++) {
        const fs_head_summary *hs = z ? &z->heads[m] : NULL;
        if (c.type == FS_H5_DOUBLE) buf[m] = hs && hs->n[k] ? hs->overlap[k] / hs->n[k] : NAN;
        else ((int64_t *)buf)[m] = !hs ? 0 : k < 0 ? hs->blocks : hs->redundant[k];
      }
      int rc = write_col(h, "/zoo", &c, n, mine, buf, err);
      free(buf);
      FS_TRY(rc);
    }
  return 0;
}

/* ---- /stats ------------------------------------------------------------------- */

/* Rows (model, type, statistic) of every type with pairs, in that order; the
 * ratios (one per eps) first, then ratio_random ... balancedness. */
typedef struct srow {
  int model, type, stat;
  int64_t profile_offset;
} srow;

static int64_t list_stat_rows(const fs_zoo_stats *z, srow *rows, int64_t *nprofile) {
  int64_t n = 0, off = 0;
  for (int m = 0; m < z->nmodels; m++)
    for (int t = 0; t < FS_PAIR_NTYPES; t++)
      for (int k = 0; z->model[m][t].stat && k < z->nstat; k++) {
        int s = k < z->neps ? FS_ST_RATIO0 + k : k - z->neps;
        if (rows) rows[n] = (srow){m, t, s, off};
        off += z->model[m][t].stat[s].nblocks, n++;
      }
  *nprofile = off;
  return n;
}

enum { SC_MODEL, SC_TYPE, SC_STAT, SC_EPS, SC_COUNT, SC_MEAN, SC_MIN, SC_Q10, SC_Q25, SC_MEDIAN,
       SC_Q75, SC_Q90, SC_MAX, SC_POFF, SC_PLEN, SC_N };
static const zcol stat_cols[SC_N] = {
    {"model", FS_H5_INT64, 0, "row of /models and /zoo"},
    {"type", FS_H5_STRING, 12, "pair type"},
    {"statistic", FS_H5_STRING, 16,
     "ratio (dim_eps / min(k, j), one row per eps), ratio_random, overlap_rel, kappa, kappa_rel "
     "or balancedness"},
    {"eps_degrees", FS_H5_DOUBLE, 0, "the eps of a ratio row, NaN for the others"},
    {"count", FS_H5_INT64, 0, "pairs with a finite value"},
    {"mean", FS_H5_DOUBLE, 0, "mean over those pairs"},
    {"min", FS_H5_DOUBLE, 0, "smallest value"},
    {"q10", FS_H5_DOUBLE, 0, "10 % quantile (linear interpolation, numpy's default)"},
    {"q25", FS_H5_DOUBLE, 0, "25 % quantile"},
    {"median", FS_H5_DOUBLE, 0, "50 % quantile"},
    {"q75", FS_H5_DOUBLE, 0, "75 % quantile"},
    {"q90", FS_H5_DOUBLE, 0, "90 % quantile"},
    {"max", FS_H5_DOUBLE, 0, "largest value"},
    {"profile_offset", FS_H5_INT64, 0, "first element of the row's depth profile in profile_block / profile_value"},
    {"profile_length", FS_H5_INT64, 0, "blocks in the depth profile (pairs with block -1 are left out)"},
};

static void stat_value(const fs_zoo_stats *z, const double *eps, const srow *r, int c, char *dst,
                       size_t width) {
  const fs_stat_summary *st = &z->model[r->model][r->type].stat[r->stat];
  double *d = (double *)dst;
  int64_t *i = (int64_t *)dst;
  switch (c) {
  case SC_MODEL: *i = r->model; break;
  case SC_TYPE: snprintf(dst, width, "%s", fs_pair_type_name(r->type)); break;
  case SC_STAT: snprintf(dst, width, "%s", fs_stat_name(r->stat)); break;
  case SC_EPS: *d = r->stat >= FS_ST_RATIO0 ? eps[r->stat - FS_ST_RATIO0] : NAN; break;
  case SC_COUNT: *i = st->count; break;
  case SC_MEAN: *d = st->mean; break;
  case SC_MIN: *d = st->min; break;
  case SC_MAX: *d = st->max; break;
  case SC_POFF: *i = r->profile_offset; break;
  case SC_PLEN: *i = st->nblocks; break;
  default: *d = st->q[c - SC_Q10]; break;
  }
}

static int write_profiles(const fs_zoo_stats *z, const srow *rows, int64_t n, int64_t np, fs_h5 *h,
                          int mine, fs_error *err) {
  int64_t *blk = calloc((size_t)np + 1, sizeof *blk);
  double *val = calloc((size_t)np + 1, sizeof *val);
  for (int64_t r = 0; blk && val && mine && r < n; r++) {
    const fs_stat_summary *st = &z->model[rows[r].model][rows[r].type].stat[rows[r].stat];
    memcpy(blk + rows[r].profile_offset, st->block, sizeof *blk * (size_t)st->nblocks);
    memcpy(val + rows[r].profile_offset, st->profile, sizeof *val * (size_t)st->nblocks);
  }
  static const zcol pb = {"profile_block", FS_H5_INT64, 0,
                          "(ragged) depth profile: the block of each value, ascending per row"};
  static const zcol pv = {"profile_value", FS_H5_DOUBLE, 0,
                          "(ragged) depth profile: mean of the row's statistic over the pairs of that block"};
  int rc = write_col(h, "/stats", &pb, np, mine, blk, err);
  if (!rc) rc = write_col(h, "/stats", &pv, np, mine, val, err);
  free(blk), free(val);
  return rc;
}

static int write_stats(const fs_run *R, const fs_zoo_stats *z, fs_h5 *h, fs_error *err) {
  int mine = R->rank == 0;
  int64_t sizes[2] = {0, 0}; /* rows, profile values: known on rank 0 */
  if (mine && z) sizes[0] = list_stat_rows(z, NULL, &sizes[1]);
  MPI_Bcast(sizes, 2, MPI_INT64_T, 0, R->comm);
  srow *rows = mine ? malloc(sizeof *rows * (size_t)(sizes[0] + 1)) : NULL;
  if (rows && z) list_stat_rows(z, rows, &sizes[1]);
  FS_TRY(fs_h5_group(h, "/stats", err));
  int rc = 0;
  for (int c = 0; c < SC_N && !rc; c++) {
    size_t w = stat_cols[c].type == FS_H5_STRING ? stat_cols[c].width : 8;
    char *buf = (rows || !mine) ? calloc((size_t)sizes[0] + 1, w) : NULL;
    for (int64_t r = 0; buf && mine && r < sizes[0]; r++)
      stat_value(z, R->opts->eps_deg, &rows[r], c, buf + w * (size_t)r, w);
    rc = write_col(h, "/stats", &stat_cols[c], sizes[0], mine, buf, err);
    free(buf);
  }
  if (!rc) rc = write_profiles(z, rows, sizes[0], sizes[1], h, mine && rows, err);
  free(rows);
  return rc;
}

int fs_output_write_zoo(const fs_run *R, const fs_zoo_stats *z, fs_h5 *h, fs_error *err) {
  FS_TRY(fs_h5_attr_doubles(h, "/", "align_ratio", &R->opts->align_ratio, 1, err));
  FS_TRY(fs_h5_attr_doubles(h, "/", "align_kappa", &R->opts->align_kappa, 1, err));
  double ae = R->opts->eps_deg[fs_align_eps_index(R->opts->eps_deg, R->opts->neps)];
  FS_TRY(fs_h5_attr_doubles(h, "/", "align_eps_degrees", &ae, 1, err));
  FS_TRY(write_zoo(R, z, h, err));
  FS_TRY(write_zoo_heads(R, z, h, err));
  return write_stats(R, z, h, err);
}
