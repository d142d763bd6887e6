/*
 * fs_plan.h - the plan of a run: every model's header and layer graph, the
 * global list of matrices (work items) with a cost estimate, the pairs, and
 * which rank owns what.
 *
 * Every rank builds the same plan from the same headers (headers are small;
 * tensor data is never read here), so static ownership needs no communication.
 *
 * Cost model (docs/architecture.md): cost = rows * cols * (k + 1) (the
 * products of a Krylov SVD) + FS_COST_PER_BYTE * bytes read + FS_COST_PER_ITEM
 * (creating the solver, opening the tensor).
 *
 * Memory budget (--mem-per-rank): a matrix whose estimated footprint
 * fs_plan_mem_estimate on one rank exceeds the budget gets a group of g
 * consecutive ranks (the smallest g that fits, at most all ranks), which
 * computes its SVD together on a sub-communicator; the group's first rank
 * (its leader) owns the result.  Classifiers (readers of classifier pairs)
 * stay whole: their statistics need every row on one rank.
 *
 * Assignment (Graham 1966/1969): head items (fs_plan_heads) first, LPT from
 * empty ranks, since every rank runs its own before any matrix; then the
 * matrices continue from those loads: group items first, largest first, each on the
 * window of g consecutive ranks whose busiest rank is least loaded (the group
 * starts when its last member is free); then single-rank items
 * longest-processing-time first (LPT: within 4/3 - 1/(3 nranks) of the optimal
 * makespan), or, with the dynamic schedule, from a shared queue at run time
 * (partition/fs_queue.c; owner -1 until fs_run agrees ownership).  A pair
 * belongs to the owner of its writer, which then only has to receive the
 * reader's basis.
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
  int *twin;      /* per graph matrix: the earlier matrix of identical contents whose
                     results it copies (fs_plan_find_twins), or -1 */
  int *twin_check; /* per graph matrix: 1 if that twin reads another tensor, whose
                      contents the owner compares before copying */
  uint64_t twin_sum; /* fs_plan_twins_checksum of both: ranks agree on it */
  char error[FS_ERRMSG_MAX];
  int64_t mat0, pair0; /* first global matrix and pair of this model */
} fs_plan_model;

/* Weight of one stored byte read and decoded, and the fixed cost of an item,
 * in units of the SVD term rows * cols * (k + 1) (about 1.5-3 ns each on the
 * development machine): measured, docs/architecture.md. */
#define FS_COST_PER_BYTE 0.25
#define FS_COST_PER_ITEM 2e5

typedef enum { FS_SCHED_AUTO, FS_SCHED_LPT, FS_SCHED_DYNAMIC } fs_schedule;
const char *fs_schedule_name(fs_schedule s);
/* "lpt", "dynamic" or "auto"; -1 if unknown. */
int fs_schedule_parse(const char *s);

typedef struct fs_plan_opts {
  int kmax;
  double mem_per_rank; /* bytes; 0 = no budget (every matrix on one rank) */
  fs_schedule schedule;
  int no_heads;        /* 1: no head items (--no-heads); the head blocks stay in the graphs */
} fs_plan_opts;

