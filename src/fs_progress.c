/* fs_progress.c - progress lines from non-blocking sums (see fs_progress.h). */
#include "fs_progress.h"

#include <string.h>

void fs_progress_init(fs_progress *P, FILE *out, const char *label, int models_total,
                      double interval) {
  memset(P, 0, sizeof *P);
  P->out = out;
  P->interval = interval;
  snprintf(P->label, sizeof P->label, "%s", label ? label : "");
  P->models_total = models_total;
  P->t0 = P->last = MPI_Wtime();
  P->comm = MPI_COMM_NULL;
}

static void print_line(fs_progress *P) {
  if (!P->out) return;
  double now = MPI_Wtime(), el = now - P->t0;
  int64_t mats = P->mat_before + P->seen;
  double rate = el > 0 ? (double)mats / el : 0;
  char models[96] = "", eta[48] = "ETA ?";
  if (P->models_total > 0) {
    snprintf(models, sizeof models, "models %d/%d", P->models_done, P->models_total);
    if (P->models_skipped) snprintf(models + strlen(models), sizeof models - strlen(models),
                                    " (%d skipped)", P->models_skipped);
    strcat(models, ", ");
    int left = P->models_total - P->models_done;
    if (!left) snprintf(eta, sizeof eta, "ETA 0 s");
    else if (P->models_run > 0) /* by the models this process analysed, not the skipped ones */
      snprintf(eta, sizeof eta, "ETA %.0f s", el / P->models_run * left);
  } else if (P->stage_total > 0 && rate > 0) {
    snprintf(eta, sizeof eta, "ETA %.0f s", (double)(P->stage_total - P->seen) / rate);
  }
  char mat[64];
  if (P->models_total <= 0 && P->stage_total > 0)
    snprintf(mat, sizeof mat, "matrices %lld/%lld", (long long)mats, (long long)P->stage_total);
  else
    snprintf(mat, sizeof mat, "matrices %lld", (long long)mats);
  fprintf(P->out, "flagscope: progress%s%s: %s%s, %.1f matrices/s, elapsed %.0f s, %s\n",
          P->label[0] ? " " : "", P->label, models, mat, rate, el, eta);
  fflush(P->out);
  P->last = now;
}

void fs_progress_begin(fs_progress *P, MPI_Comm comm, int64_t nmat) {
  /* A private communicator: the rounds start whenever a rank finishes a
   * matrix, so they must not be ordered against the run's own collectives. */
  MPI_Comm_dup(comm, &P->comm);
  MPI_Comm_size(comm, &P->size);
  P->active = 0;
  P->mine = P->seen = 0;
  P->stage_total = nmat;
}

static void post(fs_progress *P, int finished) {
  P->send[0] = P->mine, P->send[1] = finished;
  MPI_Iallreduce(P->send, P->recv, 2, MPI_INT64_T, MPI_SUM, P->comm, &P->req);
  P->active = 1;
}

static void completed(fs_progress *P) {
  P->active = 0;
  P->seen = P->recv[0];
  if (P->out && MPI_Wtime() - P->last >= P->interval) print_line(P);
}

void fs_progress_tick(fs_progress *P) {
  P->mine++;
  if (P->active) {
    int done = 0;
    MPI_Test(&P->req, &done, MPI_STATUS_IGNORE);
    if (!done) return;
    completed(P);
  }
  post(P, 0);
}

void fs_progress_end(fs_progress *P) {
  for (;;) {
    if (!P->active) post(P, 1);
    MPI_Wait(&P->req, MPI_STATUS_IGNORE);
    completed(P);
    /* The same results on every rank, so every rank leaves after the same round. */
    if (P->recv[1] == P->size) break;
  }
  P->mat_before += P->recv[0];
  MPI_Comm_free(&P->comm);
  P->seen = 0;
  P->stage_total = 0;
}

void fs_progress_model(fs_progress *P, int skipped) {
  P->models_done++;
  if (skipped) P->models_skipped++;
  else P->models_run++;
  print_line(P);
}
