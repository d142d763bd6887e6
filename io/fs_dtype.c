/*
 * fs_dtype.c - the element-type table and its decoders (see fs_dtype.h).
 *
 * Specifications:
 *   F16, BF16, F32, F64   IEEE 754 binary16/32/64 and bfloat16
 *   F8_E4M3, F8_E5M2      OCP 8-bit Floating Point Specification (OFP8) v1.0;
 *                         E4M3 is the "fn" variant (torch.float8_e4m3fn)
 *   I8 ... I64, U8, U16   two's complement / unsigned, little-endian
 *   Q8_0 ... Q6_K         llama.cpp / ggml block quantisation: the block
 *                         structs of ggml-common.h and dequantize_row_* of
 *                         ggml-quants.c (ggml-org/ggml, MIT)
 * Stored data are little-endian; decoding assembles the bytes explicitly,
 * so it does not depend on the host's byte order or struct packing.
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

/* Both half formats widen exactly to binary32, by moving bits: no ldexp,
 * which made decoding ~50x slower than reading (bench/bench_read). */
static float bits_to_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

double fs_f16_to_double(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e == 0) { /* zero and subnormals: f * 2^-24, exact in binary32 */
    float v = (float)f * 0x1p-24f;
    return sign ? -(double)v : (double)v;
  }
  if (e == 31) return bits_to_float(sign | 0x7f800000u | (f << 13)); /* Inf, NaN */
  return bits_to_float(sign | ((e + 112) << 23) | (f << 13)); /* rebias 15 -> 127 */
}

double fs_bf16_to_double(uint16_t h) {
  /* bf16 is the upper half of a binary32: 8 exponent bits, 7 mantissa. */
  return bits_to_float((uint32_t)h << 16);
}

/* On a little-endian host the stored bytes are the native representation:
 * copy them (the compiler vectorises these loops); elsewhere assemble them. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FS_NATIVE_LE 1
#else
#define FS_NATIVE_LE 0
#endif

static uint16_t u16_at(const unsigned char *p) {
  uint16_t u;
  if (FS_NATIVE_LE) memcpy(&u, p, 2);
  else u = (uint16_t)le(p, 2);
  return u;
}

static void dec_f64(const unsigned char *s, size_t n, double *d) {
  if (FS_NATIVE_LE) {
    memcpy(d, s, 8 * n);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    uint64_t u = le(s + 8 * i, 8);
    memcpy(&d[i], &u, sizeof u);
  }
}

static void dec_f32(const unsigned char *s, size_t n, double *d) {
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    if (FS_NATIVE_LE) memcpy(&u, s + 4 * i, 4);
    else u = (uint32_t)le(s + 4 * i, 4);
    d[i] = bits_to_float(u);
  }
}

static void dec_f16(const unsigned char *s, size_t n, double *d) {
  for (size_t i = 0; i < n; i++) d[i] = fs_f16_to_double(u16_at(s + 2 * i));
}

static void dec_bf16(const unsigned char *s, size_t n, double *d) {
  for (size_t i = 0; i < n; i++) d[i] = fs_bf16_to_double(u16_at(s + 2 * i));
}

/* ------------------------------------------------------------------------ */
/* 8-bit floats (OCP "8-bit Floating Point Specification" v1.0, as used by  */
/* safetensors' F8_E4M3 = torch.float8_e4m3fn and F8_E5M2)                  */

static double f8_e4m3(uint8_t b) {
  /* E4M3 "fn": bias 7, no infinities; only S.1111.111 is NaN, so the top
   * exponent still holds normal values up to 448. */
  int e = (b >> 3) & 0xf, f = b & 7;
  double v;
  if (e == 15 && f == 7)
    v = NAN;
  else if (e == 0)
    v = ldexp(f, -9); /* f/8 * 2^(1-7) */
  else
    v = ldexp(f | 8, e - 10); /* (8 + f)/8 * 2^(e-7) */
  return (b & 0x80) ? -v : v;
}

static double f8_e5m2(uint8_t b) {
  /* E5M2 is IEEE-like: bias 15, exponent 31 holds infinities and NaNs. */
  int e = (b >> 2) & 0x1f, f = b & 3;
  double v;
  if (e == 0)
    v = ldexp(f, -16); /* f/4 * 2^(1-15) */
  else if (e == 31)
    v = f ? NAN : INFINITY;
  else
    v = ldexp(f | 4, e - 17); /* (4 + f)/4 * 2^(e-15) */
  return (b & 0x80) ? -v : v;
}

