/*
 * test_heads.c - attention-head diagnostics (fs_heads.h) on hand-built heads
 * with known answers (exact copies, orthogonal complements, a rank-deficient
 * head, shared key/value heads, composition by construction, rows permuted
 * inside a head as rotary layouts do), the circuits against dense D x D
 * products and LAPACK's full SVD, the overlaps against bases from LAPACK's
 * SVD; bad input; the head blocks of the real example model's graph and plan.
 * No MPI or PETSc: runs clean under valgrind.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs_heads.h"
#include "fs_plan.h"
#include "fs_testutil.h"

#define DEG (3.14159265358979323846 / 180.0)

static const double EPS3[3] = {1 * DEG, 5 * DEG, 10 * DEG};

static double *dalloc(size_t n) {
  double *p = calloc(n ? n : 1, sizeof(double));
  ck_assert_ptr_nonnull(p);
  return p;
}

static void fill_random(double *x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = fs_test_normal();
}

/* A block of random maps (owned by the caller through maps_free). */
static fs_heads_maps random_maps(int D, int H, int Hkv, int dh) {
  fs_heads_maps m = {D, H, Hkv, dh, dalloc((size_t)H * dh * D), dalloc((size_t)Hkv * dh * D),
                     dalloc((size_t)Hkv * dh * D), dalloc((size_t)D * H * dh)};
  fill_random(m.q, (size_t)H * dh * D);
  fill_random(m.k, (size_t)Hkv * dh * D);
  fill_random(m.v, (size_t)Hkv * dh * D);
  fill_random(m.o, (size_t)D * H * dh);
  return m;
}

static void maps_free(fs_heads_maps *m) {
  free(m->q), free(m->k), free(m->v), free(m->o);
}

static void compute_ok(const fs_heads_maps *cur, const fs_heads_maps *prev, fs_heads_result *r) {
  fs_error err;
  fs_error_clear(&err);
  int rc = fs_heads_compute(cur, prev, EPS3, 3, FS_HEADS_THRESHOLD, r, &err);
  ck_assert_msg(rc == 0, "%s", err.msg);
}

static double ov_at(const fs_heads_result *r, fs_head_kind k, int a, int b) {
  return r->kind[k].overlap[(size_t)a * r->kind[k].ncols + b];
}
static int64_t dim_at(const fs_heads_result *r, fs_head_kind k, int e, int a, int b) {
  const fs_head_overlap *o = &r->kind[k];
  return o->dim[((size_t)e * o->nrows + a) * o->ncols + b];
}

/* Rows of head h of a reader map [n dh, D]: W_h (dh x D, row-major). */
static double *head_rows(double *w, int h, int dh, int D) { return w + (size_t)h * dh * D; }

/* W_O^h as a dense D x dh row-major matrix. */
static void o_head(const fs_heads_maps *m, int h, double *out) {
  int n = m->n_head * m->head_dim;
  for (int r = 0; r < m->D; r++)
    for (int c = 0; c < m->head_dim; c++) out[r * m->head_dim + c] = m->o[(size_t)r * n + h * m->head_dim + c];
}

/* ---- known answers ------------------------------------------------------------ */

