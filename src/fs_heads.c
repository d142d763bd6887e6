/*
 * fs_heads.c - attention-head diagnostics (SPEC 3.7; see fs_heads.h for the
 * method and its references, docs/mathematics.md section 11 for the formulas).
 *
 * Every head factor F (D x d_h) is reduced once to its thin QR F = Q R; the
 * bases, the circuits and the composition all come from the small R factors
 * and the Q's, so no D x D matrix is ever formed.  The overlaps of a kind
 * come from one Gram B_all^T B_all' of all heads' bases (a single BLAS-3
 * product), cut into head blocks.
 *
 * LAPACK/BLAS through their Fortran symbols (LP64), hidden character lengths
 * passed explicitly, as in fs_pair.c.
 */
#include "fs_heads.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "fs_fault.h"
#include "fs_load.h"
#include "fs_pair.h"
#include "fs_run.h"

void dgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
            const double *alpha, const double *a, const int *lda, const double *b,
            const int *ldb, const double *beta, double *c, const int *ldc, size_t lta,
            size_t ltb);
void dsyrk_(const char *uplo, const char *trans, const int *n, const int *k, const double *alpha,
            const double *a, const int *lda, const double *beta, double *c, const int *ldc,
            size_t luplo, size_t ltrans);
void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda,
             double *s, double *u, const int *ldu, double *vt, const int *ldvt, double *work,
             const int *lwork, int *iwork, int *info, size_t ljobz);
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work,
             const int *lwork, int *info);
void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda,
             const double *tau, double *work, const int *lwork, int *info);

const char *fs_head_kind_name(fs_head_kind k) {
  static const char *names[FS_HEAD_NKINDS] = {"Q", "K", "V", "O", "OV>Q", "OV>K", "OV>V"};
  return (unsigned)k < FS_HEAD_NKINDS ? names[k] : "?";
}

double fs_heads_rank_tol(int D, int n) { return (D > n ? D : n) * DBL_EPSILON; }

static int imax(int a, int b) { return a > b ? a : b; }

/* ---- dense kernels (column-major) ---------------------------------------- */

static void gemm(char ta, char tb, int m, int n, int k, const double *a, int lda,
                 const double *b, int ldb, double *c, int ldc) {
  double one = 1.0, zero = 0.0;
  if (m < 1 || n < 1) return;
  if (k < 1) {
    for (int j = 0; j < n; j++) memset(c + (size_t)j * ldc, 0, sizeof *c * (size_t)m);
    return;
  }
  dgemm_(&ta, &tb, &m, &n, &k, &one, a, &lda, b, &ldb, &zero, c, &ldc, 1, 1);
}

/* The SVD of the n x n matrix a (destroyed): s descending and, if u is not
 * NULL, the left singular vectors (n x n). */
static int svd_square(int n, double *a, double *s, double *u, fs_error *err) {
  int info = 0, lwork = -1, one = 1, ld = imax(n, 1);
  double query = 0.0, dummy = 0.0;
  int *iwork = malloc(sizeof *iwork * 8 * (size_t)imax(n, 1));
  if (!iwork) return fs_fail(err, "out of memory for an SVD of %dx%d", n, n);
  const char *job = u ? "O" : "N"; /* "O": U overwrites a, copied out below */
  dgesdd_(job, &n, &n, a, &ld, s, &dummy, &one, &dummy, u ? &ld : &one, &query, &lwork, iwork,
          &info, 1);
  /* Never below the documented minimum (some LAPACKs under-report it). */
  lwork = imax((int)query, 3 * n + imax(n, 5 * n * n + 4 * n));
  double *work = malloc(sizeof *work * (size_t)lwork);
  if (!work) {
    free(iwork);
    return fs_fail(err, "out of memory for an SVD of %dx%d", n, n);
  }
  double *vt = u ? malloc(sizeof *vt * (size_t)n * n + 1) : NULL;
  if (u && !vt) info = -100;
  else dgesdd_(job, &n, &n, a, &ld, s, &dummy, &one, u ? vt : &dummy, u ? &ld : &one, work,
               &lwork, iwork, &info, 1);
  if (u && !info) memcpy(u, a, sizeof *u * (size_t)n * n);
  free(vt), free(work), free(iwork);
  if (info == -100) return fs_fail(err, "out of memory for an SVD of %dx%d", n, n);
  if (info) return fs_fail(err, "dgesdd on a %dx%d matrix failed (info %d)", n, n, info);
  return 0;
}

