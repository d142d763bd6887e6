/*
 * fs_heads.c - attention-head diagnostics (SPEC 3.7; see fs_heads.h for the
 * method and its references, docs/mathematics.md section 11 for the formulas).
 *
 * Every head factor F (D x d_h) is reduced once to its thin QR F = Q R; the
 * bases, the circuits and the composition all come from the small R factors
 * and the Q's, so no D x D matrix is ever formed.  The overlaps of a kind
 * come from the Gram B_all^T B_all' of all heads' bases, formed a panel of
 * rows at a time (BLAS-3, a few MB) and cut into head blocks.  A block's maps
 * are read one at a time and dropped once their bases are built, so the
 * stage holds one map, one set of bases, the OV writes of the block before
 * and a panel: about 3 D^2 doubles for a square block, never all six maps.
 *
 * LAPACK/BLAS through the prototypes and checked wrappers of fs_lapack.h.
 */
#include "fs_heads.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "fs_fault.h"
#include "fs_lapack.h"
#include "fs_load.h"
#include "fs_pair.h"
#include "fs_run.h"

const char *fs_head_kind_name(fs_head_kind k) {
  static const char *names[FS_HEAD_NKINDS] = {"Q", "K", "V", "O", "OV>Q", "OV>K", "OV>V"};
  return (unsigned)k < FS_HEAD_NKINDS ? names[k] : "?";
}

double fs_heads_rank_tol(int D, int n) { return (D > n ? D : n) * DBL_EPSILON; }

static int imax(int a, int b) { return a > b ? a : b; }

/* ---- dense kernels (column-major) ---------------------------------------- */

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

/* Thin Householder QR of the D x n matrix a (n <= D) in compact WY form
 * (dgeqrt with one block of n: its recursive panel, dgeqrt3, is BLAS-3 all
 * the way down, where dgeqrf falls back to the unblocked dgeqr2 for n below
 * its crossover of 128): a keeps the Householder vectors V below the
 * diagonal, r (n x n) gets R, t (n x n) the T of Q = I - V T V^T. */
static int qr_wy(int D, int n, double *a, double *r, double *t, fs_error *err) {
  int info = 0;
  double *work = malloc(sizeof *work * ((size_t)n * n + 1));
  if (!work) return fs_fail(err, "out of memory for a QR of %dx%d", D, n);
  dgeqrt_(&D, &n, &n, a, &D, t, &n, work, &info);
  free(work);
  if (info) return fs_fail(err, "QR of a %dx%d head factor failed (info %d)", D, n, info);
  for (int c = 0; c < n; c++)
    for (int i = 0; i < n; i++) r[i + (size_t)c * n] = i <= c ? a[i + (size_t)c * D] : 0.0;
  return 0;
}

/* dst (D x m) = Q [u; 0] for the first m columns of u (n x n), Q from qr_wy,
 * applied by blocked reflectors (dgemqrt) without ever being formed. */
static int qr_apply(int D, int n, const double *v, const double *t, const double *u, int m,
                    double *dst, fs_error *err) {
  int info = 0;
  if (m < 1) return 0;
  double *work = malloc(sizeof *work * ((size_t)n * m + 1));
  if (!work) return fs_fail(err, "out of memory applying a %dx%d Q", D, n);
  for (int c = 0; c < m; c++) {
    memcpy(dst + (size_t)c * D, u + (size_t)c * n, sizeof *dst * (size_t)n);
    memset(dst + (size_t)c * D + n, 0, sizeof *dst * (size_t)(D - n));
  }
  dgemqrt_("L", "N", &D, &m, &n, &n, v, &D, t, &n, dst, &D, work, &info, 1, 1);
  free(work);
  if (info) return fs_fail(err, "applying the Q of a %dx%d head factor failed (info %d)", D, n, info);
  return 0;
}

