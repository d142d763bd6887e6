/*
 * fs_compare.c - `flagscope compare A.h5 B.h5 ...` (see fs_report.h): the /zoo
 * tables of several runs merged into one, and families ranked.
 *
 * Merging: the union of the columns (a column a run lacks is NaN or empty in
 * its rows), a first column "run" naming the file.  Ranking: per pair type and
 * statistic, a family's value is the mean over its models with status ok of
 * the model's value (the zoo columns <type>_ratio_median, ...); rank 1 is the
 * most aligned: the highest ratio and aligned fractions, the lowest kappa_rel
 * and balancedness.  Runs with different alignment eps or thresholds are
 * merged, with a warning (their ratio columns measure different things).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs_graph.h"
#include "fs_report.h"

typedef struct crit {
  const char *suffix, *header;
  int higher_is_better;
} crit;

static const crit crits[] = {
    {"ratio_median", "ratio", 1},
    {"kappa_rel_median", "kappa_rel", 0},
    {"balancedness_median", "balance", 0},
    {"aligned_subspace", "sub-al", 1},
    {"aligned_basis", "bas-al", 1},
};
#define NCRIT ((int)(sizeof crits / sizeof *crits))

/* ---- merging ------------------------------------------------------------------ */

static int add_column(fs_table *m, const fs_col *like, int64_t nrows) {
  fs_col *c = &m->cols[m->ncols];
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "%s", like->name);
  c->type = like->type, c->width = like->width, c->n = nrows;
  c->data = calloc((size_t)nrows + 1, c->width);
  if (!c->data) return FS_ERR;
  for (int64_t i = 0; c->type == FS_H5_DOUBLE && i < nrows; i++) ((double *)c->data)[i] = NAN;
  for (int64_t i = 0; c->type == FS_H5_INT64 && i < nrows; i++) ((int64_t *)c->data)[i] = -1;
  m->ncols++;
  return 0;
}

static void copy_cell(fs_col *dst, int64_t i, const fs_col *src, int64_t k) {
  if (dst->type == FS_H5_STRING)
    snprintf((char *)dst->data + (size_t)i * dst->width, dst->width, "%s", fs_col_str(src, k));
  else if (dst->type == FS_H5_INT64)
    ((int64_t *)dst->data)[i] = src->type == FS_H5_STRING ? -1 : (int64_t)fs_col_num(src, k);
  else
    ((double *)dst->data)[i] = fs_col_num(src, k);
}

static int merge(fs_report_data *runs, int n, fs_table *m, const char ***run_of) {
  int64_t total = 0;
  int maxcols = 0;
  for (int r = 0; r < n; r++) total += runs[r].zoo.nrows, maxcols += runs[r].zoo.ncols;
  memset(m, 0, sizeof *m);
  snprintf(m->group, sizeof m->group, "/zoo");
  m->nrows = total;
  m->cols = calloc((size_t)maxcols + 1, sizeof *m->cols);
  *run_of = malloc(sizeof **run_of * (size_t)(total + 1));
  if (!m->cols || !*run_of) return FS_ERR;
  for (int r = 0; r < n; r++)
    for (int c = 0; c < runs[r].zoo.ncols; c++) {
      const fs_col *src = &runs[r].zoo.cols[c];
      fs_col *dst = (fs_col *)fs_table_col(m, src->name);
      if (!dst && add_column(m, src, total)) return FS_ERR;
      dst = (fs_col *)fs_table_col(m, src->name);
      if (dst->type == FS_H5_STRING && src->width > dst->width) { /* widen */
        char *wide = calloc((size_t)total + 1, src->width);
        if (!wide) return FS_ERR;
        for (int64_t i = 0; i < total; i++)
          memcpy(wide + (size_t)i * src->width, (char *)dst->data + (size_t)i * dst->width, dst->width);
        free(dst->data);
        dst->data = wide, dst->width = src->width;
      }
    }
  int64_t row = 0;
  for (int r = 0; r < n; r++)
    for (int64_t k = 0; k < runs[r].zoo.nrows; k++, row++) {
      (*run_of)[row] = fs_h5r_path(runs[r].r);
      for (int c = 0; c < m->ncols; c++) {
        const fs_col *src = fs_table_col(&runs[r].zoo, m->cols[c].name);
        if (src) copy_cell(&m->cols[c], row, src, k);
      }
    }
  return 0;
}