/* Thin Householder QR of the D x n matrix q (n <= D), in place: q becomes
 * the orthonormal factor, r (n x n) the upper-triangular one. */
static int thin_qr(int D, int n, double *q, double *r, fs_error *err) {
  int info = 0, lwork = -1;
  double query = 0.0, q2 = 0.0;
  double *tau = malloc(sizeof *tau * (size_t)imax(n, 1));
  if (!tau) return fs_fail(err, "out of memory for a QR of %dx%d", D, n);
  dgeqrf_(&D, &n, q, &D, tau, &query, &lwork, &info);
  dorgqr_(&D, &n, &n, q, &D, tau, &q2, &lwork, &info);
  lwork = imax(imax((int)query, (int)q2), imax(n, 1));
  double *work = malloc(sizeof *work * (size_t)lwork);
  if (!work) {
    free(tau);
    return fs_fail(err, "out of memory for a QR of %dx%d", D, n);
  }
  dgeqrf_(&D, &n, q, &D, tau, work, &lwork, &info);
  for (int c = 0; c < n && !info; c++)
    for (int i = 0; i < n; i++) r[i + (size_t)c * n] = i <= c ? q[i + (size_t)c * D] : 0.0;
  if (!info) dorgqr_(&D, &n, &n, q, &D, tau, work, &lwork, &info);
  free(work), free(tau);
  if (info) return fs_fail(err, "QR of a %dx%d head factor failed (info %d)", D, n, info);
  return 0;
}

/* #{s_i > tol s_1} of descending s. */
static int rank_of(const double *s, int n, double tol) {
  int r = 0;
  while (r < n && s[0] > 0.0 && s[r] > tol * s[0]) r++;
  return r;
}

/* ---- head factors and their bases ----------------------------------------- */

/* n head factors F_i = Q_i R_i (D x dh each) and orthonormal bases of their
 * ranges: basis holds the bases side by side, factor i's rank[i] columns
 * starting at column off[i]. */
typedef struct hset {
  int n, D, dh;
  double *Q, *R; /* n x (D x dh), n x (dh x dh) */
  double *basis; /* D x (sum of ranks) */
  int *rank, *off, total;
} hset;

static void hset_free(hset *s) {
  free(s->Q), free(s->R), free(s->basis), free(s->rank), free(s->off);
  memset(s, 0, sizeof *s);
}

static int hset_alloc(hset *s, int n, int D, int dh, fs_error *err) {
  *s = (hset){n, D, dh, NULL, NULL, NULL, NULL, NULL, 0};
  s->Q = malloc(sizeof *s->Q * ((size_t)n * D * dh + 1));
  s->R = malloc(sizeof *s->R * ((size_t)n * dh * dh + 1));
  s->basis = malloc(sizeof *s->basis * ((size_t)n * D * dh + 1));
  s->rank = calloc((size_t)n + 1, sizeof *s->rank);
  s->off = calloc((size_t)n + 1, sizeof *s->off);
  if (s->Q && s->R && s->basis && s->rank && s->off) return 0;
  hset_free(s);
  return fs_fail(err, "out of memory for %d head bases of %dx%d", n, D, dh);
}

/* Bases from the QRs: basis_i = Q_i U_i[:, 1..r_i], U_i the left singular
 * vectors of R_i (or of the core given in cores, for the OV write spaces);
 * sigma (n x dh) gets the singular values if not NULL. */
