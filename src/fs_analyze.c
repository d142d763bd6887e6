/*
 * fs_analyze.c - the analysis pipeline: plan, spectra, agree, exchange,
 * pairs, heads, reduce, write (see fs_analyze.h and docs/architecture.md).
 *
 * Collective discipline: every rank takes every collective step in the same
 * order whatever happened to its own work items, so a failure on one rank
 * (a NaN tensor, an unreadable region) never leaves another waiting.  Errors
 * of single items are recorded with the item and reported, never fatal.
 */
#include "fs_analyze.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fs_classifier.h"
#include "fs_fault.h"
#include "fs_h5out.h"
#include "fs_heads.h"
#include "fs_killpoint.h"
#include "fs_load.h"
#include "fs_pair.h"
#include "fs_plan.h"
#include "fs_queue.h"
#include "fs_spectrum.h"
#include "fs_spectrum_dist.h"
#include "fs_output.h"
#include "fs_progress.h"
#include "fs_reduce.h"
#include "fs_run.h"

void fs_analyze_defaults(fs_analyze_opts *o) {
  memset(o, 0, sizeof *o);
  o->kmax = 64;
  o->tau = 1e-6;
  o->neps = 3;
  o->eps_deg[0] = 1.0, o->eps_deg[1] = 5.0, o->eps_deg[2] = 10.0;
  o->head_threshold = FS_HEADS_THRESHOLD;
  o->align_ratio = 0.5;
  o->align_kappa = 0.5;
  o->output = "flagscope.h5";
}

/* ---- spectra ------------------------------------------------------------ */

/* ---- twins (fs_plan.h): identical matrices computed once ---------------- */

/* 1 if twin x, read FS_LOAD_CHUNK rows at a time, equals the loaded W
 * element for element (NaN never equal: such a tensor fails to load anyway). */
static int same_contents(const fs_model *model, const fs_matrix *x, const double *W, int m,
                         int n, fs_error *err) {
  double *buf = malloc(sizeof *buf * (size_t)FS_LOAD_CHUNK * (size_t)n);
  if (!buf) return fs_fail(err, "out of memory comparing '%s'", x->name), 0;
  int same = 1;
  for (int i0 = 0; same && i0 < m; i0 += FS_LOAD_CHUNK) {
    int i1 = i0 + FS_LOAD_CHUNK < m ? i0 + FS_LOAD_CHUNK : m;
    if (fs_load_matrix_rows(model, x, i0, i1, buf, err)) same = 0;
    for (size_t e = 0; same && e < (size_t)(i1 - i0) * (size_t)n; e++)
      same = buf[e] == W[(size_t)i0 * (size_t)n + e];
  }
  free(buf);
  return same;
}

/* While the source's W is loaded: which twins really share its contents
 * (those reading another tensor are compared), and the classifier
 * statistics of the twins that are classifier readers (the orientation is
 * the twin's own).  A twin whose contents differ, or that fails here, is
 * marked 2 and computed on its own later. */
static void prepare_twins(fs_run *R, int64_t gi, const double *W, int m, int n) {
  const fs_model *model = &R->plan.models[R->plan.mat[gi].model].model;
  for (int64_t t = R->plan.mat[gi].next_twin; t >= 0; t = R->plan.mat[t].next_twin) {
    const fs_matrix *x = fs_plan_matrix_of(&R->plan, t);
    fs_error e;
    fs_error_clear(&e);
    int ok = !R->plan.mat[t].twin_check || same_contents(model, x, W, m, n, &e);
    if (ok && fs_classifier_is_reader(&R->plan, t))
      ok = !fs_classifier_compute(W, m, n, x->transposed, FS_COS_AUTO, &R->cls[t], &e);
    R->twin_state[t] = ok ? 1 : 2;
  }
}

