/*
 * bench_svd - top-k singular triplets: every solver worth trying against
 * LAPACK's full dgesdd of the same matrix, and against the BLAS-3 floor.
 *
 * Matrices.  Synthetic: W = H_1 S H_2 with S = diag(s), s_i = i^{-1/2}
 * (a slowly decaying, realistic spectrum: trained weight matrices decay like
 * a power law with a small exponent), H_1, H_2 products of 8 Householder
 * reflectors with Gaussian vectors (fixed seeds): dense, orthogonal factors
 * at O(mn) cost instead of the O(n^3) of Haar-random ones.  Every solver here
 * is invariant under orthogonal changes of basis (the Krylov ones up to the
 * start vector, which is random), so only the spectrum matters for their
 * work.  Real: the largest matrix of the layer graph of each model given
 * with --model (the example zoo by default), read as flagscope reads it.
 *
 * Per matrix: dgesdd ('S', full thin SVD) time; the floor = one product of
 * W with a 64-column block (2 m n 64 flops, same BLAS); per solver and k:
 * median time, dgesdd time / solver time, solver time / floor, the largest
 * relative error of sigma_1..sigma_k against dgesdd, and the largest principal
 * angle (sin) between the solver's and dgesdd's k-dimensional left and right
 * singular subspaces (meaningful when the gap sigma_k - sigma_{k+1}, printed
 * relative to sigma_k, is not at the rounding level).
 *
 * (rsvd/B/D[/G] sets -rsvd_block B, -rsvd_maxdim D and -rsvd_gram G, for tuning.)
 *   bench_svd [--quick] [--repeats R] [--shape MxN]... [--k K]... [--solver S]...
 *             [--model PATH]... [--no-synthetic] [--no-reference]
 * Solvers: NAME@TOL with NAME a SLEPc SVDType (trlanczos, lanczos, cross,
 * randomized, ...) or rsvd (fs_rsvd); default list below.  One BLAS thread:
 * set OPENBLAS_NUM_THREADS=1.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <petscsys.h>

#include "fs_graph.h"
#include "fs_load.h"
#include "bench_util.h"
#include "fs_lapack.h"
#include "fs_model.h"
#include "fs_petsc.h"
#include "fs_spectrum.h"

#define MAXL 16

static int no_ref; /* --no-reference: timings only (no dgesdd) */

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) { fprintf(stderr, "bench_svd: out of memory (%zu bytes)\n", n); exit(1); }
  return p;
}

static unsigned long long rng = 88172645463325252ULL;
static double normal(void) {
  double u, v;
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  u = ((rng >> 11) + 0.5) * (1.0 / 9007199254740992.0);
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  v = (rng >> 11) * (1.0 / 9007199254740992.0);
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* ---- matrices ----------------------------------------------------------- */

/* Row-major W (m x n) <- (I - 2 h h^T) W from the left (left = 1, h of
 * length m) or W (I - 2 h h^T) from the right (h of length n). */
static void reflect(double *W, int m, int n, int left) {
  int len = left ? m : n;
  double *h = xmalloc(sizeof(double) * (size_t)len), nh = 0.0;
  for (int i = 0; i < len; i++) {
    h[i] = normal();
    nh += h[i] * h[i];
  }
  for (int i = 0; i < len; i++) h[i] /= sqrt(nh);
  if (left) {
    double *t = calloc((size_t)n, sizeof(double));
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) t[j] += h[i] * W[(size_t)i * n + j];
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) W[(size_t)i * n + j] -= 2.0 * h[i] * t[j];
    free(t);
  } else {
    for (int i = 0; i < m; i++) {
      double *w = W + (size_t)i * n, t = 0.0;
      for (int j = 0; j < n; j++) t += w[j] * h[j];
      for (int j = 0; j < n; j++) w[j] -= 2.0 * t * h[j];
    }
  }
  free(h);
}

static double *synthetic(int m, int n) {
  double *W = calloc((size_t)m * n, sizeof(double));
  if (!W) { fprintf(stderr, "bench_svd: out of memory\n"); exit(1); }
  int mn = m < n ? m : n;
  for (int i = 0; i < mn; i++) W[(size_t)i * n + i] = 1.0 / sqrt(i + 1.0);
  rng = 88172645463325252ULL ^ ((unsigned long long)m << 32 | (unsigned)n);
  for (int r = 0; r < 8; r++) reflect(W, m, n, 1), reflect(W, m, n, 0);
  return W;
}

