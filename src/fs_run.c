/* fs_run.c - state of an analysis run (see fs_run.h). */
#include "fs_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>

#include "fs_fault.h"

/* what: 0 matrices, 1 pairs, 2 head items. */
static int64_t *list_mine(const fs_run *R, int what, int64_t *count) {
  int64_t n = what == 2 ? R->plan.nheads : what ? R->plan.npair : R->plan.nmat, c = 0;
  int64_t *out = malloc(sizeof *out * (size_t)(n + 1));
  for (int64_t i = 0; out && i < n; i++) {
    int owner = what == 2 ? R->plan.heads[i].owner : what ? R->plan.pair[i].owner : R->plan.mat[i].owner;
    if (owner == R->rank) out[c++] = i;
  }
  *count = c;
  return out;
}

static int allocate(fs_run *R) {
  size_t nm = (size_t)R->plan.nmat + 1, np = (size_t)R->plan.npair + 1;
  R->mine_mat = list_mine(R, 0, &R->nmine_mat);
  R->mine_pair = list_mine(R, 1, &R->nmine_pair);
  R->spec = calloc(nm, sizeof *R->spec);
  R->stats = calloc(nm, sizeof *R->stats);
  R->spectral = calloc(nm, sizeof *R->spectral);
  R->seconds = calloc(nm, sizeof *R->seconds);
  R->mat_error = calloc(nm, sizeof *R->mat_error);
  R->kdone = calloc(nm, sizeof *R->kdone);
  R->recv = calloc(nm, sizeof *R->recv);
  R->pres = calloc(np, sizeof *R->pres);
  R->pextra = calloc(np, sizeof *R->pextra);
  R->cls = calloc(nm, sizeof *R->cls);
  R->twin_state = calloc(nm, sizeof *R->twin_state);
  for (size_t i = 0; R->cls && i < nm; i++) fs_classifier_none(&R->cls[i]);
  R->pair_error = calloc(np, sizeof *R->pair_error);
  R->pdone = calloc(np, sizeof *R->pdone);
  size_t nh = (size_t)R->plan.nheads + 1;
  R->mine_heads = list_mine(R, 2, &R->nmine_heads);
  R->hres = calloc(nh, sizeof *R->hres);
  R->heads_error = calloc(nh, sizeof *R->heads_error);
  R->hseconds = calloc(nh, sizeof *R->hseconds);
  R->hdone = calloc(nh, sizeof *R->hdone);
  R->busy_all = calloc((size_t)R->size, sizeof *R->busy_all);
  return R->busy_all && R->mine_mat && R->mine_pair && R->spec && R->stats && R->spectral && R->seconds && R->mat_error &&
         R->kdone && R->recv && R->pres && R->pair_error && R->pdone && R->mine_heads && R->hres &&
         R->heads_error && R->hseconds && R->hdone && R->pextra && R->cls && R->twin_state;
}

/* Every rank opened every header itself; they must agree before the work is
 * assigned, or the ranks would number the matrices differently.  A model that
 * failed on some rank (a file only some nodes can read) or whose header bytes
 * differ between ranks (changed while being read) fails everywhere, with the
 * reason of the lowest rank that saw the failure. */
static int agree_models(fs_run *R, fs_error *err) {
  int nm = R->plan.nmodels;
  int *v = malloc(sizeof *v * (size_t)(3 * nm + 1));
  uint64_t *c = malloc(sizeof *c * (size_t)(4 * nm + 1));
  int ok = v && c, all;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, R->comm);
  if (!all) {
    free(v), free(c);
    return fs_fail(err, "out of memory agreeing on %d models", nm);
  }
  for (int i = 0; i < nm; i++) { /* ok, -ok (for the max), first failing rank */
    const fs_plan_model *pm = &R->plan.models[i];
    v[i] = pm->ok, v[nm + i] = -pm->ok, v[2 * nm + i] = pm->ok ? R->size : R->rank;
    c[i] = pm->ok ? pm->model.header_checksum : 0, c[nm + i] = ~c[i];
    c[2 * nm + i] = pm->ok ? pm->twin_sum : 0, c[3 * nm + i] = ~c[2 * nm + i];
  }
  MPI_Allreduce(MPI_IN_PLACE, v, 3 * nm, MPI_INT, MPI_MIN, R->comm);
  MPI_Allreduce(MPI_IN_PLACE, c, 4 * nm, MPI_UINT64_T, MPI_MIN, R->comm);
  for (int i = 0; i < nm; i++) {
    char why[FS_ERRMSG_MAX];
    if (v[i] != -v[nm + i]) { /* failed on some ranks only */
      int first = v[2 * nm + i];
      memcpy(why, R->plan.models[i].error, sizeof why);
      MPI_Bcast(why, sizeof why, MPI_CHAR, first, R->comm);
      size_t n = strlen(why);
      snprintf(why + n, sizeof why - n, " (on rank %d; other ranks could read it)", first);
      fs_plan_drop_model(&R->plan, i, why);
    } else if (v[i] && c[i] != ~c[nm + i]) {
      snprintf(why, sizeof why, "%s: the header differs between ranks (file changed while "
               "being read?)", R->plan.models[i].path);
      fs_plan_drop_model(&R->plan, i, why);
    } else if (v[i] && c[2 * nm + i] != ~c[3 * nm + i]) {
      /* The twins come from a few data reads (fs_plan_find_twins); ranks that
       * read differently compute every matrix instead. */
      fs_plan_clear_twins(&R->plan, i);
    }
  }
  free(v), free(c);
  return 0;
}

