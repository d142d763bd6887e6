/*
 * fs_output.c - writes a run as HDF5 schema version 1 (docs/hdf5-schema.md).
 *
 * The schema is the column tables below: each column has a name, a type, a
 * description (stored as its "description" attribute, so the file explains
 * itself) and a getter (fs_output_table.h).  Adding a column is adding a line.
 * Rows of /matrices and /pairs are written by the rank that owns them, /models
 * by rank 0; /heads and /head_overlaps by io/fs_output_heads.c.
 */
#include "fs_output.h"

#include <hdf5.h>
#include <math.h>
#include <petscsys.h>
#include <slepcsys.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs_h5out.h"
#include "fs_output_extra.h"
#include "fs_output_table.h"
#include "fs_killpoint.h"


/* ---- /matrices ------------------------------------------------------------ */

static const fs_matrix *MX(const fs_run *R, int64_t i) { return fs_plan_matrix_of(&R->plan, i); }
static const fs_tensor *TX(const fs_run *R, int64_t i) {
  return &R->plan.models[R->plan.mat[i].model].model.tensors[MX(R, i)->tensor];
}
static int OK(const fs_run *R, int64_t i) { return R->kdone[i] > 0; }

static void m_model(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(R->plan.mat[i].model); }
static void m_name(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_S("%s", MX(R, i)->name); }
static void m_tensor(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_S("%s", TX(R, i)->name); }
static void m_fold(const fs_run *R, int64_t i, void *dst, size_t width) {
  int f = MX(R, i)->fold;
  PUT_S("%s", f < 0 ? "" : R->plan.models[R->plan.mat[i].model].model.tensors[f].name);
}
static void m_row0(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(MX(R, i)->r0); }
static void m_rep(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(MX(R, i)->rep); }
static void m_rstep(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(MX(R, i)->rstep); }
static void m_unfold(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(MX(R, i)->unfold_in); }
static void m_ksize(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(MX(R, i)->ksize); }
static void m_bn_tensor(const fs_run *R, int64_t i, int t, void *dst, size_t width) {
  PUT_S("%s", t < 0 ? "" : R->plan.models[R->plan.mat[i].model].model.tensors[t].name);
}
static void m_bn_gamma(const fs_run *R, int64_t i, void *dst, size_t width) {
  m_bn_tensor(R, i, MX(R, i)->bn_gamma, dst, width);
}
static void m_bn_var(const fs_run *R, int64_t i, void *dst, size_t width) {
  m_bn_tensor(R, i, MX(R, i)->bn_var, dst, width);
}
static void m_bn_eps(const fs_run *R, int64_t i, void *dst, size_t width) {
  PUT_D(MX(R, i)->bn_var < 0 ? NAN : MX(R, i)->bn_eps);
}
static void m_col0(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(MX(R, i)->c0); }
static void m_rows(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(fs_matrix_rows(MX(R, i))); }
static void m_cols(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(fs_matrix_cols(MX(R, i))); }
static void m_transposed(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(MX(R, i)->transposed); }
static void m_block(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(MX(R, i)->block); }
static void m_head(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(MX(R, i)->head); }
static void m_k(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(R->kdone[i]); }
static void m_fro(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_D(OK(R, i) ? R->stats[i].fro : NAN); }
static void m_spec(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_D(OK(R, i) ? R->stats[i].spec : NAN); }
static void m_srank(const fs_run *R, int64_t i, void *dst, size_t width) {
  PUT_D(OK(R, i) ? R->stats[i].stable_rank : NAN);
}
static void m_nrank(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(OK(R, i) ? R->stats[i].numrank : -1); }
static void m_nrank_lb(const fs_run *R, int64_t i, void *dst, size_t width) {
  PUT_I(OK(R, i) ? R->stats[i].numrank_lower : -1);
}
static const fs_matrix_spectral *SP(const fs_run *R, int64_t i) { return &R->spectral[i]; }
static int FULL(const fs_run *R, int64_t i) { return OK(R, i) && SP(R, i)->nfull > 0; }
static void m_energy(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_D(OK(R, i) ? SP(R, i)->energy : NAN); }
static void m_capped(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(OK(R, i) ? SP(R, i)->capped : -1); }
static void m_nfull(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(FULL(R, i) ? SP(R, i)->nfull : 0); }
static void m_erank(const fs_run *R, int64_t i, void *dst, size_t width) {
  PUT_D(FULL(R, i) ? SP(R, i)->effective_rank : NAN);
}
static void m_alpha(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_D(FULL(R, i) ? SP(R, i)->tail.alpha : NAN); }
static void m_xmin(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_D(FULL(R, i) ? SP(R, i)->tail.xmin : NAN); }
static void m_ks(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_D(FULL(R, i) ? SP(R, i)->tail.ks : NAN); }
static void m_ntail(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(FULL(R, i) ? SP(R, i)->tail.ntail : 0); }
static const fs_classifier_stats *CL(const fs_run *R, int64_t i) { return &R->cls[i]; }
static int CLS(const fs_run *R, int64_t i) { return OK(R, i) && CL(R, i)->classes > 0; }
static void m_cls_c(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(CLS(R, i) ? CL(R, i)->classes : 0); }
static void m_cls_z(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(CLS(R, i) ? CL(R, i)->zero_rows : -1); }
static void m_cls_cv(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_D(CLS(R, i) ? CL(R, i)->norm_cv : NAN); }
static void m_cls_mean(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_D(CLS(R, i) ? CL(R, i)->cos_mean : NAN); }
static void m_cls_std(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_D(CLS(R, i) ? CL(R, i)->cos_std : NAN); }
static void m_cls_etf(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_D(CLS(R, i) ? CL(R, i)->cos_simplex : NAN); }
static void m_solver(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_S("%s", R->spec[i].solver); }
static void m_copy_of(const fs_run *R, int64_t i, void *dst, size_t width) {
  PUT_I(OK(R, i) && !strcmp(R->spec[i].solver, "copy") ? R->plan.mat[i].twin_of : -1);
}
static void m_its(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(R->spec[i].its); }
static void m_seconds(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_D(R->seconds[i]); }
static void m_rank(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(R->plan.mat[i].owner); }
static void m_nranks(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_I(R->plan.mat[i].nranks); }
static void m_cost(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_D(R->plan.mat[i].cost); }
static void m_status(const fs_run *R, int64_t i, void *dst, size_t width) { PUT_S("%s", OK(R, i) ? "ok" : "failed"); }
static void m_error(const fs_run *R, int64_t i, void *dst, size_t width) {
  PUT_S("%s", R->mat_error[i] ? R->mat_error[i] : "");
}