/* The largest matrix of the model's layer graph, as flagscope reads it. */
static double *from_model(const char *path, int *m, int *n, char *name, size_t len) {
  fs_model mod;
  fs_graph g;
  fs_error err;
  double *W = NULL;
  if (fs_model_open(path, &mod, &err)) { fprintf(stderr, "bench_svd: %s\n", err.msg); return NULL; }
  if (fs_graph_build(&mod, &g, &err)) {
    fprintf(stderr, "bench_svd: %s\n", err.msg);
    fs_model_close(&mod);
    return NULL;
  }
  int best = -1;
  for (int i = 0; i < g.nmat; i++)
    if (best < 0 || fs_matrix_rows(&g.mat[i]) * fs_matrix_cols(&g.mat[i]) >
                        fs_matrix_rows(&g.mat[best]) * fs_matrix_cols(&g.mat[best]))
      best = i;
  if (best >= 0 && !fs_load_matrix(&mod, &g.mat[best], &W, &err)) {
    *m = (int)fs_matrix_rows(&g.mat[best]), *n = (int)fs_matrix_cols(&g.mat[best]);
    const char *base = strrchr(path, '/');
    snprintf(name, len, "%s:%s", base ? base + 1 : path, g.mat[best].name);
  } else if (best >= 0) {
    fprintf(stderr, "bench_svd: %s\n", err.msg);
  }
  fs_graph_free(&g);
  fs_model_close(&mod);
  return W;
}

/* ---- reference and floor ------------------------------------------------ */

typedef struct ref {
  int m, n, mn;
  double *s, *U, *V; /* dgesdd: mn values; U m x mn, V n x mn, column-major */
  double t_full, t_floor;
} ref;

/* dgesdd of the row-major W (= column-major W^T, n x m): W^T = X S Y^T gives
 * U = Y, V = X. */
static double full_svd(const double *W, ref *r) {
  int m = r->m, n = r->n, mn = r->mn, info, lwork = -1;
  double *A = xmalloc(sizeof(double) * (size_t)m * n), q;
  int *iw = xmalloc(sizeof(int) * 8 * (size_t)mn);
  double *Vt = xmalloc(sizeof(double) * (size_t)mn * m);
  memcpy(A, W, sizeof(double) * (size_t)m * n);
  double t0 = bench_now();
  dgesdd_("S", &n, &m, A, &n, r->s, r->V, &n, Vt, &mn, &q, &lwork, iw, &info, 1);
  lwork = (int)q + 1;
  double *work = xmalloc(sizeof(double) * (size_t)lwork);
  dgesdd_("S", &n, &m, A, &n, r->s, r->V, &n, Vt, &mn, work, &lwork, iw, &info, 1);
  double t = bench_now() - t0;
  if (info) { fprintf(stderr, "bench_svd: dgesdd info %d\n", info); exit(1); }
  for (int i = 0; i < mn; i++)
    for (int j = 0; j < m; j++) r->U[j + (size_t)i * m] = Vt[i + (size_t)j * mn];
  free(A), free(iw), free(Vt), free(work);
  return t;
}

/* One product W X with X n x 64: the BLAS-3 unit of work. */
static double floor_product(const double *W, int m, int n) {
  int b = 64;
  double one = 1.0, zero = 0.0;
  double *X = xmalloc(sizeof(double) * (size_t)n * b), *Y = xmalloc(sizeof(double) * (size_t)m * b);
  for (size_t i = 0; i < (size_t)n * b; i++) X[i] = normal();
  double t[5];
  for (int r = 0; r < 5; r++) {
    double t0 = bench_now();
    dgemm_("T", "N", &m, &b, &n, &one, W, &n, X, &n, &zero, Y, &m, 1, 1);
    t[r] = bench_now() - t0;
  }
  free(X), free(Y);
  return bench_median(t, 5);
}

/* sin of the largest principal angle between span(X) and span(Xref[:, :k]),
 * both len x k orthonormal: ||X - Xref Xref^T X||_2. */
static double subspace_sin(int len, int k, const double *X, const double *Xref) {
  double one = 1.0, zero = 0.0, mone = -1.0, q;
  double *G = xmalloc(sizeof(double) * (size_t)k * k), *E = xmalloc(sizeof(double) * (size_t)len * k);
  dgemm_("T", "N", &k, &k, &len, &one, Xref, &len, X, &len, &zero, G, &k, 1, 1);
  memcpy(E, X, sizeof(double) * (size_t)len * k);
  dgemm_("N", "N", &len, &k, &k, &mone, Xref, &len, G, &k, &one, E, &len, 1, 1);
  int info, lwork = -1, *iw = xmalloc(sizeof(int) * 8 * (size_t)k);
  double *s = xmalloc(sizeof(double) * (size_t)k), d;
  int o = 1;
  dgesdd_("N", &len, &k, E, &len, s, &d, &o, &d, &o, &q, &lwork, iw, &info, 1);
  lwork = (int)q + 1;
  double *work = xmalloc(sizeof(double) * (size_t)lwork);
  dgesdd_("N", &len, &k, E, &len, s, &d, &o, &d, &o, work, &lwork, iw, &info, 1);
  double r = s[0];
  free(G), free(E), free(iw), free(s), free(work);
  return r;
}

