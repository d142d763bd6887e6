/*
 * fs_reduce.c - model-wide statistics (SPEC 3.9) gathered to rank 0, and the
 * summary table (see fs_reduce.h; the formulas are in docs/mathematics.md,
 * "Model-wide statistics").  Quantiles: Hyndman and Fan, "Sample quantiles in
 * statistical packages", The American Statistician 50 (1996), type 7.
 */
#include "fs_reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs_fault.h"

const double fs_quantile_levels[FS_NQUANT] = {0.10, 0.25, 0.50, 0.75, 0.90};

const char *fs_stat_name(int s) {
  static const char *names[] = {"ratio_random", "overlap_rel", "kappa", "kappa_rel", "balancedness"};
  return s >= FS_ST_RATIO0 ? "ratio" : names[s];
}

int fs_align_eps_index(const double *eps, int neps) {
  int below[FS_MAX_EPS];
  for (int e = 0; e < neps; e++) { /* rank of eps[e], ties by position */
    below[e] = 0;
    for (int f = 0; f < neps; f++) below[e] += eps[f] < eps[e] || (eps[f] == eps[e] && f < e);
  }
  for (int e = 0; e < neps; e++)
    if (below[e] == (neps - 1) / 2) return e;
  return 0;
}

double fs_quantile_sorted(const double *x, int64_t n, double p) {
  double h = (double)(n - 1) * p;
  int64_t i = (int64_t)floor(h);
  if (i >= n - 1) return x[n - 1];
  return x[i] + (h - (double)i) * (x[i + 1] - x[i]);
}

/* ---- the per-pair records ---------------------------------------------------- */

/* A record: pair index, type, block, then the nstat values, all as doubles
 * (exact for indices below 2^53). */
enum { REC_PAIR, REC_TYPE, REC_BLOCK, REC_V0 };

static void pack_pair(const fs_run *R, int64_t p, int nstat, double *rec) {
  const fs_plan_pair *q = &R->plan.pair[p];
  const fs_pair *gp = &R->plan.models[q->model].graph.pair[q->local];
  const fs_pair_result *res = &R->pres[p];
  double *v = rec + REC_V0;
  rec[REC_PAIR] = (double)p, rec[REC_TYPE] = gp->type, rec[REC_BLOCK] = gp->block;
  v[FS_ST_RANDOM] = (double)fs_pair_random_dim(res) / res->q;
  v[FS_ST_OVERLAP] = res->overlap_random > 0 ? res->overlap / res->overlap_random : NAN;
  v[FS_ST_KAPPA] = res->kappa;
  v[FS_ST_KREL] = res->kappa_rel;
  v[FS_ST_BAL] = res->balancedness;
  for (int e = 0; e < nstat - FS_ST_RATIO0; e++) v[FS_ST_RATIO0 + e] = (double)res->dim[e] / res->q;
}

/* Chunks of whole models: models [m0, m1) with at most FS_REDUCE_CHUNK pairs,
 * or one model if it alone has more.  The same on every rank (from the plan). */
static int chunk_end(const fs_plan *P, int m0) {
  int m1 = m0 + 1;
  int64_t n = P->models[m0].ok ? P->models[m0].graph.npair : 0;
  while (m1 < P->nmodels) {
    int64_t c = P->models[m1].ok ? P->models[m1].graph.npair : 0;
    if (n + c > FS_REDUCE_CHUNK) break;
    n += c, m1++;
  }
  return m1;
}

static int64_t first_pair(const fs_plan *P, int m) {
  return m < P->nmodels ? P->models[m].pair0 : P->npair;
}

/* What a gather collects: this rank's items (ascending global indices), which
 * are done (agreed), and how one is packed into reclen doubles (its global
 * index first). */
typedef struct gather_spec {
  const int64_t *mine;
  int64_t nmine;
  const int *done;
  int reclen;
  void (*pack)(const fs_run *R, int64_t item, int reclen, double *rec);
} gather_spec;

static void pack_pair_rec(const fs_run *R, int64_t p, int reclen, double *rec) {
  pack_pair(R, p, reclen - REC_V0, rec);
}

/* Gather the records of the done items [p0, p1) to rank 0, into slot
 * i - p0 of recs (rank 0; NaN index where an item failed).  Collective. */