START_TEST(exact_copies) {
  fs_test_seed(1);
  int D = 12, H = 3, dh = 4;
  fs_heads_maps m = random_maps(D, H, H, dh);
  memcpy(head_rows(m.q, 1, dh, D), head_rows(m.q, 0, dh, D), sizeof(double) * dh * D);
  /* head 2 of O: a mix of head 0's columns (same column space, another basis) */
  for (int r = 0; r < D; r++)
    for (int c = 0; c < dh; c++) m.o[r * H * dh + 2 * dh + c] = m.o[r * H * dh + c] + (c + 1) * m.o[r * H * dh + (c + 1) % dh];
  fs_heads_result r;
  compute_ok(&m, NULL, &r);
  ck_assert_double_eq_tol(ov_at(&r, FS_HEAD_Q, 0, 1), 1.0, 1e-13);
  ck_assert_double_eq_tol(ov_at(&r, FS_HEAD_Q, 1, 0), 1.0, 1e-13);
  ck_assert_double_eq_tol(ov_at(&r, FS_HEAD_O, 0, 2), 1.0, 1e-13);
  for (int h = 0; h < H; h++) ck_assert_double_eq(ov_at(&r, FS_HEAD_Q, h, h), 1.0);
  for (int e = 0; e < 3; e++) {
    ck_assert_int_eq(dim_at(&r, FS_HEAD_Q, e, 0, 1), dh);
    ck_assert_int_eq(dim_at(&r, FS_HEAD_O, e, 2, 0), dh);
    ck_assert_int_eq(dim_at(&r, FS_HEAD_Q, e, 0, 2), 0); /* random 4-planes in R^12 */
  }
  ck_assert_int_eq(r.kind[FS_HEAD_Q].n_redundant, 1);
  ck_assert_int_eq(r.kind[FS_HEAD_O].n_redundant, 1);
  ck_assert_double_eq(r.kind[FS_HEAD_Q].random, (double)dh / D);
  /* mean off-diagonal by hand from the three pairs */
  double mean = (ov_at(&r, FS_HEAD_Q, 0, 1) + ov_at(&r, FS_HEAD_Q, 0, 2) + ov_at(&r, FS_HEAD_Q, 1, 2)) / 3;
  ck_assert_double_eq_tol(r.kind[FS_HEAD_Q].mean_offdiag, mean, 1e-15);
  ck_assert(!r.composed && !r.kind[FS_HEAD_OV_Q].overlap);
  fs_heads_result_free(&r);
  maps_free(&m);
}
END_TEST

/* Q heads 0 and 1 span complementary halves of R^8 (in a random rotation,
 * mixed inside each head): overlap 0, no intersection. */
START_TEST(orthogonal_complements) {
  fs_test_seed(2);
  int D = 8, H = 2, dh = 4;
  fs_heads_maps m = random_maps(D, H, H, dh);
  double *Qr = dalloc((size_t)D * D), *mix = dalloc(dh * dh);
  fs_test_orthonormal(D, D, Qr);
  for (int h = 0; h < H; h++) {
    fill_random(mix, dh * dh);
    for (int i = 0; i < dh; i++) /* row i of head h = sum_c mix[i][c] (column h dh + c of Qr)^T */
      for (int x = 0; x < D; x++) {
        double s = 0;
        for (int c = 0; c < dh; c++) s += mix[i * dh + c] * Qr[x + (size_t)(h * dh + c) * D];
        m.q[(size_t)(h * dh + i) * D + x] = s;
      }
  }
  fs_heads_result r;
  compute_ok(&m, NULL, &r);
  ck_assert_double_eq_tol(ov_at(&r, FS_HEAD_Q, 0, 1), 0.0, 1e-14);
  for (int e = 0; e < 3; e++) ck_assert_int_eq(dim_at(&r, FS_HEAD_Q, e, 0, 1), 0);
  ck_assert_int_eq(r.kind[FS_HEAD_Q].n_redundant, 0);
  ck_assert_double_eq_tol(r.kind[FS_HEAD_Q].mean_offdiag, 0.0, 1e-14);
  fs_heads_result_free(&r);
  free(Qr), free(mix);
  maps_free(&m);
}
END_TEST

/* K head 1 has rank 2 of 4 (its rows are combinations of two rows), V head 0
 * is zero: bases of the rank, never a fake orthonormal basis of dh. */
