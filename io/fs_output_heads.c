/*
 * fs_output_heads.c - the attention-head groups of the HDF5 schema
 * (docs/hdf5-schema.md): /heads, one row per (model, block, query head) with
 * the singular values of its QK and OV circuits as ragged datasets, and
 * /head_overlaps, one row per (model, block, kind) with its overlap matrix
 * and intersection dimensions as ragged datasets.  Rows are written by the
 * rank that owns the head item computing them (fs_plan heads); the row
 * layout comes from the plan, the counts from the agreed hdone, so every
 * rank knows every offset without messages.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs_heads.h"
#include "fs_output_table.h"

/* ---- /heads ---------------------------------------------------------------- */

static const fs_plan_row *HR(const fs_run *R, int64_t r) { return &R->plan.head_rows[r]; }
static const fs_head_block *HBK(const fs_run *R, int64_t item) { return fs_plan_head_block_of(&R->plan, item); }
static int HOK(const fs_run *R, int64_t item) { return R->hdone[item]; }
static int hrank(const fs_run *R, int64_t r, int which) {
  const fs_plan_row *x = HR(R, r);
  return HOK(R, x->item) ? R->hres[x->item].rank[(size_t)x->slot * FS_HEAD_NRANKS + which] : -1;
}

static void h_model(const fs_run *R, int64_t r, void *dst, size_t width) { PUT_I(R->plan.heads[HR(R, r)->item].model); }
static void h_block(const fs_run *R, int64_t r, void *dst, size_t width) { PUT_I(HBK(R, HR(R, r)->item)->block); }
static void h_head(const fs_run *R, int64_t r, void *dst, size_t width) { PUT_I(HR(R, r)->slot); }
static void h_kv(const fs_run *R, int64_t r, void *dst, size_t width) {
  const fs_head_block *hb = HBK(R, HR(R, r)->item);
  PUT_I(HR(R, r)->slot / (hb->n_head / hb->n_head_kv));
}
static void h_dim(const fs_run *R, int64_t r, void *dst, size_t width) { PUT_I(HBK(R, HR(R, r)->item)->head_dim); }
static int64_t sigma_count(const fs_run *R, int64_t r) {
  return HOK(R, HR(R, r)->item) ? HBK(R, HR(R, r)->item)->head_dim : 0;
}
static void h_count(const fs_run *R, int64_t r, void *dst, size_t width) { PUT_I(sigma_count(R, r)); }
static void h_rq(const fs_run *R, int64_t r, void *dst, size_t width) { PUT_I(hrank(R, r, FS_HEAD_RANK_Q)); }
static void h_rk(const fs_run *R, int64_t r, void *dst, size_t width) { PUT_I(hrank(R, r, FS_HEAD_RANK_K)); }
static void h_rv(const fs_run *R, int64_t r, void *dst, size_t width) { PUT_I(hrank(R, r, FS_HEAD_RANK_V)); }
static void h_ro(const fs_run *R, int64_t r, void *dst, size_t width) { PUT_I(hrank(R, r, FS_HEAD_RANK_O)); }
static void h_rov(const fs_run *R, int64_t r, void *dst, size_t width) { PUT_I(hrank(R, r, FS_HEAD_RANK_OV)); }
static void h_status(const fs_run *R, int64_t r, void *dst, size_t width) {
  PUT_S("%s", HOK(R, HR(R, r)->item) ? "ok" : "failed");
}

static const column head_columns[] = {
    {"model", FS_H5_INT64, 0, h_model, "row of /models"},
    {"block", FS_H5_INT64, 0, h_block, "transformer block"},
    {"head", FS_H5_INT64, 0, h_head, "query head h"},
    {"kv_head", FS_H5_INT64, 0, h_kv, "its key/value head g = h / (n_head / n_head_kv)"},
    {"head_dim", FS_H5_INT64, 0, h_dim, "head size d_h"},
    {"qk_count", FS_H5_INT64, 0, h_count,
     "singular values of the QK circuit W_Q^h^T W_K^g in qk_sigma: d_h (0 if failed)"},
    {"ov_count", FS_H5_INT64, 0, h_count,
     "singular values of the OV circuit W_O^h W_V^g in ov_sigma: d_h (0 if failed)"},
    {"q_rank", FS_H5_INT64, 0, h_rq,
     "numerical rank of W_Q^h (#s_i > max(D, d_h) DBL_EPSILON s_1): its read basis size; -1 if failed"},
    {"k_rank", FS_H5_INT64, 0, h_rk, "numerical rank of W_K^g"},
    {"v_rank", FS_H5_INT64, 0, h_rv, "numerical rank of W_V^g"},
    {"o_rank", FS_H5_INT64, 0, h_ro, "numerical rank of W_O^h: its write basis size"},
    {"ov_rank", FS_H5_INT64, 0, h_rov,
     "numerical rank of the OV circuit: the size of its write basis in the composition"},
    {"status", FS_H5_STRING, 8, h_status, "ok or failed (the reason is in /head_overlaps error)"},
};

