/*
 * fs_report_plot.c - the figures of `flagscope report` (see fs_report.h):
 *   depth_<m>_<name>.png   per model: the depth profiles (mean per block) of
 *                          the intersection ratio at the alignment eps, of
 *                          kappa_rel and of balancedness, one line per pair type
 *   heads_<m>_<name>_block<b>.png
 *                          per model and block: the head-overlap matrices of
 *                          /head_overlaps as heat maps, one panel per kind
 *   zoo_<statistic>.png    one box per model (10/25/50/75/90 % quantiles, the
 *                          mean as a cross), models grouped by family, one
 *                          panel per pair type
 *   zoo_alignment.png      per model the fractions subspace- and basis-aligned
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs_graph.h"
#include "fs_plot.h"
#include "fs_report.h"

#define W 1800
#define H 520

static int isalnum_ascii(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void file_name(char *buf, size_t n, const char *dir, const char *prefix, int64_t m,
                      const char *name, const char *suffix) {
  char clean[80];
  size_t k = 0;
  for (const char *s = name; *s && k + 1 < sizeof clean; s++)
    clean[k++] = (isalnum_ascii(*s) || *s == '.' || *s == '-') ? *s : '_';
  clean[k] = '\0';
  snprintf(buf, n, "%s/%s_%lld_%s%s.png", dir, prefix, (long long)m, clean, suffix);
}

/* ---- depth profiles ---------------------------------------------------------- */

static const char *type_of(int t) { return fs_pair_type_name(t); }

/* The profile of (model, type, statistic) as x = block, y = value; n = 0 if none. */
static int profile(const fs_report_data *d, int64_t m, const char *type, const char *stat,
                   double eps, double **x, double **y) {
  int64_t row = fs_report_stat_row(d, m, type, stat, eps);
  *x = *y = NULL;
  if (row < 0) return 0;
  int64_t off = (int64_t)fs_col_num(fs_table_col(&d->stats, "profile_offset"), row);
  int64_t n = (int64_t)fs_col_num(fs_table_col(&d->stats, "profile_length"), row);
  if (off < 0 || n <= 0 || off > d->pvalue.n - n || n > d->pblock.n) return 0;
  *x = malloc(sizeof **x * (size_t)n), *y = malloc(sizeof **y * (size_t)n);
  if (!*x || !*y) return free(*x), free(*y), *x = *y = NULL, 0;
  for (int64_t i = 0; i < n; i++)
    (*x)[i] = fs_col_num(&d->pblock, off + i), (*y)[i] = fs_col_num(&d->pvalue, off + i);
  return (int)n;
}

static void depth_panel(const fs_report_data *d, int64_t m, const char *stat, double eps,
                        const char *title, const char *ylabel, double ylo, double yhi) {
  fs_series s[FS_PAIR_NTYPES];
  int ns = 0;
  for (int t = 0; t < FS_PAIR_NTYPES; t++) {
    double *x, *y;
    int n = profile(d, m, type_of(t), stat, eps, &x, &y);
    if (n) s[ns++] = (fs_series){type_of(t), n, x, y, t};
  }
  if (ns) fs_plot_lines(title, "block (depth)", ylabel, s, ns, ylo, yhi);
  else fs_plot_empty(title, "no pairs with a block");
  for (int i = 0; i < ns; i++) free((void *)s[i].x), free((void *)s[i].y);
}

static int depth_figure(const fs_report_data *d, int64_t m, const char *dir, fs_error *err) {
  const char *name = fs_col_str(fs_table_col(&d->zoo, "name"), m);
  char path[4300], title[256];
  file_name(path, sizeof path, dir, "depth", m, name, "");
  snprintf(title, sizeof title, "%s (%s): depth profiles, mean per block of each pair type", name,
           fs_col_str(fs_table_col(&d->zoo, "family"), m));
  FS_TRY(fs_plot_open(path, W, H, 3, 1, title, err));
  snprintf(title, sizeof title, "intersection ratio at %g deg", d->align_eps);
  depth_panel(d, m, "ratio", d->align_eps, title, "dim_eps / min(k, j)", 0, 1);
  depth_panel(d, m, "kappa_rel", NAN, "kappa_rel (1 = as random)", "kappa / kappa_random", 0, NAN);
  depth_panel(d, m, "balancedness", NAN, "balancedness", "||A - B|| / (||A|| + ||B||)", 0, 1);
  return fs_plot_close(err);
}

/* ---- head-overlap heat maps --------------------------------------------------- */

