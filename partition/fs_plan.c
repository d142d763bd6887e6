/*
 * fs_plan.c - work list, cost model, memory budget and rank assignment (see
 * fs_plan.h).  Method: Graham's list scheduling, longest processing time
 * first (R. L. Graham, "Bounds on multiprocessing timing anomalies", SIAM J.
 * Appl. Math. 17 (1969) 416-429), extended to items that occupy a window of
 * consecutive ranks (rigid parallel tasks, placed first, largest first).
 */
#include "fs_plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_fault.h"
#include "fs_layermap.h"
#include "fs_manifest.h"

const char *fs_schedule_name(fs_schedule s) {
  return s == FS_SCHED_LPT ? "lpt" : s == FS_SCHED_DYNAMIC ? "dynamic" : "auto";
}

int fs_schedule_parse(const char *s) {
  if (!strcmp(s, "lpt")) return FS_SCHED_LPT;
  if (!strcmp(s, "dynamic")) return FS_SCHED_DYNAMIC;
  if (!strcmp(s, "auto")) return FS_SCHED_AUTO;
  return -1;
}

double fs_plan_mem_estimate(int64_t rows, int64_t cols, int k, int g) {
  double m = (double)rows, n = (double)cols, ncv = 2.0 * k > k + 15.0 ? 2.0 * k : k + 15.0;
  if (ncv > (m < n ? m : n)) ncv = m < n ? m : n;
  if (g <= 1) return 8.0 * (m * n + (m + n) * (ncv + 2) + (m + n) * (k + 1));
  double block = ceil(m / g), chunk = block < FS_LOAD_CHUNK ? block : FS_LOAD_CHUNK;
  return 8.0 * (block * n + (m + n) * (ncv + 2) / g + chunk * n + (m + n) * (k + 1));
}

int fs_plan_group_size(int64_t rows, int64_t cols, int k, double budget, int nranks) {
  if (budget <= 0 || nranks <= 1) return 1;
  for (int g = 1; g < nranks; g++)
    if (fs_plan_mem_estimate(rows, cols, k, g) <= budget) return g;
  return nranks;
}

int fs_plan_k(int kmax, int64_t rows, int64_t cols) {
  int64_t k = kmax;
  if (rows < k) k = rows;
  if (cols < k) k = cols;
  return (int)k;
}

/* The graph of one model: with its manifest's layers=FILE tag, that map is
 * the active one while this model's graph is built (in place of the run's
 * --layer-map), so each model of a zoo can bring its own. */
static int build_graph(const fs_model *m, const char *tags, fs_graph *g, fs_error *err) {
  char path[4096];
  if (!tags || !fs_manifest_tag(tags, "layers", path, sizeof path)) return fs_graph_build(m, g, err);
  fs_layermap *map = NULL;
  FS_TRY(fs_layermap_read(path, &map, err));
  const fs_layermap *run_map = fs_layermap_active();
  fs_layermap_activate(map);
  int rc = fs_graph_build(m, g, err);
  fs_layermap_activate(run_map);
  fs_layermap_free(map);
  return rc;
}

static void open_model(fs_plan_model *pm, const char *path, const char *tags, int index) {
  fs_error e;
  fs_error_clear(&e);
  if (fs_fault_hit(FS_FAULT_OPEN, index)) {
    snprintf(pm->error, sizeof pm->error, "%s: cannot read the header (injected fault)", path);
    return;
  }
  if (fs_model_open(path, &pm->model, &e) || build_graph(&pm->model, tags, &pm->graph, &e)) {
    memcpy(pm->error, e.msg, sizeof pm->error);
    return;
  }
  int n = pm->graph.nmat;
  pm->twin = malloc(sizeof *pm->twin * (size_t)(n + 1));
  pm->twin_check = malloc(sizeof *pm->twin_check * (size_t)(n + 1));
  if (!pm->twin || !pm->twin_check ||
      fs_plan_find_twins(&pm->model, &pm->graph, pm->twin, pm->twin_check, &e)) {
    snprintf(pm->error, sizeof pm->error, "%s: out of memory planning its matrices", path);
    return;
  }
  pm->twin_sum = fs_plan_twins_checksum(pm->twin, pm->twin_check, n);
  pm->ok = 1;
}