/* The source's results into twin t; its seconds are the copy's. */
static int copy_twin(fs_run *R, int64_t t, double t0, fs_error *err) {
  int64_t src = R->plan.mat[t].twin_of;
  fs_matrix_spectral *q = &R->spectral[t];
  const fs_matrix_spectral *qs = &R->spectral[src];
  FS_TRY(fs_spectrum_copy(&R->spec[src], &R->spec[t], err));
  R->stats[t] = R->stats[src];
  *q = *qs;
  q->sigma_full = NULL;
  if (qs->sigma_full) {
    size_t nf = (size_t)qs->nfull + 1;
    if (!(q->sigma_full = malloc(sizeof *q->sigma_full * nf)))
      return fs_fail(err, "out of memory copying %d singular values", qs->nfull);
    memcpy(q->sigma_full, qs->sigma_full, sizeof *q->sigma_full * nf);
  }
  R->seconds[t] = MPI_Wtime() - t0;
  return 0;
}

/* The k_max triplets of the plan; in full-spectrum mode every singular value
 * too (dgesdd on the owner, W itself is the copy it destroys).  Then the rank
 * policy truncates the spectrum to its k, before compute_spectra publishes k
 * as kdone: the pairs use the truncated bases (the leading columns of U, V). */
static int compute_one(fs_run *R, int64_t gi, MPI_Comm group, fs_error *err) {
  const fs_matrix *x = fs_plan_matrix_of(&R->plan, gi);
  const fs_analyze_opts *o = R->opts;
  int m = (int)fs_matrix_rows(x), n = (int)fs_matrix_cols(x), mn = m < n ? m : n;
  fs_spectrum *s = &R->spec[gi];
  fs_matrix_spectral *q = &R->spectral[gi];
  double *W = NULL, t0 = MPI_Wtime();
  int mi = R->plan.mat[gi].model;
  const fs_model *model = &R->plan.models[mi].model;
  int rc, fault = fs_fault_hit(FS_FAULT_READ, mi), leader = 1;
  if (group != MPI_COMM_NULL) { /* a group's SVD: the leader goes on */
    MPI_Comm_rank(group, &rc);
    leader = rc == 0;
    if (leader && o->full_spectrum) /* NULL: the group fails the matrix together */
      q->sigma_full = malloc(sizeof *q->sigma_full * (size_t)(mn + 1));
    /* A fault on one member fails the matrix on all, before any collective. */
    fault = fault ? 1 : fs_fault_hit(FS_FAULT_SPECTRA, mi) ? 2 : 0;
    MPI_Allreduce(MPI_IN_PLACE, &fault, 1, MPI_INT, MPI_MAX, group);
    rc = fault == 1 ? fs_fail(err, "%s: matrix '%s': cannot read the tensor (injected fault)",
                              R->plan.models[mi].path, x->name)
       : fault == 2 ? fs_fail(err, "the singular value solver failed (injected fault)")
                    : fs_spectrum_dist_compute_full(group, model, x, R->plan.mat[gi].k,
                                                    o->full_spectrum, q->sigma_full, s, err);
    double block = 8.0 * ((m + R->plan.mat[gi].nranks - 1) / R->plan.mat[gi].nranks) * n;
    if (block > R->largest_owned) R->largest_owned = block; /* this member's row block */
    if (!leader || fault == 1) return rc;
  } else {
    if (fault)
      return fs_fail(err, "%s: matrix '%s': cannot read the tensor (injected fault)",
                     R->plan.models[mi].path, x->name);
    FS_TRY(fs_load_matrix(model, x, &W, err));
    fs_killpoint("read", R->rank);
    R->read_seconds += MPI_Wtime() - t0;
    double bytes = 8.0 * m * n;
    if (bytes > R->largest_owned) R->largest_owned = bytes;
    if (R->plan.mat[gi].twin_of < 0) prepare_twins(R, gi, W, m, n); /* not for a twin solved alone */
    rc = fs_fault_hit(FS_FAULT_SPECTRA, mi)
             ? fs_fail(err, "the singular value solver failed (injected fault)")
             : fs_spectrum_compute_with(W, m, n, R->plan.mat[gi].k, o->solver, s, err);
    if (!rc && fs_classifier_is_reader(&R->plan, gi)) /* before dgesdd destroys W */
      rc = fs_classifier_compute(W, m, n, x->transposed, FS_COS_AUTO, &R->cls[gi], err);
    if (!rc && o->full_spectrum) {
      q->sigma_full = malloc(sizeof *q->sigma_full * (size_t)(mn + 1));
      rc = q->sigma_full ? fs_singular_values(W, m, n, q->sigma_full, err)
                         : fs_fail(err, "out of memory for %d singular values", mn);
    }
    free(W);
  }
  if (rc) return fs_error_prefix(err, "%s: matrix '%s'",
                                 R->plan.models[R->plan.mat[gi].model].path, x->name);
  q->effective_rank = NAN;
  q->tail = (fs_powerlaw){NAN, NAN, NAN, 0};
  if (o->full_spectrum) {
    /* Stable and numerical rank from every value: no lower bound. */
    fs_spectrum all = {.m = m, .n = n, .k = mn, .sigma = q->sigma_full, .fro = s->fro};
    fs_spectrum_stats(&all, o->tau, &R->stats[gi]);
    q->nfull = mn;
    q->effective_rank = fs_entropy_rank(q->sigma_full, mn, 2);
    /* The empirical spectral density of W^T W / max(m, n) (WeightWatcher's). */
    double *esd = malloc(sizeof *esd * (size_t)(mn + 1)), N = m > n ? m : n;
    if (!esd) /* a missing fit must be an error, not a silent NaN */
      return fs_fail(err, "%s: matrix '%s': out of memory for the spectral density",
                     R->plan.models[R->plan.mat[gi].model].path, x->name);
    for (int i = 0; i < mn; i++) esd[i] = q->sigma_full[i] * q->sigma_full[i] / N;
    fs_powerlaw_fit(esd, mn, FS_POWERLAW_MIN_TAIL, &q->tail);
    free(esd);
  } else {
    fs_spectrum_stats(s, o->tau, &R->stats[gi]); /* of the k_max held, before truncation */
  }
  q->capped = 0;
  if (o->rank_policy != FS_RANK_FIXED) {
    fs_rank_choice c;
    if (o->full_spectrum) { /* the policy's k from every value, then the cap */
      fs_rank_choose(o->rank_policy, o->rank_param, q->sigma_full, mn, mn, s->fro, &c);
      q->capped = c.k > s->k;
      if (c.k < s->k) s->k = c.k;
    } else {
      fs_rank_choose(o->rank_policy, o->rank_param, s->sigma, s->k, mn, s->fro, &c);
      q->capped = c.capped;
      s->k = c.k;
    }
  }
  q->energy = fs_energy_fraction(s->sigma, s->k, s->fro);
  R->seconds[gi] = MPI_Wtime() - t0;
  return 0;
}

