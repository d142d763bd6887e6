/*
 * fs_keras.c - reader for Keras HDF5 weight files (the Keras 2 "h5" format).
 *
 * Specification: Keras' legacy HDF5 saving (keras/saving/legacy/hdf5_format.py,
 * save_weights_to_hdf5_group / load_weights_from_hdf5_group):
 *   file magic   "\x89HDF\r\n\x1a\n" (HDF5 superblock at offset 0)
 *   weights root the file root (model.save_weights("w.h5")) or its group
 *                "model_weights" (full model.save("m.h5"))
 *   root attrs   layer_names: string array; keras_version, backend: strings
 *   layer group  <root>/<layer>, attr weight_names: string array such as
 *                "dense/kernel:0"; each names a dataset relative to the
 *                layer group (the '/' makes nested groups)
 *   attributes larger than the 64 KiB object-header limit are split into
 *   "<name>0", "<name>1", ... which are concatenated.
 * HDF5 itself is parsed by the HDF5 C library (serial file access).
 *
 * Tensors are named "<layer>/<weight>" without the ":0" suffix (the layer
 * is not repeated when the weight name already starts with it).  Every
 * tensor is presented as F64: the read hook reads the whole dataset through
 * H5Dread converted to native double on the first access, keeps it (one
 * dataset at a time) and returns little-endian binary64 bytes.  Layout as
 * in TF.js: 2-D kernels [in, out] get in_out = 1 (view [out, in]) except
 * "embeddings"; N-D kernels [k..., in, out] are presented as [out, in, k...]
 * with the cached bytes permuted into that order.
 * Refused by name: Keras 3 ".weights.h5" files (layers/<name>/vars/<i>, no
 * layer_names), compressed (filtered) datasets, non-numeric datasets.
 */
#include <hdf5.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_reader.h"

typedef struct kr_entry {
  char *dset; /* dataset path inside the file */
  fs_tf_kernel k;
  int ndim_stored;
  int64_t stored[FS_MAX_DIMS];
} kr_entry;

typedef struct kr_priv {
  char *path;
  int n;
  kr_entry *entries;
  int cached;
  unsigned char *cache;
} kr_priv;

static void kr_free(void *p) {
  kr_priv *q = p;
  if (!q) return;
  for (int i = 0; i < q->n; i++) free(q->entries[i].dset);
  free(q->entries);
  free(q->cache);
  free(q->path);
  free(q);
}

int fs_keras_probe(const unsigned char *head, size_t n) {
  return n >= 8 && memcmp(head, "\x89HDF\r\n\x1a\n", 8) == 0;
}

/* ------------------------------------------------------------------------ */
/* String-array attributes                                                  */

typedef struct strlist {
  char **s;
  size_t n;
} strlist;

static void strlist_free(strlist *l) {
  for (size_t i = 0; i < l->n; i++) free(l->s[i]);
  free(l->s);
  l->s = NULL;
  l->n = 0;
}

static int strlist_add(strlist *l, const char *s, size_t len, fs_error *err) {
  char **g = realloc(l->s, (l->n + 1) * sizeof *g);
  if (!g) return fs_fail(err, "out of memory");
  l->s = g;
  if (!(l->s[l->n] = fs_strndup(s, len))) return fs_fail(err, "out of memory");
  l->n++;
  return 0;
}

/* The memory type keeps the file's character set: HDF5 has no conversion
 * between ASCII and UTF-8 strings (h5py writes str as UTF-8, bytes as ASCII). */
static hid_t string_type(hid_t file_type, size_t size) {
  hid_t mt = H5Tcopy(H5T_C_S1);
  if (mt >= 0 && (H5Tset_size(mt, size) < 0 || H5Tset_cset(mt, H5Tget_cset(file_type)) < 0)) {
    H5Tclose(mt);
    return -1;
  }
  return mt;
}

static int read_vlen(hid_t a, hid_t ty, hid_t space, const char *name, size_t n,
                     strlist *l, fs_error *err) {
  char **buf = calloc(n, sizeof *buf);
  hid_t mt = string_type(ty, H5T_VARIABLE);
  int rc = 0;
  if (!buf || mt < 0 || H5Aread(a, mt, buf) < 0)
    rc = fs_fail(err, "cannot read string attribute '%s'", name);
  for (size_t i = 0; !rc && i < n; i++)
    rc = strlist_add(l, buf[i] ? buf[i] : "", buf[i] ? strlen(buf[i]) : 0, err);
  if (buf && mt >= 0) H5Dvlen_reclaim(mt, space, H5P_DEFAULT, buf);
  if (mt >= 0) H5Tclose(mt);
  free(buf);
  return rc;
}