void fs_plan_clear_twins(fs_plan *p, int i) {
  fs_plan_model *pm = &p->models[i];
  for (int j = 0; pm->ok && j < pm->graph.nmat; j++) pm->twin[j] = -1, pm->twin_check[j] = 0;
}

typedef struct cost_index {
  int group; /* 1: needs several ranks */
  double cost;
  int64_t index;
} cost_index;

static int by_cost_desc(const void *a, const void *b) {
  const cost_index *x = a, *y = b;
  if (x->group != y->group) return y->group - x->group;
  if (x->cost != y->cost) return x->cost < y->cost ? 1 : -1;
  return (x->index > y->index) - (x->index < y->index); /* same order on every rank */
}

/* The window of g consecutive ranks whose busiest member is least loaded
 * (lowest first rank on ties); *start gets that member's load. */
static int best_window(const double *load, int nranks, int g, double *start) {
  int best = 0;
  double bestmax = 0;
  for (int f = 0; f + g <= nranks; f++) {
    double mx = load[f];
    for (int r = f + 1; r < f + g; r++) mx = load[r] > mx ? load[r] : mx;
    if (f == 0 || mx < bestmax) best = f, bestmax = mx;
  }
  *start = bestmax;
  return best;
}

/* fs_plan_assign_costs continuing from the loads the ranks already have. */
static double assign_from(const double *cost, const int *g, int64_t n, int nranks, int dynamic,
                          int *owner, double *load, int64_t *order) {
  cost_index *o = malloc(sizeof *o * (size_t)(n + 1));
  if (!o) return -1;
  /* Groups first (they synchronise their members, so they go where the
   * schedule is still flat), then single items; largest first in each. */
  for (int64_t i = 0; i < n; i++) o[i] = (cost_index){g && g[i] > 1, cost[i], i};
  qsort(o, (size_t)n, sizeof *o, by_cost_desc);
  for (int64_t s = 0; s < n; s++) {
    int64_t i = o[s].index;
    int gi = g && g[i] > 1 ? (g[i] < nranks ? g[i] : nranks) : 1;
    double t0;
    int f = best_window(load, nranks, gi, &t0);
    for (int r = f; r < f + gi; r++) load[r] = t0 + cost[i] / gi;
    owner[i] = (dynamic && gi == 1) ? -1 : f;
    if (order) order[s] = i;
  }
  free(o);
  double mk = 0;
  for (int r = 0; r < nranks; r++) mk = load[r] > mk ? load[r] : mk;
  return mk;
}

double fs_plan_assign_costs(const double *cost, const int *g, int64_t n, int nranks, int dynamic,
                            int *owner, double *load, int64_t *order) {
  for (int r = 0; r < nranks; r++) load[r] = 0;
  return assign_from(cost, g, n, nranks, dynamic, owner, load, order);
}

/* Cost, group size and owner of every matrix, continuing the loads of the
 * head items; pair owners follow writers. */
static int assign(fs_plan *p, fs_error *err) {
  int64_t n = p->nmat;
  double *cost = calloc((size_t)n + 1, sizeof *cost);
  int *g = calloc((size_t)n + 1, sizeof *g), *owner = malloc(sizeof *owner * (size_t)(n + 1));
  int64_t *order = malloc(sizeof *order * (size_t)(n + 1));
  int rc = (cost && g && owner && order) ? 0 : FS_ERR;
  for (int64_t i = 0; !rc && i < n; i++) cost[i] = p->mat[i].cost, g[i] = p->mat[i].nranks;
  if (!rc && assign_from(cost, g, n, p->nranks, p->schedule == FS_SCHED_DYNAMIC, owner, p->load, order) < 0)
    rc = FS_ERR;
  for (int64_t s = 0; !rc && s < n; s++) {
    fs_plan_matrix *w = &p->mat[order[s]];
    w->seq = s;
    w->owner = owner[order[s]];
    w->first = w->nranks > 1 ? w->owner : -1;
  }
  for (int64_t i = 0; !rc && i < n; i++) { /* a twin goes where its source is */
    fs_plan_matrix *w = &p->mat[i];
    if (w->twin_of < 0) continue;
    int to = p->mat[w->twin_of].owner;
    if (w->owner >= 0) p->load[w->owner] -= w->cost;
    if (to >= 0) p->load[to] += w->cost;
    w->owner = to; /* -1: the dynamic queue hands the source out, the twin follows */
  }
  free(cost), free(g), free(owner), free(order);
  if (rc) return fs_fail(err, "out of memory assigning %lld matrices", (long long)n);
  for (int64_t i = 0; i < p->npair; i++) p->pair[i].owner = p->mat[p->pair[i].writer].owner;
  return 0;
}