static int hset_bases(hset *s, const double *cores, double *sigma, fs_error *err) {
  int dh = s->dh;
  double *a = malloc(sizeof *a * ((size_t)dh * dh + 1)), *u = malloc(sizeof *u * ((size_t)dh * dh + 1));
  double *sv = malloc(sizeof *sv * ((size_t)dh + 1));
  int rc = (a && u && sv) ? 0 : fs_fail(err, "out of memory for head bases");
  s->total = 0;
  for (int i = 0; i < s->n && !rc; i++) {
    memcpy(a, (cores ? cores : s->R) + (size_t)i * dh * dh, sizeof *a * (size_t)dh * dh);
    rc = svd_square(dh, a, sv, u, err);
    if (rc) break;
    s->rank[i] = rank_of(sv, dh, fs_heads_rank_tol(s->D, dh));
    s->off[i] = s->total;
    gemm('N', 'N', s->D, s->rank[i], dh, s->Q + (size_t)i * s->D * dh, s->D, u, dh,
         s->basis + (size_t)s->total * s->D, s->D);
    s->total += s->rank[i];
    if (sigma) memcpy(sigma + (size_t)i * dh, sv, sizeof *sv * (size_t)dh);
  }
  free(a), free(u), free(sv);
  return rc;
}

/* The heads of a reader map W [n dh, D] (row-major: the rows of head i are
 * already W_i^T, D x dh column-major) or of a writer map O [D, n dh] (the
 * columns of head i gathered into D x dh). */
static int hset_build(int n, int D, int dh, const double *w, int writer, hset *s, fs_error *err) {
  FS_TRY(hset_alloc(s, n, D, dh, err));
  for (int i = 0; i < n; i++) {
    double *q = s->Q + (size_t)i * D * dh;
    if (!writer) {
      memcpy(q, w + (size_t)i * dh * D, sizeof *q * (size_t)D * dh);
    } else {
      for (int c = 0; c < dh; c++)
        for (int r = 0; r < D; r++) q[r + (size_t)c * D] = w[(size_t)r * n * dh + (size_t)i * dh + c];
    }
    if (thin_qr(D, dh, q, s->R + (size_t)i * dh * dh, err)) {
      hset_free(s);
      return FS_ERR;
    }
  }
  if (hset_bases(s, NULL, NULL, err)) {
    hset_free(s);
    return FS_ERR;
  }
  return 0;
}

/* cores[h] = R_a[h] R_b[g(h)]^T for the n_head query heads. */
static double *circuit_cores(const hset *a, const hset *b, int group, fs_error *err) {
  int dh = a->dh;
  double *c = malloc(sizeof *c * ((size_t)a->n * dh * dh + 1));
  if (!c) {
    fs_fail(err, "out of memory for %d circuits", a->n);
    return NULL;
  }
  for (int h = 0; h < a->n; h++)
    gemm('N', 'T', dh, dh, dh, a->R + (size_t)h * dh * dh, dh, b->R + (size_t)(h / group) * dh * dh,
         dh, c + (size_t)h * dh * dh, dh);
  return c;
}

/* Singular values of every core, n x dh. */
static int core_sigmas(const double *cores, int n, int dh, double *sigma, fs_error *err) {
  double *a = malloc(sizeof *a * ((size_t)dh * dh + 1));
  if (!a) return fs_fail(err, "out of memory for circuit singular values");
  int rc = 0;
  for (int h = 0; h < n && !rc; h++) {
    memcpy(a, cores + (size_t)h * dh * dh, sizeof *a * (size_t)dh * dh);
    rc = svd_square(dh, a, sigma + (size_t)h * dh, NULL, err);
  }
  free(a);
  return rc;
}

/* The OV write spaces: range of W_O^h W_V^g = Q_o[h] (R_o[h] R_v[g]^T) Q_v[g]^T
 * is Q_o[h] times the range of the core. */