static int read_fixed(hid_t a, hid_t ty, const char *name, size_t n, size_t width, uint64_t fsize,
                      strlist *l, fs_error *err) {
  uint64_t total;
  if (fs_mul_u64(n, width, &total) || total > fsize)
    return fs_fail(err, "attribute '%s': %zu strings of %zu bytes exceed the file", name, n,
                   width);
  char *buf = malloc(total ? (size_t)total : 1);
  hid_t mt = string_type(ty, width);
  int rc = 0;
  if (!buf || mt < 0 || H5Tset_strpad(mt, H5T_STR_NULLPAD) < 0 ||
      H5Aread(a, mt, buf) < 0)
    rc = fs_fail(err, "cannot read string attribute '%s'", name);
  for (size_t i = 0; !rc && i < n; i++)
    rc = strlist_add(l, buf + i * width, strnlen(buf + i * width, width), err);
  if (mt >= 0) H5Tclose(mt);
  free(buf);
  return rc;
}

/* Append the strings of attribute `name` of obj (scalar or 1-D). */
static int read_attr_once(hid_t obj, const char *name, uint64_t fsize, strlist *l,
                          fs_error *err) {
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return fs_fail(err, "cannot open attribute '%s'", name);
  hid_t sp = H5Aget_space(a), ty = H5Aget_type(a);
  hssize_t np = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
  int rc = 0;
  if (sp < 0 || ty < 0 || np < 0 || H5Sget_simple_extent_ndims(sp) > 1)
    rc = fs_fail(err, "attribute '%s' is not a list", name);
  else if (np == 0)
    rc = 0; /* Keras writes an empty float array for a layer without weights */
  else if (H5Tget_class(ty) != H5T_STRING)
    rc = fs_fail(err, "attribute '%s' is not a list of strings", name);
  else if ((uint64_t)np > fsize)
    rc = fs_fail(err, "attribute '%s' claims %lld strings", name, (long long)np);
  else if (H5Tis_variable_str(ty) > 0)
    rc = read_vlen(a, ty, sp, name, (size_t)np, l, err);
  else
    rc = read_fixed(a, ty, name, (size_t)np, H5Tget_size(ty), fsize, l, err);
  if (ty >= 0) H5Tclose(ty);
  if (sp >= 0) H5Sclose(sp);
  H5Aclose(a);
  return rc;
}

/* 1 if absent; chunked "<name>0", "<name>1"... when the whole one is not there. */
static int read_str_attr(hid_t obj, const char *name, uint64_t fsize, strlist *l,
                         fs_error *err) {
  if (H5Aexists(obj, name) > 0) return read_attr_once(obj, name, fsize, l, err);
  char chunk[300];
  int k = 0;
  for (;; k++) {
    snprintf(chunk, sizeof chunk, "%.280s%d", name, k);
    if (H5Aexists(obj, chunk) <= 0) break;
    FS_TRY(read_attr_once(obj, chunk, fsize, l, err));
  }
  return k == 0 ? 1 : 0;
}

/* ------------------------------------------------------------------------ */
/* Datasets                                                                 */