static const column matrix_columns[] = {
    {"model", FS_H5_INT64, 0, m_model, "row of /models"},
    {"name", FS_H5_STRING, 96, m_name, "matrix: tensor name, with [head h] or [kv g] for head slices"},
    {"tensor", FS_H5_STRING, 128, m_tensor, "tensor in the checkpoint"},
    {"fold", FS_H5_STRING, 128, m_fold, "normalisation gain folded into the columns, or empty"},
    {"row0", FS_H5_INT64, 0, m_row0, "first row of the slice of the [out, in] view"},
    {"row_blocks", FS_H5_INT64, 0, m_rep,
     "the rows are row_blocks blocks of rows/row_blocks consecutive stored rows, block i "
     "starting at row0 + i row_step (1 unless fused QKV is interleaved per head)"},
    {"row_step", FS_H5_INT64, 0, m_rstep, "stored rows between the starts of two row blocks"},
    {"unfold_in", FS_H5_INT64, 0, m_unfold,
     "1: a convolution's input unfolding [c_in, c_out kh kw] (stored view permuted; the map "
     "is its transpose)"},
    {"ksize", FS_H5_INT64, 0, m_ksize, "spatial size kh kw of an unfolded convolution, else 0"},
    {"bn_gamma", FS_H5_STRING, 128, m_bn_gamma,
     "BatchNorm weight (or, with bn_var empty, a plain affine scale) folded into the output "
     "channels, or empty"},
    {"bn_var", FS_H5_STRING, 128, m_bn_var, "BatchNorm running_var of that fold, or empty"},
    {"bn_eps", FS_H5_DOUBLE, 0, m_bn_eps,
     "eps of that fold: the scale is bn_gamma / sqrt(bn_var + eps); NaN if none"},
    {"col0", FS_H5_INT64, 0, m_col0, "first column of the slice of the [out, in] view"},
    {"rows", FS_H5_INT64, 0, m_rows, "rows of the matrix (output dimension unless transposed)"},
    {"cols", FS_H5_INT64, 0, m_cols, "columns of the matrix"},
    {"transposed", FS_H5_INT64, 0, m_transposed,
     "1: the layer applies the transpose of the matrix (embedding tables, GPT-2 Conv1D, "
     "convolution input unfoldings)"},
    {"block", FS_H5_INT64, 0, m_block, "depth: block index or chain position, -1 if none"},
    {"head", FS_H5_INT64, 0, m_head, "head (or kv head) of a slice, -1 for whole matrices"},
    {"k", FS_H5_INT64, 0, m_k,
     "singular triplets kept: min(kmax, rows, cols), truncated by the rank policy (0 if failed)"},
    {"fro", FS_H5_DOUBLE, 0, m_fro, "Frobenius norm"},
    {"spectral_norm", FS_H5_DOUBLE, 0, m_spec, "largest singular value"},
    {"stable_rank", FS_H5_DOUBLE, 0, m_srank, "fro^2 / spectral_norm^2"},
    {"numerical_rank", FS_H5_INT64, 0, m_nrank,
     "#sigma_i > tau sigma_1 among the min(kmax, rows, cols) computed (before the rank policy "
     "truncates), or among all with full_spectrum"},
    {"numerical_rank_is_lower_bound", FS_H5_INT64, 0, m_nrank_lb,
     "1 if k was too small to see the numerical rank (never with full_spectrum)"},
    {"energy", FS_H5_DOUBLE, 0, m_energy,
     "sum of the k kept sigma_i^2 over fro^2 (1 for the zero matrix)"},
    {"k_capped", FS_H5_INT64, 0, m_capped,
     "1 if the rank policy wanted more than the kmax computed (energy then says what was reached)"},
    {"sigma_full_count", FS_H5_INT64, 0, m_nfull,
     "values in sigma_full: min(rows, cols) with full_spectrum, else 0"},
    {"effective_rank", FS_H5_DOUBLE, 0, m_erank,
     "exp(entropy of p_i = sigma_i^2 / fro^2) over the full spectrum (Roy-Vetterli rank of W^T W); "
     "NaN without full_spectrum"},
    {"alpha", FS_H5_DOUBLE, 0, m_alpha,
     "power-law exponent of the tail of the eigenvalues of W^T W / max(rows, cols) (maximum "
     "likelihood, Clauset-Shalizi-Newman); NaN without full_spectrum or a tail"},
    {"alpha_xmin", FS_H5_DOUBLE, 0, m_xmin, "start of the fitted tail (eigenvalue of W^T W / max(rows, cols))"},
    {"alpha_ks", FS_H5_DOUBLE, 0, m_ks, "Kolmogorov-Smirnov distance of the tail to the fitted power law"},
    {"alpha_ntail", FS_H5_INT64, 0, m_ntail, "eigenvalues in the fitted tail (0 if none)"},
    {"classifier_classes", FS_H5_INT64, 0, m_cls_c,
     "C: rows w_c of the map when it is the reader of a classifier pair, else 0"},
    {"classifier_zero_rows", FS_H5_INT64, 0, m_cls_z, "classes with w_c = 0, left out of the cosines (-1: no classifier)"},
    {"classifier_norm_cv", FS_H5_DOUBLE, 0, m_cls_cv,
     "equinorm: std / mean of ||w_c|| (population std; 0 for a zero classifier); NaN: no classifier"},
    {"classifier_cos_mean", FS_H5_DOUBLE, 0, m_cls_mean,
     "mean cos(w_c, w_c') over pairs of nonzero classes; NaN: no classifier or fewer than 2 nonzero classes"},
    {"classifier_cos_std", FS_H5_DOUBLE, 0, m_cls_std, "standard deviation of those cosines (population)"},
    {"classifier_cos_simplex", FS_H5_DOUBLE, 0, m_cls_etf,
     "-1 / (C' - 1), C' nonzero classes: the cosine of a simplex equiangular tight frame"},
    {"solver", FS_H5_STRING, 16, m_solver,
     "SVD solver used (SLEPc type, rsvd, rsvd-gram, lapack), or copy: the results of copy_of"},
    {"copy_of", FS_H5_INT64, 0, m_copy_of,
     "row of /matrices with identical contents (a tied embedding) whose results this one "
     "copies (solver copy), else -1"},
    {"iterations", FS_H5_INT64, 0, m_its, "solver iterations"},
    {"seconds", FS_H5_DOUBLE, 0, m_seconds, "wall time of read + SVD (timing, not a result)"},
    {"rank", FS_H5_INT64, 0, m_rank, "MPI rank that computed it, the group's first with nranks > 1 (not a result)"},
    {"nranks", FS_H5_INT64, 0, m_nranks,
     "ranks that computed its SVD together: 1, or a group over --mem-per-rank (not a result)"},
    {"cost", FS_H5_DOUBLE, 0, m_cost,
     "the scheduler's cost estimate rows cols (k + 1) + 0.25 bytes read + 2e5 (not a result)"},
    {"status", FS_H5_STRING, 8, m_status, "ok or failed"},
    {"error", FS_H5_STRING, 256, m_error, "reason of a failure"},
};

