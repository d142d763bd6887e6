/*
 * fs_profile.c - principal angles between leading columns of two bases, the
 * intersection-dimension profile and the flag table (fs_profile.h; the
 * derivation is in docs/mathematics.md, section 4.1).
 *
 * Method.  With M = U^T V, E = (I - V V^T) U = Q_E R_E and
 * F = (I - U U^T) V = Q_F R_F (Householder QR, only R kept):
 *   cosines of (U_i, V_jj) = singular values of M[:i, :jj]  (Bjorck & Golub,
 *     Math. Comp. 27 (1973) 579-594);
 *   sines, i <= jj: the component of U_i outside span(V_jj) is
 *     P = E_i + V[:, jj:] M[:i, jj:]^T, and V^T E = 0, so
 *     P^T P = R_E[:i, :i]^T R_E[:i, :i] + M[:i, jj:] M[:i, jj:]^T: the sines are the
 *     singular values of the stacked [R_E[:i, :i]; M[:i, jj:]^T];
 *   sines, jj < i: symmetrically [R_F[:jj, :jj]; M[i:, :jj]].
 * Small angles from the sines, large ones from the cosines, as in fs_pair.c
 * (Knyazev & Argentati, SIAM J. Sci. Comput. 23 (2002) 2008-2040): absolute
 * error O(u) for every angle, so dim_eps is exact unless an angle lies within
 * ~1e-15 rad of eps.
 */
#include "fs_profile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs_lapack.h"

#define FS_HALF_PI 1.5707963267948966

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

/* R (p x n) of X - Y (Y^T X) for X d x n, Y d x m, G = Y^T X (m x n, ld m). */
static int complement_r(int d, const double *X, int n, const double *Y, int m,
                        const double *G, int ldg, double *r, fs_error *err) {
  double *z = malloc(sizeof *z * (size_t)d * (size_t)imax(n, 1));
  if (!z) return fs_fail(err, "out of memory for a %dx%d complement", d, n);
  memcpy(z, X, sizeof *z * (size_t)d * n);
  fs_gemm('N', 'N', d, n, m, -1.0, Y, d, G, ldg, 1.0, z, d);
  int rc = fs_qr_r(d, n, z, r, err);
  free(z);
  return rc;
}

int fs_leading_init(int d, const double *U, int k, const double *V, int j, fs_leading *L,
                    fs_error *err) {
  memset(L, 0, sizeof *L);
  if (d < 1 || k < 1 || j < 1 || k > d || j > d || !U || !V)
    return fs_fail(err, "leading angles: bases of %d and %d vectors in dimension %d", k, j, d);
  L->d = d, L->k = k, L->j = j, L->pe = imin(d, k), L->pf = imin(d, j);
  L->M = malloc(sizeof *L->M * (size_t)k * j);
  L->RE = malloc(sizeof *L->RE * (size_t)L->pe * k);
  L->RF = malloc(sizeof *L->RF * (size_t)L->pf * j);
  double *Mt = malloc(sizeof *Mt * (size_t)k * j);
  int rc = 0;
  if (!L->M || !L->RE || !L->RF || !Mt)
    rc = fs_fail(err, "out of memory for leading angles (d = %d, k = %d, j = %d)", d, k, j);
  if (!rc) {
    fs_gemm('T', 'N', k, j, d, 1.0, U, d, V, d, 0.0, L->M, k);
    for (int a = 0; a < k; a++)
      for (int b = 0; b < j; b++) Mt[b + (size_t)a * j] = L->M[a + (size_t)b * k];
    rc = complement_r(d, U, k, V, j, Mt, j, L->RE, err); /* U - V (V^T U), V^T U = M^T */
  }
  if (!rc) rc = complement_r(d, V, j, U, k, L->M, k, L->RF, err);
  free(Mt);
  if (rc) fs_leading_free(L);
  return rc;
}

void fs_leading_free(fs_leading *L) {
  if (!L) return;
  free(L->M), free(L->RE), free(L->RF);
  memset(L, 0, sizeof *L);
}

/* The stacked matrix whose singular values are the sines (see the header
 * comment), column-major with nr rows, into s; returns its row count. */
static int sine_matrix(const fs_leading *L, int i, int jj, double *s) {
  int k = L->k, j = L->j;
  if (i <= jj) { /* [R_E[:i, :i]; M[:i, jj:]^T], i columns */
    int nr = i + (j - jj);
    for (int c = 0; c < i; c++) {
      for (int r = 0; r < i; r++) s[r + (size_t)c * nr] = L->RE[r + (size_t)c * L->pe];
      for (int r = 0; r < j - jj; r++) s[i + r + (size_t)c * nr] = L->M[c + (size_t)(jj + r) * k];
    }
    return nr;
  }
  int nr = jj + (k - i); /* [R_F[:jj, :jj]; M[i:, :jj]], jj columns */
  for (int c = 0; c < jj; c++) {
    for (int r = 0; r < jj; r++) s[r + (size_t)c * nr] = L->RF[r + (size_t)c * L->pf];
    for (int r = 0; r < k - i; r++) s[jj + r + (size_t)c * nr] = L->M[i + r + (size_t)c * k];
  }
  return nr;
}

static void sort_ascending(double *x, int len) {
  for (int a = 1; a < len; a++) {
    double v = x[a];
    int b = a - 1;
    for (; b >= 0 && x[b] > v; b--) x[b + 1] = x[b];
    x[b + 1] = v;
  }
}

