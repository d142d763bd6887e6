/*
 * fs_trajectory.c - checkpoint series, pair time series and fitted rates
 * (see fs_trajectory.h; the estimator and the theory it is compared with are
 * in docs/mathematics.md section 13).
 *
 * The HDF5 part is deliberately small and serial: it reads back the columns
 * of /models, /matrices and /pairs it needs from the file fs_analyze has just
 * closed, and appends the /trajectory group as three tables of 1-D columns
 * (the layout of the other tables, docs/hdf5-schema.md).
 */
#include "fs_trajectory.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs_model.h"

void fs_traj_defaults(fs_traj_opts *o) {
  o->fit_from = o->fit_to = -1;
  o->floor = 1e-10;
  o->lr = NAN;
}

void fs_traj_series_free(fs_traj_series *s) {
  for (int i = 0; i < s->n; i++) free(s->paths[i]);
  free(s->paths), free(s->steps), free(s->lr), free(s->loss);
  memset(s, 0, sizeof *s);
}

/* ---- the manifest ------------------------------------------------------------ */

static int series_add(fs_traj_series *s, const char *path, long step, int *cap) {
  if (s->n == *cap) {
    int c = *cap ? 2 * *cap : 16;
    char **p = realloc(s->paths, sizeof *p * (size_t)c);
    if (p) s->paths = p;
    long *st = realloc(s->steps, sizeof *st * (size_t)c);
    if (st) s->steps = st;
    if (!p || !st) return FS_ERR;
    *cap = c;
  }
  if (!(s->paths[s->n] = strdup(path))) return FS_ERR;
  s->steps[s->n++] = step;
  return 0;
}

/* One "PATH STEP" line, already stripped of its comment. */
static int parse_line(char *s, char **path, long *step) {
  char *sp = s + strcspn(s, " \t");
  if (!*sp) return FS_ERR;
  *sp = '\0';
  char *num = sp + 1 + strspn(sp + 1, " \t"), *end;
  errno = 0;
  long v = strtol(num, &end, 10);
  if (end == num || errno || v < 0) return FS_ERR;
  if (end[strspn(end, " \t")]) return FS_ERR;
  *path = s, *step = v;
  return 0;
}

int fs_traj_read_manifest(const char *path, fs_traj_series *s, fs_error *err) {
  memset(s, 0, sizeof *s);
  FILE *f = fopen(path, "r");
  if (!f) return fs_fail(err, "%s: cannot read the manifest: %s", path, strerror(errno));
  const char *slash = strrchr(path, '/');
  int dirlen = slash ? (int)(slash - path) : 0, cap = 0, lineno = 0, rc = 0;
  char line[4096], full[8300];
  while (!rc && fgets(line, sizeof line, f)) {
    lineno++;
    char *p = line + strspn(line, " \t"), *file;
    p[strcspn(p, "#\r\n")] = '\0';
    for (size_t n = strlen(p); n && (p[n - 1] == ' ' || p[n - 1] == '\t'); n--) p[n - 1] = '\0';
    if (!*p) continue;
    long step;
    if (parse_line(p, &file, &step)) {
      rc = fs_fail(err, "%s:%d: checkpoint %d: expected 'PATH STEP' with an integer step >= 0",
                   path, lineno, s->n);
      break;
    }
    if (*file == '/' || !dirlen) snprintf(full, sizeof full, "%s", file);
    else snprintf(full, sizeof full, "%.*s/%s", dirlen, path, file);
    if (s->n && step <= s->steps[s->n - 1])
      rc = fs_fail(err, "%s:%d: checkpoint %d (%s): step %ld is out of order (not after step %ld "
                   "of %s); steps must increase", path, lineno, s->n, full, step,
                   s->steps[s->n - 1], s->paths[s->n - 1]);
    else if (series_add(s, full, step, &cap))
      rc = fs_fail(err, "%s: out of memory", path);
  }
  fclose(f);
  if (!rc && s->n < 2) rc = fs_fail(err, "%s: a trajectory needs at least 2 checkpoints, found %d", path, s->n);
  if (rc) fs_traj_series_free(s);
  return rc;
}