/* ---- /pairs --------------------------------------------------------------- */

static const fs_pair *PX(const fs_run *R, int64_t p) {
  return &R->plan.models[R->plan.pair[p].model].graph.pair[R->plan.pair[p].local];
}
static const fs_pair_result *RES(const fs_run *R, int64_t p) {
  return R->pdone[p] ? &R->pres[p] : NULL;
}

static void p_model(const fs_run *R, int64_t p, void *dst, size_t width) { PUT_I(R->plan.pair[p].model); }
static void p_type(const fs_run *R, int64_t p, void *dst, size_t width) { PUT_S("%s", fs_pair_type_name(PX(R, p)->type)); }
static void p_writer(const fs_run *R, int64_t p, void *dst, size_t width) { PUT_I(R->plan.pair[p].writer); }
static void p_reader(const fs_run *R, int64_t p, void *dst, size_t width) { PUT_I(R->plan.pair[p].reader); }
static void p_block(const fs_run *R, int64_t p, void *dst, size_t width) { PUT_I(PX(R, p)->block); }
static void p_head(const fs_run *R, int64_t p, void *dst, size_t width) { PUT_I(PX(R, p)->head); }
static void p_d(const fs_run *R, int64_t p, void *dst, size_t width) {
  PUT_I(fs_matrix_in_dim(fs_plan_matrix_of(&R->plan, R->plan.pair[p].reader)));
}
static void p_k(const fs_run *R, int64_t p, void *dst, size_t width) { PUT_I(RES(R, p) ? RES(R, p)->k : 0); }
static void p_j(const fs_run *R, int64_t p, void *dst, size_t width) { PUT_I(RES(R, p) ? RES(R, p)->j : 0); }
static void p_q(const fs_run *R, int64_t p, void *dst, size_t width) { PUT_I(RES(R, p) ? RES(R, p)->q : 0); }
static void p_random(const fs_run *R, int64_t p, void *dst, size_t width) {
  PUT_I(RES(R, p) ? fs_pair_random_dim(RES(R, p)) : -1);
}
static void p_overlap(const fs_run *R, int64_t p, void *dst, size_t width) { PUT_D(RES(R, p) ? RES(R, p)->overlap : NAN); }
static void p_overlap_rand(const fs_run *R, int64_t p, void *dst, size_t width) {
  PUT_D(RES(R, p) ? RES(R, p)->overlap_random : NAN);
}
static void p_kappa(const fs_run *R, int64_t p, void *dst, size_t width) { PUT_D(RES(R, p) ? RES(R, p)->kappa : NAN); }
static void p_krand(const fs_run *R, int64_t p, void *dst, size_t width) {
  PUT_D(RES(R, p) ? RES(R, p)->kappa_random : NAN);
}
static void p_krel(const fs_run *R, int64_t p, void *dst, size_t width) {
  PUT_D(RES(R, p) ? RES(R, p)->kappa_rel : NAN);
}
static void p_bal(const fs_run *R, int64_t p, void *dst, size_t width) {
  PUT_D(RES(R, p) ? RES(R, p)->balancedness : NAN);
}
static void p_mode(const fs_run *R, int64_t p, void *dst, size_t width) {
  (void)p;
  PUT_S("%s", R->opts->commutator == FS_COMMUTATOR_EXACT ? "exact" : "lowrank");
}
static const fs_commutator *EX(const fs_run *R, int64_t p) {
  return RES(R, p) && R->pextra[p].exact_done ? &R->pextra[p].exact : NULL;
}
static void p_kx(const fs_run *R, int64_t p, void *dst, size_t width) { PUT_D(EX(R, p) ? EX(R, p)->kappa : NAN); }
static void p_krx(const fs_run *R, int64_t p, void *dst, size_t width) { PUT_D(EX(R, p) ? EX(R, p)->kappa_random : NAN); }
static void p_kelx(const fs_run *R, int64_t p, void *dst, size_t width) { PUT_D(EX(R, p) ? EX(R, p)->kappa_rel : NAN); }
static void p_bx(const fs_run *R, int64_t p, void *dst, size_t width) { PUT_D(EX(R, p) ? EX(R, p)->balancedness : NAN); }
static void p_xpath(const fs_run *R, int64_t p, void *dst, size_t width) {
  fs_gram_path x = EX(R, p) ? EX(R, p)->path : FS_GRAM_AUTO;
  PUT_S("%s", x == FS_GRAM_DENSE ? "dense" : x == FS_GRAM_FACTOR ? "factor" : x == FS_GRAM_SCALAPACK ? "scalapack" : "");
}
static void p_rank(const fs_run *R, int64_t p, void *dst, size_t width) { PUT_I(R->plan.pair[p].owner); }
static void p_status(const fs_run *R, int64_t p, void *dst, size_t width) { PUT_S("%s", RES(R, p) ? "ok" : "failed"); }
static void p_error(const fs_run *R, int64_t p, void *dst, size_t width) {
  PUT_S("%s", R->pair_error[p] ? R->pair_error[p] : "");
}