int fs_run_init(fs_run *R, MPI_Comm comm, char *const *paths, int nmodels,
                const fs_analyze_opts *o, fs_error *err) {
  memset(R, 0, sizeof *R);
  double t0 = MPI_Wtime();
  MPI_Comm_dup(comm, &R->comm);
  MPI_Comm_rank(R->comm, &R->rank);
  MPI_Comm_size(R->comm, &R->size);
  R->opts = o;
  int ok = fs_fault_init(R->rank) == 0 ||
           fs_fail(err, "FLAGSCOPE_FAULT cannot be parsed (see src/fs_fault.h)") == 0;
  ok = ok && fs_plan_open(paths, o->model_tags, nmodels, &R->plan, err) == 0;
  int all;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, R->comm);
  if (all && agree_models(R, err)) all = 0;
  fs_plan_opts po = {o->kmax, o->mem_per_rank, (fs_schedule)o->schedule, o->no_heads};
  fs_plan_set_opts(&R->plan, &po);
  ok = all && fs_plan_assign(&R->plan, o->kmax, R->size, err) == 0 && allocate(R);
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, R->comm);
  if (!all) {
    if (ok) fs_fail(err, "planning the run failed on another rank (out of memory?)");
    else if (!err || !err->msg[0]) fs_fail(err, "out of memory planning the run");
    fs_run_free(R);
    return FS_ERR;
  }
  R->time[FS_STAGE_PLAN] = MPI_Wtime() - t0;
  return 0;
}

void fs_run_free(fs_run *R) {
  for (int64_t i = 0; R->spec && i < R->plan.nmat; i++) {
    fs_spectrum_free(&R->spec[i]);
    free(R->mat_error[i]);
    free(R->recv[i]);
    if (R->spectral) free(R->spectral[i].sigma_full);
  }
  for (int64_t i = 0; R->pres && i < R->plan.npair; i++) {
    fs_pair_result_free(&R->pres[i]);
    if (R->pextra) fs_pair_extra_free(&R->pextra[i]);
    free(R->pair_error[i]);
  }
  free(R->mine_mat), free(R->mine_pair), free(R->spec), free(R->stats), free(R->spectral);
  free(R->seconds), free(R->mat_error), free(R->kdone), free(R->recv);
  free(R->pres), free(R->pair_error), free(R->pdone), free(R->pextra), free(R->cls), free(R->twin_state);
  for (int64_t i = 0; R->hres && i < R->plan.nheads; i++) {
    fs_heads_result_free(&R->hres[i]);
    free(R->heads_error[i]);
  }
  free(R->mine_heads), free(R->hres), free(R->heads_error), free(R->hseconds), free(R->hdone);
  free(R->busy_all);
  fs_plan_free(&R->plan);
  if (R->comm != MPI_COMM_NULL && R->comm) MPI_Comm_free(&R->comm);
  memset(R, 0, sizeof *R);
}

void fs_run_set_error(char **slot, const char *msg) {
  if (!*slot) *slot = strdup(msg);
}

void fs_run_writer_basis(const fs_run *R, int64_t gi, fs_basis *b) {
  const fs_spectrum *s = &R->spec[gi];
  int t = fs_plan_matrix_of(&R->plan, gi)->transposed;
  *b = (fs_basis){t ? s->n : s->m, s->k, t ? s->V : s->U, s->sigma};
}