/* #{s_i > tol s_1} of descending s. */
static int rank_of(const double *s, int n, double tol) {
  int r = 0;
  while (r < n && s[0] > 0.0 && s[r] > tol * s[0]) r++;
  return r;
}

/* ---- where a block's maps come from ------------------------------------------ */

enum { MAP_Q, MAP_K, MAP_V, MAP_O };
static const char *const map_name[4] = {"Q", "K", "V", "O"};

/* One map M [out, in] as the layer applies it: M(a, b) = w[a sa + b sb]. */
typedef struct map_view {
  double *w;
  int64_t sa, sb;
  int owned; /* w was read for this view and is freed with it */
} map_view;

/* A block's maps: in memory ([out, in] row-major, fs_heads_compute) or read
 * from the checkpoint one at a time (the stage), so that a block never holds
 * more than one map. */
typedef struct block_src {
  int D, n_head, n_head_kv, head_dim;
  const fs_heads_maps *mem;
  const fs_model *model;
  const fs_head_block *hb;
} block_src;

static int map_heads(const block_src *s, int which) {
  return which == MAP_K || which == MAP_V ? s->n_head_kv : s->n_head;
}

static void map_put(map_view *v) {
  if (v->owned) free(v->w);
  memset(v, 0, sizeof *v);
}

static int check_finite(const char *what, const double *w, int64_t n, fs_error *err) {
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(w[i])) return fs_fail(err, "%s map is not finite (entry %lld)", what, (long long)i);
  return 0;
}

/* Reads what fs_load_matrix returns (the stored slice, rows x cols) and views
 * it as [out, in]: the stored slice itself, or its transpose, never copied. */
static int map_read(const block_src *s, int which, map_view *v, fs_error *err) {
  const fs_matrix *x[4] = {&s->hb->q, &s->hb->k, &s->hb->v, &s->hb->o};
  const fs_matrix *m = x[which];
  int64_t cols = fs_matrix_cols(m), in = s->D;
  int64_t out = (int64_t)map_heads(s, which) * s->head_dim;
  if (which == MAP_O) out = s->D, in = (int64_t)s->n_head * s->head_dim;
  if (fs_matrix_out_dim(m) != out || fs_matrix_in_dim(m) != in)
    return fs_fail(err, "%s map '%s' is %lldx%lld, the heads need %lldx%lld", map_name[which], m->name,
                   (long long)fs_matrix_out_dim(m), (long long)fs_matrix_in_dim(m), (long long)out,
                   (long long)in);
  FS_TRY(fs_load_matrix(s->model, m, &v->w, err));
  v->owned = 1;
  v->sa = m->transposed ? 1 : cols, v->sb = m->transposed ? cols : 1;
  return 0;
}

static int map_get(const block_src *s, int which, map_view *v, fs_error *err) {
  memset(v, 0, sizeof *v);
  int64_t in = which == MAP_O ? (int64_t)s->n_head * s->head_dim : s->D;
  int64_t n = (int64_t)(which == MAP_O ? s->D : (int64_t)map_heads(s, which) * s->head_dim) * in;
  if (s->mem) {
    double *const w[4] = {s->mem->q, s->mem->k, s->mem->v, s->mem->o};
    if (!w[which]) return fs_fail(err, "%s map missing", map_name[which]);
    *v = (map_view){w[which], in, 1, 0};
  } else {
    FS_TRY(map_read(s, which, v, err));
  }
  if (check_finite(map_name[which], v->w, n, err)) {
    map_put(v);
    return FS_ERR;
  }
  return 0;
}

/* ---- head factors and their bases ----------------------------------------- */

/* n head factors F_i = Q_i R_i (D x dh each), then, in place of the Q_i,
 * orthonormal bases of their ranges: factor i's rank[i] columns from column
 * off[i] of B. */
typedef struct hset {
  int n, D, dh;
  double *B;     /* n x (D x dh): the Householder vectors of the Q_i, then the bases side by side */
  double *R, *T; /* n x (dh x dh): R_i, and the T_i of Q_i = I - V_i T_i V_i^T */
  int *rank, *off, total;
} hset;

