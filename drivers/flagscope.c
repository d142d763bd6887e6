/*
 * flagscope - alignment of neural-network weight matrices, from the weights.
 *
 * A thin driver over the fs_ library: it parses the command line (its own
 * options are --long; single-dash options go to the PETSc/SLEPc options
 * database, e.g. -svd_type trlanczos), then calls one library entry point.
 * Exit status: 0 all models analysed, 1 some failed, 2 usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_analyze.h"
#include "fs_graph.h"
#include "fs_model.h"
#include "fs_petsc.h"
#include "fs_st_write.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

static const char *usage_text =
    "usage: flagscope <command> [options]\n"
    "\n"
    "commands:\n"
    "  analyze [MODEL...]   truncated spectra of every weight matrix and the alignment of\n"
    "                       every adjacent pair; one HDF5 file, a summary table on stdout.\n"
    "                       Without models: the bundled example zoo.  Run under mpirun/srun.\n"
    "  inspect MODEL...     tensors, metadata and the inferred layer graph; reads no data\n"
    "  convert IN OUT.safetensors [--dtype keep|F64|F32|F16|BF16]\n"
    "                       any readable checkpoint as one safetensors file, tensors in\n"
    "                       their [out, in] layout, metadata carried over (default: keep\n"
    "                       each float type; integer and quantised tensors become F32)\n"
    "\n"
    "analyze options:\n"
    "  -o, --output FILE    HDF5 output (default flagscope.h5; written as FILE.partial\n"
    "                       and renamed when complete)\n"
    "  --zoo MANIFEST       models listed one per line ('#' comments; paths relative to\n"
    "                       the manifest)\n"
    "  --k N                singular triplets per matrix, capped by its shape (default 64);\n"
    "                       the fixed rank policy, and the cap k_max of the others\n"
    "  --energy F           rank policy: keep the smallest k whose sigma_i^2 sum to F of\n"
    "                       ||W||_F^2, F in (0, 1] (capped by --k and the shape)\n"
    "  --rank-tol T         rank policy: keep the numerical rank #{sigma_i > T sigma_1},\n"
    "                       T in (0, 1) (capped by --k and the shape)\n"
    "  --full-spectrum      also every singular value of every matrix (LAPACK on the owning\n"
    "                       rank), the effective rank and the power-law exponent alpha\n"
    "  --eps LIST           angle tolerances in degrees, comma-separated (default 1,5,10)\n"
    "  --tau T              relative tolerance of the numerical rank (default 1e-6)\n"
    "  --quiet              no summary table\n"
    "  -svd_type T, -svd_tol X, ...   PETSc/SLEPc options, passed through\n"
    "\n"
    "  -h, --help           this text;  --version  the version\n"
    "exit status: 0 all models analysed, 1 some models failed, 2 usage error\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "flagscope: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(run 'flagscope --help' for usage)\n");
  return EXIT_USAGE;
}

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
        !strcmp(s, "--energy") || !strcmp(s, "--rank-tol")) {
      if (!val) return usage_error("option %s needs a value", s);
      i++;
      if (s[1] == 'o' || !strcmp(s, "--output")) a->opts.output = val;
      else if (!strcmp(s, "--zoo")) a->zoo = val;
      else if (!strcmp(s, "--eps") && parse_eps(val, &a->opts))
        return usage_error("--eps wants degrees in [0, 90], comma-separated, not '%s'", val);
      else if (!strcmp(s, "--k")) {
        long k = strtol(val, &end, 10);
        if (*end || k < 1 || k > 100000) return usage_error("--k wants an integer >= 1, not '%s'", val);
        a->opts.kmax = (int)k;
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

static int cmd_analyze(int argc, char **argv) {
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

/* ---- inspect ------------------------------------------------------------------- */

static void print_shape(const fs_tensor *t) {
  printf("[");
  for (int d = 0; d < t->ndim; d++) printf("%s%lld", d ? ", " : "", (long long)t->shape[d]);
  printf("]");
}

