/*
 * fs_rsvd.c - randomised block Krylov SVD (block Golub-Kahan-Lanczos with
 * full reorthogonalisation, Rayleigh-Ritz, explicit restarts).
 *
 * Method.  Let A be W or W^T, whichever has at least as many rows as columns
 * (M x N, M >= N), so that the right basis P can grow to all of R^N.  From an
 * orthonormalised Gaussian block P_1 (N x b; Halko, Martinsson, Tropp 2011)
 * the block bidiagonalisation builds orthonormal P = [P_1 .. P_j] and
 * Q = [Q_1 .. Q_j] with
 *     A P = Q B,     A^T Q = P B^T + Z E_j^T,
 * where B = Q^T A P is j x j blocks (block upper bidiagonal in exact
 * arithmetic; here every projection coefficient is kept, so B is Q^T A P to
 * rounding) and Z is the part of A^T Q_j outside span(P).  Each step is one
 * product A P_j and one A^T Q_j with a b-column block (dgemm) and two passes
 * of block classical Gram-Schmidt against all earlier blocks ("twice is
 * enough") followed by a Householder QR: all BLAS-3.  The span of P is the
 * block Krylov space K_j(A^T A, P_1), whose top singular directions converge
 * at the rate of a Chebyshev polynomial in the gap to sigma_{b+1}, not a
 * power of the ratio (Musco & Musco 2015).
 *
 * Rayleigh-Ritz.  With B = X S Y^T (dgesdd), u_i = Q x_i, v_i = P y_i satisfy
 * A v_i = s_i u_i exactly and A^T u_i - s_i v_i = Z (E_j^T x_i), so the
 * residual r_i = ||Z x_i(last block)|| costs one n x b x k product.
 *
 * Accuracy criterion.  Triplet i is accepted when
 *     r_i <= tol * max(s_i, floor)
 * (floor = FS_SVD_FLOOR ||W||_F from the caller: relative for the singular
 * values that carry the matrix, absolute near the rounding level).  Since
 * ||A v - s u|| = 0 and ||A^T u - s v|| = r_i, there is a singular value of A
 * within r_i of s_i (the residual bound for singular triplets), and the angle
 * between v_i (u_i) and the true singular vector is at most r_i / gap_i
 * (Wedin).  After the test passes on the estimate, r_i is recomputed from A
 * (one product with k columns) and the test repeated on the recomputed value,
 * so the criterion holds for what is returned, not only for the recurrence.
 *
 * Restarts.  When the Krylov dimension would exceed maxdim, the iteration
 * restarts from the b leading Ritz vectors v_1..v_b (an explicit restart:
 * simple, and it keeps everything already converged in the start block).
 *
 * Breakdown.  If a new block is numerically dependent on the basis (rank-
 * deficient W, or an invariant subspace found), its dependent columns
 * (|R_jj| <= 1e-13 ||W||_F after two projections) are replaced by Gaussian
 * vectors orthogonalised against the basis.  The relations above stay exact
 * (the replaced directions get zero rows in B up to the dropped rounding
 * remainder); the Krylov space is simply continued with a fresh direction.
 *
 * References: see fs_rsvd.h; L. Giraud, J. Langou, M. Rozloznik, Comput.
 * Math. Appl. 50 (2005) 1069-1075 (two Gram-Schmidt passes); P.-A. Wedin,
 * BIT 12 (1972) 99-111 (perturbation of singular subspaces).
 */
#include "fs_rsvd.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fs_lapack.h"

#define RSVD_DEP 1e-13 /* dependent column: |R_jj| <= this * ||W||_F */

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

/* ---- the operator: A = W (M = m) or W^T (M = n), W row-major ------------- */

typedef struct op {
  const double *W;
  int m, n;  /* of W */
  int trans; /* A = W^T */
  int M, N;  /* of A, M >= N */
} op;

/* Y (M x b) = A X (X is N x b).  Row-major W is the column-major n x m W^T. */
static void op_apply(const op *A, int b, const double *X, double *Y) {
  if (A->trans) fs_gemm('N', 'N', A->n, b, A->m, 1.0, A->W, A->n, X, A->m, 0.0, Y, A->n);
  else fs_gemm('T', 'N', A->m, b, A->n, 1.0, A->W, A->n, X, A->n, 0.0, Y, A->m);
}