static int gather_chunk(const fs_run *R, const gather_spec *g, int64_t p0, int64_t p1,
                        double *recs, fs_error *err) {
  int64_t nl = 0;
  int reclen = g->reclen;
  for (int64_t i = 0; i < g->nmine; i++) {
    int64_t p = g->mine[i];
    nl += p >= p0 && p < p1 && g->done[p];
  }
  double *mine = malloc(sizeof *mine * (size_t)(nl * reclen + 1));
  int *counts = R->rank == 0 ? calloc((size_t)R->size, sizeof *counts) : NULL;
  int *displs = R->rank == 0 ? calloc((size_t)R->size, sizeof *displs) : NULL;
  double *buf = R->rank == 0 ? malloc(sizeof *buf * (size_t)((p1 - p0) * reclen + 1)) : NULL;
  int ok = mine && (R->rank || (counts && displs && buf)), all;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, R->comm);
  int rc = all ? 0 : fs_fail(err, "out of memory gathering the statistics of %lld items",
                             (long long)(p1 - p0));
  if (!rc) {
    int64_t o = 0;
    for (int64_t i = 0; i < g->nmine; i++) {
      int64_t p = g->mine[i];
      if (p >= p0 && p < p1 && g->done[p]) g->pack(R, p, reclen, mine + reclen * o++);
    }
    int n = (int)(nl * reclen);
    MPI_Gather(&n, 1, MPI_INT, counts, 1, MPI_INT, 0, R->comm);
    for (int r = 1; R->rank == 0 && r < R->size; r++) displs[r] = displs[r - 1] + counts[r - 1];
    MPI_Gatherv(mine, n, MPI_DOUBLE, buf, counts, displs, MPI_DOUBLE, 0, R->comm);
  }
  if (!rc && R->rank == 0) {
    int64_t total = (displs[R->size - 1] + counts[R->size - 1]) / reclen;
    for (int64_t i = 0; i < (p1 - p0) * reclen; i += reclen) recs[i] = NAN;
    for (int64_t i = 0; i < total; i++) {
      int64_t p = (int64_t)buf[i * reclen];
      memcpy(recs + (p - p0) * reclen, buf + i * reclen, sizeof *buf * (size_t)reclen);
    }
  }
  free(mine), free(counts), free(displs), free(buf);
  return rc;
}

/* ---- head redundancy per model (SPEC 3.9, from the heads stage) --------------- */

/* A head record: item, then per kind (valid, mean_offdiag, n_redundant). */
#define HREC (1 + 3 * FS_HEAD_NKINDS)

static void pack_head(const fs_run *R, int64_t item, int reclen, double *rec) {
  (void)reclen;
  const fs_heads_result *h = &R->hres[item];
  rec[0] = (double)item;
  for (int k = 0; k < FS_HEAD_NKINDS; k++) {
    int valid = k < FS_HEAD_OV_Q || h->composed;
    rec[1 + 3 * k] = valid;
    rec[2 + 3 * k] = valid ? h->kind[k].mean_offdiag : NAN;
    rec[3 + 3 * k] = valid ? (double)h->kind[k].n_redundant : 0;
  }
}

/* Head items of models [m0, m1): contiguous, the plan lists them by model. */
static void head_range(const fs_plan *P, int m0, int m1, int64_t *h0, int64_t *h1) {
  *h0 = 0;
  while (*h0 < P->nheads && P->heads[*h0].model < m0) (*h0)++;
  *h1 = *h0;
  while (*h1 < P->nheads && P->heads[*h1].model < m1) (*h1)++;
}

/* Rank 0: per model and kind the mean over its blocks of mean_offdiag (finite
 * ones) and the sum of n_redundant, in item order. */
static void summarise_heads(const fs_run *R, fs_zoo_stats *z, const double *recs, int64_t h0,
                            int64_t h1) {
  for (int64_t i = h0; i < h1; i++) {
    const double *r = recs + (i - h0) * HREC;
    if (isnan(r[0])) continue;
    fs_head_summary *hs = &z->heads[R->plan.heads[i].model];
    hs->blocks++;
    for (int k = 0; k < FS_HEAD_NKINDS; k++) {
      if (!r[1 + 3 * k]) continue;
      hs->redundant[k] += (int64_t)r[3 + 3 * k];
      if (isfinite(r[2 + 3 * k])) hs->overlap[k] += r[2 + 3 * k], hs->n[k]++;
    }
  }
}