/* ---- the architecture check ------------------------------------------------------ */

static double meta_number(const fs_model *m, const char *key) {
  const char *v = fs_model_meta(m, key);
  char *end;
  double x = v ? strtod(v, &end) : NAN;
  return v && end != v && !*end ? x : NAN;
}

/* The first difference between the 2-D tensors of a and b, or NULL. */
static const char *arch_diff(const fs_model *a, const fs_model *b, char *why, size_t len) {
  int na = 0, nb = 0;
  for (int i = 0; i < a->ntensors; i++) na += a->tensors[i].ndim == 2;
  for (int i = 0; i < b->ntensors; i++) nb += b->tensors[i].ndim == 2;
  if (na != nb) return snprintf(why, len, "%d weight matrices, the first checkpoint has %d", nb, na), why;
  for (int i = 0; i < a->ntensors; i++) {
    const fs_tensor *t = &a->tensors[i], *u;
    if (t->ndim != 2) continue;
    if (!(u = fs_model_find(b, t->name)))
      return snprintf(why, len, "no tensor '%s' (the first checkpoint has one)", t->name), why;
    if (u->ndim != 2 || u->shape[0] != t->shape[0] || u->shape[1] != t->shape[1])
      return snprintf(why, len, "tensor '%s' has shape [%lld, %lld], the first checkpoint's is "
                      "[%lld, %lld]", t->name, (long long)u->shape[0],
                      (long long)(u->ndim > 1 ? u->shape[1] : 1), (long long)t->shape[0],
                      (long long)t->shape[1]), why;
  }
  return NULL;
}

int fs_traj_check_series(fs_traj_series *s, fs_error *err) {
  s->lr = malloc(sizeof *s->lr * (size_t)s->n);
  s->loss = malloc(sizeof *s->loss * (size_t)s->n);
  if (!s->lr || !s->loss) return fs_fail(err, "out of memory");
  fs_model first, m;
  memset(&first, 0, sizeof first);
  int rc = 0;
  char why[400];
  for (int i = 0; i < s->n && !rc; i++) {
    fs_model *cur = i ? &m : &first;
    if (fs_model_open(s->paths[i], cur, err)) {
      rc = fs_error_prefix(err, "checkpoint %d (step %ld)", i, s->steps[i]);
      break;
    }
    s->lr[i] = meta_number(cur, "flagscope.train.lr");
    s->loss[i] = meta_number(cur, "flagscope.train.loss");
    if (i && arch_diff(&first, cur, why, sizeof why))
      rc = fs_fail(err, "checkpoint %d (%s, step %ld): architecture differs from checkpoint 0 "
                   "(%s): %s", i, s->paths[i], s->steps[i], s->paths[0], why);
    if (i) fs_model_close(&m);
  }
  fs_model_close(&first);
  return rc;
}

/* ---- the estimator ----------------------------------------------------------------- */

static int in_fit(long x, double y, long x0, long x1, double floor) {
  return x >= x0 && x <= x1 && isfinite(y) && y > floor;
}

/* Two passes (means, then centred sums and the residuals themselves): the
 * residuals of a near-perfect exponential are tiny, and Syy - b Sxy would
 * lose them to cancellation. */
void fs_traj_fit_rate(const long *x, const double *y, int n, long x0, long x1, double floor,
                      double *rate, double *se, int *m) {
  double sx = 0, sy = 0;
  int k = 0;
  for (int i = 0; i < n; i++)
    if (in_fit(x[i], y[i], x0, x1, floor)) sx += (double)x[i], sy += log(y[i]), k++;
  *m = k;
  *rate = *se = NAN;
  if (k < 2) return;
  double mx = sx / k, my = sy / k, Sxx = 0, Sxy = 0, ssr = 0;
  for (int i = 0; i < n; i++)
    if (in_fit(x[i], y[i], x0, x1, floor)) {
      double u = (double)x[i] - mx;
      Sxx += u * u, Sxy += u * (log(y[i]) - my);
    }
  if (!(Sxx > 0)) return;
  double b = Sxy / Sxx;
  *rate = -b;
  if (k < 3) return;
  for (int i = 0; i < n; i++)
    if (in_fit(x[i], y[i], x0, x1, floor)) {
      double r = log(y[i]) - my - b * ((double)x[i] - mx);
      ssr += r * r;
    }
  *se = sqrt(ssr / (k - 2) / Sxx);
}

