/*
 * test_npy.c - readers of NumPy .npy/.npz and PyTorch zip checkpoints
 * (io/fs_npy.c, io/fs_npz.c, io/fs_torch.c, io/fs_zip.c).
 *
 * Known answers: tests/data/numpy_torch/ was written by numpy and torch
 * (tests/data/make_numpy_torch.py), which also wrote every tensor's values as
 * raw float64 with an index; every tensor is compared with them exactly.
 * Hand-built files (a small zip writer and pickle builder below) pin the
 * pickle opcodes and check that each hostile file fails with the path and a
 * specific one-line reason.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_model.h"
#include "fs_testutil.h"

#define FIX "numpy_torch/"

/* ------------------------------------------------------------------------ */
/* Byte buffers and files                                                   */

static void put_s(fs_buf *b, const char *s) { fs_buf_put(b, s, strlen(s)); }

static void set_le(unsigned char *p, uint64_t v, int n) {
  for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot read %s: %s", path, strerror(errno));
  ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
  long len = ftell(f);
  ck_assert_int_ge(len, 0);
  rewind(f);
  unsigned char *p = malloc((size_t)len + 1);
  ck_assert_uint_eq(fread(p, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  *n = (size_t)len;
  return p;
}

/* A string literal with its embedded NULs, without the terminator. */
#define PUTLIT(b, lit) fs_buf_put((b), (lit), sizeof(lit) - 1)

static char *tmp_path(const char *name) { return strdup(fs_test_tmpfile(name)); }

/* ------------------------------------------------------------------------ */
/* Assertion helpers                                                        */

/* Write bytes to a temporary file and expect the open to fail. */
static void expect_bytes_fail(const char *name, const void *d, size_t n, const char *reason) {
  char *path = tmp_path(name);
  fs_test_write_file(path, d, n);
  fs_test_expect_open_fail(path, reason);
  free(path);
}

static double *read_rows(const fs_model *m, const fs_tensor *t, int64_t r0, int64_t r1) {
  size_t n = (size_t)((r1 - r0) * fs_tensor_cols(t));
  double *v = malloc((n ? n : 1) * sizeof *v);
  fs_error err = {{0}};
  int rc = fs_tensor_read_rows(m, t, r0, r1, v, &err);
  ck_assert_msg(rc == 0, "read %s failed: %s", t->name, err.msg);
  return v;
}

/* ------------------------------------------------------------------------ */
/* Known answers from numpy and torch                                       */

typedef struct expect_line {
  char file[64], name[128], dtype[16], data[32];
  int ndim;
  int64_t shape[8];
} expect_line;

static int parse_line(FILE *f, expect_line *e) {
  if (fscanf(f, "%63s %127s %15s %d", e->file, e->name, e->dtype, &e->ndim) != 4) return 0;
  ck_assert(e->ndim >= 0 && e->ndim <= 8);
  for (int d = 0; d < e->ndim; d++) ck_assert_int_eq(fscanf(f, "%" SCNd64, &e->shape[d]), 1);
  ck_assert_int_eq(fscanf(f, "%31s", e->data), 1);
  return 1;
}

static double *load_expected(const char *data, size_t numel) {
  char rel[96];
  size_t n;
  snprintf(rel, sizeof rel, FIX "expected/%s", data);
  unsigned char *raw = slurp(fs_test_data(rel), &n);
  ck_assert_uint_eq(n, numel * 8);
  double *v = malloc((numel ? numel : 1) * sizeof *v);
  for (size_t i = 0; i < numel; i++) {
    uint64_t u = 0;
    for (int k = 7; k >= 0; k--) u = (u << 8) | raw[8 * i + (size_t)k];
    memcpy(&v[i], &u, 8);
  }
  free(raw);
  return v;
}

static void check_one(const fs_model *m, const expect_line *e) {
  const fs_tensor *t = fs_model_find(m, e->name);
  ck_assert_msg(t != NULL, "%s: no tensor '%s'", e->file, e->name);
  ck_assert_str_eq(fs_dtype_name(t->dtype), e->dtype);
  ck_assert_int_eq(t->ndim, e->ndim);
  for (int d = 0; d < e->ndim; d++) ck_assert_int_eq(t->shape[d], e->shape[d]);
  if (!fs_dtype_supported(t->dtype)) return; /* decoder not there yet */
  size_t numel = (size_t)fs_tensor_numel(t);
  double *want = load_expected(e->data, numel);
  double *got = read_rows(m, t, 0, fs_tensor_rows(t));
  for (size_t i = 0; i < numel; i++)
    ck_assert_msg(got[i] == want[i], "%s '%s' element %zu: %.17g, expected %.17g", e->file,
                  e->name, i, got[i], want[i]);
  free(got);
  free(want);
}

START_TEST(test_known_answers) {
  FILE *f = fopen(fs_test_data(FIX "expected/index.txt"), "r");
  ck_assert_msg(f != NULL, "no index of expected values");
  expect_line e;
  int count = 0;
  while (parse_line(f, &e)) {
    char rel[96];
    fs_model m;
    snprintf(rel, sizeof rel, FIX "%s", e.file);
    fs_test_open_ok(fs_test_data(rel), &m);
    check_one(&m, &e);
    fs_model_close(&m);
    count++;
  }
  fclose(f);
  ck_assert_int_eq(count, 27);
}
END_TEST

static void check_format(const char *file, fs_format fmt, int ntensors) {
  fs_model m;
  char rel[96];
  snprintf(rel, sizeof rel, FIX "%s", file);
  fs_test_open_ok(fs_test_data(rel), &m);
  ck_assert_str_eq(fs_format_name(m.format), fs_format_name(fmt));
  ck_assert_int_eq(m.ntensors, ntensors);
  fs_model_close(&m);
}

START_TEST(test_formats_and_layout) {
  check_format("f8_2d.npy", FS_FMT_NPY, 1);
  check_format("stored.npz", FS_FMT_NPZ, 3);
  check_format("compressed.npz", FS_FMT_NPZ, 5);
  check_format("state_dict.pt", FS_FMT_TORCH, 7);
  check_format("nested.pt", FS_FMT_TORCH, 2);
  fs_model m;
  /* Fortran order and the transposed torch view are stored as [in, out]. */
  fs_test_open_ok(fs_test_data(FIX "f4_fortran.npy"), &m);
  ck_assert_int_eq(m.tensors[0].in_out, 1);
  fs_model_close(&m);
  fs_test_open_ok(fs_test_data(FIX "state_dict.pt"), &m);
  ck_assert_int_eq(fs_model_find(&m, "proj.weight")->in_out, 1);
  ck_assert_int_eq(fs_model_find(&m, "fc1.weight")->in_out, 0);
  /* The slice shares proj's storage, 8 elements in. */
  ck_assert_uint_eq(fs_model_find(&m, "proj.slice")->offset,
                    fs_model_find(&m, "proj.weight")->offset + 8 * 4);
  fs_model_close(&m);
  /* The scalar beside the weights is metadata. */
  fs_test_open_ok(fs_test_data(FIX "nested.pt"), &m);
  ck_assert_str_eq(fs_model_meta(&m, "epoch"), "7");
  fs_model_close(&m);
}
END_TEST

/* Row ranges of deflated members, out of order: the stream restarts. */
START_TEST(test_compressed_row_ranges) {
  fs_model m;
  fs_test_open_ok(fs_test_data(FIX "compressed.npz"), &m);
  FILE *f = fopen(fs_test_data(FIX "expected/index.txt"), "r");
  expect_line e;
  while (parse_line(f, &e)) {
    if (strcmp(e.file, "compressed.npz") != 0 || e.ndim != 2) continue;
    const fs_tensor *t = fs_model_find(&m, e.name);
    int64_t rows = t->shape[0], cols = t->shape[1];
    double *want = load_expected(e.data, (size_t)(rows * cols));
    int64_t ranges[3][2] = {{rows / 2, rows}, {0, rows / 3}, {rows - 1, rows}};
    for (int r = 0; r < 3; r++) {
      double *got = read_rows(&m, t, ranges[r][0], ranges[r][1]);
      for (int64_t i = 0; i < (ranges[r][1] - ranges[r][0]) * cols; i++)
        ck_assert(got[i] == want[ranges[r][0] * cols + i]);
      free(got);
    }
    free(want);
  }
  fclose(f);
  fs_model_close(&m);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Hand-built .npy                                                          */

static void npy_bytes(fs_buf *b, const char *dict, size_t data_bytes) {
  char hdr[512];
  snprintf(hdr, sizeof hdr, "%s", dict);
  size_t len = strlen(hdr);
  while ((10 + len + 1) % 64) hdr[len++] = ' ';
  hdr[len++] = '\n';
  fs_buf_put(b, "\x93NUMPY\x01\x00", 8);
  fs_buf_le(b, len, 2);
  fs_buf_put(b, hdr, len);
  for (size_t i = 0; i < data_bytes; i++) fs_buf_u8(b, 0);
}

static void npy_fail(const char *dict, size_t data, const char *reason) {
  fs_buf b = {0};
  npy_bytes(&b, dict, data);
  expect_bytes_fail("bad.npy", b.p, b.n, reason);
  free(b.p);
}

START_TEST(test_npy_hostile) {
  npy_fail("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 1000000), }",
           16, "bytes of data but the file holds");
  npy_fail("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
           16, "overflows");
  npy_fail("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
           16, "overflows");
  npy_fail("{'descr': '|b1', 'fortran_order': False, 'shape': (4,), }", 4, "bool dtype");
  npy_fail("{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", 16, "big-endian");
  npy_fail("{'descr': '<c8', 'fortran_order': False, 'shape': (4,), }", 32,
           "'<c8' is not supported");
  npy_fail("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }", 16,
           "structured");
  npy_fail("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2, 2), }", 32,
           "tensor 'bad': Fortran-order array of 3 dimensions");
  npy_fail("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 16, "non-negative");
  npy_fail("{'descr': '<f4', 'shape': (4,), }", 16, "needs 'descr'");
  npy_fail("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}", 16,
           "unknown key 'x'");
  /* A version 2 header whose length field claims 4 GiB. */
  unsigned char v2[16] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0,
                          0xff, 0xff, 0xff, 0xff, '{', '}', ' ', '\n'};
  expect_bytes_fail("v2.npy", v2, sizeof v2, "exceeds the 1024 KiB limit");
  v2[6] = 4;
  expect_bytes_fail("v4.npy", v2, sizeof v2, "version 4.0 is not supported");
  /* A version 1 header longer than the file. */
  fs_buf b = {0};
  npy_bytes(&b, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", 16);
  expect_bytes_fail("short.npy", b.p, 40, "longer than the file");
  free(b.p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* A stored-only zip writer and a pickle builder                            */

typedef struct zmember {
  const char *name;
  const void *data;
  size_t n;
} zmember;

/* zip64: the directory and end records in their ZIP64 forms (saturated
 * 32-bit fields, a ZIP64 extra field per member, ZIP64 end record and
 * locator), as writers do for archives over 4 GiB. */
static void zip_build64(fs_buf *b, const zmember *m, int n, int zip64) {
  uint64_t *off = calloc((size_t)n, sizeof *off);
  for (int i = 0; i < n; i++) {
    off[i] = b->n;
    put_s(b, "PK\3\4");
    fs_buf_le(b, 20, 2); fs_buf_le(b, 0, 2); fs_buf_le(b, 0, 2);  /* version, flags, stored */
    fs_buf_le(b, 0, 4); fs_buf_le(b, 0, 4);                    /* time/date, crc */
    fs_buf_le(b, m[i].n, 4); fs_buf_le(b, m[i].n, 4);
    fs_buf_le(b, strlen(m[i].name), 2); fs_buf_le(b, 0, 2);
    put_s(b, m[i].name);
    fs_buf_put(b, m[i].data, m[i].n);
  }
  uint64_t cd = b->n;
  for (int i = 0; i < n; i++) {
    put_s(b, "PK\1\2");
    fs_buf_le(b, 20, 2); fs_buf_le(b, 20, 2); fs_buf_le(b, 0, 2); fs_buf_le(b, 0, 2);
    fs_buf_le(b, 0, 4); fs_buf_le(b, 0, 4);
    fs_buf_le(b, m[i].n, 4); fs_buf_le(b, m[i].n, 4);
    fs_buf_le(b, strlen(m[i].name), 2); fs_buf_le(b, zip64 ? 12 : 0, 2); fs_buf_le(b, 0, 2);
    fs_buf_le(b, 0, 2); fs_buf_le(b, 0, 2); fs_buf_le(b, 0, 4);
    fs_buf_le(b, zip64 ? 0xffffffffu : off[i], 4);
    put_s(b, m[i].name);
    if (zip64) {
      fs_buf_le(b, 1, 2); fs_buf_le(b, 8, 2); fs_buf_le(b, off[i], 8);
    }
  }
  uint64_t cd_size = b->n - cd, end64 = b->n;
  if (zip64) {
    put_s(b, "PK\6\6");
    fs_buf_le(b, 44, 8); fs_buf_le(b, 45, 2); fs_buf_le(b, 45, 2); fs_buf_le(b, 0, 4); fs_buf_le(b, 0, 4);
    fs_buf_le(b, (uint64_t)n, 8); fs_buf_le(b, (uint64_t)n, 8);
    fs_buf_le(b, cd_size, 8); fs_buf_le(b, cd, 8);
    put_s(b, "PK\6\7");
    fs_buf_le(b, 0, 4); fs_buf_le(b, end64, 8); fs_buf_le(b, 1, 4);
  }
  put_s(b, "PK\5\6");
  fs_buf_le(b, 0, 4);
  fs_buf_le(b, zip64 ? 0xffff : (uint64_t)n, 2); fs_buf_le(b, zip64 ? 0xffff : (uint64_t)n, 2);
  fs_buf_le(b, zip64 ? 0xffffffffu : cd_size, 4); fs_buf_le(b, zip64 ? 0xffffffffu : cd, 4);
  fs_buf_le(b, 0, 2);
  free(off);
}

static void zip_build(fs_buf *b, const zmember *m, int n) { zip_build64(b, m, n, 0); }

static void pk_str(fs_buf *b, const char *s) {
  fs_buf_u8(b, 'X');
  fs_buf_le(b, strlen(s), 4);
  put_s(b, s);
}

static void pk_int(fs_buf *b, int64_t v) {
  fs_buf_u8(b, 'J');
  fs_buf_le(b, (uint64_t)v, 4);
}

static void pk_global(fs_buf *b, const char *mod, const char *name) {
  fs_buf_u8(b, 'c');
  put_s(b, mod); fs_buf_u8(b, '\n');
  put_s(b, name); fs_buf_u8(b, '\n');
}

/* _rebuild_tensor_v2(('storage', stype, key, 'cpu', numel), off, shape, stride,
 * False, OrderedDict()) as torch.save pickles it. */
static void pk_tensor(fs_buf *b, const char *stype, const char *key, int numel, int off,
                      int nd, const int *shape, const int *stride) {
  pk_global(b, "torch._utils", "_rebuild_tensor_v2");
  fs_buf_u8(b, '(');
  fs_buf_u8(b, '(');
  pk_str(b, "storage"); pk_global(b, "torch", stype); pk_str(b, key); pk_str(b, "cpu");
  pk_int(b, numel);
  fs_buf_u8(b, 't'); fs_buf_u8(b, 'Q');
  pk_int(b, off);
  fs_buf_u8(b, '(');
  for (int d = 0; d < nd; d++) pk_int(b, shape[d]);
  fs_buf_u8(b, 't');
  fs_buf_u8(b, '(');
  for (int d = 0; d < nd; d++) pk_int(b, stride[d]);
  fs_buf_u8(b, 't');
  fs_buf_u8(b, 0x89);
  pk_global(b, "collections", "OrderedDict"); fs_buf_u8(b, ')'); fs_buf_u8(b, 'R');
  fs_buf_u8(b, 't'); fs_buf_u8(b, 'R');
}

/* {name: tensor} pickle with a float32 storage '0' of `numel` elements
 * 0.5 * i, in a zip "ar/data.pkl", "ar/data/0", "ar/version". */
static void torch_zip(fs_buf *out, const fs_buf *pkl, int numel) {
  float *st = malloc((size_t)(numel ? numel : 1) * sizeof *st);
  for (int i = 0; i < numel; i++) st[i] = 0.5f * (float)i;
  zmember m[3] = {{"ar/data.pkl", pkl->p, pkl->n},
                  {"ar/data/0", st, (size_t)numel * 4},
                  {"ar/version", "3\n", 2}};
  zip_build(out, m, 3);
  free(st);
}

static void pk_one(fs_buf *b, const char *stype, const char *key, int numel, int off, int nd,
                   const int *shape, const int *stride) {
  fs_buf_put(b, "\x80\x02}(", 4);
  pk_str(b, "w");
  pk_tensor(b, stype, key, numel, off, nd, shape, stride);
  put_s(b, "u.");
}

static void torch_fail(const fs_buf *pkl, int numel, const char *reason) {
  fs_buf z = {0};
  torch_zip(&z, pkl, numel);
  expect_bytes_fail("bad.pt", z.p, z.n, reason);
  free(z.p);
}

START_TEST(test_torch_handbuilt) {
  /* 2 x 3 rows from storage element 2 on: value 0.5 * (2 + 3 r + c). */
  int shape[2] = {2, 3}, stride[2] = {3, 1};
  fs_buf p = {0}, z = {0};
  pk_one(&p, "FloatStorage", "0", 8, 2, 2, shape, stride);
  torch_zip(&z, &p, 8);
  char *path = tmp_path("ok.pt");
  fs_test_write_file(path, z.p, z.n);
  fs_model m;
  fs_test_open_ok(path, &m);
  ck_assert_int_eq(m.format, FS_FMT_TORCH);
  const fs_tensor *t = fs_model_find(&m, "w");
  double *v = read_rows(&m, t, 0, 2);
  for (int i = 0; i < 6; i++) ck_assert(v[i] == 0.5 * (2 + i));
  free(v);
  fs_model_close(&m);
  free(z.p);

  /* The same archive with ZIP64 directory records. */
  memset(&z, 0, sizeof z);
  float st[8];
  for (int i = 0; i < 8; i++) st[i] = 0.5f * (float)i;
  zmember zm[2] = {{"ar/data.pkl", p.p, p.n}, {"ar/data/0", st, sizeof st}};
  zip_build64(&z, zm, 2, 1);
  fs_test_write_file(path, z.p, z.n);
  fs_test_open_ok(path, &m);
  v = read_rows(&m, fs_model_find(&m, "w"), 1, 2);
  for (int i = 0; i < 3; i++) ck_assert(v[i] == 0.5 * (5 + i));
  free(v);
  fs_model_close(&m);
  /* ... whose ZIP64 locator points past the file. */
  size_t loc = z.n - 22 - 20;
  set_le(z.p + loc + 8, z.n, 8);
  free(path);
  path = tmp_path("bad64.pt");
  fs_test_write_file(path, z.p, z.n);
  fs_test_expect_open_fail(path, "ZIP64 end record offset");
  free(p.p);
  free(z.p);

  /* Protocol 4: FRAME, SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE, BINGET,
   * LONG1, BININT1/2, a list of tensors and a float leaf. */
  memset(&p, 0, sizeof p);
  memset(&z, 0, sizeof z);
  PUTLIT(&p, "\x80\x04\x95");
  fs_buf_le(&p, 0, 8);
  fs_buf_u8(&p, '}');
  fs_buf_u8(&p, 0x94);                                     /* memo 0: the dict */
  fs_buf_u8(&p, '(');
  PUTLIT(&p, "\x8c\x02lr");
  fs_buf_u8(&p, 'G');
  PUTLIT(&p, "\x3f\xb9\x99\x99\x99\x99\x99\x9a");     /* 0.1 big-endian */
  PUTLIT(&p, "\x8c\x04step");
  PUTLIT(&p, "\x8a\x02\x00\xff");                      /* LONG1 -256 */
  PUTLIT(&p, "\x8c\x06layers");
  fs_buf_u8(&p, ']');
  fs_buf_u8(&p, '(');
  PUTLIT(&p, "\x8c\x0ctorch._utils\x8c\x12_rebuild_tensor_v2\x93\x94"); /* memo 1 */
  fs_buf_u8(&p, '(');
  fs_buf_u8(&p, '(');
  PUTLIT(&p, "\x8c\x07storage\x8c\x05torch\x8c\x0c" "FloatStorage\x93\x8c\x01" "0\x8c\x03" "cpu");
  PUTLIT(&p, "K\x08tQK\x00K\x04\x85M\x01\x00\x85\x89");
  PUTLIT(&p, "\x8c\x0b" "collections\x8c\x0bOrderedDict\x93)Rt");
  fs_buf_u8(&p, 'R');
  fs_buf_u8(&p, 0x94);                                     /* memo 2: the tensor */
  PUTLIT(&p, "h\x02");                                  /* the same tensor again */
  fs_buf_u8(&p, 'e');
  PUTLIT(&p, "u.");
  torch_zip(&z, &p, 8);
  fs_test_write_file(path, z.p, z.n);
  fs_test_open_ok(path, &m);
  ck_assert_int_eq(m.ntensors, 2);
  ck_assert_str_eq(fs_model_meta(&m, "lr"), "0.1");
  ck_assert_str_eq(fs_model_meta(&m, "step"), "-256");
  t = fs_model_find(&m, "layers.1");
  ck_assert_ptr_nonnull(t);
  v = read_rows(&m, t, 0, 1);
  for (int i = 0; i < 4; i++) ck_assert(v[i] == 0.5 * i);
  free(v);
  fs_model_close(&m);
  free(p.p);
  free(z.p);
  free(path);
}
END_TEST

START_TEST(test_torch_hostile) {
  int shape[2] = {2, 3}, stride[2] = {3, 1}, bad_stride[2] = {1, 1};
  fs_buf p = {0};
  /* A forbidden callable, never executed. */
  PUTLIT(&p, "\x80\x02");
  pk_global(&p, "os", "system");
  pk_str(&p, "echo hi");
  put_s(&p, "\x85R.");
  torch_fail(&p, 8, "refusing pickle global os.system");
  p.n = 0;
  put_s(&p, "\x80\x02R.");
  torch_fail(&p, 8, "stack underflow");
  p.n = 0;
  put_s(&p, "\x80\x02}(X");
  torch_fail(&p, 8, "truncated pickle");
  p.n = 0;
  put_s(&p, "\x80\x02h\x05.");
  torch_fail(&p, 8, "memo key 5 is not set");
  p.n = 0;
  put_s(&p, "\x80\x02}\x7f.");
  torch_fail(&p, 8, "unsupported pickle opcode 0x7f");
  p.n = 0;
  put_s(&p, "\x80\x02}");
  torch_fail(&p, 8, "without STOP");
  p.n = 0;
  pk_one(&p, "FloatStorage", "9", 8, 0, 2, shape, stride);
  torch_fail(&p, 8, "names storage '9', but the archive has no member ar/data/9");
  p.n = 0;
  pk_one(&p, "FloatStorage", "0", 8, 3, 2, shape, stride);
  torch_fail(&p, 8, "tensor 'w': elements [3, 3 + 6) exceed its storage '0' of 8 elements");
  p.n = 0;
  pk_one(&p, "FloatStorage", "0", 9, 0, 2, shape, stride);
  torch_fail(&p, 8, "9 elements of F32 need 36 bytes, but its member holds 32");
  p.n = 0;
  pk_one(&p, "FloatStorage", "0", 8, 0, 2, shape, bad_stride);
  torch_fail(&p, 8, "tensor 'w': shape [2, 3] with stride [1, 1] is neither");
  p.n = 0;
  pk_one(&p, "BoolStorage", "0", 8, 0, 2, shape, stride);
  torch_fail(&p, 8, "refusing pickle global torch.BoolStorage");
  /* Two members of one name. */
  fs_buf z = {0};
  zmember twice[2] = {{"ar/data.pkl", p.p, p.n}, {"ar/data.pkl", p.p, p.n}};
  zip_build(&z, twice, 2);
  expect_bytes_fail("twice.pt", z.p, z.n, "zip member 'ar/data.pkl' appears twice");
  free(z.p);
  free(p.p);
  /* Stack overflow: a run of EMPTY_LISTs longer than the bound. */
  fs_buf deep = {0};
  put_s(&deep, "\x80\x02");
  for (int i = 0; i < 70000; i++) fs_buf_u8(&deep, ']');
  fs_buf_u8(&deep, '.');
  torch_fail(&deep, 8, "stack deeper than");
  /* Lists nested 40 deep, built through the memo: the walk is bounded. */
  deep.n = 0;
  PUTLIT(&deep, "\x80\x02]q\x00");
  for (int i = 1; i <= 40; i++) {
    unsigned char op[8] = {'h', (unsigned char)(i - 1), ']', 'q', (unsigned char)i, 'a', '0'};
    fs_buf_put(&deep, op, 7);
  }
  fs_buf_u8(&deep, '.');
  torch_fail(&deep, 8, "containers nested deeper than 32");
  free(deep.p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Hostile zips                                                             */

/* Offset of the k-th occurrence of a 4-byte signature. */
static size_t find_sig(const unsigned char *p, size_t n, const char *sig, int k) {
  for (size_t i = 0; i + 4 <= n; i++)
    if (memcmp(p + i, sig, 4) == 0 && k-- == 0) return i;
  ck_abort_msg("signature not found");
  return 0;
}

START_TEST(test_zip_hostile) {
  size_t n;
  unsigned char *z = slurp(fs_test_data(FIX "stored.npz"), &n);
  unsigned char *c = malloc(n);
  /* Truncated: the end record is gone. */
  expect_bytes_fail("trunc.npz", z, n / 2, "no end of central directory");
  /* A member's local header offset past the end of the file. */
  memcpy(c, z, n);
  set_le(c + find_sig(c, n, "PK\1\2", 1) + 42, 0x7fffff00, 4);
  expect_bytes_fail("off.npz", c, n, "is not before the central directory");
  /* A central directory past its end record. */
  memcpy(c, z, n);
  set_le(c + find_sig(c, n, "PK\5\6", 0) + 16, (uint64_t)n, 4);
  expect_bytes_fail("cd.npz", c, n, "runs past its end record");
  /* Local header naming another member than the directory. */
  memcpy(c, z, n);
  c[30] = 'v';
  expect_bytes_fail("name.npz", c, n, "local header names 'v.npy'");
  /* Local header method disagreeing with the directory. */
  memcpy(c, z, n);
  set_le(c + 8, 8, 2);
  expect_bytes_fail("method.npz", c, n, "local header method 8 disagrees");
  /* A stored member whose (consistent) sizes run past its room. */
  memcpy(c, z, n);
  size_t cd0 = find_sig(c, n, "PK\1\2", 0);
  set_le(c + cd0 + 20, 0x10000, 4);
  set_le(c + cd0 + 24, 0x10000, 4);
  set_le(c + 18, 0x10000, 4);
  set_le(c + 22, 0x10000, 4);
  expect_bytes_fail("room.npz", c, n, "run into the central directory");
  /* A member that is not an array. */
  memcpy(c, z, n);
  memcpy(c + find_sig(c, n, "PK\1\2", 1) + 46, "wt.txt", 6); /* the second member */
  memcpy(c + find_sig(c, n, "PK\3\4", 1) + 30, "wt.txt", 6);
  expect_bytes_fail("txt.npz", c, n, "'wt.txt' is not a NAME.npy array");
  free(c);
  free(z);

  /* Deflated members whose declared size lies. */
  z = slurp(fs_test_data(FIX "compressed.npz"), &n);
  c = malloc(n);
  memcpy(c, z, n);
  size_t cd = find_sig(c, n, "PK\1\2", 0);  /* w.npy: 224 bytes */
  set_le(c + cd + 24, 240, 4);
  set_le(c + 22, 240, 4);
  expect_bytes_fail("lie.npz", c, n, "tensor 'w': member declares 240 bytes but its npy "
                    "header describes 224");
  memcpy(c, z, n);
  set_le(c + cd + 24, 0x7ffffff0, 4);
  set_le(c + 22, 0x7ffffff0, 4);
  expect_bytes_fail("bomb.npz", c, n, "more than deflate can produce");
  /* Declared smaller than the data: inflating stops at the declared size. */
  memcpy(c, z, n);
  set_le(c + cd + 24, 200, 4);
  set_le(c + 22, 200, 4);
  expect_bytes_fail("small.npz", c, n, "member declares 200 bytes");
  free(c);
  free(z);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *npy_suite(void) {
  Suite *s = suite_create("npy");
  TCase *known = tcase_create("known");
  tcase_add_test(known, test_known_answers);
  tcase_add_test(known, test_formats_and_layout);
  tcase_add_test(known, test_compressed_row_ranges);
  tcase_add_test(known, test_torch_handbuilt);
  suite_add_tcase(s, known);
  TCase *bad = tcase_create("hostile");
  tcase_add_test(bad, test_npy_hostile);
  tcase_add_test(bad, test_torch_hostile);
  tcase_add_test(bad, test_zip_hostile);
  tcase_set_timeout(bad, 120);
  suite_add_tcase(s, bad);
  return s;
}

int main(void) { return fs_test_run(npy_suite()); }
