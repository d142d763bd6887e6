/*
 * fs_onnx.c - reader for ONNX models (weights only).
 *
 * Specification: the ONNX IR (https://onnx.ai, docs/IR.md) and its protobuf
 * schema onnx.proto.  A model file is one serialised ModelProto; its weights
 * are TensorProto messages in graph.initializer and in the 'value' attribute
 * of Constant nodes, in the main graph and in the subgraphs held by node
 * attributes of type GRAPH/GRAPHS (If branches, Loop/Scan bodies).
 *
 * The parser is generated at build time by protoc-c from the onnx.proto of
 * Debian's libonnx-dev (io/CMakeLists.txt); no schema is copied here.  A
 * protobuf message carries no total length and no magic, so:
 *   - the file size is bounded first (2 GiB, protobuf's own message limit),
 *   - the wire format is walked once, guided by the generated descriptors,
 *     checking every length against the bytes that remain and bounding the
 *     nesting depth (protobuf-c itself recurses without a bound),
 *   - only then does onnx__model_proto__unpack build the message.
 * protobuf-c holds the whole message in memory; this is done once at open
 * and the model's read_bytes hook serves tensor bytes from it afterwards.
 *
 * TensorProto data: raw_data (little-endian, the element layout of fs_dtype)
 * is served as is; the typed fields (float_data, double_data, int32_data,
 * int64_data) are converted at open into a little-endian buffer.  By the
 * specification int32_data also carries FLOAT16/BFLOAT16 bit patterns and
 * INT8/UINT8/INT16/UINT16 values.  External data, segments, sparse tensors
 * and other element types are refused by name.
 *
 * Layout: ONNX MatMul computes A B, so a weight in its B input is [in, out]
 * (Paddle and TF export Linear/Dense this way), as is Gemm's B unless
 * transB = 1.  Such 2-D tensors are marked in_out so that the [out, in] view
 * of SPEC section 2 is presented; Conv weights are [c_out, c_in, kh, kw].
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fs_reader.h"
#include "onnx.pb-c.h"

/* protobuf refuses messages of 2 GiB and more; so does ONNX. */
#define ONNX_MAX_BYTES ((uint64_t)INT32_MAX)
/* Nesting of messages inside messages (C++ protobuf's default limit). */
#define ONNX_MAX_DEPTH 100
/* Doc strings are kept as metadata up to this many bytes. */
#define ONNX_DOC_MAX 200

/* Bytes of one tensor: a region of the unpacked message (raw_data) or a
 * buffer converted from a typed field (owned). */
typedef struct onnx_data {
  const unsigned char *bytes;
  uint64_t len;
  unsigned char *owned;
} onnx_data;

typedef struct onnx_priv {
  Onnx__ModelProto *proto;
  int n;
  onnx_data *data; /* indexed by fs_tensor.offset */
} onnx_priv;

/* A TensorProto found in the graph, named as the model refers to it. */
typedef struct found {
  const char *name;
  const Onnx__TensorProto *tp;
} found;

/* What the graph walk collects: tensors, and the names fed to the [in, out]
 * inputs of MatMul / Gemm. */
typedef struct walk {
  found *t;
  size_t nt, capt;
  const char **inout;
  size_t ni, capi;
  const char **use; /* node inputs in graph order, for fs_tensor.use_order */
  size_t nu, capu;
} walk;

static void free_priv(void *v) {
  onnx_priv *p = v;
  if (!p) return;
  for (int i = 0; i < p->n; i++) free(p->data[i].owned);
  free(p->data);
  if (p->proto) onnx__model_proto__free_unpacked(p->proto, NULL);
  free(p);
}

/* ------------------------------------------------------------------------ */
/* The wire format, checked before protobuf-c sees it                       */

/* A base-128 varint at p[*i] (at most 10 bytes, all inside len). */
static int get_varint(const unsigned char *p, size_t len, size_t *i, uint64_t *v) {
  uint64_t x = 0;
  for (int k = 0; k < 10 && *i < len; k++) {
    unsigned char b = p[(*i)++];
    x |= (uint64_t)(b & 0x7f) << (7 * k);
    if (!(b & 0x80)) {
      *v = x;
      return 0;
    }
  }
  return -1;
}

