/*
 * fs_merge.c - assembling per-model zoo files (see fs_merge.h), with serial
 * HDF5: datasets are read whole in their stored type and written in it.
 */
#include "fs_merge.h"

#include <hdf5.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs_complete.h"
#include "fs_h5out.h"

#define MAXGROUPS 16
#define MAXSETS 256

typedef struct names {
  int n;
  char name[MAXSETS][64];
} names;

/* The tables of the first file: every group at the root. */
typedef struct layout {
  int ngroups;
  char group[MAXGROUPS][64];
  names sets[MAXGROUPS];
} layout;

static herr_t add_name(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  (void)g, (void)info;
  names *l = data;
  if (l->n == MAXSETS || strlen(name) >= 64) return -1;
  snprintf(l->name[l->n++], 64, "%s", name);
  return 0;
}

static int64_t dataset_len(hid_t f, const char *path) {
  hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
  if (d < 0) return -1;
  hid_t sp = H5Dget_space(d);
  hsize_t n = 0;
  int ok = H5Sget_simple_extent_ndims(sp) == 1 && H5Sget_simple_extent_dims(sp, &n, NULL) == 1;
  H5Sclose(sp), H5Dclose(d);
  return ok ? (int64_t)n : -1;
}

/* Columns that index other rows or ragged elements, and what they index: a
 * column's values in file f shift by the length of the target dataset summed
 * over the files before f.  "*" as the group: any table. */
static const struct {
  const char *group, *column, *target;
} INDEX_COLUMNS[] = {
    {"*", "model", "/models/path"},
    {"pairs", "writer", "/matrices/model"},
    {"pairs", "reader", "/matrices/model"},
    {"matrices", "copy_of", "/matrices/model"}, /* -1 (no copy) stays -1 */
    {"models", "matrix_start", "/matrices/model"},
    {"models", "pair_start", "/pairs/model"},
    {"matrices", "sigma_offset", "/matrices/sigma"},
    {"matrices", "sigma_full_offset", "/matrices/sigma_full"},
    {"pairs", "theta_offset", "/pairs/theta"},
    {"pairs", "profile_offset", "/pairs/profile_k"},
    {"pairs", "flag_offset", "/pairs/flag_dim_eps0"},
    {"heads", "qk_offset", "/heads/qk_sigma"},
    {"heads", "ov_offset", "/heads/ov_sigma"},
    {"head_overlaps", "offset", "/head_overlaps/overlap"},
    {"head_overlaps", "dim_offset", "/head_overlaps/dim"},
    {"stats", "profile_offset", "/stats/profile_block"},
};
#define NINDEX ((int)(sizeof INDEX_COLUMNS / sizeof INDEX_COLUMNS[0]))

/* The target of an index column, NULL for a plain column; *unknown for a
 * column that looks like an index (offset, start) but is not in the table:
 * merging it unchanged could be silently wrong, so the merge refuses. */
static const char *index_target(const char *group, const char *column, int *unknown) {
  *unknown = 0;
  for (int i = 0; i < NINDEX; i++)
    if ((!strcmp(INDEX_COLUMNS[i].group, "*") || !strcmp(INDEX_COLUMNS[i].group, group + 1)) &&
        !strcmp(INDEX_COLUMNS[i].column, column))
      return INDEX_COLUMNS[i].target;
  size_t n = strlen(column);
  *unknown = strstr(column, "offset") || (n > 6 && !strcmp(column + n - 6, "_start"));
  return NULL;
}

/* The shift of an index column in file f: the target's elements in files 0..f-1. */
static int64_t shift_of(hid_t *in, int f, const char *target) {
  int64_t s = 0;
  for (int g = 0; g < f; g++) s += dataset_len(in[g], target);
  return s;
}