void fs_run_reader_basis(const fs_run *R, int64_t gi, fs_basis *b) {
  const fs_matrix *x = fs_plan_matrix_of(&R->plan, gi);
  int k = R->kdone[gi], d = (int)fs_matrix_in_dim(x);
  if (R->recv[gi]) {
    *b = (fs_basis){d, k, R->recv[gi] + k, R->recv[gi]};
    return;
  }
  const fs_spectrum *s = &R->spec[gi];
  *b = (fs_basis){d, s->k, x->transposed ? s->U : s->V, s->sigma};
}

int fs_run_agree_owners(fs_run *R, fs_error *err) {
  int64_t n = R->plan.nmat;
  int *owner = malloc(sizeof *owner * (size_t)(n + 1));
  int ok = owner != NULL, all;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, R->comm);
  if (!all) {
    free(owner);
    return fs_fail(err, "out of memory agreeing the owners of %lld matrices", (long long)n);
  }
  /* A dynamic item is -1 everywhere but on the rank that took it. */
  for (int64_t i = 0; i < n; i++) owner[i] = R->plan.mat[i].owner;
  MPI_Allreduce(MPI_IN_PLACE, owner, (int)n, MPI_INT, MPI_MAX, R->comm);
  /* Items nobody took (the queue failed to start) stay with rank 0, failed. */
  for (int64_t i = 0; i < n; i++) R->plan.mat[i].owner = owner[i] < 0 ? 0 : owner[i];
  free(owner);
  for (int64_t i = 0; i < R->plan.npair; i++)
    R->plan.pair[i].owner = R->plan.mat[R->plan.pair[i].writer].owner;
  free(R->mine_mat), free(R->mine_pair);
  R->mine_mat = list_mine(R, 0, &R->nmine_mat);
  R->mine_pair = list_mine(R, 1, &R->nmine_pair);
  ok = R->mine_mat && R->mine_pair;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, R->comm);
  return all ? 0 : fs_fail(err, "out of memory listing the owned items");
}

int fs_run_agree_busy(fs_run *R, fs_error *err) {
  (void)err;
  MPI_Allgather(&R->busy, 1, MPI_DOUBLE, R->busy_all, 1, MPI_DOUBLE, R->comm);
  if (R->rank || !R->opts->log) return 0;
  double hi = 0, sum = 0, ehi = 0, esum = 0;
  for (int r = 0; r < R->size; r++) {
    hi = R->busy_all[r] > hi ? R->busy_all[r] : hi, sum += R->busy_all[r];
    ehi = R->plan.load[r] > ehi ? R->plan.load[r] : ehi, esum += R->plan.load[r];
  }
  fprintf(R->opts->log, "flagscope: load imbalance max/mean busy seconds %.2f measured "
          "(max %.3f s, mean %.3f s), %.2f estimated; schedule %s\n",
          sum > 0 ? hi / (sum / R->size) : 1.0, hi, sum / R->size,
          esum > 0 ? ehi / (esum / R->size) : 1.0, fs_schedule_name(R->plan.schedule));
  return 0;
}

int fs_run_agree_matrices(fs_run *R, fs_error *err) {
  (void)err; /* in-place reductions of preallocated arrays cannot fail locally */
  MPI_Allreduce(MPI_IN_PLACE, R->kdone, (int)R->plan.nmat, MPI_INT, MPI_MAX, R->comm);
  return 0;
}

int fs_run_agree_pairs(fs_run *R, fs_error *err) {
  (void)err;
  MPI_Allreduce(MPI_IN_PLACE, R->pdone, (int)R->plan.npair, MPI_INT, MPI_MAX, R->comm);
  return 0;
}

int fs_run_agree_heads(fs_run *R, fs_error *err) {
  (void)err;
  MPI_Allreduce(MPI_IN_PLACE, R->hdone, (int)R->plan.nheads, MPI_INT, MPI_MAX, R->comm);
  return 0;
}