/* ---- reading the analysis back -------------------------------------------------------- */

static int read_col(hid_t f, const char *name, hid_t memtype, void *buf, hsize_t n,
                    fs_error *err) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  if (d < 0) return fs_fail(err, "no dataset %s", name);
  hid_t sp = H5Dget_space(d);
  hssize_t have = H5Sget_simple_extent_npoints(sp);
  H5Sclose(sp);
  int rc = have != (hssize_t)n ? fs_fail(err, "%s has %lld rows, expected %llu", name,
                                         (long long)have, (unsigned long long)n)
           : (n && H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
               ? fs_fail(err, "cannot read %s", name) : 0;
  H5Dclose(d);
  return rc;
}

static hsize_t rows_of(hid_t f, const char *name) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  if (d < 0) return 0;
  hid_t sp = H5Dget_space(d);
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  H5Sclose(sp), H5Dclose(d);
  return n > 0 ? (hsize_t)n : 0;
}

/* A fixed-length string column as n NUL-terminated strings of width w. */
static char *read_strings(hid_t f, const char *name, hsize_t n, size_t *w, fs_error *err) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  if (d < 0) return fs_fail(err, "no dataset %s", name), NULL;
  hid_t ft = H5Dget_type(d);
  *w = H5Tget_size(ft) + 1;
  H5Tclose(ft);
  hid_t mt = H5Tcopy(H5T_C_S1);
  H5Tset_size(mt, *w);
  H5Tset_strpad(mt, H5T_STR_NULLTERM);
  char *buf = calloc(n ? n : 1, *w);
  if (!buf) fs_fail(err, "out of memory for %s", name);
  else if (n && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
    fs_fail(err, "cannot read %s", name);
    free(buf), buf = NULL;
  }
  H5Tclose(mt), H5Dclose(d);
  return buf;
}

typedef struct analysis {
  hsize_t nmodels, nmat, npair;
  int64_t *pair_start, *n_pairs, *writer, *reader, *head, *block;
  double *beta, *kappa, *krel, *overlap;
  char *mname, *ptype, *mstatus;
  size_t wname, wtype, wstatus;
} analysis;

static void analysis_free(analysis *a) {
  free(a->pair_start), free(a->n_pairs), free(a->writer), free(a->reader), free(a->head);
  free(a->block), free(a->beta), free(a->kappa), free(a->krel), free(a->overlap);
  free(a->mname), free(a->ptype), free(a->mstatus);
}