static int reduce_heads(const fs_run *R, fs_zoo_stats *z, int m0, int m1, fs_error *err) {
  int64_t h0, h1;
  head_range(&R->plan, m0, m1, &h0, &h1);
  double *recs = R->rank == 0 ? malloc(sizeof *recs * (size_t)((h1 - h0) * HREC + 1)) : NULL;
  int ok = R->rank || recs, all;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, R->comm);
  gather_spec g = {R->mine_heads, R->nmine_heads, R->hdone, HREC, pack_head};
  int rc = all ? gather_chunk(R, &g, h0, h1, recs, err)
               : fs_fail(err, "out of memory for the head statistics of %lld blocks", (long long)(h1 - h0));
  if (!rc && R->rank == 0) summarise_heads(R, z, recs, h0, h1);
  free(recs);
  return rc;
}

/* ---- statistics of one model (rank 0) ----------------------------------------- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Statistic s of the pairs of type t among n records: values in pair order. */
static int summarise(const double *recs, int64_t n, int reclen, int t, int s, double *work,
                     int64_t *bwork, fs_stat_summary *out) {
  int64_t c = 0;
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    const double *r = recs + i * reclen;
    if (isnan(r[REC_PAIR]) || (int)r[REC_TYPE] != t || !isfinite(r[REC_V0 + s])) continue;
    sum += r[REC_V0 + s];
    work[c] = r[REC_V0 + s], bwork[c] = (int64_t)r[REC_BLOCK], c++;
  }
  out->count = c;
  out->mean = c ? sum / (double)c : NAN;
  /* depth profile, before the values are sorted: blocks in first-seen order,
   * then sorted (blocks are few: a quadratic pass is fine) */
  out->nblocks = 0;
  out->block = malloc(sizeof *out->block * (size_t)(c + 1));
  out->profile = malloc(sizeof *out->profile * (size_t)(c + 1));
  if (!out->block || !out->profile) return FS_ERR;
  for (int64_t i = 0; i < c; i++) {
    if (bwork[i] < 0) continue;
    int b = 0;
    while (b < out->nblocks && out->block[b] != bwork[i]) b++;
    if (b < out->nblocks) continue;
    double bs = 0;
    int64_t bc = 0;
    for (int64_t k = i; k < c; k++)
      if (bwork[k] == bwork[i]) bs += work[k], bc++;
    out->block[b] = bwork[i], out->profile[b] = bs / (double)bc, out->nblocks++;
  }
  for (int i = 1; i < out->nblocks; i++) /* insertion sort by block */
    for (int k = i; k > 0 && out->block[k - 1] > out->block[k]; k--) {
      int64_t tb = out->block[k]; double tp = out->profile[k];
      out->block[k] = out->block[k - 1], out->profile[k] = out->profile[k - 1];
      out->block[k - 1] = tb, out->profile[k - 1] = tp;
    }
  qsort(work, (size_t)c, sizeof *work, cmp_double);
  out->min = c ? work[0] : NAN;
  out->max = c ? work[c - 1] : NAN;
  for (int k = 0; k < FS_NQUANT; k++)
    out->q[k] = c ? fs_quantile_sorted(work, c, fs_quantile_levels[k]) : NAN;
  return 0;
}

static void count_aligned(const fs_zoo_stats *z, const double *recs, int64_t n, int reclen,
                          int t, fs_type_summary *ts) {
  for (int64_t i = 0; i < n; i++) {
    const double *r = recs + i * reclen;
    if (isnan(r[REC_PAIR]) || (int)r[REC_TYPE] != t) continue;
    ts->npairs++;
    if (!(r[REC_V0 + FS_ST_RATIO0 + z->align_eps] >= z->align_ratio)) continue;
    ts->n_subspace++;
    ts->n_basis += r[REC_V0 + FS_ST_KREL] <= z->align_kappa;
  }
}

static int summarise_model(fs_zoo_stats *z, int m, const double *recs, int64_t n, int reclen,
                           double *work, int64_t *bwork) {
  for (int t = 0; t < FS_PAIR_NTYPES; t++) {
    fs_type_summary *ts = &z->model[m][t];
    count_aligned(z, recs, n, reclen, t, ts);
    if (!ts->npairs) continue;
    ts->stat = calloc((size_t)z->nstat, sizeof *ts->stat);
    if (!ts->stat) return FS_ERR;
    for (int s = 0; s < z->nstat; s++)
      if (summarise(recs, n, reclen, t, s, work, bwork, &ts->stat[s])) return FS_ERR;
  }
  return 0;
}