/* The checks that the data of dataset d exist in the file, uncompressed. */
static int check_storage(const char *name, hid_t d, uint64_t numel, uint64_t fsize,
                         fs_error *err) {
  hid_t ty = H5Dget_type(d), pl = H5Dget_create_plist(d);
  H5T_class_t cls = ty < 0 ? H5T_NO_CLASS : H5Tget_class(ty);
  size_t es = ty < 0 ? 0 : H5Tget_size(ty);
  int nf = pl < 0 ? -1 : H5Pget_nfilters(pl), rc = 0;
  int next = pl < 0 ? -1 : H5Pget_external_count(pl);
  H5D_layout_t layout = pl < 0 ? H5D_LAYOUT_ERROR : H5Pget_layout(pl);
  hsize_t stored = H5Dget_storage_size(d);
  uint64_t need;
  if (cls != H5T_FLOAT && cls != H5T_INTEGER)
    rc = fs_fail(err, "tensor '%s': dataset is not numeric (HDF5 type class %d)", name,
                 (int)cls);
  else if (layout != H5D_CONTIGUOUS && layout != H5D_CHUNKED && layout != H5D_COMPACT)
    rc = fs_fail(err, "tensor '%s': virtual dataset (data in other files) is not supported",
                 name);
  else if (next != 0)
    rc = fs_fail(err, "tensor '%s': dataset with external storage (data in other files) "
                 "is not supported", name);
  else if (nf != 0) {
    char fname[64] = "?";
    unsigned flags;
    size_t nc = 0;
    if (nf > 0) H5Pget_filter2(pl, 0, &flags, &nc, NULL, sizeof fname, fname, NULL);
    rc = fs_fail(err, "tensor '%s': filtered (compressed) dataset, filter '%s', is not "
                 "supported", name, fname);
  } else if (fs_mul_u64(numel, es, &need) || stored < need || stored > fsize)
    rc = fs_fail(err, "tensor '%s': %" PRIu64 " elements of %zu bytes but %llu bytes "
                 "stored in a %" PRIu64 "-byte file", name, numel, es,
                 (unsigned long long)stored, fsize);
  if (ty >= 0) H5Tclose(ty);
  if (pl >= 0) H5Pclose(pl);
  return rc;
}

static int describe(hid_t d, const char *name, uint64_t fsize, fs_tensor *t, kr_entry *e,
                    fs_error *err) {
  hid_t sp = H5Dget_space(d);
  int nd = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
  hsize_t dims[FS_MAX_DIMS];
  if (nd < 0 || nd > FS_MAX_DIMS) {
    if (sp >= 0) H5Sclose(sp);
    return fs_fail(err, "tensor '%s': %d dimensions (at most %d supported)", name, nd,
                   FS_MAX_DIMS);
  }
  H5Sget_simple_extent_dims(sp, dims, NULL);
  H5Sclose(sp);
  t->ndim = e->ndim_stored = nd;
  for (int i = 0; i < nd; i++) {
    if (dims[i] > (hsize_t)INT64_MAX)
      return fs_fail(err, "tensor '%s': dimension %d too large", name, i);
    t->shape[i] = e->stored[i] = (int64_t)dims[i];
  }
  int64_t numel;
  char sh[128];
  if (!fs_tf_dims_fit(t->shape, nd) || fs_shape_numel(t->shape, nd, &numel) ||
      fs_mul_u64((uint64_t)numel, 8, &t->nbytes))
    return fs_fail(err, "tensor '%s': shape %s overflows", name,
                   fs_shape_str(t->shape, nd, sh, sizeof sh));
  FS_TRY(check_storage(name, d, (uint64_t)numel, fsize, err));
  t->dtype = FS_DT_F64;
  fs_tf_orient(name, t, &e->k);
  return 0;
}

/* "<layer>/<weight>" without ":N"; the layer is not repeated. */
static char *tensor_name(const char *layer, const char *w) {
  size_t ll = strlen(layer), wl = strlen(w);
  const char *colon = strrchr(w, ':');
  if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1))
    wl = (size_t)(colon - w);
  int prefixed = wl > ll && strncmp(w, layer, ll) == 0 && w[ll] == '/';
  char *s = malloc(ll + wl + 2);
  if (!s) return NULL;
  if (prefixed)
    snprintf(s, ll + wl + 2, "%.*s", (int)wl, w);
  else
    snprintf(s, ll + wl + 2, "%s/%.*s", layer, (int)wl, w);
  return s;
}

/* dataset path: <base>/<layer>/<weight> */
static char *dset_path(const char *base, const char *layer, const char *w) {
  size_t n = strlen(base) + strlen(layer) + strlen(w) + 3;
  char *s = malloc(n);
  if (s) snprintf(s, n, "%s/%s/%s", base, layer, w);
  return s;
}

/* ------------------------------------------------------------------------ */
/* Layers                                                                   */

/* External links are not traversed: one could make the reader open any
 * file on the machine, and Keras writes none.  (Soft links stay inside the
 * file and are followed.) */
static herr_t deny_elink(const char *parent_file, const char *parent_group,
                         const char *child_file, const char *child_object,
                         unsigned *flags, hid_t fapl, void *data) {
  (void)parent_file, (void)parent_group, (void)child_file, (void)child_object;
  (void)flags, (void)fapl, (void)data;
  return -1;
}

