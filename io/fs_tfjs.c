/*
 * fs_tfjs.c - reader for TensorFlow.js weights (model.json and bare weights
 * manifests).
 *
 * Specification: the ModelJSON and WeightsManifestConfig types of tfjs-core
 * (src/io/types.ts) and the converter's weight writer:
 *   model.json  {"format":..., "modelTopology":..., "weightsManifest": [G...]}
 *               (layers and graph models alike; topology is not read)
 *   manifest    a top-level array [G...] (e.g. face-api's *-weights_manifest.json)
 *   group G     {"paths": ["shard1", ...], "weights": [W...]}
 *   weight W    {"name", "shape": [d...], "dtype": "float32"|"int32"|...,
 *                "quantization"?: {"dtype": "uint8"|"uint16"|"float16",
 *                                  "scale", "min", "original_dtype"?}}
 * The weights of a group are packed back to back, in manifest order, in the
 * concatenation of its shard files (a weight may straddle two shards); each
 * takes numel * size(stored type) bytes, little-endian.  uint8/uint16 data
 * are affine-quantised: value = q * scale + min.
 *
 * How tensors are presented (all reads go through tfjs_read_bytes):
 *   float32 -> F32, int32 -> I32, float16-quantised float32 -> F16, stored
 *   bytes unchanged.  uint8/uint16-quantised -> F64: the hook returns the
 *   dequantised values (computed in double; int32 ones rounded half up, as
 *   TF.js's Math.round) as
 *   little-endian binary64, so nbytes = numel * 8.
 *   2-D tensors are Keras/TF kernels [in, out]: in_out = 1, view [out, in]
 *   (except "...embeddings", which are [vocab, dim] like PyTorch's).
 *   N-D tensors (N >= 3) are TF convolution kernels [k..., in, out]: the view
 *   is [out, in, k...], and the hook returns the bytes already permuted into
 *   that order.  A permuted tensor is decoded whole on its first read and
 *   cached (one tensor at a time) so row-range reads stay linear.
 * bool, string and complex64 weights are refused by name.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_reader.h"

/* How one tensor's stored elements become presented ones. */
typedef enum { TJ_RAW, TJ_AFFINE } tj_kind;

typedef struct tj_entry {
  int group;
  uint64_t voff;   /* byte offset in the group's shard concatenation */
  uint64_t sbytes; /* stored bytes */
  int esize;       /* stored bytes per element */
  int psize;       /* presented bytes per element */
  tj_kind kind;
  int round_int;   /* int32 original: round the affine value */
  double scale, min;
  fs_tf_kernel k;  /* N-D kernel presented as [out, in, k...] */
} tj_entry;

typedef struct tj_group {
  int first_file; /* index into m->files */
  int nshards;
  uint64_t *start; /* nshards + 1 cumulative offsets */
} tj_group;

typedef struct tj_priv {
  int ngroups;
  tj_group *groups;
  tj_entry *entries; /* one per tensor, same order as m->tensors */
  int cached;        /* tensor index of cache, -1 none */
  unsigned char *cache;
} tj_priv;

static void tj_free(void *p) {
  tj_priv *q = p;
  if (!q) return;
  for (int i = 0; i < q->ngroups; i++) free(q->groups[i].start);
  free(q->groups);
  free(q->entries);
  free(q->cache);
  free(q);
}

/* ------------------------------------------------------------------------ */
/* Probe                                                                    */

static size_t skip_ws(const unsigned char *h, size_t i, size_t n) {
  while (i < n && (h[i] == ' ' || h[i] == '\t' || h[i] == '\n' || h[i] == '\r')) i++;
  return i;
}

/* 1 if h[i..] starts with the JSON string "key" for one of keys. */
static int first_key_is(const unsigned char *h, size_t i, size_t n,
                        const char *const *keys) {
  for (; *keys; keys++) {
    size_t k = strlen(*keys);
    if (i + k + 2 <= n && h[i] == '"' && memcmp(h + i + 1, *keys, k) == 0 &&
        h[i + 1 + k] == '"')
      return 1;
  }
  return 0;
}

/* JSON text (every probed byte printable, tab/CR/LF or UTF-8) whose first
 * key is one of the ModelJSON keys, or an array whose first object's first
 * key is "paths" or "weights".  The sharded-safetensors index starts with
 * "metadata"/"weight_map", and a safetensors file's 8-byte length is never
 * printable, so neither is claimed here. */