START_TEST(rank_deficient_head) {
  fs_test_seed(3);
  int D = 10, H = 2, dh = 4;
  fs_heads_maps m = random_maps(D, H, H, dh);
  double *k1 = head_rows(m.k, 1, dh, D);
  for (int x = 0; x < D; x++) {
    k1[2 * D + x] = 0.5 * k1[x] - 3.0 * k1[D + x];
    k1[3 * D + x] = 2.0 * k1[x] + 0.25 * k1[D + x];
  }
  memset(head_rows(m.v, 0, dh, D), 0, sizeof(double) * dh * D);
  fs_heads_result r;
  compute_ok(&m, NULL, &r);
  ck_assert_int_eq(r.rank[1 * FS_HEAD_NRANKS + FS_HEAD_RANK_K], 2);
  ck_assert_int_eq(r.rank[0 * FS_HEAD_NRANKS + FS_HEAD_RANK_K], 4);
  ck_assert_int_eq(r.rank[0 * FS_HEAD_NRANKS + FS_HEAD_RANK_V], 0);
  ck_assert_int_eq(r.rank[0 * FS_HEAD_NRANKS + FS_HEAD_RANK_OV], 0);
  ck_assert_double_eq_tol(ov_at(&r, FS_HEAD_K, 1, 1), 0.5, 1e-15); /* rank / dh */
  for (int e = 0; e < 3; e++) ck_assert_int_eq(dim_at(&r, FS_HEAD_K, e, 1, 1), 2);
  /* the zero head overlaps nothing, and its circuit is zero, not NaN */
  ck_assert_double_eq(ov_at(&r, FS_HEAD_V, 0, 0), 0.0);
  ck_assert_double_eq(ov_at(&r, FS_HEAD_V, 0, 1), 0.0);
  for (int i = 0; i < dh; i++) ck_assert_double_eq(r.ov_sigma[i], 0.0);
  /* the QK circuit of head 1 reads through K head 1: rank 2 */
  for (int i = 0; i < dh; i++) ck_assert(isfinite(r.qk_sigma[dh + i]));
  ck_assert(r.qk_sigma[dh + 1] > 1e-3 * r.qk_sigma[dh]);
  ck_assert_double_eq_tol(r.qk_sigma[dh + 2], 0.0, 1e-12 * r.qk_sigma[dh]);
  fs_heads_result_free(&r);
  maps_free(&m);
}
END_TEST

/* GQA: 4 query heads on 2 key/value heads; K and V are 2 x 2, the composition
 * OV>K is H x H_kv; the circuits use the shared head g = h / 2. */
START_TEST(gqa_sharing) {
  fs_test_seed(4);
  int D = 16, H = 4, Hkv = 2, dh = 4;
  fs_heads_maps m = random_maps(D, H, Hkv, dh), p = random_maps(D, H, Hkv, dh);
  fs_heads_result r;
  compute_ok(&m, &p, &r);
  ck_assert_int_eq(r.kind[FS_HEAD_Q].nrows, 4);
  ck_assert_int_eq(r.kind[FS_HEAD_K].nrows, 2);
  ck_assert_int_eq(r.kind[FS_HEAD_V].ncols, 2);
  ck_assert_int_eq(r.kind[FS_HEAD_OV_K].nrows, 4);
  ck_assert_int_eq(r.kind[FS_HEAD_OV_K].ncols, 2);
  ck_assert(r.composed);
  /* heads 0 and 1 share K head 0: identical QK circuits if their Q are equal */
  memcpy(head_rows(m.q, 1, dh, D), head_rows(m.q, 0, dh, D), sizeof(double) * dh * D);
  fs_heads_result r2;
  compute_ok(&m, NULL, &r2);
  for (int i = 0; i < dh; i++) ck_assert_double_eq_tol(r2.qk_sigma[i], r2.qk_sigma[dh + i], 1e-13 * r2.qk_sigma[0]);
  ck_assert_int_eq(r2.rank[1 * FS_HEAD_NRANKS + FS_HEAD_RANK_K], dh);
  fs_heads_result_free(&r), fs_heads_result_free(&r2);
  maps_free(&m), maps_free(&p);
}
END_TEST

/* The circuits against dense D x D products and LAPACK's full SVD; the
 * overlaps against bases from LAPACK's SVD of each head factor. */