/* Bytes a rank reads for x: its stored rows (all columns), or the whole
 * kernel for an input unfolding; at the stored element size. */
static double bytes_read(const fs_model *m, const fs_matrix *x) {
  const fs_tensor *t = &m->tensors[x->tensor];
  double per = fs_tensor_numel(t) > 0 ? (double)t->nbytes / (double)fs_tensor_numel(t) : 0;
  double rows = x->unfold_in ? (double)fs_tensor_rows(t) : (double)fs_matrix_rows(x);
  return rows * (double)fs_tensor_cols(t) * per;
}

static int is_classifier_reader(const fs_plan *p, int64_t gi) {
  const fs_plan_model *pm = &p->models[p->mat[gi].model];
  for (int j = 0; j < pm->graph.npair; j++)
    if (pm->graph.pair[j].type == FS_PAIR_CLASSIFIER && pm->mat0 + pm->graph.pair[j].reader == gi)
      return 1;
  return 0;
}

/* The twins of each model (fs_plan_find_twins) as global links: a twin costs
 * the fixed item cost (and the bytes it compares), on one rank, its source's.
 * A group's leader holds a row block only, so a twin that needs the whole
 * matrix (to compare it, or for the classifier statistics) stays on its own. */
static void link_twins(fs_plan *p) {
  for (int i = 0; i < p->nmodels; i++) {
    const fs_plan_model *pm = &p->models[i];
    int64_t *last = pm->ok ? malloc(sizeof *last * (size_t)(pm->graph.nmat + 1)) : NULL;
    for (int j = 0; last && j < pm->graph.nmat; j++) {
      int64_t gi = pm->mat0 + j, src = pm->twin[j] >= 0 ? pm->mat0 + pm->twin[j] : -1;
      fs_plan_matrix *w = &p->mat[gi];
      last[j] = gi;
      if (src < 0) continue;
      if (p->mat[src].nranks > 1 && (pm->twin_check[j] || is_classifier_reader(p, gi))) continue;
      w->twin_of = src, w->twin_check = pm->twin_check[j];
      w->nranks = 1;
      w->cost = FS_COST_PER_ITEM + (w->twin_check ? FS_COST_PER_BYTE * w->bytes : 0);
      p->mat[last[pm->twin[j]]].next_twin = gi; /* append to the source's chain */
      last[pm->twin[j]] = gi;
      p->ntwin++;
    }
    free(last); /* out of memory: no twins, each matrix computed */
  }
}

static int fill_work(fs_plan *p, int kmax, fs_error *err) {
  for (int i = 0; i < p->nmodels; i++) {
    fs_plan_model *pm = &p->models[i];
    pm->mat0 = p->nmat, pm->pair0 = p->npair;
    if (pm->ok) p->nmat += pm->graph.nmat, p->npair += pm->graph.npair;
  }
  p->mat = calloc((size_t)p->nmat + 1, sizeof *p->mat);
  p->pair = calloc((size_t)p->npair + 1, sizeof *p->pair);
  p->load = calloc((size_t)p->nranks, sizeof *p->load);
  if (!p->mat || !p->pair || !p->load) return fs_fail(err, "out of memory planning the run");
  for (int i = 0; i < p->nmodels; i++) {
    const fs_plan_model *pm = &p->models[i];
    if (!pm->ok) continue;
    for (int j = 0; j < pm->graph.nmat; j++) {
      const fs_matrix *x = &pm->graph.mat[j];
      fs_plan_matrix *w = &p->mat[pm->mat0 + j];
      w->model = i, w->local = j;
      w->k = fs_plan_k(kmax, fs_matrix_rows(x), fs_matrix_cols(x));
      int64_t rows = fs_matrix_rows(x), cols = fs_matrix_cols(x);
      w->bytes = bytes_read(&pm->model, x);
      w->cost = (double)rows * (double)cols * (w->k + 1) + FS_COST_PER_BYTE * w->bytes + FS_COST_PER_ITEM;
      w->mem = fs_plan_mem_estimate(rows, cols, w->k, 1);
      w->nranks = fs_plan_group_size(rows, cols, w->k, p->mem_per_rank, p->nranks);
      w->first = -1;
      w->twin_of = -1, w->next_twin = -1;
    }
    for (int j = 0; j < pm->graph.npair; j++) {
      fs_plan_pair *q = &p->pair[pm->pair0 + j];
      q->model = i, q->local = j;
      q->writer = pm->mat0 + pm->graph.pair[j].writer;
      q->reader = pm->mat0 + pm->graph.pair[j].reader;
      /* The classifier statistics (src/fs_classifier.c) need every row of
       * the classifier on one rank: it stays whole, over the budget. */
      if (pm->graph.pair[j].type == FS_PAIR_CLASSIFIER && p->mat[q->reader].nranks > 1)
        p->mat[q->reader].nranks = 1, p->nwhole++;
    }
  }
  link_twins(p);
  for (int64_t i = 0; i < p->nmat; i++) {
    const fs_plan_matrix *w = &p->mat[i];
    const fs_matrix *x = fs_plan_matrix_of(p, i);
    if (w->nranks > 1) p->ngroup++;
    if (p->mem_per_rank > 0 &&
        fs_plan_mem_estimate(fs_matrix_rows(x), fs_matrix_cols(x), w->k, w->nranks) > p->mem_per_rank)
      p->nover++;
  }
  return 0;
}