/* ---- /head_overlaps ------------------------------------------------------------ */

static const fs_plan_row *OR(const fs_run *R, int64_t r) { return &R->plan.ov_rows[r]; }
static int OOK(const fs_run *R, int64_t r) { return R->hdone[OR(R, r)->item]; }
static const fs_head_overlap *OVR(const fs_run *R, int64_t r) {
  return &R->hres[OR(R, r)->item].kind[OR(R, r)->slot];
}
/* The block whose heads are the rows: the block before for the OV>* kinds. */
static const fs_head_block *ROWB(const fs_run *R, int64_t r) {
  int64_t it = OR(R, r)->item;
  return HBK(R, OR(R, r)->slot >= FS_HEAD_OV_Q ? R->plan.heads[it].prev : it);
}
static int64_t nside(const fs_run *R, int64_t r, int col) {
  if (!OOK(R, r)) return 0;
  int k = OR(R, r)->slot;
  const fs_head_block *hb = col ? HBK(R, OR(R, r)->item) : ROWB(R, r);
  int kv = k == FS_HEAD_K || k == FS_HEAD_V || (col && (k == FS_HEAD_OV_K || k == FS_HEAD_OV_V));
  return kv ? hb->n_head_kv : hb->n_head;
}
static int64_t overlap_count(const fs_run *R, int64_t r) { return nside(R, r, 0) * nside(R, r, 1); }
static int64_t dim_count(const fs_run *R, int64_t r) { return R->opts->neps * overlap_count(R, r); }

static void o_model(const fs_run *R, int64_t r, void *dst, size_t width) { PUT_I(R->plan.heads[OR(R, r)->item].model); }
static void o_block(const fs_run *R, int64_t r, void *dst, size_t width) { PUT_I(ROWB(R, r)->block); }
static void o_kind(const fs_run *R, int64_t r, void *dst, size_t width) {
  PUT_S("%s", fs_head_kind_name((fs_head_kind)OR(R, r)->slot));
}
static void o_nrows(const fs_run *R, int64_t r, void *dst, size_t width) { PUT_I(nside(R, r, 0)); }
static void o_ncols(const fs_run *R, int64_t r, void *dst, size_t width) { PUT_I(nside(R, r, 1)); }
static void o_random(const fs_run *R, int64_t r, void *dst, size_t width) { PUT_D(OOK(R, r) ? OVR(R, r)->random : NAN); }
static void o_mean(const fs_run *R, int64_t r, void *dst, size_t width) {
  PUT_D(OOK(R, r) ? OVR(R, r)->mean_offdiag : NAN);
}
static void o_nred(const fs_run *R, int64_t r, void *dst, size_t width) { PUT_I(OOK(R, r) ? OVR(R, r)->n_redundant : -1); }
static void o_status(const fs_run *R, int64_t r, void *dst, size_t width) { PUT_S("%s", OOK(R, r) ? "ok" : "failed"); }
static void o_error(const fs_run *R, int64_t r, void *dst, size_t width) {
  const char *e = R->heads_error[OR(R, r)->item];
  PUT_S("%s", e ? e : "");
}
static void o_seconds(const fs_run *R, int64_t r, void *dst, size_t width) { PUT_D(R->hseconds[OR(R, r)->item]); }
static void o_rank(const fs_run *R, int64_t r, void *dst, size_t width) { PUT_I(R->plan.heads[OR(R, r)->item].owner); }

static const column overlap_columns[] = {
    {"model", FS_H5_INT64, 0, o_model, "row of /models"},
    {"block", FS_H5_INT64, 0, o_block,
     "block b of the rows' heads (for OV>Q, OV>K, OV>V: OV writes of b against the reads of b + 1)"},
    {"kind", FS_H5_STRING, 8, o_kind,
     "Q, K, V, O (heads of one block against each other) or OV>Q, OV>K, OV>V (composition)"},
    {"nrows", FS_H5_INT64, 0, o_nrows,
     "rows of the overlap matrix: query heads H (key/value heads H_kv for K and V); 0 if failed"},
    {"ncols", FS_H5_INT64, 0, o_ncols, "columns: H, or H_kv for K, V, OV>K and OV>V; 0 if failed"},
    {"random", FS_H5_DOUBLE, 0, o_random, "d_h / D: the expected overlap of random d_h-dimensional subspaces"},
    {"mean_offdiag", FS_H5_DOUBLE, 0, o_mean,
     "mean overlap over the head pairs a != b (all entries for OV>*); NaN with a single head"},
    {"n_redundant", FS_H5_INT64, 0, o_nred,
     "head pairs a < b (entries for OV>*) with overlap > the root attribute head_threshold"},
    {"status", FS_H5_STRING, 8, o_status, "ok or failed"},
    {"error", FS_H5_STRING, 256, o_error, "reason of a failure of the head item that computes the row"},
    {"seconds", FS_H5_DOUBLE, 0, o_seconds, "wall time of the head item that computed it (timing, not a result)"},
    {"rank", FS_H5_INT64, 0, o_rank, "MPI rank that computed it (not a result)"},
};