START_TEST(circuits_dense_reference) {
  fs_test_seed(5);
  int D = 24, H = 4, Hkv = 2, dh = 6, grp = H / Hkv;
  fs_heads_maps m = random_maps(D, H, Hkv, dh);
  /* a slowly decaying spectrum inside each head: scale the rows */
  for (int i = 0; i < H * dh; i++)
    for (int x = 0; x < D; x++) m.q[(size_t)i * D + x] *= pow(0.7, i % dh);
  fs_heads_result r;
  compute_ok(&m, NULL, &r);
  double *M = dalloc((size_t)D * D), *s = dalloc(D), *oh = dalloc((size_t)D * dh), worst = 0;
  for (int h = 0; h < H; h++) {
    const double *q = head_rows(m.q, h, dh, D), *k = head_rows(m.k, h / grp, dh, D), *v = head_rows(m.v, h / grp, dh, D);
    for (int a = 0; a < D; a++) /* QK = W_Q^T W_K: (a, b) = sum_i q[i][a] k[i][b] */
      for (int b = 0; b < D; b++) {
        double t = 0;
        for (int i = 0; i < dh; i++) t += q[i * D + a] * k[i * D + b];
        M[a * D + b] = t;
      }
    ck_assert_int_eq(fs_test_full_svd(M, D, D, s, NULL, NULL), 0);
    for (int i = 0; i < dh; i++) worst = fmax(worst, fabs(r.qk_sigma[h * dh + i] - s[i]) / s[0]);
    for (int i = dh; i < D; i++) ck_assert(s[i] < 1e-12 * s[0]); /* rank <= dh */
    o_head(&m, h, oh);
    for (int a = 0; a < D; a++) /* OV = W_O^h W_V^g */
      for (int b = 0; b < D; b++) {
        double t = 0;
        for (int i = 0; i < dh; i++) t += oh[a * dh + i] * v[i * D + b];
        M[a * D + b] = t;
      }
    ck_assert_int_eq(fs_test_full_svd(M, D, D, s, NULL, NULL), 0);
    for (int i = 0; i < dh; i++) worst = fmax(worst, fabs(r.ov_sigma[h * dh + i] - s[i]) / s[0]);
  }
  ck_assert_msg(worst < 1e-12, "circuit singular values off by %g relative", worst);
  /* Q overlaps: bases = left singular vectors of W_Q^h^T (D x dh) by LAPACK */
  double *B = dalloc((size_t)H * D * dh), *wt = dalloc((size_t)D * dh), *sv = dalloc(dh);
  for (int h = 0; h < H; h++) {
    const double *q = head_rows(m.q, h, dh, D);
    for (int a = 0; a < D; a++)
      for (int i = 0; i < dh; i++) wt[a * dh + i] = q[i * D + a];
    ck_assert_int_eq(fs_test_full_svd(wt, D, dh, sv, B + (size_t)h * D * dh, NULL), 0);
  }
  double worst_ov = 0;
  for (int a = 0; a < H; a++)
    for (int b = 0; b < H; b++) {
      double f = 0;
      for (int i = 0; i < dh; i++)
        for (int j = 0; j < dh; j++) {
          double g = 0;
          for (int x = 0; x < D; x++) g += B[(size_t)a * D * dh + i * D + x] * B[(size_t)b * D * dh + j * D + x];
          f += g * g;
        }
      worst_ov = fmax(worst_ov, fabs(ov_at(&r, FS_HEAD_Q, a, b) - f / dh));
    }
  ck_assert_msg(worst_ov < 1e-13, "Q overlaps off by %g", worst_ov);
  free(M), free(s), free(oh), free(B), free(wt), free(sv);
  fs_heads_result_free(&r);
  maps_free(&m);
}
END_TEST

/* Composition by construction: Q head 0 of block b reads exactly the OV write
 * space of head 1 of block b - 1 (its rows span the columns of W_O^1). */
START_TEST(composition_known) {
  fs_test_seed(6);
  int D = 20, H = 2, dh = 3;
  fs_heads_maps prev = random_maps(D, H, H, dh), cur = random_maps(D, H, H, dh);
  double *oh = dalloc((size_t)D * dh), *mix = dalloc(dh * dh);
  o_head(&prev, 1, oh);
  fill_random(mix, dh * dh);
  for (int i = 0; i < dh; i++)
    for (int x = 0; x < D; x++) {
      double t = 0;
      for (int c = 0; c < dh; c++) t += mix[i * dh + c] * oh[x * dh + c];
      cur.q[(size_t)i * D + x] = t;
    }
  fs_heads_result r;
  compute_ok(&cur, &prev, &r);
  ck_assert_double_eq_tol(ov_at(&r, FS_HEAD_OV_Q, 1, 0), 1.0, 1e-13);
  for (int e = 0; e < 3; e++) ck_assert_int_eq(dim_at(&r, FS_HEAD_OV_Q, e, 1, 0), dh);
  ck_assert(ov_at(&r, FS_HEAD_OV_Q, 0, 0) < 0.99);
  /* composition: mean over all H x H entries, pairs above the threshold */
  double mean = 0;
  int above = 0;
  for (int a = 0; a < H; a++)
    for (int b = 0; b < H; b++) mean += ov_at(&r, FS_HEAD_OV_Q, a, b) / (H * H), above += ov_at(&r, FS_HEAD_OV_Q, a, b) > 0.5;
  ck_assert_double_eq_tol(r.kind[FS_HEAD_OV_Q].mean_offdiag, mean, 1e-15);
  ck_assert_int_eq(r.kind[FS_HEAD_OV_Q].n_redundant, above);
  free(oh), free(mix);
  fs_heads_result_free(&r);
  maps_free(&prev), maps_free(&cur);
}
END_TEST