/* One message of len bytes at p, which is byte `base` of the file. */
typedef struct scan {
  const unsigned char *p;
  size_t len;
  uint64_t base;
  const ProtobufCMessageDescriptor *d;
  int depth;
} scan;

static int scan_message(const scan *s, fs_error *err);

/* One length-delimited field whose key starts at byte `at`: its bytes must
 * lie inside the message, and a nested message is checked in turn. */
static int scan_delimited(const scan *s, size_t *i, uint64_t at, uint32_t id,
                          fs_error *err) {
  uint64_t n;
  const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(s->d, id);
  const char *fname = f ? f->name : "unknown";
  if (get_varint(s->p, s->len, i, &n))
    return fs_fail(err, "truncated protobuf: length of field %u (%s) of %s at byte %"
                   PRIu64 " is cut off", id, fname, s->d->name, at);
  if (n > s->len - *i)
    return fs_fail(err, "truncated or corrupt protobuf: field %u (%s) of %s at byte %"
                   PRIu64 " claims %" PRIu64 " bytes, only %zu remain", id, fname,
                   s->d->name, at, n, s->len - *i);
  if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
    scan sub = {s->p + *i, (size_t)n, s->base + *i, f->descriptor, s->depth + 1};
    FS_TRY(scan_message(&sub, err));
  }
  *i += (size_t)n;
  return 0;
}