typedef struct fs_plan_matrix {
  int model, local; /* model index and matrix index in its graph */
  int k;            /* singular triplets to compute */
  double bytes;     /* bytes read from the checkpoint */
  double cost;      /* rows * cols * (k + 1) + FS_COST_PER_BYTE * bytes + FS_COST_PER_ITEM */
  double mem;       /* estimated peak bytes on one rank (fs_plan_mem_estimate, g = 1) */
  int nranks;       /* ranks of its group: 1 = computed alone on PETSC_COMM_SELF */
  int first;        /* first rank of the group (nranks > 1) */
  int64_t seq;      /* position in the assignment order (largest cost first) */
  int owner;        /* rank holding the result (group leader); -1: dynamic, not yet agreed */
  int64_t twin_of;  /* global matrix whose results this one copies (same owner), or -1 */
  int twin_check;   /* 1: compare the contents first (another tensor); else known equal */
  int64_t next_twin; /* of a source and of each twin: the next twin of that source, or -1 */
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
  double cost;      /* flops of the QRs, SVDs and Gram products / FS_HEADS_FLOPS_PER_UNIT */
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
  fs_schedule schedule; /* lpt or dynamic: auto resolved */
  int no_heads;         /* no head items: /heads and /head_overlaps stay empty */
  double mem_per_rank;
  int64_t ngroup;       /* matrices computed by groups of ranks */
  int64_t nover;        /* matrices over the budget even so (on every rank, or kept whole) */
  int64_t nwhole;       /* of them, classifiers kept whole on one rank (fs_classifier) */
  int64_t ntwin;        /* matrices that copy an identical one's results (twin_of >= 0) */
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
/* tags: NULL, or per model its manifest tags; a layers=FILE tag gives that
 * model its own layer map. */
int fs_plan_open(char *const *paths, char *const *tags, int nmodels, fs_plan *p,
                 fs_error *err);
int fs_plan_assign(fs_plan *p, int kmax, int nranks, fs_error *err);

/* Marks model i failed with the reason why (closing it if it was open);
 * only before fs_plan_assign. */
void fs_plan_drop_model(fs_plan *p, int i, const char *why);

/* Before fs_plan_assign: the memory budget and the schedule (auto resolved
 * by the number of models; without this call: no budget, LPT). */
void fs_plan_set_opts(fs_plan *p, const fs_plan_opts *o);
/* fs_plan_open, fs_plan_set_opts, fs_plan_assign (fs_plan_build: no budget, LPT). */
int fs_plan_build_opts(char *const *paths, int nmodels, const fs_plan_opts *o, int nranks,
                       fs_plan *p, fs_error *err);

/* Twins (partition/fs_plan_twins.c): matrices of one model whose loaded
 * contents are identical to an earlier one's, the source, whose spectrum the
 * run computes once and copies.  Twins read the same tensor (or another with
 * the same dtype, shape and first 256 columns of the first, middle and last
 * rows: check = 1, the owner compares the whole contents), the same slice,
 * row blocks and unfolding, the same
 * BatchNorm, and the same fold (a gain of exactly 1 everywhere counts as
 * none).  A twin is planned on its source's rank at the fixed item cost (plus
 * the bytes it reads to compare); it stays a plain matrix when its source is
 * computed by a group and it would need the whole matrix (check, classifier).
 * twin[j] = source's local index or -1, check[j] as above; reads a few rows
 * and the fold gains.  Fails only when memory runs out. */
int fs_plan_find_twins(const fs_model *m, const fs_graph *g, int *twin, int *check,
                       fs_error *err);
uint64_t fs_plan_twins_checksum(const int *twin, const int *check, int n);
/* Forget model i's twins (the ranks found different ones); before fs_plan_assign. */
void fs_plan_clear_twins(fs_plan *p, int i);

/* Estimated peak bytes per rank of the SVD of a rows x cols matrix with k
 * triplets on a group of g ranks:
 *   8 [b cols                         the row block (MATMPIDENSE), b = ceil(rows / g)
 *      + (rows + cols)(ncv + 2) / g   Krylov bases of both sides, ncv = min(max(2k, k + 15),
 *                                     min(rows, cols)) (SLEPc's default subspace)
 *      + min(b, FS_LOAD_CHUNK) cols   the read buffer
 *      + (rows + cols)(k + 1)]        the gathered triplets (leader)
 * For g = 1 the read buffer is the whole matrix already counted, and no gather. */
double fs_plan_mem_estimate(int64_t rows, int64_t cols, int k, int g);
/* Smallest g in [1, nranks] with fs_plan_mem_estimate <= budget (nranks if
 * none fits; budget <= 0: 1). */
int fs_plan_group_size(int64_t rows, int64_t cols, int k, double budget, int nranks);

/* Rows read per chunk when a group fills its row blocks. */
#define FS_LOAD_CHUNK 64

/* The assignment on its own (for tests and bench/bench_sched.c): n items of
 * cost[i] and group size g[i] (NULL: all 1) over nranks; writes owner[i]
 * (the group's first rank) and the per-rank loads load[nranks] (the
 * estimated finishing times).  With dynamic, single items get owner -1 but
 * load still holds the LPT estimate.  order[n] (may be NULL) receives the
 * assignment order.  Returns the makespan, or -1 when memory runs out. */
double fs_plan_assign_costs(const double *cost, const int *g, int64_t n, int nranks, int dynamic,
                      int *owner, double *load, int64_t *order);
void fs_plan_free(fs_plan *p);

/* k actually used for a rows x cols matrix: min(kmax, rows, cols). */
int fs_plan_k(int kmax, int64_t rows, int64_t cols);

/* A head item's BLAS-3 flops per unit of the matrices' cost model: its
 * panels and QRs run at ~45 Gflop/s on one core where the SVD term goes at
 * ~1.1e9 units/s (both measured on the benchmark models, docs/architecture.md). */
#define FS_HEADS_FLOPS_PER_UNIT 40.0

/* Cost of a head item (fs_heads_compute) in the units of the matrices'
 * cost: its estimated flops / FS_HEADS_FLOPS_PER_UNIT; composed = 1 when it
 * also reads the block before. */
double fs_plan_heads_cost(const fs_head_block *hb, int64_t D, int composed);

static inline const fs_head_block *fs_plan_head_block_of(const fs_plan *p, int64_t i) {
  return &p->models[p->heads[i].model].graph.head_block[p->heads[i].local];
}

static inline const fs_matrix *fs_plan_matrix_of(const fs_plan *p, int64_t i) {
  return &p->models[p->mat[i].model].graph.mat[p->mat[i].local];
}

#endif