static int analysis_read(hid_t f, analysis *a, fs_error *err) {
  memset(a, 0, sizeof *a);
  a->nmodels = rows_of(f, "/models/status");
  a->nmat = rows_of(f, "/matrices/status");
  a->npair = rows_of(f, "/pairs/status");
  size_t nm = a->nmodels ? a->nmodels : 1, np = a->npair ? a->npair : 1;
  a->pair_start = malloc(sizeof(int64_t) * nm);
  a->n_pairs = malloc(sizeof(int64_t) * nm);
  a->writer = malloc(sizeof(int64_t) * np), a->reader = malloc(sizeof(int64_t) * np);
  a->head = malloc(sizeof(int64_t) * np), a->block = malloc(sizeof(int64_t) * np);
  a->beta = malloc(sizeof(double) * np), a->kappa = malloc(sizeof(double) * np);
  a->krel = malloc(sizeof(double) * np), a->overlap = malloc(sizeof(double) * np);
  if (!a->pair_start || !a->n_pairs || !a->writer || !a->reader || !a->head || !a->block ||
      !a->beta || !a->kappa || !a->krel || !a->overlap)
    return fs_fail(err, "out of memory");
  hid_t I = H5T_NATIVE_INT64, D = H5T_NATIVE_DOUBLE;
  FS_TRY(read_col(f, "/models/pair_start", I, a->pair_start, a->nmodels, err));
  FS_TRY(read_col(f, "/models/n_pairs", I, a->n_pairs, a->nmodels, err));
  FS_TRY(read_col(f, "/pairs/writer", I, a->writer, a->npair, err));
  FS_TRY(read_col(f, "/pairs/reader", I, a->reader, a->npair, err));
  FS_TRY(read_col(f, "/pairs/head", I, a->head, a->npair, err));
  FS_TRY(read_col(f, "/pairs/block", I, a->block, a->npair, err));
  FS_TRY(read_col(f, "/pairs/balancedness", D, a->beta, a->npair, err));
  FS_TRY(read_col(f, "/pairs/kappa", D, a->kappa, a->npair, err));
  FS_TRY(read_col(f, "/pairs/kappa_rel", D, a->krel, a->npair, err));
  FS_TRY(read_col(f, "/pairs/overlap", D, a->overlap, a->npair, err));
  if (!(a->mname = read_strings(f, "/matrices/name", a->nmat, &a->wname, err))) return FS_ERR;
  if (!(a->ptype = read_strings(f, "/pairs/type", a->npair, &a->wtype, err))) return FS_ERR;
  if (!(a->mstatus = read_strings(f, "/models/status", a->nmodels, &a->wstatus, err))) return FS_ERR;
  for (hsize_t i = 0; i < a->npair; i++)
    if (a->writer[i] < 0 || a->writer[i] >= (int64_t)a->nmat || a->reader[i] < 0 ||
        a->reader[i] >= (int64_t)a->nmat)
      return fs_fail(err, "/pairs row %llu names a matrix outside /matrices", (unsigned long long)i);
  return 0;
}

static const char *mat_name(const analysis *a, int64_t i) { return a->mname + (size_t)i * a->wname; }
static const char *pair_type(const analysis *a, int64_t p) { return a->ptype + (size_t)p * a->wtype; }

/* Same pair: same writer and reader names, type and head. */
static int same_pair(const analysis *a, int64_t p, int64_t q) {
  return a->head[p] == a->head[q] && !strcmp(pair_type(a, p), pair_type(a, q)) &&
         !strcmp(mat_name(a, a->writer[p]), mat_name(a, a->writer[q])) &&
         !strcmp(mat_name(a, a->reader[p]), mat_name(a, a->reader[q]));
}

/* ---- writing the /trajectory group ----------------------------------------------------------- */

static int put_attr(hid_t obj, const char *name, hid_t type, const void *v, size_t strlen_) {
  hid_t sp = H5Screate(H5S_SCALAR), t = type;
  if (strlen_) {
    t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen_ ? strlen_ : 1);
  }
  hid_t at = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  int rc = at < 0 || H5Awrite(at, t, v) < 0 ? FS_ERR : 0;
  if (at >= 0) H5Aclose(at);
  if (strlen_) H5Tclose(t);
  H5Sclose(sp);
  return rc;
}

/* A column of n values of type (width w for strings) with its description. */
static int put_col(hid_t g, const char *name, hid_t type, size_t w, const void *v, hsize_t n,
                   const char *desc, fs_error *err) {
  hid_t t = type;
  if (w) {
    t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, w);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
  }
  hid_t sp = H5Screate_simple(1, &n, NULL);
  hid_t d = H5Dcreate2(g, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int rc = d < 0 || (n && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) ||
           put_attr(d, "description", 0, desc, strlen(desc) + 1);
  if (d >= 0) H5Dclose(d);
  H5Sclose(sp);
  if (w) H5Tclose(t);
  return rc ? fs_fail(err, "cannot write /trajectory column %s", name) : 0;
}

