/*
 * fs_torch.c - reader for PyTorch zip checkpoints (torch.save since 1.6).
 *
 * Specification: the zip layout written by torch.save (PyTorch "serialization
 * semantics" notes and torch/serialization.py) - members
 *   ARCHIVE/data.pkl     the object, pickled (Python pickle protocol 2)
 *   ARCHIVE/data/KEY     one member per storage, raw little-endian elements
 *   ARCHIVE/version, ARCHIVE/byteorder (optional: "little" or "big")
 * and the pickle format of CPython's Lib/pickletools.py (opcode reference).
 * A tensor is pickled as torch._utils._rebuild_tensor_v2(storage, offset,
 * size, stride, requires_grad, backward_hooks[, metadata]) whose storage is a
 * persistent id ('storage', torch.<Type>Storage, KEY, location, numel).
 *
 * The pickle is never executed: a small interpreter below builds a tree of
 * plain values (None, bool, int, float, str, tuple, list, dict) from the
 * opcodes torch.save emits, and the only callables it knows are an explicit
 * allow-list (OrderedDict, the tensor rebuilders, the storage types); any
 * other GLOBAL is refused by name.  Its stack, mark stack, memo and nesting
 * are bounded.  Dicts are flattened to dotted tensor names; scalar leaves
 * (an "epoch" counter, say) become metadata.
 *
 * Tensors are regions of their storage member: row-major contiguous, or a
 * transposed matrix (stride (1, rows)), which is in_out.  Two tensors may
 * share a storage (views, tied weights), so the regions are read through
 * the read_bytes hook of fs_zip.c rather than fs_model's overlap check.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_zip.h"

#define MAX_STACK ((size_t)1 << 16)
#define MAX_MARKS ((size_t)1 << 12)
#define MAX_MEMO ((size_t)1 << 22)
#define MAX_DEPTH 32
#define MAX_PICKLE ((uint64_t)1 << 30)
/* Shared references can make a small pickle a huge tree (a list holding the
 * same list twice, 32 levels deep); the walk over it is bounded too. */
#define MAX_WALK ((size_t)1 << 22)
#define MAX_TENSORS ((size_t)1 << 20)
#define MAX_NAME 1024
#define MAX_WALK_META 4096
#define MAX_META_VALUE 1024

int fs_torch_probe(const unsigned char *head, size_t n) {
  if (n < 30 || memcmp(head, "PK\3\4", 4) != 0) return 0;
  size_t nlen = (size_t)(head[26] | head[27] << 8), vis = n - 30;
  /* Every torch.save member is ARCHIVE/...; a name too long to see whole
   * without a visible '/' went to the .npz probe, which dispatches too. */
  return memchr(head + 30, '/', nlen < vis ? nlen : vis) != NULL;
}

int fs_torch_pickle_member(const fs_zip *z) {
  for (int i = 0; i < z->n; i++)
    if (fs_zip_ends_with(z->e[i].name, "/data.pkl")) return i;
  return -1;
}

/* ------------------------------------------------------------------------ */
/* Values                                                                   */

typedef enum { O_NONE, O_BOOL, O_INT, O_FLOAT, O_STR, O_TUPLE, O_LIST, O_DICT,
               O_GLOBAL, O_STORAGE, O_TENSOR } okind;
static const char *const KIND[] = {"None", "bool", "int", "float", "str", "tuple",
                                   "list", "dict", "global", "storage", "tensor"};

typedef enum { G_ODICT, G_REBUILD_V2, G_REBUILD_PARAM, G_STORAGE } gkind;

typedef struct obj obj;
struct obj {
  okind kind;
  int64_t i;           /* INT, BOOL */
  double f;            /* FLOAT */
  char *s;             /* STR; GLOBAL "module.name"; STORAGE key */
  size_t slen;
  obj **it;            /* TUPLE, LIST items; DICT key, value, key, value ... */
  size_t n, cap;
  gkind g;             /* GLOBAL */
  fs_dtype dt;         /* GLOBAL storage type, STORAGE */
  int member;          /* STORAGE: zip member */
  uint64_t numel;      /* STORAGE */
  obj *storage;        /* TENSOR */
  int64_t off;
  int ndim;
  int64_t shape[FS_MAX_DIMS], stride[FS_MAX_DIMS];
};

typedef struct vm {
  const unsigned char *p;
  size_t n, pos, op_at;
  obj **all;            /* every object, freed together */
  size_t nall, capall;
  obj *stack[MAX_STACK];
  size_t sp;
  size_t marks[MAX_MARKS];
  size_t nmarks;
  obj **memo;
  size_t nmemo;         /* allocated slots */
  size_t memo_len;      /* slots set: MEMOIZE's next index, as len(memo) */
  const fs_zip *zip;
  const char *archive;  /* "ARCHIVE/" */
  fs_error *err;
} vm;