static int ov_writes(const hset *o, const hset *v, int group, hset *w, double *sigma,
                     fs_error *err) {
  double *cores = circuit_cores(o, v, group, err);
  if (!cores) return FS_ERR;
  int rc = hset_alloc(w, o->n, o->D, o->dh, err);
  if (!rc) {
    memcpy(w->Q, o->Q, sizeof *w->Q * (size_t)o->n * o->D * o->dh);
    rc = hset_bases(w, cores, sigma, err);
  }
  free(cores);
  return rc;
}

/* ---- overlap matrices ------------------------------------------------------ */

/* Intersection dimensions of bases x (D x p) and y (D x q) whose cosines cs
 * (descending, min(p, q) of them) came from their Gram block. */
static int dims_of(int D, const double *x, int p, const double *y, int q, const double *cs,
                   const double *eps, int neps, int64_t *dim, int64_t stride, fs_error *err) {
  int m = p < q ? p : q;
  double *th = malloc(sizeof *th * ((size_t)m + 1));
  if (!th) return fs_fail(err, "out of memory for principal angles");
  int rc = 0;
  if (m > 0 && cs[0] * cs[0] > 0.5) { /* an angle below pi/4: the sine form */
    rc = fs_principal_angles(D, x, p, y, q, th, err);
  } else {
    for (int i = 0; i < m; i++) th[i] = acos(fmin(cs[i], 1.0));
  }
  for (int e = 0; e < neps && !rc; e++) {
    int64_t c = 0;
    for (int i = 0; i < m; i++) c += th[i] <= eps[e];
    dim[e * stride] = c;
  }
  free(th);
  return rc;
}

/* overlap(a, b) = ||X_a^T Y_b||_F^2 / dh and the dimensions, for the heads
 * of x (rows) and y (columns); same: y is x (symmetric, diagonal exact). */
static int overlap_fill(const hset *x, const hset *y, int same, const double *eps, int neps,
                        fs_head_overlap *ov, fs_error *err) {
  int D = x->D, dh = x->dh, nr = x->n, nc = y->n;
  int64_t stride = (int64_t)nr * nc;
  double *G = malloc(sizeof *G * ((size_t)x->total * y->total + 1));
  double *blk = malloc(sizeof *blk * ((size_t)dh * dh + 1)), *cs = malloc(sizeof *cs * ((size_t)dh + 1));
  int rc = (G && blk && cs) ? 0 : fs_fail(err, "out of memory for a %dx%d head overlap", nr, nc);
  if (!rc && same && x->total > 0) { /* symmetric: the upper triangle is all that is read */
    double one = 1.0, zero = 0.0;
    dsyrk_("U", "T", &x->total, &D, &one, x->basis, &D, &zero, G, &x->total, 1, 1);
  } else if (!rc) {
    gemm('T', 'N', x->total, y->total, D, x->basis, D, y->basis, D, G, imax(x->total, 1));
  }
  for (int a = 0; a < nr && !rc; a++)
    for (int b = same ? a : 0; b < nc && !rc; b++) {
      int p = x->rank[a], q = y->rank[b];
      double s = 0.0;
      for (int j = 0; j < q; j++)
        for (int i = 0; i < p; i++) {
          double g = G[(size_t)(x->off[a] + i) + (size_t)(y->off[b] + j) * x->total];
          blk[i + (size_t)j * p] = g;
          s += g * g;
        }
      int64_t *d = ov->dim + (int64_t)a * nc + b;
      if (same && a == b) { /* a subspace with itself: every angle is 0 */
        s = p;
        for (int e = 0; e < neps; e++) d[e * stride] = p;
      } else if (p > 0 && q > 0) {
        rc = fs_singular_values(blk, q, p, cs, err); /* the p x q block, column-major */
        if (!rc) rc = dims_of(D, x->basis + (size_t)x->off[a] * D, p, y->basis + (size_t)y->off[b] * D,
                              q, cs, eps, neps, d, stride, err);
      } else {
        for (int e = 0; e < neps; e++) d[e * stride] = 0;
      }
      ov->overlap[(size_t)a * nc + b] = s / dh;
      if (same) {
        ov->overlap[(size_t)b * nc + a] = s / dh;
        for (int e = 0; e < neps; e++) ov->dim[e * stride + (int64_t)b * nc + a] = d[e * stride];
      }
    }
  free(G), free(blk), free(cs);
  return rc;
}