static const column pair_columns[] = {
    {"model", FS_H5_INT64, 0, p_model, "row of /models"},
    {"type", FS_H5_STRING, 12, p_type, "chain, mlp, ov, residual, block or classifier"},
    {"writer", FS_H5_INT64, 0, p_writer, "row of /matrices writing into the shared space"},
    {"reader", FS_H5_INT64, 0, p_reader, "row of /matrices reading from it"},
    {"block", FS_H5_INT64, 0, p_block, "block (depth) of the pair, -1 if none"},
    {"head", FS_H5_INT64, 0, p_head, "attention head of an ov pair, -1 otherwise"},
    {"d", FS_H5_INT64, 0, p_d, "dimension of the shared space"},
    {"k", FS_H5_INT64, 0, p_k, "writer basis size (top-k left singular vectors)"},
    {"j", FS_H5_INT64, 0, p_j, "reader basis size (top-j right singular vectors)"},
    {"q", FS_H5_INT64, 0, p_q, "number of principal angles, min(k, j)"},
    {"dim_random", FS_H5_INT64, 0, p_random, "max(0, k + j - d): intersection dimension of random subspaces"},
    {"overlap", FS_H5_DOUBLE, 0, p_overlap, "||U_k^T V_j||_F^2, the sum of squared cosines"},
    {"overlap_random", FS_H5_DOUBLE, 0, p_overlap_rand, "k j / d, its expectation for random subspaces"},
    {"kappa", FS_H5_DOUBLE, 0, p_kappa, "||AB - BA||_F / (sqrt(2) ||A||_F ||B||_F)"},
    {"kappa_random", FS_H5_DOUBLE, 0, p_krand,
     "root-mean-square kappa when one Gram is rotated by a Haar-random orthogonal matrix"},
    {"kappa_rel", FS_H5_DOUBLE, 0, p_krel,
     "kappa / kappa_random: 0 = one shared basis, about 1 = as misaligned as random"},
    {"balancedness", FS_H5_DOUBLE, 0, p_bal, "||A - B||_F / (||A||_F + ||B||_F)"},
    {"gram_mode", FS_H5_STRING, 8, p_mode,
     "Grams behind kappa, kappa_random, kappa_rel, balancedness: lowrank (rank-k / rank-j factors) "
     "or exact (--commutator exact)"},
    {"kappa_exact", FS_H5_DOUBLE, 0, p_kx,
     "kappa of the exact Grams A = I I^T, B = O O^T (--commutator exact|both), else NaN"},
    {"kappa_random_exact", FS_H5_DOUBLE, 0, p_krx, "kappa_random of the exact Grams, else NaN"},
    {"kappa_rel_exact", FS_H5_DOUBLE, 0, p_kelx, "kappa_exact / kappa_random_exact, else NaN"},
    {"balancedness_exact", FS_H5_DOUBLE, 0, p_bx, "balancedness of the exact Grams, else NaN"},
    {"exact_path", FS_H5_STRING, 10, p_xpath,
     "evaluation of the exact Grams: dense (d x d products), factor (QR of [I O]) or scalapack "
     "(distributed, d >= exact_dist_min_d); empty if none"},
    {"rank", FS_H5_INT64, 0, p_rank, "MPI rank that computed it (not a result)"},
    {"status", FS_H5_STRING, 8, p_status, "ok or failed"},
    {"error", FS_H5_STRING, 256, p_error, "reason of a failure"},
};