static void hset_free(hset *s) {
  free(s->B), free(s->R), free(s->T), free(s->rank), free(s->off);
  memset(s, 0, sizeof *s);
}

/* Only the bases are dropped (R and the ranks stay for the circuits). */
static void hset_drop_bases(hset *s) {
  free(s->B), free(s->T);
  s->B = s->T = NULL;
}

static int hset_alloc(hset *s, int n, int D, int dh, fs_error *err) {
  *s = (hset){n, D, dh, NULL, NULL, NULL, NULL, NULL, 0};
  s->B = malloc(sizeof *s->B * ((size_t)n * D * dh + 1));
  s->R = malloc(sizeof *s->R * ((size_t)n * dh * dh + 1));
  s->T = malloc(sizeof *s->T * ((size_t)n * dh * dh + 1));
  s->rank = calloc((size_t)n + 1, sizeof *s->rank);
  s->off = calloc((size_t)n + 1, sizeof *s->off);
  if (s->B && s->R && s->T && s->rank && s->off) return 0;
  hset_free(s);
  return fs_fail(err, "out of memory for %d head bases of %dx%d", n, D, dh);
}

/* dst (D x dh, column-major) = the D x dh strided view w(r, c) = w[r sr + c sc],
 * in tiles of rows so that a large stride still reuses each cache line dh times. */
static void gather(const double *w, int64_t sr, int64_t sc, int D, int dh, double *dst) {
  for (int r0 = 0; r0 < D; r0 += 64) {
    int r1 = r0 + 64 < D ? r0 + 64 : D;
    for (int c = 0; c < dh; c++)
      for (int r = r0; r < r1; r++) dst[r + (size_t)c * D] = w[r * sr + c * sc];
  }
}

/* The heads of a map and their thin QRs: reader head i is F_i = (rows
 * i dh .. of M)^T, writer head i the columns i dh .. of M. */
static int hset_factor(const map_view *v, int writer, int n, int D, int dh, hset *s, fs_error *err) {
  FS_TRY(hset_alloc(s, n, D, dh, err));
  for (int i = 0; i < n; i++) {
    double *q = s->B + (size_t)i * D * dh;
    int64_t first = (int64_t)i * dh;
    if (!writer) gather(v->w + first * v->sa, v->sb, v->sa, D, dh, q);
    else gather(v->w + first * v->sb, v->sa, v->sb, D, dh, q);
    if (qr_wy(D, dh, q, s->R + (size_t)i * dh * dh, s->T + (size_t)i * dh * dh, err)) {
      hset_free(s);
      return FS_ERR;
    }
  }
  return 0;
}

/* In place of the Q_i, the bases Q_i U_i[:, 1..r_i], U_i the left singular
 * vectors of R_i (or of the core given in cores, for the OV write spaces).
 * Basis i lands at column off[i] <= i dh, so it never overwrites the
 * Householder vectors of a Q_j not yet used. */
static int hset_bases(hset *s, const double *cores, fs_error *err) {
  int D = s->D, dh = s->dh;
  double *a = malloc(sizeof *a * ((size_t)dh * dh + 1)), *u = malloc(sizeof *u * ((size_t)dh * dh + 1));
  double *sv = malloc(sizeof *sv * ((size_t)dh + 1)), *t = malloc(sizeof *t * ((size_t)D * dh + 1));
  int rc = (a && u && sv && t) ? 0 : fs_fail(err, "out of memory for head bases");
  s->total = 0;
  for (int i = 0; i < s->n && !rc; i++) {
    memcpy(a, (cores ? cores : s->R) + (size_t)i * dh * dh, sizeof *a * (size_t)dh * dh);
    rc = svd_square(dh, a, sv, u, err);
    if (rc) break;
    s->rank[i] = rank_of(sv, dh, fs_heads_rank_tol(D, dh));
    s->off[i] = s->total;
    rc = qr_apply(D, dh, s->B + (size_t)i * D * dh, s->T + (size_t)i * dh * dh, u, s->rank[i], t, err);
    if (rc) break;
    memcpy(s->B + (size_t)s->total * D, t, sizeof *t * (size_t)D * s->rank[i]);
    s->total += s->rank[i];
  }
  free(a), free(u), free(sv), free(t);
  return rc;
}