/* ---- ragged datasets -------------------------------------------------------------- */

static const void *qk_values(const fs_run *R, int64_t r) {
  return R->hres[HR(R, r)->item].qk_sigma + (size_t)HR(R, r)->slot * HBK(R, HR(R, r)->item)->head_dim;
}
static const void *ov_values(const fs_run *R, int64_t r) {
  return R->hres[HR(R, r)->item].ov_sigma + (size_t)HR(R, r)->slot * HBK(R, HR(R, r)->item)->head_dim;
}
static const void *overlap_values(const fs_run *R, int64_t r) { return OVR(R, r)->overlap; }
static const void *dim_values(const fs_run *R, int64_t r) { return OVR(R, r)->dim; }

/* ---- writing ------------------------------------------------------------------------- */

/* The rows of a table whose head item this rank owns, ascending. */
static int64_t *mine_rows(const fs_run *R, const fs_plan_row *rows, int64_t n, int64_t *count) {
  int64_t *out = malloc(sizeof *out * (size_t)(n + 1)), c = 0;
  for (int64_t i = 0; out && i < n; i++)
    if (R->plan.heads[rows[i].item].owner == R->rank) out[c++] = i;
  *count = c;
  return out;
}

static const ragged head_ragged[] = {
    {"/heads/qk_sigma", "/heads/qk_offset",
     "first element of the head's QK circuit singular values in qk_sigma (qk_count of them)",
     FS_H5_DOUBLE, sigma_count, qk_values, NULL, NULL, 0},
    {"/heads/ov_sigma", "/heads/ov_offset",
     "first element of the head's OV circuit singular values in ov_sigma (ov_count of them)",
     FS_H5_DOUBLE, sigma_count, ov_values, NULL, NULL, 0},
};
static const ragged overlap_ragged[] = {
    {"/head_overlaps/overlap", "/head_overlaps/offset",
     "first element of the row-major nrows x ncols overlap matrix in overlap",
     FS_H5_DOUBLE, overlap_count, overlap_values, NULL, NULL, 0},
    {"/head_overlaps/dim", "/head_overlaps/dim_offset",
     "first element of the neps x nrows x ncols intersection dimensions in dim "
     "(dim[dim_offset + (e nrows + a) ncols + b], e indexing the root eps_degrees)",
     FS_H5_INT64, dim_count, dim_values, NULL, NULL, 0},
};

static int write_group(fs_run *R, fs_h5 *h, const char *group, const column *cols, int ncol,
                       const fs_plan_row *rows, int64_t nrows, const ragged *rg, int nrg,
                       fs_error *err) {
  int64_t nmine = 0, *mine = mine_rows(R, rows, nrows, &nmine);
  int ok = mine != NULL, all;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, R->comm);
  int rc = all ? 0 : fs_fail(err, "out of memory writing %s", group);
  if (!rc) rc = fs_output_table(R, h, group, cols, ncol, nrows, nmine, mine, err);
  for (int i = 0; i < nrg && !rc; i++) rc = fs_output_ragged(R, h, &rg[i], nrows, mine, nmine, err);
  free(mine);
  return rc;
}

int fs_output_heads(fs_run *R, fs_h5 *h, fs_error *err) {
  double t;
  MPI_Allreduce(&R->time_heads, &t, 1, MPI_DOUBLE, MPI_MAX, R->comm);
  double computed = R->plan.no_heads ? 0.0 : 1.0;
  FS_TRY(fs_h5_attr_doubles(h, "/", "head_threshold", &R->opts->head_threshold, 1, err));
  FS_TRY(fs_h5_attr_doubles(h, "/", "heads", &computed, 1, err));
  FS_TRY(fs_h5_attr_doubles(h, "/", "seconds_heads", &t, 1, err));
  FS_TRY(write_group(R, h, "/heads", head_columns, NCOL(head_columns), R->plan.head_rows,
                     R->plan.nhead_rows, head_ragged, 2, err));
  return write_group(R, h, "/head_overlaps", overlap_columns, NCOL(overlap_columns),
                     R->plan.ov_rows, R->plan.nov_rows, overlap_ragged, 2, err);
}
