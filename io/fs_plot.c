/*
 * fs_plot.c - line plots, heat maps and box plots as PNG through PLplot's
 * pngcairo driver (see fs_plot.h).  PLplot reference: the PLplot 5.15 manual,
 * "The PLplot API" (plenv, plline, plfill, pllegend, plptex).
 *
 * PLplot exits the process on a fatal error of its own (after calling the
 * exit handler): fs_plot_open therefore checks first that the PNG can be
 * created, and the handler names the failing figure.
 */
#include "fs_plot.h"

#include <math.h>
#include <plplot.h>
#include <stdio.h>
#include <string.h>

enum { C_BG = 0, C_FG = 1, C_SERIES = 2, C_GRID = 2 + FS_PLOT_NCOLORS, C_N };

static char current[4096];
static int grid_cols, grid_rows, panel; /* the panel grid of the open figure */

/* Character heights, relative to PLplot's default for the page. */
#define CH_TEXT 0.62
#define CH_TITLE 0.72
#define CH_SMALL 0.52

static int exit_handler(const char *msg) {
  fprintf(stderr, "flagscope: error: %s: PLplot: %s\n", current, msg);
  return 1;
}

static void palette(void) {
  static const int rgb[C_N][3] = {
      {255, 255, 255}, {20, 20, 20},
      /* Okabe and Ito, "Color Universal Design" (2008), darkest first */
      {0, 114, 178}, {213, 94, 0}, {0, 158, 115}, {204, 121, 167},
      {230, 159, 0}, {86, 180, 233}, {90, 90, 90}, {160, 140, 0},
      {200, 200, 200}};
  plscmap0n(16);
  for (int i = 0; i < C_N; i++) plscol0(i, rgb[i][0], rgb[i][1], rgb[i][2]);
  /* cmap1: white -> dark blue, for heat maps */
  PLFLT pos[3] = {0, 0.5, 1}, r[3] = {1, 0.42, 0.03}, g[3] = {1, 0.68, 0.19}, b[3] = {1, 0.84, 0.42};
  plscmap1l(1, 3, pos, r, g, b, NULL);
}

int fs_plot_open(const char *png, int width, int height, int ncols, int nrows,
                 const char *title, fs_error *err) {
  FILE *f = fopen(png, "wb");
  if (!f) return fs_fail(err, "%s: cannot create the plot file (directory missing or not writable?)", png);
  fclose(f);
  snprintf(current, sizeof current, "%s", png);
  plsexit(exit_handler);
  plsdev("pngcairo");
  plsfnam(png);
  plspage(0, 0, width, height, 0, 0);
  palette();
  plinit();
  plfontld(1);
  pladv(0);
  grid_cols = ncols, grid_rows = nrows, panel = 0;
  if (title && title[0]) {
    plvpor(0, 1, 0, 1);
    plwind(0, 1, 0, 1);
    plcol0(C_FG);
    plschr(0, CH_TITLE * 1.15);
    plptex(0.5, 1 - 0.035 * 560.0 / height, 1, 0, 0.5, title);
  }
  return 0;
}

int fs_plot_close(fs_error *err) {
  (void)err;
  plend();
  return 0;
}

static void finite_range(const double *v, int n, double *lo, double *hi) {
  for (int i = 0; i < n; i++)
    if (isfinite(v[i])) *lo = v[i] < *lo ? v[i] : *lo, *hi = v[i] > *hi ? v[i] : *hi;
}

static void pad_range(double *lo, double *hi, double frac) {
  if (!(*lo <= *hi)) *lo = 0, *hi = 1;
  double d = *hi - *lo;
  if (d <= 0) d = fabs(*hi) > 0 ? fabs(*hi) * 0.5 : 1;
  *lo -= frac * d, *hi += frac * d;
}

/* The viewport of the next panel of the grid (below the page title), with
 * room on the right for a legend or a colour scale when right is set. */
static void next_panel(double right) {
  int c = panel % grid_cols, r = panel / grid_cols;
  panel++;
  double top = 0.93, w = 1.0 / grid_cols, h = top / grid_rows;
  double x0 = c * w, y1 = top - r * h;
  plvpor(x0 + 0.012 + 0.17 * w, x0 + w * (1 - 0.03 - right), y1 - h + 0.16 * h, y1 - 0.12 * h);
}

