/*
 * fs_heads.h - attention-head diagnostics of one transformer block
 * (SPEC 3.7; docs/mathematics.md, section 11, derives every number).
 *
 * A block with H query heads, H_kv key/value heads (grouped-query attention:
 * query head h uses key/value head g = h / (H / H_kv)), head size d_h and
 * width D.  Per head the read subspaces are the row spaces of W_Q^h, W_K^g,
 * W_V^g in R^D and the write subspace is the column space of W_O^h; each is
 * given an orthonormal basis by a thin Householder QR F = Q R of the D x d_h
 * factor F (W^T of a reader head, the columns of O for a writer head) and
 * the SVD R = U_R S V_R^T: basis Q U_R[:, 1..r], r = #{s_i > tol s_1},
 * tol = max(D, d_h) * DBL_EPSILON (numpy's matrix_rank rule), so a
 * rank-deficient head has a basis of its rank, never a fake one of d_h.
 *
 * Reported:
 *  - overlap matrices for Q (H x H), K and V (H_kv x H_kv: heads that share a
 *    key/value head have one subspace; repeating it would only add copies)
 *    and O (H x H), overlap(a, b) = ||B_a^T B_b||_F^2 / d_h, random baseline
 *    d_h / D, and the intersection dimensions #{theta_i <= eps} of the
 *    principal angles between B_a and B_b at every eps;
 *  - the singular values of each head's QK circuit W_Q^h^T W_K^g and OV
 *    circuit W_O^h W_V^g: from the thin QRs, W_Q^h^T W_K^g =
 *    Q_q (R_q R_k^T) Q_k^T and W_O^h W_V^g = Q_o (R_o R_v^T) Q_v^T, so they
 *    are the singular values of the d_h x d_h cores (never a D x D product);
 *  - composition with the block before: the OV write subspace of head h of
 *    block b - 1 (range of its OV circuit, Q_o U_M[:, 1..r] from the core's
 *    SVD) against the Q, K, V read subspaces of block b (H x H, H x H_kv,
 *    H x H_kv);
 *  - per overlap matrix the head redundancy: mean off-diagonal overlap and
 *    the number of head pairs above a threshold (FS_HEADS_THRESHOLD).
 * Intersection dimensions need only which side of each eps an angle lies
 * on: theta <= eps iff cos theta >= cos eps.  The cosines are the singular
 * values of the pair's d_h x d_h Gram block C; two upper bounds on the
 * largest (||C||_F and ||C^T C||_F^(1/2)) settle most pairs without an SVD,
 * the block's singular values the rest, except a pair with a cosine within
 * the rounding bound 2 (D + d_h) d_h u of a cos eps: there the principal
 * angles in sine form (fs_principal_angles, Knyazev-Argentati), accurate for
 * small angles, decide.
 * QR and SVD: G. H. Golub, C. F. Van Loan, Matrix Computations, 4th ed.,
 * 5.2 and 8.6; LAPACK dgeqrf, dorgqr, dgesdd.
 */
#ifndef FS_HEADS_H
#define FS_HEADS_H

#include <stdint.h>

#include "fs_error.h"
#include "fs_graph.h"
#include "fs_model.h"

typedef enum {
  FS_HEAD_Q, FS_HEAD_K, FS_HEAD_V, FS_HEAD_O, /* within the block */
  FS_HEAD_OV_Q, FS_HEAD_OV_K, FS_HEAD_OV_V,   /* OV writes of the block before -> reads */
  FS_HEAD_NKINDS
} fs_head_kind;

/* "Q", "K", "V", "O", "OV>Q", "OV>K", "OV>V". */
const char *fs_head_kind_name(fs_head_kind k);

/* Head pairs with an overlap above this count as redundant (default). */
#define FS_HEADS_THRESHOLD 0.5

/* Per-head numerical ranks kept in fs_heads_result.rank. */
enum { FS_HEAD_RANK_Q, FS_HEAD_RANK_K, FS_HEAD_RANK_V, FS_HEAD_RANK_O, FS_HEAD_RANK_OV,
       FS_HEAD_NRANKS };

/* One block's maps as the layer applies them, row-major [out, in]:
 * q [n_head head_dim, D], k and v [n_head_kv head_dim, D], o [D, n_head head_dim].
 * A pointer may be NULL when that map is not needed (the block before needs
 * only o and v). */
typedef struct fs_heads_maps {
  int D, n_head, n_head_kv, head_dim;
  double *q, *k, *v, *o;
} fs_heads_maps;

typedef struct fs_head_overlap {
  int nrows, ncols, neps;
  double *overlap;     /* nrows x ncols, row-major */
  int64_t *dim;        /* neps x nrows x ncols: dim[(e nrows + a) ncols + b] */
  double random;       /* d_h / D */
  double mean_offdiag; /* mean over a != b (Q, K, V, O) or over all entries (OV>*) */
  int64_t n_redundant; /* pairs a < b (all entries for OV>*) with overlap > threshold */
} fs_head_overlap;

typedef struct fs_heads_result {
  int D, n_head, n_head_kv, head_dim, neps;
  int composed;                        /* the OV>* kinds are filled */
  int *rank;                           /* n_head x FS_HEAD_NRANKS */
  double *qk_sigma, *ov_sigma;         /* n_head x head_dim, descending per head */
  fs_head_overlap kind[FS_HEAD_NKINDS];
  int64_t n_svd, n_sine; /* head pairs the bounds did not settle; of them, decided in sine form */
} fs_heads_result;

/* The relative rank tolerance for a D x n factor: max(D, n) DBL_EPSILON. */
double fs_heads_rank_tol(int D, int n);

/* Everything above for block cur; prev (the block before, or NULL) brings o
 * and v for the composition.  eps in radians.  res is empty (safe to free)
 * after a failure. */
int fs_heads_compute(const fs_heads_maps *cur, const fs_heads_maps *prev, const double *eps,
                     int neps, double threshold, fs_heads_result *res, fs_error *err);
void fs_heads_result_free(fs_heads_result *res);

/* The same for head block cur of model m (prev: the block before, or NULL),
 * its maps read from the checkpoint (fs_load_matrix) one at a time and viewed
 * as [out, in] without a transposed copy. */
int fs_heads_compute_block(const fs_model *m, const fs_head_block *cur, const fs_head_block *prev,
                           const double *eps, int neps, double threshold, fs_heads_result *res,
                           fs_error *err);

/* The pipeline stage (src/fs_analyze.c): every head item this rank owns;
 * an item's failure is recorded with the item, never fatal.  Not collective. */
struct fs_run;
void fs_heads_stage(struct fs_run *R);

#endif