/* ---- family ranking ----------------------------------------------------------- */

typedef struct family {
  char name[64];
  int models;
  double value[NCRIT];
  int rank[NCRIT];
} family;

static int list_families(const fs_table *m, family *fam) {
  int nf = 0;
  const fs_col *f = fs_table_col(m, "family"), *st = fs_table_col(m, "status");
  for (int64_t i = 0; i < m->nrows; i++) {
    if (strcmp(fs_col_str(st, i), "ok")) continue;
    int k = 0;
    while (k < nf && strcmp(fam[k].name, fs_col_str(f, i))) k++;
    if (k == nf) memset(&fam[nf], 0, sizeof fam[nf]), snprintf(fam[nf++].name, 64, "%s", fs_col_str(f, i));
    fam[k].models++;
  }
  return nf;
}

/* Family means of <type>_<criterion> and their ranks; returns the families with pairs. */
static int rank_type(const fs_table *m, const char *type, family *fam, int nf) {
  const fs_col *f = fs_table_col(m, "family"), *st = fs_table_col(m, "status");
  char name[96];
  snprintf(name, sizeof name, "%s_pairs", type);
  const fs_col *np = fs_table_col(m, name);
  int with = 0;
  for (int k = 0; k < nf; k++) {
    for (int c = 0; c < NCRIT; c++) {
      snprintf(name, sizeof name, "%s_%s", type, crits[c].suffix);
      const fs_col *col = fs_table_col(m, name);
      double sum = 0;
      int cnt = 0;
      for (int64_t i = 0; i < m->nrows; i++) {
        double v = fs_col_num(col, i);
        if (!strcmp(fs_col_str(st, i), "ok") && !strcmp(fs_col_str(f, i), fam[k].name) &&
            fs_col_num(np, i) > 0 && isfinite(v))
          sum += v, cnt++;
      }
      fam[k].value[c] = cnt ? sum / cnt : NAN;
    }
    with += isfinite(fam[k].value[0]) || isfinite(fam[k].value[1]);
  }
  for (int c = 0; c < NCRIT; c++)
    for (int k = 0; k < nf; k++) {
      double v = fam[k].value[c];
      fam[k].rank[c] = 0;
      if (!isfinite(v)) continue;
      fam[k].rank[c] = 1;
      for (int o = 0; o < nf; o++) {
        double w = fam[o].value[c];
        fam[k].rank[c] += isfinite(w) && (crits[c].higher_is_better ? w > v : w < v);
      }
    }
  return with;
}

static void print_ranking(const fs_table *m, family *fam, int nf, FILE *out, FILE *csv) {
  const char *types[FS_PAIR_NTYPES];
  int nt = fs_report_types(m, types);
  fprintf(out, "\nfamilies ranked per pair type (mean over the family's ok models of each model's "
          "value; rank 1 = most aligned)\n%-10s %-10s %6s", "pair type", "family", "models");
  for (int c = 0; c < NCRIT; c++) fprintf(out, " %9s %4s", crits[c].header, "rank");
  fputc('\n', out);
  if (csv) {
    fprintf(csv, "type,family,models");
    for (int c = 0; c < NCRIT; c++) fprintf(csv, ",%s,%s_rank", crits[c].suffix, crits[c].suffix);
    fputc('\n', csv);
  }
  for (int t = 0; t < nt; t++) {
    if (!rank_type(m, types[t], fam, nf)) continue;
    for (int r = 0; r <= nf; r++) /* by the first criterion's rank, unranked (0) last */
      for (int k = 0; k < nf; k++) {
        if (fam[k].rank[0] != (r < nf ? r + 1 : 0)) continue;
        if (!isfinite(fam[k].value[0]) && !isfinite(fam[k].value[1])) continue;
        fprintf(out, "%-10s %-10s %6d", types[t], fam[k].name, fam[k].models);
        for (int c = 0; c < NCRIT; c++) /* "-": no model of the family has the value */
          if (isnan(fam[k].value[c])) fprintf(out, " %9s %4s", "-", "-");
          else fprintf(out, " %9.4f %4d", fam[k].value[c], fam[k].rank[c]);
        fputc('\n', out);
        if (!csv) continue;
        fprintf(csv, "%s,", types[t]);
        fs_csv_string(csv, fam[k].name);
        fprintf(csv, ",%d", fam[k].models);
        for (int c = 0; c < NCRIT; c++) {
          if (isnan(fam[k].value[c])) fprintf(csv, ",nan,%d", fam[k].rank[c]);
          else fprintf(csv, ",%.17g,%d", fam[k].value[c], fam[k].rank[c]);
        }
        fputc('\n', csv);
      }
  }
}