/* Rotary layouts permute the rows inside each head of Q and K (GGUF against
 * Hugging Face): overlaps and circuits do not change. */
START_TEST(rotary_permutation_invariant) {
  fs_test_seed(7);
  int D = 16, H = 2, dh = 4;
  fs_heads_maps m = random_maps(D, H, H, dh), p = m;
  p.q = dalloc((size_t)H * dh * D), p.k = dalloc((size_t)H * dh * D);
  const int perm[4] = {0, 2, 1, 3}; /* interleaved pairs <-> halves */
  for (int h = 0; h < H; h++)
    for (int i = 0; i < dh; i++) {
      memcpy(p.q + (size_t)(h * dh + i) * D, m.q + (size_t)(h * dh + perm[i]) * D, sizeof(double) * D);
      memcpy(p.k + (size_t)(h * dh + i) * D, m.k + (size_t)(h * dh + perm[i]) * D, sizeof(double) * D);
    }
  fs_heads_result a, b;
  compute_ok(&m, NULL, &a);
  compute_ok(&p, NULL, &b);
  for (int i = 0; i < H * dh; i++) ck_assert_double_eq_tol(a.qk_sigma[i], b.qk_sigma[i], 1e-13 * a.qk_sigma[0]);
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < H * H; i++) ck_assert_double_eq_tol(a.kind[k].overlap[i], b.kind[k].overlap[i], 1e-14);
  fs_heads_result_free(&a), fs_heads_result_free(&b);
  free(p.q), free(p.k);
  maps_free(&m);
}
END_TEST

/* Intersection dimensions at known angles: head 0 reads e_0..e_3, head 1
 * reads cos t_i e_i + sin t_i e_(4+i), head 2 cos u_i e_i + sin u_i e_(8+i),
 * so the cosines of (0, 1), (0, 2) and (1, 2) are cos t_i, cos u_i and
 * cos t_i cos u_i.  u_0 lies 1e-13 rad below eps = 1 degree, inside the
 * rounding window of the cosines: only the sine form can count it, and it
 * must have been asked. */
START_TEST(dims_at_known_angles) {
  fs_test_seed(9);
  int D = 40, H = 3, dh = 4;
  fs_heads_maps m = random_maps(D, H, H, dh);
  const double t[4] = {0.5 * DEG, 3 * DEG, 7 * DEG, 30 * DEG};
  const double u[4] = {1 * DEG - 1e-13, 20 * DEG, 40 * DEG, 60 * DEG};
  memset(m.q, 0, sizeof(double) * H * dh * D);
  for (int i = 0; i < dh; i++) {
    head_rows(m.q, 0, dh, D)[i * D + i] = 1.0;
    head_rows(m.q, 1, dh, D)[i * D + i] = cos(t[i]), head_rows(m.q, 1, dh, D)[i * D + 4 + i] = sin(t[i]);
    head_rows(m.q, 2, dh, D)[i * D + i] = cos(u[i]), head_rows(m.q, 2, dh, D)[i * D + 8 + i] = sin(u[i]);
  }
  fs_heads_result r;
  compute_ok(&m, NULL, &r);
  const int64_t want01[3] = {1, 2, 3}, want02[3] = {1, 1, 1};
  for (int e = 0; e < 3; e++) {
    int64_t want12 = 0;
    for (int i = 0; i < dh; i++) want12 += acos(cos(t[i]) * cos(u[i])) <= EPS3[e];
    ck_assert_int_eq(dim_at(&r, FS_HEAD_Q, e, 0, 1), want01[e]);
    ck_assert_int_eq(dim_at(&r, FS_HEAD_Q, e, 0, 2), want02[e]);
    ck_assert_int_eq(dim_at(&r, FS_HEAD_Q, e, 1, 2), want12);
    ck_assert_int_eq(dim_at(&r, FS_HEAD_Q, e, 2, 1), want12);
  }
  double ov01 = 0;
  for (int i = 0; i < dh; i++) ov01 += cos(t[i]) * cos(t[i]) / dh;
  ck_assert_double_eq_tol(ov_at(&r, FS_HEAD_Q, 0, 1), ov01, 1e-15);
  ck_assert_int_ge(r.n_svd, 3); /* the three Q pairs: no bound can settle them */
  ck_assert_int_ge(r.n_sine, 1); /* (0, 2) */
  fs_heads_result_free(&r);
  maps_free(&m);
}
END_TEST