/* ---- head blocks (SPEC 3.7) ------------------------------------------------ */

double fs_plan_heads_cost(const fs_head_block *hb, int64_t D, int composed) {
  double d = (double)D, h = hb->n_head, kv = hb->n_head_kv, dh = hb->head_dim;
  double factor = 6 * d * dh * dh + 22 * dh * dh * dh; /* QR, its Q, SVD of R, basis */
  double nfac = 2 * h + 2 * kv + (composed ? h + kv : 0);
  /* within the block symmetric (dsyrk, half a product), the composition not */
  double gram = 2 * d * dh * dh * (h * h + kv * kv + (composed ? h * h + 2 * h * kv : 0));
  double cosines = 10 * dh * dh * dh * (2 * h * h + 2 * kv * kv + (composed ? h * h + 2 * h * kv : 0));
  double circuits = 2 * h * 12 * dh * dh * dh;
  return (nfac * factor + gram + cosines + circuits) / FS_HEADS_FLOPS_PER_UNIT;
}

/* Head items: their rows in /heads and /head_overlaps (a block's Q, K, V, O
 * rows, then the composition rows of its OV writes into the next block,
 * computed by the next block's item), and their owners, by LPT before the
 * matrices: a rank runs its head items first (src/fs_analyze.c), so the
 * matrices, static or from the queue, fill in around them. */
static int plan_heads(fs_plan *p, fs_error *err) {
  for (int i = 0; i < p->nmodels && !p->no_heads; i++)
    if (p->models[i].ok) p->nheads += p->models[i].graph.nhead_block;
  p->heads = calloc((size_t)p->nheads + 1, sizeof *p->heads);
  cost_index *order = malloc(sizeof *order * (size_t)(p->nheads + 1));
  if (!p->heads || !order) {
    free(order);
    return fs_fail(err, "out of memory planning %lld head blocks", (long long)p->nheads);
  }
  int64_t n = 0;
  for (int i = 0; i < p->nmodels && !p->no_heads; i++)
    for (int j = 0; p->models[i].ok && j < p->models[i].graph.nhead_block; j++, n++) {
      const fs_head_block *hb = &p->models[i].graph.head_block[j];
      fs_plan_heads *w = &p->heads[n];
      int composed = j > 0 && hb[-1].block == hb->block - 1;
      *w = (fs_plan_heads){i, j, composed ? n - 1 : -1, 0, 0, p->nhead_rows, p->nov_rows, -1};
      w->cost = fs_plan_heads_cost(hb, fs_matrix_in_dim(&hb->q), composed);
      if (composed) w->comp_row = p->heads[n - 1].ov_row + 4;
      p->nhead_rows += hb->n_head;
      int next = j + 1 < p->models[i].graph.nhead_block && hb[1].block == hb->block + 1;
      p->nov_rows += next ? 7 : 4;
      order[n] = (cost_index){0, w->cost, n};
    }
  p->head_rows = calloc((size_t)p->nhead_rows + 1, sizeof *p->head_rows);
  p->ov_rows = calloc((size_t)p->nov_rows + 1, sizeof *p->ov_rows);
  if (!p->head_rows || !p->ov_rows) {
    free(order);
    return fs_fail(err, "out of memory planning %lld head blocks", (long long)p->nheads);
  }
  for (int64_t i = 0; i < p->nheads; i++) {
    const fs_plan_heads *w = &p->heads[i];
    for (int h = 0; h < fs_plan_head_block_of(p, i)->n_head; h++)
      p->head_rows[w->head_row + h] = (fs_plan_row){i, h};
    for (int k = 0; k < 4; k++) p->ov_rows[w->ov_row + k] = (fs_plan_row){i, k};
    for (int k = 0; k < 3 && w->comp_row >= 0; k++) p->ov_rows[w->comp_row + k] = (fs_plan_row){i, 4 + k};
  }
  qsort(order, (size_t)p->nheads, sizeof *order, by_cost_desc);
  for (int64_t i = 0; i < p->nheads; i++) {
    int best = 0;
    for (int r = 1; r < p->nranks; r++)
      if (p->load[r] < p->load[best]) best = r;
    p->heads[order[i].index].owner = best;
    p->load[best] += order[i].cost;
  }
  free(order);
  return 0;
}