static void print_merged(const fs_table *m, const char *const *run_of, FILE *out) {
  fprintf(out, "%-28s %-34s %-8s %-7s %10s\n", "run", "model", "family", "status", "parameters");
  for (int64_t i = 0; i < m->nrows; i++) {
    const char *run = strrchr(run_of[i], '/') ? strrchr(run_of[i], '/') + 1 : run_of[i];
    fprintf(out, "%-28.28s %-34.34s %-8s %-7s %10.0f\n", run, fs_col_str(fs_table_col(m, "name"), i),
            fs_col_str(fs_table_col(m, "family"), i), fs_col_str(fs_table_col(m, "status"), i),
            fs_col_num(fs_table_col(m, "parameters"), i));
  }
}

static void warn_settings(const fs_report_data *runs, int n) {
  for (int r = 1; r < n; r++)
    if (runs[r].align_eps != runs[0].align_eps || runs[r].align_ratio != runs[0].align_ratio ||
        runs[r].align_kappa != runs[0].align_kappa)
      fprintf(stderr, "flagscope: warning: %s and %s use different alignment settings; their "
              "ratio and aligned columns are not comparable\n", fs_h5r_path(runs[0].r),
              fs_h5r_path(runs[r].r));
}

static int compare_loaded(fs_report_data *runs, int n, const char *csv_dir, FILE *out,
                          fs_error *err) {
  fs_table m;
  const char **run_of = NULL;
  family *fam = NULL;
  int rc = merge(runs, n, &m, &run_of) ? fs_fail(err, "out of memory merging %d runs", n) : 0;
  if (!rc) fam = calloc((size_t)m.nrows + 1, sizeof *fam);
  if (!rc && !fam) rc = fs_fail(err, "out of memory ranking families");
  FILE *csv = NULL;
  char path[4200];
  if (!rc && csv_dir) {
    static const char *first[] = {"name", "family", "format", "status", "reason", "parameters"};
    fs_table_order(&m, first, 6);
    snprintf(path, sizeof path, "%s/compare_zoo.csv", csv_dir);
    rc = fs_csv_table(path, &m, "run", run_of, err);
    snprintf(path, sizeof path, "%s/compare_families.csv", csv_dir);
    if (!rc && !(csv = fopen(path, "w"))) rc = fs_fail(err, "%s: cannot write the CSV file", path);
  }
  if (!rc) {
    warn_settings(runs, n);
    if (out) print_merged(&m, run_of, out);
    print_ranking(&m, fam, list_families(&m, fam), out ? out : stdout, csv);
  }
  if (csv && fclose(csv) && !rc) rc = fs_fail(err, "%s: writing the CSV file failed", path);
  fs_table_free(&m);
  free(run_of), free(fam);
  return rc;
}

int fs_compare(char *const *paths, int n, const char *csv_dir, FILE *out, fs_error *err) {
  fs_report_data *runs = calloc((size_t)n + 1, sizeof *runs);
  if (!runs) return fs_fail(err, "out of memory");
  int rc = 0, loaded = 0;
  for (; loaded < n && !rc; loaded++) rc = fs_report_load(paths[loaded], 0, &runs[loaded], err);
  if (rc) loaded--;
  if (!rc) rc = compare_loaded(runs, n, csv_dir, out, err);
  for (int r = 0; r < loaded; r++) fs_report_unload(&runs[r]);
  free(runs);
  return rc;
}