enum { NQ = 2 }; /* fitted quantities: balancedness, kappa_rel */
static const char *qname[NQ] = {"balancedness", "kappa_rel"};

typedef struct series_fit {
  double rate, se, rate_t, se_t, first, last, window_mean;
  int64_t npoints;
} series_fit;

typedef struct traj {
  int nser, nck;
  int64_t *series_pair;      /* the defining /pairs row (checkpoint 0) per series */
  int64_t *row;              /* nser x nck: /pairs row or -1 */
  long fit_from, fit_to;
  double lr;
} traj;

static double value_of(const analysis *a, int q, int64_t row) {
  if (row < 0) return NAN;
  return q == 0 ? a->beta[row] : q == 1 ? a->krel[row] : q == 2 ? a->kappa[row] : a->overlap[row];
}

static void fit_series(const analysis *a, const traj *t, const fs_traj_series *s,
                       const fs_traj_opts *o, int k, series_fit *out) {
  double *y = malloc(sizeof *y * (size_t)t->nck);
  for (int q = 0; q < NQ; q++) {
    series_fit *r = &out[q];
    int m = 0;
    r->npoints = 0, r->rate = r->se = r->window_mean = NAN;
    r->first = value_of(a, q, t->row[(size_t)k * t->nck]);
    r->last = value_of(a, q, t->row[(size_t)k * t->nck + t->nck - 1]);
    if (!y) continue;
    double sum = 0;
    int cnt = 0;
    for (int c = 0; c < t->nck; c++) {
      y[c] = value_of(a, q, t->row[(size_t)k * t->nck + c]);
      if (s->steps[c] >= t->fit_from && s->steps[c] <= t->fit_to && isfinite(y[c]))
        sum += y[c], cnt++;
    }
    fs_traj_fit_rate(s->steps, y, t->nck, t->fit_from, t->fit_to, o->floor, &r->rate, &r->se, &m);
    r->npoints = m;
    r->window_mean = cnt ? sum / cnt : NAN;
    r->rate_t = r->rate / t->lr, r->se_t = r->se / t->lr;
  }
  free(y);
}

static int write_checkpoints(hid_t g, const fs_traj_series *s, const traj *t, fs_error *err) {
  hsize_t n = (hsize_t)s->n;
  int64_t *st = malloc(sizeof *st * n), *mod = malloc(sizeof *mod * n);
  double *tt = malloc(sizeof *tt * n);
  int rc = (!st || !mod || !tt) ? fs_fail(err, "out of memory") : 0;
  for (int i = 0; !rc && i < s->n; i++) st[i] = s->steps[i], mod[i] = i, tt[i] = s->steps[i] * t->lr;
  if (!rc) rc = put_col(g, "step", H5T_NATIVE_INT64, 0, st, n, "training step of the checkpoint (from the manifest)", err);
  if (!rc) rc = put_col(g, "t", H5T_NATIVE_DOUBLE, 0, tt, n, "gradient-flow time step * lr (NaN if lr unknown)", err);
  if (!rc) rc = put_col(g, "model", H5T_NATIVE_INT64, 0, mod, n, "row of /models", err);
  if (!rc) rc = put_col(g, "loss", H5T_NATIVE_DOUBLE, 0, s->loss, n, "training loss from the checkpoint's metadata (flagscope.train.loss), NaN if absent", err);
  free(st), free(mod), free(tt);
  return rc;
}