static hid_t no_links(hid_t cls) {
  hid_t pl = H5Pcreate(cls);
  if (pl >= 0 && H5Pset_elink_cb(pl, deny_elink, NULL) < 0) {
    H5Pclose(pl);
    return -1;
  }
  return pl;
}

typedef struct kr_work {
  hid_t file;
  hid_t gapl, dapl; /* access lists that traverse no external link */
  const char *base; /* "" or "/model_weights" */
  uint64_t fsize;
  strlist layers;
  strlist *weights; /* per layer */
} kr_work;

static int collect_weights(kr_work *w, uint64_t *total, fs_error *err) {
  hid_t root = H5Gopen2(w->file, *w->base ? w->base : "/", w->gapl);
  if (root < 0) return fs_fail(err, "cannot open group '%s'", w->base);
  int rc = read_str_attr(root, "layer_names", w->fsize, &w->layers, err);
  if (rc == 1)
    rc = H5Lexists(w->file, "/layers", H5P_DEFAULT) > 0
             ? fs_fail(err, "Keras 3 .weights.h5 layout (layers/<name>/vars) is not "
                       "supported")
             : fs_fail(err, "no \"layer_names\" attribute: not a Keras HDF5 weight file");
  if (!rc && !(w->weights = calloc(w->layers.n ? w->layers.n : 1, sizeof *w->weights)))
    rc = fs_fail(err, "out of memory");
  *total = 0;
  for (size_t i = 0; !rc && i < w->layers.n; i++) {
    const char *ln = w->layers.s[i];
    hid_t g = H5Lexists(root, ln, w->gapl) > 0 ? H5Gopen2(root, ln, w->gapl) : -1;
    if (g < 0) {
      rc = fs_fail(err, "layer '%.200s': listed in layer_names but no group", ln);
      break;
    }
    rc = read_str_attr(g, "weight_names", w->fsize, &w->weights[i], err);
    if (rc == 1) rc = fs_fail(err, "layer '%.200s': no \"weight_names\" attribute", ln);
    H5Gclose(g);
    *total += w->weights[i].n;
  }
  H5Gclose(root);
  return rc;
}

static int add_tensor(kr_work *w, const char *layer, const char *wn, fs_tensor *t,
                      kr_entry *e, fs_error *err) {
  if (!(t->name = tensor_name(layer, wn)) || !(e->dset = dset_path(w->base, layer, wn)))
    return fs_fail(err, "out of memory");
  hid_t d = H5Lexists(w->file, e->dset + (*w->base ? 0 : 1), w->dapl) > 0
                ? H5Dopen2(w->file, e->dset, w->dapl)
                : -1;
  if (d < 0)
    return fs_fail(err, "tensor '%s': no dataset '%.200s' (external links are not followed)", t->name,
                   wn);
  int rc = describe(d, t->name, w->fsize, t, e, err);
  H5Dclose(d);
  return rc;
}

static void add_string_meta(hid_t file, const char *key, uint64_t fsize, fs_model *m) {
  strlist l = {0};
  fs_error ignore;
  if (H5Aexists(file, key) > 0 && read_attr_once(file, key, fsize, &l, &ignore) == 0 &&
      l.n == 1)
    fs_model_add_meta(m, key, l.s[0], strlen(l.s[0]), &ignore);
  strlist_free(&l);
}

