/*
 * fs_safetensors.c - reader for the safetensors format.
 *
 * Specification: the "Format" section of https://github.com/huggingface/safetensors
 *   8 bytes  N, unsigned 64-bit little-endian: size of the header
 *   N bytes  a UTF-8 JSON object starting with '{' (trailing spaces allowed):
 *              "name": {"dtype": "F32", "shape": [d0, d1, ...],
 *                       "data_offsets": [begin, end]}
 *            plus an optional "__metadata__": {string: string}
 *   rest     the byte buffer; begin/end are relative to its first byte,
 *            tensors are row-major little-endian and must not overlap.
 * The JSON is parsed with jansson.  Hugging Face model directories keep the
 * architecture in a config.json next to the weights; its top-level scalars
 * become metadata "config.<key>".
 *
 * Every number from the header is checked against the file before use: the
 * header length against the file size and a 100 MiB cap, each shape for
 * overflow, each region against the data section and the dtype size.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs_reader.h"

/* ------------------------------------------------------------------------ */
/* The header                                                               */

/* Read the 8-byte length and the JSON text; checksum covers both. */
static int read_header(int fd, uint64_t size, char **text, uint64_t *len,
                       uint64_t *checksum, fs_error *err) {
  unsigned char lenbuf[8];
  FS_TRY(fs_read_at(fd, lenbuf, sizeof lenbuf, 0, err));
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | lenbuf[i];
  if (n > size - 8)
    return fs_fail(err, "header length %" PRIu64 " exceeds the file (%" PRIu64
                   " bytes after the length field)", n, size - 8);
  if (n > FS_ST_MAX_HEADER)
    return fs_fail(err, "header length %" PRIu64 " exceeds the %" PRIu64
                   " MiB limit", n, FS_ST_MAX_HEADER >> 20);
  char *buf = malloc((size_t)n + 1);
  if (!buf) return fs_fail(err, "out of memory for a %" PRIu64 "-byte header", n);
  if (fs_read_at(fd, buf, (size_t)n, 8, err)) {
    free(buf);
    return FS_ERR;
  }
  buf[n] = '\0';
  *checksum = fs_fnv1a64(fs_fnv1a64(FS_FNV_OFFSET, lenbuf, 8), buf, (size_t)n);
  *text = buf;
  *len = n;
  return 0;
}

static int parse_json(const char *text, size_t len, const char *what,
                      json_t **out, fs_error *err) {
  json_error_t je;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  if (!root)
    return fs_fail(err, "%s: invalid JSON: %s (line %d, column %d)", what,
                   je.text, je.line, je.column);
  if (!json_is_object(root)) {
    json_decref(root);
    return fs_fail(err, "%s: not a JSON object", what);
  }
  *out = root;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* One tensor entry                                                         */

static int parse_dtype(const char *name, json_t *v, fs_dtype *dt, fs_error *err) {
  if (!json_is_string(v))
    return fs_fail(err, "tensor '%s': missing or non-string \"dtype\"", name);
  const char *s = json_string_value(v);
  int t = fs_dtype_from_name(s);
  /* A type without its conversion rule is refused, never guessed. */
  if (t < 0 || !fs_dtype_supported((fs_dtype)t))
    return fs_fail(err, "unsupported dtype %.64s for tensor '%s'", s, name);
  *dt = (fs_dtype)t;
  return 0;
}

static int parse_shape(const char *name, json_t *v, fs_tensor *t, fs_error *err) {
  if (!json_is_array(v))
    return fs_fail(err, "tensor '%s': missing or non-array \"shape\"", name);
  size_t nd = json_array_size(v);
  if (nd > FS_MAX_DIMS)
    return fs_fail(err, "tensor '%s': %zu dimensions (at most %d supported)",
                   name, nd, FS_MAX_DIMS);
  for (size_t i = 0; i < nd; i++) {
    json_t *d = json_array_get(v, i);
    if (!json_is_integer(d))
      return fs_fail(err, "tensor '%s': shape entry %zu is not an integer", name, i);
    if (json_integer_value(d) < 0)
      return fs_fail(err, "tensor '%s': negative dimension %" JSON_INTEGER_FORMAT
                     " in shape", name, json_integer_value(d));
    t->shape[i] = (int64_t)json_integer_value(d);
  }
  t->ndim = (int)nd;
  int64_t numel;
  char sh[128];
  if (fs_shape_numel(t->shape, t->ndim, &numel) ||
      fs_dtype_nbytes(t->dtype, (uint64_t)numel, &t->nbytes))
    return fs_fail(err, "tensor '%s': shape %s overflows or splits a block", name,
                   fs_shape_str(t->shape, t->ndim, sh, sizeof sh));
  return 0;
}

/* data_offsets are relative to the data section of data_size bytes. */
static int parse_offsets(const char *name, json_t *v, uint64_t data_start,
                         uint64_t data_size, fs_tensor *t, fs_error *err) {
  json_t *b = json_array_get(v, 0), *e = json_array_get(v, 1);
  if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(b) ||
      !json_is_integer(e))
    return fs_fail(err, "tensor '%s': \"data_offsets\" is not [begin, end]", name);
  json_int_t begin = json_integer_value(b), end = json_integer_value(e);
  if (begin < 0 || end < 0)
    return fs_fail(err, "tensor '%s': negative data_offsets", name);
  if (end < begin)
    return fs_fail(err, "tensor '%s': data_offsets end %" JSON_INTEGER_FORMAT
                   " < begin %" JSON_INTEGER_FORMAT, name, end, begin);
  if ((uint64_t)end > data_size)
    return fs_fail(err, "tensor '%s': data_offsets [%" JSON_INTEGER_FORMAT ", %"
                   JSON_INTEGER_FORMAT "] past the end of the data section (%"
                   PRIu64 " bytes)", name, begin, end, data_size);
  if ((uint64_t)(end - begin) != t->nbytes) {
    char sh[128];
    return fs_fail(err, "tensor '%s': data_offsets span %" JSON_INTEGER_FORMAT
                   " bytes but shape %s of %s needs %" PRIu64, name, end - begin,
                   fs_shape_str(t->shape, t->ndim, sh, sizeof sh),
                   fs_dtype_name(t->dtype), t->nbytes);
  }
  t->offset = data_start + (uint64_t)begin;
  return 0;
}