static int vfail(vm *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int vfail(vm *v, const char *fmt, ...) {
  char msg[FS_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return fs_fail(v->err, "data.pkl byte %zu: %s", v->op_at, msg);
}

static obj *onew(vm *v, okind k) {
  if (v->nall == v->capall) {
    size_t cap = v->capall ? 2 * v->capall : 256;
    obj **a = realloc(v->all, cap * sizeof *a);
    if (!a) return NULL;
    v->all = a;
    v->capall = cap;
  }
  obj *o = calloc(1, sizeof *o);
  if (o) {
    o->kind = k;
    o->member = -1;
    v->all[v->nall++] = o;
  }
  return o;
}

static void vm_free(vm *v) {
  for (size_t i = 0; i < v->nall; i++) {
    free(v->all[i]->s);
    free(v->all[i]->it);
    free(v->all[i]);
  }
  free(v->all);
  free(v->memo);
}

static int oappend(vm *v, obj *c, obj *x) {
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 8;
    obj **a = realloc(c->it, cap * sizeof *a);
    if (!a) return vfail(v, "out of memory");
    c->it = a;
    c->cap = cap;
  }
  c->it[c->n++] = x;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Stack, marks, memo                                                       */

static int push(vm *v, obj *o) {
  if (!o) return vfail(v, "out of memory");
  if (v->sp == MAX_STACK) return vfail(v, "stack deeper than %zu", MAX_STACK);
  v->stack[v->sp++] = o;
  return 0;
}

static int pop(vm *v, obj **o) {
  if (v->sp == 0 || (v->nmarks && v->sp == v->marks[v->nmarks - 1]))
    return vfail(v, "stack underflow");
  *o = v->stack[--v->sp];
  return 0;
}

static int top(vm *v, obj **o) {
  if (v->sp == 0 || (v->nmarks && v->sp == v->marks[v->nmarks - 1]))
    return vfail(v, "stack underflow");
  *o = v->stack[v->sp - 1];
  return 0;
}

static int pop_mark(vm *v, size_t *mark) {
  if (v->nmarks == 0) return vfail(v, "no MARK on the stack");
  *mark = v->marks[--v->nmarks];
  return 0;
}

/* The items above the last mark become a new container of kind k. */
static int collect(vm *v, okind k, obj **out) {
  size_t mark = 0;
  FS_TRY(pop_mark(v, &mark));
  obj *c = onew(v, k);
  if (!c) return vfail(v, "out of memory");
  for (size_t i = mark; i < v->sp; i++) FS_TRY(oappend(v, c, v->stack[i]));
  v->sp = mark;
  *out = c;
  return 0;
}

static int memo_put(vm *v, uint64_t idx) {
  obj *o = NULL;
  FS_TRY(top(v, &o));
  if (idx >= MAX_MEMO || idx > v->n) return vfail(v, "memo index %" PRIu64 " out of range", idx);
  if (idx >= v->nmemo) {
    size_t n = (size_t)idx + 1 > 2 * v->nmemo ? (size_t)idx + 1 : 2 * v->nmemo;
    obj **m = realloc(v->memo, n * sizeof *m);
    if (!m) return vfail(v, "out of memory");
    memset(m + v->nmemo, 0, (n - v->nmemo) * sizeof *m);
    v->memo = m;
    v->nmemo = n;
  }
  if (!v->memo[idx]) v->memo_len++;
  v->memo[idx] = o;
  return 0;
}

static int memo_get(vm *v, uint64_t idx) {
  if (idx >= v->nmemo || !v->memo[idx]) return vfail(v, "memo key %" PRIu64 " is not set", idx);
  return push(v, v->memo[idx]);
}

/* ------------------------------------------------------------------------ */
/* Arguments                                                                */

static int need(vm *v, size_t k) {
  if (v->n - v->pos < k) return vfail(v, "truncated pickle (opcode needs %zu bytes)", k);
  return 0;
}

static uint64_t arg_le(vm *v, int k) {
  uint64_t x = 0;
  for (int i = k - 1; i >= 0; i--) x = (x << 8) | v->p[v->pos + (size_t)i];
  v->pos += (size_t)k;
  return x;
}

static int arg_uint(vm *v, int k, uint64_t *x) {
  FS_TRY(need(v, (size_t)k));
  *x = arg_le(v, k);
  return 0;
}

static int push_int(vm *v, int64_t i) {
  obj *o = onew(v, O_INT);
  if (o) o->i = i;
  return push(v, o);
}

static int push_str(vm *v, uint64_t len) {
  if (len > v->n - v->pos) return vfail(v, "string of %" PRIu64 " bytes past the end", len);
  obj *o = onew(v, O_STR);
  if (o && !(o->s = fs_strndup((const char *)v->p + v->pos, (size_t)len))) o = NULL;
  if (o) o->slen = (size_t)len;
  v->pos += (size_t)len;
  return push(v, o);
}

/* LONG1: little-endian two's complement of n <= 8 bytes. */
static int op_long1(vm *v) {
  uint64_t n, x = 0;
  FS_TRY(arg_uint(v, 1, &n));
  if (n > 8) return vfail(v, "integer of %" PRIu64 " bytes is too large", n);
  FS_TRY(need(v, (size_t)n));
  if (n) x = arg_le(v, (int)n);
  if (n && n < 8 && (x >> (8 * n - 1)) & 1) x |= ~0ULL << (8 * n); /* sign-extend */
  return push_int(v, (int64_t)x);
}

static int op_binfloat(vm *v) {
  FS_TRY(need(v, 8));
  uint64_t u = 0;
  for (int i = 0; i < 8; i++) u = (u << 8) | v->p[v->pos++]; /* big-endian */
  obj *o = onew(v, O_FLOAT);
  if (o) memcpy(&o->f, &u, sizeof o->f);
  return push(v, o);
}

/* ------------------------------------------------------------------------ */
/* Globals: the allow-list                                                  */

static const struct {
  const char *name;
  gkind g;
  fs_dtype dt;
} ALLOWED[] = {
    {"collections.OrderedDict", G_ODICT, FS_DT_F32},
    {"torch._utils._rebuild_tensor_v2", G_REBUILD_V2, FS_DT_F32},
    {"torch._utils._rebuild_parameter", G_REBUILD_PARAM, FS_DT_F32},
    {"torch.FloatStorage", G_STORAGE, FS_DT_F32},
    {"torch.HalfStorage", G_STORAGE, FS_DT_F16},
    {"torch.BFloat16Storage", G_STORAGE, FS_DT_BF16},
    {"torch.DoubleStorage", G_STORAGE, FS_DT_F64},
    {"torch.LongStorage", G_STORAGE, FS_DT_I64},
    {"torch.IntStorage", G_STORAGE, FS_DT_I32},
    {"torch.ShortStorage", G_STORAGE, FS_DT_I16},
    {"torch.CharStorage", G_STORAGE, FS_DT_I8},
    {"torch.ByteStorage", G_STORAGE, FS_DT_U8},
    {"torch.UntypedStorage", G_STORAGE, FS_DT_U8},
    {"torch.storage.UntypedStorage", G_STORAGE, FS_DT_U8},
};

static int push_global(vm *v, const char *mod, size_t ml, const char *name, size_t nl) {
  char full[300];
  if (ml + nl + 2 > sizeof full) return vfail(v, "global name too long");
  memcpy(full, mod, ml);
  full[ml] = '.';
  memcpy(full + ml + 1, name, nl);
  full[ml + 1 + nl] = '\0';
  if (memchr(full, 0, ml + nl + 1)) return vfail(v, "global name with a NUL byte");
  for (size_t i = 0; i < sizeof ALLOWED / sizeof ALLOWED[0]; i++) {
    if (strcmp(full, ALLOWED[i].name) != 0) continue;
    obj *o = onew(v, O_GLOBAL);
    if (o && !(o->s = strdup(full))) o = NULL;
    if (o) {
      o->g = ALLOWED[i].g;
      o->dt = ALLOWED[i].dt;
    }
    return push(v, o);
  }
  return vfail(v, "refusing pickle global %.200s", full);
}

/* GLOBAL: "module\nname\n" inline. */
static int op_global(vm *v) {
  const char *s = (const char *)v->p + v->pos;
  size_t left = v->n - v->pos;
  const char *nl1 = memchr(s, '\n', left);
  const char *nl2 = nl1 ? memchr(nl1 + 1, '\n', left - (size_t)(nl1 + 1 - s)) : NULL;
  if (!nl2) return vfail(v, "truncated GLOBAL");
  v->pos += (size_t)(nl2 + 1 - s);
  return push_global(v, s, (size_t)(nl1 - s), nl1 + 1, (size_t)(nl2 - nl1 - 1));
}

static int op_stack_global(vm *v) {
  obj *name = NULL, *mod = NULL;
  FS_TRY(pop(v, &name));
  FS_TRY(pop(v, &mod));
  if (name->kind != O_STR || mod->kind != O_STR)
    return vfail(v, "STACK_GLOBAL needs two strings");
  return push_global(v, mod->s, mod->slen, name->s, name->slen);
}

/* ------------------------------------------------------------------------ */
/* Persistent ids and calls                                                 */

static int is_int_tuple(const obj *o, size_t n) {
  if (!o || o->kind != O_TUPLE || o->n != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (o->it[i]->kind != O_INT || o->it[i]->i < 0) return 0;
  return 1;
}

/* ('storage', torch.<Type>Storage, KEY, location, numel) */
static int op_persid(vm *v) {
  obj *pid = NULL;
  FS_TRY(pop(v, &pid));
  obj **a = pid->it;
  if (pid->kind != O_TUPLE || pid->n != 5 || a[0]->kind != O_STR ||
      strcmp(a[0]->s, "storage") != 0 || a[1]->kind != O_GLOBAL || a[1]->g != G_STORAGE ||
      a[2]->kind != O_STR || a[4]->kind != O_INT || a[4]->i < 0)
    return vfail(v, "persistent id is not ('storage', type, key, location, numel)");
  size_t alen = strlen(v->archive);
  char *member = malloc(alen + 5 + a[2]->slen + 1);
  if (!member) return vfail(v, "out of memory");
  sprintf(member, "%sdata/%s", v->archive, a[2]->s);
  int idx = fs_zip_find(v->zip, member);
  free(member);
  if (idx < 0)
    return vfail(v, "persistent id names storage '%.64s', but the archive has no member "
                 "%sdata/%.64s", a[2]->s, v->archive, a[2]->s);
  const fs_zip_entry *e = &v->zip->e[idx];
  uint64_t need_bytes;
  if (fs_mul_u64((uint64_t)a[4]->i, fs_dtype_size(a[1]->dt), &need_bytes) ||
      need_bytes != e->usize)
    return vfail(v, "storage '%.64s': %" PRId64 " elements of %s need %" PRIu64 " bytes, "
                 "but its member holds %" PRIu64, a[2]->s, a[4]->i, fs_dtype_name(a[1]->dt),
                 need_bytes, e->usize);
  if (e->method != FS_ZIP_STORED)
    return vfail(v, "storage '%.64s' is compressed; torch.save stores storages", a[2]->s);
  obj *s = onew(v, O_STORAGE);
  if (s && !(s->s = strdup(a[2]->s))) s = NULL;
  if (s) {
    s->dt = a[1]->dt;
    s->member = idx;
    s->numel = (uint64_t)a[4]->i;
  }
  return push(v, s);
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) */
static int rebuild_v2(vm *v, obj *args, obj **out) {
  obj **a = args->it;
  if (args->n < 6 || args->n > 7 || a[0]->kind != O_STORAGE || a[1]->kind != O_INT ||
      a[1]->i < 0 || !is_int_tuple(a[2], a[2]->n) || !is_int_tuple(a[3], a[2]->n))
    return vfail(v, "_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, ...)");
  if (a[2]->n > FS_MAX_DIMS)
    return vfail(v, "tensor of %zu dimensions (at most %d)", a[2]->n, FS_MAX_DIMS);
  obj *t = onew(v, O_TENSOR);
  if (!t) return vfail(v, "out of memory");
  t->storage = a[0];
  t->off = a[1]->i;
  t->ndim = (int)a[2]->n;
  for (int d = 0; d < t->ndim; d++) {
    t->shape[d] = a[2]->it[d]->i;
    t->stride[d] = a[3]->it[d]->i;
  }
  *out = t;
  return 0;
}

static int op_reduce(vm *v) {
  obj *args = NULL, *fn = NULL, *res = NULL;
  FS_TRY(pop(v, &args));
  FS_TRY(pop(v, &fn));
  if (fn->kind != O_GLOBAL) return vfail(v, "REDUCE on a %s, not a callable", KIND[fn->kind]);
  if (args->kind != O_TUPLE) return vfail(v, "REDUCE arguments are not a tuple");
  switch (fn->g) {
  case G_ODICT:
    if (args->n) return vfail(v, "OrderedDict with arguments is not supported");
    res = onew(v, O_DICT);
    break;
  case G_REBUILD_V2: FS_TRY(rebuild_v2(v, args, &res)); break;
  case G_REBUILD_PARAM:
    if (args->n < 1 || args->it[0]->kind != O_TENSOR)
      return vfail(v, "_rebuild_parameter of a non-tensor");
    res = args->it[0];
    break;
  case G_STORAGE: return vfail(v, "calling %s is not supported", fn->s);
  }
  return push(v, res);
}

/* ------------------------------------------------------------------------ */
/* Containers                                                               */

static int op_setitems(vm *v, int many) {
  size_t mark = 0;
  obj *d = NULL, *k = NULL, *x = NULL;
  if (!many) {
    FS_TRY(pop(v, &x));
    FS_TRY(pop(v, &k));
    FS_TRY(top(v, &d));
    if (d->kind != O_DICT) return vfail(v, "SETITEM on a %s", KIND[d->kind]);
    FS_TRY(oappend(v, d, k));
    return oappend(v, d, x);
  }
  FS_TRY(pop_mark(v, &mark));
  if (mark == 0 || (v->sp - mark) % 2)
    return vfail(v, "SETITEMS without a dict or with an odd count");
  d = v->stack[mark - 1];
  if (d->kind != O_DICT) return vfail(v, "SETITEMS on a %s", KIND[d->kind]);
  for (size_t i = mark; i < v->sp; i++) FS_TRY(oappend(v, d, v->stack[i]));
  v->sp = mark;
  return 0;
}

static int op_appends(vm *v, int many) {
  size_t mark = 0;
  obj *l = NULL, *x = NULL;
  if (!many) {
    FS_TRY(pop(v, &x));
    FS_TRY(top(v, &l));
    if (l->kind != O_LIST) return vfail(v, "APPEND on a %s", KIND[l->kind]);
    return oappend(v, l, x);
  }
  FS_TRY(pop_mark(v, &mark));
  if (mark == 0 || v->stack[mark - 1]->kind != O_LIST) return vfail(v, "APPENDS without a list");
  l = v->stack[mark - 1];
  for (size_t i = mark; i < v->sp; i++) FS_TRY(oappend(v, l, v->stack[i]));
  v->sp = mark;
  return 0;
}

/* BUILD sets an object's state; an OrderedDict's state (state_dict's
 * _metadata attribute of module versions) carries no weights: dropped. */
static int op_build(vm *v) {
  obj *state = NULL, *o = NULL;
  FS_TRY(pop(v, &state));
  FS_TRY(top(v, &o));
  if (o->kind != O_DICT) return vfail(v, "BUILD on a %s is not supported", KIND[o->kind]);
  return 0;
}

static int op_tuple(vm *v, size_t k) {
  if (v->sp < k || (v->nmarks && v->sp - k < v->marks[v->nmarks - 1]))
    return vfail(v, "stack underflow");
  obj *t = onew(v, O_TUPLE);
  if (!t) return vfail(v, "out of memory");
  for (size_t i = v->sp - k; i < v->sp; i++) FS_TRY(oappend(v, t, v->stack[i]));
  v->sp -= k;
  return push(v, t);
}

/* ------------------------------------------------------------------------ */
/* The interpreter loop                                                     */

static int step_data(vm *v, int op) {
  uint64_t x = 0;
  obj *o = NULL;
  switch (op) {
  case 'X': FS_TRY(arg_uint(v, 4, &x)); return push_str(v, x);           /* BINUNICODE */
  case 0x8c: FS_TRY(arg_uint(v, 1, &x)); return push_str(v, x);          /* SHORT_BINUNICODE */
  case 0x8d: FS_TRY(arg_uint(v, 8, &x)); return push_str(v, x);          /* BINUNICODE8 */
  case 'C': FS_TRY(arg_uint(v, 1, &x)); return push_str(v, x);           /* SHORT_BINBYTES */
  case 'B': FS_TRY(arg_uint(v, 4, &x)); return push_str(v, x);           /* BINBYTES */
  case 'J': FS_TRY(arg_uint(v, 4, &x)); return push_int(v, (int32_t)(uint32_t)x); /* BININT */
  case 'K': FS_TRY(arg_uint(v, 1, &x)); return push_int(v, (int64_t)x);  /* BININT1 */
  case 'M': FS_TRY(arg_uint(v, 2, &x)); return push_int(v, (int64_t)x);  /* BININT2 */
  case 0x8a: return op_long1(v);                                          /* LONG1 */
  case 'G': return op_binfloat(v);                                        /* BINFLOAT */
  case 0x88: case 0x89:                                                   /* NEWTRUE/FALSE */
    o = onew(v, O_BOOL);
    if (o) o->i = op == 0x88;
    return push(v, o);
  case 'N': return push(v, onew(v, O_NONE));                              /* NONE */
  case '}': return push(v, onew(v, O_DICT));                              /* EMPTY_DICT */
  case ']': return push(v, onew(v, O_LIST));                              /* EMPTY_LIST */
  case ')': return push(v, onew(v, O_TUPLE));                             /* EMPTY_TUPLE */
  default: return vfail(v, "unsupported pickle opcode 0x%02x", op);
  }
}

static int step(vm *v, int op) {
  uint64_t x = 0;
  obj *o = NULL;
  switch (op) {
  case 0x80: /* PROTO */
    FS_TRY(arg_uint(v, 1, &x));
    return x >= 2 && x <= 5 ? 0 : vfail(v, "pickle protocol %" PRIu64 " (2 to 5 supported)", x);
  case 0x95: /* FRAME: a length prefix only; the opcodes follow inline */
    FS_TRY(arg_uint(v, 8, &x));
    return x <= v->n - v->pos ? 0 : vfail(v, "frame past the end");
  case '(': /* MARK */
    if (v->nmarks == MAX_MARKS) return vfail(v, "more than %zu nested marks", MAX_MARKS);
    v->marks[v->nmarks++] = v->sp;
    return 0;
  case 't': FS_TRY(collect(v, O_TUPLE, &o)); return push(v, o);           /* TUPLE */
  case 'l': FS_TRY(collect(v, O_LIST, &o)); return push(v, o);            /* LIST */
  case 0x85: case 0x86: case 0x87: return op_tuple(v, (size_t)(op - 0x84)); /* TUPLE1-3 */
  case 'c': return op_global(v);
  case 0x93: return op_stack_global(v);
  case 'q': FS_TRY(arg_uint(v, 1, &x)); return memo_put(v, x);            /* BINPUT */
  case 'r': FS_TRY(arg_uint(v, 4, &x)); return memo_put(v, x);            /* LONG_BINPUT */
  case 0x94: return memo_put(v, v->memo_len);              /* MEMOIZE */
  case 'h': FS_TRY(arg_uint(v, 1, &x)); return memo_get(v, x);            /* BINGET */
  case 'j': FS_TRY(arg_uint(v, 4, &x)); return memo_get(v, x);            /* LONG_BINGET */
  case 'Q': return op_persid(v);
  case 'R': return op_reduce(v);
  case 'b': return op_build(v);
  case 's': return op_setitems(v, 0);
  case 'u': return op_setitems(v, 1);
  case 'a': return op_appends(v, 0);
  case 'e': return op_appends(v, 1);
  case '0': return pop(v, &o);                                            /* POP */
  default: return step_data(v, op);
  }
}

static int run(vm *v, obj **result) {
  while (v->pos < v->n) {
    v->op_at = v->pos;
    int op = v->p[v->pos++];
    if (op == '.') { /* STOP */
      FS_TRY(pop(v, result));
      if (v->sp || v->nmarks) return vfail(v, "STOP with %zu values left on the stack", v->sp);
      return 0;
    }
    FS_TRY(step(v, op));
  }
  v->op_at = v->pos;
  return vfail(v, "pickle ends without STOP");
}

/* ------------------------------------------------------------------------ */
/* From the object tree to tensors                                          */

typedef struct found {
  char *name;
  const obj *t;
} found;

typedef struct walk {
  found *f;
  size_t n, cap;
  size_t steps, nmeta;
  fs_model *m;
  fs_error *err;
} walk;

static int add_found(walk *w, char *name, const obj *t) {
  if (w->n == MAX_TENSORS) {
    free(name);
    return fs_fail(w->err, "more than %zu tensors", MAX_TENSORS);
  }
  if (w->n == w->cap) {
    size_t cap = w->cap ? 2 * w->cap : 64;
    found *f = realloc(w->f, cap * sizeof *f);
    if (!f) {
      free(name);
      return fs_fail(w->err, "out of memory");
    }
    w->f = f;
    w->cap = cap;
  }
  w->f[w->n].name = name;
  w->f[w->n++].t = t;
  return 0;
}

/* A scalar leaf becomes metadata under its dotted name. */
static int add_scalar(walk *w, const char *name, const obj *o) {
  char buf[64];
  const char *text = buf;
  if (w->nmeta >= MAX_WALK_META) return 0; /* enough to describe a checkpoint */
  w->nmeta++;
  switch (o->kind) {
  case O_INT: snprintf(buf, sizeof buf, "%" PRId64, o->i); break;
  case O_BOOL: text = o->i ? "True" : "False"; break;
  case O_FLOAT: fs_format_double(buf, sizeof buf, o->f); break;
  case O_STR:
    return fs_model_add_meta(w->m, name, o->s,
                             o->slen < MAX_META_VALUE ? o->slen : MAX_META_VALUE, w->err);
  default: return 0; /* None, globals, bare storages: nothing to report */
  }
  return fs_model_add_meta(w->m, name, text, strlen(text), w->err);
}

static int walk_obj(walk *w, const char *prefix, const obj *o, int depth);

static int walk_child(walk *w, const char *prefix, const char *key, const obj *o,
                      int depth) {
  size_t pl = strlen(prefix), kl = strlen(key);
  if (pl + kl + 1 > MAX_NAME)
    return fs_fail(w->err, "tensor name '%.64s...' longer than %d bytes", prefix, MAX_NAME);
  if (++w->steps > MAX_WALK)
    return fs_fail(w->err, "more than %zu entries in the pickled tree", MAX_WALK);
  char *name = malloc(pl + kl + 2);
  if (!name) return fs_fail(w->err, "out of memory");
  snprintf(name, pl + kl + 2, "%s%s%s", prefix, pl ? "." : "", key);
  if (o->kind == O_TENSOR) return add_found(w, name, o);
  int rc = o->kind == O_DICT || o->kind == O_LIST || o->kind == O_TUPLE
               ? walk_obj(w, name, o, depth + 1)
               : add_scalar(w, name, o);
  free(name);
  return rc;
}

static int walk_obj(walk *w, const char *prefix, const obj *o, int depth) {
  if (depth > MAX_DEPTH)
    return fs_fail(w->err, "'%.64s': containers nested deeper than %d", prefix, MAX_DEPTH);
  char num[32];
  if (o->kind == O_TENSOR) return walk_child(w, "", prefix[0] ? prefix : "tensor", o, depth);
  if (o->kind == O_DICT) {
    for (size_t i = 0; i + 1 < o->n; i += 2) {
      const obj *k = o->it[i];
      const char *key = k->kind == O_STR ? k->s : NULL;
      if (k->kind == O_INT) snprintf(num, sizeof num, "%" PRId64, k->i);
      if (k->kind == O_INT) key = num;
      if (key) FS_TRY(walk_child(w, prefix, key, o->it[i + 1], depth));
    }
  } else if (o->kind == O_LIST || o->kind == O_TUPLE) {
    /* Tensors and containers only: list scalars (an optimizer's parameter
     * ids, say) are not worth a metadata entry each. */
    for (size_t i = 0; i < o->n; i++) {
      okind k = o->it[i]->kind;
      if (k != O_TENSOR && k != O_DICT && k != O_LIST && k != O_TUPLE) continue;
      snprintf(num, sizeof num, "%zu", i);
      FS_TRY(walk_child(w, prefix, num, o->it[i], depth));
    }
  }
  return 0;
}

/* Row-major contiguous: 0; a transposed matrix (stride (1, rows)): 1;
 * anything else: -1.  Dimensions of size 1 have no meaningful stride. */
static int layout(const obj *o) {
  int64_t expect = 1;
  int contiguous = 1;
  for (int d = o->ndim - 1; d >= 0; d--) {
    if (o->shape[d] != 1 && o->stride[d] != expect) contiguous = 0;
    expect *= o->shape[d]; /* numel was checked for overflow first */
  }
  if (contiguous) return 0;
  if (o->ndim == 2 && (o->shape[0] == 1 || o->stride[0] == 1) &&
      (o->shape[1] == 1 || o->stride[1] == o->shape[0]))
    return 1;
  return -1;
}

static int make_tensor(const fs_zip *z, const found *f, fs_tensor *t, fs_error *err) {
  const obj *o = f->t, *s = o->storage;
  int64_t numel;
  char sh[160], st[160];
  t->name = strdup(f->name);
  if (!t->name) return fs_fail(err, "out of memory");
  t->dtype = s->dt;
  t->ndim = o->ndim;
  memcpy(t->shape, o->shape, sizeof t->shape);
  if (fs_shape_numel(o->shape, o->ndim, &numel))
    return fs_fail(err, "tensor '%s': shape %s overflows", t->name,
                   fs_shape_str(o->shape, o->ndim, sh, sizeof sh));
  int lay = numel == 0 ? 0 : layout(o);
  if (lay < 0)
    return fs_fail(err, "tensor '%s': shape %s with stride %s is neither row-major "
                   "contiguous nor a transposed matrix", t->name,
                   fs_shape_str(o->shape, o->ndim, sh, sizeof sh),
                   fs_shape_str(o->stride, o->ndim, st, sizeof st));
  uint64_t end, esize = fs_dtype_size(s->dt), start;
  if (fs_add_u64((uint64_t)o->off, (uint64_t)numel, &end) || end > s->numel)
    return fs_fail(err, "tensor '%s': elements [%" PRId64 ", %" PRId64 " + %" PRId64 ") "
                   "exceed its storage '%s' of %" PRIu64 " elements", t->name, o->off,
                   o->off, numel, s->s, s->numel);
  /* In bounds of the member (numel * esize == its size), itself in the file. */
  start = (uint64_t)o->off * esize;
  t->offset = z->e[s->member].data_off + start;
  t->nbytes = (uint64_t)numel * esize;
  t->in_out = lay;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The archive                                                              */

static int check_byteorder(int fd, const fs_zip *z, const char *archive, fs_error *err) {
  char name[4096], text[16] = {0};
  snprintf(name, sizeof name, "%sbyteorder", archive);
  int i = fs_zip_find(z, name);
  if (i < 0) return 0; /* before torch 2.1 there is no byteorder: little-endian */
  const fs_zip_entry *e = &z->e[i];
  if (e->method != FS_ZIP_STORED || e->usize >= sizeof text)
    return fs_fail(err, "zip member '%s' is not a stored byte-order word", e->name);
  FS_TRY(fs_read_at(fd, text, (size_t)e->usize, e->data_off, err));
  if (strcmp(text, "little") != 0)
    return fs_fail(err, "byte order '%s' is not supported (little-endian only)", text);
  return 0;
}

static int read_pickle(int fd, const fs_zip_entry *e, unsigned char **p, fs_error *err) {
  if (e->method != FS_ZIP_STORED)
    return fs_fail(err, "zip member '%s' is compressed; torch.save stores it", e->name);
  if (e->usize > MAX_PICKLE)
    return fs_fail(err, "zip member '%s': %" PRIu64 " bytes of pickle is too large",
                   e->name, e->usize);
  *p = malloc(e->usize ? (size_t)e->usize : 1);
  if (!*p) return fs_fail(err, "out of memory");
  return fs_read_at(fd, *p, (size_t)e->usize, e->data_off, err);
}

static int fill_from_tree(const obj *root, fs_zip_model *zm, fs_model *m, fs_error *err) {
  walk w = {NULL, 0, 0, 0, 0, m, err};
  int rc = walk_obj(&w, "", root, 0);
  if (!rc) rc = fs_model_alloc_tensors(m, w.n, err);
  if (!rc && !(zm->where = calloc(w.n ? w.n : 1, sizeof *zm->where)))
    rc = fs_fail(err, "out of memory");
  if (!rc) zm->nwhere = (int)w.n;
  for (size_t i = 0; !rc && i < w.n; i++) {
    zm->where[i].member = -1; /* a plain region of the archive */
    rc = make_tensor(&zm->zip, &w.f[i], &m->tensors[i], err);
  }
  for (size_t i = 0; i < w.n; i++) free(w.f[i].name);
  free(w.f);
  return rc;
}

int fs_torch_fill(int fd, uint64_t size, fs_zip_model *zm, fs_model *m, fs_error *err) {
  (void)size;
  int pi = fs_torch_pickle_member(&zm->zip);
  if (pi < 0) return fs_fail(err, "zip archive has no ARCHIVE/data.pkl member");
  const fs_zip_entry *pe = &zm->zip.e[pi];
  char *archive = fs_strndup(pe->name, strlen(pe->name) - strlen("data.pkl"));
  if (!archive) return fs_fail(err, "out of memory");
  vm *v = calloc(1, sizeof *v);
  unsigned char *pkl = NULL;
  obj *root = NULL;
  int rc = v ? check_byteorder(fd, &zm->zip, archive, err) : fs_fail(err, "out of memory");
  if (!rc) rc = read_pickle(fd, pe, &pkl, err);
  if (!rc) {
    v->p = pkl;
    v->n = (size_t)pe->usize;
    v->zip = &zm->zip;
    v->archive = archive;
    v->err = err;
    rc = run(v, &root);
  }
  if (!rc) rc = fill_from_tree(root, zm, m, err);
  if (!rc) {
    m->header_checksum = fs_fnv1a64(zm->zip.checksum, pkl, (size_t)pe->usize);
    m->read_bytes = fs_zip_read_bytes; /* views may share bytes: see the top */
  }
  if (v) vm_free(v);
  free(v);
  free(pkl);
  free(archive);
  return rc;
}

static int torch_read(const char *path, int fd, uint64_t size, fs_model *m, fs_error *err) {
  fs_zip_model *zm;
  FS_TRY(fs_zip_model_attach(m, path, &zm, err));
  FS_TRY(fs_zip_read_dir(fd, size, &zm->zip, err));
  if (fs_torch_pickle_member(&zm->zip) < 0) {
    m->format = FS_FMT_NPZ;
    return fs_npz_fill(fd, size, zm, m, err);
  }
  m->format = FS_FMT_TORCH;
  return fs_torch_fill(fd, size, zm, m, err);
}

int fs_torch_read(const char *path, int fd, uint64_t size, fs_model *m, fs_error *err) {
  return torch_read(path, fd, size, m, err);
}