/* Redundancy: symmetric kinds over the pairs a < b, the others over all entries. */
static void overlap_stats(fs_head_overlap *ov, int same, double threshold) {
  double sum = 0.0;
  int64_t n = 0, above = 0;
  for (int a = 0; a < ov->nrows; a++)
    for (int b = same ? a + 1 : 0; b < ov->ncols; b++) {
      double v = ov->overlap[(size_t)a * ov->ncols + b];
      sum += v, n++, above += v > threshold;
    }
  ov->mean_offdiag = n ? sum / n : NAN;
  ov->n_redundant = above;
}

static int overlap_kind(const hset *x, const hset *y, int same, const double *eps, int neps,
                        double threshold, fs_head_overlap *ov, fs_error *err) {
  ov->nrows = x->n, ov->ncols = y->n, ov->neps = neps;
  ov->random = (double)x->dh / x->D;
  ov->overlap = malloc(sizeof *ov->overlap * ((size_t)x->n * y->n + 1));
  ov->dim = malloc(sizeof *ov->dim * ((size_t)neps * x->n * y->n + 1));
  if (!ov->overlap || !ov->dim) return fs_fail(err, "out of memory for a head overlap");
  FS_TRY(overlap_fill(x, y, same, eps, neps, ov, err));
  overlap_stats(ov, same, threshold);
  return 0;
}

/* ---- one block --------------------------------------------------------------- */

static int check_map(const char *what, const double *w, int64_t n, fs_error *err) {
  if (!w) return fs_fail(err, "%s map missing", what);
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(w[i])) return fs_fail(err, "%s map is not finite (entry %lld)", what, (long long)i);
  return 0;
}

static int check_maps(const fs_heads_maps *x, int ov_only, fs_error *err) {
  if (x->D < 1 || x->n_head < 1 || x->n_head_kv < 1 || x->head_dim < 1 || x->head_dim > x->D ||
      x->n_head % x->n_head_kv)
    return fs_fail(err, "heads: %d query heads, %d key/value heads of size %d in width %d do not fit",
                   x->n_head, x->n_head_kv, x->head_dim, x->D);
  int64_t q = (int64_t)x->n_head * x->head_dim * x->D, kv = (int64_t)x->n_head_kv * x->head_dim * x->D;
  if (!ov_only) FS_TRY(check_map("Q", x->q, q, err));
  if (!ov_only) FS_TRY(check_map("K", x->k, kv, err));
  FS_TRY(check_map("V", x->v, kv, err));
  return check_map("O", x->o, q, err);
}

static int result_alloc(const fs_heads_maps *c, int neps, fs_heads_result *r, fs_error *err) {
  memset(r, 0, sizeof *r);
  r->D = c->D, r->n_head = c->n_head, r->n_head_kv = c->n_head_kv, r->head_dim = c->head_dim;
  r->neps = neps;
  size_t hd = (size_t)c->n_head * c->head_dim + 1;
  r->rank = calloc((size_t)c->n_head * FS_HEAD_NRANKS + 1, sizeof *r->rank);
  r->qk_sigma = calloc(hd, sizeof *r->qk_sigma);
  r->ov_sigma = calloc(hd, sizeof *r->ov_sigma);
  if (r->rank && r->qk_sigma && r->ov_sigma) return 0;
  return fs_fail(err, "out of memory for the results of %d heads", c->n_head);
}

/* The composition of the OV writes of the block before (o, v of prev) with
 * this block's reads. */
