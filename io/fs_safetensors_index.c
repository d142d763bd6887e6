/*
 * fs_safetensors_index.c - sharded safetensors checkpoints.
 *
 * Specification: the Hugging Face convention for checkpoints split across
 * several safetensors files (transformers' save_pretrained / huggingface_hub
 * split_torch_state_dict_into_shards).  model.safetensors.index.json is
 *   {"metadata": {"total_size": 123, ...},
 *    "weight_map": {"tensor name": "model-00001-of-00002.safetensors", ...}}
 * and each shard is an ordinary safetensors file (see fs_safetensors.c) in
 * the same folder.  The model's files are the index (files[0], no tensors)
 * followed by the shards, in order of first appearance in the weight_map.
 *
 * Nothing in the index is trusted: its size is bounded before it is read,
 * a shard name must stay inside the index's folder (no leading '/', no ".."
 * component), every shard is parsed with the safetensors checks, and the
 * weight_map must match the shards exactly: each listed tensor is found in
 * its shard, once, and no shard holds a tensor the map does not list.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_reader.h"

/* Real index files are tens of kilobytes (one line per tensor); 16 MiB
 * leaves room for 100 000s of tensors and bounds a hostile claim. */
#define INDEX_MAX_BYTES ((uint64_t)16 << 20)

/* ------------------------------------------------------------------------ */
/* The index text                                                           */

static int read_index(int fd, uint64_t size, json_t **root, uint64_t *checksum,
                      fs_error *err) {
  if (size > INDEX_MAX_BYTES)
    return fs_fail(err, "index of %" PRIu64 " bytes exceeds the %" PRIu64 " MiB limit",
                   size, INDEX_MAX_BYTES >> 20);
  char *text = malloc((size_t)size);
  if (!text) return fs_fail(err, "out of memory for a %" PRIu64 "-byte index", size);
  if (fs_read_at(fd, text, (size_t)size, 0, err)) {
    free(text);
    return FS_ERR;
  }
  *checksum = fs_fnv1a64(FS_FNV_OFFSET, text, (size_t)size);
  json_error_t je;
  *root = json_loadb(text, (size_t)size, JSON_REJECT_DUPLICATES, &je);
  free(text);
  if (!*root)
    return fs_fail(err, "index: invalid JSON: %s (line %d, column %d)", je.text, je.line,
                   je.column);
  if (!json_is_object(*root)) return fs_fail(err, "index: not a JSON object");
  return 0;
}

/* Scalars as text ("total_size" is a number); arrays and objects are
 * summarised so that every key stays visible. */
static int add_meta_value(fs_model *m, const char *key, json_t *v, fs_error *err) {
  char buf[64];
  const char *text = buf;
  switch (json_typeof(v)) {
  case JSON_STRING:
    return fs_model_add_meta(m, key, json_string_value(v), json_string_length(v), err);
  case JSON_INTEGER:
    snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    break;
  case JSON_REAL: fs_format_double(buf, sizeof buf, json_real_value(v)); break;
  case JSON_TRUE: text = "true"; break;
  case JSON_FALSE: text = "false"; break;
  case JSON_NULL: text = "null"; break;
  case JSON_ARRAY: snprintf(buf, sizeof buf, "[%zu values]", json_array_size(v)); break;
  case JSON_OBJECT: snprintf(buf, sizeof buf, "{%zu keys}", json_object_size(v)); break;
  }
  return fs_model_add_meta(m, key, text, strlen(text), err);
}

