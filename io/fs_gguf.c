/*
 * fs_gguf.c - reader for GGUF, versions 2 and 3, little-endian.
 *
 * Specification: ggml's docs/gguf.md (https://github.com/ggml-org/ggml).
 *   "GGUF", u32 version, u64 tensor_count, u64 metadata_kv_count
 *   metadata_kv_count x { string key, u32 value type, value }
 *     string = u64 length + bytes (no terminator)
 *     value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool,
 *                  8 string, 9 array (u32 element type, u64 count, elements),
 *                  10 u64, 11 i64, 12 f64
 *   tensor_count x { string name, u32 n_dims, u64 dims[n_dims] (innermost
 *                    first), u32 ggml type, u64 offset into the data section }
 *   padding to general.alignment (default 32), then the data section.
 * Version 1 (32-bit counts) and big-endian files are refused.
 *
 * The header is consumed strictly in order through a small buffered cursor
 * that hashes every byte (FNV-1a 64 up to the data section) and refuses to
 * go past the end of the file.  Every count and length is compared with the
 * bytes that remain before anything is allocated or looped over, so a
 * header claiming 2^60 tensors or a 2^40-byte string fails at once.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_reader.h"

#define GGUF_DEFAULT_ALIGNMENT 32
/* The specification bounds keys at 65535 bytes; we use it for names too. */
#define GGUF_MAX_NAME 65535
/* Arrays of arrays are legal; deeper nesting than this is hostile. */
#define GGUF_MAX_NESTING 4

enum {
  GV_U8, GV_I8, GV_U16, GV_I16, GV_U32, GV_I32, GV_F32, GV_BOOL, GV_STRING,
  GV_ARRAY, GV_U64, GV_I64, GV_F64, GV_COUNT
};

