/*
 * cmd_analyze.c - `flagscope analyze`: parses the analysis options (its own
 * are --long; single-dash options go to the PETSc/SLEPc options database),
 * then runs fs_analyze over the models on MPI_COMM_WORLD.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_analyze.h"
#include "fs_cmd.h"
#include "fs_petsc.h"
#include "fs_plan.h"

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

/* One model path per line; blank lines and '#' comments skipped; relative
 * paths are relative to the manifest's directory. */
static int read_manifest(const char *path, strlist *models) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "flagscope: error: %s: cannot read the manifest: %s\n", path, strerror(errno));
    return FS_ERR;
  }
  const char *slash = strrchr(path, '/');
  int dirlen = slash ? (int)(slash - path) : 0;
  char line[4096], full[8300];
  int rc = 0;
  while (!rc && fgets(line, sizeof line, f)) {
    char *s = line + strspn(line, " \t");
    s[strcspn(s, "#\r\n")] = '\0';
    for (size_t n = strlen(s); n && (s[n - 1] == ' ' || s[n - 1] == '\t'); n--) s[n - 1] = '\0';
    if (!*s) continue;
    if (*s == '/' || !dirlen) snprintf(full, sizeof full, "%s", s);
    else snprintf(full, sizeof full, "%.*s/%s", dirlen, path, s);
    rc = strlist_add(models, full);
  }
  fclose(f);
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
  strlist models, petsc;
  const char *zoo;
  int quiet;
} analyze_args;

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
        !strcmp(s, "--align-kappa") || !strcmp(s, "--mem-per-rank") || !strcmp(s, "--schedule")) {
      if (!val) return usage_error("option %s needs a value", s);
      i++;
      if (s[1] == 'o' || !strcmp(s, "--output")) a->opts.output = val;
      else if (!strcmp(s, "--zoo")) a->zoo = val;
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
    } else if (s[0] == '-' && s[1] == '-') {
      return usage_error("unknown option %s", s);
    } else if (s[0] == '-' && s[1]) { /* PETSc option, with its value if one follows */
      strlist_add(&a->petsc, s);
      if (val && (val[0] != '-' || (val[1] >= '0' && val[1] <= '9') || val[1] == '.'))
        strlist_add(&a->petsc, argv[++i]);
    } else {
      strlist_add(&a->models, s);
    }
  }
  if (a->zoo && read_manifest(a->zoo, &a->models)) return EXIT_USAGE;
  if (!a->models.n && !a->zoo && read_manifest(FLAGSCOPE_EXAMPLES_DIR "/manifest.txt", &a->models))
    return EXIT_USAGE;
  if (!a->models.n) return usage_error("%s", "no models to analyse");
  return EXIT_OK;
}

static char *join_args(int argc, char **argv) {
  size_t n = 1;
  for (int i = 0; i < argc; i++) n += strlen(argv[i]) + 1;
  char *s = calloc(n, 1);
  for (int i = 0; s && i < argc; i++) {
    if (i) strcat(s, " ");
    strcat(s, argv[i]);
  }
  return s;
}

int cmd_analyze(int argc, char **argv) {
  analyze_args a;
  memset(&a, 0, sizeof a);
  int rc = parse_analyze(argc, argv, &a);
  if (rc) goto done;
  fs_error err;
  fs_error_clear(&err);
  int pargc = a.petsc.n;
  char **pargv = a.petsc.v;
  if (fs_petsc_init(&pargc, &pargv, &err)) {
    fprintf(stderr, "flagscope: error: %s\n", err.msg);
    rc = EXIT_FAILED;
    goto done;
  }
  int rank;
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  char *cmdline = join_args(argc, argv);
  a.opts.command_line = cmdline;
  a.opts.summary = (rank == 0 && !a.quiet) ? stdout : NULL;
  a.opts.log = stderr;
  int nfailed = 0;
  if (fs_analyze(PETSC_COMM_WORLD, a.models.v, a.models.n, &a.opts, &nfailed, &err)) {
    if (rank == 0) fprintf(stderr, "flagscope: error: %s\n", err.msg);
    rc = EXIT_FAILED;
  } else {
    if (rank == 0)
      fprintf(stderr, "flagscope: wrote %s (%d of %d models analysed%s)\n", a.opts.output,
              a.models.n - nfailed, a.models.n, nfailed ? "; see the errors above" : "");
    rc = nfailed ? EXIT_FAILED : EXIT_OK;
  }
  free(cmdline);
  fs_petsc_finalize();
done:
  strlist_free(&a.models);
  strlist_free(&a.petsc);
  return rc;
}