static int parse_tensor(const char *name, json_t *v, uint64_t data_start,
                        uint64_t data_size, fs_tensor *t, fs_error *err) {
  if (!json_is_object(v))
    return fs_fail(err, "tensor '%s': entry is not a JSON object", name);
  t->name = strdup(name);
  if (!t->name) return fs_fail(err, "out of memory");
  FS_TRY(parse_dtype(name, json_object_get(v, "dtype"), &t->dtype, err));
  FS_TRY(parse_shape(name, json_object_get(v, "shape"), t, err));
  return parse_offsets(name, json_object_get(v, "data_offsets"), data_start,
                       data_size, t, err);
}

/* ------------------------------------------------------------------------ */
/* Metadata                                                                 */

static int parse_metadata(json_t *v, fs_model *m, fs_error *err) {
  if (!json_is_object(v)) return fs_fail(err, "__metadata__ is not a JSON object");
  const char *key;
  json_t *val;
  json_object_foreach(v, key, val) {
    if (!json_is_string(val))
      return fs_fail(err, "__metadata__ value of '%s' is not a string", key);
    FS_TRY(fs_model_add_meta(m, key, json_string_value(val),
                             json_string_length(val), err));
  }
  return 0;
}

/* A scalar JSON value as text; NULL for arrays, objects and null. */
static const char *scalar_text(json_t *v, char *buf, size_t len) {
  switch (json_typeof(v)) {
  case JSON_STRING: return json_string_value(v);
  case JSON_INTEGER:
    snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return buf;
  case JSON_REAL: fs_format_double(buf, len, json_real_value(v)); return buf;
  case JSON_TRUE: return "true";
  case JSON_FALSE: return "false";
  default: return NULL;
  }
}

static int add_config_entries(json_t *root, fs_model *m, fs_error *err) {
  const char *key;
  json_t *val;
  json_object_foreach(root, key, val) {
    char num[64];
    const char *text = scalar_text(val, num, sizeof num);
    if (!text) continue;
    size_t klen = strlen(key);
    char *full = malloc(klen + sizeof "config.");
    if (!full) return fs_fail(err, "out of memory");
    memcpy(full, "config.", 7);
    memcpy(full + 7, key, klen + 1);
    int rc = fs_model_meta(m, full) ? 0 /* the file's own metadata wins */
                                    : fs_model_add_meta(m, full, text, strlen(text), err);
    free(full);
    FS_TRY(rc);
  }
  return 0;
}

/* config.json in the checkpoint's directory, if there is one. */
static char *config_path(const char *path) {
  const char *slash = strrchr(path, '/');
  size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
  char *cfg = malloc(dirlen + sizeof "config.json");
  if (!cfg) return NULL;
  memcpy(cfg, path, dirlen);
  memcpy(cfg + dirlen, "config.json", sizeof "config.json");
  return cfg;
}