static int scan_message(const scan *s, fs_error *err) {
  if (s->depth > ONNX_MAX_DEPTH)
    return fs_fail(err, "protobuf messages nested deeper than %d at byte %" PRIu64,
                   ONNX_MAX_DEPTH, s->base);
  size_t i = 0;
  while (i < s->len) {
    uint64_t at = s->base + i, key, v;
    if (get_varint(s->p, s->len, &i, &key) || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
      return fs_fail(err, "corrupt protobuf: bad field key in %s at byte %" PRIu64,
                     s->d->name, at);
    uint32_t id = (uint32_t)(key >> 3);
    switch (key & 7) {
    case 0:
      if (get_varint(s->p, s->len, &i, &v))
        return fs_fail(err, "truncated protobuf: varint field %u of %s at byte %"
                       PRIu64 " is cut off", id, s->d->name, at);
      break;
    case 1:
    case 5: {
      size_t w = (key & 7) == 1 ? 8 : 4;
      if (w > s->len - i)
        return fs_fail(err, "truncated protobuf: fixed field %u of %s at byte %"
                       PRIu64 " is cut off", id, s->d->name, at);
      i += w;
      break;
    }
    case 2: FS_TRY(scan_delimited(s, &i, at, id, err)); break;
    default: /* 3, 4: groups, which onnx.proto does not use; 6, 7: invalid */
      return fs_fail(err, "corrupt protobuf: wire type %u of field %u in %s at byte %"
                     PRIu64, (unsigned)(key & 7), id, s->d->name, at);
    }
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Reading and unpacking                                                    */

static int unpack_file(int fd, uint64_t size, fs_model *m, Onnx__ModelProto **out,
                       fs_error *err) {
  if (size > ONNX_MAX_BYTES)
    return fs_fail(err, "%" PRIu64 " bytes is more than the 2 GiB a protobuf "
                   "message (an ONNX model) may hold", size);
  unsigned char *buf = malloc((size_t)size);
  if (!buf) return fs_fail(err, "out of memory for a %" PRIu64 "-byte model", size);
  int rc = fs_read_at(fd, buf, (size_t)size, 0, err);
  scan whole = {buf, (size_t)size, 0, &onnx__model_proto__descriptor, 0};
  if (!rc) rc = scan_message(&whole, err);
  if (!rc) {
    m->header_checksum = fs_fnv1a64(FS_FNV_OFFSET, buf, (size_t)size);
    *out = onnx__model_proto__unpack(NULL, (size_t)size, buf);
    if (!*out)
      rc = fs_fail(err, "not a valid ONNX ModelProto (protobuf-c could not unpack it)");
  }
  free(buf);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Walking the graphs                                                       */

static int grow(void **arr, size_t *cap, size_t n, size_t elem, fs_error *err) {
  if (n < *cap) return 0;
  size_t c = *cap ? 2 * *cap : 64;
  void *p = realloc(*arr, c * elem);
  if (!p) return fs_fail(err, "out of memory");
  *arr = p;
  *cap = c;
  return 0;
}

static int add_found(walk *w, const char *name, const Onnx__TensorProto *tp,
                     fs_error *err) {
  FS_TRY(grow((void **)&w->t, &w->capt, w->nt, sizeof *w->t, err));
  w->t[w->nt++] = (found){name, tp};
  return 0;
}

static int add_inout(walk *w, const char *name, fs_error *err) {
  FS_TRY(grow((void **)&w->inout, &w->capi, w->ni, sizeof *w->inout, err));
  w->inout[w->ni++] = name;
  return 0;
}

static int is_onnx_domain(const char *d) {
  return !d || !*d || strcmp(d, "ai.onnx") == 0;
}

static int64_t int_attr(const Onnx__NodeProto *nd, const char *name, int64_t dflt) {
  for (size_t a = 0; a < nd->n_attribute; a++)
    if (nd->attribute[a]->name && strcmp(nd->attribute[a]->name, name) == 0)
      return nd->attribute[a]->i;
  return dflt;
}

static const char *node_label(const Onnx__NodeProto *nd) {
  return nd->name && *nd->name ? nd->name : "(unnamed)";
}

/* A Constant node's tensor is named by its output. */
static int walk_constant(const Onnx__NodeProto *nd, walk *w, fs_error *err) {
  const char *out = nd->n_output ? nd->output[0] : NULL;
  for (size_t a = 0; a < nd->n_attribute; a++) {
    const Onnx__AttributeProto *at = nd->attribute[a];
    if (!at->name) continue;
    if (strcmp(at->name, "sparse_value") == 0)
      return fs_fail(err, "tensor '%s': sparse tensors (Constant sparse_value) are "
                     "not supported", out ? out : node_label(nd));
    if (strcmp(at->name, "value") != 0 || !at->t) continue;
    if (!out || !*out)
      return fs_fail(err, "Constant node '%s' has no output name", node_label(nd));
    FS_TRY(add_found(w, out, at->t, err));
  }
  return 0;
}

static int walk_graph(const Onnx__GraphProto *g, walk *w, fs_error *err);

static int walk_node(const Onnx__NodeProto *nd, walk *w, fs_error *err) {
  const char *op = nd->op_type ? nd->op_type : "";
  for (size_t i = 0; i < nd->n_input; i++)
    if (nd->input[i] && *nd->input[i]) {
      FS_TRY(grow((void **)&w->use, &w->capu, w->nu, sizeof *w->use, err));
      w->use[w->nu++] = nd->input[i];
    }
  if (is_onnx_domain(nd->domain)) {
    if (strcmp(op, "Constant") == 0) FS_TRY(walk_constant(nd, w, err));
    /* B of MatMul, and of Gemm without transB, is [in, out]. */
    if (nd->n_input >= 2 && nd->input[1] && *nd->input[1] &&
        (strcmp(op, "MatMul") == 0 ||
         (strcmp(op, "Gemm") == 0 && int_attr(nd, "transB", 0) == 0)))
      FS_TRY(add_inout(w, nd->input[1], err));
  }
  for (size_t a = 0; a < nd->n_attribute; a++) {
    const Onnx__AttributeProto *at = nd->attribute[a];
    if (at->g) FS_TRY(walk_graph(at->g, w, err));
    for (size_t k = 0; k < at->n_graphs; k++) FS_TRY(walk_graph(at->graphs[k], w, err));
  }
  return 0;
}

/* Depth is bounded by the wire scan (ONNX_MAX_DEPTH messages). */
static int walk_graph(const Onnx__GraphProto *g, walk *w, fs_error *err) {
  if (g->n_sparse_initializer) {
    const Onnx__SparseTensorProto *s = g->sparse_initializer[0];
    const char *name = s->values && s->values->name ? s->values->name : "(unnamed)";
    return fs_fail(err, "tensor '%s': sparse initializers are not supported", name);
  }
  for (size_t i = 0; i < g->n_initializer; i++) {
    const Onnx__TensorProto *tp = g->initializer[i];
    if (!tp->name || !*tp->name)
      return fs_fail(err, "initializer %zu of graph '%s' has no name", i,
                     g->name ? g->name : "");
    FS_TRY(add_found(w, tp->name, tp, err));
  }
  for (size_t i = 0; i < g->n_node; i++) FS_TRY(walk_node(g->node[i], w, err));
  return 0;
}

/* ------------------------------------------------------------------------ */
/* One TensorProto                                                          */

/* How an ONNX element type is stored: its fs_dtype and, when raw_data is
 * absent, the typed field holding it with the range of a value there. */
typedef enum { F_FLOAT, F_DOUBLE, F_INT32, F_INT64 } typed_field;

typedef struct onnx_type {
  int onnx;
  const char *name;
  fs_dtype dt;
  typed_field field;
  int64_t lo, hi; /* range of int32_data values */
} onnx_type;

static const onnx_type types[] = {
    {ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, "FLOAT", FS_DT_F32, F_FLOAT, 0, 0},
    {ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, "DOUBLE", FS_DT_F64, F_DOUBLE, 0, 0},
    {ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, "FLOAT16", FS_DT_F16, F_INT32, 0, 65535},
    {ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16, "BFLOAT16", FS_DT_BF16, F_INT32, 0, 65535},
    {ONNX__TENSOR_PROTO__DATA_TYPE__INT8, "INT8", FS_DT_I8, F_INT32, -128, 127},
    {ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, "UINT8", FS_DT_U8, F_INT32, 0, 255},
    {ONNX__TENSOR_PROTO__DATA_TYPE__INT16, "INT16", FS_DT_I16, F_INT32, -32768, 32767},
    {ONNX__TENSOR_PROTO__DATA_TYPE__UINT16, "UINT16", FS_DT_U16, F_INT32, 0, 65535},
    {ONNX__TENSOR_PROTO__DATA_TYPE__INT32, "INT32", FS_DT_I32, F_INT32, INT32_MIN, INT32_MAX},
    {ONNX__TENSOR_PROTO__DATA_TYPE__INT64, "INT64", FS_DT_I64, F_INT64, 0, 0},
};

/* Names of the element types refused, for the message. */
static const char *const refused_types[] = {
    [ONNX__TENSOR_PROTO__DATA_TYPE__UNDEFINED] = "UNDEFINED",
    [ONNX__TENSOR_PROTO__DATA_TYPE__STRING] = "STRING",
    [ONNX__TENSOR_PROTO__DATA_TYPE__BOOL] = "BOOL",
    [ONNX__TENSOR_PROTO__DATA_TYPE__UINT32] = "UINT32",
    [ONNX__TENSOR_PROTO__DATA_TYPE__UINT64] = "UINT64",
    [ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX64] = "COMPLEX64",
    [ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX128] = "COMPLEX128",
};

static int find_type(const char *name, const Onnx__TensorProto *tp, const onnx_type **ty,
                     fs_error *err) {
  int code = tp->has_data_type ? tp->data_type : 0;
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (types[i].onnx == code) {
      *ty = &types[i];
      return 0;
    }
  int nref = (int)(sizeof refused_types / sizeof refused_types[0]);
  const char *tn = code >= 0 && code < nref && refused_types[code] ? refused_types[code] : NULL;
  if (tn) return fs_fail(err, "tensor '%s': ONNX element type %s is not supported", name, tn);
  return fs_fail(err, "tensor '%s': unknown ONNX element type %d", name, code);
}

static int check_layout(const char *name, const Onnx__TensorProto *tp, fs_error *err) {
  if ((tp->has_data_location &&
       tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) ||
      tp->n_external_data) {
    const char *loc = "?";
    for (size_t i = 0; i < tp->n_external_data; i++)
      if (tp->external_data[i]->key && strcmp(tp->external_data[i]->key, "location") == 0 &&
          tp->external_data[i]->value)
        loc = tp->external_data[i]->value;
    return fs_fail(err, "tensor '%s': external data (data_location EXTERNAL, "
                   "location '%.128s') is not supported", name, loc);
  }
  if (tp->segment)
    return fs_fail(err, "tensor '%s': segmented tensors (TensorProto.segment) are not "
                   "supported", name);
  return 0;
}

static int set_shape(const char *name, const Onnx__TensorProto *tp, fs_tensor *t,
                     int64_t *numel, fs_error *err) {
  if (tp->n_dims > FS_MAX_DIMS)
    return fs_fail(err, "tensor '%s': %zu dimensions (at most %d supported)", name,
                   tp->n_dims, FS_MAX_DIMS);
  for (size_t i = 0; i < tp->n_dims; i++) {
    if (tp->dims[i] < 0)
      return fs_fail(err, "tensor '%s': negative dimension %" PRId64, name, tp->dims[i]);
    t->shape[i] = tp->dims[i];
  }
  t->ndim = (int)tp->n_dims;
  char sh[160];
  if (fs_shape_numel(t->shape, t->ndim, numel) ||
      fs_dtype_nbytes(t->dtype, (uint64_t)*numel, &t->nbytes))
    return fs_fail(err, "tensor '%s': shape %s overflows", name,
                   fs_shape_str(t->shape, t->ndim, sh, sizeof sh));
  return 0;
}

static void put_le(unsigned char *p, uint64_t v, int n) {
  for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Number of values in the typed field f; typed_total counts all of them. */
static size_t typed_count(const Onnx__TensorProto *tp, typed_field f) {
  switch (f) {
  case F_FLOAT: return tp->n_float_data;
  case F_DOUBLE: return tp->n_double_data;
  case F_INT32: return tp->n_int32_data;
  default: return tp->n_int64_data;
  }
}

static size_t typed_total(const Onnx__TensorProto *tp) {
  return tp->n_float_data + tp->n_double_data + tp->n_int32_data + tp->n_int64_data +
         tp->n_uint64_data + tp->n_string_data;
}

static const char *const field_names[] = {"float_data", "double_data", "int32_data",
                                          "int64_data"};

/* Convert n values of the typed field into the fs_dtype's little-endian
 * layout; int32_data values must fit the element type. */
static int convert_typed(const char *name, const Onnx__TensorProto *tp,
                         const onnx_type *ty, size_t n, unsigned char *out,
                         fs_error *err) {
  int w = (int)fs_dtype_size(ty->dt);
  for (size_t i = 0; i < n; i++) {
    uint64_t bits;
    if (ty->field == F_FLOAT) {
      uint32_t u;
      memcpy(&u, &tp->float_data[i], 4);
      bits = u;
    } else if (ty->field == F_DOUBLE) {
      memcpy(&bits, &tp->double_data[i], 8);
    } else if (ty->field == F_INT64) {
      bits = (uint64_t)tp->int64_data[i];
    } else {
      int64_t v = tp->int32_data[i];
      if (v < ty->lo || v > ty->hi)
        return fs_fail(err, "tensor '%s': int32_data value %" PRId64 " at %zu is out of "
                       "range for %s", name, v, i, ty->name);
      bits = (uint64_t)v;
    }
    put_le(out + (size_t)w * i, bits, w);
  }
  return 0;
}

static int tensor_data(const char *name, const Onnx__TensorProto *tp, const onnx_type *ty,
                       const fs_tensor *t, int64_t numel, onnx_data *d, fs_error *err) {
  size_t have = typed_count(tp, ty->field), total = typed_total(tp);
  if (tp->has_raw_data) {
    if (total)
      return fs_fail(err, "tensor '%s': both raw_data and typed data fields", name);
    if ((uint64_t)tp->raw_data.len != t->nbytes) {
      char sh[160];
      return fs_fail(err, "tensor '%s': raw_data holds %zu bytes but shape %s of %s "
                     "needs %" PRIu64, name, tp->raw_data.len,
                     fs_shape_str(t->shape, t->ndim, sh, sizeof sh), ty->name, t->nbytes);
    }
    d->bytes = tp->raw_data.data;
    d->len = t->nbytes;
    return 0;
  }
  if (have != total)
    return fs_fail(err, "tensor '%s': %s data stored outside %s", name, ty->name,
                   field_names[ty->field]);
  if ((uint64_t)have != (uint64_t)numel)
    return fs_fail(err, "tensor '%s': %s holds %zu values but the dims give %" PRId64,
                   name, field_names[ty->field], have, numel);
  d->len = t->nbytes;
  if (have == 0) return 0;
  d->owned = malloc((size_t)t->nbytes); /* nbytes = have * element size: in memory */
  if (!d->owned) return fs_fail(err, "tensor '%s': out of memory", name);
  d->bytes = d->owned;
  return convert_typed(name, tp, ty, have, d->owned, err);
}

static int fill_tensor(const found *f, int index, fs_tensor *t, onnx_data *d,
                       fs_error *err) {
  const onnx_type *ty = NULL;
  int64_t numel = 0;
  t->name = strdup(f->name);
  if (!t->name) return fs_fail(err, "out of memory");
  FS_TRY(check_layout(f->name, f->tp, err));
  FS_TRY(find_type(f->name, f->tp, &ty, err));
  t->dtype = ty->dt;
  t->file = 0;
  t->offset = (uint64_t)index; /* the tensor's entry in onnx_priv.data */
  FS_TRY(set_shape(f->name, f->tp, t, &numel, err));
  return tensor_data(f->name, f->tp, ty, t, numel, d, err);
}

/* ------------------------------------------------------------------------ */
/* [in, out] weights                                                        */

static int by_name(const void *a, const void *b) {
  return strcmp((*(const fs_tensor *const *)a)->name, (*(const fs_tensor *const *)b)->name);
}

/* The order in which the graph first reads each tensor: a rule that follows
 * the dataflow (the Paddle rule of fs_graph_paddle.c) sorts layers by it. */
static int mark_use_order(fs_model *m, const walk *w, fs_error *err) {
  if (!m->ntensors || !w->nu) return 0;
  fs_tensor **idx = malloc((size_t)m->ntensors * sizeof *idx);
  if (!idx) return fs_fail(err, "out of memory");
  for (int i = 0; i < m->ntensors; i++) idx[i] = &m->tensors[i];
  qsort(idx, (size_t)m->ntensors, sizeof *idx, by_name);
  for (size_t k = 0; k < w->nu; k++) {
    fs_tensor key = {.name = (char *)w->use[k]}, *kp = &key;
    fs_tensor **hit = bsearch(&kp, idx, (size_t)m->ntensors, sizeof *idx, by_name);
    if (hit && !(*hit)->use_order) (*hit)->use_order = (int64_t)k + 1;
  }
  free(idx);
  return 0;
}

/* Present the 2-D tensors that feed MatMul/Gemm B as [out, in]. */
static int mark_in_out(fs_model *m, const walk *w, fs_error *err) {
  if (!m->ntensors || !w->ni) return 0;
  fs_tensor **idx = malloc((size_t)m->ntensors * sizeof *idx);
  if (!idx) return fs_fail(err, "out of memory");
  for (int i = 0; i < m->ntensors; i++) idx[i] = &m->tensors[i];
  qsort(idx, (size_t)m->ntensors, sizeof *idx, by_name);
  for (size_t k = 0; k < w->ni; k++) {
    fs_tensor key = {.name = (char *)w->inout[k]}, *kp = &key;
    fs_tensor **hit = bsearch(&kp, idx, (size_t)m->ntensors, sizeof *idx, by_name);
    if (!hit || (*hit)->ndim != 2 || (*hit)->in_out) continue;
    fs_tensor *t = *hit;
    int64_t r = t->shape[0];
    t->shape[0] = t->shape[1];
    t->shape[1] = r;
    t->in_out = 1;
  }
  free(idx);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Metadata                                                                 */

static int meta_str(fs_model *m, const char *key, const char *v, fs_error *err) {
  if (!v || !*v) return 0;
  size_t n = strlen(v);
  if (n <= ONNX_DOC_MAX) return fs_model_add_meta(m, key, v, n, err);
  char buf[ONNX_DOC_MAX + 4];
  memcpy(buf, v, ONNX_DOC_MAX);
  memcpy(buf + ONNX_DOC_MAX, "...", 4);
  return fs_model_add_meta(m, key, buf, ONNX_DOC_MAX + 3, err);
}

static int meta_int(fs_model *m, const char *key, int64_t v, fs_error *err) {
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRId64, v);
  return fs_model_add_meta(m, key, buf, strlen(buf), err);
}

/* "opset" is the version of the default domain; others "opset.<domain>". */
static int meta_opsets(fs_model *m, const Onnx__ModelProto *p, fs_error *err) {
  for (size_t i = 0; i < p->n_opset_import; i++) {
    const Onnx__OperatorSetIdProto *o = p->opset_import[i];
    char key[160];
    if (is_onnx_domain(o->domain))
      snprintf(key, sizeof key, "opset");
    else
      snprintf(key, sizeof key, "opset.%.120s", o->domain);
    if (!fs_model_meta(m, key)) FS_TRY(meta_int(m, key, o->version, err));
  }
  return 0;
}

static int add_metadata(fs_model *m, const Onnx__ModelProto *p, fs_error *err) {
  if (p->has_ir_version) FS_TRY(meta_int(m, "ir_version", p->ir_version, err));
  FS_TRY(meta_str(m, "producer_name", p->producer_name, err));
  FS_TRY(meta_str(m, "producer_version", p->producer_version, err));
  FS_TRY(meta_str(m, "domain", p->domain, err));
  if (p->has_model_version) FS_TRY(meta_int(m, "model_version", p->model_version, err));
  FS_TRY(meta_opsets(m, p, err));
  FS_TRY(meta_str(m, "doc_string", p->doc_string, err));
  if (p->graph) {
    FS_TRY(meta_str(m, "graph.name", p->graph->name, err));
    FS_TRY(meta_str(m, "graph.doc_string", p->graph->doc_string, err));
  }
  for (size_t i = 0; i < p->n_metadata_props; i++) {
    const Onnx__StringStringEntryProto *e = p->metadata_props[i];
    char key[160];
    if (!e->key) continue;
    snprintf(key, sizeof key, "metadata.%.140s", e->key);
    FS_TRY(meta_str(m, key, e->value, err));
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Entry points                                                             */

static int onnx_read_bytes(const fs_model *m, const fs_tensor *t, uint64_t off, size_t n,
                           void *buf, fs_error *err) {
  const onnx_priv *p = m->priv;
  if (!p || t->offset >= (uint64_t)p->n || p->data[t->offset].len != t->nbytes)
    return fs_fail(err, "not a tensor of this ONNX model");
  const onnx_data *d = &p->data[t->offset];
  if (off > d->len || n > d->len - off)
    return fs_fail(err, "bytes [%" PRIu64 ", +%zu) outside the tensor's %" PRIu64, off, n,
                   d->len);
  if (n) memcpy(buf, d->bytes + off, n);
  return 0;
}

static int fill_model(fs_model *m, onnx_priv *p, walk *w, fs_error *err) {
  if (!p->proto->graph) return fs_fail(err, "the ModelProto has no graph");
  FS_TRY(walk_graph(p->proto->graph, w, err));
  FS_TRY(fs_model_alloc_tensors(m, w->nt, err));
  p->data = calloc(w->nt ? w->nt : 1, sizeof *p->data);
  if (!p->data) return fs_fail(err, "out of memory");
  p->n = m->ntensors;
  for (int i = 0; i < m->ntensors; i++)
    FS_TRY(fill_tensor(&w->t[i], i, &m->tensors[i], &p->data[i], err));
  FS_TRY(mark_in_out(m, w, err));
  FS_TRY(mark_use_order(m, w, err));
  return add_metadata(m, p->proto, err);
}

int fs_onnx_read(const char *path, int fd, uint64_t size, fs_model *m, fs_error *err) {
  (void)path;
  onnx_priv *p = calloc(1, sizeof *p);
  if (!p) return fs_fail(err, "out of memory");
  /* Owned by the model from here on: fs_model_close frees it on failure. */
  m->priv = p;
  m->free_priv = free_priv;
  m->read_bytes = onnx_read_bytes;
  FS_TRY(unpack_file(fd, size, m, &p->proto, err));
  walk w = {0};
  int rc = fill_model(m, p, &w, err);
  free(w.t);
  free(w.inout);
  free(w.use);
  return rc;
}

static int has_onnx_suffix(const char *path) {
  size_t n = path ? strlen(path) : 0;
  return n > 5 && strcasecmp(path + n - 5, ".onnx") == 0;
}

/* ONNX has no magic: the name must end in .onnx and the first bytes must be
 * the key of a ModelProto field with a matching wire type. */
int fs_onnx_probe(const char *path, const unsigned char *head, size_t n) {
  size_t i = 0;
  uint64_t key;
  if (!has_onnx_suffix(path) || get_varint(head, n, &i, &key) || (key >> 3) > UINT32_MAX)
    return 0;
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field(&onnx__model_proto__descriptor,
                                              (unsigned)(key >> 3));
  if (!f) return 0;
  int delimited = f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES ||
                  f->type == PROTOBUF_C_TYPE_MESSAGE;
  return (key & 7) == (delimited ? 2u : 0u);
}