static void inspect_graph(const fs_model *m) {
  fs_graph g;
  fs_error err;
  if (fs_graph_build(m, &g, &err)) {
    printf("layer graph: error: %s\n", err.msg);
    return;
  }
  printf("layer graph: family %s", g.family);
  if (g.n_head) printf(", %d heads, %d kv heads, head size %d", g.n_head, g.n_head_kv, g.head_dim);
  printf("\n%s%s%s", g.note[0] ? "  note: " : "", g.note, g.note[0] ? "\n" : "");
  printf("  %d matrices:\n", g.nmat);
  for (int i = 0; i < g.nmat; i++) {
    const fs_matrix *x = &g.mat[i];
    printf("    %4d  %-44s %6lld x %-6lld%s%s%s%s%s\n", i, x->name, (long long)fs_matrix_rows(x),
           (long long)fs_matrix_cols(x),
           x->unfold_in ? "  (input unfolding)" : x->transposed ? "  (map is the transpose)" : "",
           x->fold >= 0 ? "  folded with " : "", x->fold >= 0 ? m->tensors[x->fold].name : "",
           x->bn_var >= 0 ? "  BatchNorm " : "", x->bn_var >= 0 ? m->tensors[x->bn_var].name : "");
  }
  printf("  %d pairs:\n", g.npair);
  for (int i = 0; i < g.npair; i++) {
    const fs_pair *p = &g.pair[i];
    printf("    %-10s %-44s -> %s  (d = %lld)\n", fs_pair_type_name(p->type), g.mat[p->writer].name,
           g.mat[p->reader].name, (long long)fs_matrix_in_dim(&g.mat[p->reader]));
  }
  fs_graph_free(&g);
}

static int cmd_inspect(int argc, char **argv) {
  if (argc < 3) return usage_error("%s", "inspect needs at least one model");
  int failed = 0;
  for (int i = 2; i < argc; i++) {
    fs_model m;
    fs_error err;
    if (fs_model_open(argv[i], &m, &err)) {
      fprintf(stderr, "flagscope: error: %s\n", err.msg);
      failed = 1;
      continue;
    }
    printf("%s: %s, %llu bytes, %d tensors, header checksum %016llx\n", m.path,
           fs_format_name(m.format), (unsigned long long)m.file_size, m.ntensors,
           (unsigned long long)m.header_checksum);
    for (int j = 0; j < m.nmeta; j++) printf("  meta %-40s %.100s\n", m.meta[j].key, m.meta[j].value);
    for (int j = 0; j < m.ntensors; j++) {
      const fs_tensor *t = &m.tensors[j];
      printf("  tensor %-48s %-5s ", t->name, fs_dtype_name(t->dtype));
      print_shape(t);
      printf("  %llu bytes\n", (unsigned long long)t->nbytes);
    }
    inspect_graph(&m);
    fs_model_close(&m);
  }
  return failed ? EXIT_FAILED : EXIT_OK;
}

/* ---- convert ------------------------------------------------------------------- */

static int cmd_convert(int argc, char **argv) {
  const char *in = NULL, *out = NULL;
  int to = -1;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--dtype")) {
      if (i + 1 >= argc) return usage_error("%s", "--dtype needs a value");
      const char *v = argv[++i];
      if (!strcmp(v, "keep")) to = -1;
      else if (!strcmp(v, "F64") || !strcmp(v, "F32") || !strcmp(v, "F16") || !strcmp(v, "BF16"))
        to = fs_dtype_from_name(v);
      else return usage_error("--dtype wants keep, F64, F32, F16 or BF16, not '%s'", v);
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return usage_error("unknown option %s", argv[i]);
    } else if (!in) {
      in = argv[i];
    } else if (!out) {
      out = argv[i];
    } else {
      return usage_error("%s", "convert takes one input and one output");
    }
  }
  if (!in || !out) return usage_error("%s", "convert needs an input and an output file");
  fs_model m;
  fs_error err;
  if (fs_model_open(in, &m, &err) || fs_st_write(&m, out, to, &err)) {
    fprintf(stderr, "flagscope: error: %s\n", err.msg);
    fs_model_close(&m);
    return EXIT_FAILED;
  }
  fprintf(stderr, "flagscope: wrote %s (%d tensors from %s)\n", out, m.ntensors,
          fs_format_name(m.format));
  fs_model_close(&m);
  return EXIT_OK;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage_text, stderr);
    return EXIT_USAGE;
  }
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    fputs(usage_text, stdout);
    return EXIT_OK;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("flagscope %s\n", FLAGSCOPE_VERSION);
    return EXIT_OK;
  }
  for (int i = 2; i < argc; i++)
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      fputs(usage_text, stdout);
      return EXIT_OK;
    }
  if (!strcmp(argv[1], "analyze")) return cmd_analyze(argc, argv);
  if (!strcmp(argv[1], "inspect")) return cmd_inspect(argc, argv);
  if (!strcmp(argv[1], "convert")) return cmd_convert(argc, argv);
  return usage_error("unknown command '%s'", argv[1]);
}
