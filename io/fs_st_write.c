/*
 * fs_st_write.c - safetensors writer (see fs_st_write.h).
 *
 * Layout (safetensors specification): an 8-byte little-endian header length
 * N, N bytes of JSON {name: {dtype, shape, data_offsets}, "__metadata__":
 * {string: string}}, padded with spaces to a multiple of 8 so that the data
 * section is aligned, then the tensors back to back.  Tensors are converted
 * one at a time, so memory stays at the largest tensor.
 */
#include "fs_st_write.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Round the double x to a float with `man` explicit mantissa bits and
 * exponent range [emin, emax] (IEEE layout with bias), ties to even. */
static uint32_t round_to_small_float(double x, int man, int ebits) {
  uint32_t sign = signbit(x) ? 1u : 0u, bias = (1u << (ebits - 1)) - 1;
  uint32_t emaxf = (1u << ebits) - 1, out;
  double a = fabs(x);
  if (isnan(x)) {
    out = (emaxf << man) | (1u << (man - 1)); /* quiet NaN */
  } else if (isinf(x)) {
    out = emaxf << man;
  } else {
    int e;
    frexp(a, &e);                    /* a = f * 2^e, f in [0.5, 1) */
    int exp = e - 1;                 /* a in [2^exp, 2^(exp+1)) */
    int emin = 1 - (int)bias;
    if (a == 0.0 || exp < emin) exp = emin; /* subnormal scale */
    double q = ldexp(a, man - exp);  /* the integer significand, before rounding */
    double r = nearbyint(q);         /* default rounding mode: ties to even */
    uint64_t sig = (uint64_t)r;
    if (sig >> (man + 1)) {          /* rounding carried into the next binade */
      sig >>= 1;
      exp++;
    }
    if (exp > (int)(emaxf - 1 - bias)) {
      out = emaxf << man;            /* overflow: infinity */
    } else if (sig >> man) {         /* normal: hidden bit set */
      out = ((uint32_t)(exp + (int)bias) << man) | (uint32_t)(sig & ((1u << man) - 1));
    } else {
      out = (uint32_t)sig;           /* subnormal (exponent field 0) */
    }
  }
  return (sign << (ebits + man)) | out;
}

uint16_t fs_double_to_f16(double x) { return (uint16_t)round_to_small_float(x, 10, 5); }
uint16_t fs_double_to_bf16(double x) { return (uint16_t)round_to_small_float(x, 7, 8); }

static void put_le(unsigned char *p, uint64_t v, int n) {
  for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void encode(const double *v, size_t n, fs_dtype to, unsigned char *out) {
  for (size_t i = 0; i < n; i++) {
    switch (to) {
    case FS_DT_F64: {
      uint64_t u;
      memcpy(&u, &v[i], 8);
      put_le(out + 8 * i, u, 8);
      break;
    }
    case FS_DT_F32: {
      float f = (float)v[i];
      uint32_t u;
      memcpy(&u, &f, 4);
      put_le(out + 4 * i, u, 4);
      break;
    }
    case FS_DT_F16: put_le(out + 2 * i, fs_double_to_f16(v[i]), 2); break;
    default: put_le(out + 2 * i, fs_double_to_bf16(v[i]), 2); break;
    }
  }
}

static fs_dtype target_of(const fs_tensor *t, int to) {
  if (to >= 0) return (fs_dtype)to;
  switch (t->dtype) {
  case FS_DT_F64: case FS_DT_F32: case FS_DT_F16: case FS_DT_BF16: return t->dtype;
  default: return FS_DT_F32; /* integers and quantised blocks: as floats */
  }
}

static json_t *header_json(const fs_model *m, int to, uint64_t *data_size) {
  json_t *root = json_object(), *meta = json_object();
  uint64_t pos = 0;
  for (int i = 0; i < m->nmeta; i++) json_object_set_new(meta, m->meta[i].key, json_string(m->meta[i].value));
  json_object_set_new(meta, "flagscope.source", json_string(m->path));
  json_object_set_new(meta, "flagscope.source_format", json_string(fs_format_name(m->format)));
  json_object_set_new(root, "__metadata__", meta);
  for (int i = 0; i < m->ntensors; i++) {
    const fs_tensor *t = &m->tensors[i];
    fs_dtype to_t = target_of(t, to);
    uint64_t n = (uint64_t)fs_tensor_numel(t) * fs_dtype_size(to_t);
    json_t *shape = json_array();
    for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
    json_t *offs = json_array();
    json_array_append_new(offs, json_integer((json_int_t)pos));
    json_array_append_new(offs, json_integer((json_int_t)(pos + n)));
    json_t *e = json_object();
    json_object_set_new(e, "dtype", json_string(fs_dtype_name(to_t)));
    json_object_set_new(e, "shape", shape);
    json_object_set_new(e, "data_offsets", offs);
    json_object_set_new(root, t->name, e);
    pos += n;
  }
  *data_size = pos;
  return root;
}

static int write_all(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n ? 0 : -1; }

static int write_tensor(const fs_model *m, const fs_tensor *t, fs_dtype to, FILE *f, fs_error *err) {
  int64_t rows = fs_tensor_rows(t), cols = fs_tensor_cols(t);
  size_t n = (size_t)(rows * cols);
  double *v = malloc(sizeof *v * (n ? n : 1));
  unsigned char *b = malloc(fs_dtype_size(to) * (n ? n : 1));
  int rc = (!v || !b) ? fs_fail(err, "tensor '%s': out of memory for %zu values", t->name, n) : 0;
  if (!rc && n) rc = fs_tensor_read_rows(m, t, 0, rows, v, err);
  if (!rc) {
    encode(v, n, to, b);
    if (write_all(f, b, n * fs_dtype_size(to))) rc = fs_fail(err, "tensor '%s': write failed", t->name);
  }
  free(v), free(b);
  return rc;
}

static int write_file(const fs_model *m, int to, FILE *f, fs_error *err) {
  uint64_t data_size;
  json_t *root = header_json(m, to, &data_size);
  char *text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(root);
  if (!text) return fs_fail(err, "out of memory for the header");
  size_t len = strlen(text), padded = (len + 7) / 8 * 8;
  unsigned char lenbuf[8];
  put_le(lenbuf, padded, 8);
  int rc = write_all(f, lenbuf, 8) || write_all(f, text, len) ||
           write_all(f, "        ", padded - len);
  free(text);
  if (rc) return fs_fail(err, "write failed");
  /* Offsets were assigned in the model's tensor order: write in that order
   * (the header's keys are sorted, its offsets are not). */
  for (int i = 0; i < m->ntensors && !rc; i++)
    rc = write_tensor(m, &m->tensors[i], target_of(&m->tensors[i], to), f, err);
  return rc;
}

int fs_st_write(const fs_model *m, const char *out, int to, fs_error *err) {
  char partial[4200];
  snprintf(partial, sizeof partial, "%s.partial", out);
  FILE *f = fopen(partial, "wb");
  if (!f) return fs_fail(err, "%s: cannot create: %s", out, strerror(errno));
  int rc = write_file(m, to, f, err);
  if (fclose(f) != 0 && !rc) rc = fs_fail(err, "%s: write failed", out);
  if (!rc && rename(partial, out) != 0) rc = fs_fail(err, "%s: cannot rename into place", out);
  if (rc) unlink(partial);
  return rc;
}