static int fill_model(kr_work *w, fs_model *m, kr_priv *q, fs_error *err) {
  uint64_t total = 0;
  FS_TRY(collect_weights(w, &total, err));
  FS_TRY(fs_model_alloc_tensors(m, total, err));
  if (!(q->entries = calloc(total ? total : 1, sizeof *q->entries)))
    return fs_fail(err, "out of memory");
  q->n = (int)total;
  int ti = 0;
  for (size_t i = 0; i < w->layers.n; i++)
    for (size_t j = 0; j < w->weights[i].n; j++, ti++)
      FS_TRY(add_tensor(w, w->layers.s[i], w->weights[i].s[j], &m->tensors[ti],
                        &q->entries[ti], err));
  add_string_meta(w->file, "keras_version", w->fsize, m);
  add_string_meta(w->file, "backend", w->fsize, m);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The read hook                                                            */

static void put_f64le(unsigned char *p, double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(u >> (8 * i));
}

/* Read dataset of tensor ti as doubles, permute, keep as LE bytes. */
static int fill_cache(const fs_model *m, kr_priv *q, int ti, fs_error *err) {
  const kr_entry *e = &q->entries[ti];
  size_t nel = (size_t)(m->tensors[ti].nbytes / 8);
  double *v = malloc(nel ? nel * sizeof *v : 1);
  unsigned char *out = malloc(nel ? nel * 8 : 1);
  int rc = v && out ? 0 : fs_fail(err, "out of memory");
  hid_t f = rc ? -1 : H5Fopen(q->path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t dapl = f < 0 ? -1 : no_links(H5P_DATASET_ACCESS);
  hid_t d = dapl < 0 ? -1 : H5Dopen2(f, e->dset, dapl);
  if (dapl >= 0) H5Pclose(dapl);
  if (!rc && d < 0) rc = fs_fail(err, "cannot reopen dataset %s", e->dset);
  if (!rc && nel && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
    rc = fs_fail(err, "H5Dread of %s failed", e->dset);
  /* little-endian F64 bytes, in place when a permutation follows */
  unsigned char *le = e->k.permute ? (unsigned char *)v : out;
  for (size_t i = 0; !rc && i < nel; i++) put_f64le(le + 8 * i, v[i]);
  if (!rc && e->k.permute) fs_tf_permute(&e->k, le, out, 8);
  if (d >= 0) H5Dclose(d);
  if (f >= 0) H5Fclose(f);
  free(v);
  free(q->cache);
  q->cache = rc ? NULL : out;
  q->cached = rc ? -1 : ti;
  if (rc) free(out);
  return rc;
}

static int keras_read_bytes(const fs_model *m, const fs_tensor *t, uint64_t off, size_t n,
                            void *buf, fs_error *err) {
  kr_priv *q = m->priv;
  int ti = (t >= m->tensors && t < m->tensors + m->ntensors) ? (int)(t - m->tensors)
           : t->name                                          ? fs_model_index(m, t->name)
                                                              : -1;
  if (ti < 0) return fs_fail(err, "not a tensor of this model");
  if (off > m->tensors[ti].nbytes || n > m->tensors[ti].nbytes - off)
    return fs_fail(err, "byte range [%" PRIu64 ", +%zu) outside the tensor", off, n);
  if (q->cached != ti) FS_TRY(fill_cache(m, q, ti, err));
  memcpy(buf, q->cache + off, n);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Entry point                                                              */

static int read_file(const char *path, uint64_t size, fs_model *m, kr_priv *q,
                     fs_error *err) {
  kr_work w = {.base = "", .fsize = size};
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors are reported here, not printed */
  w.file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (w.file < 0) return fs_fail(err, "HDF5 library cannot open the file");
  w.gapl = no_links(H5P_GROUP_ACCESS);
  w.dapl = no_links(H5P_DATASET_ACCESS);
  if (w.gapl < 0 || w.dapl < 0) {
    if (w.gapl >= 0) H5Pclose(w.gapl);
    if (w.dapl >= 0) H5Pclose(w.dapl);
    H5Fclose(w.file);
    return fs_fail(err, "HDF5 property lists");
  }
  if (H5Lexists(w.file, "model_weights", w.gapl) > 0) w.base = "/model_weights";
  int rc = fill_model(&w, m, q, err);
  for (size_t i = 0; w.weights && i < w.layers.n; i++) strlist_free(&w.weights[i]);
  free(w.weights);
  strlist_free(&w.layers);
  H5Pclose(w.gapl);
  H5Pclose(w.dapl);
  H5Fclose(w.file);
  return rc;
}

int fs_keras_read(const char *path, int fd, uint64_t size, fs_model *m, fs_error *err) {
  (void)fd;
  kr_priv *q = calloc(1, sizeof *q);
  if (!q || !(q->path = strdup(path))) {
    free(q);
    return fs_fail(err, "out of memory");
  }
  q->cached = -1;
  m->priv = q;
  m->free_priv = kr_free;
  m->read_bytes = keras_read_bytes;
  FS_TRY(read_file(path, size, m, q, err));
  /* HDF5 has no single header block: the checksum covers what the header
   * describes, every tensor's name and stored shape, in file order. */
  uint64_t h = FS_FNV_OFFSET;
  for (int i = 0; i < m->ntensors; i++) {
    h = fs_fnv1a64(h, m->tensors[i].name, strlen(m->tensors[i].name) + 1);
    h = fs_fnv1a64(h, q->entries[i].stored, sizeof(int64_t) * (size_t)q->entries[i].ndim_stored);
  }
  m->header_checksum = h;
  return 0;
}
