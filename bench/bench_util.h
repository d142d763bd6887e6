/*
 * bench_util.h - what every benchmark program needs: a monotonic clock, the
 * median of repeated timings, and deterministic Gaussian numbers (xorshift64
 * and Box-Muller, one fixed seed per program) so that runs compare.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <math.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static inline int bench_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* v (sorted in place) of n >= 1 timings: the middle one, or the mean of the
 * two middle ones. */
static inline double bench_median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, bench_cmp);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static unsigned long long bench_state = 88172645463325252ULL;
static inline double bench_gauss(void) {
  double u[2];
  for (int i = 0; i < 2; i++) {
    bench_state ^= bench_state << 13, bench_state ^= bench_state >> 7, bench_state ^= bench_state << 17;
    u[i] = ((bench_state >> 11) + 0.5) * (1.0 / 9007199254740992.0);
  }
  return sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

/* n Gaussian numbers, malloc'd (NULL when memory runs out). */
static inline double *bench_gaussian(size_t n) {
  double *p = malloc(sizeof *p * (n ? n : 1));
  for (size_t i = 0; p && i < n; i++) p[i] = bench_gauss();
  return p;
}

#endif
