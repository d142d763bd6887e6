/*
 * fs_dtype.c - the element-type table and the decoders of the plain types
 * (see fs_dtype.h).  Stored data are little-endian; decoding assembles the
 * bytes explicitly, so it does not depend on the host's byte order.
 */
#include "fs_dtype.h"

#include <float.h>
#include <math.h>
#include <string.h>

_Static_assert(sizeof(float) == 4 && FLT_MANT_DIG == 24, "binary32 float");
_Static_assert(sizeof(double) == 8 && DBL_MANT_DIG == 53, "binary64 double");

static uint64_t le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

double fs_f16_to_double(uint16_t h) {
  int e = (h >> 10) & 0x1f, f = h & 0x3ff;
  double v;
  if (e == 0)
    v = ldexp(f, -24); /* zero and subnormals: f * 2^-24 */
  else if (e == 31)
    v = f ? NAN : INFINITY;
  else
    v = ldexp(f | 0x400, e - 25); /* (1024 + f) * 2^(e - 15 - 10) */
  return (h & 0x8000) ? -v : v;
}

double fs_bf16_to_double(uint16_t h) {
  /* bf16 is the upper half of a binary32: 8 exponent bits, 7 mantissa. */
  int e = (h >> 7) & 0xff, f = h & 0x7f;
  double v;
  if (e == 0)
    v = ldexp(f, -133); /* f * 2^(1 - 127 - 7) */
  else if (e == 255)
    v = f ? NAN : INFINITY;
  else
    v = ldexp(f | 0x80, e - 134); /* (128 + f) * 2^(e - 127 - 7) */
  return (h & 0x8000) ? -v : v;
}

static void dec_f64(const unsigned char *s, size_t n, double *d) {
  for (size_t i = 0; i < n; i++) {
    uint64_t u = le(s + 8 * i, 8);
    memcpy(&d[i], &u, sizeof u);
  }
}

static void dec_f32(const unsigned char *s, size_t n, double *d) {
  for (size_t i = 0; i < n; i++) {
    uint32_t u = (uint32_t)le(s + 4 * i, 4);
    float f;
    memcpy(&f, &u, sizeof f);
    d[i] = f;
  }
}

static void dec_f16(const unsigned char *s, size_t n, double *d) {
  for (size_t i = 0; i < n; i++) d[i] = fs_f16_to_double((uint16_t)le(s + 2 * i, 2));
}

static void dec_bf16(const unsigned char *s, size_t n, double *d) {
  for (size_t i = 0; i < n; i++) d[i] = fs_bf16_to_double((uint16_t)le(s + 2 * i, 2));
}

/* The decoders of F8, the integer and the block-quantised types are added
 * with their readers (issue 3); until then those types are refused by name. */
static const fs_dtype_info table[FS_DT_COUNT] = {
    [FS_DT_F64] = {"F64", 1, 8, dec_f64},
    [FS_DT_F32] = {"F32", 1, 4, dec_f32},
    [FS_DT_F16] = {"F16", 1, 2, dec_f16},
    [FS_DT_BF16] = {"BF16", 1, 2, dec_bf16},
    [FS_DT_F8_E4M3] = {"F8_E4M3", 1, 1, NULL},
    [FS_DT_F8_E5M2] = {"F8_E5M2", 1, 1, NULL},
    [FS_DT_I8] = {"I8", 1, 1, NULL},
    [FS_DT_U8] = {"U8", 1, 1, NULL},
    [FS_DT_I16] = {"I16", 1, 2, NULL},
    [FS_DT_U16] = {"U16", 1, 2, NULL},
    [FS_DT_I32] = {"I32", 1, 4, NULL},
    [FS_DT_I64] = {"I64", 1, 8, NULL},
    [FS_DT_Q8_0] = {"Q8_0", 32, 34, NULL},
    [FS_DT_Q4_0] = {"Q4_0", 32, 18, NULL},
    [FS_DT_Q4_1] = {"Q4_1", 32, 20, NULL},
    [FS_DT_Q5_0] = {"Q5_0", 32, 22, NULL},
    [FS_DT_Q5_1] = {"Q5_1", 32, 24, NULL},
    [FS_DT_Q2_K] = {"Q2_K", 256, 84, NULL},
    [FS_DT_Q3_K] = {"Q3_K", 256, 110, NULL},
    [FS_DT_Q4_K] = {"Q4_K", 256, 144, NULL},
    [FS_DT_Q5_K] = {"Q5_K", 256, 176, NULL},
    [FS_DT_Q6_K] = {"Q6_K", 256, 210, NULL},
};

const fs_dtype_info *fs_dtype_info_of(fs_dtype t) {
  return (unsigned)t < FS_DT_COUNT ? &table[t] : NULL;
}

const char *fs_dtype_name(fs_dtype t) {
  const fs_dtype_info *i = fs_dtype_info_of(t);
  return i ? i->name : "?";
}

size_t fs_dtype_size(fs_dtype t) {
  const fs_dtype_info *i = fs_dtype_info_of(t);
  return (i && i->block == 1) ? (size_t)i->bytes : 0;
}

int fs_dtype_nbytes(fs_dtype t, uint64_t numel, uint64_t *nbytes) {
  const fs_dtype_info *i = fs_dtype_info_of(t);
  if (!i || numel % (uint64_t)i->block) return -1;
  uint64_t blocks = numel / (uint64_t)i->block;
  if (blocks && (uint64_t)i->bytes > UINT64_MAX / blocks) return -1;
  *nbytes = blocks * (uint64_t)i->bytes;
  return 0;
}

int fs_dtype_from_name(const char *name) {
  for (int t = 0; t < FS_DT_COUNT; t++)
    if (strcmp(table[t].name, name) == 0) return t;
  return -1;
}

int fs_dtype_supported(fs_dtype t) {
  const fs_dtype_info *i = fs_dtype_info_of(t);
  return i && i->decode;
}
