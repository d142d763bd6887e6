/*
 * fs_model.c - format-independent half of the checkpoint readers: detection
 * by magic, the model's lifetime, lookups, dtype conversion and the row
 * reader.  The format parsers (fs_safetensors.c, fs_gguf.c) only fill an
 * fs_model from the header; see fs_reader.h for that contract.
 *
 * Formats recognised by their first bytes:
 *   GGUF         "GGUF" magic (ggml docs/gguf.md)
 *   safetensors  8-byte little-endian header length, then '{' (the JSON
 *                header must start with '{' by the safetensors specification)
 *
 * in_out: every tensor's shape is the presented [out, in] view.  A tensor
 * with in_out = 1 stores the transpose of that view's 2-D unfolding, i.e.
 * its bytes are a row-major [cols, rows] matrix; fs_tensor_read_rows
 * gathers the requested rows from it.  No format sets it today (GGUF and
 * safetensors are both stored as [out, in]).
 */
#include "fs_model.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_reader.h"

/* Elements converted per pread; bounds the scratch buffer to 512 KiB. */
#define READ_CHUNK_ELEMS ((size_t)1 << 16)

/* ------------------------------------------------------------------------ */
/* Small shared helpers (declared in fs_reader.h)                           */

char *fs_strndup(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

uint64_t fs_fnv1a64(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

int fs_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
  if (a != 0 && b > UINT64_MAX / a) return -1;
  *out = a * b;
  return 0;
}

int fs_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
  if (b > UINT64_MAX - a) return -1;
  *out = a + b;
  return 0;
}

int fs_shape_numel(const int64_t *shape, int ndim, int64_t *numel) {
  uint64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0 || fs_mul_u64(n, (uint64_t)shape[i], &n) ||
        n > (uint64_t)INT64_MAX)
      return -1;
  }
  *numel = (int64_t)n;
  return 0;
}

const char *fs_shape_str(const int64_t *shape, int ndim, char *buf,
                         size_t len) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i <= ndim && used < len; i++) {
    int k = i < ndim ? snprintf(buf + used, len - used, "%s%" PRId64,
                                i ? ", " : "[", shape[i])
                     : snprintf(buf + used, len - used, "%s]", ndim ? "" : "[");
    if (k < 0) break;
    used += (size_t)k;
  }
  return buf;
}

void fs_format_double(char *buf, size_t len, double v) {
  if (isnan(v)) {
    snprintf(buf, len, "nan");
    return;
  }
  if (isinf(v)) {
    snprintf(buf, len, v < 0 ? "-inf" : "inf");
    return;
  }
  /* The first precision that reads back exactly; 17 digits always does. */
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, len, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) return;
  }
}

int fs_read_at(int fd, void *buf, size_t n, uint64_t off, fs_error *err) {
  unsigned char *p = buf;
  size_t done = 0;
  if (off > (uint64_t)INT64_MAX - n)
    return fs_fail(err, "read at byte %" PRIu64 " beyond any file", off);
  while (done < n) {
    ssize_t k = pread(fd, p + done, n - done, (off_t)(off + done));
    if (k < 0 && errno == EINTR) continue;
    if (k < 0)
      return fs_fail(err, "read error at byte %" PRIu64 ": %s", off + done,
                     strerror(errno));
    if (k == 0)
      return fs_fail(err, "unexpected end of file at byte %" PRIu64
                     " (needed %zu more bytes)", off + done, n - done);
    done += (size_t)k;
  }
  return 0;
}

/* The metadata array grows by doubling without a capacity field: its
 * capacity is 0 when empty and max(8, next power of two >= n) otherwise, so
 * it is full exactly when n is 0 or a power of two >= 8. */
static int meta_full(int n) { return n == 0 || (n >= 8 && (n & (n - 1)) == 0); }

int fs_model_add_meta(fs_model *m, const char *key, const char *value,
                      size_t value_len, fs_error *err) {
  if (m->nmeta >= INT_MAX / 2) return fs_fail(err, "too many metadata entries");
  if (meta_full(m->nmeta)) {
    size_t cap = m->nmeta ? 2 * (size_t)m->nmeta : 8;
    fs_meta *grown = realloc(m->meta, cap * sizeof *grown);
    if (!grown) return fs_fail(err, "out of memory for metadata");
    m->meta = grown;
  }
  char *k = strdup(key), *v = fs_strndup(value, value_len);
  if (!k || !v) {
    free(k);
    free(v);
    return fs_fail(err, "out of memory for metadata '%s'", key);
  }
  m->meta[m->nmeta].key = k;
  m->meta[m->nmeta].value = v;
  m->nmeta++;
  return 0;
}

