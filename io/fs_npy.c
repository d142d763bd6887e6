/*
 * fs_npy.c - reader for NumPy .npy files (one array per file).
 *
 * Specification: the "NPY format" docstring of numpy/lib/format.py (NEP 1):
 *   6 bytes  "\x93NUMPY"
 *   2 bytes  major, minor version: 1.0, 2.0 or 3.0
 *   2 bytes  (v1) or 4 bytes (v2, v3) little-endian HEADER_LEN
 *   HEADER_LEN bytes: a Python literal dict, ASCII (v1, v2) or UTF-8 (v3),
 *            padded with spaces and ended by '\n':
 *            {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 *   then the array data: shape in C (row-major) order, or in Fortran
 *   (column-major) order when fortran_order is True.
 * A column-major 2-D array's bytes are the row-major transpose, which is
 * exactly what in_out means; Fortran order of more dimensions is refused.
 * The tensor is named after the file, without directory or ".npy".
 */
#include "fs_npy.h"
#include "fs_zip.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char NPY_MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

int fs_npy_probe(const unsigned char *head, size_t n) {
  return n >= 6 && memcmp(head, NPY_MAGIC, 6) == 0;
}

int fs_npy_header_len(const unsigned char *p, size_t n, uint64_t *len, fs_error *err) {
  if (n < 10 || memcmp(p, NPY_MAGIC, 6) != 0) return fs_fail(err, "npy: no NUMPY magic");
  if (p[6] < 1 || p[6] > 3 || p[7] != 0)
    return fs_fail(err, "npy: format version %u.%u is not supported (1.0, 2.0, 3.0)", p[6], p[7]);
  if (p[6] == 1) {
    *len = 10 + (uint64_t)(p[8] | p[9] << 8);
    return 0;
  }
  if (n < FS_NPY_PREFIX) return fs_fail(err, "npy: truncated header length");
  uint64_t h = (uint64_t)p[8] | (uint64_t)p[9] << 8 | (uint64_t)p[10] << 16 |
               (uint64_t)p[11] << 24;
  if (h > FS_NPY_MAX_HEADER)
    return fs_fail(err, "npy: header of %" PRIu64 " bytes exceeds the %" PRIu64
                   " KiB limit", h, FS_NPY_MAX_HEADER >> 10);
  *len = FS_NPY_PREFIX + h;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The header dict: a tiny parser for the Python literals numpy writes      */

typedef struct lex {
  const char *p, *end;
} lex;

static void skip_ws(lex *x) {
  while (x->p < x->end && (*x->p == ' ' || *x->p == '\t' || *x->p == '\n' || *x->p == '\r'))
    x->p++;
}

static int eat(lex *x, char c) {
  skip_ws(x);
  if (x->p < x->end && *x->p == c) {
    x->p++;
    return 1;
  }
  return 0;
}

/* A quoted string without escapes (numpy's keys and simple descrs have none). */
static int lex_string(lex *x, char *out, size_t cap, fs_error *err) {
  skip_ws(x);
  if (x->p >= x->end || (*x->p != '\'' && *x->p != '"'))
    /* the header is not NUL-terminated: at most the bytes left */
    return fs_fail(err, "npy header: expected a string at '%.*s'",
                   x->end - x->p < 20 ? (int)(x->end - x->p) : 20, x->p);
  char q = *x->p++;
  size_t n = 0;
  while (x->p < x->end && *x->p != q) {
    if (*x->p == '\\' || n + 1 >= cap) return fs_fail(err, "npy header: unsupported string");
    out[n++] = *x->p++;
  }
  if (x->p >= x->end) return fs_fail(err, "npy header: unterminated string");
  x->p++;
  out[n] = '\0';
  return 0;
}

static int lex_bool(lex *x, int *v, fs_error *err) {
  skip_ws(x);
  size_t left = (size_t)(x->end - x->p);
  if (left >= 4 && memcmp(x->p, "True", 4) == 0) {
    x->p += 4;
    *v = 1;
  } else if (left >= 5 && memcmp(x->p, "False", 5) == 0) {
    x->p += 5;
    *v = 0;
  } else {
    return fs_fail(err, "npy header: fortran_order is not True or False");
  }
  return 0;
}

/* A non-negative decimal that fits int64 (an optional Python 2 'L' suffix). */
static int lex_dim(lex *x, int64_t *v, fs_error *err) {
  skip_ws(x);
  if (x->p >= x->end || *x->p < '0' || *x->p > '9')
    return fs_fail(err, "npy header: shape entry is not a non-negative integer");
  int64_t d = 0;
  while (x->p < x->end && *x->p >= '0' && *x->p <= '9') {
    int digit = *x->p++ - '0';
    if (d > (INT64_MAX - digit) / 10) return fs_fail(err, "npy header: shape entry overflows");
    d = d * 10 + digit;
  }
  if (x->p < x->end && *x->p == 'L') x->p++;
  *v = d;
  return 0;
}

static int lex_shape(lex *x, fs_npy_header *h, fs_error *err) {
  if (!eat(x, '(')) return fs_fail(err, "npy header: shape is not a tuple");
  h->ndim = 0;
  while (!eat(x, ')')) {
    if (h->ndim == FS_MAX_DIMS)
      return fs_fail(err, "npy header: more than %d dimensions", FS_MAX_DIMS);
    FS_TRY(lex_dim(x, &h->shape[h->ndim++], err));
    if (!eat(x, ',') && !(skip_ws(x), x->p < x->end && *x->p == ')'))
      return fs_fail(err, "npy header: malformed shape tuple");
  }
  return 0;
}

/* descr -> dtype; byte order '<' or '|' (one-byte types) only. */
static int map_descr(const char *d, fs_dtype *dt, fs_error *err) {
  static const struct {
    const char *code;
    fs_dtype dt;
  } map[] = {{"f8", FS_DT_F64}, {"f4", FS_DT_F32}, {"f2", FS_DT_F16}, {"i1", FS_DT_I8},
             {"u1", FS_DT_U8},  {"i2", FS_DT_I16}, {"u2", FS_DT_U16}, {"i4", FS_DT_I32},
             {"i8", FS_DT_I64}};
  if (strlen(d) < 2) return fs_fail(err, "npy: dtype '%s' is not supported", d);
  if (d[0] == '>') return fs_fail(err, "npy: big-endian dtype '%s' is not supported", d);
  if (strcmp(d + 1, "b1") == 0) return fs_fail(err, "npy: bool dtype '%s' is not supported", d);
  if (d[0] == '<' || d[0] == '|')
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
      if (strcmp(d + 1, map[i].code) == 0 && (d[0] == '<' || d[2] == '1')) {
        *dt = map[i].dt;
        return 0;
      }
  return fs_fail(err, "npy: dtype '%s' is not supported", d);
}

static int parse_entry(lex *x, fs_npy_header *h, unsigned *seen, fs_error *err) {
  char key[32], descr[32];
  FS_TRY(lex_string(x, key, sizeof key, err));
  if (!eat(x, ':')) return fs_fail(err, "npy header: expected ':' after '%s'", key);
  if (strcmp(key, "descr") == 0) {
    skip_ws(x);
    if (x->p < x->end && *x->p == '[')
      return fs_fail(err, "npy: structured dtypes are not supported");
    FS_TRY(lex_string(x, descr, sizeof descr, err));
    FS_TRY(map_descr(descr, &h->dtype, err));
    *seen |= 1;
  } else if (strcmp(key, "fortran_order") == 0) {
    FS_TRY(lex_bool(x, &h->fortran, err));
    *seen |= 2;
  } else if (strcmp(key, "shape") == 0) {
    FS_TRY(lex_shape(x, h, err));
    *seen |= 4;
  } else {
    return fs_fail(err, "npy header: unknown key '%s'", key);
  }
  return 0;
}

int fs_npy_parse(const unsigned char *p, uint64_t len, fs_npy_header *h, fs_error *err) {
  memset(h, 0, sizeof *h);
  h->header_len = len;
  uint64_t start = p[6] == 1 ? 10 : FS_NPY_PREFIX;
  lex x = {(const char *)p + start, (const char *)p + len};
  if (len == start || p[len - 1] != '\n')
    return fs_fail(err, "npy header: does not end in a newline");
  if (memchr(x.p, 0, (size_t)(len - start))) return fs_fail(err, "npy header: NUL byte");
  unsigned seen = 0;
  if (!eat(&x, '{')) return fs_fail(err, "npy header: not a dict");
  while (!eat(&x, '}')) {
    FS_TRY(parse_entry(&x, h, &seen, err));
    if (!eat(&x, ',') && !(skip_ws(&x), x.p < x.end && *x.p == '}'))
      return fs_fail(err, "npy header: malformed dict");
  }
  if (seen != 7) return fs_fail(err, "npy header: needs 'descr', 'fortran_order' and 'shape'");
  int64_t numel;
  char sh[160];
  if (fs_shape_numel(h->shape, h->ndim, &numel) ||
      fs_dtype_nbytes(h->dtype, (uint64_t)numel, &h->nbytes))
    return fs_fail(err, "npy: shape %s overflows", fs_shape_str(h->shape, h->ndim, sh, sizeof sh));
  return 0;
}

int fs_npy_to_tensor(const fs_npy_header *h, fs_tensor *t, fs_error *err) {
  if (h->fortran && h->ndim > 2)
    return fs_fail(err, "tensor '%s': Fortran-order array of %d dimensions is not supported",
                   t->name, h->ndim);
  t->dtype = h->dtype;
  t->ndim = h->ndim;
  memcpy(t->shape, h->shape, sizeof t->shape);
  t->nbytes = h->nbytes;
  t->in_out = h->fortran && h->ndim == 2; /* 0-D and 1-D are the same either way */
  return 0;
}

/* ------------------------------------------------------------------------ */
/* A single .npy file                                                       */

/* Base name without directory and a ".npy" extension. */
static char *npy_name(const char *path) {
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  size_t n = strlen(b);
  if (n > 4 && strcmp(b + n - 4, ".npy") == 0) n -= 4;
  return fs_strndup(b, n);
}

static int npy_read(const char *path, int fd, uint64_t size, fs_model *m, fs_error *err) {
  unsigned char pre[FS_NPY_PREFIX];
  size_t n = size < sizeof pre ? (size_t)size : sizeof pre;
  uint64_t len;
  FS_TRY(fs_read_at(fd, pre, n, 0, err));
  FS_TRY(fs_npy_header_len(pre, n, &len, err));
  if (len > size)
    return fs_fail(err, "npy: header of %" PRIu64 " bytes is longer than the file", len);
  unsigned char *hdr = malloc((size_t)len);
  if (!hdr) return fs_fail(err, "out of memory");
  fs_npy_header h;
  int rc = fs_read_at(fd, hdr, (size_t)len, 0, err);
  if (!rc) rc = fs_npy_parse(hdr, len, &h, err);
  if (!rc) m->header_checksum = fs_fnv1a64(FS_FNV_OFFSET, hdr, (size_t)len);
  free(hdr);
  FS_TRY(rc);
  FS_TRY(fs_model_alloc_tensors(m, 1, err));
  fs_tensor *t = &m->tensors[0];
  if (!(t->name = npy_name(path))) return fs_fail(err, "out of memory");
  FS_TRY(fs_npy_to_tensor(&h, t, err));
  if (h.nbytes > size - len)
    return fs_fail(err, "tensor '%s': %" PRIu64 " bytes of data but the file holds %" PRIu64
                   " after its header", t->name, h.nbytes, size - len);
  t->offset = len;
  return 0;
}

int fs_npy_read(const char *path, int fd, uint64_t size, fs_model *m, fs_error *err) {
  return npy_read(path, fd, size, m, err);
}
