/* fs_reduce.c - per-model statistics and the summary table (see fs_reduce.h). */
#include "fs_reduce.h"

#include <stdlib.h>
#include <string.h>

#include "fs_fault.h"

enum { F_COUNT, F_RANDOM, F_OVERLAP, F_KAPPA, F_KREL, F_BAL, F_RATIO0 }; /* F_RATIO0 + e for eps e */

int fs_reduce_models(const fs_run *R, fs_model_summary **out, fs_error *err) {
  int nf = F_RATIO0 + R->opts->neps, nm = R->plan.nmodels;
  size_t n = (size_t)nm * FS_PAIR_NTYPES * nf;
  double *acc = calloc(n + 1, sizeof *acc), *tot = calloc(n + 1, sizeof *tot);
  int ok = acc && tot && !fs_fault_hit(FS_FAULT_REDUCE, -1), all;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, R->comm);
  if (!all) {
    free(acc), free(tot);
    return fs_fail(err, "out of memory reducing the statistics of %d models%s", nm,
                   fs_fault_hit(FS_FAULT_REDUCE, -1) ? " (injected fault)" : "");
  }
  for (int64_t i = 0; i < R->nmine_pair; i++) {
    int64_t p = R->mine_pair[i];
    if (!R->pdone[p]) continue;
    const fs_plan_pair *q = &R->plan.pair[p];
    const fs_pair_result *res = &R->pres[p];
    int t = R->plan.models[q->model].graph.pair[q->local].type;
    double *a = acc + ((size_t)q->model * FS_PAIR_NTYPES + t) * nf;
    a[F_COUNT] += 1;
    a[F_RANDOM] += (double)fs_pair_random_dim(res) / res->q;
    a[F_OVERLAP] += res->overlap_random > 0 ? res->overlap / res->overlap_random : 0;
    a[F_KAPPA] += res->kappa;
    a[F_KREL] += res->kappa_rel;
    a[F_BAL] += res->balancedness;
    for (int e = 0; e < R->opts->neps; e++) a[F_RATIO0 + e] += (double)res->dim[e] / res->q;
  }
  MPI_Reduce(acc, tot, (int)n, MPI_DOUBLE, MPI_SUM, 0, R->comm);
  free(acc);
  *out = NULL;
  if (R->rank != 0) {
    free(tot);
    return 0;
  }
  fs_model_summary *s = calloc((size_t)nm + 1, sizeof *s);
  if (!s) {
    free(tot);
    return fs_fail(err, "out of memory for the summary of %d models", nm);
  }
  for (int m = 0; m < nm; m++)
    for (int t = 0; t < FS_PAIR_NTYPES; t++) {
      const double *a = tot + ((size_t)m * FS_PAIR_NTYPES + t) * nf;
      double c = a[F_COUNT] > 0 ? a[F_COUNT] : 1;
      s[m].npairs[t] = (int)a[F_COUNT];
      s[m].random_ratio[t] = a[F_RANDOM] / c;
      s[m].overlap_rel[t] = a[F_OVERLAP] / c;
      s[m].kappa[t] = a[F_KAPPA] / c;
      s[m].kappa_rel[t] = a[F_KREL] / c;
      s[m].balancedness[t] = a[F_BAL] / c;
      for (int e = 0; e < R->opts->neps; e++) s[m].ratio[t][e] = a[F_RATIO0 + e] / c;
    }
  free(tot);
  *out = s;
  return 0;
}

/* The file name, with its folder when the name is Hugging Face's generic
 * "model*.safetensors" (the folder names the model there). */
static const char *display_name(const char *path) {
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
  fprintf(f, " %9s %9s %9s %9s %9s\n", "rand/q", "ovl/rand", "kappa", "kappa/rnd", "balance");
}

static void print_model(const fs_run *R, const fs_model_summary *s, int m, FILE *f,
                        const char *status, const char *why) {
  const fs_plan_model *pm = &R->plan.models[m];
  int first = 1;
  for (int t = 0; s && t < FS_PAIR_NTYPES; t++) {
    if (!s[m].npairs[t]) continue;
    if (first)
      fprintf(f, "%-34.34s %-8s %-7s %5d", display_name(pm->path), pm->graph.family, status,
              pm->graph.nmat);
    else
      fprintf(f, "%-34s %-8s %-7s %5s", "", "", "", "");
    fprintf(f, "  %-10s %5d", fs_pair_type_name(t), s[m].npairs[t]);
    for (int e = 0; e < R->opts->neps; e++) fprintf(f, " %9.4f", s[m].ratio[t][e]);
    fprintf(f, " %9.4f %9.4f %9.5f %9.4f %9.5f\n", s[m].random_ratio[t], s[m].overlap_rel[t],
            s[m].kappa[t], s[m].kappa_rel[t],
            s[m].balancedness[t]);
    first = 0;
  }
  if (first)
    fprintf(f, "%-34.34s %-8s %-7s %5d  %-10s %5d\n", display_name(pm->path),
            pm->ok ? pm->graph.family : "-", status, pm->ok ? pm->graph.nmat : 0, "-", 0);
  if (why[0]) fprintf(f, "%-34s   %s: %s\n", "", strcmp(status, "ok") ? "error" : "note", why);
}

int fs_reduce_report(const fs_run *R, const fs_model_summary *sum, FILE *f,
                     int *nfailed) {
  *nfailed = 0;
  if (f && R->rank == 0) print_header(R, f);
  for (int m = 0; m < R->plan.nmodels; m++) {
    char why[FS_ERRMSG_MAX];
    const char *status = fs_run_model_status(R, m, why, sizeof why);
    *nfailed += strcmp(status, "ok") != 0;
    if (f && R->rank == 0) print_model(R, sum, m, f, status, why);
  }
  if (f) fflush(f); /* the table comes before the driver's closing line on stderr */
  return 0;
}