static void record_item(fs_run *R, int64_t gi, int rc, const fs_error *e) {
  if (rc) {
    fs_run_set_error(&R->mat_error[gi], e->msg);
    if (R->opts->log) fprintf(R->opts->log, "flagscope: error: %s\n", e->msg);
  } else {
    R->kdone[gi] = R->spec[gi].k;
    fs_killpoint("spectrum", R->rank);
  }
}

/* On the source's owner, after it: each twin copies the source's results,
 * or is computed on its own when its contents turned out to differ (or its
 * comparison could not be made before the source failed). */
static void compute_twins(fs_run *R, int64_t gi, const fs_error *source_error) {
  fs_progress *P = R->opts->progress;
  for (int64_t t = R->plan.mat[gi].next_twin; t >= 0; t = R->plan.mat[t].next_twin) {
    double t0 = MPI_Wtime();
    const fs_plan_matrix *w = &R->plan.mat[t];
    R->plan.mat[t].owner = R->rank; /* the dynamic queue handed out the source */
    fs_error e;
    fs_error_clear(&e);
    int rc, alone = R->twin_state[t] == 2 || (R->twin_state[t] == 0 && w->twin_check);
    if (alone)
      rc = compute_one(R, t, MPI_COMM_NULL, &e);
    else if (!R->kdone[gi])
      rc = fs_fail(&e, "%s: matrix '%s': the same contents as '%s', which failed: %.300s",
                   R->plan.models[w->model].path, fs_plan_matrix_of(&R->plan, t)->name,
                   fs_plan_matrix_of(&R->plan, gi)->name, source_error->msg);
    else
      rc = copy_twin(R, t, t0, &e);
    record_item(R, t, rc, &e);
    R->busy += MPI_Wtime() - t0;
    if (P) fs_progress_tick(P);
  }
}