static int load_config_file(const char *cfg, fs_model *m, fs_error *err) {
  struct stat st;
  if (stat(cfg, &st) != 0) {
    if (errno == ENOENT) return 0;
    return fs_fail(err, "%s: cannot stat: %s", cfg, strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return fs_fail(err, "%s: not a regular file", cfg);
  if ((uint64_t)st.st_size > FS_ST_MAX_HEADER)
    return fs_fail(err, "%s: %" PRIu64 " bytes is too large for a config", cfg,
                   (uint64_t)st.st_size);
  json_error_t je;
  json_t *root = json_load_file(cfg, JSON_REJECT_DUPLICATES, &je);
  if (!root)
    return fs_fail(err, "%s: invalid JSON: %s (line %d, column %d)", cfg, je.text,
                   je.line, je.column);
  int rc = json_is_object(root) ? add_config_entries(root, m, err)
                                : fs_fail(err, "%s: not a JSON object", cfg);
  json_decref(root);
  return rc;
}

static int load_config(const char *path, fs_model *m, fs_error *err) {
  char *cfg = config_path(path);
  if (!cfg) return fs_fail(err, "out of memory");
  int rc = load_config_file(cfg, m, err);
  free(cfg);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Entry point                                                              */

static int fill_model(json_t *root, uint64_t header_len, uint64_t size,
                      fs_model *m, fs_error *err) {
  json_t *meta = json_object_get(root, "__metadata__");
  uint64_t data_start = 8 + header_len, data_size = size - data_start;
  FS_TRY(fs_model_alloc_tensors(m, json_object_size(root) - (meta ? 1 : 0), err));
  if (meta) FS_TRY(parse_metadata(meta, m, err));
  const char *key;
  json_t *val;
  int i = 0;
  json_object_foreach(root, key, val) {
    if (strcmp(key, "__metadata__") == 0) continue;
    FS_TRY(parse_tensor(key, val, data_start, data_size, &m->tensors[i++], err));
  }
  return 0;
}

int fs_safetensors_read(const char *path, int fd, uint64_t size, fs_model *m,
                        fs_error *err) {
  char *text = NULL;
  uint64_t len = 0;
  json_t *root = NULL;
  FS_TRY(read_header(fd, size, &text, &len, &m->header_checksum, err));
  int rc = parse_json(text, (size_t)len, "header", &root, err);
  free(text);
  if (rc) return rc;
  rc = fill_model(root, len, size, m, err);
  json_decref(root);
  if (!rc) rc = load_config(path, m, err);
  return rc;
}

int fs_safetensors_probe(const unsigned char *head, size_t n) {
  return n >= 9 && head[8] == '{';
}

/* ------------------------------------------------------------------------ */
/* Shards of a sharded checkpoint (used by fs_safetensors_index.c)          */

/* Grow m->tensors by n zeroed entries, keeping every entry reachable. */
static int append_tensors(fs_model *m, size_t n, fs_tensor **first, fs_error *err) {
  if (n > (size_t)(INT32_MAX - m->ntensors))
    return fs_fail(err, "too many tensors across the shards");
  size_t total = (size_t)m->ntensors + n;
  fs_tensor *grown = realloc(m->tensors, (total ? total : 1) * sizeof *grown);
  if (!grown) return fs_fail(err, "out of memory for %zu tensors", total);
  memset(grown + m->ntensors, 0, n * sizeof *grown);
  m->tensors = grown;
  *first = grown + m->ntensors;
  m->ntensors = (int)total;
  return 0;
}

static int fill_shard(json_t *root, uint64_t header_len, uint64_t size, int file,
                      fs_model *m, fs_error *err) {
  uint64_t data_start = 8 + header_len, data_size = size - data_start;
  json_t *meta = json_object_get(root, "__metadata__");
  fs_tensor *t = NULL;
  FS_TRY(append_tensors(m, json_object_size(root) - (meta ? 1 : 0), &t, err));
  const char *key;
  json_t *val;
  json_object_foreach(root, key, val) {
    if (strcmp(key, "__metadata__") == 0) continue; /* the index's metadata wins */
    t->file = file;
    FS_TRY(parse_tensor(key, val, data_start, data_size, t++, err));
  }
  return 0;
}

int fs_safetensors_read_shard(int fd, uint64_t size, int file, fs_model *m,
                              uint64_t *checksum, fs_error *err) {
  char *text = NULL;
  uint64_t len = 0;
  json_t *root = NULL;
  if (size < 9) return fs_fail(err, "too short to be a safetensors file");
  FS_TRY(read_header(fd, size, &text, &len, checksum, err));
  int rc = parse_json(text, (size_t)len, "header", &root, err);
  free(text);
  if (rc) return rc;
  rc = fill_shard(root, len, size, file, m, err);
  json_decref(root);
  return rc;
}

int fs_safetensors_load_config(const char *path, fs_model *m, fs_error *err) {
  return load_config(path, m, err);
}
