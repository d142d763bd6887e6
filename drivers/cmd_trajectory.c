/*
 * cmd_trajectory.c - `flagscope trajectory MANIFEST`: one training run's
 * checkpoints (src/fs_trajectory.h) analysed by fs_analyze, every pair
 * followed across them, exponential rates fitted; one HDF5 file with the
 * usual tables and a /trajectory group.  The series is checked before any
 * analysis: different architectures or steps out of order are refused,
 * naming the first offending checkpoint.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_analyze.h"
#include "fs_cmd.h"
#include "fs_petsc.h"
#include "fs_trajectory.h"

typedef struct traj_args {
  fs_analyze_opts a;
  fs_traj_opts t;
  const char *manifest;
  int quiet, npetsc;
  char *petsc[64];
} traj_args;

static int parse_long(const char *s, long *v) {
  char *end;
  long x = strtol(s, &end, 10);
  if (end == s || *end || x < 0) return FS_ERR;
  *v = x;
  return 0;
}

static int parse_traj(int argc, char **argv, traj_args *x) {
  fs_analyze_defaults(&x->a);
  fs_traj_defaults(&x->t);
  x->a.output = "trajectory.h5";
  x->petsc[x->npetsc++] = argv[0];
  for (int i = 2; i < argc; i++) {
    const char *s = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    char *end;
    if (!strcmp(s, "-o") || !strcmp(s, "--output") || !strcmp(s, "--k") ||
        !strcmp(s, "--fit-from") || !strcmp(s, "--fit-to") || !strcmp(s, "--floor") ||
        !strcmp(s, "--lr")) {
      if (!val) return usage_error("option %s needs a value", s);
      i++;
      if (s[1] == 'o' || !strcmp(s, "--output")) x->a.output = val;
      else if (!strcmp(s, "--k")) {
        long k = strtol(val, &end, 10);
        if (*end || k < 1 || k > 100000) return usage_error("--k wants an integer >= 1, not '%s'", val);
        x->a.kmax = (int)k;
      } else if (!strcmp(s, "--fit-from")) {
        if (parse_long(val, &x->t.fit_from)) return usage_error("--fit-from wants a step >= 0, not '%s'", val);
      } else if (!strcmp(s, "--fit-to")) {
        if (parse_long(val, &x->t.fit_to)) return usage_error("--fit-to wants a step >= 0, not '%s'", val);
      } else {
        double v = strtod(val, &end);
        if (*end || !(v > 0) || !isfinite(v))
          return usage_error("%s wants a positive number", s);
        if (!strcmp(s, "--lr")) x->t.lr = v;
        else x->t.floor = v;
      }
    } else if (!strcmp(s, "--quiet")) {
      x->quiet = 1;
    } else if (s[0] == '-' && s[1] == '-') {
      return usage_error("unknown option %s", s);
    } else if (s[0] == '-' && s[1]) { /* PETSc option, with its value if one follows */
      if (x->npetsc + 2 >= 64) return usage_error("%s", "too many PETSc options");
      x->petsc[x->npetsc++] = argv[i];
      if (val && (val[0] != '-' || (val[1] >= '0' && val[1] <= '9') || val[1] == '.'))
        x->petsc[x->npetsc++] = argv[++i];
    } else if (x->manifest) {
      return usage_error("trajectory takes one manifest, not also '%s'", s);
    } else {
      x->manifest = s;
    }
  }
  if (!x->manifest) return usage_error("%s", "trajectory needs a manifest (lines 'PATH STEP')");
  if (x->t.fit_from >= 0 && x->t.fit_to >= 0 && x->t.fit_to < x->t.fit_from)
    return usage_error("%s", "--fit-to is before --fit-from");
  return EXIT_OK;
}

/* Analysis into tmp, /trajectory appended on rank 0, then renamed: a file
 * with the final name is always complete. */
static int run(MPI_Comm comm, traj_args *x, fs_traj_series *s, int *nfailed, fs_error *err) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.trajectory-partial", x->a.output);
  const char *final = x->a.output;
  x->a.output = tmp;
  int rc = fs_analyze(comm, s->paths, s->n, &x->a, nfailed, err);
  x->a.output = final;
  int ok = 0;
  if (!rc && rank == 0) {
    ok = !fs_traj_write(tmp, x->manifest, s, &x->t, x->quiet ? NULL : stdout, err);
    if (ok && rename(tmp, final) != 0) ok = !fs_fail(err, "%s: cannot rename %s into place", final, tmp);
    if (!ok) unlink(tmp);
  }
  if (rc) return rc;
  MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
  if (!ok && rank) fs_fail(err, "the trajectory could not be written (see rank 0)");
  return ok ? 0 : FS_ERR;
}

int cmd_trajectory(int argc, char **argv) {
  traj_args x;
  memset(&x, 0, sizeof x);
  int rc = parse_traj(argc, argv, &x);
  if (rc) return rc;
  fs_error err;
  fs_error_clear(&err);
  int pargc = x.npetsc;
  char **pargv = x.petsc;
  if (fs_petsc_init(&pargc, &pargv, &err)) {
    fprintf(stderr, "flagscope: error: %s\n", err.msg);
    return EXIT_FAILED;
  }
  int rank;
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  fs_traj_series s;
  memset(&s, 0, sizeof s);
  /* Every rank checks the same headers and reaches the same verdict. */
  if (fs_traj_read_manifest(x.manifest, &s, &err) || fs_traj_check_series(&s, &err)) {
    if (rank == 0) fprintf(stderr, "flagscope: error: %s: refused: %s\n", x.manifest, err.msg);
    rc = EXIT_FAILED;
  } else {
    char *cmdline = cmd_join_args(argc, argv);
    x.a.command_line = cmdline ? cmdline : "flagscope trajectory";
    x.a.summary = NULL;
    x.a.log = stderr;
    int nfailed = 0;
    if (run(PETSC_COMM_WORLD, &x, &s, &nfailed, &err)) {
      if (rank == 0) fprintf(stderr, "flagscope: error: %s\n", err.msg);
      rc = EXIT_FAILED;
    } else {
      if (rank == 0)
        fprintf(stderr, "flagscope: wrote %s (%d checkpoints, %d failed)\n", x.a.output, s.n, nfailed);
      rc = nfailed ? EXIT_FAILED : EXIT_OK;
    }
    free(cmdline);
  }
  fs_traj_series_free(&s);
  fs_petsc_finalize();
  return rc;
}