/* The items in fs_queue's order: this rank's groups, then its own or the
 * shared queue's single-rank items, each followed by its twins.  Only the
 * owner (a group's leader) records an item's outcome. */
static void compute_spectra(fs_run *R) {
  fs_progress *P = R->opts->progress;
  if (P) fs_progress_begin(P, R->comm, R->plan.nmat); /* collective, before the queue's */
  fs_queue q;
  fs_error e;
  fs_error_clear(&e);
  int qrc = fs_queue_begin(&q, &R->plan, R->comm, &e); /* collective */
  /* Head items are static and independent of the spectra: a rank runs its
   * own first, while the queue (or the LPT plan, which counted them) gives
   * the matrices to the ranks that have none. */
  double th = MPI_Wtime();
  fs_heads_stage(R);
  R->time_heads = MPI_Wtime() - th;
  R->busy += R->time_heads;
  if (qrc) { /* on every rank: all items fail */
    for (int64_t i = 0; i < R->plan.nmat; i++) fs_run_set_error(&R->mat_error[i], e.msg);
    if (R->opts->log && !R->rank) fprintf(R->opts->log, "flagscope: error: %s\n", e.msg);
    if (P) fs_progress_end(P);
    return;
  }
  int64_t gi;
  MPI_Comm group;
  while (fs_queue_next(&q, &gi, &group)) {
    double t0 = MPI_Wtime();
    int owner = R->plan.mat[gi].owner == R->rank;
    fs_error_clear(&e);
    int rc = compute_one(R, gi, group, &e);
    if (owner) record_item(R, gi, rc, &e);
    R->busy += MPI_Wtime() - t0;
    if (P && owner) fs_progress_tick(P); /* the owner counts a group's matrix once */
    if (owner) compute_twins(R, gi, &e);
  }
  fs_queue_end(&q);
  if (P) fs_progress_end(P); /* collective: every rank, whatever its items did */
}

/* ---- exchange of reader bases ------------------------------------------- */

typedef struct xfer {
  int64_t mat;
  int from, to;
} xfer;

static int xfer_cmp(const void *a, const void *b) {
  const xfer *x = a, *y = b;
  if (x->mat != y->mat) return x->mat < y->mat ? -1 : 1;
  return x->to - y->to;
}

/* The same list on every rank: (reader matrix, its owner, the pair owner). */
static int64_t list_transfers(const fs_run *R, xfer *list) {
  int64_t n = 0;
  for (int64_t p = 0; p < R->plan.npair; p++) {
    const fs_plan_pair *q = &R->plan.pair[p];
    int from = R->plan.mat[q->reader].owner;
    if (from != q->owner && R->kdone[q->writer] > 0 && R->kdone[q->reader] > 0)
      list[n++] = (xfer){q->reader, from, q->owner};
  }
  qsort(list, (size_t)n, sizeof *list, xfer_cmp);
  int64_t u = 0;
  for (int64_t i = 0; i < n; i++)
    if (!u || xfer_cmp(&list[u - 1], &list[i])) list[u++] = list[i];
  return u;
}

/* Two phases, so that no rank can fail once messages are in flight: every
 * buffer is allocated first and the ranks agree that all allocations worked;
 * only then are the messages posted.  After an agreed failure nothing was
 * sent, and the pairs whose reader basis is on another rank fail with the
 * reason (compute_pairs); the local ones go on. */