static int heads_figure(const fs_report_data *d, int64_t m, int64_t block, const char *dir,
                        fs_error *err) {
  const fs_table *h = &d->heads;
  int64_t rows[16];
  int n = 0;
  for (int64_t i = 0; i < h->nrows && n < 16; i++)
    if ((int64_t)fs_col_num(fs_table_col(h, "model"), i) == m &&
        (int64_t)fs_col_num(fs_table_col(h, "block"), i) == block)
      rows[n++] = i;
  if (!n) return 0;
  const char *name = fs_col_str(fs_table_col(&d->zoo, "name"), m);
  char path[4300], suffix[40], title[256];
  snprintf(suffix, sizeof suffix, "_block%lld", (long long)block);
  file_name(path, sizeof path, dir, "heads", m, name, suffix);
  int ncols = n < 4 ? n : 4, nrows = (n + 3) / 4;
  snprintf(title, sizeof title, "%s, block %lld: head overlaps ||Q_h^T Q_h'||_F^2 / d_h (Q, K, V, O) "
           "and OV write -> next block's reads", name, (long long)block);
  FS_TRY(fs_plot_open(path, 520 * ncols, 440 * nrows + 40, ncols, nrows, title, err));
  for (int k = 0; k < n; k++) {
    int64_t nr = (int64_t)fs_col_num(fs_table_col(h, "nrows"), rows[k]);
    int64_t nc = (int64_t)fs_col_num(fs_table_col(h, "ncols"), rows[k]);
    int64_t off = (int64_t)fs_col_num(fs_table_col(h, "offset"), rows[k]);
    const char *kind = fs_col_str(fs_table_col(h, "kind"), rows[k]);
    snprintf(title, sizeof title, "%s", kind);
    if (nr <= 0 || nc <= 0 || off < 0 || nr > d->hoverlap.n / nc || off > d->hoverlap.n - nr * nc) {
      fs_plot_empty(title, "(row outside /head_overlaps/overlap)");
      continue;
    }
    int comp = strchr(kind, '>') != NULL;
    fs_plot_heatmap(title, comp ? "head of the next block" : "head",
                    comp ? "head (OV write subspace)" : "head",
                    (const double *)d->hoverlap.data + off, (int)nr, (int)nc, 0, 1);
  }
  return fs_plot_close(err);
}

static int heads_figures(const fs_report_data *d, const char *dir, fs_error *err) {
  const fs_table *h = &d->heads;
  for (int64_t i = 0; i < h->nrows; i++) {
    int64_t m = (int64_t)fs_col_num(fs_table_col(h, "model"), i);
    int64_t b = (int64_t)fs_col_num(fs_table_col(h, "block"), i);
    int seen = 0; /* one figure per (model, block): at its first row */
    for (int64_t k = 0; k < i && !seen; k++)
      seen = (int64_t)fs_col_num(fs_table_col(h, "model"), k) == m &&
             (int64_t)fs_col_num(fs_table_col(h, "block"), k) == b;
    if (!seen && m >= 0 && m < d->zoo.nrows) FS_TRY(heads_figure(d, m, b, dir, err));
  }
  return 0;
}

/* ---- zoo comparisons ---------------------------------------------------------- */

/* x position of each model: families alphabetically, a gap between them. */
typedef struct layout {
  int64_t n;
  char (*label)[24]; /* "m<row of /zoo>" */
  const char **labels;
  double *x;
  int *family; /* colour index */
  fs_tick ticks[FS_PLOT_NCOLORS * 4];
  int nticks;
} layout;

static int family_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int make_layout(const fs_report_data *d, layout *L) {
  const fs_col *fam = fs_table_col(&d->zoo, "family");
  int64_t n = d->zoo.nrows;
  const char **names = malloc(sizeof *names * (size_t)(n + 1));
  L->n = n, L->nticks = 0;
  L->x = malloc(sizeof *L->x * (size_t)(n + 1));
  L->family = malloc(sizeof *L->family * (size_t)(n + 1));
  L->label = malloc(sizeof *L->label * (size_t)(n + 1));
  L->labels = malloc(sizeof *L->labels * (size_t)(n + 1));
  if (!names || !L->x || !L->family || !L->label || !L->labels) return free(names), FS_ERR;
  for (int64_t m = 0; m < n; m++) /* model numbers only while they stay legible */
    snprintf(L->label[m], sizeof L->label[m], "m%lld", (long long)m), L->labels[m] = n <= 40 ? L->label[m] : NULL;
  int nf = 0;
  for (int64_t m = 0; m < n; m++) {
    const char *f = fs_col_str(fam, m);
    int k = 0;
    while (k < nf && strcmp(names[k], f)) k++;
    if (k == nf) names[nf++] = f;
  }
  qsort(names, (size_t)nf, sizeof *names, family_cmp);
  double pos = 0;
  for (int k = 0; k < nf; k++) {
    double start = pos;
    for (int64_t m = 0; m < n; m++)
      if (!strcmp(fs_col_str(fam, m), names[k])) L->x[m] = pos, L->family[m] = k, pos += 1;
    if (L->nticks < (int)(sizeof L->ticks / sizeof *L->ticks))
      L->ticks[L->nticks++] = (fs_tick){(start + pos - 1) / 2, start, pos - 1,
                                        names[k][0] ? names[k] : "(failed)"};
    pos += 0.8;
  }
  free(names);
  return 0;
}