/* x ticks: every integer over a short integer range (blocks), else PLplot's choice. */
static void box_x(const char *opt_extra, double xlo, double xhi) {
  char opt[16];
  snprintf(opt, sizeof opt, "bcnst%s", opt_extra);
  plbox(opt, xhi - xlo <= 14 ? 1 : 0, xhi - xlo <= 14 ? 1 : 0, "bcnstv", 0, 0);
}

static void panel_title(const char *title) {
  plschr(0, CH_TITLE);
  plmtex("t", 1.0, 0.5, 0.5, title);
  plschr(0, CH_TEXT);
}

/* A panel with axes, labels and a light grid. */
static void axes(double xlo, double xhi, double ylo, double yhi, const char *title,
                 const char *xlabel, const char *ylabel, double right) {
  next_panel(right);
  plschr(0, CH_TEXT);
  plwind(xlo, xhi, ylo, yhi);
  plcol0(C_GRID);
  plbox("g", xhi - xlo <= 14 ? 1 : 0, 0, "g", 0, 0);
  plcol0(C_FG);
  box_x("", xlo, xhi);
  pllab(xlabel, ylabel, "");
  panel_title(title);
}

void fs_plot_lines(const char *title, const char *xlabel, const char *ylabel,
                   const fs_series *s, int ns, double ylo, double yhi) {
  double xlo = INFINITY, xhi = -INFINITY, dlo = INFINITY, dhi = -INFINITY;
  for (int i = 0; i < ns; i++) {
    finite_range(s[i].x, s[i].n, &xlo, &xhi);
    finite_range(s[i].y, s[i].n, &dlo, &dhi);
  }
  if (isnan(ylo)) ylo = dlo;
  if (isnan(yhi)) yhi = dhi;
  xlo -= 0.5, xhi += 0.5; /* blocks are integers: half a block each side */
  pad_range(&ylo, &yhi, 0.04);
  axes(xlo, xhi, ylo, yhi, title, xlabel, ylabel, 0.27);
  plwidth(2.5);
  for (int i = 0; i < ns; i++) {
    plcol0(C_SERIES + s[i].color % FS_PLOT_NCOLORS);
    for (int a = 0; a < s[i].n;) { /* runs of finite points */
      while (a < s[i].n && !isfinite(s[i].y[a])) a++;
      int b = a;
      while (b < s[i].n && isfinite(s[i].y[b])) b++;
      if (b - a > 1) plline(b - a, s[i].x + a, s[i].y + a);
      for (int k = a; k < b; k++) plpoin(1, s[i].x + k, s[i].y + k, 17);
      a = b;
    }
  }
  plwidth(1);
  const char *labels[FS_PLOT_NCOLORS];
  int colors[FS_PLOT_NCOLORS], n = 0;
  for (int i = 0; i < ns && n < FS_PLOT_NCOLORS; i++) labels[n] = s[i].label, colors[n++] = s[i].color;
  fs_plot_legend(labels, colors, n);
}

/* Axes whose x positions are groups (families) labelled under the axis. */
static void grouped_axes(double xlo, double xhi, double ylo, double yhi, const char *title,
                         const char *ylabel, const fs_tick *ticks, int nticks, double right) {
  next_panel(right);
  plschr(0, CH_TEXT);
  plwind(xlo, xhi, ylo, yhi);
  plcol0(C_GRID);
  plbox("", 0, 0, "g", 0, 0);
  plcol0(C_FG);
  plbox("bc", 0, 0, "bcnstv", 0, 0);
  for (int i = 0; i < nticks; i++)
    plmtex("b", 2.6, (ticks[i].x - xlo) / (xhi - xlo), 0.5, ticks[i].label);
  pllab("", ylabel, "");
  panel_title(title);
}

/* The axes of a grouped panel: x over the data [*xlo, *xhi] and every tick's
 * column (the same columns in every panel), y over [ylo, yhi] where given,
 * else the data's [dlo, dhi], both padded; *xlo, *xhi become the x range
 * drawn, for labels under the columns (written small). */