static int write_points(hid_t g, const analysis *a, const fs_traj_series *s, const traj *t,
                        fs_error *err) {
  hsize_t n = (hsize_t)t->nser * (hsize_t)t->nck;
  int64_t *ser = malloc(sizeof(int64_t) * (n ? n : 1)), *ck = malloc(sizeof(int64_t) * (n ? n : 1));
  int64_t *st = malloc(sizeof(int64_t) * (n ? n : 1));
  double *v[4];
  for (int q = 0; q < 4; q++) v[q] = malloc(sizeof(double) * (n ? n : 1));
  int rc = (!ser || !ck || !st || !v[0] || !v[1] || !v[2] || !v[3]) ? fs_fail(err, "out of memory") : 0;
  for (hsize_t i = 0; !rc && i < n; i++) {
    int k = (int)(i / (hsize_t)t->nck), c = (int)(i % (hsize_t)t->nck);
    ser[i] = k, ck[i] = c, st[i] = s->steps[c];
    for (int q = 0; q < 4; q++) v[q][i] = value_of(a, q, t->row[i]);
  }
  static const char *desc[4] = {"balancedness of the pair at this checkpoint (as /pairs)",
                                "kappa_rel of the pair at this checkpoint (as /pairs)",
                                "kappa of the pair at this checkpoint (as /pairs)",
                                "overlap of the pair at this checkpoint (as /pairs)"};
  static const char *names[4] = {"balancedness", "kappa_rel", "kappa", "overlap"};
  if (!rc) rc = put_col(g, "series", H5T_NATIVE_INT64, 0, ser, n, "row of /trajectory/series", err);
  if (!rc) rc = put_col(g, "checkpoint", H5T_NATIVE_INT64, 0, ck, n, "row of /trajectory/checkpoints", err);
  if (!rc) rc = put_col(g, "step", H5T_NATIVE_INT64, 0, st, n, "training step of the checkpoint", err);
  if (!rc) rc = put_col(g, "pairs_row", H5T_NATIVE_INT64, 0, t->row, n, "row of /pairs with every diagnostic of this pair at this checkpoint, -1 if the pair is missing or its model failed", err);
  for (int q = 0; q < 4 && !rc; q++) rc = put_col(g, names[q], H5T_NATIVE_DOUBLE, 0, v[q], n, desc[q], err);
  free(ser), free(ck), free(st);
  for (int q = 0; q < 4; q++) free(v[q]);
  return rc;
}

enum { NCOL = 7 };