static void dec_f8_e4m3(const unsigned char *s, size_t n, double *d) {
  for (size_t i = 0; i < n; i++) d[i] = f8_e4m3(s[i]);
}

static void dec_f8_e5m2(const unsigned char *s, size_t n, double *d) {
  for (size_t i = 0; i < n; i++) d[i] = f8_e5m2(s[i]);
}

/* ------------------------------------------------------------------------ */
/* Integers: two's complement little-endian, converted exactly up to 2^53;  */
/* larger 64-bit magnitudes round to the nearest double (ties to even).     */

static void dec_i8(const unsigned char *s, size_t n, double *d) {
  for (size_t i = 0; i < n; i++) d[i] = (int8_t)s[i];
}

static void dec_u8(const unsigned char *s, size_t n, double *d) {
  for (size_t i = 0; i < n; i++) d[i] = s[i];
}

static void dec_i16(const unsigned char *s, size_t n, double *d) {
  for (size_t i = 0; i < n; i++) d[i] = (int16_t)(uint16_t)le(s + 2 * i, 2);
}

static void dec_u16(const unsigned char *s, size_t n, double *d) {
  for (size_t i = 0; i < n; i++) d[i] = (uint16_t)le(s + 2 * i, 2);
}

static void dec_i32(const unsigned char *s, size_t n, double *d) {
  for (size_t i = 0; i < n; i++) d[i] = (int32_t)(uint32_t)le(s + 4 * i, 4);
}

static void dec_i64(const unsigned char *s, size_t n, double *d) {
  for (size_t i = 0; i < n; i++) d[i] = (double)(int64_t)le(s + 8 * i, 8);
}

/* ------------------------------------------------------------------------ */
/* llama.cpp block quantisation (ggml's ggml-common.h block structs and     */
/* dequantize_row_* in ggml-quants.c).  Every block carries its own f16     */
/* scale(s).  Values are computed in double, where every product below is   */
/* exact (ggml computes in float and may round the affine "+ m" terms).     */

static double f16_at(const unsigned char *p) { return fs_f16_to_double((uint16_t)le(p, 2)); }

/* Q8_0 (34 bytes): f16 d, int8 q[32]; x = d * q. */
static void dec_q8_0(const unsigned char *s, size_t n, double *y) {
  for (size_t b = 0; b < n; b++, s += 34, y += 32) {
    double d = f16_at(s);
    for (int j = 0; j < 32; j++) y[j] = d * (int8_t)s[2 + j];
  }
}

/* The 4-bit types keep element j in the low nibble of byte j and element
 * j + 16 in its high nibble. */
static void nibbles(const unsigned char *qs, int q[32]) {
  for (int j = 0; j < 16; j++) {
    q[j] = qs[j] & 0xf;
    q[j + 16] = qs[j] >> 4;
  }
}

/* Q5_0/Q5_1 add a fifth bit: bit j of the 32-bit little-endian qh. */
static void fifth_bits(const unsigned char *qh, int q[32]) {
  uint32_t h = (uint32_t)le(qh, 4);
  for (int j = 0; j < 32; j++) q[j] |= (int)((h >> j) & 1) << 4;
}

/* Q4_0 (18 bytes): f16 d, 16 bytes of nibbles; x = d * (q - 8). */
static void dec_q4_0(const unsigned char *s, size_t n, double *y) {
  int q[32];
  for (size_t b = 0; b < n; b++, s += 18, y += 32) {
    double d = f16_at(s);
    nibbles(s + 2, q);
    for (int j = 0; j < 32; j++) y[j] = d * (q[j] - 8);
  }
}

/* Q4_1 (20 bytes): f16 d, f16 m, nibbles; x = d * q + m. */
static void dec_q4_1(const unsigned char *s, size_t n, double *y) {
  int q[32];
  for (size_t b = 0; b < n; b++, s += 20, y += 32) {
    double d = f16_at(s), m = f16_at(s + 2);
    nibbles(s + 4, q);
    for (int j = 0; j < 32; j++) y[j] = d * q[j] + m;
  }
}

/* Q5_0 (22 bytes): f16 d, u8 qh[4], nibbles; x = d * (q - 16). */
static void dec_q5_0(const unsigned char *s, size_t n, double *y) {
  int q[32];
  for (size_t b = 0; b < n; b++, s += 22, y += 32) {
    double d = f16_at(s);
    nibbles(s + 6, q);
    fifth_bits(s + 2, q);
    for (int j = 0; j < 32; j++) y[j] = d * (q[j] - 16);
  }
}