/* ---- solvers ------------------------------------------------------------ */

static int set_solver(const char *spec, fs_solver *fam) {
  char name[32];
  const char *at = strchr(spec, '@');
  snprintf(name, sizeof name, "%.*s", at ? (int)(at - spec) : (int)strlen(spec), spec);
  PetscOptionsClearValue(NULL, "-svd_type");
  PetscOptionsClearValue(NULL, "-svd_tol");
  PetscOptionsClearValue(NULL, "-rsvd_tol");
  PetscOptionsClearValue(NULL, "-rsvd_block");
  PetscOptionsClearValue(NULL, "-rsvd_maxdim");
  PetscOptionsClearValue(NULL, "-rsvd_gram");
  if (!strcmp(name, "rsvd")) {
    *fam = FS_SOLVER_RSVD;
    if (at) PetscOptionsSetValue(NULL, "-rsvd_tol", at + 1);
  } else if (!strncmp(name, "rsvd/", 5)) { /* rsvd/BLOCK/MAXDIM, for tuning */
    *fam = FS_SOLVER_RSVD;
    char b[16], d[16], g[16];
    int nf = sscanf(name + 5, "%15[0-9]/%15[0-9]/%15[0-9.]", b, d, g);
    if (nf >= 2) {
      PetscOptionsSetValue(NULL, "-rsvd_block", b);
      PetscOptionsSetValue(NULL, "-rsvd_maxdim", d);
    }
    if (nf == 3) PetscOptionsSetValue(NULL, "-rsvd_gram", g);
    if (at) PetscOptionsSetValue(NULL, "-rsvd_tol", at + 1);
  } else if (!strcmp(name, "auto")) {
    *fam = FS_SOLVER_AUTO;
  } else {
    *fam = FS_SOLVER_SLEPC;
    PetscOptionsSetValue(NULL, "-svd_type", name);
    if (at) PetscOptionsSetValue(NULL, "-svd_tol", at + 1);
  }
  return 0;
}

static void run_cell(const char *label, const double *W, const ref *r, int k,
                     const char *solver, int repeats) {
  fs_solver fam;
  set_solver(solver, &fam);
  double t[MAXL];
  fs_spectrum s;
  fs_error err;
  memset(&s, 0, sizeof s);
  for (int rep = 0; rep < repeats; rep++) {
    fs_spectrum_free(&s);
    double t0 = bench_now();
    int rc = fs_spectrum_compute_with(W, r->m, r->n, k, fam, &s, &err);
    t[rep] = bench_now() - t0;
    if (rc) {
      printf("| %s | %d | %s | fails: %.80s | | | | | |\n", label, k, solver, err.msg);
      fflush(stdout);
      return;
    }
  }
  double tm = bench_median(t, repeats), es = 0.0;
  if (no_ref) {
    printf("| %s | %d | %s | %.1f | | %.1f | | | | %d |\n", label, k, solver, 1e3 * tm,
           tm / r->t_floor, s.its);
    fflush(stdout);
    fs_spectrum_free(&s);
    return;
  }
  for (int i = 0; i < k; i++) es = fmax(es, fabs(s.sigma[i] - r->s[i]) / r->s[i]);
  double su = subspace_sin(r->m, k, s.U, r->U), sv = subspace_sin(r->n, k, s.V, r->V);
  double gap = k < r->mn ? (r->s[k - 1] - r->s[k]) / r->s[k - 1] : 1.0;
  printf("| %s | %d | %s | %.1f | %.1f | %.1f | %.1e | %.1e | %.1e | %d |\n", label, k,
         solver, 1e3 * tm, r->t_full / tm, tm / r->t_floor, es, fmax(su, sv), gap, s.its);
  fflush(stdout);
  fs_spectrum_free(&s);
}

static void bench_matrix(const char *label, const double *W, int m, int n, const int *ks,
                         int nk, char **solvers, int nsolvers, int repeats) {
  ref r = {m, n, m < n ? m : n, NULL, NULL, NULL, 0, 0};
  r.s = xmalloc(sizeof(double) * r.mn);
  r.U = xmalloc(sizeof(double) * (size_t)m * r.mn);
  r.V = xmalloc(sizeof(double) * (size_t)n * r.mn);
  /* dgesdd of the largest shapes takes minutes: one run there, 3 otherwise */
  int full_reps = no_ref ? 0 : (double)m * n * r.mn > 2e10 ? 1 : 3;
  double tf[3] = {NAN};
  for (int i = 0; i < full_reps; i++) tf[i] = full_svd(W, &r);
  r.t_full = full_reps ? bench_median(tf, full_reps) : NAN;
  r.t_floor = floor_product(W, m, n);
  printf("| %s | all | dgesdd (%d run%s) | %.1f | 1.0 | %.1f | ref | ref | | |\n", label,
         full_reps, full_reps > 1 ? "s" : "", 1e3 * r.t_full, r.t_full / r.t_floor);
  printf("| %s | | floor: W x 64 cols | %.1f | | 1.0 | | | | |\n", label, 1e3 * r.t_floor);
  fflush(stdout);
  for (int i = 0; i < nk; i++) {
    int k = ks[i] < r.mn ? ks[i] : r.mn;
    for (int j = 0; j < nsolvers; j++) run_cell(label, W, &r, k, solvers[j], repeats);
    if (ks[i] >= r.mn) break;
  }
  free(r.s), free(r.U), free(r.V);
}

