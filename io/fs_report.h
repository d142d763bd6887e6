/*
 * fs_report.h - `flagscope report` and `flagscope compare`: a finished output
 * file (or several) turned into tables on the terminal, CSV files and PNG
 * figures (docs/user-guide.md, "Reports").
 *
 * report: the run's provenance, the zoo table (per model and pair type: pairs,
 * medians of the intersection ratio at the alignment eps, of kappa_rel and of
 * balancedness, the aligned fractions), failed models with their reasons, and
 * head redundancy per model when the file has /head_overlaps.  CSV: zoo.csv,
 * stats.csv, profiles.csv (the depth profiles, one value per line) and
 * head_redundancy.csv.  Figures: depth profiles per model, head-overlap heat
 * maps per block, and zoo comparisons grouped by family (fs_report_plot.c).
 *
 * compare: the /zoo tables of several runs as one (a column "run" first), and
 * per pair type the families ranked by each statistic.
 */
#ifndef FS_REPORT_H
#define FS_REPORT_H

#include <stdio.h>

#include "fs_error.h"
#include "fs_h5read.h"

typedef struct fs_report_opts {
  const char *csv_dir;   /* NULL: no CSV */
  const char *plot_dir;  /* NULL: no figures */
  double head_threshold; /* head pairs counted as redundant above this overlap;
                            NaN: the file's head_threshold attribute (else 0.5) */
  FILE *out;             /* the tables */
} fs_report_opts;

int fs_report(const char *path, const fs_report_opts *o, fs_error *err);
int fs_compare(char *const *paths, int n, const char *csv_dir, FILE *out, fs_error *err);

/* ---- shared by fs_report.c, fs_report_plot.c and fs_compare.c --------------- */

/* A run read back: its tables and the attributes the report shows. */
typedef struct fs_report_data {
  fs_h5r *r;
  fs_table zoo, stats, heads; /* heads.nrows = 0 when /head_overlaps is absent */
  fs_col pblock, pvalue;      /* /stats/profile_block, profile_value */
  fs_col hoverlap;            /* /head_overlaps/overlap */
  double align_eps, align_ratio, align_kappa;
} fs_report_data;

int fs_report_load(const char *path, int with_stats, fs_report_data *d, fs_error *err);
void fs_report_unload(fs_report_data *d);

/* Row of /stats for (model, type, statistic[, eps]), or -1. */
int64_t fs_report_stat_row(const fs_report_data *d, int64_t model, const char *type,
                           const char *stat, double eps);

/* The pair types with pairs in some model, in schema order; returns the count. */
int fs_report_types(const fs_table *zoo, const char **types);

/* One table as CSV: a header of column names, then rows; NaN as "nan". */
int fs_csv_table(const char *path, const fs_table *t, const char *extra_name,
                 const char *const *extra, fs_error *err);
void fs_csv_string(FILE *f, const char *s);

/* Head redundancy of one /head_overlaps row: mean off-diagonal overlap of a
 * square per-head kind (Q, K, V, O), the mean of every entry for a composition
 * kind (OV>Q, ...); *above = entries (pairs i < j for square kinds) > threshold. */
double fs_head_redundancy(const fs_report_data *d, int64_t row, double threshold, int64_t *above);

int fs_report_plots(const fs_report_data *d, const char *dir, fs_error *err);

#endif