/* Q5_1 (24 bytes): f16 d, f16 m, u8 qh[4], nibbles; x = d * q + m. */
static void dec_q5_1(const unsigned char *s, size_t n, double *y) {
  int q[32];
  for (size_t b = 0; b < n; b++, s += 24, y += 32) {
    double d = f16_at(s), m = f16_at(s + 2);
    nibbles(s + 8, q);
    fifth_bits(s + 4, q);
    for (int j = 0; j < 32; j++) y[j] = d * q[j] + m;
  }
}

/* Q2_K (84 bytes): u8 scales[16], u8 qs[64], f16 d, f16 dmin.  Scale byte
 * k: low nibble scales sub-block k (16 elements), high nibble its min.
 * Element 128h + 32j + l (h < 2, j < 4, l < 32) is bits 2j..2j+1 of
 * qs[32h + l], in sub-block 8h + 2j + l/16; x = d*sc*q - dmin*mn. */
static void dec_q2_k(const unsigned char *s, size_t n, double *y) {
  for (size_t b = 0; b < n; b++, s += 84, y += 256) {
    const unsigned char *sc = s, *qs = s + 16;
    double d = f16_at(s + 80), dmin = f16_at(s + 82);
    for (int i = 0; i < 256; i++) {
      int h = i / 128, j = (i % 128) / 32, l = i % 32, k = 8 * h + 2 * j + l / 16;
      int q = (qs[32 * h + l] >> (2 * j)) & 3;
      y[i] = d * (sc[k] & 0xf) * q - dmin * (sc[k] >> 4);
    }
  }
}

/* Q3_K's sixteen 6-bit scales in 12 bytes: scale k has its low 4 bits in
 * byte k (k < 8) or the high nibble of byte k - 8, and its top 2 bits in
 * bits 2*(k/4) of byte 8 + k%4; stored with an offset of 32. */
static int q3_k_scale(const unsigned char *p, int k) {
  int lo = k < 8 ? p[k] & 0xf : p[k - 8] >> 4;
  int hi = (p[8 + k % 4] >> (2 * (k / 4))) & 3;
  return (lo | hi << 4) - 32;
}

/* Q3_K (110 bytes): u8 hmask[32], u8 qs[64], u8 scales[12], f16 d.
 * Element 128h + 32j + l takes its low 2 bits as Q2_K does and its third
 * bit from bit 4h + j of hmask[l]; q = low2 - (bit ? 0 : 4) in [-4, 3],
 * sub-block 8h + 2j + l/16 of 16 elements, x = d * scale * q. */
static void dec_q3_k(const unsigned char *s, size_t n, double *y) {
  for (size_t b = 0; b < n; b++, s += 110, y += 256) {
    const unsigned char *hm = s, *qs = s + 32, *sc = s + 96;
    double d = f16_at(s + 108);
    for (int i = 0; i < 256; i++) {
      int h = i / 128, j = (i % 128) / 32, l = i % 32;
      int q = ((qs[32 * h + l] >> (2 * j)) & 3) - (((hm[l] >> (4 * h + j)) & 1) ? 0 : 4);
      y[i] = d * q3_k_scale(sc, 8 * h + 2 * j + l / 16) * q;
    }
  }
}

/* Q4_K/Q5_K: eight 6-bit (scale, min) pairs in 12 bytes.  Pairs 0-3 are the
 * low 6 bits of bytes k and k + 4; pairs 4-7 take their low 4 bits from
 * the nibbles of byte k + 4 and their top 2 bits from the top bits of bytes
 * k - 4 (scale) and k (min). */
static void k4_scale_min(const unsigned char *p, int k, int *sc, int *mn) {
  if (k < 4) {
    *sc = p[k] & 63;
    *mn = p[k + 4] & 63;
  } else {
    *sc = (p[k + 4] & 0xf) | (p[k - 4] >> 6) << 4;
    *mn = (p[k + 4] >> 4) | (p[k] >> 6) << 4;
  }
}

/* Q4_K (144 bytes): f16 d, f16 dmin, scales[12], u8 qs[128].  Element
 * 64c + 32u + l (c < 4, u < 2, l < 32) is the low (u = 0) or high (u = 1)
 * nibble of qs[32c + l], in sub-block 2c + u of 32 elements;
 * x = d*sc*q - dmin*mn. */