int main(int argc, char **argv) {
  fs_error err;
  int pargc = 1;
  if (fs_petsc_init(&pargc, &argv, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
  int quick = 0, repeats = 0, nshape = 0, nk = 0, ns = 0, nmodel = 0, synth = 1;
  int shapes[MAXL][2], ks[MAXL];
  char *solvers[MAXL], *models[MAXL];
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--quick")) quick = 1;
    else if (!strcmp(a, "--no-synthetic")) synth = 0;
    else if (!strcmp(a, "--no-reference")) no_ref = 1;
    else if (v && !strcmp(a, "--repeats")) repeats = atoi(argv[++i]);
    else if (v && !strcmp(a, "--shape") && nshape < MAXL &&
             sscanf(v, "%dx%d", &shapes[nshape][0], &shapes[nshape][1]) == 2) nshape++, i++;
    else if (v && !strcmp(a, "--k") && nk < MAXL) ks[nk++] = atoi(argv[++i]);
    else if (v && !strcmp(a, "--solver") && ns < MAXL) solvers[ns++] = argv[++i];
    else if (v && !strcmp(a, "--model") && nmodel < MAXL) models[nmodel++] = argv[++i];
    else { fprintf(stderr, "bench_svd: bad argument '%s' (see the file header)\n", a); return 2; }
  }
  static const int def_shapes[3][2] = {{768, 3072}, {4096, 4096}, {4096, 11008}};
  static const int def_k[3] = {16, 64, 256};
  static char *def_solvers[] = {"rsvd@1e-8", "rsvd@1e-10", "trlanczos@1e-8",
                                "trlanczos@1e-12", "lanczos@1e-8", "cross@1e-8",
                                "randomized@1e-8"};
  static char *quick_solvers[] = {"rsvd@1e-8", "rsvd@1e-10", "trlanczos@1e-8", "trlanczos@1e-12"};
  static char *def_models[] = {FLAGSCOPE_EXAMPLES_DIR "/stories260K.gguf",
                               FLAGSCOPE_EXAMPLES_DIR "/gnubg-nets.safetensors"};
  if (!nshape) {
    nshape = quick ? 2 : 3;
    memcpy(shapes, def_shapes, sizeof(int) * 2 * (size_t)nshape);
  }
  if (!nk) {
    if (quick) ks[nk++] = 64;
    else for (; nk < 3; nk++) ks[nk] = def_k[nk];
  }
  if (!ns) {
    ns = quick ? 4 : 7;
    memcpy(solvers, quick ? quick_solvers : def_solvers, sizeof(char *) * (size_t)ns);
  }
  if (!nmodel) {
    nmodel = 2;
    memcpy(models, def_models, sizeof def_models);
  }
  if (!repeats) repeats = quick ? 1 : 3;
  if (repeats > MAXL) repeats = MAXL;
  printf("bench_svd: median of %d run(s) per solver; times in ms; x dgesdd = dgesdd time / "
         "solver time; floor units = time / (one product with a 64-column block); "
         "sin = largest principal angle to dgesdd's subspaces; gap = (s_k - s_k+1)/s_k\n\n",
         repeats);
  printf("| matrix | k | solver@tol | ms | x dgesdd | floor units | max rel err sigma | "
         "sin angle U,V | gap | its |\n|---|---|---|---|---|---|---|---|---|---|\n");
  for (int i = 0; synth && i < nshape; i++) {
    char label[64];
    snprintf(label, sizeof label, "%dx%d", shapes[i][0], shapes[i][1]);
    double *W = synthetic(shapes[i][0], shapes[i][1]);
    bench_matrix(label, W, shapes[i][0], shapes[i][1], ks, nk, solvers, ns, repeats);
    free(W);
  }
  for (int i = 0; i < nmodel; i++) {
    char label[160];
    int m = 0, n = 0;
    double *W = from_model(models[i], &m, &n, label, sizeof label);
    if (!W) continue;
    char full[200];
    snprintf(full, sizeof full, "%s %dx%d", label, m, n);
    bench_matrix(full, W, m, n, ks, nk, solvers, ns, repeats);
    free(W);
  }
  fs_petsc_finalize();
  return 0;
}