/* Heads in general position (random 16-planes in R^512, cosines near
 * 2 sqrt(16 / 512)): the bounds settle every pair without an SVD, and the
 * dimensions they give (none) agree with the largest cosine from LAPACK's
 * full SVD of each pair's bases. */
START_TEST(bounds_settle_general_position) {
  fs_test_seed(10);
  int D = 512, H = 8, dh = 16;
  fs_heads_maps m = random_maps(D, H, 2, dh);
  fs_heads_result r;
  compute_ok(&m, NULL, &r);
  ck_assert_int_eq(r.n_svd, 0);
  double *B = dalloc((size_t)H * D * dh), *wt = dalloc((size_t)D * dh), *sv = dalloc(D);
  double *C = dalloc((size_t)dh * dh), *cs = dalloc(dh);
  for (int h = 0; h < H; h++) { /* basis of the row space of W_Q^h: left vectors of its transpose */
    for (int x = 0; x < D; x++)
      for (int c = 0; c < dh; c++) wt[x * dh + c] = head_rows(m.q, h, dh, D)[c * D + x];
    ck_assert_int_eq(fs_test_full_svd(wt, D, dh, sv, B + (size_t)h * D * dh, NULL), 0);
  }
  double worst = 0;
  for (int a = 0; a < H; a++)
    for (int b = a + 1; b < H; b++) {
      for (int i = 0; i < dh; i++)
        for (int j = 0; j < dh; j++) {
          double g = 0;
          for (int x = 0; x < D; x++) g += B[(size_t)a * D * dh + i * D + x] * B[(size_t)b * D * dh + j * D + x];
          C[i * dh + j] = g;
        }
      ck_assert_int_eq(fs_test_full_svd(C, dh, dh, cs, NULL, NULL), 0);
      worst = fmax(worst, cs[0]);
      for (int e = 0; e < 3; e++) ck_assert_int_eq(dim_at(&r, FS_HEAD_Q, e, a, b), cs[0] >= cos(EPS3[e]));
    }
  ck_assert_msg(worst > 0.2 && worst < 0.8, "largest cosine %g: not general position", worst);
  free(B), free(wt), free(sv), free(C), free(cs);
  fs_heads_result_free(&r);
  maps_free(&m);
}
END_TEST

/* ---- bad input ------------------------------------------------------------------ */

START_TEST(bad_input) {
  fs_test_seed(8);
  fs_heads_maps m = random_maps(8, 3, 3, 2), bad = m;
  fs_heads_result r;
  fs_error err;
  m.v[5] = NAN;
  ck_assert_int_ne(fs_heads_compute(&m, NULL, EPS3, 3, 0.5, &r, &err), 0);
  ck_assert_ptr_nonnull(strstr(err.msg, "V map is not finite"));
  ck_assert_ptr_null(r.rank); /* empty after a failure */
  m.v[5] = 1.0;
  bad.n_head_kv = 2; /* 3 heads on 2 kv heads */
  ck_assert_int_ne(fs_heads_compute(&bad, NULL, EPS3, 3, 0.5, &r, &err), 0);
  ck_assert_ptr_nonnull(strstr(err.msg, "do not fit"));
  bad = m, bad.head_dim = 9, bad.n_head = 1, bad.n_head_kv = 1; /* head wider than D */
  ck_assert_int_ne(fs_heads_compute(&bad, NULL, EPS3, 3, 0.5, &r, &err), 0);
  bad = m, bad.D = 4; /* the block before in another width */
  ck_assert_int_ne(fs_heads_compute(&m, &bad, EPS3, 3, 0.5, &r, &err), 0);
  bad = m, bad.o = NULL;
  ck_assert_int_ne(fs_heads_compute(&bad, NULL, EPS3, 3, 0.5, &r, &err), 0);
  ck_assert_ptr_nonnull(strstr(err.msg, "O map missing"));
  /* a single head: no off-diagonal pair, NaN (documented), no redundant pair */
  fs_heads_maps one = random_maps(5, 1, 1, 5);
  compute_ok(&one, NULL, &r);
  ck_assert(isnan(r.kind[FS_HEAD_Q].mean_offdiag));
  ck_assert_int_eq(r.kind[FS_HEAD_Q].n_redundant, 0);
  ck_assert_double_eq(r.kind[FS_HEAD_Q].random, 1.0); /* d_h = D: the whole space */
  fs_heads_result_free(&r);
  maps_free(&one);
  maps_free(&m);
}
END_TEST