int fs_plan_open(char *const *paths, char *const *tags, int nmodels, fs_plan *p,
                 fs_error *err) {
  memset(p, 0, sizeof *p);
  p->nmodels = nmodels;
  p->models = calloc((size_t)nmodels + 1, sizeof *p->models);
  if (!p->models) return fs_fail(err, "out of memory planning %d models", nmodels);
  for (int i = 0; i < nmodels; i++) {
    p->models[i].path = strdup(paths[i]);
    if (!p->models[i].path) return fs_fail(err, "out of memory planning %d models", nmodels);
    open_model(&p->models[i], paths[i], tags ? tags[i] : NULL, i);
  }
  return 0;
}

void fs_plan_drop_model(fs_plan *p, int i, const char *why) {
  fs_plan_model *pm = &p->models[i];
  if (pm->ok) {
    fs_graph_free(&pm->graph);
    fs_model_close(&pm->model);
    pm->ok = 0;
  }
  snprintf(pm->error, sizeof pm->error, "%s", why);
}

void fs_plan_set_opts(fs_plan *p, const fs_plan_opts *o) {
  p->mem_per_rank = o->mem_per_rank;
  p->no_heads = o->no_heads;
  /* auto: a zoo of several models is heterogeneous, one model is not. */
  p->schedule = o->schedule != FS_SCHED_AUTO ? o->schedule
                : p->nmodels > 1 ? FS_SCHED_DYNAMIC : FS_SCHED_LPT;
}

int fs_plan_assign(fs_plan *p, int kmax, int nranks, fs_error *err) {
  p->nranks = nranks > 0 ? nranks : 1;
  if (p->schedule == FS_SCHED_AUTO) p->schedule = FS_SCHED_LPT;
  FS_TRY(fill_work(p, kmax, err));
  FS_TRY(plan_heads(p, err));
  return assign(p, err);
}

int fs_plan_build(char *const *paths, int nmodels, int kmax, int nranks,
                  fs_plan *p, fs_error *err) {
  fs_plan_opts o = {kmax, 0, FS_SCHED_LPT, 0};
  return fs_plan_build_opts(paths, nmodels, &o, nranks, p, err);
}

int fs_plan_build_opts(char *const *paths, int nmodels, const fs_plan_opts *o, int nranks,
                       fs_plan *p, fs_error *err) {
  FS_TRY(fs_plan_open(paths, NULL, nmodels, p, err));
  fs_plan_set_opts(p, o);
  return fs_plan_assign(p, o->kmax, nranks, err);
}

void fs_plan_free(fs_plan *p) {
  for (int i = 0; i < p->nmodels; i++) {
    free(p->models[i].twin), free(p->models[i].twin_check);
    fs_graph_free(&p->models[i].graph);
    fs_model_close(&p->models[i].model);
    free(p->models[i].path);
  }
  free(p->models);
  free(p->mat);
  free(p->pair);
  free(p->load);
  free(p->heads), free(p->head_rows), free(p->ov_rows);
  memset(p, 0, sizeof *p);
}