static int compose(const fs_heads_maps *prev, const hset *rd[3], const double *eps, int neps,
                   double threshold, fs_heads_result *res, fs_error *err) {
  hset o = {0}, v = {0}, w = {0};
  int D = prev->D, dh = prev->head_dim, rc = 0;
  double *sig = malloc(sizeof *sig * ((size_t)prev->n_head * dh + 1));
  if (!sig) return fs_fail(err, "out of memory for the composition");
  rc = hset_build(prev->n_head, D, dh, prev->o, 1, &o, err);
  if (!rc) rc = hset_build(prev->n_head_kv, D, dh, prev->v, 0, &v, err);
  if (!rc) rc = ov_writes(&o, &v, prev->n_head / prev->n_head_kv, &w, sig, err);
  for (int k = 0; k < 3 && !rc; k++)
    rc = overlap_kind(&w, rd[k], 0, eps, neps, threshold, &res->kind[FS_HEAD_OV_Q + k], err);
  hset_free(&o), hset_free(&v), hset_free(&w);
  free(sig);
  if (!rc) res->composed = 1;
  return rc;
}

static int compute(const fs_heads_maps *c, const fs_heads_maps *prev, const double *eps, int neps,
                   double threshold, fs_heads_result *res, fs_error *err) {
  int D = c->D, dh = c->head_dim, H = c->n_head, group = c->n_head / c->n_head_kv, rc;
  hset s[4] = {{0}};
  const double *maps[4] = {c->q, c->k, c->v, c->o};
  const int n[4] = {H, c->n_head_kv, c->n_head_kv, H};
  rc = result_alloc(c, neps, res, err);
  for (int k = 0; k < 4 && !rc; k++) rc = hset_build(n[k], D, dh, maps[k], k == 3, &s[k], err);
  for (int k = 0; k < 4 && !rc; k++)
    rc = overlap_kind(&s[k], &s[k], 1, eps, neps, threshold, &res->kind[k], err);
  double *qk = rc ? NULL : circuit_cores(&s[0], &s[1], group, err);
  if (!rc) rc = qk ? core_sigmas(qk, H, dh, res->qk_sigma, err) : FS_ERR;
  free(qk);
  hset w = {0};
  if (!rc) rc = ov_writes(&s[3], &s[2], group, &w, res->ov_sigma, err);
  for (int h = 0; h < H && !rc; h++) {
    int *r = res->rank + (size_t)h * FS_HEAD_NRANKS;
    r[FS_HEAD_RANK_Q] = s[0].rank[h], r[FS_HEAD_RANK_K] = s[1].rank[h / group];
    r[FS_HEAD_RANK_V] = s[2].rank[h / group], r[FS_HEAD_RANK_O] = s[3].rank[h];
    r[FS_HEAD_RANK_OV] = w.rank[h];
  }
  hset_free(&w);
  const hset *rd[3] = {&s[0], &s[1], &s[2]};
  if (!rc && prev) rc = compose(prev, rd, eps, neps, threshold, res, err);
  for (int k = 0; k < 4; k++) hset_free(&s[k]);
  return rc;
}

int fs_heads_compute(const fs_heads_maps *cur, const fs_heads_maps *prev, const double *eps,
                     int neps, double threshold, fs_heads_result *res, fs_error *err) {
  memset(res, 0, sizeof *res);
  FS_TRY(check_maps(cur, 0, err));
  if (neps < 0 || (neps > 0 && !eps)) return fs_fail(err, "heads: %d angle tolerances", neps);
  if (prev) {
    FS_TRY(check_maps(prev, 1, err));
    if (prev->D != cur->D || prev->head_dim != cur->head_dim)
      return fs_fail(err, "heads: the block before has width %d and head size %d, this one %d and %d",
                     prev->D, prev->head_dim, cur->D, cur->head_dim);
  }
  if (compute(cur, prev, eps, neps, threshold, res, err)) {
    fs_heads_result_free(res);
    return FS_ERR;
  }
  return 0;
}

void fs_heads_result_free(fs_heads_result *res) {
  free(res->rank), free(res->qk_sigma), free(res->ov_sigma);
  for (int k = 0; k < FS_HEAD_NKINDS; k++) free(res->kind[k].overlap), free(res->kind[k].dim);
  memset(res, 0, sizeof *res);
}