/* ---- /models --------------------------------------------------------------- */

static const fs_plan_model *PM(const fs_run *R, int64_t m) { return &R->plan.models[m]; }

static void o_path(const fs_run *R, int64_t m, void *dst, size_t width) { PUT_S("%s", PM(R, m)->path); }
static void o_format(const fs_run *R, int64_t m, void *dst, size_t width) {
  PUT_S("%s", PM(R, m)->ok ? fs_format_name(PM(R, m)->model.format) : "");
}
static void o_family(const fs_run *R, int64_t m, void *dst, size_t width) { PUT_S("%s", PM(R, m)->graph.family); }
static void o_status(const fs_run *R, int64_t m, void *dst, size_t width) {
  char why[FS_ERRMSG_MAX];
  PUT_S("%s", fs_run_model_status(R, (int)m, why, sizeof why));
}
static void o_error(const fs_run *R, int64_t m, void *dst, size_t width) {
  char why[FS_ERRMSG_MAX];
  fs_run_model_status(R, (int)m, why, sizeof why);
  PUT_S("%s", why);
}
static void o_size(const fs_run *R, int64_t m, void *dst, size_t width) { PUT_I(PM(R, m)->model.file_size); }
static void o_checksum(const fs_run *R, int64_t m, void *dst, size_t width) {
  PUT_S("%016llx", (unsigned long long)PM(R, m)->model.header_checksum);
}
static void o_ntensors(const fs_run *R, int64_t m, void *dst, size_t width) { PUT_I(PM(R, m)->model.ntensors); }
static void o_nmat(const fs_run *R, int64_t m, void *dst, size_t width) { PUT_I(PM(R, m)->graph.nmat); }
static void o_npair(const fs_run *R, int64_t m, void *dst, size_t width) { PUT_I(PM(R, m)->graph.npair); }
static void o_mat0(const fs_run *R, int64_t m, void *dst, size_t width) { PUT_I(PM(R, m)->mat0); }
static void o_pair0(const fs_run *R, int64_t m, void *dst, size_t width) { PUT_I(PM(R, m)->pair0); }
static void o_heads(const fs_run *R, int64_t m, void *dst, size_t width) { PUT_I(PM(R, m)->graph.n_head); }
static void o_kv(const fs_run *R, int64_t m, void *dst, size_t width) { PUT_I(PM(R, m)->graph.n_head_kv); }
static void o_hd(const fs_run *R, int64_t m, void *dst, size_t width) { PUT_I(PM(R, m)->graph.head_dim); }
static void o_tags(const fs_run *R, int64_t m, void *dst, size_t width) {
  PUT_S("%s", R->opts->model_tags && R->opts->model_tags[m] ? R->opts->model_tags[m] : "");
}
static void o_note(const fs_run *R, int64_t m, void *dst, size_t width) { PUT_S("%s", PM(R, m)->graph.note); }
static void o_nunplaced(const fs_run *R, int64_t m, void *dst, size_t width) { PUT_I(PM(R, m)->graph.nunplaced); }
/* The unplaced tensors' names, comma-separated, cut with "..." at the width. */
static void o_unplaced(const fs_run *R, int64_t m, void *dst, size_t width) {
  const fs_graph *g = &PM(R, m)->graph;
  char *out = dst;
  size_t n = 0;
  out[0] = '\0';
  for (int i = 0; i < g->nunplaced; i++) {
    const char *name = PM(R, m)->model.tensors[g->unplaced[i]].name;
    size_t need = strlen(name) + (i ? 1 : 0);
    if (n + need + 4 > width) {
      snprintf(out + n, width - n, "...");
      return;
    }
    n += (size_t)snprintf(out + n, width - n, "%s%s", i ? "," : "", name);
  }
}

