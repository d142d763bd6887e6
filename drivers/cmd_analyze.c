/*
 * cmd_analyze.c - `flagscope analyze`: parses the analysis options (its own
 * are --long; single-dash options go to the PETSc/SLEPc options database),
 * then runs fs_analyze over the models on MPI_COMM_WORLD.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>

#include "fs_analyze.h"
#include "fs_cmd.h"
#include "fs_commutator.h"
#include "fs_manifest.h"
#include "fs_layermap.h"
#include "fs_petsc.h"
#include "fs_plan.h"
#include "fs_progress.h"
#include "fs_spectrum.h"
#include "fs_zoo.h"

/* ---- argument lists ----------------------------------------------------------- */

typedef struct strlist {
  int n, cap;
  char **v;
} strlist;

static int strlist_add(strlist *l, const char *s) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    char **v = realloc(l->v, sizeof *v * (size_t)cap);
    if (!v) return FS_ERR;
    l->v = v, l->cap = cap;
  }
  return (l->v[l->n] = strdup(s)) ? (l->n++, 0) : FS_ERR;
}

static void strlist_free(strlist *l) {
  for (int i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
}

/* The manifest's models after those of the command line; its bad lines are
 * reported and skipped (counted in *nbad), the other models go on. */
static int read_manifest(const char *path, strlist *models, strlist *tags, strlist *bad) {
  fs_manifest m;
  fs_error err;
  if (fs_manifest_read(path, &m, &err)) {
    fprintf(stderr, "flagscope: error: %s\n", err.msg);
    return FS_ERR;
  }
  int rc = 0;
  for (int i = 0; i < m.nbad && !rc; i++) rc = strlist_add(bad, m.bad[i]); /* printed by rank 0 */
  for (int i = 0; i < m.n && !rc; i++)
    rc = strlist_add(models, m.entry[i].path) || strlist_add(tags, m.entry[i].tags) ? FS_ERR : 0;
  fs_manifest_free(&m);
  return rc;
}

static int parse_eps(const char *s, fs_analyze_opts *o) {
  o->neps = 0;
  while (*s) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0 && v <= 90) || o->neps == FS_MAX_EPS) return FS_ERR;
    o->eps_deg[o->neps++] = v;
    s = end + (*end == ',');
    if (*end && *end != ',') return FS_ERR;
  }
  return o->neps ? 0 : FS_ERR;
}

/* Bytes with an optional K, M or G (powers of 1024); -1 if malformed. */
static double parse_bytes(const char *s) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || !(v > 0)) return -1;
  double mult = 1;
  if (*end == 'K' || *end == 'k') mult = 1024.0, end++;
  else if (*end == 'M' || *end == 'm') mult = 1024.0 * 1024, end++;
  else if (*end == 'G' || *end == 'g') mult = 1024.0 * 1024 * 1024, end++;
  if (*end == 'B' || *end == 'b') end++;
  return *end ? -1 : v * mult;
}

/* ---- analyze ------------------------------------------------------------------ */

typedef struct analyze_args {
  fs_analyze_opts opts;
  strlist models, tags, petsc;
  const char *zoo, *outdir, *layer_map;
  strlist bad; /* manifest lines skipped */
  int quiet, task, ntasks;
} analyze_args;

static int parse_int(const char *s, int lo, int hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end || errno || v < lo || v > hi) return FS_ERR;
  *out = (int)v;
  return 0;
}