static fs_zoo_stats *zoo_create(const fs_run *R) {
  fs_zoo_stats *z = calloc(1, sizeof *z);
  if (!z) return NULL;
  z->nmodels = R->plan.nmodels, z->neps = R->opts->neps, z->nstat = FS_ST_RATIO0 + z->neps;
  z->align_eps = fs_align_eps_index(R->opts->eps_deg, R->opts->neps);
  z->align_ratio = R->opts->align_ratio, z->align_kappa = R->opts->align_kappa;
  z->model = calloc((size_t)z->nmodels + 1, sizeof *z->model);
  z->heads = calloc((size_t)z->nmodels + 1, sizeof *z->heads);
  if (!z->model || !z->heads) free(z->model), free(z->heads), free(z), z = NULL;
  return z;
}

void fs_zoo_stats_free(fs_zoo_stats *z) {
  if (!z) return;
  for (int m = 0; m < z->nmodels; m++)
    for (int t = 0; t < FS_PAIR_NTYPES; t++) {
      fs_type_summary *ts = &z->model[m][t];
      for (int s = 0; ts->stat && s < z->nstat; s++) free(ts->stat[s].block), free(ts->stat[s].profile);
      free(ts->stat);
    }
  free(z->model);
  free(z->heads);
  free(z);
}

double fs_zoo_frac_subspace(const fs_type_summary *t) {
  return t->npairs ? (double)t->n_subspace / (double)t->npairs : NAN;
}

double fs_zoo_frac_basis(const fs_type_summary *t) {
  return t->n_subspace ? (double)t->n_basis / (double)t->n_subspace : NAN;
}

/* One chunk of models: gather, then (rank 0) summarise each model.  Collective. */
static int reduce_chunk(const fs_run *R, fs_zoo_stats *z, int m0, int m1, fs_error *err) {
  int reclen = REC_V0 + FS_ST_RATIO0 + R->opts->neps;
  int64_t p0 = first_pair(&R->plan, m0), p1 = first_pair(&R->plan, m1), n = p1 - p0;
  double *recs = NULL, *work = NULL;
  int64_t *bwork = NULL;
  if (R->rank == 0) {
    recs = malloc(sizeof *recs * (size_t)(n * reclen + 1));
    work = malloc(sizeof *work * (size_t)(n + 1));
    bwork = malloc(sizeof *bwork * (size_t)(n + 1));
  }
  int ok = R->rank || (recs && work && bwork), all;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, R->comm);
  gather_spec g = {R->mine_pair, R->nmine_pair, R->pdone, reclen, pack_pair_rec};
  int rc = all ? gather_chunk(R, &g, p0, p1, recs, err)
               : fs_fail(err, "out of memory for the statistics of %lld pairs", (long long)n);
  if (!rc) rc = reduce_heads(R, z, m0, m1, err);
  for (int m = m0; !rc && R->rank == 0 && m < m1; m++) {
    int64_t a = R->plan.models[m].pair0 - p0, b = first_pair(&R->plan, m + 1) - p0;
    if (R->plan.models[m].ok && summarise_model(z, m, recs + a * reclen, b - a, reclen, work, bwork))
      rc = fs_fail(err, "out of memory summarising model %s", R->plan.models[m].path);
  }
  free(recs), free(work), free(bwork);
  /* rank 0's failure must be known to all before the next collective step */
  int bad = rc != 0, any;
  MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, R->comm);
  if (any && !rc) rc = fs_fail(err, "summarising the statistics failed on rank 0");
  return rc;
}

int fs_reduce_models(const fs_run *R, fs_zoo_stats **out, fs_error *err) {
  *out = NULL;
  fs_zoo_stats *z = R->rank == 0 ? zoo_create(R) : NULL;
  int fault = fs_fault_hit(FS_FAULT_REDUCE, -1), ok = (R->rank || z) && !fault, all;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, R->comm);
  if (!all) {
    fs_zoo_stats_free(z);
    return fs_fail(err, "reducing the statistics of %d models failed: %s", R->plan.nmodels,
                   fault ? "injected fault" : ok ? "on another rank" : "out of memory");
  }
  for (int m0 = 0; m0 < R->plan.nmodels;) {
    int m1 = chunk_end(&R->plan, m0);
    if (reduce_chunk(R, z, m0, m1, err)) {
      fs_zoo_stats_free(z);
      return FS_ERR;
    }
    m0 = m1;
  }
  *out = z;
  return 0;
}

/* The file name, with its folder when the name is Hugging Face's generic
 * "model*.safetensors" (the folder names the model there). */