int fs_tfjs_probe(const unsigned char *head, size_t n) {
  static const char *const model_keys[] = {
      "format", "generatedBy", "convertedBy", "modelTopology", "weightsManifest",
      "trainingConfig", "signature", "userDefinedMetadata", "modelInitializer",
      "initializerSignature", NULL};
  static const char *const group_keys[] = {"paths", "weights", NULL};
  for (size_t i = 0; i < n; i++)
    if (head[i] < 0x20 && head[i] != '\t' && head[i] != '\n' && head[i] != '\r')
      return 0;
  size_t i = skip_ws(head, 0, n);
  if (i < n && head[i] == '{') return first_key_is(head, skip_ws(head, i + 1, n), n, model_keys);
  if (i >= n || head[i] != '[') return 0;
  i = skip_ws(head, i + 1, n);
  if (i >= n || head[i] != '{') return 0;
  return first_key_is(head, skip_ws(head, i + 1, n), n, group_keys);
}

/* ------------------------------------------------------------------------ */
/* Shards                                                                   */

/* Shard paths are relative to the manifest's folder and must stay in it. */
static int check_shard_path(const char *p, fs_error *err) {
  if (!*p) return fs_fail(err, "empty shard path");
  if (strchr(p, ':')) return fs_fail(err, "shard path '%.200s' is a URL, not a file", p);
  if (p[0] == '/' || strchr(p, '\\'))
    return fs_fail(err, "shard path '%.200s' is not relative to the manifest folder", p);
  for (const char *s = p; *s;) {
    const char *e = strchr(s, '/');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (len == 2 && s[0] == '.' && s[1] == '.')
      return fs_fail(err, "shard path '%.200s' escapes the manifest folder", p);
    s = e ? e + 1 : s + len;
  }
  return 0;
}

static int add_shard(const char *manifest, const char *rel, fs_model *m,
                     uint64_t *size, fs_error *err) {
  FS_TRY(check_shard_path(rel, err));
  const char *slash = strrchr(manifest, '/');
  size_t dl = slash ? (size_t)(slash - manifest) + 1 : 0, rl = strlen(rel);
  char *full = malloc(dl + rl + 1);
  if (!full) return fs_fail(err, "out of memory");
  memcpy(full, manifest, dl);
  memcpy(full + dl, rel, rl + 1);
  struct stat st;
  int rc = 0;
  if (stat(full, &st) != 0)
    rc = fs_fail(err, "shard '%.200s': cannot stat: %s", rel, strerror(errno));
  else if (!S_ISREG(st.st_mode))
    rc = fs_fail(err, "shard '%.200s': not a regular file", rel);
  else {
    *size = (uint64_t)st.st_size;
    rc = fs_model_add_file(m, full, *size, err);
  }
  free(full);
  return rc;
}

static int parse_paths(const char *manifest, json_t *paths, int gi, fs_model *m,
                       tj_group *g, fs_error *err) {
  size_t np = json_array_size(paths);
  if (!json_is_array(paths) || np == 0)
    return fs_fail(err, "weights group %d: missing or empty \"paths\"", gi);
  if (np > 65536) return fs_fail(err, "weights group %d: %zu shards", gi, np);
  g->start = calloc(np + 1, sizeof *g->start);
  if (!g->start) return fs_fail(err, "out of memory");
  g->first_file = m->nfiles;
  for (size_t i = 0; i < np; i++) {
    json_t *p = json_array_get(paths, i);
    uint64_t sz = 0;
    if (!json_is_string(p) || strlen(json_string_value(p)) != json_string_length(p))
      return fs_fail(err, "weights group %d: path %zu is not a string", gi, i);
    FS_TRY(add_shard(manifest, json_string_value(p), m, &sz, err));
    if (fs_add_u64(g->start[i], sz, &g->start[i + 1]))
      return fs_fail(err, "weights group %d: shard sizes overflow", gi);
    g->nshards = (int)i + 1;
  }
  return 0;
}

