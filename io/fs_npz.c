/*
 * fs_npz.c - reader for NumPy .npz archives (np.savez, np.savez_compressed).
 *
 * Specification: numpy.lib.npyio.savez - a zip archive (PKWARE APPNOTE.TXT)
 * whose members are NAME.npy files in the NPY format (see fs_npy.c); savez
 * stores them, savez_compressed deflates them.  The tensor is NAME.
 *
 * A stored member is a plain region of the archive: its data start after the
 * local header (validated against the central directory in fs_zip.c) and the
 * member's npy header.  A deflated member is inflated on demand through the
 * model's read_bytes hook; its declared size must be exactly its npy header
 * plus the data the header's shape describes, and reading never goes past it.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fs_npy.h"
#include "fs_zip.h"

int fs_npz_probe(const unsigned char *head, size_t n) {
  if (n < 30 || memcmp(head, "PK\3\4", 4) != 0) return 0;
  size_t nlen = (size_t)(head[26] | head[27] << 8), vis = n - 30;
  const unsigned char *name = head + 30;
  if (nlen <= vis) return nlen >= 4 && memcmp(name + nlen - 4, ".npy", 4) == 0;
  return memchr(name, '/', vis) == NULL; /* a long name: the directory decides */
}

/* Bytes [off, off + len) of member i, stored or deflated. */
static int member_bytes(int fd, fs_zip_model *zm, int i, uint64_t off, size_t len,
                        unsigned char *buf, fs_error *err) {
  const fs_zip_entry *e = &zm->zip.e[i];
  if (off > e->usize || len > e->usize - off)
    return fs_fail(err, "zip member '%s': npy header runs past the member's %" PRIu64
                   " bytes", e->name, e->usize);
  if (e->method == FS_ZIP_STORED) return fs_read_at(fd, buf, len, e->data_off + off, err);
  return fs_zip_inflate(zm->path, &zm->zip, i, &zm->stream, off, len, buf, err);
}

static int read_member_header(int fd, fs_zip_model *zm, int i, fs_npy_header *h,
                              fs_error *err) {
  const fs_zip_entry *e = &zm->zip.e[i];
  unsigned char pre[FS_NPY_PREFIX];
  size_t n = e->usize < sizeof pre ? (size_t)e->usize : sizeof pre;
  uint64_t len;
  FS_TRY(member_bytes(fd, zm, i, 0, n, pre, err));
  FS_TRY(fs_npy_header_len(pre, n, &len, err));
  if (len > e->usize)
    return fs_fail(err, "zip member '%s': npy header of %" PRIu64 " bytes is longer than "
                   "the member (%" PRIu64 ")", e->name, len, e->usize);
  unsigned char *hdr = malloc((size_t)len);
  if (!hdr) return fs_fail(err, "out of memory");
  memcpy(hdr, pre, n);
  int rc = member_bytes(fd, zm, i, n, (size_t)(len - n), hdr + n, err);
  if (!rc) rc = fs_npy_parse(hdr, len, h, err);
  free(hdr);
  return rc;
}

static int fill_tensor(int fd, fs_zip_model *zm, int i, fs_tensor *t, fs_error *err) {
  const fs_zip_entry *e = &zm->zip.e[i];
  if (!fs_zip_ends_with(e->name, ".npy") || strlen(e->name) == 4)
    return fs_fail(err, "zip member '%s' is not a NAME.npy array (not a NumPy .npz)", e->name);
  if (!(t->name = fs_strndup(e->name, strlen(e->name) - 4))) return fs_fail(err, "out of memory");
  fs_npy_header h;
  if (read_member_header(fd, zm, i, &h, err))
    return fs_error_prefix(err, "tensor '%s'", t->name);
  FS_TRY(fs_npy_to_tensor(&h, t, err));
  /* The declared size is what inflating is bounded by: it must be exactly
   * what the header describes, so a lying size is caught before any read. */
  if (e->usize - h.header_len != h.nbytes)
    return fs_fail(err, "tensor '%s': member declares %" PRIu64 " bytes but its npy header "
                   "describes %" PRIu64, t->name, e->usize, h.header_len + h.nbytes);
  fs_zip_where *w = &zm->where[i];
  if (e->method == FS_ZIP_STORED) {
    w->member = -1;
    t->offset = e->data_off + h.header_len;
  } else {
    w->member = i;
    w->start = h.header_len;
    t->offset = h.header_len; /* within the member; read through the hook */
  }
  return 0;
}

int fs_npz_fill(int fd, uint64_t size, fs_zip_model *zm, fs_model *m, fs_error *err) {
  (void)size;
  if (zm->zip.n == 0) return fs_fail(err, "zip archive has no members");
  zm->where = calloc((size_t)zm->zip.n, sizeof *zm->where);
  if (!zm->where) return fs_fail(err, "out of memory");
  zm->nwhere = zm->zip.n;
  FS_TRY(fs_model_alloc_tensors(m, (uint64_t)zm->zip.n, err));
  int deflated = 0;
  for (int i = 0; i < zm->zip.n; i++) {
    FS_TRY(fill_tensor(fd, zm, i, &m->tensors[i], err));
    deflated |= zm->zip.e[i].method != FS_ZIP_STORED;
  }
  fs_zip_stream_close(&zm->stream); /* hold no descriptor between reads */
  /* All stored: plain regions, checked by fs_model like any format's. */
  if (deflated) m->read_bytes = fs_zip_read_bytes;
  m->header_checksum = zm->zip.checksum;
  return 0;
}

/* Either zip probe lands here or in fs_torch_read; the directory decides. */
static int npz_read(const char *path, int fd, uint64_t size, fs_model *m, fs_error *err) {
  fs_zip_model *zm;
  FS_TRY(fs_zip_model_attach(m, path, &zm, err));
  FS_TRY(fs_zip_read_dir(fd, size, &zm->zip, err));
  if (fs_torch_pickle_member(&zm->zip) >= 0) {
    m->format = FS_FMT_TORCH;
    return fs_torch_fill(fd, size, zm, m, err);
  }
  m->format = FS_FMT_NPZ;
  return fs_npz_fill(fd, size, zm, m, err);
}

int fs_npz_read(const char *path, int fd, uint64_t size, fs_model *m, fs_error *err) {
  return npz_read(path, fd, size, m, err);
}