/* Factors and bases of one map, read and released here. */
static int hset_build(const block_src *src, int which, hset *s, fs_error *err) {
  map_view v;
  FS_TRY(map_get(src, which, &v, err));
  int rc = hset_factor(&v, which == MAP_O, map_heads(src, which), src->D, src->head_dim, s, err);
  map_put(&v);
  if (!rc) rc = hset_bases(s, NULL, err);
  if (rc) hset_free(s);
  return rc;
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
    fs_gemm('N', 'T', dh, dh, dh, 1.0, a->R + (size_t)h * dh * dh, dh,
            b->R + (size_t)(h / group) * dh * dh, dh, 0.0, c + (size_t)h * dh * dh, dh);
  return c;
}

/* Singular values of every circuit, n x dh. */
static int circuit_sigmas(const hset *a, const hset *b, int group, double *sigma, fs_error *err) {
  int dh = a->dh;
  double *cores = circuit_cores(a, b, group, err);
  if (!cores) return FS_ERR;
  int rc = 0;
  for (int h = 0; h < a->n && !rc; h++)
    rc = svd_square(dh, cores + (size_t)h * dh * dh, sigma + (size_t)h * dh, NULL, err);
  free(cores);
  return rc;
}

/* The OV write spaces of a block: range of W_O^h W_V^g = Q_o[h] (R_o[h]
 * R_v[g]^T) Q_v[g]^T is Q_o[h] times the range of the core, so V needs only
 * its R and O its Q and R. */
static int ov_writes(const block_src *src, hset *w, fs_error *err) {
  map_view mv;
  hset v = {0};
  int rc = map_get(src, MAP_V, &mv, err);
  if (!rc) rc = hset_factor(&mv, 0, src->n_head_kv, src->D, src->head_dim, &v, err);
  map_put(&mv);
  if (!rc) rc = map_get(src, MAP_O, &mv, err);
  if (!rc) rc = hset_factor(&mv, 1, src->n_head, src->D, src->head_dim, w, err);
  map_put(&mv);
  double *cores = rc ? NULL : circuit_cores(w, &v, src->n_head / src->n_head_kv, err);
  if (!rc) rc = cores ? hset_bases(w, cores, err) : FS_ERR;
  free(cores);
  hset_free(&v);
  if (rc) hset_free(w);
  return rc;
}

/* ---- overlap matrices ------------------------------------------------------ */

/* Cosines closer than this to a cos(eps) leave the side of eps undecided:
 * twice the worst-case rounding of a Gram entry of unit columns (D u, dgemm)
 * summed over a dh x dh block, plus the block's SVD. */
static double cos_tol(int D, int dh) { return 2.0 * (D + dh) * dh * DBL_EPSILON; }

/* What one head pair needs: the p x q block of cosines (column-major), its
 * squared Frobenius norm s, the bases behind it and the tolerances. */
typedef struct pair_in {
  int D, p, q;
  const double *x, *y, *blk;
  double s;
} pair_in;

typedef struct dims_ctx {
  const double *eps, *cos_eps; /* neps of each */
  int neps;
  double screen; /* cos(max eps) - tol: a largest cosine below it counts nothing */
  double tol;
  double *cs, *th, *work, *work2; /* dh, dh, dh x dh and dh x dh scratch */
  int64_t n_svd, n_sine;       /* pairs that needed the block's SVD, the sine form */
} dims_ctx;