static int exchange_bases(fs_run *R, fs_error *err) {
  xfer *list = malloc(sizeof *list * (size_t)(R->plan.npair + 1));
  int64_t n = list ? list_transfers(R, list) : 0, nreq = 0;
  MPI_Request *req = malloc(sizeof *req * (size_t)(n + 1));
  double **buf = calloc((size_t)n + 1, sizeof *buf);
  int ok = list && req && buf && !fs_fault_hit(FS_FAULT_EXCHANGE, -1), all;
  for (int64_t i = 0; ok && i < n; i++) {
    const xfer *x = &list[i];
    int64_t d = fs_matrix_in_dim(fs_plan_matrix_of(&R->plan, x->mat)), k = R->kdone[x->mat];
    if (x->to == R->rank || x->from == R->rank)
      ok = (buf[i] = malloc(sizeof **buf * (size_t)(k + d * k))) != NULL;
  }
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, R->comm);
  /* Both sides walk the list in one order, so message i from a rank to another
   * matches receive i (MPI's non-overtaking rule); one tag suffices. */
  for (int64_t i = 0; all && i < n; i++) {
    const xfer *x = &list[i];
    int64_t d = fs_matrix_in_dim(fs_plan_matrix_of(&R->plan, x->mat)), k = R->kdone[x->mat];
    int count = (int)(k + d * k);
    if (x->to == R->rank) {
      R->recv[x->mat] = buf[i], buf[i] = NULL; /* the run owns it now */
      MPI_Irecv(R->recv[x->mat], count, MPI_DOUBLE, x->from, 0, R->comm, &req[nreq++]);
    } else if (x->from == R->rank) {
      fs_basis b;
      fs_run_reader_basis(R, x->mat, &b);
      memcpy(buf[i], b.sigma, sizeof **buf * (size_t)k);
      memcpy(buf[i] + k, b.vec, sizeof **buf * (size_t)(d * k));
      MPI_Isend(buf[i], count, MPI_DOUBLE, x->to, 0, R->comm, &req[nreq++]);
    }
  }
  if (nreq) MPI_Waitall((int)nreq, req, MPI_STATUSES_IGNORE);
  for (int64_t i = 0; buf && i < n; i++) free(buf[i]);
  free(buf), free(req), free(list);
  if (all) return 0;
  return ok ? fs_fail(err, "exchanging bases failed on another rank (out of memory?)")
            : fs_fail(err, "out of memory for the basis exchange%s",
                      fs_fault_hit(FS_FAULT_EXCHANGE, -1) ? " (injected fault)" : "");
}

/* ---- pairs -------------------------------------------------------------- */

static void compute_pairs(fs_run *R, const char *exchange_error) {
  double eps[FS_MAX_EPS];
  for (int e = 0; e < R->opts->neps; e++) eps[e] = R->opts->eps_deg[e] * (3.14159265358979323846 / 180.0);
  for (int64_t i = 0; i < R->nmine_pair; i++) {
    int64_t p = R->mine_pair[i];
    const fs_plan_pair *q = &R->plan.pair[p];
    char msg[FS_ERRMSG_MAX];
    if (!R->kdone[q->writer] || !R->kdone[q->reader]) {
      int64_t bad = R->kdone[q->writer] ? q->reader : q->writer;
      snprintf(msg, sizeof msg, "skipped: matrix '%s' failed", fs_plan_matrix_of(&R->plan, bad)->name);
      fs_run_set_error(&R->pair_error[p], msg);
      continue;
    }
    if (R->plan.mat[q->reader].owner != R->rank && !R->recv[q->reader]) {
      /* the reason is cut to fit: the pair and the rank come first */
      snprintf(msg, sizeof msg, "skipped: the basis of '%s' did not arrive from rank %d (%.200s)",
               fs_plan_matrix_of(&R->plan, q->reader)->name, R->plan.mat[q->reader].owner,
               exchange_error);
      fs_run_set_error(&R->pair_error[p], msg);
      continue;
    }
    fs_basis w, r;
    fs_run_writer_basis(R, q->writer, &w);
    fs_run_reader_basis(R, q->reader, &r);
    fs_error e;
    fs_error_clear(&e);
    int rc = fs_fault_hit(FS_FAULT_PAIRS, q->model)
                 ? fs_fail(&e, "the pair computation failed (injected fault)")
                 : fs_pair_compute(&w, &r, eps, R->opts->neps, &R->pres[p], &e);
    if (!rc && (rc = fs_pair_extra_compute(R, p, &w, &r, eps, &R->pres[p], &R->pextra[p], &e)))
      fs_pair_result_free(&R->pres[p]);
    if (rc) {
      fs_run_set_error(&R->pair_error[p], e.msg);
      if (R->opts->log) fprintf(R->opts->log, "flagscope: error: %s: pair %s -> %s: %s\n",
                                R->plan.models[q->model].path,
                                fs_plan_matrix_of(&R->plan, q->writer)->name,
                                fs_plan_matrix_of(&R->plan, q->reader)->name, e.msg);
    } else {
      R->pdone[p] = 1;
      fs_killpoint("pair", R->rank);
    }
  }
}

