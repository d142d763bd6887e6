/*
 * fs_trajectory.h - one training run's checkpoints as a time series
 * (flagscope trajectory): the series is read from a manifest and checked
 * (same architecture, increasing steps), analysed by fs_analyze, and then
 * every pair is followed across the checkpoints and the exponential rates of
 * its balancedness and kappa_rel are fitted (docs/mathematics.md section 13,
 * the /trajectory group of docs/hdf5-schema.md).
 *
 * Manifest: one checkpoint per line, "PATH STEP" (whitespace-separated;
 * '#' starts a comment; relative paths are relative to the manifest's
 * directory); steps are integers >= 0, strictly increasing.
 *
 * Rate estimator: ordinary least squares of ln q_c on step_c over the
 * checkpoints of the fit window [fit_from, fit_to] whose value q_c is finite
 * and above `floor` (below it the value is the solver's noise, not the
 * network); rate = -slope, with its standard error
 * sqrt(sum r_c^2 / (m - 2) / sum (step_c - mean step)^2) from the m residuals
 * r_c (NaN when m < 3).  Rates per unit of gradient-flow time t = step * lr
 * are the same divided by lr.
 */
#ifndef FS_TRAJECTORY_H
#define FS_TRAJECTORY_H

#include <stdio.h>

#include "fs_error.h"

typedef struct fs_traj_series {
  int n;
  char **paths;      /* as resolved against the manifest's directory */
  long *steps;
  double *lr;        /* flagscope.train.lr of each checkpoint's metadata, or NaN */
  double *loss;      /* flagscope.train.loss, or NaN */
} fs_traj_series;

typedef struct fs_traj_opts {
  long fit_from, fit_to;  /* fit window in steps; -1: the defaults (second half of the range) */
  double floor;           /* values at or below are left out of fits */
  double lr;              /* learning rate for t = step * lr; NaN: from the metadata, if all agree */
} fs_traj_opts;

void fs_traj_defaults(fs_traj_opts *o);

/* Parse the manifest; refuses (naming the line and checkpoint) a line that
 * is not "PATH STEP", and the first step not larger than the one before. */
int fs_traj_read_manifest(const char *path, fs_traj_series *s, fs_error *err);
/* Reads every checkpoint's header: refuses the first one whose 2-D tensors
 * (names, shapes) differ from the first checkpoint's; fills lr and loss. */
int fs_traj_check_series(fs_traj_series *s, fs_error *err);
void fs_traj_series_free(fs_traj_series *s);

/* OLS of ln y on x over the points with x in [x0, x1] and finite y > floor.
 * rate = -slope, se its standard error, *m the points used; NaN if m < 3
 * (rate also NaN if m < 2). */
void fs_traj_fit_rate(const long *x, const double *y, int n, long x0, long x1, double floor,
                      double *rate, double *se, int *m);

/* Reads the analysis output h5 (written by fs_analyze for s->paths in
 * order), follows every pair across the checkpoints, fits the rates, adds the
 * /trajectory group to the same file and prints a table to out (may be NULL).
 * Serial: called by one rank after fs_analyze has closed the file. */
int fs_traj_write(const char *h5, const char *manifest, const fs_traj_series *s,
                  const fs_traj_opts *o, FILE *out, fs_error *err);

#endif