static int write_series(hid_t g, const analysis *a, const fs_traj_series *s, const traj *t,
                        const fs_traj_opts *o, FILE *out, fs_error *err) {
  hsize_t n = (hsize_t)t->nser, n1 = n ? n : 1;
  size_t w = a->wname > 1 ? a->wname - 1 : 1, wt = a->wtype > 1 ? a->wtype - 1 : 1;
  char *wn = calloc(n1, w + 1), *rn = calloc(n1, w + 1), *ty = calloc(n1, wt + 1);
  int64_t *head = malloc(sizeof(int64_t) * n1), *block = malloc(sizeof(int64_t) * n1);
  int64_t *np[NQ];
  double *col[NQ][NCOL];
  int bad = !wn || !rn || !ty || !head || !block;
  for (int q = 0; q < NQ; q++) {
    bad |= !(np[q] = malloc(sizeof(int64_t) * n1));
    for (int j = 0; j < NCOL; j++) bad |= !(col[q][j] = malloc(sizeof(double) * n1));
  }
  int rc = bad ? fs_fail(err, "out of memory") : 0;
  if (!rc && out)
    fprintf(out, "%-20s %-20s %-21s %-22s %-22s %s\n", "writer", "reader", "balancedness",
            "rate/step (se)", "kappa_rel rate (se)", "kappa_rel in window");
  for (int k = 0; !rc && k < t->nser; k++) {
    int64_t p = t->series_pair[k];
    snprintf(wn + (size_t)k * w, w, "%s", mat_name(a, a->writer[p]));
    snprintf(rn + (size_t)k * w, w, "%s", mat_name(a, a->reader[p]));
    snprintf(ty + (size_t)k * wt, wt, "%s", pair_type(a, p));
    head[k] = a->head[p], block[k] = a->block[p];
    series_fit f[NQ];
    fit_series(a, t, s, o, k, f);
    for (int q = 0; q < NQ; q++) {
      double v[NCOL] = {f[q].rate, f[q].se, f[q].rate_t, f[q].se_t, f[q].first, f[q].last,
                        f[q].window_mean};
      for (int j = 0; j < NCOL; j++) col[q][j][k] = v[j];
      np[q][k] = f[q].npoints;
    }
    if (out)
      fprintf(out, "%-20s %-20s %9.3e->%9.3e %10.4e (%8.2e) %10.4e (%8.2e) %.4f\n",
              mat_name(a, a->writer[p]), mat_name(a, a->reader[p]), f[0].first, f[0].last,
              f[0].rate, f[0].se, f[1].rate, f[1].se, f[1].window_mean);
  }
  if (!rc) rc = put_col(g, "writer", 0, w, wn, n, "name of the writer matrix (as /matrices name)", err);
  if (!rc) rc = put_col(g, "reader", 0, w, rn, n, "name of the reader matrix", err);
  if (!rc) rc = put_col(g, "type", 0, wt, ty, n, "pair type (as /pairs type)", err);
  if (!rc) rc = put_col(g, "head", H5T_NATIVE_INT64, 0, head, n, "attention head, -1 if none", err);
  if (!rc) rc = put_col(g, "block", H5T_NATIVE_INT64, 0, block, n, "block (depth) of the pair", err);
  static const char *suffix[NCOL] = {"rate", "rate_se", "rate_t", "rate_t_se", "first", "last",
                                     "window_mean"};
  static const char *what[NCOL] = {
      "fitted exponential decay rate per step: -slope of ln(value) against step over the fit window",
      "standard error of the rate per step (OLS; NaN with fewer than 3 points)",
      "the rate per unit of gradient-flow time t = step * lr (rate / lr; NaN if lr unknown)",
      "standard error of rate_t", "value at the first checkpoint", "value at the last checkpoint",
      "mean value over the checkpoints of the fit window (the level it settles at)"};
  char name[64], desc[256];
  for (int q = 0; q < NQ && !rc; q++) {
    for (int j = 0; j < NCOL && !rc; j++) {
      snprintf(name, sizeof name, "%s_%s", qname[q], suffix[j]);
      snprintf(desc, sizeof desc, "%s: %s", qname[q], what[j]);
      rc = put_col(g, name, H5T_NATIVE_DOUBLE, 0, col[q][j], n, desc, err);
    }
    snprintf(name, sizeof name, "%s_npoints", qname[q]);
    snprintf(desc, sizeof desc, "%s: checkpoints used by the fit (in the window, finite, above the floor)", qname[q]);
    if (!rc) rc = put_col(g, name, H5T_NATIVE_INT64, 0, np[q], n, desc, err);
  }
  free(wn), free(rn), free(ty), free(head), free(block);
  for (int q = 0; q < NQ; q++) {
    free(np[q]);
    for (int j = 0; j < NCOL; j++) free(col[q][j]);
  }
  return rc;
}

/* Series: the pairs of the first analysed checkpoint, each matched by name in
 * every checkpoint. */