static int parse_analyze(int argc, char **argv, analyze_args *a) {
  fs_analyze_defaults(&a->opts);
  strlist_add(&a->petsc, argv[0]);
  for (int i = 2; i < argc; i++) {
    const char *s = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    char *end;
    if (!strcmp(s, "-o") || !strcmp(s, "--output") || !strcmp(s, "--zoo") ||
        !strcmp(s, "--k") || !strcmp(s, "--eps") || !strcmp(s, "--tau") ||
        !strcmp(s, "--energy") || !strcmp(s, "--rank-tol") || !strcmp(s, "--head-threshold") ||
        !strcmp(s, "--commutator") || !strcmp(s, "--solver") || !strcmp(s, "--align-ratio") ||
        !strcmp(s, "--align-kappa") || !strcmp(s, "--mem-per-rank") || !strcmp(s, "--schedule") ||
        !strcmp(s, "--outdir") || !strcmp(s, "--task") || !strcmp(s, "--ntasks") ||
        !strcmp(s, "--layer-map")) {
      if (!val) return usage_error("option %s needs a value", s);
      i++;
      if (s[1] == 'o' || !strcmp(s, "--output")) a->opts.output = val;
      else if (!strcmp(s, "--outdir")) a->outdir = val;
      else if (!strcmp(s, "--task")) {
        if (parse_int(val, 0, 1000000, &a->task))
          return usage_error("--task wants an integer >= 0, not '%s'", val);
      } else if (!strcmp(s, "--ntasks")) {
        if (parse_int(val, 1, 1000000, &a->ntasks))
          return usage_error("--ntasks wants an integer >= 1, not '%s'", val);
      }
      else if (!strcmp(s, "--zoo")) a->zoo = val;
      else if (!strcmp(s, "--layer-map")) a->layer_map = val;
      else if (!strcmp(s, "--solver")) {
        if (fs_solver_parse(val, &a->opts.solver))
          return usage_error("--solver wants auto, slepc or rsvd, not '%s'", val);
      } else if (!strcmp(s, "--mem-per-rank")) {
        if ((a->opts.mem_per_rank = parse_bytes(val)) < 0)
          return usage_error("--mem-per-rank wants a positive byte count (suffix K, M or G), not '%s'", val);
      } else if (!strcmp(s, "--schedule")) {
        if ((a->opts.schedule = fs_schedule_parse(val)) < 0)
          return usage_error("--schedule wants lpt, dynamic or auto, not '%s'", val);
      } else if (!strcmp(s, "--commutator")) {
        if (fs_commutator_mode_parse(val, &a->opts.commutator))
          return usage_error("--commutator wants lowrank, exact or both, not '%s'", val);
      } else if (!strcmp(s, "--eps")) {
        if (parse_eps(val, &a->opts))
          return usage_error("--eps wants degrees in [0, 90], comma-separated, not '%s'", val);
      } else if (!strcmp(s, "--k")) {
        long k = strtol(val, &end, 10);
        if (*end || k < 1 || k > 100000) return usage_error("--k wants an integer >= 1, not '%s'", val);
        a->opts.kmax = (int)k;
      } else if (!strcmp(s, "--head-threshold")) {
        a->opts.head_threshold = strtod(val, &end);
        if (*end || !(a->opts.head_threshold >= 0 && a->opts.head_threshold <= 1))
          return usage_error("--head-threshold wants an overlap in [0, 1], not '%s'", val);
      } else if (!strncmp(s, "--align-", 8)) {
        double v = strtod(val, &end);
        if (*end || !(v >= 0 && v <= (s[8] == 'r' ? 1 : 1e6)))
          return usage_error(s[8] == 'r' ? "--align-ratio wants a fraction in [0, 1], not '%s'"
                                         : "--align-kappa wants a number >= 0, not '%s'", val);
        *(s[8] == 'r' ? &a->opts.align_ratio : &a->opts.align_kappa) = v;
      } else if (!strcmp(s, "--tau")) {
        a->opts.tau = strtod(val, &end);
        if (*end || !(a->opts.tau > 0 && a->opts.tau < 1))
          return usage_error("--tau wants a number in (0, 1), not '%s'", val);
      } else { /* --energy or --rank-tol: one rank policy per run */
        int energy = !strcmp(s, "--energy");
        double v = strtod(val, &end);
        if (*end || !(energy ? v > 0 && v <= 1 : v > 0 && v < 1))
          return usage_error(energy ? "--energy wants a fraction in (0, 1], not '%s'"
                                    : "--rank-tol wants a number in (0, 1), not '%s'", val);
        fs_rank_policy p = energy ? FS_RANK_ENERGY : FS_RANK_TOL;
        if (a->opts.rank_policy != FS_RANK_FIXED && a->opts.rank_policy != p)
          return usage_error("%s", "--energy and --rank-tol exclude each other");
        a->opts.rank_policy = p, a->opts.rank_param = v;
      }
    } else if (!strcmp(s, "--quiet")) {
      a->quiet = 1;
    } else if (!strcmp(s, "--flag-table")) {
      a->opts.flag_table = 1;
    } else if (!strcmp(s, "--timing")) {
      a->opts.timing = 1;
    } else if (!strcmp(s, "--full-spectrum")) {
      a->opts.full_spectrum = 1;
    } else if (!strcmp(s, "--no-heads")) {
      a->opts.no_heads = 1;
    } else if (s[0] == '-' && s[1] == '-') {
      return usage_error("unknown option %s", s);
    } else if (s[0] == '-' && s[1]) { /* PETSc option, with its value if one follows */
      strlist_add(&a->petsc, s);
      if (val && (val[0] != '-' || (val[1] >= '0' && val[1] <= '9') || val[1] == '.'))
        strlist_add(&a->petsc, argv[++i]);
    } else {
      strlist_add(&a->models, s);
      strlist_add(&a->tags, "");
    }
  }
  if (a->task >= a->ntasks) return usage_error("%s", "--task must be below --ntasks");
  if (a->ntasks > 1 && !a->outdir) return usage_error("%s", "--task/--ntasks need --outdir");
  if (a->zoo && read_manifest(a->zoo, &a->models, &a->tags, &a->bad)) return EXIT_USAGE;
  if (!a->models.n && !a->zoo &&
      read_manifest(FLAGSCOPE_EXAMPLES_DIR "/manifest.txt", &a->models, &a->tags, &a->bad))
    return EXIT_USAGE;
  if (!a->models.n) return usage_error("%s", "no models to analyse");
  return EXIT_OK;
}