int fs_model_alloc_tensors(fs_model *m, uint64_t n, fs_error *err) {
  if (n > (uint64_t)INT_MAX)
    return fs_fail(err, "%" PRIu64 " tensors is more than supported", n);
  m->tensors = calloc(n ? n : 1, sizeof *m->tensors);
  if (!m->tensors) return fs_fail(err, "out of memory for %" PRIu64 " tensors", n);
  m->ntensors = (int)n;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Names and sizes                                                          */

int64_t fs_tensor_numel(const fs_tensor *t) {
  int64_t n;
  return fs_shape_numel(t->shape, t->ndim, &n) ? -1 : n;
}

int64_t fs_tensor_rows(const fs_tensor *t) {
  return t->ndim >= 2 ? t->shape[0] : 1;
}

int64_t fs_tensor_cols(const fs_tensor *t) {
  if (t->ndim == 0) return 1;
  if (t->ndim == 1) return t->shape[0];
  int64_t n;
  return fs_shape_numel(t->shape + 1, t->ndim - 1, &n) ? -1 : n;
}

/* ------------------------------------------------------------------------ */
/* Lookups                                                                  */

int fs_model_index(const fs_model *m, const char *name) {
  for (int i = 0; i < m->ntensors; i++)
    if (m->tensors[i].name && strcmp(m->tensors[i].name, name) == 0) return i;
  return -1;
}

const fs_tensor *fs_model_find(const fs_model *m, const char *name) {
  int i = fs_model_index(m, name);
  return i < 0 ? NULL : &m->tensors[i];
}

const char *fs_model_meta(const fs_model *m, const char *key) {
  for (int i = 0; i < m->nmeta; i++)
    if (strcmp(m->meta[i].key, key) == 0) return m->meta[i].value;
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* Open and close                                                           */

void fs_model_close(fs_model *m) {
  if (!m) return;
  for (int i = 0; i < m->ntensors; i++) free(m->tensors[i].name);
  for (int i = 0; i < m->nmeta; i++) {
    free(m->meta[i].key);
    free(m->meta[i].value);
  }
  for (int i = 0; i < m->nfiles; i++) free(m->files[i]);
  if (m->free_priv) m->free_priv(m->priv);
  free(m->files);
  free(m->file_sizes);
  free(m->tensors);
  free(m->meta);
  free(m->path);
  memset(m, 0, sizeof *m);
}

int fs_model_add_file(fs_model *m, const char *path, uint64_t size, fs_error *err) {
  if (m->nfiles >= 1 << 20) return fs_fail(err, "too many files");
  char **f = realloc(m->files, sizeof *f * (size_t)(m->nfiles + 1));
  if (f) m->files = f;
  uint64_t *z = realloc(m->file_sizes, sizeof *z * (size_t)(m->nfiles + 1));
  if (z) m->file_sizes = z;
  char *copy = f && z ? strdup(path) : NULL;
  if (!copy) return fs_fail(err, "out of memory");
  m->files[m->nfiles] = copy;
  m->file_sizes[m->nfiles++] = size;
  return 0;
}

/* The formats, tried in this order on the first bytes of the file.  A new
 * format is a parser file, a line here and a value of fs_format. */
typedef struct format_entry {
  fs_format format;
  const char *name;
  int (*probe)(const unsigned char *head, size_t n);
  int (*read)(const char *path, int fd, uint64_t size, fs_model *m, fs_error *err);
} format_entry;

static const format_entry formats[] = {
    {FS_FMT_GGUF, "gguf", fs_gguf_probe, fs_gguf_read},
    {FS_FMT_NPY, "npy", fs_npy_probe, fs_npy_read},
    {FS_FMT_NPZ, "npz", fs_npz_probe, fs_npz_read},
    {FS_FMT_TORCH, "torch", fs_torch_probe, fs_torch_read},
    {FS_FMT_KERAS, "keras-hdf5", fs_keras_probe, fs_keras_read},
    /* TF.js before the index: its probe is the stricter JSON test */
    {FS_FMT_TFJS, "tfjs", fs_tfjs_probe, fs_tfjs_read},
    /* before safetensors: a JSON index may have '{' at byte 8 */
    {FS_FMT_SAFETENSORS_INDEX, "safetensors-index", fs_safetensors_index_probe,
     fs_safetensors_index_read},
    {FS_FMT_SAFETENSORS, "safetensors", fs_safetensors_probe, fs_safetensors_read},
    /* no magic: NULL probe, recognised through path_probes below */
    {FS_FMT_ONNX, "onnx", NULL, fs_onnx_read},
};
#define NFORMATS ((int)(sizeof formats / sizeof formats[0]))

/* Formats without magic bytes (their formats[] probe is NULL) are recognised
 * by the file name as well as the first bytes; their probes get the path. */
static const struct {
  fs_format format;
  int (*probe)(const char *path, const unsigned char *head, size_t n);
} path_probes[] = {
    {FS_FMT_ONNX, fs_onnx_probe},
};

static int probe(const format_entry *f, const char *path, const unsigned char *head,
                 size_t n) {
  if (f->probe) return f->probe(head, n);
  for (size_t i = 0; i < sizeof path_probes / sizeof path_probes[0]; i++)
    if (path_probes[i].format == f->format) return path_probes[i].probe(path, head, n);
  return 0;
}

const char *fs_format_name(fs_format f) {
  for (int i = 0; i < NFORMATS; i++)
    if (formats[i].format == f) return formats[i].name;
  return "?";
}

static int detect_format(const char *path, int fd, uint64_t size, const format_entry **fmt,
                         fs_error *err) {
  unsigned char head[FS_PROBE_BYTES];
  size_t n = size < sizeof head ? (size_t)size : sizeof head;
  FS_TRY(fs_read_at(fd, head, n, 0, err));
  for (int i = 0; i < NFORMATS; i++)
    if (probe(&formats[i], path, head, n)) {
      *fmt = &formats[i];
      return 0;
    }
  if (n < 9) return fs_fail(err, "too short to be a checkpoint (%" PRIu64 " bytes)", size);
  return fs_fail(err, "unrecognised format: no GGUF magic and no safetensors "
                 "header (first bytes %02x %02x %02x %02x)",
                 head[0], head[1], head[2], head[3]);
}

static int by_name(const void *a, const void *b) {
  const fs_tensor *x = *(const fs_tensor *const *)a, *y = *(const fs_tensor *const *)b;
  return strcmp(x->name, y->name);
}

static int by_offset(const void *a, const void *b) {
  const fs_tensor *x = *(const fs_tensor *const *)a, *y = *(const fs_tensor *const *)b;
  if (x->file != y->file) return x->file < y->file ? -1 : 1;
  if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
  return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* Lookups assume unique names, and a byte shared by two tensors means a
 * corrupt or hostile header; both are checked here for every format whose
 * tensors are regions of its files (a format with its own read_bytes checks
 * its regions itself). */
static int check_regions(const fs_model *m, fs_error *err) {
  int n = m->ntensors, rc = 0;
  if (n == 0) return 0;
  const fs_tensor **idx = malloc((size_t)n * sizeof *idx);
  if (!idx) return fs_fail(err, "out of memory");
  for (int i = 0; i < n; i++) idx[i] = &m->tensors[i];
  qsort(idx, (size_t)n, sizeof *idx, by_name);
  for (int i = 1; i < n && !rc; i++)
    if (strcmp(idx[i - 1]->name, idx[i]->name) == 0)
      rc = fs_fail(err, "tensor '%s': name appears twice", idx[i]->name);
  qsort(idx, (size_t)n, sizeof *idx, by_offset);
  const fs_tensor *last = NULL; /* the non-empty region reaching furthest */
  for (int i = 0; i < n && !rc && !m->read_bytes; i++) {
    const fs_tensor *t = idx[i];
    if (last && last->file != t->file) last = NULL;
    if (t->file < 0 || t->file >= m->nfiles)
      rc = fs_fail(err, "tensor '%s': no file %d", t->name, t->file);
    else if (t->offset > m->file_sizes[t->file] || t->nbytes > m->file_sizes[t->file] - t->offset)
      rc = fs_fail(err, "tensor '%s': data past the end of the file", t->name);
    else if (t->nbytes && last && t->offset < last->offset + last->nbytes)
      rc = fs_fail(err, "tensor '%s': bytes [%" PRIu64 ", %" PRIu64
                   ") overlap tensor '%s' [%" PRIu64 ", %" PRIu64 ")",
                   t->name, t->offset, t->offset + t->nbytes, last->name,
                   last->offset, last->offset + last->nbytes);
    if (t->nbytes && (!last || t->offset + t->nbytes > last->offset + last->nbytes))
      last = t;
  }
  free(idx);
  return rc;
}

static int open_fd(const char *path, int fd, fs_model *m, fs_error *err) {
  struct stat st;
  if (fstat(fd, &st) != 0) return fs_fail(err, "cannot stat: %s", strerror(errno));
  if (!S_ISREG(st.st_mode)) return fs_fail(err, "not a regular file");
  if (st.st_size == 0) return fs_fail(err, "empty file");
  m->path = strdup(path);
  if (!m->path) return fs_fail(err, "out of memory");
  m->file_size = (uint64_t)st.st_size;
  FS_TRY(fs_model_add_file(m, path, m->file_size, err));
  const format_entry *fmt = NULL;
  FS_TRY(detect_format(path, fd, m->file_size, &fmt, err));
  m->format = fmt->format;
  FS_TRY(fmt->read(path, fd, m->file_size, m, err));
  return check_regions(m, err);
}

int fs_model_open(const char *path, fs_model *m, fs_error *err) {
  memset(m, 0, sizeof *m);
  if (!path) return fs_fail(err, "(null): no checkpoint path given");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fs_fail(err, "%s: cannot open: %s", path, strerror(errno));
  int rc = open_fd(path, fd, m, err);
  close(fd);
  if (rc) {
    fs_model_close(m);
    fs_error_prefix(err, "%s", path);
    return fs_error_one_line(err); /* names from the file: one line */
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Row reader                                                               */

/* Bytes [off, off + n) of t's data: the format's hook, or a pread. */
static int tensor_bytes(const fs_model *m, int fd, const fs_tensor *t, uint64_t off,
                        size_t n, void *buf, fs_error *err) {
  if (m->read_bytes) return m->read_bytes(m, t, off, n, buf, err);
  return fs_read_at(fd, buf, n, t->offset + off, err);
}

/* Decode the n elements from element `first` of t (whole blocks) into
 * dst[0], dst[stride], ...; buf holds the bytes of READ_CHUNK_ELEMS elements,
 * tmp that many doubles (needed only when stride > 1). */
static int read_span(const fs_model *m, int fd, const fs_tensor *t, uint64_t first,
                     uint64_t n, double *dst, size_t stride, unsigned char *buf,
                     double *tmp, fs_error *err) {
  const fs_dtype_info *info = fs_dtype_info_of(t->dtype);
  uint64_t bl = (uint64_t)info->block, bb = (uint64_t)info->bytes;
  while (n > 0) {
    size_t k = n < READ_CHUNK_ELEMS ? (size_t)n : READ_CHUNK_ELEMS; /* whole blocks */
    FS_TRY(tensor_bytes(m, fd, t, first / bl * bb, k / bl * bb, buf, err));
    info->decode(buf, k / bl, stride == 1 ? dst : tmp);
    for (size_t i = 0; stride > 1 && i < k; i++) dst[i * stride] = tmp[i];
    dst += k * stride;
    first += k;
    n -= k;
  }
  return 0;
}

/* Rows [r0, r1) of the view: contiguous when stored as [out, in]; one
 * segment per stored row (one per column of the view) when in_out. */
static int read_rows_fd(const fs_model *m, int fd, const fs_tensor *t, int64_t r0,
                        int64_t r1, double *out, fs_error *err) {
  const fs_dtype_info *info = fs_dtype_info_of(t->dtype);
  uint64_t rows = (uint64_t)fs_tensor_rows(t), cols = (uint64_t)fs_tensor_cols(t);
  uint64_t nr = (uint64_t)(r1 - r0);
  unsigned char *buf = malloc(READ_CHUNK_ELEMS / (size_t)info->block * (size_t)info->bytes);
  double *tmp = t->in_out ? malloc(READ_CHUNK_ELEMS * sizeof *tmp) : NULL;
  int rc = (!buf || (t->in_out && !tmp)) ? fs_fail(err, "out of memory") : 0;
  if (!rc && !t->in_out)
    rc = read_span(m, fd, t, (uint64_t)r0 * cols, nr * cols, out, 1, buf, NULL, err);
  for (uint64_t c = 0; !rc && t->in_out && c < cols; c++)
    rc = read_span(m, fd, t, c * rows + (uint64_t)r0, nr, out + c, (size_t)cols, buf,
                   tmp, err);
  free(buf);
  free(tmp);
  return rc;
}

/* NaN or Inf in a weight matrix poisons every spectrum computed from it;
 * report the first one by its index in the [out, in] view. */
static int check_finite(const double *v, int64_t r0, int64_t r1, int64_t cols,
                        fs_error *err) {
  size_t n = (size_t)((r1 - r0) * cols);
  for (size_t i = 0; i < n; i++) {
    if (isfinite(v[i])) continue;
    int64_t row = r0 + (int64_t)(i / (size_t)cols), col = (int64_t)(i % (size_t)cols);
    const char *what = isnan(v[i]) ? "NaN" : v[i] > 0 ? "Inf" : "-Inf";
    return fs_fail(err, "non-finite value %s at element %" PRId64 " (row %" PRId64
                   ", column %" PRId64 ")", what, row * cols + col, row, col);
  }
  return 0;
}

/* A tensor handed in by a caller (not necessarily from this model's header)
 * must still describe a region of the right size inside its file, and rows
 * of whole blocks. */
static int check_tensor(const fs_model *m, const fs_tensor *t, int64_t r0,
                        int64_t r1, fs_error *err) {
  int64_t rows = fs_tensor_rows(t), cols = fs_tensor_cols(t), numel = fs_tensor_numel(t);
  const fs_dtype_info *info = fs_dtype_info_of(t->dtype);
  uint64_t need;
  if (t->ndim < 0 || t->ndim > FS_MAX_DIMS || numel < 0 || rows < 0 || cols < 0 || !info ||
      fs_dtype_nbytes(t->dtype, (uint64_t)numel, &need) || need != t->nbytes ||
      t->file < 0 || t->file >= m->nfiles)
    return fs_fail(err, "inconsistent tensor description");
  if (!info->decode) return fs_fail(err, "unsupported dtype %s", info->name);
  if (info->block > 1 && (t->in_out || cols % info->block))
    return fs_fail(err, "%s rows of %" PRId64 " elements are not whole blocks of %d",
                   info->name, cols, info->block);
  if (!m->read_bytes &&
      (t->offset > m->file_sizes[t->file] || t->nbytes > m->file_sizes[t->file] - t->offset))
    return fs_fail(err, "data past the end of the file");
  if (r0 < 0 || r1 < r0 || r1 > rows)
    return fs_fail(err, "row range [%" PRId64 ", %" PRId64 ") outside [0, %" PRId64 ")",
                   r0, r1, rows);
  return 0;
}

/* The file is reopened per call: the model holds no descriptor, so any
 * number of models can be open, and ranks read only what they own. */
static int read_rows(const fs_model *m, const fs_tensor *t, int64_t r0,
                     int64_t r1, double *out, fs_error *err) {
  FS_TRY(check_tensor(m, t, r0, r1, err));
  if (r0 == r1 || t->nbytes == 0) return 0;
  int fd = -1, rc = 0;
  if (!m->read_bytes) {
    const char *file = m->files[t->file];
    fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fs_fail(err, "cannot reopen %s: %s", file, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0)
      rc = fs_fail(err, "cannot stat %s: %s", file, strerror(errno));
    else if ((uint64_t)st.st_size != m->file_sizes[t->file])
      rc = fs_fail(err, "file changed since it was opened (%" PRIu64 " bytes, was %" PRIu64
                   ")", (uint64_t)st.st_size, m->file_sizes[t->file]);
  }
  if (!rc) rc = read_rows_fd(m, fd, t, r0, r1, out, err);
  if (fd >= 0) close(fd);
  if (!rc) rc = check_finite(out, r0, r1, fs_tensor_cols(t), err);
  return rc;
}

/* Columns [c0, c1) of rows [r0, r1): one read per row (plain types stored
 * [out, in] in a plain file), so a narrow slice of a wide tensor (a head of a
 * fused QKV) costs its own bytes, not the whole rows'; otherwise whole rows,
 * FS_BLOCK_ROWS at a time, compacted. */
#define FS_BLOCK_ROWS 64
static int read_block(const fs_model *m, const fs_tensor *t, int64_t r0, int64_t r1, int64_t c0,
                      int64_t c1, double *out, fs_error *err) {
  const fs_dtype_info *info = fs_dtype_info_of(t->dtype);
  int64_t cols = fs_tensor_cols(t), w = c1 - c0;
  if (c0 < 0 || c1 > cols || c0 > c1)
    return fs_fail(err, "columns [%lld, %lld) outside the %lld columns", (long long)c0,
                   (long long)c1, (long long)cols);
  FS_TRY(check_tensor(m, t, r0, r1, err));
  if (r0 == r1 || w == 0 || t->nbytes == 0) return 0;
  if (info->block != 1 || t->in_out || m->read_bytes) {
    int64_t chunk = r1 - r0 < FS_BLOCK_ROWS ? r1 - r0 : FS_BLOCK_ROWS;
    double *rows = malloc(sizeof *rows * (size_t)(chunk * cols));
    if (!rows) return fs_fail(err, "out of memory");
    int rc = 0;
    for (int64_t a = r0; !rc && a < r1; a += chunk) {
      int64_t b = a + chunk < r1 ? a + chunk : r1;
      rc = read_rows(m, t, a, b, rows, err);
      for (int64_t i = a; !rc && i < b; i++)
        memcpy(out + (i - r0) * w, rows + (i - a) * cols + c0, sizeof *out * (size_t)w);
    }
    free(rows);
    return rc;
  }
  const char *file = m->files[t->file];
  int fd = open(file, O_RDONLY | O_CLOEXEC), rc = 0;
  if (fd < 0) return fs_fail(err, "cannot reopen %s: %s", file, strerror(errno));
  struct stat st;
  unsigned char *buf = malloc(READ_CHUNK_ELEMS * (size_t)info->bytes);
  if (!buf) rc = fs_fail(err, "out of memory");
  else if (fstat(fd, &st) != 0) rc = fs_fail(err, "cannot stat %s: %s", file, strerror(errno));
  else if ((uint64_t)st.st_size != m->file_sizes[t->file])
    rc = fs_fail(err, "file changed since it was opened (%" PRIu64 " bytes, was %" PRIu64 ")",
                 (uint64_t)st.st_size, m->file_sizes[t->file]);
  for (int64_t i = r0; !rc && i < r1; i++)
    rc = read_span(m, fd, t, (uint64_t)(i * cols + c0), (uint64_t)w, out + (i - r0) * w, 1, buf,
                   NULL, err);
  free(buf);
  close(fd);
  for (int64_t i = 0; !rc && i < (r1 - r0) * w; i++) { /* named by the view's row and column */
    if (isfinite(out[i])) continue;
    int64_t row = r0 + i / w, col = c0 + i % w;
    rc = fs_fail(err, "non-finite value %s at element %" PRId64 " (row %" PRId64 ", column %"
                 PRId64 ")", isnan(out[i]) ? "NaN" : out[i] > 0 ? "Inf" : "-Inf",
                 row * cols + col, row, col);
  }
  return rc;
}

int fs_tensor_read_block(const fs_model *m, const fs_tensor *t, int64_t r0, int64_t r1,
                         int64_t c0, int64_t c1, double *out, fs_error *err) {
  if (read_block(m, t, r0, r1, c0, c1, out, err)) {
    fs_error_prefix(err, "%s: tensor '%s'", m->path ? m->path : "(closed)",
                    t->name ? t->name : "?");
    return fs_error_one_line(err);
  }
  return 0;
}

int fs_tensor_read_rows(const fs_model *m, const fs_tensor *t, int64_t r0,
                        int64_t r1, double *out, fs_error *err) {
  if (read_rows(m, t, r0, r1, out, err)) {
    fs_error_prefix(err, "%s: tensor '%s'", m->path ? m->path : "(closed)",
                    t->name ? t->name : "?");
    return fs_error_one_line(err); /* names from the file: one line */
  }
  return 0;
}