static int build_traj(const analysis *a, const fs_traj_series *s, const fs_traj_opts *o,
                      traj *t, fs_error *err) {
  memset(t, 0, sizeof *t);
  if (a->nmodels != (hsize_t)s->n)
    return fs_fail(err, "the analysis has %llu models, the manifest %d checkpoints",
                   (unsigned long long)a->nmodels, s->n);
  t->nck = s->n;
  /* The reference is the first checkpoint whose analysis has pairs (a failed
   * model has none). */
  int c0 = 0;
  while (c0 + 1 < s->n && a->n_pairs[c0] <= 0) c0++;
  int64_t p0 = a->pair_start[c0], np0 = a->n_pairs[c0];
  if (p0 < 0 || np0 < 0 || p0 + np0 > (int64_t)a->npair) p0 = 0, np0 = 0;
  t->nser = (int)np0;
  t->series_pair = malloc(sizeof(int64_t) * (size_t)(np0 ? np0 : 1));
  t->row = malloc(sizeof(int64_t) * (size_t)(np0 ? np0 : 1) * (size_t)t->nck);
  if (!t->series_pair || !t->row) return fs_fail(err, "out of memory");
  for (int k = 0; k < t->nser; k++) {
    int64_t def = p0 + k;
    t->series_pair[k] = def;
    for (int c = 0; c < t->nck; c++) {
      int64_t st = a->pair_start[c], cnt = a->n_pairs[c], found = -1;
      for (int64_t r = st; st >= 0 && r < st + cnt && r < (int64_t)a->npair && found < 0; r++)
        if (same_pair(a, def, r)) found = r;
      t->row[(size_t)k * t->nck + c] = found;
    }
  }
  long first = s->steps[0], last = s->steps[s->n - 1];
  t->fit_from = o->fit_from >= 0 ? o->fit_from : first + (last - first) / 2;
  t->fit_to = o->fit_to >= 0 ? o->fit_to : last;
  t->lr = o->lr;
  if (isnan(t->lr)) { /* from the metadata, when every checkpoint agrees */
    t->lr = s->lr ? s->lr[0] : NAN;
    for (int c = 1; c < s->n && s->lr; c++)
      if (!(s->lr[c] == t->lr)) t->lr = NAN;
  }
  return 0;
}

int fs_traj_write(const char *h5, const char *manifest, const fs_traj_series *s,
                  const fs_traj_opts *o, FILE *out, fs_error *err) {
  hid_t f = H5Fopen(h5, H5F_ACC_RDWR, H5P_DEFAULT);
  if (f < 0) return fs_fail(err, "%s: cannot open the analysis output", h5);
  analysis a;
  traj t;
  memset(&t, 0, sizeof t);
  int rc = analysis_read(f, &a, err);
  if (!rc) rc = build_traj(&a, s, o, &t, err);
  hid_t g = -1, sub = -1;
  if (!rc && (g = H5Gcreate2(f, "/trajectory", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0)
    rc = fs_fail(err, "%s: cannot create /trajectory", h5);
  if (!rc) {
    int64_t from = t.fit_from, to = t.fit_to;
    rc = put_attr(g, "manifest", 0, manifest, strlen(manifest) + 1) ||
         put_attr(g, "fit_from_step", H5T_NATIVE_INT64, &from, 0) ||
         put_attr(g, "fit_to_step", H5T_NATIVE_INT64, &to, 0) ||
         put_attr(g, "fit_floor", H5T_NATIVE_DOUBLE, &o->floor, 0) ||
         put_attr(g, "lr", H5T_NATIVE_DOUBLE, &t.lr, 0)
             ? fs_fail(err, "%s: cannot write the /trajectory attributes", h5) : 0;
  }
  if (out && !rc)
    fprintf(out, "trajectory: %d checkpoints, steps %ld..%ld, fit window [%ld, %ld], lr %g\n",
            s->n, s->steps[0], s->steps[s->n - 1], t.fit_from, t.fit_to, t.lr);
  static const char *tables[3] = {"/trajectory/checkpoints", "/trajectory/series",
                                  "/trajectory/points"};
  for (int i = 0; i < 3 && !rc; i++) {
    if ((sub = H5Gcreate2(f, tables[i], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
      rc = fs_fail(err, "%s: cannot create %s", h5, tables[i]);
      break;
    }
    rc = i == 0 ? write_checkpoints(sub, s, &t, err)
         : i == 1 ? write_series(sub, &a, s, &t, o, out, err)
                  : write_points(sub, &a, s, &t, err);
    H5Gclose(sub);
  }
  if (g >= 0) H5Gclose(g);
  free(t.series_pair), free(t.row);
  analysis_free(&a);
  if (H5Fclose(f) < 0 && !rc) rc = fs_fail(err, "%s: closing failed", h5);
  if (rc) fs_error_prefix(err, "%s", "trajectory");
  return rc;
}