static void grouped_frame(double *xlo, double *xhi, double dlo, double dhi, double ylo, double yhi,
                          const char *title, const char *ylabel, const fs_tick *ticks, int nticks) {
  for (int i = 0; i < nticks; i++)
    *xlo = ticks[i].lo < *xlo ? ticks[i].lo : *xlo, *xhi = ticks[i].hi > *xhi ? ticks[i].hi : *xhi;
  if (isnan(ylo)) ylo = dlo;
  if (isnan(yhi)) yhi = dhi;
  if (!(*xlo <= *xhi)) *xlo = 0, *xhi = 1;
  *xlo -= 0.8, *xhi += 0.8;
  pad_range(&ylo, &yhi, 0.04);
  grouped_axes(*xlo, *xhi, ylo, yhi, title, ylabel, ticks, nticks, 0);
  plschr(0, CH_SMALL);
}

void fs_plot_points(const char *title, const char *ylabel, const fs_series *s, int ns,
                    const char *const *labels_of, const fs_tick *ticks, int nticks, double ylo,
                    double yhi) {
  double xlo = INFINITY, xhi = -INFINITY, dlo = INFINITY, dhi = -INFINITY;
  for (int i = 0; i < ns; i++) {
    finite_range(s[i].x, s[i].n, &xlo, &xhi);
    finite_range(s[i].y, s[i].n, &dlo, &dhi);
  }
  grouped_frame(&xlo, &xhi, dlo, dhi, ylo, yhi, title, ylabel, ticks, nticks);
  for (int i = 0; ns && labels_of && i < s[0].n; i++)
    if (labels_of[i] && isfinite(s[0].y[i])) plmtex("b", 1.2, (s[0].x[i] - xlo) / (xhi - xlo), 0.5, labels_of[i]);
  plschr(0, 1.0);
  for (int i = 0; i < ns; i++) {
    plcol0(C_SERIES + s[i].color % FS_PLOT_NCOLORS);
    for (int k = 0; k < s[i].n; k++)
      if (isfinite(s[i].y[k])) plpoin(1, s[i].x + k, s[i].y + k, 17);
  }
  plschr(0, CH_TEXT);
}

void fs_plot_legend(const char *const *labels, const int *colors, int n) {
  if (n <= 0) return;
  PLINT opt[FS_PLOT_NCOLORS], tc[FS_PLOT_NCOLORS], lc[FS_PLOT_NCOLORS], ls[FS_PLOT_NCOLORS];
  PLINT sc[FS_PLOT_NCOLORS], sn[FS_PLOT_NCOLORS];
  PLFLT lw[FS_PLOT_NCOLORS], ss[FS_PLOT_NCOLORS];
  const char *sym[FS_PLOT_NCOLORS];
  for (int i = 0; i < n; i++) {
    opt[i] = PL_LEGEND_LINE | PL_LEGEND_SYMBOL;
    tc[i] = C_FG, lc[i] = sc[i] = C_SERIES + colors[i] % FS_PLOT_NCOLORS;
    ls[i] = 1, lw[i] = 2.5, ss[i] = 0.6, sn[i] = 1, sym[i] = "#(728)";
  }
  PLFLT w, h;
  plschr(0, CH_TEXT);
  pllegend(&w, &h, PL_LEGEND_BACKGROUND, PL_POSITION_RIGHT | PL_POSITION_OUTSIDE, 0.01, 0.0, 0.04,
           C_BG, C_FG, 1, n, 1, n, opt, 0.6, 0.55, 2.0, 0.0, tc, labels, NULL, NULL, NULL, NULL,
           lc, ls, lw, sc, ss, sn, sym);
  plschr(0, CH_TEXT);
}

static void rect(double x0, double x1, double y0, double y1) {
  PLFLT x[4] = {x0, x1, x1, x0}, y[4] = {y0, y0, y1, y1};
  plfill(4, x, y);
}

/* A vertical colour scale at the right of the current panel. */
static void colour_scale(double zlo, double zhi) {
  PLFLT vx0, vx1, vy0, vy1;
  plgvpd(&vx0, &vx1, &vy0, &vy1);
  double w = (vx1 - vx0) * 0.06;
  plvpor(vx1 + w, vx1 + 2 * w, vy0, vy1);
  plwind(0, 1, zlo, zhi);
  for (int i = 0; i < 64; i++) {
    plcol1((i + 0.5) / 64);
    rect(0, 1, zlo + (zhi - zlo) * i / 64, zlo + (zhi - zlo) * (i + 1) / 64);
  }
  plcol0(C_FG);
  plschr(0, CH_SMALL);
  plbox("bc", 0, 0, "bcmstv", 0, 0);
  plschr(0, CH_TEXT);
  plvpor(vx0, vx1, vy0, vy1);
}