static void zoo_panel(const fs_report_data *d, const layout *L, const char *type,
                      const char *stat, double eps, const char *title, const char *ylabel,
                      double ylo, double yhi) {
  fs_box *b = malloc(sizeof *b * (size_t)(L->n + 1));
  int nb = 0;
  static const char *q[] = {"q10", "q25", "median", "q75", "q90", "mean"};
  for (int64_t m = 0; b && m < L->n; m++) {
    int64_t row = fs_report_stat_row(d, m, type, stat, eps);
    if (row < 0) continue;
    double v[6];
    for (int k = 0; k < 6; k++) v[k] = fs_col_num(fs_table_col(&d->stats, q[k]), row);
    b[nb++] = (fs_box){L->x[m], v[0], v[1], v[2], v[3], v[4], v[5], L->family[m], L->labels[m]};
  }
  if (nb) fs_plot_boxes(title, ylabel, b, nb, L->ticks, L->nticks, ylo, yhi);
  else fs_plot_empty(title, "no model has pairs of this type");
  free(b);
}

static int zoo_figure(const fs_report_data *d, const layout *L, const char *dir,
                      const char *file, const char *stat, double eps, const char *what,
                      double ylo, double yhi, fs_error *err) {
  const char *types[FS_PAIR_NTYPES];
  int nt = fs_report_types(&d->zoo, types);
  if (!nt) return 0;
  char path[4300], title[256];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  int nc = nt < 3 ? nt : 3, nr = (nt + 2) / 3;
  snprintf(title, sizeof title, "%s per model, grouped by family (box 25-75 %%, whiskers 10-90 %%, "
           "bar median, x mean)", what);
  FS_TRY(fs_plot_open(path, 560 * nc, 460 * nr + 40, nc, nr, title, err));
  for (int t = 0; t < nt; t++) {
    snprintf(title, sizeof title, "%s pairs", types[t]);
    zoo_panel(d, L, types[t], stat, eps, title, what, ylo, yhi);
  }
  return fs_plot_close(err);
}

static int alignment_figure(const fs_report_data *d, const layout *L, const char *dir,
                            fs_error *err) {
  const char *types[FS_PAIR_NTYPES];
  int nt = fs_report_types(&d->zoo, types);
  if (!nt) return 0;
  char path[4300], title[256];
  snprintf(path, sizeof path, "%s/zoo_alignment.png", dir);
  int nc = nt < 3 ? nt : 3, nr = (nt + 2) / 3;
  snprintf(title, sizeof title, "aligned fractions: blue subspace (ratio@%g >= %g), orange of "
           "those basis (kappa_rel <= %g)", d->align_eps, d->align_ratio, d->align_kappa);
  FS_TRY(fs_plot_open(path, 560 * nc, 460 * nr + 40, nc, nr, title, err));
  double *ys = malloc(sizeof *ys * (size_t)(L->n + 1)), *yb = malloc(sizeof *yb * (size_t)(L->n + 1));
  for (int t = 0; ys && yb && t < nt; t++) {
    char cs[64], cb[64];
    snprintf(cs, sizeof cs, "%s_aligned_subspace", types[t]);
    snprintf(cb, sizeof cb, "%s_aligned_basis", types[t]);
    for (int64_t m = 0; m < L->n; m++) {
      ys[m] = fs_col_num(fs_table_col(&d->zoo, cs), m);
      yb[m] = fs_col_num(fs_table_col(&d->zoo, cb), m);
    }
    fs_series s[2] = {{"subspace-aligned", (int)L->n, L->x, ys, 0},
                      {"of those, basis-aligned", (int)L->n, L->x, yb, 1}};
    snprintf(title, sizeof title, "%s pairs", types[t]);
    fs_plot_points(title, "fraction of pairs", s, 2, L->labels, L->ticks, L->nticks, 0, 1);
  }
  free(ys), free(yb);
  return fs_plot_close(err);
}

int fs_report_plots(const fs_report_data *d, const char *dir, fs_error *err) {
  for (int64_t m = 0; m < d->zoo.nrows; m++) {
    int any = 0;
    for (int t = 0; t < FS_PAIR_NTYPES; t++) any |= fs_report_stat_row(d, m, type_of(t), "kappa", NAN) >= 0;
    if (any) FS_TRY(depth_figure(d, m, dir, err));
  }
  FS_TRY(heads_figures(d, dir, err));
  layout L = {0};
  if (make_layout(d, &L)) {
    free(L.x), free(L.family), free(L.label), free(L.labels);
    return fs_fail(err, "out of memory laying out %lld models", (long long)d->zoo.nrows);
  }
  char what[64];
  snprintf(what, sizeof what, "intersection ratio at %g deg", d->align_eps);
  int rc = zoo_figure(d, &L, dir, "zoo_ratio.png", "ratio", d->align_eps, what, 0, 1, err);
  if (!rc) rc = zoo_figure(d, &L, dir, "zoo_kappa_rel.png", "kappa_rel", NAN, "kappa_rel", 0, NAN, err);
  if (!rc) rc = zoo_figure(d, &L, dir, "zoo_balancedness.png", "balancedness", NAN, "balancedness", 0, 1, err);
  if (!rc) rc = alignment_figure(d, &L, dir, err);
  free(L.x), free(L.family), free(L.label), free(L.labels);
  return rc;
}
