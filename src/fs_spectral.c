/*
 * fs_spectral.c - rank policies, effective rank and the power-law tail fit of
 * a spectrum (see fs_spectral.h and docs/mathematics.md).
 */
#include "fs_spectral.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs_lapack.h"


const char *fs_rank_policy_name(fs_rank_policy p) {
  switch (p) {
  case FS_RANK_ENERGY: return "energy";
  case FS_RANK_TOL: return "rank_tol";
  default: return "fixed";
  }
}

void fs_rank_choose(fs_rank_policy p, double param, const double *sigma, int held,
                    int mn, double fro, fs_rank_choice *c) {
  c->k = held, c->capped = 0;
  if (held < 1 || p == FS_RANK_FIXED) return;
  int found = 0, k = 0;
  if (p == FS_RANK_ENERGY) {
    double fro2 = fro * fro, target = param * fro2 - 8.0 * mn * DBL_EPSILON * fro2, cum = 0.0;
    if (!(fro2 > 0.0)) {
      k = 1, found = 1; /* the zero matrix: one value holds all of nothing */
    } else {
      for (int i = 0; i < held && !found; i++) {
        cum += sigma[i] * sigma[i];
        if (cum >= target) k = i + 1, found = 1;
      }
    }
  } else { /* FS_RANK_TOL */
    double cut = param * sigma[0];
    while (k < held && sigma[0] > 0.0 && sigma[k] > cut) k++;
    found = k < held; /* a value at or below the cut was seen */
    if (k < 1) k = 1; /* a rank-0 matrix still keeps one direction */
  }
  if (found) {
    c->k = k;
  } else {
    c->k = held;
    c->capped = held < mn;
  }
}

double fs_energy_fraction(const double *sigma, int k, double fro) {
  double fro2 = fro * fro, cum = 0.0;
  if (!(fro2 > 0.0)) return 1.0;
  for (int i = 0; i < k; i++) cum += sigma[i] * sigma[i];
  return cum / fro2;
}

int fs_singular_values(double *W, int m, int n, double *s, fs_error *err) {
  /* Row-major m x n is column-major n x m (W^T): same singular values. */
  int lm = n, ln = m, mn = m < n ? m : n, mx = m < n ? n : m, lwork = -1, info = 0, one = 1;
  double query = 0.0, dummy = 0.0;
  if (mn < 1) return 0;
  int *iwork = malloc(sizeof *iwork * 8 * (size_t)mn);
  if (!iwork) return fs_fail(err, "out of memory for the singular values of %dx%d", m, n);
  dgesdd_("N", &lm, &ln, W, &lm, s, &dummy, &one, &dummy, &one, &query, &lwork, iwork, &info, 1);
  /* The workspace query may under-report; never go below the documented minimum. */
  int least = 3 * mn + (mx > 7 * mn ? mx : 7 * mn);
  lwork = (int)query > least ? (int)query : least;
  double *work = malloc(sizeof *work * (size_t)lwork);
  if (!work) {
    free(iwork);
    return fs_fail(err, "out of memory for the singular values of %dx%d", m, n);
  }
  dgesdd_("N", &lm, &ln, W, &lm, s, &dummy, &one, &dummy, &one, work, &lwork, iwork, &info, 1);
  free(work);
  free(iwork);
  if (info) return fs_fail(err, "dgesdd on a %dx%d matrix failed (info %d)", m, n, info);
  return 0;
}

double fs_entropy_rank(const double *sigma, int n, int power) {
  double total = 0.0, h = 0.0;
  for (int i = 0; i < n; i++) total += power == 1 ? fabs(sigma[i]) : sigma[i] * sigma[i];
  if (!(total > 0.0)) return 0.0;
  for (int i = 0; i < n; i++) {
    double p = (power == 1 ? fabs(sigma[i]) : sigma[i] * sigma[i]) / total;
    if (p > 0.0) h -= p * log(p);
  }
  return exp(h);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int fs_powerlaw_fit(const double *x, int n, int min_tail, fs_powerlaw *fit) {
  *fit = (fs_powerlaw){NAN, NAN, NAN, 0};
  if (min_tail < 2) min_tail = 2;
  double *y = malloc(sizeof *y * (size_t)(n > 0 ? 2 * n : 1));
  if (!y) return FS_ERR;
  double *ly = y + n;
  int np = 0;
  for (int i = 0; i < n; i++)
    if (isfinite(x[i]) && x[i] > 0.0) y[np++] = x[i];
  qsort(y, (size_t)np, sizeof *y, cmp_double);
  for (int i = 0; i < np; i++) ly[i] = log(y[i]);
  double best = INFINITY;
  for (int j = 0; j + min_tail <= np; j++) {
    if (j > 0 && y[j] == y[j - 1]) continue; /* one candidate per distinct value */
    int nt = np - j;
    double sumlog = 0.0;
    for (int i = j; i < np; i++) sumlog += ly[i] - ly[j];
    if (!(sumlog > 0.0)) continue; /* a tail of equal values has no exponent */
    double alpha = 1.0 + nt / sumlog, d = 0.0;
    /* sup |S - P| of a step function against a continuous increasing one:
     * checked on both sides of every step (ties share P, so the per-sample
     * bounds give the right supremum). */
    for (int i = j; i < np; i++) {
      double P = -expm1((1.0 - alpha) * (ly[i] - ly[j]));
      double above = (double)(i - j + 1) / nt - P, below = P - (double)(i - j) / nt;
      if (above > d) d = above;
      if (below > d) d = below;
    }
    if (d < best) {
      best = d;
      *fit = (fs_powerlaw){alpha, y[j], d, nt};
    }
  }
  free(y);
  return fit->ntail > 0 ? 0 : FS_ERR;
}
