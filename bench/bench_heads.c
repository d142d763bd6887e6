/*
 * bench_heads - the cost of the attention-head diagnostics of one block
 * (fs_heads_compute, docs/mathematics.md section 11) against the flop estimate
 * the plan assigns work by (fs_plan_heads_cost).
 *
 * For a few Llama-like widths (random Gaussian maps, grouped-query attention)
 * times one block alone and one block with the composition against the block
 * before, and prints medians of repeated runs: seconds, the estimated flops
 * and the rate they imply.  A rate that stays flat across shapes means the
 * estimate orders the work items as their times do, which is all LPT needs.
 *   bench_heads [REPEATS] [D,H,H_KV ...]   (default: four Llama-like shapes)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "fs_heads.h"
#include "fs_plan.h"

static int bench_shape(int D, int H, int Hkv, int repeats) {
  int dh = D / H;
  size_t nq = (size_t)H * dh * D, nkv = (size_t)Hkv * dh * D;
  fs_heads_maps m = {D, H, Hkv, dh, bench_gaussian(nq), bench_gaussian(nkv), bench_gaussian(nkv), bench_gaussian(nq)};
  fs_heads_maps p = {D, H, Hkv, dh, NULL, NULL, bench_gaussian(nkv), bench_gaussian(nq)};
  const double deg = 3.14159265358979323846 / 180;
  double eps[3] = {1 * deg, 5 * deg, 10 * deg}, t[2][16];
  int rc = (m.q && m.k && m.v && m.o && p.v && p.o) ? 0 : 1;
  for (int c = 0; c < 2 && !rc; c++)
    for (int r = 0; r < repeats && !rc; r++) {
      fs_heads_result res;
      fs_error err;
      double t0 = bench_now();
      rc = fs_heads_compute(&m, c ? &p : NULL, eps, 3, FS_HEADS_THRESHOLD, &res, &err);
      t[c][r] = bench_now() - t0;
      if (rc) fprintf(stderr, "bench_heads: %s\n", err.msg);
      fs_heads_result_free(&res);
    }
  fs_head_block hb;
  memset(&hb, 0, sizeof hb);
  hb.n_head = H, hb.n_head_kv = Hkv, hb.head_dim = dh;
  for (int c = 0; c < 2 && !rc; c++) {
    double s = bench_median(t[c], repeats), f = fs_plan_heads_cost(&hb, D, c) * FS_HEADS_FLOPS_PER_UNIT;
    printf("| %5d | %3d | %3d | %4d | %-11s | %8.3f | %7.2f | %5.2f |\n", D, H, Hkv, dh,
           c ? "composed" : "alone", s, f / 1e9, f / s / 1e9);
  }
  free(m.q), free(m.k), free(m.v), free(m.o), free(p.v), free(p.o);
  return rc;
}

int main(int argc, char **argv) {
  int repeats = argc > 1 ? atoi(argv[1]) : 3;
  if (repeats < 1 || repeats > 16) repeats = 3;
  static const int shapes[][3] = {{512, 8, 8}, {1024, 16, 4}, {2048, 16, 4}, {2048, 32, 8}};
  printf("| D | H | H_kv | d_h | block | seconds | est. Gflop | Gflop/s |\n|---|---|---|---|---|---|---|---|\n");
  if (argc > 2) { /* shapes given on the command line */
    for (int a = 2; a < argc; a++) {
      int D, H, Hkv;
      if (sscanf(argv[a], "%d,%d,%d", &D, &H, &Hkv) != 3 || D < 1 || H < 1 || Hkv < 1 || H % Hkv ||
          D % H) {
        fprintf(stderr, "bench_heads: '%s' is not D,H,H_KV (H divides D, H_KV divides H)\n", argv[a]);
        return 2;
      }
      if (bench_shape(D, H, Hkv, repeats)) return 1;
    }
    return 0;
  }
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    if (bench_shape(shapes[i][0], shapes[i][1], shapes[i][2], repeats)) return 1;
  return 0;
}