static const column model_columns[] = {
    {"path", FS_H5_STRING, 512, o_path, "checkpoint file as given"},
    {"format", FS_H5_STRING, 16, o_format, "safetensors or gguf"},
    {"family", FS_H5_STRING, 16, o_family,
     "layer-graph family: llama, gpt2, bert, roberta, gptneox, vit, resnet, resnet-tfjs, cnn-tfjs, "
     "paddle, cnn, mlp, layer-map or matrices"},
    {"status", FS_H5_STRING, 8, o_status, "ok, partial (some items failed) or failed"},
    {"error", FS_H5_STRING, 512, o_error, "reason of a failure, or a note on the graph"},
    {"file_size", FS_H5_INT64, 0, o_size, "bytes"},
    {"header_checksum", FS_H5_STRING, 17, o_checksum, "FNV-1a 64 of the header bytes, hex"},
    {"n_tensors", FS_H5_INT64, 0, o_ntensors, "tensors in the file"},
    {"n_matrices", FS_H5_INT64, 0, o_nmat, "rows of /matrices of this model"},
    {"n_pairs", FS_H5_INT64, 0, o_npair, "rows of /pairs of this model"},
    {"matrix_start", FS_H5_INT64, 0, o_mat0, "first row of /matrices of this model"},
    {"pair_start", FS_H5_INT64, 0, o_pair0, "first row of /pairs of this model"},
    {"n_head", FS_H5_INT64, 0, o_heads, "attention heads (0 if none or unknown)"},
    {"n_head_kv", FS_H5_INT64, 0, o_kv, "key/value heads"},
    {"head_dim", FS_H5_INT64, 0, o_hd, "head size"},
    {"tags", FS_H5_STRING, 512, o_tags,
     "key=value tags of the model's manifest line (seed=3 step=1000 family=mlp ...), space-separated; "
     "empty if none"},
    {"graph_note", FS_H5_STRING, 400, o_note,
     "what the layer graph could not place or pair, and why (\"; \"-separated), or empty"},
    {"n_unplaced", FS_H5_INT64, 0, o_nunplaced,
     "tensors no rule or layer-map line placed (2-D ones are analysed alone)"},
    {"unplaced", FS_H5_STRING, 512, o_unplaced, "their names, comma-separated (\"...\" if cut)"},
};

/* ---- writing ----------------------------------------------------------------- */

static size_t elem_size(const column *c) {
  return c->type == FS_H5_STRING ? c->width : sizeof(double);
}

static int write_table(fs_run *R, fs_h5 *h, const char *group, const column *cols, int ncol,
                       int64_t nrows, int64_t nl, const int64_t *rows, fs_error *err) {
  FS_TRY(fs_h5_group(h, group, err));
  for (int c = 0; c < ncol; c++) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", group, cols[c].name);
    char *buf = (rows || !nl) ? calloc((size_t)nl + 1, elem_size(&cols[c])) : NULL;
    for (int64_t i = 0; buf && i < nl; i++) cols[c].get(R, rows[i], buf + (size_t)i * elem_size(&cols[c]), cols[c].width);
    /* a failed calloc (buf NULL) still takes part: fs_h5_write fails on every rank */
    int rc = fs_h5_write(h, path, cols[c].type, cols[c].width, nrows, nl, rows, buf, err);
    free(buf);
    FS_TRY(rc);
    FS_TRY(fs_h5_attr_string(h, path, "description", cols[c].description, err));
  }
  return 0;
}

int fs_output_table(fs_run *R, fs_h5 *h, const char *group, const column *cols, int ncol,
                    int64_t nrows, int64_t nl, const int64_t *rows, fs_error *err) {
  return write_table(R, h, group, cols, ncol, nrows, nl, rows, err);
}

static int write_dim_columns(fs_run *R, fs_h5 *h, fs_error *err) {
  int64_t nl = R->nmine_pair;
  int64_t *v = calloc((size_t)nl + 1, sizeof *v);
  int rc = 0;
  for (int e = 0; e < R->opts->neps && !rc; e++) {
    char path[64], desc[128];
    snprintf(path, sizeof path, "/pairs/dim_eps%d", e);
    snprintf(desc, sizeof desc, "intersection dimension #{theta_i <= %g deg}", R->opts->eps_deg[e]);
    for (int64_t i = 0; v && i < nl; i++) {
      const fs_pair_result *res = RES(R, R->mine_pair[i]);
      v[i] = res ? res->dim[e] : -1;
    }
    rc = fs_h5_write(h, path, FS_H5_INT64, 0, R->plan.npair, nl, R->mine_pair, v, err);
    if (!rc) rc = fs_h5_attr_string(h, path, "description", desc, err);
    if (!rc) rc = fs_h5_attr_doubles(h, path, "eps_degrees", &R->opts->eps_deg[e], 1, err);
  }
  free(v);
  return rc;
}