/* ---- the run ------------------------------------------------------------ */

int fs_analyze(MPI_Comm comm, char *const *paths, int nmodels,
               const fs_analyze_opts *o, int *nfailed, fs_error *err) {
  fs_run R;
  double t0 = MPI_Wtime();
  FS_TRY(fs_run_init(&R, comm, paths, nmodels, o, err));
  if (o->log && R.rank == 0) {
    fs_run_log_plan(&R);
    fflush(o->log);
  }
  /* The plan's lines leave rank 0 before any rank logs an item error: mpirun
   * forwards each rank's stderr in chunks, not lines, and the dynamic queue
   * starts every rank at once, so they would interleave mid-line. */
  MPI_Barrier(R.comm);
  compute_spectra(&R); /* and the head items, first */
  R.time[FS_STAGE_SPECTRA] = MPI_Wtime() - t0 - R.time_heads;
  int rc = fs_run_agree_owners(&R, err);
  if (!rc) rc = fs_run_agree_heads(&R, err);
  if (!rc) rc = fs_run_agree_matrices(&R, err);
  if (!rc) {
    /* An agreed exchange failure costs the pairs that needed a remote basis,
     * not the run: they are recorded as failed with this reason. */
    fs_error ex;
    fs_error_clear(&ex);
    if (exchange_bases(&R, &ex) && o->log && R.rank == 0)
      fprintf(o->log, "flagscope: error: %s\n", ex.msg);
    double tp = MPI_Wtime();
    compute_pairs(&R, ex.msg);
    fs_pair_extra_exact_distributed(&R); /* collective: large-d exact Grams */
    R.busy += MPI_Wtime() - tp;
    rc = fs_run_agree_pairs(&R, err);
  }
  R.time[FS_STAGE_PAIRS] = MPI_Wtime() - t0 - R.time[FS_STAGE_SPECTRA] - R.time_heads;
  if (!rc) rc = fs_run_agree_busy(&R, err);
  /* A failed summary must not cost the output: the tables are written anyway,
   * /zoo without statistics and /stats empty. */
  fs_zoo_stats *zs = NULL;
  fs_error es;
  fs_error_clear(&es);
  double t1 = MPI_Wtime();
  int rc_sum = rc ? 0 : fs_reduce_models(&R, &zs, &es);
  R.reduce_seconds = MPI_Wtime() - t1;
  if (!rc) rc = fs_output_write(&R, zs, err);
  if (!rc && rc_sum) rc = fs_fail(err, "%s", es.msg);
  t1 = MPI_Wtime();
  if (!rc) rc = fs_reduce_report(&R, zs, o->summary, nfailed);
  R.reduce_seconds += MPI_Wtime() - t1;
  if (!rc && o->timing && o->log) fs_run_log_timing(&R);
  fs_zoo_stats_free(zs);
  fs_run_free(&R);
  return rc;
}