char *cmd_join_args(int argc, char **argv) {
  size_t n = 1;
  for (int i = 0; i < argc; i++) n += strlen(argv[i]) + 1;
  char *s = calloc(n, 1);
  for (int i = 0; s && i < argc; i++) {
    if (i) strcat(s, " ");
    strcat(s, argv[i]);
  }
  return s;
}

/* ---- zoo mode: model by model into --outdir -------------------------------- */

static volatile sig_atomic_t stop_requested;
static void on_stop_signal(int sig) { (void)sig, stop_requested = 1; }

/* After PetscInitialize, whose own handlers would abort on SIGTERM. */
static void catch_stop_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
}

static double progress_interval(void) {
  const char *s = getenv("FLAGSCOPE_PROGRESS_SECONDS");
  double v = s ? strtod(s, NULL) : 30;
  return v >= 0 ? v : 30;
}

/* What a record must match for a model file to be reused: every option that
 * changes the numbers. */
static char *options_string(const analyze_args *a) {
  const fs_analyze_opts *o = &a->opts;
  char buf[4096];
  int n = snprintf(buf, sizeof buf,
                   "kmax=%d tau=%.17g k_policy=%s k_value=%.17g full_spectrum=%d head_threshold=%.17g "
                   "flag_table=%d commutator=%s solver=%s eps=",
                   o->kmax, o->tau, fs_rank_policy_name(o->rank_policy),
                   o->rank_policy == FS_RANK_FIXED ? 0.0 : o->rank_param, o->full_spectrum,
                   o->head_threshold, o->flag_table, fs_commutator_mode_name(o->commutator),
                   fs_solver_name(o->solver));
  for (int e = 0; e < o->neps && n < (int)sizeof buf; e++)
    n += snprintf(buf + n, sizeof buf - (size_t)n, "%s%.17g", e ? "," : "", o->eps_deg[e]);
  if (o->no_heads && n < (int)sizeof buf) /* only when set: older records stay valid */
    n += snprintf(buf + n, sizeof buf - (size_t)n, " no_heads=1");
  for (int i = 1; i < a->petsc.n && n < (int)sizeof buf; i++)
    n += snprintf(buf + n, sizeof buf - (size_t)n, " %s", a->petsc.v[i]);
  return strdup(buf);
}