int fs_output_ragged(fs_run *R, fs_h5 *h, const ragged *g, int64_t nrows, const int64_t *mine,
                     int64_t nmine, fs_error *err) {
  int64_t *off = malloc(sizeof *off * (size_t)(nrows + 1)), total = 0, nl = 0;
  for (int64_t i = 0; off && i < nrows; i++) off[i] = total, total += g->count(R, i);
  for (int64_t i = 0; i < nmine; i++) nl += g->count(R, mine[i]);
  int64_t *idx = malloc(sizeof *idx * (size_t)(nl + 1)), *myoff = malloc(sizeof *myoff * (size_t)(nmine + 1));
  char *val = malloc(8 * (size_t)(nl + 1));
  int ok = off && idx && val && myoff, all;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, R->comm); /* dataset sizes agree first */
  int rc = all ? 0 : fs_fail(err, "out of memory writing %s", g->path);
  for (int64_t i = 0, o = 0; !rc && i < nmine; i++) {
    int64_t c = g->count(R, mine[i]);
    myoff[i] = off[mine[i]];
    if (c && g->fill) g->fill(R, mine[i], g->arg, val + 8 * (size_t)o);
    else if (c) memcpy(val + 8 * (size_t)o, g->values(R, mine[i]), 8 * (size_t)c);
    for (int64_t t = 0; t < c; t++, o++) idx[o] = off[mine[i]] + t;
  }
  if (!rc) rc = fs_h5_write(h, g->path, g->type, 0, total, nl, idx, val, err);
  if (!rc && g->desc) rc = fs_h5_attr_string(h, g->path, "description", g->desc, err);
  if (!rc && g->offpath) rc = fs_h5_write(h, g->offpath, FS_H5_INT64, 0, nrows, nmine, mine, myoff, err);
  if (!rc && g->offpath && g->offdesc)
    rc = fs_h5_attr_string(h, g->offpath, "description", g->offdesc, err);
  free(off), free(idx), free(val), free(myoff);
  return rc;
}

static int64_t sigma_count(const fs_run *R, int64_t i) { return R->kdone[i]; }
static const void *sigma_values(const fs_run *R, int64_t i) { return R->spec[i].sigma; }
/* Agreed on every rank: the shape and kdone are known everywhere. */
static int64_t sigma_full_count(const fs_run *R, int64_t i) {
  int64_t rows = fs_matrix_rows(MX(R, i)), cols = fs_matrix_cols(MX(R, i));
  return R->opts->full_spectrum && R->kdone[i] > 0 ? (rows < cols ? rows : cols) : 0;
}
static const void *sigma_full_values(const fs_run *R, int64_t i) { return R->spectral[i].sigma_full; }
static int64_t theta_count(const fs_run *R, int64_t p) {
  if (!R->pdone[p]) return 0;
  const fs_plan_pair *q = &R->plan.pair[p];
  int k = R->kdone[q->writer], j = R->kdone[q->reader];
  return k < j ? k : j;
}
static const void *theta_values(const fs_run *R, int64_t p) { return R->pres[p].theta; }

