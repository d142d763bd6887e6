/*
 * bench_read - how fast flagscope turns stored tensors into doubles.
 *
 * Writes one 4096 x 11008 matrix (the size of a Llama-7B MLP projection) as
 * F32, F16 and BF16 safetensors and as a Q8_0 GGUF, then times, in the same
 * run and on the same warm page cache, a plain pread of the tensor's bytes and
 * fs_tensor_read_rows (pread + decode + finiteness check) of the whole
 * tensor.  Prints medians of repeated runs: GB/s of stored bytes and of
 * doubles produced, and the ratio to the plain read.
 *   bench_read [DIR] [REPEATS]
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "fs_model.h"
#include "fs_st_write.h"

enum { ROWS = 4096, COLS = 11008 };


static uint16_t to_half(float f, int bf) {
  return bf ? fs_double_to_bf16(f) : fs_double_to_f16(f);
}

static void put(FILE *f, const void *p, size_t n) {
  if (fwrite(p, 1, n, f) != n) { perror("write"); exit(1); }
}

static void write_safetensors(const char *path, const char *dtype, int esz, const float *w) {
  char json[256];
  size_t n = (size_t)ROWS * COLS * esz;
  int len = snprintf(json, sizeof json,
                     "{\"w\":{\"dtype\":\"%s\",\"shape\":[%d,%d],\"data_offsets\":[0,%zu]}}",
                     dtype, ROWS, COLS, n);
  while (len % 8) json[len++] = ' ';
  FILE *f = fopen(path, "wb");
  uint64_t hl = (uint64_t)len;
  put(f, &hl, 8);
  put(f, json, (size_t)len);
  unsigned char *buf = malloc(n);
  for (size_t i = 0; i < (size_t)ROWS * COLS; i++) {
    if (esz == 4) memcpy(buf + 4 * i, &w[i], 4);
    else {
      uint16_t h = to_half(w[i], dtype[0] == 'B');
      memcpy(buf + 2 * i, &h, 2);
    }
  }
  put(f, buf, n);
  free(buf);
  fclose(f);
}

static void gguf_str(FILE *f, const char *s) {
  uint64_t n = strlen(s);
  put(f, &n, 8);
  put(f, s, n);
}

/* GGUF v3 with one Q8_0 tensor: blocks of 32 int8 with an f16 scale. */
static void write_q8_0(const char *path, const float *w) {
  FILE *f = fopen(path, "wb");
  uint32_t version = 3, nd = 2, type = 8;
  uint64_t nt = 1, nkv = 0, dims[2] = {COLS, ROWS}, off = 0;
  put(f, "GGUF", 4);
  put(f, &version, 4);
  put(f, &nt, 8);
  put(f, &nkv, 8);
  gguf_str(f, "w");
  put(f, &nd, 4);
  put(f, dims, 16);
  put(f, &type, 4);
  put(f, &off, 8);
  long pos = ftell(f);
  for (; pos % 32; pos++) fputc(0, f);
  for (size_t b = 0; b < (size_t)ROWS * COLS / 32; b++) {
    float amax = 0;
    for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(w[32 * b + i]));
    float d = amax / 127.0f;
    uint16_t h = to_half(d, 0);
    signed char q[32];
    for (int i = 0; i < 32; i++) q[i] = (signed char)lrintf(d > 0 ? w[32 * b + i] / d : 0);
    put(f, &h, 2);
    put(f, q, 32);
  }
  fclose(f);
}

static double time_plain(const fs_model *m, const fs_tensor *t, unsigned char *buf) {
  int fd = open(m->path, O_RDONLY);
  double t0 = bench_now();
  size_t done = 0;
  while (done < t->nbytes) {
    ssize_t k = pread(fd, buf + done, t->nbytes - done, (off_t)(t->offset + done));
    if (k <= 0) { perror("pread"); exit(1); }
    done += (size_t)k;
  }
  double t1 = bench_now();
  close(fd);
  return t1 - t0;
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "/tmp";
  int reps = argc > 2 ? atoi(argv[2]) : 5;
  if (reps < 1) reps = 1;
  float *w = malloc(sizeof *w * (size_t)ROWS * COLS);
  srand(1);
  for (size_t i = 0; i < (size_t)ROWS * COLS; i++) w[i] = (float)(rand() / (double)RAND_MAX - 0.5) * 0.1f;
  const char *names[] = {"F32", "F16", "BF16", "Q8_0"};
  char paths[4][512];
  for (int k = 0; k < 4; k++) {
    snprintf(paths[k], sizeof paths[k], "%s/bench_read_%s.%s", dir, names[k], k == 3 ? "gguf" : "safetensors");
    if (k == 3) write_q8_0(paths[k], w);
    else write_safetensors(paths[k], names[k], k == 0 ? 4 : 2, w);
  }
  free(w);
  double *out = malloc(sizeof *out * (size_t)ROWS * COLS);
  unsigned char *raw = malloc((size_t)ROWS * COLS * 4);
  printf("reading one %d x %d tensor (%.1f M values), median of %d runs, warm page cache\n\n",
         ROWS, COLS, ROWS * (double)COLS / 1e6, reps);
  printf("| dtype | stored MB | plain read GB/s | read + decode GB/s (stored) | doubles GB/s | time plain / decode (ms) | decode / plain |\n");
  printf("|---|---|---|---|---|---|---|\n");
  for (int k = 0; k < 4; k++) {
    fs_model m;
    fs_error e;
    if (fs_model_open(paths[k], &m, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    const fs_tensor *t = &m.tensors[0];
    double tp[64], td[64];
    if (reps > 64) reps = 64;
    time_plain(&m, t, raw); /* warm the page cache */
    for (int r = 0; r < reps; r++) {
      tp[r] = time_plain(&m, t, raw);
      double t0 = bench_now();
      if (fs_tensor_read_rows(&m, t, 0, ROWS, out, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
      td[r] = bench_now() - t0;
    }
    double p = bench_median(tp, reps), d = bench_median(td, reps), gb = t->nbytes / 1e9;
    printf("| %s | %.1f | %.2f | %.2f | %.2f | %.1f / %.1f | %.2f |\n", names[k], t->nbytes / 1e6, gb / p,
           gb / d, ROWS * (double)COLS * 8 / 1e9 / d, 1e3 * p, 1e3 * d, d / p);
    fs_model_close(&m);
    unlink(paths[k]);
  }
  free(out), free(raw);
  return 0;
}