/* Whether the largest cosine is surely below c->screen, from upper bounds
 * on lambda_max(S), S = C^T C (m x m, of the smaller side): tr S = s, then
 * ||S^(2^j)||_F^(1/2^j) for j = 0, 1, 2, 3 (one product each, tighter each
 * time: ~ m^(1/2^(j+1)) sigma_max^2).  Heads in general position (cosines
 * near sqrt(d_h / D)) pass at j <= 2 for a fraction of an SVD's cost. */
static int below_screen(const pair_in *in, dims_ctx *c) {
  double lim = c->screen * c->screen;
  if (c->screen <= 0.0) return 0;
  if (in->s < lim) return 1;
  int p = in->p, q = in->q, m = p < q ? p : q, k = p < q ? q : p;
  double *S = c->work, *S2 = c->work2;
  if (p <= q) fs_gemm('N', 'T', m, m, k, 1.0, in->blk, p, in->blk, p, 0.0, S, m);
  else fs_gemm('T', 'N', m, m, k, 1.0, in->blk, p, in->blk, p, 0.0, S, m);
  for (int j = 0; j <= 3; j++) {
    double f = 0.0;
    for (size_t i = 0; i < (size_t)m * m; i++) f += S[i] * S[i];
    if (pow(sqrt(f), 1.0 / (1 << j)) < lim) return 1;
    if (j == 3) break;
    fs_gemm('N', 'N', m, m, m, 1.0, S, m, S, m, 0.0, S2, m);
    double *t = S;
    S = S2, S2 = t;
  }
  return 0;
}

/* #{theta_i <= eps_e} = #{cos theta_i >= cos eps_e}.  Upper bounds on the
 * largest cosine come first (below_screen); the block's singular values
 * decide the rest, unless one lies within tol of a cos eps_e, where only the
 * sine form (fs_principal_angles, accurate for small angles) can tell the
 * side. */
static int pair_dims(const pair_in *in, dims_ctx *c, int64_t *dim, int64_t stride, fs_error *err) {
  int p = in->p, q = in->q, m = p < q ? p : q;
  for (int e = 0; e < c->neps; e++) dim[e * stride] = 0;
  if (c->neps == 0 || below_screen(in, c)) return 0;
  c->n_svd++;
  memcpy(c->work, in->blk, sizeof *c->work * (size_t)p * q);
  FS_TRY(fs_singular_values_cm(p, q, c->work, c->cs, err));
  int undecided = 0;
  for (int e = 0; e < c->neps; e++)
    for (int i = 0; i < m; i++) undecided |= fabs(c->cs[i] - c->cos_eps[e]) <= c->tol;
  if (!undecided) {
    for (int e = 0; e < c->neps; e++)
      for (int i = 0; i < m; i++) dim[e * stride] += c->cs[i] >= c->cos_eps[e];
    return 0;
  }
  c->n_sine++;
  FS_TRY(fs_principal_angles(in->D, in->x, p, in->y, q, c->th, err));
  for (int e = 0; e < c->neps; e++)
    for (int i = 0; i < m; i++) dim[e * stride] += c->th[i] <= c->eps[e];
  return 0;
}

/* One entry (a, b) from the Gram panel P (rows: heads a0.. of x; columns:
 * the bases of y from column col0; leading dimension ld). */
