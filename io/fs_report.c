/*
 * fs_report.c - `flagscope report`: tables and CSV files from a finished run
 * (see fs_report.h; the figures are in fs_report_plot.c).
 */
#include "fs_report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs_graph.h"

static double attr1(fs_h5r *r, const char *name) {
  double v[64];
  int n = 0;
  fs_h5r_attr_doubles(r, name, v, 64, &n);
  return n ? v[0] : NAN;
}

int fs_report_load(const char *path, int with_stats, fs_report_data *d, fs_error *err) {
  memset(d, 0, sizeof *d);
  FS_TRY(fs_h5r_open(path, &d->r, err));
  int rc = 0;
  if (!fs_h5r_exists(d->r, "/zoo"))
    rc = fs_fail(err, "%s: no /zoo table (written by a flagscope without model-wide statistics)", path);
  if (!rc) rc = fs_h5r_table(d->r, "/zoo", "path", &d->zoo, err);
  if (!rc && with_stats) rc = fs_h5r_table(d->r, "/stats", "model", &d->stats, err);
  if (!rc && with_stats) rc = fs_h5r_dataset(d->r, "/stats/profile_block", &d->pblock, err);
  if (!rc && with_stats) rc = fs_h5r_dataset(d->r, "/stats/profile_value", &d->pvalue, err);
  if (!rc && with_stats && fs_h5r_exists(d->r, "/head_overlaps")) {
    rc = fs_h5r_table(d->r, "/head_overlaps", "model", &d->heads, err);
    if (!rc) rc = fs_h5r_dataset(d->r, "/head_overlaps/overlap", &d->hoverlap, err);
  }
  d->align_eps = attr1(d->r, "align_eps_degrees");
  d->align_ratio = attr1(d->r, "align_ratio");
  d->align_kappa = attr1(d->r, "align_kappa");
  if (rc) fs_report_unload(d);
  return rc;
}

void fs_report_unload(fs_report_data *d) {
  fs_table_free(&d->zoo), fs_table_free(&d->stats), fs_table_free(&d->heads);
  fs_col_free(&d->pblock), fs_col_free(&d->pvalue), fs_col_free(&d->hoverlap);
  fs_h5r_close(d->r);
  memset(d, 0, sizeof *d);
}

int64_t fs_report_stat_row(const fs_report_data *d, int64_t model, const char *type,
                           const char *stat, double eps) {
  const fs_col *m = fs_table_col(&d->stats, "model"), *t = fs_table_col(&d->stats, "type");
  const fs_col *s = fs_table_col(&d->stats, "statistic"), *e = fs_table_col(&d->stats, "eps_degrees");
  for (int64_t i = 0; i < d->stats.nrows; i++)
    if ((int64_t)fs_col_num(m, i) == model && !strcmp(fs_col_str(t, i), type) &&
        !strcmp(fs_col_str(s, i), stat) && (isnan(eps) || fs_col_num(e, i) == eps))
      return i;
  return -1;
}

int fs_report_types(const fs_table *zoo, const char **types) {
  int n = 0;
  for (int t = 0; t < FS_PAIR_NTYPES; t++) {
    char name[64];
    snprintf(name, sizeof name, "%s_pairs", fs_pair_type_name(t));
    const fs_col *c = fs_table_col(zoo, name);
    int any = 0;
    for (int64_t i = 0; c && i < zoo->nrows; i++) any |= fs_col_num(c, i) > 0;
    if (any) types[n++] = fs_pair_type_name(t);
  }
  return n;
}

/* ---- CSV ---------------------------------------------------------------------- */