static int copy_attrs(hid_t from, hid_t to, const char *skip1, const char *skip2) {
  H5O_info_t info;
  if (H5Oget_info2(from, &info, H5O_INFO_NUM_ATTRS) < 0) return -1;
  for (hsize_t i = 0; i < info.num_attrs; i++) {
    hid_t a = H5Aopen_by_idx(from, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) a = H5Aopen_by_idx(from, ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return -1;
    char name[256];
    H5Aget_name(a, sizeof name, name);
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    size_t bytes = H5Tget_size(t) * (size_t)H5Sget_simple_extent_npoints(sp);
    void *buf = malloc(bytes + 1);
    int rc = -1;
    if (!((skip1 && !strcmp(name, skip1)) || (skip2 && !strcmp(name, skip2)))) {
      hid_t b = buf && H5Aread(a, t, buf) >= 0 ? H5Acreate2(to, name, t, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
      if (b >= 0 && H5Awrite(b, t, buf) >= 0) rc = 0;
      if (b >= 0) H5Aclose(b);
    } else {
      rc = 0;
    }
    free(buf);
    H5Tclose(t), H5Sclose(sp), H5Aclose(a);
    if (rc) return -1;
  }
  return 0;
}

static int put_string_attr(hid_t obj, const char *name, const char *value) {
  hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
  H5Tset_size(t, strlen(value) + 1);
  H5Tset_strpad(t, H5T_STR_NULLTERM);
  hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  int rc = a >= 0 && H5Awrite(a, t, value) >= 0 ? 0 : -1;
  if (a >= 0) H5Aclose(a);
  H5Tclose(t), H5Sclose(sp);
  return rc;
}

/* Dataset gi/name of every input, concatenated and renumbered, into out. */
static int merge_dataset(hid_t *in, int nin, hid_t out, const char *group, const char *name,
                         fs_error *err) {
  char path[160];
  snprintf(path, sizeof path, "%s/%s", group, name);
  int unknown;
  const char *target = index_target(group, name, &unknown);
  if (unknown) return fs_fail(err, "%s looks like an index column the merge does not know", path);
  hid_t d0 = H5Dopen2(in[0], path, H5P_DEFAULT);
  if (d0 < 0) return fs_fail(err, "cannot open %s in the first model file", path);
  hid_t t = H5Dget_type(d0);
  size_t w = H5Tget_size(t);
  int isint = H5Tget_class(t) == H5T_INTEGER && w == 8;
  int64_t total = 0;
  int rc = 0;
  for (int f = 0; f < nin && !rc; f++) {
    int64_t n = dataset_len(in[f], path);
    if (n < 0) rc = fs_fail(err, "model file %d lacks %s", f, path);
    total += n;
  }
  char *buf = rc ? NULL : malloc((size_t)total * w + 1);
  if (!rc && !buf) rc = fs_fail(err, "out of memory merging %s", path);
  int64_t at = 0;
  for (int f = 0; f < nin && !rc; f++) {
    hid_t d = H5Dopen2(in[f], path, H5P_DEFAULT);
    int64_t n = dataset_len(in[f], path);
    if (n > 0 && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf + (size_t)at * w) < 0)
      rc = fs_fail(err, "cannot read %s of model file %d", path, f);
    H5Dclose(d);
    int64_t shift = target && f ? shift_of(in, f, target) : 0;
    if (shift < 0) rc = fs_fail(err, "model file %d lacks %s", f, target);
    if (target && !isint) rc = fs_fail(err, "%s is an index column but not int64", path);
    for (int64_t i = 0; !rc && shift && i < n; i++) /* negative: "none", not a row */
      if (((int64_t *)buf)[at + i] >= 0) ((int64_t *)buf)[at + i] += shift;
    at += n;
  }
  if (!rc) {
    hsize_t dim = (hsize_t)total;
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    hid_t d = H5Dcreate2(out, path, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0 || (total > 0 && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) ||
        copy_attrs(d0, d, NULL, NULL))
      rc = fs_fail(err, "cannot write %s", path);
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
  }
  free(buf);
  H5Tclose(t), H5Dclose(d0);
  return rc;
}

static herr_t add_group(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  layout *L = data;
  H5O_info_t oi;
  (void)info;
  if (H5Oget_info_by_name2(g, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return -1;
  if (oi.type != H5O_TYPE_GROUP) return -1; /* the schema has tables only at the root */
  if (L->ngroups == MAXGROUPS || strlen(name) >= 62) return -1;
  snprintf(L->group[L->ngroups++], 64, "/%s", name);
  return 0;
}

static int list_layout(hid_t f, layout *L, fs_error *err) {
  hsize_t idx = 0;
  if (H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, &idx, add_group, L) < 0)
    return fs_fail(err, "the first model file has an unexpected layout at its root");
  for (int g = 0; g < L->ngroups; g++) {
    idx = 0;
    if (H5Literate_by_name(f, L->group[g], H5_INDEX_NAME, H5_ITER_INC, &idx, add_name, &L->sets[g],
                           H5P_DEFAULT) < 0)
      return fs_fail(err, "cannot list %s of the first model file", L->group[g]);
  }
  return 0;
}

static int write_merged(hid_t *in, int nin, const char *out, const char *command_line,
                        fs_error *err) {
  char partial[4200];
  snprintf(partial, sizeof partial, "%s.partial", out);
  layout *L = calloc(1, sizeof *L);
  if (!L) return fs_fail(err, "out of memory");
  int rc = list_layout(in[0], L, err);
  hid_t o = rc ? -1 : H5Fcreate(partial, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (!rc && o < 0) rc = fs_fail(err, "%s: cannot create", partial);
  if (!rc) {
    hid_t r0 = H5Oopen(in[0], "/", H5P_DEFAULT), r = H5Oopen(o, "/", H5P_DEFAULT);
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    if (copy_attrs(r0, r, "command_line", "created") || put_string_attr(r, "command_line", command_line) ||
        put_string_attr(r, "created", when))
      rc = fs_fail(err, "%s: cannot write the root attributes", partial);
    H5Oclose(r0), H5Oclose(r);
  }
  for (int g = 0; g < L->ngroups && !rc; g++) {
    hid_t grp = H5Gcreate2(o, L->group[g], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (grp < 0) rc = fs_fail(err, "%s: cannot create %s", partial, L->group[g]);
    else H5Gclose(grp);
    for (int s = 0; s < L->sets[g].n && !rc; s++)
      rc = merge_dataset(in, nin, o, L->group[g], L->sets[g].name[s], err);
  }
  if (o >= 0 && H5Fclose(o) < 0 && !rc) rc = fs_fail(err, "%s: closing failed", partial);
  if (!rc && fs_h5_fsync_path(partial)) rc = fs_fail(err, "%s: cannot flush to disk", partial);
  if (!rc && rename(partial, out)) rc = fs_fail(err, "%s: cannot rename into place", out);
  if (rc) unlink(partial);
  free(L);
  return rc;
}

/* The status and error of the one model of a per-model file. */
static void model_status(hid_t f, char *status, char *why, size_t n) {
  snprintf(status, 16, "?");
  why[0] = '\0';
  const char *cols[2] = {"/models/status", "/models/error"};
  char *dst[2] = {status, why};
  size_t cap[2] = {16, n};
  for (int c = 0; c < 2; c++) {
    hid_t d = H5Dopen2(f, cols[c], H5P_DEFAULT);
    if (d < 0) continue;
    hid_t t = H5Dget_type(d);
    size_t w = H5Tget_size(t);
    char *buf = calloc(1, w + 1);
    if (buf && dataset_len(f, cols[c]) == 1 && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0)
      snprintf(dst[c], cap[c], "%s", buf);
    free(buf);
    H5Tclose(t), H5Dclose(d);
  }
}

int fs_merge(const fs_manifest *m, const char *dir, const char *out, const char *command_line,
             FILE *summary, int *nproblems, fs_error *err) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t *in = calloc((size_t)m->n + 1, sizeof *in);
  if (!in) return fs_fail(err, "out of memory");
  int nin = 0, problems = m->nbad;
  char options0[8192] = "", options[8192], why[24576];
  for (int i = 0; i < m->nbad && summary; i++) fprintf(summary, "  bad manifest line: %s\n", m->bad[i]);
  for (int i = 0; i < m->n; i++) {
    char h5[4300], rec[4300];
    fs_complete_paths(dir, i, h5, rec, sizeof h5);
    const fs_manifest_entry *e = &m->entry[i];
    int v = fs_complete_check(h5, rec, e->path, e->tags, NULL, options, sizeof options, why, sizeof why);
    hid_t f = -1;
    if (v == 0) snprintf(why, sizeof why, "not analysed: no %s (task not run, cancelled or killed)", h5);
    else if (v == 1 && nin && strcmp(options, options0))
      snprintf(why, sizeof why, "%s was analysed with other options (%s, not %s)", h5, options, options0), v = -1;
    else if (v == 1 && (f = H5Fopen(h5, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
      snprintf(why, sizeof why, "%s: not an HDF5 file", h5), v = -1;
    if (v != 1) {
      problems++;
      if (summary) fprintf(summary, "  missing model %d (%s, line %d): %s\n", i, e->path, e->line, why);
      continue;
    }
    if (!nin) snprintf(options0, sizeof options0, "%s", options);
    in[nin++] = f;
    char status[16];
    model_status(f, status, why, sizeof why);
    if (strcmp(status, "ok")) {
      problems++;
      if (summary) fprintf(summary, "  %s model %d (%s): %s\n", status, i, e->path, why);
    }
  }
  int rc = nin ? write_merged(in, nin, out, command_line, err)
               : fs_fail(err, "%s: no complete model file to merge", dir);
  for (int f = 0; f < nin; f++) H5Fclose(in[f]);
  free(in);
  if (summary && !rc)
    fprintf(summary, "flagscope merge: %d of %d models merged into %s; %d problem%s%s\n", nin, m->n,
            out, problems, problems == 1 ? "" : "s", problems ? " (listed above)" : "");
  *nproblems = problems;
  return rc;
}