static int overlap_entry(const hset *x, const hset *y, int same, int a, int b, const double *P,
                         int a0, int col0, int ld, double *blk, dims_ctx *c, fs_head_overlap *ov,
                         fs_error *err) {
  int p = x->rank[a], q = y->rank[b], nc = y->n, dh = x->dh;
  int64_t stride = (int64_t)x->n * nc, *d = ov->dim + (int64_t)a * nc + b;
  const double *g0 = P + (x->off[a] - x->off[a0]) + (size_t)(y->off[b] - col0) * ld;
  double s = 0.0;
  for (int j = 0; j < q; j++)
    for (int i = 0; i < p; i++) {
      double g = g0[i + (size_t)j * ld];
      blk[i + (size_t)j * p] = g;
      s += g * g;
    }
  if (same && a == b) { /* a subspace with itself: every angle is 0 */
    s = p;
    for (int e = 0; e < c->neps; e++) d[e * stride] = p;
  } else if (p > 0 && q > 0) {
    pair_in in = {x->D, p, q, x->B + (size_t)x->off[a] * x->D, y->B + (size_t)y->off[b] * y->D, blk, s};
    FS_TRY(pair_dims(&in, c, d, stride, err));
  } else {
    for (int e = 0; e < c->neps; e++) d[e * stride] = 0;
  }
  ov->overlap[(size_t)a * nc + b] = s / dh;
  if (same) {
    ov->overlap[(size_t)b * nc + a] = s / dh;
    for (int e = 0; e < c->neps; e++) ov->dim[e * stride + (int64_t)b * nc + a] = d[e * stride];
  }
  return 0;
}

/* Rows of the Gram X^T Y at most this many basis vectors at a time: a few
 * MB of panel instead of the whole (H dh)^2 Gram, and still BLAS-3. */
enum { PANEL_ROWS = 256 };

/* overlap(a, b) = ||X_a^T Y_b||_F^2 / dh and the dimensions, for the heads
 * of x (rows) and y (columns); same: y is x (symmetric: only the blocks
 * b >= a are formed, the diagonal is exact). */
