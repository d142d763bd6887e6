/*
 * fs_plot.h - the few kinds of figure `flagscope report` draws, as PNG files,
 * over PLplot's cairo driver (pngcairo; Debian's libplplot-dev and
 * plplot-driver-cairo; why PLplot: docs/user-guide.md, "Reports").
 *
 * A figure is a grid of panels: fs_plot_open, one call per panel (line plot,
 * heat map or box plot), fs_plot_close.  One figure at a time (PLplot keeps
 * one global stream).  Text is dark on white, series colours are the
 * Okabe-Ito palette (distinguishable with colour-blindness); NaN points are
 * left out.
 */
#ifndef FS_PLOT_H
#define FS_PLOT_H

#include "fs_error.h"

#define FS_PLOT_NCOLORS 8

typedef struct fs_series {
  const char *label;
  int n;
  const double *x, *y;
  int color; /* 0 .. FS_PLOT_NCOLORS - 1 */
} fs_series;

/* One box: whiskers lo..hi, box q1..q3, a line at the median; a point at mark
 * (NaN: none).  x is its position on the axis. */
typedef struct fs_box {
  double x, lo, q1, med, q3, hi, mark;
  int color;
  const char *label; /* under the axis (short: a model number), or NULL */
} fs_box;

/* Labels under the x axis of a box plot, centred at x (e.g. family names);
 * [lo, hi] is the group's extent, shown in every panel. */
typedef struct fs_tick {
  double x, lo, hi;
  const char *label;
} fs_tick;

/* A figure of ncols x nrows panels (filled row by row) under a page title. */
int fs_plot_open(const char *png, int width, int height, int ncols, int nrows,
                 const char *title, fs_error *err);
int fs_plot_close(fs_error *err);

/* y range [ylo, yhi]; NaN: from the data.  The x range is the data's, padded. */
void fs_plot_lines(const char *title, const char *xlabel, const char *ylabel,
                   const fs_series *s, int ns, double ylo, double yhi);

/* z is nrows x ncols row-major, shown with row 0 at the top, values in [zlo, zhi]
 * from white to dark blue; cells are annotated when the matrix is small. */
void fs_plot_heatmap(const char *title, const char *xlabel, const char *ylabel,
                     const double *z, int nrows, int ncols, double zlo, double zhi);

/* Markers only (no lines, no legend: the caller's title says which colour is
 * which), x labelled by ticks (e.g. models grouped by family) and each x where
 * the first series is finite by labels_of[i] (NULL: none). */
void fs_plot_points(const char *title, const char *ylabel, const fs_series *s, int ns,
                    const char *const *labels_of, const fs_tick *ticks, int nticks, double ylo,
                    double yhi);

void fs_plot_boxes(const char *title, const char *ylabel, const fs_box *b, int nb,
                   const fs_tick *ticks, int nticks, double ylo, double yhi);

/* A panel with only a message (e.g. "no pairs of this type"). */
void fs_plot_empty(const char *title, const char *message);

/* Colour-keyed labels drawn as a legend in the current panel's corner. */
void fs_plot_legend(const char *const *labels, const int *colors, int n);

#endif
