/*
 * fs_h5read.c - serial reader of flagscope's HDF5 output (see fs_h5read.h).
 */
#include "fs_h5read.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs_output.h"

struct fs_h5r {
  hid_t file;
  int64_t file_bytes;
  char path[4096];
};

const char *fs_h5r_path(const fs_h5r *r) { return r->path; }

static int read_int_attr(hid_t file, const char *name, int64_t *v) {
  if (H5Aexists(file, name) <= 0) return 0;
  hid_t a = H5Aopen(file, name, H5P_DEFAULT);
  hid_t sp = a < 0 ? -1 : H5Aget_space(a);
  int ok = sp >= 0 && H5Sget_simple_extent_npoints(sp) == 1 &&
           H5Aread(a, H5T_NATIVE_INT64, v) >= 0;
  if (sp >= 0) H5Sclose(sp);
  if (a >= 0) H5Aclose(a);
  return ok;
}

int fs_h5r_open(const char *path, fs_h5r **out, fs_error *err) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  *out = NULL;
  struct stat st;
  if (stat(path, &st) != 0) return fs_fail(err, "%s: no such file", path);
  if (H5Fis_hdf5(path) <= 0) return fs_fail(err, "%s: not an HDF5 file", path);
  fs_h5r *r = calloc(1, sizeof *r);
  if (!r) return fs_fail(err, "%s: out of memory", path);
  snprintf(r->path, sizeof r->path, "%s", path);
  r->file_bytes = st.st_size;
  r->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (r->file < 0) {
    free(r);
    return fs_fail(err, "%s: cannot open the HDF5 file", path);
  }
  int64_t version = -1, complete = 0;
  int rc = 0;
  if (!read_int_attr(r->file, "schema_version", &version))
    rc = fs_fail(err, "%s: no schema_version attribute: not a flagscope output file", path);
  else if (version != FS_SCHEMA_VERSION)
    rc = fs_fail(err, "%s: schema version %lld, but this flagscope reads version %d only "
                 "(written by another flagscope version?)", path, (long long)version,
                 FS_SCHEMA_VERSION);
  else if (!read_int_attr(r->file, "complete", &complete) || complete != 1)
    rc = fs_fail(err, "%s: the file is not marked complete (the run was interrupted, or it "
                 "was copied while being written)", path);
  if (rc) {
    fs_h5r_close(r);
    return rc;
  }
  *out = r;
  return 0;
}

void fs_h5r_close(fs_h5r *r) {
  if (!r) return;
  if (r->file >= 0) H5Fclose(r->file);
  free(r);
}

int fs_h5r_exists(fs_h5r *r, const char *obj) {
  /* H5Lexists on every component: a missing parent is an error, not a 0 */
  char buf[512];
  snprintf(buf, sizeof buf, "%s", obj);
  for (char *s = buf + 1; *s; s++) {
    if (*s != '/') continue;
    *s = '\0';
    int e = H5Lexists(r->file, buf, H5P_DEFAULT) > 0;
    *s = '/';
    if (!e) return 0;
  }
  return H5Lexists(r->file, buf, H5P_DEFAULT) > 0;
}

int fs_h5r_attr_string(fs_h5r *r, const char *name, char *buf, size_t n) {
  buf[0] = '\0';
  if (H5Aexists(r->file, name) <= 0) return 1;
  hid_t a = H5Aopen(r->file, name, H5P_DEFAULT), ft = H5Aget_type(a);
  int rc = 1;
  if (H5Tget_class(ft) == H5T_STRING && !H5Tis_variable_str(ft)) {
    size_t w = H5Tget_size(ft);
    char *tmp = calloc(w + 1, 1);
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, w + 1);
    if (tmp && H5Aread(a, mt, tmp) >= 0) snprintf(buf, n, "%s", tmp), rc = 0;
    H5Tclose(mt);
    free(tmp);
  }
  H5Tclose(ft);
  H5Aclose(a);
  return rc;
}

int fs_h5r_attr_doubles(fs_h5r *r, const char *name, double *v, int max, int *count) {
  *count = 0;
  if (H5Aexists(r->file, name) <= 0) return 1;
  hid_t a = H5Aopen(r->file, name, H5P_DEFAULT), sp = H5Aget_space(a);
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  int rc = 1;
  if (n >= 1 && n <= max && H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0) *count = (int)n, rc = 0;
  H5Sclose(sp);
  H5Aclose(a);
  return rc;
}

/* ---- datasets ----------------------------------------------------------------- */