static int overlap_fill(const hset *x, const hset *y, int same, dims_ctx *c, fs_head_overlap *ov,
                        fs_error *err) {
  int D = x->D, dh = x->dh, nr = x->n, nc = y->n;
  int prow = imax(PANEL_ROWS, dh);
  double *P = malloc(sizeof *P * ((size_t)prow * y->total + 1));
  double *blk = malloc(sizeof *blk * ((size_t)dh * dh + 1));
  int rc = (P && blk) ? 0 : fs_fail(err, "out of memory for a %dx%d head overlap", nr, nc);
  for (int a0 = 0, a1; a0 < nr && !rc; a0 = a1) {
    int rows = x->rank[a0];
    for (a1 = a0 + 1; a1 < nr && rows + x->rank[a1] <= prow; a1++) rows += x->rank[a1];
    int col0 = same ? y->off[a0] : 0, ld = imax(rows, 1);
    fs_gemm('T', 'N', rows, y->total - col0, D, 1.0, x->B + (size_t)x->off[a0] * D, D,
            y->B + (size_t)col0 * D, D, 0.0, P, ld);
    for (int a = a0; a < a1 && !rc; a++)
      for (int b = same ? a : 0; b < nc && !rc; b++)
        rc = overlap_entry(x, y, same, a, b, P, a0, col0, ld, blk, c, ov, err);
  }
  free(P), free(blk);
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

static int overlap_kind(const hset *x, const hset *y, int same, dims_ctx *c, double threshold,
                        fs_head_overlap *ov, fs_error *err) {
  ov->nrows = x->n, ov->ncols = y->n, ov->neps = c->neps;
  ov->random = (double)x->dh / x->D;
  ov->overlap = malloc(sizeof *ov->overlap * ((size_t)x->n * y->n + 1));
  ov->dim = malloc(sizeof *ov->dim * ((size_t)c->neps * x->n * y->n + 1));
  if (!ov->overlap || !ov->dim) return fs_fail(err, "out of memory for a head overlap");
  FS_TRY(overlap_fill(x, y, same, c, ov, err));
  overlap_stats(ov, same, threshold);
  return 0;
}

static int dims_init(dims_ctx *c, const double *eps, int neps, int D, int dh, fs_error *err) {
  memset(c, 0, sizeof *c);
  c->eps = eps, c->neps = neps, c->tol = cos_tol(D, dh);
  double *ce = malloc(sizeof *ce * ((size_t)neps + 1));
  c->cs = malloc(sizeof *c->cs * ((size_t)dh + 1));
  c->th = malloc(sizeof *c->th * ((size_t)dh + 1));
  c->work = malloc(sizeof *c->work * ((size_t)dh * dh + 1));
  c->work2 = malloc(sizeof *c->work2 * ((size_t)dh * dh + 1));
  c->cos_eps = ce;
  if (!ce || !c->cs || !c->th || !c->work || !c->work2) return fs_fail(err, "out of memory for head angles");
  double lo = 1.0;
  for (int e = 0; e < neps; e++) ce[e] = cos(eps[e]), lo = fmin(lo, ce[e]);
  c->screen = lo - c->tol;
  return 0;
}

static void dims_free(dims_ctx *c) {
  free((double *)c->cos_eps), free(c->cs), free(c->th), free(c->work), free(c->work2);
  memset(c, 0, sizeof *c);
}

/* ---- one block --------------------------------------------------------------- */

static int check_shape(const fs_heads_maps *x, fs_error *err) {
  if (x->D < 1 || x->n_head < 1 || x->n_head_kv < 1 || x->head_dim < 1 || x->head_dim > x->D ||
      x->n_head % x->n_head_kv)
    return fs_fail(err, "heads: %d query heads, %d key/value heads of size %d in width %d do not fit",
                   x->n_head, x->n_head_kv, x->head_dim, x->D);
  return 0;
}

static int result_alloc(const block_src *c, int neps, fs_heads_result *r, fs_error *err) {
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

/* The circuits from the R factors, and every per-head rank. */
static int circuits(const hset s[4], int group, fs_heads_result *res, fs_error *err) {
  int H = res->n_head, dh = res->head_dim;
  FS_TRY(circuit_sigmas(&s[MAP_Q], &s[MAP_K], group, res->qk_sigma, err));
  FS_TRY(circuit_sigmas(&s[MAP_O], &s[MAP_V], group, res->ov_sigma, err));
  for (int h = 0; h < H; h++) {
    int *r = res->rank + (size_t)h * FS_HEAD_NRANKS;
    r[FS_HEAD_RANK_Q] = s[MAP_Q].rank[h], r[FS_HEAD_RANK_K] = s[MAP_K].rank[h / group];
    r[FS_HEAD_RANK_V] = s[MAP_V].rank[h / group], r[FS_HEAD_RANK_O] = s[MAP_O].rank[h];
    r[FS_HEAD_RANK_OV] = rank_of(res->ov_sigma + (size_t)h * dh, dh, fs_heads_rank_tol(res->D, dh));
  }
  return 0;
}

/* One map at a time: its bases, its overlaps with itself and (Q, K, V) with
 * the OV writes w of the block before; then only its R factors are kept.
 * Memory: one map, one set of bases, w and a Gram panel. */
static int compute(const block_src *cur, const block_src *prev, const double *eps, int neps,
                   double threshold, fs_heads_result *res, fs_error *err) {
  hset s[4] = {{0}}, w = {0};
  dims_ctx c;
  int rc = dims_init(&c, eps, neps, cur->D, cur->head_dim, err);
  if (!rc) rc = result_alloc(cur, neps, res, err);
  if (!rc && prev) rc = ov_writes(prev, &w, err);
  for (int k = MAP_Q; k <= MAP_O && !rc; k++) {
    rc = hset_build(cur, k, &s[k], err);
    if (!rc) rc = overlap_kind(&s[k], &s[k], 1, &c, threshold, &res->kind[FS_HEAD_Q + k], err);
    if (!rc && prev && k != MAP_O)
      rc = overlap_kind(&w, &s[k], 0, &c, threshold, &res->kind[FS_HEAD_OV_Q + k], err);
    hset_drop_bases(&s[k]);
  }
  if (!rc) rc = circuits(s, cur->n_head / cur->n_head_kv, res, err);
  if (!rc) res->composed = prev != NULL, res->n_svd = c.n_svd, res->n_sine = c.n_sine;
  for (int k = 0; k < 4; k++) hset_free(&s[k]);
  hset_free(&w);
  dims_free(&c);
  return rc;
}

static int compute_checked(const block_src *cur, const block_src *prev, const double *eps, int neps,
                           double threshold, fs_heads_result *res, fs_error *err) {
  memset(res, 0, sizeof *res);
  fs_heads_maps shape = {cur->D, cur->n_head, cur->n_head_kv, cur->head_dim, NULL, NULL, NULL, NULL};
  FS_TRY(check_shape(&shape, err));
  if (neps < 0 || (neps > 0 && !eps)) return fs_fail(err, "heads: %d angle tolerances", neps);
  if (prev) {
    fs_heads_maps ps = {prev->D, prev->n_head, prev->n_head_kv, prev->head_dim, NULL, NULL, NULL, NULL};
    FS_TRY(check_shape(&ps, err));
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

static block_src mem_src(const fs_heads_maps *m) {
  return (block_src){m->D, m->n_head, m->n_head_kv, m->head_dim, m, NULL, NULL};
}

int fs_heads_compute(const fs_heads_maps *cur, const fs_heads_maps *prev, const double *eps,
                     int neps, double threshold, fs_heads_result *res, fs_error *err) {
  block_src c = mem_src(cur), p = prev ? mem_src(prev) : c;
  return compute_checked(&c, prev ? &p : NULL, eps, neps, threshold, res, err);
}

void fs_heads_result_free(fs_heads_result *res) {
  free(res->rank), free(res->qk_sigma), free(res->ov_sigma);
  for (int k = 0; k < FS_HEAD_NKINDS; k++) free(res->kind[k].overlap), free(res->kind[k].dim);
  memset(res, 0, sizeof *res);
}

/* A head block read from its checkpoint, one map at a time. */
static block_src file_src(const fs_model *m, const fs_head_block *hb) {
  return (block_src){(int)fs_matrix_in_dim(&hb->q), hb->n_head, hb->n_head_kv, hb->head_dim, NULL, m, hb};
}

int fs_heads_compute_block(const fs_model *m, const fs_head_block *cur, const fs_head_block *prev,
                           const double *eps, int neps, double threshold, fs_heads_result *res,
                           fs_error *err) {
  block_src c = file_src(m, cur), p = prev ? file_src(m, prev) : c;
  return compute_checked(&c, prev ? &p : NULL, eps, neps, threshold, res, err);
}

/* ---- the stage ------------------------------------------------------------------- */

/* The item holds one map at a time in double: the largest counts as owned
 * in the memory report (fs_run_log_timing). */
static void note_largest(fs_run *R, const fs_head_block *hb) {
  const fs_matrix *x[4] = {&hb->q, &hb->k, &hb->v, &hb->o};
  for (int k = 0; k < 4; k++) {
    double bytes = 8.0 * fs_matrix_rows(x[k]) * fs_matrix_cols(x[k]);
    if (bytes > R->largest_owned) R->largest_owned = bytes;
  }
}

static int run_item(fs_run *R, int64_t i, const double *eps, fs_error *err) {
  const fs_plan_heads *w = &R->plan.heads[i];
  const fs_plan_model *pm = &R->plan.models[w->model];
  const fs_head_block *hb = fs_plan_head_block_of(&R->plan, i);
  note_largest(R, hb);
  int rc = fs_fault_hit(FS_FAULT_HEADS, w->model)
               ? fs_fail(err, "cannot read the attention maps (injected fault)")
               : fs_heads_compute_block(&pm->model, hb, w->prev >= 0 ? fs_plan_head_block_of(&R->plan, w->prev) : NULL,
                                        eps, R->opts->neps, R->opts->head_threshold, &R->hres[i], err);
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