static int write_provenance(fs_run *R, fs_h5 *h, fs_error *err) {
  char buf[512], tbuf[64];
  time_t now = time(NULL);
  strftime(tbuf, sizeof tbuf, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  MPI_Bcast(tbuf, sizeof tbuf, MPI_CHAR, 0, R->comm); /* one date, whatever the clocks */
  FS_TRY(fs_h5_attr_int(h, "/", "schema_version", FS_SCHEMA_VERSION, err));
  FS_TRY(fs_h5_attr_string(h, "/", "flagscope_version", FLAGSCOPE_VERSION, err));
  FS_TRY(fs_h5_attr_string(h, "/", "command_line", R->opts->command_line ? R->opts->command_line : "", err));
  FS_TRY(fs_h5_attr_string(h, "/", "created", tbuf, err));
  FS_TRY(fs_h5_attr_int(h, "/", "mpi_size", R->size, err));
  PetscGetVersion(buf, sizeof buf);
  FS_TRY(fs_h5_attr_string(h, "/", "petsc_version", buf, err));
  SlepcGetVersion(buf, sizeof buf);
  FS_TRY(fs_h5_attr_string(h, "/", "slepc_version", buf, err));
  unsigned maj, min, rel;
  H5get_libversion(&maj, &min, &rel);
  snprintf(buf, sizeof buf, "%u.%u.%u", maj, min, rel);
  FS_TRY(fs_h5_attr_string(h, "/", "hdf5_version", buf, err));
  int len;
  MPI_Get_library_version(buf, &len);
  buf[strcspn(buf, "\n,")] = '\0';
  FS_TRY(fs_h5_attr_string(h, "/", "mpi_version", buf, err));
  PetscBool set = PETSC_FALSE;
  PetscOptionsGetString(NULL, NULL, "-svd_type", buf, sizeof buf, &set);
  FS_TRY(fs_h5_attr_string(h, "/", "svd_type", set ? buf : "default (by shape, see docs/benchmarks.md)", err));
  set = PETSC_FALSE;
  PetscOptionsGetString(NULL, NULL, "-svd_tol", buf, sizeof buf, &set);
  FS_TRY(fs_h5_attr_string(h, "/", "svd_tol", set ? buf : "default", err));
  FS_TRY(fs_h5_attr_int(h, "/", "kmax", R->opts->kmax, err));
  FS_TRY(fs_h5_attr_doubles(h, "/", "tau", &R->opts->tau, 1, err));
  FS_TRY(fs_h5_attr_string(h, "/", "k_policy", fs_rank_policy_name(R->opts->rank_policy), err));
  double kparam = R->opts->rank_policy == FS_RANK_FIXED ? NAN : R->opts->rank_param;
  FS_TRY(fs_h5_attr_doubles(h, "/", "k_policy_value", &kparam, 1, err));
  FS_TRY(fs_h5_attr_int(h, "/", "full_spectrum", R->opts->full_spectrum, err));
  FS_TRY(fs_h5_attr_doubles(h, "/", "eps_degrees", R->opts->eps_deg, R->opts->neps, err));
  FS_TRY(fs_output_solver_settings(R, h, err));
  FS_TRY(fs_h5_attr_string(h, "/", "schedule", fs_schedule_name(R->plan.schedule), err));
  FS_TRY(fs_h5_attr_doubles(h, "/", "mem_per_rank", &R->plan.mem_per_rank, 1, err));
  FS_TRY(fs_h5_attr_doubles(h, "/", "busy_seconds", R->busy_all, R->size, err));
  FS_TRY(fs_h5_attr_doubles(h, "/", "load_estimated", R->plan.load, R->size, err));
  double t[FS_NSTAGES];
  MPI_Allreduce(R->time, t, FS_NSTAGES, MPI_DOUBLE, MPI_MAX, R->comm);
  return fs_h5_attr_doubles(h, "/", "seconds_plan_spectra_pairs_write", t, FS_NSTAGES, err);
}

static int write_all(fs_run *R, const fs_zoo_stats *z, fs_h5 *h, fs_error *err) {
  FS_TRY(write_provenance(R, h, err));
  int64_t nmod = R->plan.nmodels, *all = malloc(sizeof *all * (size_t)(nmod + 1));
  for (int64_t i = 0; all && i < nmod; i++) all[i] = i;
  int rc = write_table(R, h, "/models", model_columns, NCOL(model_columns), nmod,
                       R->rank == 0 ? nmod : 0, all, err);
  free(all);
  FS_TRY(rc);
  FS_TRY(write_table(R, h, "/matrices", matrix_columns, NCOL(matrix_columns), R->plan.nmat,
                     R->nmine_mat, R->mine_mat, err));
  static const ragged sigma = {"/matrices/sigma", "/matrices/sigma_offset", NULL, FS_H5_DOUBLE,
                                sigma_count, sigma_values, NULL, NULL, 0};
  static const ragged sigma_full = {"/matrices/sigma_full", "/matrices/sigma_full_offset", NULL,
                                     FS_H5_DOUBLE, sigma_full_count, sigma_full_values, NULL, NULL, 0};
  FS_TRY(fs_output_ragged(R, h, &sigma, R->plan.nmat, R->mine_mat, R->nmine_mat, err));
  FS_TRY(fs_output_ragged(R, h, &sigma_full, R->plan.nmat, R->mine_mat, R->nmine_mat, err));
  FS_TRY(write_table(R, h, "/pairs", pair_columns, NCOL(pair_columns), R->plan.npair,
                     R->nmine_pair, R->mine_pair, err));
  FS_TRY(write_dim_columns(R, h, err));
  FS_TRY(fs_output_pair_extras(R, h, err));
  static const ragged theta = {"/pairs/theta", "/pairs/theta_offset", NULL, FS_H5_DOUBLE,
                                theta_count, theta_values, NULL, NULL, 0};
  FS_TRY(fs_output_ragged(R, h, &theta, R->plan.npair, R->mine_pair, R->nmine_pair, err));
  FS_TRY(fs_output_heads(R, h, err));
  FS_TRY(fs_output_write_zoo(R, z, h, err));
  /* Last: readers refuse a file without it (a copy taken while it was written). */
  return fs_h5_attr_int(h, "/", "complete", 1, err);
}

int fs_output_write(fs_run *R, const fs_zoo_stats *z, fs_error *err) {
  double t0 = MPI_Wtime();
  fs_h5 *h = NULL;
  FS_TRY(fs_h5_create(R->comm, R->opts->output, &h, err));
  R->time[FS_STAGE_WRITE] = 0;
  int rc = write_all(R, z, h, err);
  fs_killpoint("write", R->rank);
  fs_error e2;
  int rc2 = fs_h5_close(h, rc == 0, rc ? &e2 : err);
  R->time[FS_STAGE_WRITE] = MPI_Wtime() - t0;
  return rc ? rc : rc2;
}