static void dec_q4_k(const unsigned char *s, size_t n, double *y) {
  for (size_t b = 0; b < n; b++, s += 144, y += 256) {
    double d = f16_at(s), dmin = f16_at(s + 2);
    const unsigned char *qs = s + 16;
    for (int i = 0; i < 256; i++) {
      int c = i / 64, u = (i % 64) / 32, l = i % 32, sc, mn;
      k4_scale_min(s + 4, 2 * c + u, &sc, &mn);
      int q = (qs[32 * c + l] >> (4 * u)) & 0xf;
      y[i] = d * sc * q - dmin * mn;
    }
  }
}

/* Q5_K (176 bytes): f16 d, f16 dmin, scales[12], u8 qh[32], u8 qs[128].
 * As Q4_K, plus a fifth bit (16) from bit 2c + u of qh[l]. */
static void dec_q5_k(const unsigned char *s, size_t n, double *y) {
  for (size_t b = 0; b < n; b++, s += 176, y += 256) {
    double d = f16_at(s), dmin = f16_at(s + 2);
    const unsigned char *qh = s + 16, *qs = s + 48;
    for (int i = 0; i < 256; i++) {
      int c = i / 64, u = (i % 64) / 32, l = i % 32, sc, mn;
      k4_scale_min(s + 4, 2 * c + u, &sc, &mn);
      int q = ((qs[32 * c + l] >> (4 * u)) & 0xf) | ((qh[l] >> (2 * c + u)) & 1) << 4;
      y[i] = d * sc * q - dmin * mn;
    }
  }
}

/* Q6_K (210 bytes): u8 ql[128], u8 qh[64], int8 scales[16], f16 d.
 * Element 128h + 32r + l (h < 2, r < 4, l < 32): low 4 bits are the low
 * (r even) or high (r odd) nibble of ql[64h + 32(r%2) + l], top 2 bits are
 * bits 2r of qh[32h + l]; q - 32 in [-32, 31], sub-block 8h + 2r + l/16
 * of 16 elements with a signed 8-bit scale; x = d * scale * (q - 32). */
static void dec_q6_k(const unsigned char *s, size_t n, double *y) {
  for (size_t b = 0; b < n; b++, s += 210, y += 256) {
    const unsigned char *ql = s, *qh = s + 128, *sc = s + 192;
    double d = f16_at(s + 208);
    for (int i = 0; i < 256; i++) {
      int h = i / 128, r = (i % 128) / 32, l = i % 32;
      int lo = (ql[64 * h + 32 * (r % 2) + l] >> (4 * (r / 2))) & 0xf;
      int hi = (qh[32 * h + l] >> (2 * r)) & 3;
      y[i] = d * (int8_t)sc[8 * h + 2 * r + l / 16] * ((lo | hi << 4) - 32);
    }
  }
}

static const fs_dtype_info table[FS_DT_COUNT] = {
    [FS_DT_F64] = {"F64", 1, 8, dec_f64},
    [FS_DT_F32] = {"F32", 1, 4, dec_f32},
    [FS_DT_F16] = {"F16", 1, 2, dec_f16},
    [FS_DT_BF16] = {"BF16", 1, 2, dec_bf16},
    [FS_DT_F8_E4M3] = {"F8_E4M3", 1, 1, dec_f8_e4m3},
    [FS_DT_F8_E5M2] = {"F8_E5M2", 1, 1, dec_f8_e5m2},
    [FS_DT_I8] = {"I8", 1, 1, dec_i8},
    [FS_DT_U8] = {"U8", 1, 1, dec_u8},
    [FS_DT_I16] = {"I16", 1, 2, dec_i16},
    [FS_DT_U16] = {"U16", 1, 2, dec_u16},
    [FS_DT_I32] = {"I32", 1, 4, dec_i32},
    [FS_DT_I64] = {"I64", 1, 8, dec_i64},
    [FS_DT_Q8_0] = {"Q8_0", 32, 34, dec_q8_0},
    [FS_DT_Q4_0] = {"Q4_0", 32, 18, dec_q4_0},
    [FS_DT_Q4_1] = {"Q4_1", 32, 20, dec_q4_1},
    [FS_DT_Q5_0] = {"Q5_0", 32, 22, dec_q5_0},
    [FS_DT_Q5_1] = {"Q5_1", 32, 24, dec_q5_1},
    [FS_DT_Q2_K] = {"Q2_K", 256, 84, dec_q2_k},
    [FS_DT_Q3_K] = {"Q3_K", 256, 110, dec_q3_k},
    [FS_DT_Q4_K] = {"Q4_K", 256, 144, dec_q4_k},
    [FS_DT_Q5_K] = {"Q5_K", 256, 176, dec_q5_k},
    [FS_DT_Q6_K] = {"Q6_K", 256, 210, dec_q6_k},
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