const char *fs_display_name(const char *path) {
  const char *b = strrchr(path, '/');
  if (!b) return path;
  if (strncmp(b + 1, "model", 5) != 0) return b + 1;
  const char *d = b;
  while (d > path && d[-1] != '/') d--;
  return d;
}

static void print_header(const fs_run *R, FILE *f) {
  fprintf(f, "%-34s %-8s %-7s %5s  %-10s %5s", "model", "family", "status", "mats",
          "pair type", "pairs");
  for (int e = 0; e < R->opts->neps; e++) {
    char h[24];
    snprintf(h, sizeof h, "dim/q@%g", R->opts->eps_deg[e]);
    fprintf(f, " %9s", h);
  }
  fprintf(f, " %9s %9s %9s %9s %9s %7s %7s\n", "rand/q", "ovl/rand", "kappa", "kappa/rnd",
          "balance", "sub-al", "bas-al");
}

/* A cell of the table: " -" right-aligned where the value is undefined (a
 * fraction 0/0, a mean over no finite value), so the table never says nan. */
static void print_cell(FILE *f, int width, int prec, double v) {
  if (isnan(v))
    fprintf(f, " %*s", width, "-");
  else
    fprintf(f, " %*.*f", width, prec, v);
}

/* Means per pair type, and the aligned fractions. */
static void print_type_row(const fs_zoo_stats *z, const fs_type_summary *ts, int t, FILE *f) {
  fprintf(f, "  %-10s %5lld", fs_pair_type_name(t), (long long)ts->npairs);
  for (int e = 0; e < z->neps; e++) print_cell(f, 9, 4, ts->stat[FS_ST_RATIO0 + e].mean);
  print_cell(f, 9, 4, ts->stat[FS_ST_RANDOM].mean);
  print_cell(f, 9, 4, ts->stat[FS_ST_OVERLAP].mean);
  print_cell(f, 9, 5, ts->stat[FS_ST_KAPPA].mean);
  print_cell(f, 9, 4, ts->stat[FS_ST_KREL].mean);
  print_cell(f, 9, 5, ts->stat[FS_ST_BAL].mean);
  print_cell(f, 7, 3, fs_zoo_frac_subspace(ts));
  print_cell(f, 7, 3, fs_zoo_frac_basis(ts));
  fputc('\n', f);
}

static void print_model(const fs_run *R, const fs_zoo_stats *z, int m, FILE *f,
                        const char *status, const char *why) {
  const fs_plan_model *pm = &R->plan.models[m];
  int first = 1;
  for (int t = 0; z && t < FS_PAIR_NTYPES; t++) {
    const fs_type_summary *ts = &z->model[m][t];
    if (!ts->npairs) continue;
    if (first)
      fprintf(f, "%-34.34s %-8s %-7s %5d", fs_display_name(pm->path), pm->graph.family, status,
              pm->graph.nmat);
    else
      fprintf(f, "%-34s %-8s %-7s %5s", "", "", "", "");
    print_type_row(z, ts, t, f);
    first = 0;
  }
  if (first)
    fprintf(f, "%-34.34s %-8s %-7s %5d  %-10s %5d\n", fs_display_name(pm->path),
            pm->ok ? pm->graph.family : "-", status, pm->ok ? pm->graph.nmat : 0, "-", 0);
  if (why[0]) fprintf(f, "%-34s   %s: %s\n", "", strcmp(status, "ok") ? "error" : "note", why);
}

int fs_reduce_report(const fs_run *R, const fs_zoo_stats *z, FILE *f, int *nfailed) {
  *nfailed = 0;
  if (f && R->rank == 0) print_header(R, f);
  for (int m = 0; m < R->plan.nmodels; m++) {
    char why[FS_ERRMSG_MAX];
    const char *status = fs_run_model_status(R, m, why, sizeof why);
    *nfailed += strcmp(status, "ok") != 0;
    if (f && R->rank == 0) print_model(R, z, m, f, status, why);
  }
  if (f && R->rank == 0)
    fprintf(f, "sub-al: fraction of pairs with dim/q@%g >= %g; bas-al: fraction of those with "
            "kappa/rnd <= %g; -: undefined (0 of 0, e.g. bas-al with no subspace-aligned pair)\n",
            R->opts->eps_deg[z ? z->align_eps : 0], R->opts->align_ratio, R->opts->align_kappa);
  if (f) fflush(f); /* the table comes before the driver's closing line on stderr */
  return 0;
}