/* ---- reading a block ------------------------------------------------------------ */

/* One map [out, in] row-major, transposing what fs_load_matrix returns when
 * the layer applies the transpose of the stored slice. */
static int load_map(const fs_model *m, const fs_matrix *x, double **out, fs_error *err) {
  double *w = NULL;
  FS_TRY(fs_load_matrix(m, x, &w, err));
  if (!x->transposed) {
    *out = w;
    return 0;
  }
  int64_t r = fs_matrix_rows(x), c = fs_matrix_cols(x);
  double *t = malloc(sizeof *t * (size_t)(r * c + 1));
  if (!t) {
    free(w);
    return fs_fail(err, "%s: matrix '%s': out of memory", m->path, x->name);
  }
  for (int64_t i = 0; i < r; i++)
    for (int64_t j = 0; j < c; j++) t[j * r + i] = w[i * c + j];
  free(w);
  *out = t;
  return 0;
}

int fs_heads_load(const fs_model *m, const fs_head_block *hb, int ov_only, fs_heads_maps *maps,
                  fs_error *err) {
  memset(maps, 0, sizeof *maps);
  maps->D = (int)fs_matrix_in_dim(&hb->q);
  maps->n_head = hb->n_head, maps->n_head_kv = hb->n_head_kv, maps->head_dim = hb->head_dim;
  int rc = 0;
  if (!ov_only) rc = load_map(m, &hb->q, &maps->q, err);
  if (!rc && !ov_only) rc = load_map(m, &hb->k, &maps->k, err);
  if (!rc) rc = load_map(m, &hb->v, &maps->v, err);
  if (!rc) rc = load_map(m, &hb->o, &maps->o, err);
  if (rc) fs_heads_maps_free(maps);
  return rc;
}

void fs_heads_maps_free(fs_heads_maps *maps) {
  free(maps->q), free(maps->k), free(maps->v), free(maps->o);
  memset(maps, 0, sizeof *maps);
}

/* ---- the stage ------------------------------------------------------------------- */

static int run_item(fs_run *R, int64_t i, const double *eps, fs_error *err) {
  const fs_plan_heads *w = &R->plan.heads[i];
  const fs_plan_model *pm = &R->plan.models[w->model];
  const fs_head_block *hb = fs_plan_head_block_of(&R->plan, i);
  fs_heads_maps cur = {0}, prev = {0};
  int rc = fs_fault_hit(FS_FAULT_HEADS, w->model)
               ? fs_fail(err, "cannot read the attention maps (injected fault)")
               : fs_heads_load(&pm->model, hb, 0, &cur, err);
  if (!rc && w->prev >= 0) rc = fs_heads_load(&pm->model, fs_plan_head_block_of(&R->plan, w->prev), 1, &prev, err);
  if (!rc)
    rc = fs_heads_compute(&cur, w->prev >= 0 ? &prev : NULL, eps, R->opts->neps,
                          R->opts->head_threshold, &R->hres[i], err);
  fs_heads_maps_free(&cur), fs_heads_maps_free(&prev);
  if (rc) fs_error_prefix(err, "%s: attention heads of block %d", pm->path, hb->block);
  return rc;
}

void fs_heads_stage(fs_run *R) {
  double eps[FS_MAX_EPS];
  for (int e = 0; e < R->opts->neps; e++) eps[e] = R->opts->eps_deg[e] * (3.14159265358979323846 / 180.0);
  for (int64_t k = 0; k < R->nmine_heads; k++) {
    int64_t i = R->mine_heads[k];
    double t0 = MPI_Wtime();
    fs_error e;
    fs_error_clear(&e);
    if (run_item(R, i, eps, &e)) {
      fs_run_set_error(&R->heads_error[i], e.msg);
      if (R->opts->log) fprintf(R->opts->log, "flagscope: error: %s\n", e.msg);
    } else {
      R->hdone[i] = 1;
    }
    R->hseconds[i] = MPI_Wtime() - t0;
  }
}