/* Z (N x b) = A^T Y (Y is M x b). */
static void op_apply_t(const op *A, int b, const double *Y, double *Z) {
  if (A->trans) fs_gemm('T', 'N', A->m, b, A->n, 1.0, A->W, A->n, Y, A->n, 0.0, Z, A->m);
  else fs_gemm('N', 'N', A->n, b, A->m, 1.0, A->W, A->n, Y, A->m, 0.0, Z, A->n);
}

/* ---- random numbers (deterministic: xorshift64*, Box-Muller) ------------ */

static double uniform01(unsigned long long *s) {
  *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
  return ((*s * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}

static void gaussian(unsigned long long *s, size_t len, double *x) {
  for (size_t i = 0; i < len; i += 2) {
    double u = uniform01(s), v = uniform01(s);
    double r = sqrt(-2.0 * log(u > 0.0 ? u : 1e-300)), t = 6.283185307179586 * v;
    x[i] = r * cos(t);
    if (i + 1 < len) x[i + 1] = r * sin(t);
  }
}

/* ---- workspace ---------------------------------------------------------- */

typedef struct ws {
  int b, D;          /* block size, largest Krylov dimension */
  double *P, *Q;     /* N x (D + b), M x D */
  double *B;         /* D x D, leading dimension D */
  double *X, *Xp;    /* max(M,N) x b blocks */
  double *C;         /* D x b projection coefficients */
  double *Bs, *Us, *Vt, *s; /* Rayleigh-Ritz: copy of B, its SVD */
  double *T;         /* max(M,N) x k residual block */
  double *work, *tau;
  int *iwork;
  int lwork;
  unsigned long long rng;
  double dep;        /* RSVD_DEP ||W||_F */
} ws;

static void ws_free(ws *w) {
  free(w->P), free(w->Q), free(w->B), free(w->X), free(w->Xp), free(w->C);
  free(w->Bs), free(w->Us), free(w->Vt), free(w->s), free(w->T);
  free(w->work), free(w->tau), free(w->iwork);
}

/* The LAPACK work size for dgesdd ('S') of D x D and QR of max(M,N) x b. */
static int lwork_query(int D, int L, int b) {
  int info, lw = -1, one = 1;
  double q1 = 0.0, q2 = 0.0, q3 = 0.0, d = 0.0;
  int iw = 0;
  dgesdd_("S", &D, &D, &d, &D, &d, &d, &D, &d, &D, &q1, &lw, &iw, &info, 1);
  dgeqrf_(&L, &b, &d, &L, &d, &q2, &lw, &info);
  dorgqr_(&L, &b, &b, &d, &L, &d, &q3, &lw, &info);
  (void)one;
  return (int)fmax(fmax(q1, q2), fmax(q3, 1.0)) + 1;
}

static int ws_alloc(ws *w, const op *A, fs_error *err) {
  size_t M = (size_t)A->M, N = (size_t)A->N, b = (size_t)w->b, D = (size_t)w->D;
  size_t L = M > N ? M : N;
  w->P = malloc(sizeof(double) * N * (D + b));
  w->Q = malloc(sizeof(double) * M * D);
  w->B = malloc(sizeof(double) * D * D);
  w->X = malloc(sizeof(double) * L * b);
  w->Xp = malloc(sizeof(double) * L * b);
  w->C = malloc(sizeof(double) * D * b);
  w->Bs = malloc(sizeof(double) * D * D);
  w->Us = malloc(sizeof(double) * D * D);
  w->Vt = malloc(sizeof(double) * D * D);
  w->s = malloc(sizeof(double) * D);
  w->T = malloc(sizeof(double) * L * D);
  w->tau = malloc(sizeof(double) * b);
  w->iwork = malloc(sizeof(int) * 8 * D);
  w->lwork = lwork_query(w->D, (int)L, w->b);
  w->work = malloc(sizeof(double) * (size_t)w->lwork);
  if (!w->P || !w->Q || !w->B || !w->X || !w->Xp || !w->C || !w->Bs || !w->Us ||
      !w->Vt || !w->s || !w->T || !w->tau || !w->iwork || !w->work)
    return fs_fail(err, "out of memory for a block Krylov space of dimension %d "
                        "for a %dx%d matrix", w->D, A->M, A->N);
  return 0;
}

/* ---- block orthogonalisation -------------------------------------------- */

/* X (len x c) -= Basis (len x d) (Basis^T X), twice; coef (ld ldc) gets the
 * sum of both passes' coefficients when non-NULL. */
static void project(ws *w, int len, int d, const double *Basis, int c, double *X,
                    double *coef, int ldc) {
  for (int pass = 0; pass < 2 && d > 0; pass++) {
    fs_gemm('T', 'N', d, c, len, 1.0, Basis, len, X, len, 0.0, w->C, d);
    fs_gemm('N', 'N', len, c, d, -1.0, Basis, len, w->C, d, 1.0, X, len);
    if (coef)
      for (int j = 0; j < c; j++)
        for (int i = 0; i < d; i++)
          coef[i + (size_t)j * ldc] = (pass ? coef[i + (size_t)j * ldc] : 0.0) +
                                      w->C[i + (size_t)j * d];
  }
}

/* Householder QR in place: X (len x c) becomes Q; the |R_jj| go to diag. */
static int qr(ws *w, int len, int c, double *X, double *diag, fs_error *err) {
  int info;
  dgeqrf_(&len, &c, X, &len, w->tau, w->work, &w->lwork, &info);
  if (info) return fs_fail(err, "dgeqrf on a %dx%d block failed (info %d)", len, c, info);
  for (int j = 0; j < c; j++) diag[j] = fabs(X[j + (size_t)j * len]);
  dorgqr_(&len, &c, &c, X, &len, w->tau, w->work, &w->lwork, &info);
  if (info) return fs_fail(err, "dorgqr on a %dx%d block failed (info %d)", len, c, info);
  return 0;
}

/* Make block X (len x c) orthonormal and orthogonal to Basis (len x d):
 * X_in = Basis coef + X_out R with R = X_out^T (X_in - Basis coef) (c x c, to
 * R, ld ldr).  Dependent columns are replaced by fresh Gaussian directions. */
static int orth_block(ws *w, int len, int d, const double *Basis, int c, double *X,
                      double *coef, int ldc, double *R, int ldr, int projected,
                      fs_error *err) {
  double diag[c > 0 ? c : 1];
  if (!projected) project(w, len, d, Basis, c, X, coef, ldc);
  memcpy(w->Xp, X, sizeof(double) * (size_t)len * (size_t)c);
  FS_TRY(qr(w, len, c, X, diag, err));
  int dep = 0;
  for (int j = 0; j < c; j++)
    if (diag[j] <= w->dep) {
      gaussian(&w->rng, (size_t)len, X + (size_t)j * len);
      dep = 1;
    }
  if (dep) {
    /* The independent columns are orthonormal already; the Gaussian ones,
     * projected out of the basis, are independent with probability 1
     * (d + c <= len), so a second QR finishes the block. */
    project(w, len, d, Basis, c, X, NULL, 0);
    FS_TRY(qr(w, len, c, X, diag, err));
    for (int j = 0; j < c; j++)
      if (diag[j] <= 1e-3)
        return fs_fail(err, "block Krylov: no direction left outside a basis "
                            "of dimension %d in R^%d", d, len);
  }
  if (R) fs_gemm('T', 'N', c, c, len, 1.0, X, len, w->Xp, len, 0.0, R, ldr);
  return 0;
}

/* ---- Rayleigh-Ritz and residuals ---------------------------------------- */

/* B[0:d, 0:d] = Us diag(s) Vt (dgesdd on a copy; Us, Vt with leading dim d). */
static int ritz(ws *w, int d, fs_error *err) {
  int info;
  for (int j = 0; j < d; j++)
    memcpy(w->Bs + (size_t)j * d, w->B + (size_t)j * w->D, sizeof(double) * (size_t)d);
  dgesdd_("S", &d, &d, w->Bs, &d, w->s, w->Us, &d, w->Vt, &d, w->work, &w->lwork,
          w->iwork, &info, 1);
  if (info) return fs_fail(err, "dgesdd on the %dx%d projected matrix failed (info %d)",
                           d, d, info);
  return 0;
}

/* max_i<k r_i / max(s_i, floor) for column norms r_i of T (len x k). */
static double worst_ratio(const ws *w, int len, int k, double floor) {
  double worst = 0.0;
  for (int i = 0; i < k; i++) {
    const double *t = w->T + (size_t)i * len;
    double r = 0.0;
    for (int l = 0; l < len; l++) r += t[l] * t[l];
    double ratio = sqrt(r) / fmax(w->s[i], floor);
    if (!(ratio <= worst)) worst = ratio; /* NaN wins */
  }
  return worst;
}

/* r_i = ||Z x_i(last block)||, Z (N x c) the outside part of A^T Q_j. */
static double estimate(ws *w, const op *A, const double *Z, int c, int d, int k,
                       double floor) {
  fs_gemm('N', 'N', A->N, k, c, 1.0, Z, A->N, w->Us + (d - c), d, 0.0, w->T, A->N);
  return worst_ratio(w, A->N, k, floor);
}

/* ---- the iteration ------------------------------------------------------ */

typedef struct state {
  int d, c;     /* Krylov dimension and last block size at the last check */
  int blocks;   /* blocks built, over all restarts */
  double ratio; /* worst residual ratio of the last check */
} state;

/* Grow the Krylov space from the orthonormal block P[:, off:off+c] (with
 * P, Q, B already holding off columns) until the estimated test passes or
 * the dimension reaches D; leave the Ritz decomposition of the final B in
 * Us, s, Vt and the outside block Z in P[:, d:d+c]. */
static int cycle(ws *w, const op *A, int k, int off, int c, const fs_rsvd_opts *o,
                 state *st, fs_error *err) {
  int M = A->M, N = A->N, D = w->D;
  st->ratio = INFINITY;
  for (;;) {
    double *Qj = w->Q + (size_t)off * M, *Pj = w->P + (size_t)off * N;
    op_apply(A, c, Pj, Qj);
    FS_TRY(orth_block(w, M, off, w->Q, c, Qj, w->B + (size_t)off * D, D,
                      w->B + off + (size_t)off * D, D, 0, err));
    double *Z = w->P + (size_t)(off + c) * N;
    op_apply_t(A, c, Qj, Z);
    project(w, N, off + c, w->P, c, Z, NULL, 0);
    st->blocks++;
    /* The next block is all of Z (c columns), or the cycle ends. */
    int d = off + c, last = d + c > imin(D, N);
    if (d >= k && (last || d >= k + w->b / 2)) {
      FS_TRY(ritz(w, d, err));
      st->ratio = estimate(w, A, Z, c, d, k, o->floor);
      st->d = d, st->c = c;
      if (st->ratio <= o->tol || last) return 0;
    }
    FS_TRY(orth_block(w, N, d, w->P, c, Z, NULL, 0, NULL, 0, 1, err));
    off = d;
  }
}

/* U_A = Q X(:, 0:k), V_A = P Y(:, 0:k); then the true residual ratio. */
static double extract(ws *w, const op *A, int k, int d, double floor, double *UA,
                      double *VA) {
  fs_gemm('N', 'N', A->M, k, d, 1.0, w->Q, A->M, w->Us, d, 0.0, UA, A->M);
  fs_gemm('N', 'T', A->N, k, d, 1.0, w->P, A->N, w->Vt, d, 0.0, VA, A->N);
  op_apply_t(A, k, UA, w->T);
  for (int i = 0; i < k; i++)
    for (int l = 0; l < A->N; l++)
      w->T[l + (size_t)i * A->N] -= w->s[i] * VA[l + (size_t)i * A->N];
  return worst_ratio(w, A->N, k, floor);
}

/* Thick restart: keep the l leading Ritz triplets, for which
 * A V_l = U_l S_l and A^T U_l = V_l S_l + Z X_l (Z the outside block), so
 * P = [V_l, orth(Z)], Q = [U_l], B = [S_l, *] continue the same relations
 * (the coupling block of B is recomputed by the next projection).
 * Returns the size of the new block, which starts at column *off. */
static int thick_restart(ws *w, const op *A, int k, const state *st, int *off,
                         fs_error *err) {
  int d = st->d, c = st->c, M = A->M, N = A->N, D = w->D;
  int l = imin(d - c, (d + k) / 2);
  fs_gemm('N', 'T', N, l, d, 1.0, w->P, N, w->Vt, d, 0.0, w->T, N);
  memcpy(w->P, w->T, sizeof(double) * (size_t)N * (size_t)l);
  fs_gemm('N', 'N', M, l, d, 1.0, w->Q, M, w->Us, d, 0.0, w->T, M);
  memcpy(w->Q, w->T, sizeof(double) * (size_t)M * (size_t)l);
  memcpy(w->P + (size_t)l * N, w->P + (size_t)d * N, sizeof(double) * (size_t)N * (size_t)c);
  memset(w->B, 0, sizeof(double) * (size_t)D * (size_t)D);
  for (int i = 0; i < l; i++) w->B[i + (size_t)i * D] = w->s[i];
  FS_TRY(orth_block(w, N, l, w->P, c, w->P + (size_t)l * N, NULL, 0, NULL, 0, 0, err));
  *off = l;
  return c;
}

/* ---- the Gram path for tall, narrow matrices ----------------------------- */

/* For M >= gram N (N <= 2048) one dsyrk forms G = A^T A (M N^2 flops, N/128
 * products with a 64-column block) and dsyevr its top k eigenpairs: v_i, and
 * s_i = sqrt(lambda_i), u_i = A v_i / s_i.  Fewer flops than any Krylov
 * method there, all BLAS-3; but G squares the condition number (absolute
 * error ~ u sigma_1^2 in lambda), so the result is accepted only if the same
 * residual test as the Krylov path, recomputed from A, and |U^T U - I| <=
 * 1e-12 hold; otherwise (singular values near the rounding level, say) the
 * caller goes on with Krylov.  *ok = 1 when accepted. */
static int gram(const op *A, int k, const fs_rsvd_opts *o, double *sigma, double *UA,
                double *VA, double *res, int *ok, fs_error *err) {
  int N = A->N, M = A->M, il = N - k + 1, iu = N, found = 0, info, lw = -1, liw = -1, iwq;
  double zero = 0.0, one = 1.0, wq, *G = malloc(sizeof(double) * (size_t)N * N);
  double *lam = malloc(sizeof(double) * N), *Z = malloc(sizeof(double) * (size_t)N * k);
  double *T = malloc(sizeof(double) * (size_t)N * k), *work = NULL;
  int *isuppz = malloc(sizeof(int) * 2 * (size_t)k), *iwork = NULL;
  *ok = 0;
  if (!G || !lam || !Z || !T || !isuppz) goto oom;
  if (A->trans) dsyrk_("U", "T", &N, &M, &one, A->W, &M, &zero, G, &N, 1, 1);
  else dsyrk_("U", "N", &N, &M, &one, A->W, &N, &zero, G, &N, 1, 1);
  dsyevr_("V", "I", "U", &N, G, &N, &zero, &zero, &il, &iu, &zero, &found, lam, Z, &N,
          isuppz, &wq, &lw, &iwq, &liw, &info, 1, 1, 1);
  lw = (int)wq + 1, liw = iwq + 1;
  work = malloc(sizeof(double) * (size_t)lw), iwork = malloc(sizeof(int) * (size_t)liw);
  if (!work || !iwork) goto oom;
  dsyevr_("V", "I", "U", &N, G, &N, &zero, &zero, &il, &iu, &zero, &found, lam, Z, &N,
          isuppz, work, &lw, iwork, &liw, &info, 1, 1, 1);
  if (!info && found == k && lam[0] > 0.0) {
    for (int i = 0; i < k; i++) { /* ascending -> descending */
      sigma[i] = sqrt(lam[k - 1 - i]);
      memcpy(VA + (size_t)i * N, Z + (size_t)(k - 1 - i) * N, sizeof(double) * (size_t)N);
    }
    op_apply(A, k, VA, UA);
    for (int i = 0; i < k; i++)
      for (int l = 0; l < M; l++) UA[l + (size_t)i * M] /= sigma[i];
    op_apply_t(A, k, UA, T);
    double worst = 0.0, defect = 0.0;
    for (int i = 0; i < k; i++) {
      double r = 0.0;
      for (int l = 0; l < N; l++) {
        double t = T[l + (size_t)i * N] - sigma[i] * VA[l + (size_t)i * N];
        r += t * t;
      }
      worst = fmax(worst, sqrt(r) / fmax(sigma[i], o->floor));
    }
    fs_gemm('T', 'N', k, k, M, 1.0, UA, M, UA, M, 0.0, T, k);
    for (int i = 0; i < k * k; i++) defect = fmax(defect, fabs(T[i] - (i % (k + 1) == 0)));
    *ok = worst <= o->tol && defect <= 1e-12;
    if (res) *res = worst;
  }
  free(G), free(lam), free(Z), free(T), free(isuppz), free(work), free(iwork);
  return 0;
oom:
  free(G), free(lam), free(Z), free(T), free(isuppz), free(work), free(iwork);
  return fs_fail(err, "out of memory for the %dx%d Gram matrix", N, N);
}

/* ---- public ------------------------------------------------------------- */

void fs_rsvd_defaults(int m, int n, int k, fs_rsvd_opts *o) {
  int mn = imin(m, n);
  memset(o, 0, sizeof *o);
  /* Measured (docs/benchmarks.md): blocks of about k/3 columns and a space
   * of 4k converge in the fewest floor units; smaller blocks do more, less
   * efficient products, larger ones more products in all. */
  o->block = imin(imax(8, (k / 3 + 7) / 8 * 8), mn);
  o->maxdim = imin(mn, imax(4 * k, k + 8 * o->block));
  o->max_restarts = 50;
  o->tol = 1e-10;
  o->floor = 0.0;
  o->seed = 0x2545F4914F6CDD1DULL;
  o->gram = 4.0;
}

static int run(ws *w, const op *A, int k, const fs_rsvd_opts *o, double *UA,
               double *VA, int *its, double *res, fs_error *err) {
  state st = {0, 0, 0, INFINITY};
  int c = w->b, off = 0;
  gaussian(&w->rng, (size_t)A->N * (size_t)c, w->P);
  FS_TRY(orth_block(w, A->N, 0, w->P, c, w->P, NULL, 0, NULL, 0, 1, err));
  memset(w->B, 0, sizeof(double) * (size_t)w->D * (size_t)w->D);
  for (int r = 0; r <= o->max_restarts; r++) {
    FS_TRY(cycle(w, A, k, off, c, o, &st, err));
    double ratio = st.ratio <= o->tol ? extract(w, A, k, st.d, o->floor, UA, VA) : INFINITY;
    *its = st.blocks;
    if (res) *res = ratio;
    if (ratio <= o->tol) return 0;
    if (st.d >= A->N) break; /* the whole space and still not met: rounding */
    c = thick_restart(w, A, k, &st, &off, err);
    if (c < 0) return c;
  }
  return fs_fail(err, "block Krylov SVD of a %dx%d matrix: residual %.1e > tol %.1e "
                      "after %d restarts (%d blocks of %d)",
                 A->m, A->n, st.ratio, o->tol, o->max_restarts, st.blocks, w->b);
}

int fs_rsvd_solve(const double *W, int m, int n, int k, const fs_rsvd_opts *o,
                  double *sigma, double *U, double *V, int *its, double *res,
                  fs_error *err) {
  int mn = imin(m, n);
  if (!W || m < 1 || n < 1 || k < 1 || k > mn)
    return fs_fail(err, "block Krylov SVD: invalid problem (%dx%d, k = %d)", m, n, k);
  op A = {W, m, n, n > m, imax(m, n), mn};
  ws w;
  memset(&w, 0, sizeof w);
  w.b = imin(imax(o->block, 1), mn);
  if (k + 2 * w.b > mn) w.b = mn; /* no room to restart: one block, all of R^N */
  w.D = imin(imax(o->maxdim, k + 2 * w.b), mn);
  w.rng = o->seed ? o->seed : 1;
  double *UA = A.trans ? V : U, *VA = A.trans ? U : V;
  if (o->gram > 0 && A.M >= o->gram * A.N && A.N <= 2048) {
    int ok;
    FS_TRY(gram(&A, k, o, sigma, UA, VA, res, &ok, err));
    if (ok) return (*its = 0), 0;
  }
  double fro = 0.0; /* the Krylov path's breakdown threshold (a pass over W the Gram path skips) */
  for (size_t i = 0; i < (size_t)m * (size_t)n; i++) fro += W[i] * W[i];
  w.dep = RSVD_DEP * sqrt(fro);
  int rc = ws_alloc(&w, &A, err);
  if (!rc) rc = run(&w, &A, k, o, UA, VA, its, res, err);
  if (!rc) memcpy(sigma, w.s, sizeof(double) * (size_t)k);
  ws_free(&w);
  return rc;
}