/* Bytes [a, a + len) of group g's concatenation. */
static int group_read(const fs_model *m, const tj_group *g, uint64_t a, size_t len,
                      unsigned char *dst, fs_error *err) {
  int s = 0;
  while (s < g->nshards && g->start[s + 1] <= a) s++;
  while (len > 0) {
    if (s >= g->nshards) return fs_fail(err, "read past the end of the last shard");
    uint64_t in = a - g->start[s], avail = g->start[s + 1] - a;
    size_t k = avail < len ? (size_t)avail : len;
    const char *file = m->files[g->first_file + s];
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fs_fail(err, "cannot open shard %s: %s", file, strerror(errno));
    int rc = fs_read_at(fd, dst, k, in, err);
    close(fd);
    if (rc) return fs_error_prefix(err, "shard %s", file);
    dst += k;
    a += k;
    len -= k;
    s++;
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The read hook                                                            */

static void put_f64le(unsigned char *p, double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(u >> (8 * i));
}

/* Stored elements [e0, e0 + k) of tensor e, presented (not permuted). */
static int read_elems(const fs_model *m, const tj_priv *q, const tj_entry *e,
                      uint64_t e0, size_t k, unsigned char *dst, fs_error *err) {
  const tj_group *g = &q->groups[e->group];
  uint64_t a = e->voff + e0 * (uint64_t)e->esize;
  size_t sb = k * (size_t)e->esize;
  if (e->kind == TJ_RAW) return group_read(m, g, a, sb, dst, err);
  unsigned char *raw = malloc(sb ? sb : 1);
  if (!raw) return fs_fail(err, "out of memory");
  int rc = group_read(m, g, a, sb, raw, err);
  for (size_t i = 0; !rc && i < k; i++) {
    unsigned v = e->esize == 1 ? raw[i] : (unsigned)(raw[2 * i] | raw[2 * i + 1] << 8);
    double x = v * e->scale + e->min;
    /* int32 weights round as TF.js's Math.round does: halves up */
    put_f64le(dst + 8 * i, e->round_int ? floor(x + 0.5) : x);
  }
  free(raw);
  return rc;
}

/* Decode tensor ti whole and permute [k..., in, out] -> [out, in, k...]. */
static int fill_cache(const fs_model *m, tj_priv *q, int ti, fs_error *err) {
  const tj_entry *e = &q->entries[ti];
  const fs_tensor *t = &m->tensors[ti];
  size_t ps = (size_t)e->psize, nel = (size_t)(t->nbytes / ps);
  unsigned char *flat = malloc(t->nbytes ? t->nbytes : 1);
  unsigned char *out = malloc(t->nbytes ? t->nbytes : 1);
  int rc = flat && out ? read_elems(m, q, e, 0, nel, flat, err) : fs_fail(err, "out of memory");
  if (!rc) fs_tf_permute(&e->k, flat, out, ps);
  free(flat);
  free(q->cache);
  q->cache = rc ? NULL : out;
  q->cached = rc ? -1 : ti;
  if (rc) free(out);
  return rc;
}

static int tensor_index(const fs_model *m, const fs_tensor *t) {
  if (t >= m->tensors && t < m->tensors + m->ntensors) return (int)(t - m->tensors);
  return t->name ? fs_model_index(m, t->name) : -1;
}

static int tfjs_read_bytes(const fs_model *m, const fs_tensor *t, uint64_t off,
                           size_t n, void *buf, fs_error *err) {
  tj_priv *q = m->priv;
  int ti = tensor_index(m, t);
  if (ti < 0) return fs_fail(err, "not a tensor of this model");
  const tj_entry *e = &q->entries[ti];
  const fs_tensor *mt = &m->tensors[ti];
  if (off > mt->nbytes || n > mt->nbytes - off || off % (uint64_t)e->psize ||
      n % (size_t)e->psize)
    return fs_fail(err, "byte range [%" PRIu64 ", +%zu) outside the tensor", off, n);
  if (!e->k.permute) return read_elems(m, q, e, off / (uint64_t)e->psize, n / (size_t)e->psize, buf, err);
  if (q->cached != ti) FS_TRY(fill_cache(m, q, ti, err));
  memcpy(buf, q->cache + off, n);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Manifest entries                                                         */

static int parse_shape(const char *name, json_t *v, fs_tensor *t, fs_error *err) {
  size_t nd = json_array_size(v);
  if (!json_is_array(v))
    return fs_fail(err, "tensor '%s': missing or non-array \"shape\"", name);
  if (nd > FS_MAX_DIMS)
    return fs_fail(err, "tensor '%s': %zu dimensions (at most %d supported)", name, nd,
                   FS_MAX_DIMS);
  for (size_t i = 0; i < nd; i++) {
    json_t *d = json_array_get(v, i);
    if (!json_is_integer(d) || json_integer_value(d) < 0)
      return fs_fail(err, "tensor '%s': shape entry %zu is not a non-negative integer",
                     name, i);
    t->shape[i] = (int64_t)json_integer_value(d);
  }
  t->ndim = (int)nd;
  return 0;
}

/* The value type: "float32" or "int32"; the others are refused by name. */
static int value_type(const char *name, json_t *w, json_t *quant, int *is_int,
                      fs_error *err) {
  json_t *d = quant ? json_object_get(quant, "original_dtype") : NULL;
  if (!json_is_string(d)) d = json_object_get(w, "dtype");
  if (!json_is_string(d)) return fs_fail(err, "tensor '%s': missing \"dtype\"", name);
  const char *s = json_string_value(d);
  if (strcmp(s, "float32") && strcmp(s, "int32"))
    return fs_fail(err, "tensor '%s': unsupported dtype %.32s", name, s);
  *is_int = s[0] == 'i';
  return 0;
}

static int parse_quant(const char *name, json_t *quant, int is_int, tj_entry *e,
                       fs_dtype *dt, fs_error *err) {
  json_t *qd = json_object_get(quant, "dtype");
  if (!json_is_object(quant) || !json_is_string(qd))
    return fs_fail(err, "tensor '%s': \"quantization\" without a \"dtype\"", name);
  const char *s = json_string_value(qd);
  if (strcmp(s, "float16") == 0) {
    if (is_int) return fs_fail(err, "tensor '%s': float16 quantisation of int32", name);
    *dt = FS_DT_F16;
    e->esize = e->psize = 2;
    return 0;
  }
  if (strcmp(s, "uint8") && strcmp(s, "uint16"))
    return fs_fail(err, "tensor '%s': unsupported quantization dtype %.32s", name, s);
  json_t *sc = json_object_get(quant, "scale"), *mn = json_object_get(quant, "min");
  if (!json_is_number(sc) || !json_is_number(mn) || !isfinite(json_number_value(sc)) ||
      !isfinite(json_number_value(mn)))
    return fs_fail(err, "tensor '%s': %s quantisation needs finite \"scale\" and \"min\"",
                   name, s);
  e->kind = TJ_AFFINE;
  e->scale = json_number_value(sc);
  e->min = json_number_value(mn);
  e->round_int = is_int;
  e->esize = s[4] == '8' ? 1 : 2;
  e->psize = 8;
  *dt = FS_DT_F64;
  return 0;
}

static int parse_weight(json_t *w, int gi, uint64_t *voff, uint64_t gsize, fs_tensor *t,
                        tj_entry *e, fs_error *err) {
  json_t *jn = json_object_get(w, "name");
  if (!json_is_object(w) || !json_is_string(jn))
    return fs_fail(err, "weights group %d: an entry without a \"name\"", gi);
  const char *name = json_string_value(jn);
  if (!(t->name = strdup(name))) return fs_fail(err, "out of memory");
  json_t *quant = json_object_get(w, "quantization");
  int is_int = 0;
  FS_TRY(value_type(name, w, quant, &is_int, err));
  FS_TRY(parse_shape(name, json_object_get(w, "shape"), t, err));
  e->group = gi;
  e->kind = TJ_RAW;
  e->esize = e->psize = 4;
  t->dtype = is_int ? FS_DT_I32 : FS_DT_F32;
  if (quant && !json_is_null(quant)) FS_TRY(parse_quant(name, quant, is_int, e, &t->dtype, err));
  int64_t numel;
  char sh[128];
  if (!fs_tf_dims_fit(t->shape, t->ndim) || fs_shape_numel(t->shape, t->ndim, &numel) ||
      fs_mul_u64((uint64_t)numel, (uint64_t)e->esize, &e->sbytes) ||
      fs_mul_u64((uint64_t)numel, (uint64_t)e->psize, &t->nbytes))
    return fs_fail(err, "tensor '%s': shape %s overflows", name,
                   fs_shape_str(t->shape, t->ndim, sh, sizeof sh));
  uint64_t end;
  if (fs_add_u64(*voff, e->sbytes, &end) || end > gsize)
    return fs_fail(err, "tensor '%s': %" PRIu64 " bytes at offset %" PRIu64
                   " run past the end of the shards (%" PRIu64 " bytes)",
                   name, e->sbytes, *voff, gsize);
  e->voff = *voff;
  *voff = end;
  fs_tf_orient(name, t, &e->k);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Entry point                                                              */

static int load_text(int fd, uint64_t size, char **text, fs_error *err) {
  if (size > FS_ST_MAX_HEADER)
    return fs_fail(err, "%" PRIu64 " bytes is too large for a TF.js manifest", size);
  char *buf = malloc((size_t)size + 1);
  if (!buf) return fs_fail(err, "out of memory");
  if (fs_read_at(fd, buf, (size_t)size, 0, err)) {
    free(buf);
    return FS_ERR;
  }
  buf[size] = '\0';
  *text = buf;
  return 0;
}

static int add_meta_strings(json_t *root, fs_model *m, fs_error *err) {
  static const char *const keys[] = {"format", "generatedBy", "convertedBy"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    json_t *v = json_object_get(root, keys[i]);
    if (json_is_string(v))
      FS_TRY(fs_model_add_meta(m, keys[i], json_string_value(v), json_string_length(v), err));
  }
  return 0;
}

static int count_weights(json_t *man, uint64_t *n, fs_error *err) {
  *n = 0;
  for (size_t g = 0; g < json_array_size(man); g++) {
    json_t *grp = json_array_get(man, g), *w = json_object_get(grp, "weights");
    if (!json_is_object(grp) || !json_is_array(w))
      return fs_fail(err, "weights group %zu: not an object with a \"weights\" array", g);
    *n += json_array_size(w);
  }
  return 0;
}

static int fill_model(const char *path, json_t *man, fs_model *m, tj_priv *q,
                      fs_error *err) {
  uint64_t n;
  size_t ng = json_array_size(man);
  FS_TRY(count_weights(man, &n, err));
  if (ng > 65536) return fs_fail(err, "%zu weights groups", ng);
  FS_TRY(fs_model_alloc_tensors(m, n, err));
  q->groups = calloc(ng ? ng : 1, sizeof *q->groups);
  q->entries = calloc(n ? n : 1, sizeof *q->entries);
  if (!q->groups || !q->entries) return fs_fail(err, "out of memory");
  int ti = 0;
  for (size_t g = 0; g < ng; g++) {
    json_t *grp = json_array_get(man, g), *ws = json_object_get(grp, "weights");
    q->ngroups = (int)g + 1; /* first, so tj_free reaches a half-built group */
    FS_TRY(parse_paths(path, json_object_get(grp, "paths"), (int)g, m, &q->groups[g], err));
    uint64_t voff = 0, gsize = q->groups[g].start[q->groups[g].nshards];
    for (size_t i = 0; i < json_array_size(ws); i++, ti++)
      FS_TRY(parse_weight(json_array_get(ws, i), (int)g, &voff, gsize, &m->tensors[ti],
                          &q->entries[ti], err));
  }
  return 0;
}

int fs_tfjs_read(const char *path, int fd, uint64_t size, fs_model *m, fs_error *err) {
  char *text = NULL;
  FS_TRY(load_text(fd, size, &text, err));
  m->header_checksum = fs_fnv1a64(FS_FNV_OFFSET, text, (size_t)size);
  json_error_t je;
  json_t *root = json_loadb(text, (size_t)size, JSON_REJECT_DUPLICATES, &je);
  free(text);
  if (!root)
    return fs_fail(err, "invalid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
  json_t *man = json_is_array(root) ? root : json_object_get(root, "weightsManifest");
  int rc = 0;
  if (!json_is_array(man))
    rc = fs_fail(err, "not a TF.js manifest: no \"weightsManifest\" array");
  tj_priv *q = rc ? NULL : calloc(1, sizeof *q);
  if (!rc && !q) rc = fs_fail(err, "out of memory");
  if (!rc) {
    q->cached = -1;
    m->priv = q;
    m->free_priv = tj_free;
    m->read_bytes = tfjs_read_bytes;
    if (json_is_object(root)) rc = add_meta_strings(root, m, err);
  }
  if (!rc) rc = fill_model(path, man, m, q, err);
  json_decref(root);
  return rc;
}
