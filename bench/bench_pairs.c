/*
 * bench_pairs - what the pair diagnostics cost beside the low-rank pair.
 *
 * Times, best of REPEATS, on random orthonormal bases and Gaussian matrices:
 * fs_pair_compute (angles, dims, overlap, low-rank kappa) next to the profile
 * and the 32 x 32 flag table (fs_profile) for d = 768 and 4096, k = j = 64; and
 * fs_commutator_exact with both evaluations (dense d x d, factor QR of [I O])
 * on transformer-like shapes, with the flop estimates that choose between
 * them (docs/mathematics.md 6.2).
 *   bench_pairs [REPEATS]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fs_commutator.h"
#include "fs_lapack.h"
#include "fs_pair.h"
#include "bench_util.h"
#include "fs_profile.h"

/* Orthonormal columns: the R of a Gaussian block is discarded, Q is rebuilt by
 * modified Gram-Schmidt (good enough for timing). */
static double *orthonormal(int d, int k) {
  double *q = bench_gaussian((size_t)d * k);
  for (int c = 0; q && c < k; c++) {
    double *x = q + (size_t)c * d;
    for (int e = 0; e < c; e++) {
      double h = 0;
      for (int r = 0; r < d; r++) h += q[r + (size_t)e * d] * x[r];
      for (int r = 0; r < d; r++) x[r] -= h * q[r + (size_t)e * d];
    }
    double nn = 0;
    for (int r = 0; r < d; r++) nn += x[r] * x[r];
    for (int r = 0; r < d; r++) x[r] /= sqrt(nn);
  }
  return q;
}

static void bench_pair(int d, int k, int reps) {
  double *U = orthonormal(d, k), *V = orthonormal(d, k), s[256];
  for (int i = 0; i < k; i++) s[i] = 1.0 / sqrt(i + 1.0);
  const double deg = 3.14159265358979323846 / 180, eps[3] = {1 * deg, 5 * deg, 10 * deg};
  double best[3] = {1e30, 1e30, 1e30};
  fs_basis w = {d, k, U, s}, r = {d, k, V, s};
  fs_error err;
  for (int t = 0; t < reps; t++) {
    fs_pair_result res;
    fs_leading L;
    fs_profile pr;
    fs_flag_table ft;
    double t0 = bench_now();
    if (fs_pair_compute(&w, &r, eps, 3, &res, &err)) break;
    double t1 = bench_now();
    if (fs_leading_init(d, U, k, V, k, &L, &err) || fs_profile_compute(&L, eps, 3, &pr, &err)) break;
    double t2 = bench_now();
    if (fs_flag_table_compute(&L, eps, 3, &ft, &err)) break;
    double t3 = bench_now();
    best[0] = fmin(best[0], t1 - t0), best[1] = fmin(best[1], t2 - t1), best[2] = fmin(best[2], t3 - t2);
    fs_pair_result_free(&res), fs_profile_free(&pr), fs_flag_table_free(&ft), fs_leading_free(&L);
  }
  printf("| %d | %d | %.1f | %.1f | %.1f |\n", d, k, 1e3 * best[0], 1e3 * best[1], 1e3 * best[2]);
  free(U), free(V);
}

static void bench_exact(int d, int n1, int n2, int reps) {
  double *O = bench_gaussian((size_t)d * n1), *I = bench_gaussian((size_t)d * n2), best[2] = {1e30, 1e30}, kap[2];
  fs_factor fo = {d, n1, 0, O}, fi = {d, n2, 0, I};
  for (int path = 0; path < 2; path++)
    for (int t = 0; t < reps; t++) {
      fs_commutator c;
      fs_error err;
      double t0 = bench_now();
      if (fs_commutator_exact(&fi, &fo, path ? FS_GRAM_FACTOR : FS_GRAM_DENSE, &c, &err)) {
        printf("failed: %s\n", err.msg);
        break;
      }
      best[path] = fmin(best[path], bench_now() - t0);
      kap[path] = c.kappa;
    }
  double fd = fs_commutator_flops(d, n1, n2, FS_GRAM_DENSE), ff = fs_commutator_flops(d, n1, n2, FS_GRAM_FACTOR);
  printf("| %d | %d | %d | %.3g | %.3g | %.1f | %.1f | %s | %.1e |\n", d, n1, n2, fd, ff, 1e3 * best[0],
         1e3 * best[1], ff < fd ? "factor" : "dense", fabs(kap[0] - kap[1]));
  free(O), free(I);
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 3;
  printf("| d | k = j | fs_pair_compute ms | profile ms | flag table ms |\n|---|---|---|---|---|\n");
  bench_pair(768, 64, reps);
  bench_pair(4096, 64, reps);
  printf("\n| d | n1 | n2 | dense flops | factor flops | dense ms | factor ms | chosen | |kappa dense - factor| |\n"
         "|---|---|---|---|---|---|---|---|---|\n");
  bench_exact(768, 768, 3072, reps);  /* GPT-2 small: attention output -> MLP up */
  bench_exact(768, 3072, 768, reps);  /* MLP down -> next block's Q */
  bench_exact(1024, 64, 64, reps);    /* a head's V -> O on a 1024 stream */
  bench_exact(512, 256, 256, reps);   /* n1 + n2 = d: near the crossover */
  bench_exact(256, 1024, 1024, reps); /* wide factors on a narrow stream */
  return 0;
}