void fs_csv_string(FILE *f, const char *s) {
  if (!strpbrk(s, ",\"\n\r")) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

static void csv_value(FILE *f, const fs_col *c, int64_t i) {
  if (c->type == FS_H5_STRING) fs_csv_string(f, fs_col_str(c, i));
  else if (c->type == FS_H5_INT64) fprintf(f, "%lld", (long long)((const int64_t *)c->data)[i]);
  else if (isnan(fs_col_num(c, i))) fputs("nan", f);
  else fprintf(f, "%.17g", fs_col_num(c, i));
}

int fs_csv_table(const char *path, const fs_table *t, const char *extra_name,
                 const char *const *extra, fs_error *err) {
  FILE *f = fopen(path, "w");
  if (!f) return fs_fail(err, "%s: cannot write the CSV file", path);
  if (extra_name) fprintf(f, "%s%s", extra_name, t->ncols ? "," : "");
  for (int c = 0; c < t->ncols; c++) fprintf(f, "%s%s", c ? "," : "", t->cols[c].name);
  fputc('\n', f);
  for (int64_t i = 0; i < t->nrows; i++) {
    if (extra_name) fs_csv_string(f, extra[i]), fputs(t->ncols ? "," : "", f);
    for (int c = 0; c < t->ncols; c++) {
      if (c) fputc(',', f);
      csv_value(f, &t->cols[c], i);
    }
    fputc('\n', f);
  }
  return fclose(f) ? fs_fail(err, "%s: writing the CSV file failed", path) : 0;
}

static int csv_profiles(const fs_report_data *d, const char *path, fs_error *err) {
  FILE *f = fopen(path, "w");
  if (!f) return fs_fail(err, "%s: cannot write the CSV file", path);
  const fs_col *m = fs_table_col(&d->stats, "model"), *t = fs_table_col(&d->stats, "type");
  const fs_col *s = fs_table_col(&d->stats, "statistic"), *e = fs_table_col(&d->stats, "eps_degrees");
  const fs_col *off = fs_table_col(&d->stats, "profile_offset");
  const fs_col *len = fs_table_col(&d->stats, "profile_length");
  const fs_col *name = fs_table_col(&d->zoo, "name");
  fprintf(f, "model,name,type,statistic,eps_degrees,block,value\n");
  for (int64_t i = 0; i < d->stats.nrows; i++) {
    int64_t o = (int64_t)fs_col_num(off, i), n = (int64_t)fs_col_num(len, i);
    int64_t mi = (int64_t)fs_col_num(m, i);
    for (int64_t k = o; k >= 0 && k < o + n && k < d->pvalue.n; k++) {
      fprintf(f, "%lld,", (long long)mi);
      fs_csv_string(f, fs_col_str(name, mi));
      fprintf(f, ",%s,%s,", fs_col_str(t, i), fs_col_str(s, i));
      double ev = fs_col_num(e, i), v = fs_col_num(&d->pvalue, k);
      if (isnan(ev)) fputs("nan", f);
      else fprintf(f, "%.17g", ev);
      fprintf(f, ",%lld,", (long long)fs_col_num(&d->pblock, k));
      if (isnan(v)) fputs("nan\n", f);
      else fprintf(f, "%.17g\n", v);
    }
  }
  return fclose(f) ? fs_fail(err, "%s: writing the CSV file failed", path) : 0;
}

/* ---- head redundancy ---------------------------------------------------------- */

double fs_head_redundancy(const fs_report_data *d, int64_t row, double threshold, int64_t *above) {
  const fs_table *h = &d->heads;
  int64_t nr = (int64_t)fs_col_num(fs_table_col(h, "nrows"), row);
  int64_t nc = (int64_t)fs_col_num(fs_table_col(h, "ncols"), row);
  int64_t off = (int64_t)fs_col_num(fs_table_col(h, "offset"), row);
  *above = 0;
  if (nr <= 0 || nc <= 0 || off < 0 || nr > d->hoverlap.n / nc || off > d->hoverlap.n - nr * nc)
    return NAN; /* a row pointing outside the ragged data */
  const double *z = (const double *)d->hoverlap.data + off;
  int square = !strchr(fs_col_str(fs_table_col(h, "kind"), row), '>') && nr == nc;
  double sum = 0;
  int64_t n = 0;
  for (int64_t i = 0; i < nr; i++)
    for (int64_t j = 0; j < nc; j++) {
      if (square && i == j) continue;
      double v = z[i * nc + j];
      sum += v, n++;
      *above += v > threshold && (!square || i < j);
    }
  return n ? sum / (double)n : NAN;
}

static int csv_heads(const fs_report_data *d, const char *path, double threshold, fs_error *err) {
  FILE *f = fopen(path, "w");
  if (!f) return fs_fail(err, "%s: cannot write the CSV file", path);
  const fs_table *h = &d->heads;
  fprintf(f, "model,name,block,kind,nrows,ncols,mean_overlap,pairs_above_%g\n", threshold);
  for (int64_t i = 0; i < h->nrows; i++) {
    int64_t above, m = (int64_t)fs_col_num(fs_table_col(h, "model"), i);
    double v = fs_head_redundancy(d, i, threshold, &above);
    fprintf(f, "%lld,", (long long)m);
    fs_csv_string(f, fs_col_str(fs_table_col(&d->zoo, "name"), m));
    fprintf(f, ",%lld,%s,%lld,%lld,", (long long)fs_col_num(fs_table_col(h, "block"), i),
            fs_col_str(fs_table_col(h, "kind"), i),
            (long long)fs_col_num(fs_table_col(h, "nrows"), i),
            (long long)fs_col_num(fs_table_col(h, "ncols"), i));
    if (isnan(v)) fprintf(f, "nan,%lld\n", (long long)above);
    else fprintf(f, "%.17g,%lld\n", v, (long long)above);
  }
  return fclose(f) ? fs_fail(err, "%s: writing the CSV file failed", path) : 0;
}

/* ---- terminal ----------------------------------------------------------------- */

static void print_provenance(const fs_report_data *d, FILE *f) {
  char v[512], created[64], cmd[1024];
  fs_h5r_attr_string(d->r, "flagscope_version", v, sizeof v);
  fs_h5r_attr_string(d->r, "created", created, sizeof created);
  fs_h5r_attr_string(d->r, "command_line", cmd, sizeof cmd);
  double eps[16];
  int neps = 0;
  fs_h5r_attr_doubles(d->r, "eps_degrees", eps, 16, &neps);
  fprintf(f, "flagscope report: %s\n  written by flagscope %s on %s on %.0f ranks: %s\n",
          fs_h5r_path(d->r), v, created, attr1(d->r, "mpi_size"), cmd);
  fprintf(f, "  k_max %.0f, eps", attr1(d->r, "kmax"));
  for (int e = 0; e < neps; e++) fprintf(f, "%s%g", e ? ", " : " ", eps[e]);
  fprintf(f, " degrees; aligned: ratio@%g >= %g (subspace), then kappa_rel <= %g (basis)\n\n",
          d->align_eps, d->align_ratio, d->align_kappa);
}

static double zval(const fs_report_data *d, const char *type, const char *what, int64_t m) {
  char name[96];
  snprintf(name, sizeof name, "%s_%s", type, what);
  return fs_col_num(fs_table_col(&d->zoo, name), m);
}

/* A cell of the zoo table: "-" where the value is undefined (NaN: a fraction
 * 0/0 such as aligned_basis with no subspace-aligned pair, a median over no
 * finite value). */
static void print_cell(FILE *f, int width, int prec, double v) {
  if (isnan(v))
    fprintf(f, " %*s", width, "-");
  else
    fprintf(f, " %*.*f", width, prec, v);
}

static void print_zoo(const fs_report_data *d, FILE *f) {
  const char *types[FS_PAIR_NTYPES];
  int nt = fs_report_types(&d->zoo, types);
  char rh[32];
  snprintf(rh, sizeof rh, "ratio@%g", d->align_eps);
  fprintf(f, "%-34s %-8s %10s %-7s  %-10s %5s %9s %9s %9s %7s %7s\n", "model", "family",
          "parameters", "status", "pair type", "pairs", rh, "kappa_rel", "balance", "sub-al",
          "bas-al");
  const fs_table *z = &d->zoo;
  int nfailed = 0;
  for (int64_t m = 0; m < z->nrows; m++) {
    const char *status = fs_col_str(fs_table_col(z, "status"), m);
    fprintf(f, "%-34.34s %-8s %10.0f %-7s", fs_col_str(fs_table_col(z, "name"), m),
            fs_col_str(fs_table_col(z, "family"), m), fs_col_num(fs_table_col(z, "parameters"), m),
            status);
    int first = 1;
    for (int t = 0; t < nt; t++) {
      if (!(zval(d, types[t], "pairs", m) > 0)) continue;
      if (!first) fprintf(f, "%-34s %-8s %10s %-7s", "", "", "", "");
      fprintf(f, "  %-10s %5.0f", types[t], zval(d, types[t], "pairs", m));
      print_cell(f, 9, 4, zval(d, types[t], "ratio_median", m));
      print_cell(f, 9, 4, zval(d, types[t], "kappa_rel_median", m));
      print_cell(f, 9, 4, zval(d, types[t], "balancedness_median", m));
      print_cell(f, 7, 3, zval(d, types[t], "aligned_subspace", m));
      print_cell(f, 7, 3, zval(d, types[t], "aligned_basis", m));
      fputc('\n', f);
      first = 0;
    }
    if (first) fprintf(f, "  %-10s %5d\n", "-", 0);
    const char *why = fs_col_str(fs_table_col(z, "reason"), m);
    if (strcmp(status, "ok")) nfailed++;
    if (why[0]) fprintf(f, "%-34s   %s: %s\n", "", strcmp(status, "ok") ? status : "note", why);
  }
  fprintf(f, "(medians over the pairs of each type; sub-al: fraction subspace-aligned, bas-al: "
          "fraction of those also basis-aligned; -: undefined, 0 of 0)\n%lld models, %d not ok\n",
          (long long)z->nrows, nfailed);
}

/* Per model and kind: the mean over blocks of the head redundancy. */
static void print_heads(const fs_report_data *d, double threshold, FILE *f) {
  const fs_table *h = &d->heads;
  if (!h->nrows) {
    fprintf(f, "\nhead redundancy: no /head_overlaps in this file\n");
    return;
  }
  fprintf(f, "\nhead redundancy (mean over blocks of the mean off-diagonal overlap; head pairs "
          "above %g summed)\n%-34s %-6s %7s %9s %7s\n", threshold, "model", "kind", "blocks",
          "overlap", "above");
  static const char *kinds[] = {"Q", "K", "V", "O", "OV>Q", "OV>K", "OV>V"};
  for (int64_t m = 0; m < d->zoo.nrows; m++)
    for (int k = 0; k < 7; k++) {
      double sum = 0;
      int64_t nb = 0, above = 0;
      for (int64_t i = 0; i < h->nrows; i++) {
        if ((int64_t)fs_col_num(fs_table_col(h, "model"), i) != m ||
            strcmp(fs_col_str(fs_table_col(h, "kind"), i), kinds[k]))
          continue;
        int64_t a;
        double v = fs_head_redundancy(d, i, threshold, &a);
        if (isfinite(v)) sum += v, nb++, above += a;
      }
      if (nb)
        fprintf(f, "%-34.34s %-6s %7lld %9.4f %7lld\n", fs_col_str(fs_table_col(&d->zoo, "name"), m),
                kinds[k], (long long)nb, sum / (double)nb, (long long)above);
    }
}

static int write_csvs(const fs_report_data *d, const char *dir, double threshold, fs_error *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s/zoo.csv", dir);
  FS_TRY(fs_csv_table(path, &d->zoo, NULL, NULL, err));
  snprintf(path, sizeof path, "%s/stats.csv", dir);
  FS_TRY(fs_csv_table(path, &d->stats, NULL, NULL, err));
  snprintf(path, sizeof path, "%s/profiles.csv", dir);
  FS_TRY(csv_profiles(d, path, err));
  if (!d->heads.nrows) return 0;
  snprintf(path, sizeof path, "%s/head_redundancy.csv", dir);
  return csv_heads(d, path, threshold, err);
}

static const char *const zoo_first[] = {"name", "family", "format", "status", "reason",
                                        "parameters", "file_size", "n_matrices", "n_pairs", "path"};
static const char *const stats_first[] = {"model", "type", "statistic", "eps_degrees", "count",
                                          "mean", "min", "q10", "q25", "median", "q75", "q90", "max"};

int fs_report(const char *path, const fs_report_opts *opts, fs_error *err) {
  fs_report_data d;
  FS_TRY(fs_report_load(path, 1, &d, err));
  fs_report_opts copy = *opts, *o = &copy;
  if (isnan(o->head_threshold)) o->head_threshold = attr1(d.r, "head_threshold");
  if (isnan(o->head_threshold)) o->head_threshold = 0.5;
  fs_table_order(&d.zoo, zoo_first, (int)(sizeof zoo_first / sizeof *zoo_first));
  fs_table_order(&d.stats, stats_first, (int)(sizeof stats_first / sizeof *stats_first));
  if (o->out) {
    print_provenance(&d, o->out);
    print_zoo(&d, o->out);
    print_heads(&d, o->head_threshold, o->out);
  }
  int rc = o->csv_dir ? write_csvs(&d, o->csv_dir, o->head_threshold, err) : 0;
  if (!rc && o->plot_dir) rc = fs_report_plots(&d, o->plot_dir, err);
  fs_report_unload(&d);
  return rc;
}