static const char *const value_type_name[GV_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool", "string", "array", "uint64", "int64", "float64"};

/* Encoded size of a scalar value type; 0 for string and array. */
static const unsigned value_type_size[GV_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

/* ------------------------------------------------------------------------ */
/* Buffered, hashing cursor over the header                                 */

typedef struct gguf_in {
  int fd;
  uint64_t size;    /* file size */
  uint64_t pos;     /* next byte to consume */
  uint64_t hash;    /* FNV-1a of bytes [0, pos) */
  uint64_t buf_off; /* buf holds file bytes [buf_off, buf_off + buf_len) */
  size_t buf_len;
  unsigned char buf[16384];
} gguf_in;

static uint64_t remaining(const gguf_in *in) { return in->size - in->pos; }

/* Consume n bytes into dst (or just hash them when dst is NULL). */
static int take(gguf_in *in, void *dst, uint64_t n, fs_error *err) {
  if (n > remaining(in))
    return fs_fail(err, "unexpected end of file at byte %" PRIu64 " (needed %"
                   PRIu64 " bytes, %" PRIu64 " left)", in->pos, n, remaining(in));
  unsigned char *out = dst;
  while (n > 0) {
    if (in->pos < in->buf_off || in->pos >= in->buf_off + in->buf_len) {
      uint64_t k = remaining(in) < sizeof in->buf ? remaining(in) : sizeof in->buf;
      FS_TRY(fs_read_at(in->fd, in->buf, (size_t)k, in->pos, err));
      in->buf_off = in->pos;
      in->buf_len = (size_t)k;
    }
    const unsigned char *src = in->buf + (in->pos - in->buf_off);
    uint64_t avail = in->buf_off + in->buf_len - in->pos;
    size_t k = (size_t)(n < avail ? n : avail);
    in->hash = fs_fnv1a64(in->hash, src, k);
    if (out) {
      memcpy(out, src, k);
      out += k;
    }
    in->pos += k;
    n -= k;
  }
  return 0;
}

static uint64_t le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static int take_u32(gguf_in *in, uint32_t *v, fs_error *err) {
  unsigned char b[4];
  FS_TRY(take(in, b, 4, err));
  *v = (uint32_t)le(b, 4);
  return 0;
}

static int take_u64(gguf_in *in, uint64_t *v, fs_error *err) {
  unsigned char b[8];
  FS_TRY(take(in, b, 8, err));
  *v = le(b, 8);
  return 0;
}

/* A string's length, checked against the file (and max) before any use. */
static int take_strlen(gguf_in *in, uint64_t max, uint64_t *len, fs_error *err) {
  uint64_t at = in->pos;
  FS_TRY(take_u64(in, len, err));
  if (*len > remaining(in))
    return fs_fail(err, "string of %" PRIu64 " bytes at byte %" PRIu64
                   " runs past the end of the file", *len, at);
  if (*len > max)
    return fs_fail(err, "string of %" PRIu64 " bytes at byte %" PRIu64
                   " is longer than %" PRIu64, *len, at, max);
  return 0;
}

static int take_str(gguf_in *in, uint64_t max, char **s, uint64_t *len,
                    fs_error *err) {
  FS_TRY(take_strlen(in, max, len, err));
  *s = malloc((size_t)*len + 1);
  if (!*s) return fs_fail(err, "out of memory for a %" PRIu64 "-byte string", *len);
  if (take(in, *s, *len, err)) {
    free(*s);
    *s = NULL;
    return FS_ERR;
  }
  (*s)[*len] = '\0';
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Metadata values                                                          */

/* Render a scalar of fixed size as text (the type is known valid). */
static int render_scalar(const unsigned char *b, uint32_t type, char *buf,
                         size_t len, fs_error *err) {
  uint64_t u = le(b, (int)value_type_size[type]);
  switch (type) {
  case GV_U8: case GV_U16: case GV_U32: case GV_U64:
    snprintf(buf, len, "%" PRIu64, u);
    break;
  case GV_I8: snprintf(buf, len, "%d", (int)(int8_t)u); break;
  case GV_I16: snprintf(buf, len, "%d", (int)(int16_t)u); break;
  case GV_I32: snprintf(buf, len, "%" PRId32, (int32_t)u); break;
  case GV_I64: snprintf(buf, len, "%" PRId64, (int64_t)u); break;
  case GV_F32: {
    uint32_t w = (uint32_t)u;
    float f;
    memcpy(&f, &w, sizeof f);
    snprintf(buf, len, "%.9g", (double)f);
    break;
  }
  case GV_F64: {
    double d;
    memcpy(&d, &u, sizeof d);
    fs_format_double(buf, len, d);
    break;
  }
  case GV_BOOL:
    if (u > 1) return fs_fail(err, "invalid bool value %" PRIu64, u);
    snprintf(buf, len, "%s", u ? "true" : "false");
    break;
  }
  return 0;
}

static int check_value_type(uint32_t type, fs_error *err) {
  if (type >= GV_COUNT) return fs_fail(err, "unknown value type %" PRIu32, type);
  return 0;
}

/* Skip an array body (type and count already read), checking the count
 * against the remaining bytes before looping over it. */
static int skip_array(gguf_in *in, uint32_t type, uint64_t count, int depth,
                      fs_error *err) {
  uint64_t min_elem = type == GV_STRING  ? 8  /* the length */
                      : type == GV_ARRAY ? 12 /* element type and count */
                                         : value_type_size[type];
  if (count > remaining(in) / min_elem)
    return fs_fail(err, "array of %" PRIu64 " %s at byte %" PRIu64
                   " cannot fit in the %" PRIu64 " bytes left", count,
                   value_type_name[type], in->pos, remaining(in));
  if (type != GV_STRING && type != GV_ARRAY) return take(in, NULL, count * min_elem, err);
  if (type == GV_ARRAY && depth >= GGUF_MAX_NESTING)
    return fs_fail(err, "arrays nested deeper than %d", GGUF_MAX_NESTING);
  for (uint64_t i = 0; i < count; i++) {
    uint64_t len;
    if (type == GV_STRING) {
      FS_TRY(take_strlen(in, UINT64_MAX, &len, err));
      FS_TRY(take(in, NULL, len, err));
    } else {
      uint32_t et;
      FS_TRY(take_u32(in, &et, err));
      FS_TRY(check_value_type(et, err));
      FS_TRY(take_u64(in, &len, err));
      FS_TRY(skip_array(in, et, len, depth + 1, err));
    }
  }
  return 0;
}

/* Arrays are summarised, not stored: "[512 strings]", "[3 int32]". */
static int read_array(gguf_in *in, const char *key, fs_model *m, fs_error *err) {
  uint32_t et;
  uint64_t count;
  FS_TRY(take_u32(in, &et, err));
  FS_TRY(check_value_type(et, err));
  FS_TRY(take_u64(in, &count, err));
  FS_TRY(skip_array(in, et, count, 1, err));
  char text[64];
  const char *what = et == GV_STRING ? "strings" : et == GV_ARRAY ? "arrays"
                                                                  : value_type_name[et];
  int n = snprintf(text, sizeof text, "[%" PRIu64 " %s]", count, what);
  return fs_model_add_meta(m, key, text, (size_t)n, err);
}

/* general.alignment decides where the data section starts. */
static int set_alignment(uint32_t type, const unsigned char *b, uint32_t *align,
                         fs_error *err) {
  if (type != GV_U32)
    return fs_fail(err, "has type %s, expected uint32", value_type_name[type]);
  uint32_t a = (uint32_t)le(b, 4);
  if (a == 0 || (a & (a - 1)) != 0)
    return fs_fail(err, "alignment %" PRIu32 " is not a power of two", a);
  *align = a;
  return 0;
}

static int read_value(gguf_in *in, const char *key, uint32_t type, fs_model *m,
                      uint32_t *align, fs_error *err) {
  FS_TRY(check_value_type(type, err));
  if (type == GV_ARRAY) return read_array(in, key, m, err);
  if (type == GV_STRING) {
    char *s;
    uint64_t len;
    FS_TRY(take_str(in, UINT64_MAX, &s, &len, err));
    int rc = fs_model_add_meta(m, key, s, (size_t)len, err);
    free(s);
    return rc;
  }
  unsigned char b[8];
  char text[64];
  FS_TRY(take(in, b, value_type_size[type], err));
  if (strcmp(key, "general.alignment") == 0) FS_TRY(set_alignment(type, b, align, err));
  FS_TRY(render_scalar(b, type, text, sizeof text, err));
  return fs_model_add_meta(m, key, text, strlen(text), err);
}

static int read_kv(gguf_in *in, uint64_t i, fs_model *m, uint32_t *align,
                   fs_error *err) {
  char *key;
  uint64_t len;
  uint32_t type;
  if (take_str(in, GGUF_MAX_NAME, &key, &len, err))
    return fs_error_prefix(err, "metadata entry %" PRIu64 ": key", i);
  int rc = take_u32(in, &type, err);
  if (!rc) rc = read_value(in, key, type, m, align, err);
  if (rc) fs_error_prefix(err, "metadata '%s'", key);
  free(key);
  return rc;
}

static int by_key(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lookup by key must be unambiguous; sorting keeps this O(n log n) even
 * for a hostile file with millions of entries. */
static int check_unique_keys(const fs_model *m, fs_error *err) {
  if (m->nmeta < 2) return 0;
  char **keys = malloc((size_t)m->nmeta * sizeof *keys);
  if (!keys) return fs_fail(err, "out of memory");
  for (int i = 0; i < m->nmeta; i++) keys[i] = m->meta[i].key;
  qsort(keys, (size_t)m->nmeta, sizeof *keys, by_key);
  int rc = 0;
  for (int i = 1; i < m->nmeta && !rc; i++)
    if (strcmp(keys[i - 1], keys[i]) == 0)
      rc = fs_fail(err, "metadata '%s': key appears twice", keys[i]);
  free(keys);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Tensor infos                                                             */

static const char *ggml_type_name(uint32_t t) {
  static const char *const names[] = {
      "F32", "F16", "Q4_0", "Q4_1", NULL, NULL, "Q5_0", "Q5_1", "Q8_0", "Q8_1",
      "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS",
      "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16",
      "I32", "I64", "F64", "IQ1_M", "BF16", NULL, NULL, NULL, "TQ1_0", "TQ2_0",
      NULL, NULL, NULL, "MXFP4"};
  return t < sizeof names / sizeof names[0] ? names[t] : NULL;
}

static int ggml_dtype(const char *name, uint32_t type, fs_dtype *dt, fs_error *err) {
  static const struct { uint32_t ggml; fs_dtype dt; } known[] = {
      {0, FS_DT_F32},   {1, FS_DT_F16},   {2, FS_DT_Q4_0},  {3, FS_DT_Q4_1},
      {6, FS_DT_Q5_0},  {7, FS_DT_Q5_1},  {8, FS_DT_Q8_0},  {10, FS_DT_Q2_K},
      {11, FS_DT_Q3_K}, {12, FS_DT_Q4_K}, {13, FS_DT_Q5_K}, {14, FS_DT_Q6_K},
      {24, FS_DT_I8},   {25, FS_DT_I16},  {26, FS_DT_I32},  {27, FS_DT_I64},
      {28, FS_DT_F64},  {30, FS_DT_BF16}};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (known[i].ggml == type && fs_dtype_supported(known[i].dt)) {
      *dt = known[i].dt;
      return 0;
    }
  const char *tn = ggml_type_name(type);
  if (!tn)
    return fs_fail(err, "unknown GGUF tensor type %" PRIu32 " for tensor '%s'", type,
                   name);
  /* A type without its conversion rule is refused, never guessed. */
  return fs_fail(err, "unsupported GGUF tensor type %s (%" PRIu32 ") for tensor '%s'",
                 tn, type, name);
}

/* n_dims, dims (innermost first, reversed here), ggml type, offset. */
static int read_layout(gguf_in *in, fs_tensor *t, uint32_t *type, fs_error *err) {
  uint32_t nd;
  FS_TRY(take_u32(in, &nd, err));
  if (nd > FS_MAX_DIMS)
    return fs_fail(err, "n_dims %" PRIu32 " exceeds %d", nd, FS_MAX_DIMS);
  for (uint32_t d = 0; d < nd; d++) {
    uint64_t dim;
    FS_TRY(take_u64(in, &dim, err));
    if (dim > (uint64_t)INT64_MAX)
      return fs_fail(err, "dimension %" PRIu64 " is too large", dim);
    t->shape[nd - 1 - d] = (int64_t)dim;
  }
  t->ndim = (int)nd;
  FS_TRY(take_u32(in, type, err));
  return take_u64(in, &t->offset, err); /* relative until the data start is known */
}

static int read_tensor_info(gguf_in *in, uint64_t i, fs_tensor *t, fs_error *err) {
  uint64_t len;
  uint32_t type = 0;
  if (take_str(in, GGUF_MAX_NAME, &t->name, &len, err))
    return fs_error_prefix(err, "tensor info %" PRIu64 ": name", i);
  if (read_layout(in, t, &type, err)) return fs_error_prefix(err, "tensor '%s'", t->name);
  FS_TRY(ggml_dtype(t->name, type, &t->dtype, err));
  int64_t numel;
  char sh[128];
  if (fs_shape_numel(t->shape, t->ndim, &numel) ||
      fs_dtype_nbytes(t->dtype, (uint64_t)numel, &t->nbytes))
    return fs_fail(err, "tensor '%s': shape %s overflows or splits a block", t->name,
                   fs_shape_str(t->shape, t->ndim, sh, sizeof sh));
  return 0;
}

/* Make offsets absolute, checking alignment and the end of the file. */
static int place_tensor(fs_tensor *t, uint64_t data_start, uint32_t align,
                        uint64_t size, fs_error *err) {
  uint64_t rel = t->offset, abs;
  if (rel % align != 0)
    return fs_fail(err, "tensor '%s': offset %" PRIu64
                   " is not a multiple of the alignment %" PRIu32, t->name, rel, align);
  if (fs_add_u64(data_start, rel, &abs) || abs > size || t->nbytes > size - abs)
    return fs_fail(err, "tensor '%s': data at offset %" PRIu64 " (%" PRIu64
                   " bytes) runs past the end of the file (%" PRIu64 " bytes)",
                   t->name, rel, t->nbytes, size);
  t->offset = abs;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Entry point                                                              */

static int read_preamble(gguf_in *in, uint64_t *nt, uint64_t *nkv, fs_error *err) {
  unsigned char magic[4];
  uint32_t version;
  FS_TRY(take(in, magic, 4, err));
  FS_TRY(take_u32(in, &version, err));
  if (version == 0x02000000u || version == 0x03000000u)
    return fs_fail(err, "big-endian GGUF (version field 0x%08" PRIx32
                   ") is not supported", version);
  if (version != 2 && version != 3)
    return fs_fail(err, "unsupported GGUF version %" PRIu32 " (only 2 and 3 are read)",
                   version);
  FS_TRY(take_u64(in, nt, err));
  FS_TRY(take_u64(in, nkv, err));
  /* Smallest possible encodings: a key-value is 8 + 4 + 1 bytes, a tensor
   * info 8 + 4 + 4 + 8; a count beyond what the file can hold is a lie. */
  if (*nkv > remaining(in) / 13)
    return fs_fail(err, "metadata_kv_count %" PRIu64 " cannot fit in the %" PRIu64
                   " bytes left", *nkv, remaining(in));
  if (*nt > remaining(in) / 24)
    return fs_fail(err, "tensor_count %" PRIu64 " cannot fit in the %" PRIu64
                   " bytes left", *nt, remaining(in));
  return 0;
}

static int read_tensors(gguf_in *in, uint64_t nt, uint32_t align, fs_model *m,
                        fs_error *err) {
  if (nt > remaining(in) / 24)
    return fs_fail(err, "tensor_count %" PRIu64 " cannot fit in the %" PRIu64
                   " bytes left", nt, remaining(in));
  FS_TRY(fs_model_alloc_tensors(m, nt, err));
  for (uint64_t i = 0; i < nt; i++) FS_TRY(read_tensor_info(in, i, &m->tensors[i], err));
  /* The data section starts at the next multiple of the alignment. */
  uint64_t pad = (align - in->pos % align) % align, data_start;
  if (fs_add_u64(in->pos, pad, &data_start) || (nt > 0 && data_start > in->size))
    return fs_fail(err, "data section would start at byte %" PRIu64
                   ", past the end of the file (%" PRIu64 " bytes)",
                   in->pos + pad, in->size);
  FS_TRY(take(in, NULL, (data_start < in->size ? data_start : in->size) - in->pos, err));
  m->header_checksum = in->hash;
  for (uint64_t i = 0; i < nt; i++)
    FS_TRY(place_tensor(&m->tensors[i], data_start, align, in->size, err));
  return 0;
}

int fs_gguf_read(const char *path, int fd, uint64_t size, fs_model *m,
                 fs_error *err) {
  (void)path; /* fs_model_open puts it in front of every message */
  gguf_in *in = calloc(1, sizeof *in);
  if (!in) return fs_fail(err, "out of memory");
  in->fd = fd;
  in->size = size;
  in->hash = FS_FNV_OFFSET;
  uint64_t nt = 0, nkv = 0;
  uint32_t align = GGUF_DEFAULT_ALIGNMENT;
  int rc = read_preamble(in, &nt, &nkv, err);
  for (uint64_t i = 0; i < nkv && !rc; i++) rc = read_kv(in, i, m, &align, err);
  if (!rc) rc = check_unique_keys(m, err);
  if (!rc) rc = read_tensors(in, nt, align, m, err);
  free(in);
  return rc;
}

int fs_gguf_probe(const unsigned char *head, size_t n) {
  return n >= 4 && memcmp(head, "GGUF", 4) == 0;
}