void fs_plot_heatmap(const char *title, const char *xlabel, const char *ylabel,
                     const double *z, int nrows, int ncols, double zlo, double zhi) {
  next_panel(0.2);
  plschr(0, CH_TEXT);
  plwind(-0.5, ncols - 0.5, nrows - 0.5, -0.5); /* row 0 at the top */
  for (int i = 0; i < nrows; i++)
    for (int j = 0; j < ncols; j++) {
      double v = z[(size_t)i * ncols + j], t = isfinite(v) ? (v - zlo) / (zhi - zlo) : 0;
      plcol1(t < 0 ? 0 : t > 1 ? 1 : t);
      rect(j - 0.5, j + 0.5, i - 0.5, i + 0.5);
      if (nrows <= 12 && ncols <= 12 && isfinite(v)) {
        char buf[16];
        snprintf(buf, sizeof buf, "%.2f", v); /* ".90": narrow cells hold three characters */
        if (buf[0] == '0' && buf[1] == '.') memmove(buf, buf + 1, strlen(buf));
        if (!strcmp(buf, "1.00")) snprintf(buf, sizeof buf, "1");
        plcol0(t > 0.55 ? C_BG : C_FG);
        plschr(0, nrows <= 4 ? CH_SMALL : nrows <= 8 ? 0.45 : 0.34);
        plptex(j, i + 0.15, 1, 0, 0.5, buf);
        plschr(0, CH_TEXT);
      }
    }
  plcol0(C_FG);
  plbox("bcnt", 1, 0, "bcntv", 1, 0);
  pllab(xlabel, ylabel, "");
  panel_title(title);
  colour_scale(zlo, zhi);
}

void fs_plot_boxes(const char *title, const char *ylabel, const fs_box *b, int nb,
                   const fs_tick *ticks, int nticks, double ylo, double yhi) {
  double xlo = INFINITY, xhi = -INFINITY, dlo = INFINITY, dhi = -INFINITY;
  for (int i = 0; i < nb; i++) {
    xlo = b[i].x < xlo ? b[i].x : xlo, xhi = b[i].x > xhi ? b[i].x : xhi;
    double v[3] = {b[i].lo, b[i].hi, b[i].mark};
    finite_range(v, 3, &dlo, &dhi);
  }
  grouped_frame(&xlo, &xhi, dlo, dhi, ylo, yhi, title, ylabel, ticks, nticks);
  for (int i = 0; i < nb; i++)
    if (b[i].label) plmtex("b", 1.2, (b[i].x - xlo) / (xhi - xlo), 0.5, b[i].label);
  plschr(0, CH_TEXT);
  plwidth(2);
  for (int i = 0; i < nb; i++) {
    const fs_box *q = &b[i];
    if (!isfinite(q->med)) continue;
    double w = 0.3;
    plcol0(C_SERIES + q->color % FS_PLOT_NCOLORS);
    pljoin(q->x, q->lo, q->x, q->q1), pljoin(q->x, q->q3, q->x, q->hi);
    pljoin(q->x - w / 2, q->lo, q->x + w / 2, q->lo), pljoin(q->x - w / 2, q->hi, q->x + w / 2, q->hi);
    PLFLT x[5] = {q->x - w, q->x + w, q->x + w, q->x - w, q->x - w};
    PLFLT y[5] = {q->q1, q->q1, q->q3, q->q3, q->q1};
    plline(5, x, y);
    plwidth(4);
    pljoin(q->x - w, q->med, q->x + w, q->med);
    plwidth(2);
    if (isfinite(q->mark)) {
      PLFLT mx = q->x, my = q->mark;
      plpoin(1, &mx, &my, 5);
    }
  }
  plwidth(1);
}

void fs_plot_empty(const char *title, const char *message) {
  next_panel(0);
  plwind(0, 1, 0, 1);
  plcol0(C_FG);
  plbox("bc", 0, 0, "bc", 0, 0);
  panel_title(title);
  plptex(0.5, 0.5, 1, 0, 0.5, message);
}