const char *fs_run_model_status(const fs_run *R, int model, char *why, size_t n) {
  const fs_plan_model *pm = &R->plan.models[model];
  if (!pm->ok) {
    snprintf(why, n, "%s", pm->error);
    return "failed";
  }
  int64_t badm = 0, badp = 0, badh = 0;
  for (int64_t i = 0; i < pm->graph.nmat; i++) badm += !R->kdone[pm->mat0 + i];
  for (int64_t i = 0; i < pm->graph.npair; i++) badp += !R->pdone[pm->pair0 + i];
  for (int64_t i = 0; i < R->plan.nheads; i++) badh += R->plan.heads[i].model == model && !R->hdone[i];
  if (!badm && !badp && !badh) {
    snprintf(why, n, "%s", pm->graph.note);
    return "ok";
  }
  size_t len = 0;
  if (badm || badp)
    len = (size_t)snprintf(why, n, "%lld of %d matrices and %lld of %d pairs failed (see their "
                           "error columns)", (long long)badm, pm->graph.nmat, (long long)badp,
                           pm->graph.npair);
  if (badh && len < n)
    snprintf(why + len, n - len, "%s%lld of %d attention head blocks (/head_overlaps) failed%s",
             len ? "; " : "", (long long)badh, pm->graph.nhead_block,
             len ? "" : " (see their error columns)");
  return "partial";
}

void fs_run_log_timing(const fs_run *R) {
  enum { NT = 9 };
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double mine[NT] = {R->time[FS_STAGE_PLAN], R->read_seconds,
                     R->time[FS_STAGE_SPECTRA] - R->time[FS_STAGE_PLAN] - R->read_seconds,
                     R->time[FS_STAGE_PAIRS], R->time_heads, R->reduce_seconds,
                     R->time[FS_STAGE_WRITE], ru.ru_maxrss / 1024.0,
                     R->largest_owned / 1048576.0};
  double *all = R->rank == 0 ? malloc(sizeof *all * NT * (size_t)R->size) : NULL;
  if (R->rank == 0 && !all) return; /* the others still take part */
  MPI_Gather(mine, NT, MPI_DOUBLE, all, NT, MPI_DOUBLE, 0, R->comm);
  for (int r = 0; R->rank == 0 && r < R->size; r++) {
    const double *t = all + NT * r;
    fprintf(R->opts->log, "flagscope: timing rank %d: plan %.3f s, read %.3f s, svd %.3f s, "
            "pairs %.3f s, heads %.3f s, reduce %.3f s, write %.3f s; peak memory %.0f MB, "
            "largest owned matrix %.0f MB\n", r, t[0], t[1], t[2], t[3], t[4], t[5], t[6],
            t[7], t[8]);
  }
  free(all);
}

void fs_run_log_plan(const fs_run *R) {
  double lo = R->plan.load[0], hi = lo, sum = 0;
  for (int r = 0; r < R->size; r++) {
    double l = R->plan.load[r];
    lo = l < lo ? l : lo, hi = l > hi ? l : hi, sum += l;
  }
  fprintf(R->opts->log, "flagscope: %d models, %lld matrices, %lld pairs on %d ranks "
          "(schedule %s, estimated imbalance max/mean %.2f)\n", R->plan.nmodels,
          (long long)R->plan.nmat, (long long)R->plan.npair, R->size,
          fs_schedule_name(R->plan.schedule), sum > 0 ? hi / (sum / R->size) : 1.0);
  if (R->plan.ntwin) {
    int64_t check = 0;
    for (int64_t i = 0; i < R->plan.nmat; i++) check += R->plan.mat[i].twin_check;
    fprintf(R->opts->log, "flagscope: %lld matrices planned as copies of an identical one of "
            "their model (e.g. a tied embedding), %lld of them compared first\n",
            (long long)R->plan.ntwin, (long long)check);
  }
  if (R->plan.ngroup)
    fprintf(R->opts->log, "flagscope: %lld matrices above --mem-per-rank %.0f bytes computed by "
            "groups of ranks\n", (long long)R->plan.ngroup, R->plan.mem_per_rank);
  if (R->plan.nover - R->plan.nwhole)
    fprintf(R->opts->log, "flagscope: warning: %lld matrices exceed --mem-per-rank even on all "
            "%d ranks (estimated); computed on all of them\n",
            (long long)(R->plan.nover - R->plan.nwhole), R->size);
  if (R->plan.nwhole)
    fprintf(R->opts->log, "flagscope: warning: %lld classifiers exceed --mem-per-rank "
            "(estimated); kept whole on one rank (their statistics need every row)\n",
            (long long)R->plan.nwhole);
  for (int i = 0; i < R->plan.nmodels; i++)
    if (!R->plan.models[i].ok)
      fprintf(R->opts->log, "flagscope: error: %s\n", R->plan.models[i].error);
}