static int parse_metadata(json_t *meta, fs_model *m, fs_error *err) {
  if (!meta) return 0;
  if (!json_is_object(meta)) return fs_fail(err, "index: \"metadata\" is not a JSON object");
  const char *key;
  json_t *val;
  json_object_foreach(meta, key, val) FS_TRY(add_meta_value(m, key, val, err));
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Shards                                                                   */

/* A shard is named relative to the index's folder and must stay inside it. */
static int check_shard_name(const char *tensor, const char *shard, fs_error *err) {
  if (shard[0] == '\0')
    return fs_fail(err, "tensor '%s': empty shard name in the weight_map", tensor);
  if (shard[0] == '/')
    return fs_fail(err, "tensor '%s': shard '%s' is an absolute path (shards must be "
                   "inside the index's folder)", tensor, shard);
  /* Look at each '/'-separated component for "..". */
  for (const char *p = shard; p; p = strchr(p, '/'), p = p ? p + 1 : NULL)
    if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0'))
      return fs_fail(err, "tensor '%s': shard '%s' escapes the index's folder", tensor,
                     shard);
  return 0;
}

/* The index's folder joined with a shard name. */
static char *shard_path(const char *index, const char *shard) {
  const char *slash = strrchr(index, '/');
  size_t dirlen = slash ? (size_t)(slash - index) + 1 : 0, n = strlen(shard);
  char *p = malloc(dirlen + n + 1);
  if (!p) return NULL;
  memcpy(p, index, dirlen);
  memcpy(p + dirlen, shard, n + 1);
  return p;
}

/* Open, register and parse one shard; its header checksum is folded into
 * the model's. */
static int read_shard(const char *index, const char *shard, fs_model *m, fs_error *err) {
  char *path = shard_path(index, shard);
  if (!path) return fs_fail(err, "out of memory");
  int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
  struct stat st;
  if (fd < 0)
    rc = fs_fail(err, "cannot open: %s", strerror(errno));
  else if (fstat(fd, &st) != 0)
    rc = fs_fail(err, "cannot stat: %s", strerror(errno));
  else if (!S_ISREG(st.st_mode))
    rc = fs_fail(err, "not a regular file");
  if (!rc) rc = fs_model_add_file(m, path, (uint64_t)st.st_size, err);
  uint64_t sum = 0;
  if (!rc) rc = fs_safetensors_read_shard(fd, (uint64_t)st.st_size, m->nfiles - 1, m, &sum,
                                          err);
  if (fd >= 0) close(fd);
  free(path);
  if (rc) return fs_error_prefix(err, "shard '%s'", shard);
  unsigned char b[8];
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(sum >> (8 * i));
  m->header_checksum = fs_fnv1a64(m->header_checksum, b, sizeof b);
  return 0;
}

/* Read every distinct shard once, in order of first appearance. */
static int read_shards(const char *index, json_t *wmap, fs_model *m, fs_error *err) {
  json_t *seen = json_object();
  if (!seen) return fs_fail(err, "out of memory");
  const char *name;
  json_t *v;
  int rc = 0;
  json_object_foreach(wmap, name, v) {
    if (!json_is_string(v)) {
      rc = fs_fail(err, "tensor '%s': weight_map value is not a string", name);
      break;
    }
    const char *shard = json_string_value(v);
    if (json_object_get(seen, shard)) continue;
    if ((rc = check_shard_name(name, shard, err))) break;
    if ((rc = read_shard(index, shard, m, err))) break;
    if (json_object_set_new(seen, shard, json_true())) {
      rc = fs_fail(err, "out of memory");
      break;
    }
  }
  json_decref(seen);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* The weight_map against the shards                                        */

static int by_name(const void *a, const void *b) {
  return strcmp((*(const fs_tensor *const *)a)->name, (*(const fs_tensor *const *)b)->name);
}

/* By name, then file: a name found in two shards is reported in shard order. */
static int by_name_file(const void *a, const void *b) {
  const fs_tensor *x = *(const fs_tensor *const *)a, *y = *(const fs_tensor *const *)b;
  int c = strcmp(x->name, y->name);
  return c ? c : (x->file > y->file) - (x->file < y->file);
}

/* The shard name of a file index (files[i] is the folder + that name). */
static const char *shard_of(const fs_model *m, int file, size_t dirlen) {
  return m->files[file] + dirlen;
}

/* Each shard tensor is listed, for its own shard, and appears once. */
static int check_tensors(const fs_model *m, json_t *wmap, const fs_tensor **idx,
                         size_t dirlen, fs_error *err) {
  int n = m->ntensors;
  for (int i = 1; i < n; i++)
    if (strcmp(idx[i - 1]->name, idx[i]->name) == 0)
      return fs_fail(err, "tensor '%s': found in shard '%s' and in shard '%s'",
                     idx[i]->name, shard_of(m, idx[i - 1]->file, dirlen),
                     shard_of(m, idx[i]->file, dirlen));
  for (int i = 0; i < n; i++) {
    const fs_tensor *t = idx[i];
    const char *listed = json_string_value(json_object_get(wmap, t->name));
    if (!listed)
      return fs_fail(err, "tensor '%s': in shard '%s' but not in the weight_map", t->name,
                     shard_of(m, t->file, dirlen));
    if (strcmp(listed, shard_of(m, t->file, dirlen)) != 0)
      return fs_fail(err, "tensor '%s': the weight_map puts it in shard '%s' but it is "
                     "in shard '%s'", t->name, listed, shard_of(m, t->file, dirlen));
  }
  return 0;
}

/* Every weight_map entry names a tensor that its shard holds. */
static int check_listed(const fs_model *m, json_t *wmap, const fs_tensor **idx,
                        fs_error *err) {
  const char *name;
  json_t *v;
  json_object_foreach(wmap, name, v) {
    fs_tensor key = {.name = (char *)name};
    const fs_tensor *kp = &key;
    if (!bsearch(&kp, idx, (size_t)m->ntensors, sizeof *idx, by_name))
      return fs_fail(err, "tensor '%s': listed in the weight_map but not found in "
                     "shard '%s'", name, json_string_value(v));
  }
  return 0;
}

static int check_map(const char *index, const fs_model *m, json_t *wmap, fs_error *err) {
  const char *slash = strrchr(index, '/');
  size_t dirlen = slash ? (size_t)(slash - index) + 1 : 0;
  size_t n = (size_t)m->ntensors;
  const fs_tensor **idx = malloc((n ? n : 1) * sizeof *idx);
  if (!idx) return fs_fail(err, "out of memory");
  for (size_t i = 0; i < n; i++) idx[i] = &m->tensors[i];
  qsort(idx, n, sizeof *idx, by_name_file);
  int rc = check_tensors(m, wmap, idx, dirlen, err);
  if (!rc) rc = check_listed(m, wmap, idx, err);
  free(idx);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Entry points                                                             */

static int fill_model(const char *path, json_t *root, fs_model *m, fs_error *err) {
  json_t *wmap = json_object_get(root, "weight_map");
  if (!json_is_object(wmap))
    return fs_fail(err, "index: missing or non-object \"weight_map\"");
  FS_TRY(parse_metadata(json_object_get(root, "metadata"), m, err));
  FS_TRY(fs_model_alloc_tensors(m, 0, err));
  FS_TRY(read_shards(path, wmap, m, err));
  FS_TRY(check_map(path, m, wmap, err));
  return fs_safetensors_load_config(path, m, err);
}

int fs_safetensors_index_read(const char *path, int fd, uint64_t size, fs_model *m,
                              fs_error *err) {
  json_t *root = NULL;
  int rc = read_index(fd, size, &root, &m->header_checksum, err);
  if (!rc) rc = fill_model(path, root, m, err);
  json_decref(root);
  return rc;
}

/* JSON text: '{' first, then only printable ASCII and whitespace.  A binary
 * safetensors file fails this on the NUL bytes of its length field. */
int fs_safetensors_index_probe(const unsigned char *head, size_t n) {
  if (n < 2 || head[0] != '{') return 0;
  for (size_t i = 1; i < n; i++)
    if (!((head[i] >= 0x20 && head[i] < 0x7f) || head[i] == '\t' || head[i] == '\n' ||
          head[i] == '\r'))
      return 0;
  return 1;
}