int fs_leading_angles(const fs_leading *L, int i, int jj, double *theta, fs_error *err) {
  if (i < 1 || jj < 1 || i > L->k || jj > L->j)
    return fs_fail(err, "leading angles: %d x %d outside %d x %d", i, jj, L->k, L->j);
  int q = imin(i, jj), k = L->k, rc = FS_ERR;
  size_t big = (size_t)(imax(i, jj) + imax(L->k, L->j)) * (size_t)q;
  double *c = malloc(sizeof *c * (size_t)i * jj), *s = malloc(sizeof *s * big);
  double *cs = malloc(sizeof *cs * (size_t)q), *sn = malloc(sizeof *sn * (size_t)q);
  if (!c || !s || !cs || !sn) {
    fs_fail(err, "out of memory for leading angles %d x %d", i, jj);
    goto done;
  }
  for (int b = 0; b < jj; b++)
    for (int a = 0; a < i; a++) c[a + (size_t)b * i] = L->M[a + (size_t)b * k];
  if (fs_singular_values_cm(i, jj, c, cs, err)) goto done;
  int nr = sine_matrix(L, i, jj, s); /* nr >= q: the sines are its q values */
  if (fs_singular_values_cm(nr, q, s, sn, err)) goto done;
  for (int t = 0; t < q; t++) {
    double ct = fmin(cs[t], 1.0), st = fmin(sn[q - 1 - t], 1.0);
    theta[t] = ct * ct >= 0.5 ? asin(st) : acos(ct);
    theta[t] = fmin(fmax(theta[t], 0.0), FS_HALF_PI);
  }
  sort_ascending(theta, q);
  rc = 0;
done:
  free(c), free(s), free(cs), free(sn);
  return rc;
}

int fs_profile_grid(int q, int *s) {
  int n = 0;
  for (long v = 1; v < q; v *= 2) s[n++] = (int)v;
  if (q >= 1) s[n++] = q;
  return n;
}

static int count_below(const double *theta, int q, double eps) {
  int c = 0;
  while (c < q && theta[c] <= eps) c++;
  return c;
}

int fs_profile_compute(const fs_leading *L, const double *eps, int neps, fs_profile *p,
                       fs_error *err) {
  memset(p, 0, sizeof *p);
  int q = imin(L->k, L->j), n = fs_profile_grid(q, p->s);
  p->n = n, p->neps = neps;
  p->dim = malloc(sizeof *p->dim * (size_t)imax(n * neps, 1));
  p->dim_random = malloc(sizeof *p->dim_random * (size_t)imax(n, 1));
  p->overlap = malloc(sizeof *p->overlap * (size_t)imax(n, 1));
  p->overlap_random = malloc(sizeof *p->overlap_random * (size_t)imax(n, 1));
  double *theta = malloc(sizeof *theta * (size_t)imax(q, 1));
  int rc = 0;
  if (!p->dim || !p->dim_random || !p->overlap || !p->overlap_random || !theta)
    rc = fs_fail(err, "out of memory for an intersection profile of %d points", n);
  for (int g = 0; g < n && !rc; g++) {
    int sg = p->s[g];
    rc = fs_leading_angles(L, sg, sg, theta, err);
    for (int e = 0; e < neps && !rc; e++) p->dim[g * neps + e] = count_below(theta, sg, eps[e]);
    double ov = 0.0;
    for (int b = 0; b < sg; b++)
      for (int a = 0; a < sg; a++) ov += L->M[a + (size_t)b * L->k] * L->M[a + (size_t)b * L->k];
    p->overlap[g] = ov;
    p->overlap_random[g] = (double)sg * sg / L->d;
    p->dim_random[g] = imax(0, 2 * sg - L->d);
  }
  free(theta);
  if (rc) fs_profile_free(p);
  return rc;
}

void fs_profile_free(fs_profile *p) {
  if (!p) return;
  free(p->dim), free(p->dim_random), free(p->overlap), free(p->overlap_random);
  memset(p, 0, sizeof *p);
}

int fs_flag_table_compute(const fs_leading *L, const double *eps, int neps, fs_flag_table *t,
                          fs_error *err) {
  memset(t, 0, sizeof *t);
  int m = imin(FS_FLAG_MAX, imin(L->k, L->j));
  t->m = m, t->neps = neps;
  t->dim = malloc(sizeof *t->dim * (size_t)imax(m * m * neps, 1));
  double *theta = malloc(sizeof *theta * (size_t)imax(m, 1));
  int rc = (t->dim && theta) ? 0 : fs_fail(err, "out of memory for a %d x %d flag table", m, m);
  for (int i = 1; i <= m && !rc; i++)
    for (int jj = 1; jj <= m && !rc; jj++) {
      rc = fs_leading_angles(L, i, jj, theta, err);
      for (int e = 0; e < neps && !rc; e++)
        t->dim[((size_t)e * m + i - 1) * m + jj - 1] = count_below(theta, imin(i, jj), eps[e]);
    }
  free(theta);
  if (rc) fs_flag_table_free(t);
  return rc;
}

void fs_flag_table_free(fs_flag_table *t) {
  if (!t) return;
  free(t->dim);
  memset(t, 0, sizeof *t);
}
