/*
 * fs_plan.h - the plan of a run: every model's header and layer graph, the
 * global list of matrices (work items) with a cost estimate, the pairs, and
 * which rank owns what.
 *
 * Every rank builds the same plan from the same headers (headers are small;
 * tensor data is never read here), so ownership needs no communication.
 * Matrices are assigned longest-processing-time first (Graham 1969: within
 * 4/3 of the optimal makespan); a pair belongs to the owner of its writer,
 * which then only has to receive the reader's basis.
 */
#ifndef FS_PLAN_H
#define FS_PLAN_H

#include <stdint.h>

#include "fs_error.h"
#include "fs_graph.h"
#include "fs_model.h"

typedef struct fs_plan_model {
  char *path;
  fs_model model; /* header only */
  fs_graph graph;
  int ok;         /* header read and graph built */
  char error[FS_ERRMSG_MAX];
  int64_t mat0, pair0; /* first global matrix and pair of this model */
} fs_plan_model;

typedef struct fs_plan_matrix {
  int model, local; /* model index and matrix index in its graph */
  int k;            /* singular triplets to compute */
  double cost;      /* flop estimate rows * cols * k */
  int owner;
} fs_plan_matrix;

typedef struct fs_plan_pair {
  int model, local;       /* model index and pair index in its graph */
  int64_t writer, reader; /* global matrix indices */
  int owner;
} fs_plan_pair;

/* A head block of a model's graph (SPEC 3.7): one work item that reads its
 * block's Q, K, V, O (and the O, V of the block before, for the composition)
 * itself.  Its rows: n_head rows of /heads from head_row, the Q, K, V, O
 * rows of /head_overlaps from ov_row, and the composition rows of the block
 * before (OV>Q, OV>K, OV>V) from comp_row (-1 if prev is -1). */
typedef struct fs_plan_heads {
  int model, local; /* model index and head block index in its graph */
  int64_t prev;     /* global head item of the block before (block - 1), or -1 */
  double cost;      /* flop estimate of the QRs, SVDs and Gram products */
  int owner;
  int64_t head_row, ov_row, comp_row;
} fs_plan_heads;

/* A row of /heads (slot: the query head) or /head_overlaps (slot: the kind,
 * fs_head_kind) and the head item that computes it. */
typedef struct fs_plan_row {
  int64_t item;
  int slot;
} fs_plan_row;

typedef struct fs_plan {
  int nranks, nmodels;
  fs_plan_model *models;
  int64_t nmat, npair;
  fs_plan_matrix *mat;
  fs_plan_pair *pair;
  double *load; /* estimated cost per rank */
  int64_t nheads, nhead_rows, nov_rows;
  fs_plan_heads *heads;
  fs_plan_row *head_rows, *ov_rows;
} fs_plan;

/* Opens every header (a bad one marks its model failed; it is not fatal) and
 * assigns the work over nranks.  Fails only when memory runs out.  The same
 * as fs_plan_open then fs_plan_assign; a parallel run agrees on which models
 * opened in between (a file may be readable on some ranks only). */
int fs_plan_build(char *const *paths, int nmodels, int kmax, int nranks,
                  fs_plan *p, fs_error *err);
int fs_plan_open(char *const *paths, int nmodels, fs_plan *p, fs_error *err);
int fs_plan_assign(fs_plan *p, int kmax, int nranks, fs_error *err);

/* Marks model i failed with the reason why (closing it if it was open);
 * only before fs_plan_assign. */
void fs_plan_drop_model(fs_plan *p, int i, const char *why);
void fs_plan_free(fs_plan *p);

/* k actually used for a rows x cols matrix: min(kmax, rows, cols). */
int fs_plan_k(int kmax, int64_t rows, int64_t cols);

/* Estimated flops of a head item (fs_heads_compute): composed = 1 when it
 * also reads the block before. */
double fs_plan_heads_cost(const fs_head_block *hb, int64_t D, int composed);

static inline const fs_head_block *fs_plan_head_block_of(const fs_plan *p, int64_t i) {
  return &p->models[p->heads[i].model].graph.head_block[p->heads[i].local];
}

static inline const fs_matrix *fs_plan_matrix_of(const fs_plan *p, int64_t i) {
  return &p->models[p->mat[i].model].graph.mat[p->mat[i].local];
}

#endif
