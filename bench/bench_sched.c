/*
 * bench_sched - makespan of the static LPT assignment (fs_plan_assign_costs) and of
 * the dynamic queue (partition/fs_queue.c: self-scheduling over the items
 * sorted by decreasing estimated cost) on a synthetic heterogeneous zoo,
 * against the lower bound max(sum of times / ranks, largest time).
 *
 * The zoo: a few large matrices (two Llama-7B-sized layers: 4096 x 11008 and
 * 4096 x 4096 projections, a GPT-2 small block: 768 x 3072, 768 x 2304) and
 * many small ones (the example zoo's shapes: gnubg 128 x 250, stories260K
 * 64 x 172 and 64 x 64, a ResNet-18's 64 x 576 ... 512 x 4608 unfoldings,
 * MLP 512 x 64), k = 64, F16 bytes, costed by the plan's cost model.  The
 * time an item really takes is its estimate times a log-normal error
 * exp(s Z) (deterministic generator): the cost model's measured error on the
 * example zoo is about s = 1 (docs/architecture.md); s = 0 is a perfect
 * model.  LPT places by the estimates and is charged the real times; the
 * queue hands the next item to the first rank that becomes free.
 *   bench_sched [SEED]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fs_plan.h"

typedef struct shape {
  int rows, cols, count;
} shape;

static const shape zoo[] = {
    {4096, 11008, 6}, {11008, 4096, 3}, {4096, 4096, 8},         /* two Llama-7B layers */
    {768, 3072, 12},  {3072, 768, 12},  {768, 2304, 12}, {768, 768, 12}, /* GPT-2 small */
    {64, 576, 8},     {128, 1152, 8},   {256, 2304, 8},  {512, 4608, 8}, /* ResNet-18 convs */
    {128, 250, 400},  {64, 172, 300},   {172, 64, 300},  {64, 64, 600},  /* small models */
    {512, 64, 200},   {10, 512, 100},
};

static uint64_t rng = 88172645463325252ull;
static double uniform(void) { /* xorshift64 */
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return ((rng >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void) { return sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform()); }

/* Simulated run: group items first on their windows (they start when the
 * last member is free and take real / g / FS_GROUP_EFFICIENCY), then single
 * items to their static owner, or (dynamic) each to the rank free first, in
 * the assignment order (decreasing estimate). */
#define GROUP_EFFICIENCY 0.8
static double simulate(const int64_t *order, const int *owner, const int *g, const double *real,
                       int64_t n, int nranks, int dynamic, double overhead) {
  double *free_at = calloc((size_t)nranks, sizeof *free_at), mk = 0;
  for (int64_t s = 0; s < n; s++) {
    int64_t i = order[s];
    int gi = g ? g[i] : 1;
    if (gi > 1) {
      double t0 = 0;
      for (int r = owner[i]; r < owner[i] + gi; r++) t0 = free_at[r] > t0 ? free_at[r] : t0;
      for (int r = owner[i]; r < owner[i] + gi; r++) free_at[r] = t0 + real[i] / gi / GROUP_EFFICIENCY;
      continue;
    }
    int r = owner[i];
    if (dynamic) {
      r = 0;
      for (int q = 1; q < nranks; q++)
        if (free_at[q] < free_at[r]) r = q;
    }
    free_at[r] += real[i] + (dynamic ? overhead : 0);
  }
  for (int r = 0; r < nranks; r++) mk = free_at[r] > mk ? free_at[r] : mk;
  free(free_at);
  return mk;
}

int main(int argc, char **argv) {
  if (argc > 1) rng = strtoull(argv[1], NULL, 10) | 1;
  int64_t n = 0;
  for (size_t i = 0; i < sizeof zoo / sizeof zoo[0]; i++) n += zoo[i].count;
  double *est = malloc(sizeof *est * (size_t)n), *real = malloc(sizeof *real * (size_t)n);
  double *load = malloc(sizeof *load * 1024);
  int *owner = malloc(sizeof *owner * (size_t)n);
  int64_t *order = malloc(sizeof *order * (size_t)n);
  double *noise = malloc(sizeof *noise * (size_t)n);
  int *g = malloc(sizeof *g * (size_t)n), *rows = malloc(sizeof *rows * (size_t)n);
  int *cols = malloc(sizeof *cols * (size_t)n);
  if (!est || !real || !load || !owner || !order || !noise || !g || !rows || !cols) return 1;
  int64_t j = 0;
  for (size_t i = 0; i < sizeof zoo / sizeof zoo[0]; i++)
    for (int c = 0; c < zoo[i].count; c++, j++) {
      double m = zoo[i].rows, nn = zoo[i].cols, k = 64 < m && 64 < nn ? 64 : (m < nn ? m : nn);
      est[j] = m * nn * (k + 1) + FS_COST_PER_BYTE * 2 * m * nn + FS_COST_PER_ITEM;
      noise[j] = gauss();
      rows[j] = zoo[i].rows, cols[j] = zoo[i].cols;
    }
  double total = 0, big = 0;
  for (int64_t i = 0; i < n; i++) total += est[i], big = est[i] > big ? est[i] : big;
  printf("synthetic zoo: %lld matrices, total cost %.3g, largest %.3g (%.1f%% of the total)\n",
         (long long)n, total, big, 100 * big / total);
  printf("makespan / lower bound LB = max(sum / ranks, largest); queue overhead 5e3 units per "
         "item;\nwith --mem-per-rank 128M the largest matrices run on groups (parallel "
         "efficiency %.1f assumed)\n\n", GROUP_EFFICIENCY);
  printf("| error s | ranks | LB | LPT / LB | dynamic / LB | groups | LPT+groups / LB | dynamic+groups / LB |\n");
  printf("|---|---|---|---|---|---|---|---|\n");
  const double sigmas[] = {0.0, 0.5, 1.0};
  const int ranks[] = {4, 16, 64, 256};
  for (int si = 0; si < 3; si++)
    for (int ri = 0; ri < 4; ri++) {
      int nr = ranks[ri], ngroup = 0;
      double sum = 0, largest = 0;
      for (int64_t i = 0; i < n; i++) {
        real[i] = est[i] * exp(sigmas[si] * noise[i]);
        sum += real[i], largest = real[i] > largest ? real[i] : largest;
        g[i] = fs_plan_group_size(rows[i], cols[i], 64, 128.0 * 1024 * 1024, nr);
        ngroup += g[i] > 1;
      }
      double lb = fmax(sum / nr, largest), r[4];
      for (int v = 0; v < 4; v++) {
        const int *gv = v < 2 ? NULL : g;
        if (fs_plan_assign_costs(est, gv, n, nr, 0, owner, load, order) < 0) return 1;
        r[v] = simulate(order, owner, gv, real, n, nr, v % 2, 5e3) / lb;
      }
      printf("| %.1f | %d | %.4g | %.3f | %.3f | %d | %.3f | %.3f |\n", sigmas[si], nr, lb, r[0],
             r[1], ngroup, r[2], r[3]);
    }
  free(est), free(real), free(load), free(owner), free(order), free(noise), free(g), free(rows),
      free(cols);
  return 0;
}