/* ---- graph and plan on the real example model --------------------------------------- */

START_TEST(example_head_blocks) {
  char *paths[1] = {(char *)fs_test_example("stories260K.gguf")};
  fs_plan p;
  fs_error err;
  fs_error_clear(&err);
  ck_assert_msg(fs_plan_build(paths, 1, 16, 3, &p, &err) == 0, "%s", err.msg);
  const fs_graph *g = &p.models[0].graph;
  ck_assert_int_eq(g->nhead_block, 5);
  for (int b = 0; b < 5; b++) {
    const fs_head_block *hb = &g->head_block[b];
    ck_assert_int_eq(hb->block, b);
    ck_assert_int_eq(hb->n_head, 8);
    ck_assert_int_eq(hb->n_head_kv, 4);
    ck_assert_int_eq(hb->head_dim, 8);
    ck_assert_int_eq(fs_matrix_out_dim(&hb->q), 64);
    ck_assert_int_eq(fs_matrix_out_dim(&hb->k), 32);
    ck_assert_int_eq(fs_matrix_in_dim(&hb->o), 64);
    ck_assert_int_ge(hb->q.fold, 0); /* the attention norm folded into the readers */
    ck_assert_int_eq(hb->k.fold, hb->q.fold);
    ck_assert_int_lt(hb->o.fold, 0);
  }
  ck_assert_int_eq(p.nheads, 5);
  ck_assert_int_eq(p.nhead_rows, 40);
  ck_assert_int_eq(p.nov_rows, 5 * 4 + 4 * 3);
  double total = 0, load = 0;
  for (int64_t i = 0; i < p.nmat; i++) total += p.mat[i].cost;
  for (int64_t i = 0; i < p.nheads; i++) {
    ck_assert(p.heads[i].cost > 0);
    ck_assert(p.heads[i].owner >= 0 && p.heads[i].owner < 3);
    ck_assert_int_eq(p.heads[i].prev, i - 1); /* block 0 has none */
    total += p.heads[i].cost;
    if (i) ck_assert_int_eq(p.heads[i].comp_row, p.heads[i - 1].ov_row + 4);
  }
  for (int r = 0; r < 3; r++) load += p.load[r];
  ck_assert_double_eq_tol(load, total, 1e-9 * total); /* heads continue the LPT loads */
  for (int64_t i = 0; i < p.nov_rows; i++) ck_assert(p.ov_rows[i].slot >= 0 && p.ov_rows[i].slot < 7);
  fs_plan_free(&p);
}
END_TEST

static Suite *heads_suite(void) {
  Suite *s = suite_create("heads");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, exact_copies);
  tcase_add_test(tc, orthogonal_complements);
  tcase_add_test(tc, rank_deficient_head);
  tcase_add_test(tc, gqa_sharing);
  tcase_add_test(tc, circuits_dense_reference);
  tcase_add_test(tc, composition_known);
  tcase_add_test(tc, rotary_permutation_invariant);
  tcase_add_test(tc, dims_at_known_angles);
  tcase_add_test(tc, bounds_settle_general_position);
  tcase_add_test(tc, bad_input);
  tcase_add_test(tc, example_head_blocks);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return fs_test_run(heads_suite()); }