static int read_dataset(fs_h5r *r, hid_t d, const char *path, fs_col *c, fs_error *err) {
  hid_t sp = H5Dget_space(d), ft = H5Dget_type(d), mt = -1;
  int rc = 0;
  hsize_t dim = 0;
  if (H5Sget_simple_extent_ndims(sp) != 1) {
    rc = fs_fail(err, "%s: %s is not one-dimensional", r->path, path);
    goto done;
  }
  H5Sget_simple_extent_dims(sp, &dim, NULL);
  H5T_class_t cl = H5Tget_class(ft);
  size_t fsize = H5Tget_size(ft);
  if (cl == H5T_FLOAT) c->type = FS_H5_DOUBLE, mt = H5Tcopy(H5T_NATIVE_DOUBLE), c->width = 8;
  else if (cl == H5T_INTEGER) c->type = FS_H5_INT64, mt = H5Tcopy(H5T_NATIVE_INT64), c->width = 8;
  else if (cl == H5T_STRING && !H5Tis_variable_str(ft)) {
    c->type = FS_H5_STRING, c->width = fsize + 1;
    mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, c->width);
  } else {
    rc = fs_fail(err, "%s: %s has a type flagscope does not write", r->path, path);
    goto done;
  }
  /* Never allocate what the header merely claims: our writer stores every
   * element uncompressed, so the file holds at least dim * fsize bytes. */
  if (fsize == 0 || dim > (hsize_t)r->file_bytes / fsize) {
    rc = fs_fail(err, "%s: %s claims %llu elements, more than the file holds", r->path, path,
                 (unsigned long long)dim);
    goto done;
  }
  c->n = (int64_t)dim;
  c->data = calloc((size_t)dim + 1, c->width);
  if (!c->data) rc = fs_fail(err, "%s: out of memory reading %s", r->path, path);
  else if (dim && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, c->data) < 0)
    rc = fs_fail(err, "%s: cannot read %s", r->path, path);
done:
  if (mt >= 0) H5Tclose(mt);
  H5Tclose(ft);
  H5Sclose(sp);
  return rc;
}

int fs_h5r_dataset(fs_h5r *r, const char *path, fs_col *c, fs_error *err) {
  memset(c, 0, sizeof *c);
  const char *base = strrchr(path, '/');
  snprintf(c->name, sizeof c->name, "%s", base ? base + 1 : path);
  if (!fs_h5r_exists(r, path)) return fs_fail(err, "%s: no dataset %s", r->path, path);
  hid_t d = H5Dopen2(r->file, path, H5P_DEFAULT);
  if (d < 0) return fs_fail(err, "%s: %s is not a dataset", r->path, path);
  int rc = read_dataset(r, d, path, c, err);
  H5Dclose(d);
  if (rc) fs_col_free(c);
  return rc;
}

void fs_col_free(fs_col *c) {
  free(c->data);
  c->data = NULL;
}

/* ---- tables ------------------------------------------------------------------- */

typedef struct names {
  int n, cap;
  char (*v)[64];
} names;

static herr_t add_name(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  (void)g, (void)info;
  names *l = data;
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 64;
    void *v = realloc(l->v, sizeof *l->v * (size_t)cap);
    if (!v) return -1;
    l->v = v, l->cap = cap;
  }
  snprintf(l->v[l->n++], 64, "%s", name);
  return 0;
}

int fs_h5r_table(fs_h5r *r, const char *group, const char *key, fs_table *t, fs_error *err) {
  memset(t, 0, sizeof *t);
  snprintf(t->group, sizeof t->group, "%s", group);
  char path[256];
  snprintf(path, sizeof path, "%s/%s", group, key);
  fs_col kc;
  FS_TRY(fs_h5r_dataset(r, path, &kc, err));
  t->nrows = kc.n;
  fs_col_free(&kc);
  names l = {0};
  hid_t g = H5Gopen2(r->file, group, H5P_DEFAULT);
  herr_t it = g < 0 ? -1 : H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, add_name, &l);
  if (g >= 0) H5Gclose(g);
  int rc = it < 0 ? fs_fail(err, "%s: cannot list the group %s", r->path, group) : 0;
  t->cols = rc ? NULL : calloc((size_t)l.n + 1, sizeof *t->cols);
  if (!rc && !t->cols) rc = fs_fail(err, "%s: out of memory", r->path);
  for (int i = 0; !rc && i < l.n; i++) {
    snprintf(path, sizeof path, "%s/%s", group, l.v[i]);
    hid_t d = H5Dopen2(r->file, path, H5P_DEFAULT);
    if (d < 0) continue; /* a subgroup */
    hid_t sp = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    H5Dclose(d);
    if (n != t->nrows) continue; /* ragged data, not a column */
    rc = fs_h5r_dataset(r, path, &t->cols[t->ncols], err);
    if (!rc) t->ncols++;
  }
  free(l.v);
  if (rc) fs_table_free(t);
  return rc;
}

void fs_table_free(fs_table *t) {
  for (int i = 0; t->cols && i < t->ncols; i++) fs_col_free(&t->cols[i]);
  free(t->cols);
  t->cols = NULL, t->ncols = 0;
}

void fs_table_order(fs_table *t, const char *const *first, int nfirst) {
  int pos = 0;
  for (int k = 0; k < nfirst; k++)
    for (int i = pos; i < t->ncols; i++)
      if (!strcmp(t->cols[i].name, first[k])) {
        fs_col c = t->cols[i];
        memmove(&t->cols[pos + 1], &t->cols[pos], sizeof c * (size_t)(i - pos));
        t->cols[pos++] = c;
        break;
      }
}

const fs_col *fs_table_col(const fs_table *t, const char *name) {
  for (int i = 0; i < t->ncols; i++)
    if (!strcmp(t->cols[i].name, name)) return &t->cols[i];
  return NULL;
}

double fs_col_num(const fs_col *c, int64_t i) {
  if (!c || i < 0 || i >= c->n) return NAN;
  if (c->type == FS_H5_DOUBLE) return ((const double *)c->data)[i];
  if (c->type == FS_H5_INT64) return (double)((const int64_t *)c->data)[i];
  return NAN;
}

const char *fs_col_str(const fs_col *c, int64_t i) {
  if (!c || c->type != FS_H5_STRING || i < 0 || i >= c->n) return "";
  return (const char *)c->data + (size_t)i * c->width;
}