static int run_zoo(analyze_args *a, int rank, fs_progress *P) {
  fs_manifest m = {0};
  m.n = a->models.n;
  m.entry = calloc((size_t)m.n + 1, sizeof *m.entry);
  char *options = options_string(a);
  if (!m.entry || !options) {
    free(m.entry), free(options);
    return EXIT_FAILED;
  }
  for (int i = 0; i < m.n; i++) m.entry[i] = (fs_manifest_entry){a->models.v[i], a->tags.v[i], 0};
  int lo, hi;
  fs_zoo_share(m.n, a->task, a->ntasks, &lo, &hi);
  char label[64];
  snprintf(label, sizeof label, "task %d/%d", a->task, a->ntasks);
  fs_progress_init(P, rank == 0 ? stderr : NULL, label, hi - lo, progress_interval());
  catch_stop_signals();
  fs_zoo_opts z = {a->outdir, a->task, a->ntasks, options, &stop_requested, P};
  fs_zoo_counts c;
  fs_error err;
  fs_error_clear(&err);
  int rc = fs_zoo_run(PETSC_COMM_WORLD, &m, &a->opts, &z, &c, &err);
  if (rc && rank == 0) fprintf(stderr, "flagscope: error: %s\n", err.msg);
  else if (rank == 0)
    fprintf(stderr, "flagscope: task %d/%d: models %d..%d of %d: %d analysed (%d again after damage, "
            "%d failed), %d already complete%s\n", a->task, a->ntasks, lo, hi - 1, m.n,
            c.analysed, c.redone, c.failed, c.skipped,
            c.stopped ? "; stopped by a signal, rerun to finish" : "");
  free(m.entry), free(options);
  if (rc) return EXIT_FAILED;
  if (c.stopped) return EXIT_INTERRUPTED;
  /* Failed models and bad lines are recorded and listed by merge: the share
   * is done, so a job array's afterok still lets the merge job run. */
  return EXIT_OK;
}

int cmd_analyze(int argc, char **argv) {
  analyze_args a;
  memset(&a, 0, sizeof a);
  a.ntasks = 1;
  fs_layermap *map = NULL;
  fs_error err;
  fs_error_clear(&err);
  int rc = parse_analyze(argc, argv, &a);
  if (rc) goto done;
  /* read by every rank before MPI starts: a bad map is a usage error everywhere */
  if (a.layer_map && fs_layermap_read(a.layer_map, &map, &err)) {
    rc = usage_error("%s", err.msg);
    goto done;
  }
  fs_layermap_activate(map);
  int pargc = a.petsc.n;
  char **pargv = a.petsc.v;
  if (fs_petsc_init(&pargc, &pargv, &err)) {
    fprintf(stderr, "flagscope: error: %s\n", err.msg);
    rc = EXIT_FAILED;
    goto done;
  }
  int rank;
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  char *cmdline = cmd_join_args(argc, argv);
  a.opts.command_line = cmdline;
  a.opts.summary = (rank == 0 && !a.quiet) ? stdout : NULL;
  a.opts.log = stderr;
  a.opts.model_tags = a.tags.v;
  for (int i = 0; i < a.bad.n && rank == 0; i++)
    fprintf(stderr, "flagscope: error: %s (line skipped)\n", a.bad.v[i]);
  fs_progress P;
  fs_progress_init(&P, rank == 0 && !a.quiet ? stderr : NULL, "", 0, progress_interval());
  a.opts.progress = &P;
  int nfailed = 0;
  if (a.outdir) {
    rc = run_zoo(&a, rank, &P);
  } else if (fs_analyze(PETSC_COMM_WORLD, a.models.v, a.models.n, &a.opts, &nfailed, &err)) {
    if (rank == 0) fprintf(stderr, "flagscope: error: %s\n", err.msg);
    rc = EXIT_FAILED;
  } else {
    if (rank == 0)
      fprintf(stderr, "flagscope: wrote %s (%d of %d models analysed%s)\n", a.opts.output,
              a.models.n - nfailed, a.models.n, nfailed ? "; see the errors above" : "");
    rc = nfailed || a.bad.n ? EXIT_FAILED : EXIT_OK;
  }
  free(cmdline);
  fs_petsc_finalize();
done:
  fs_layermap_activate(NULL);
  fs_layermap_free(map);
  strlist_free(&a.models);
  strlist_free(&a.tags);
  strlist_free(&a.bad);
  strlist_free(&a.petsc);
  return rc;
}

