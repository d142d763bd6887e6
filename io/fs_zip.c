/*
 * fs_zip.c - zip directories and members for the .npz and PyTorch readers.
 *
 * Specification: PKWARE APPNOTE.TXT 6.3 -
 *   4.3.16 end of central directory record  "PK\5\6", 22 bytes + comment
 *   4.3.15 ZIP64 end of central directory locator "PK\6\7", 20 bytes
 *   4.3.14 ZIP64 end of central directory record "PK\6\6", 56 bytes
 *   4.3.12 central directory file header "PK\1\2", 46 bytes + name/extra/comment
 *   4.3.7  local file header "PK\3\4", 30 bytes + name/extra
 *   4.5.3  ZIP64 extended information extra field (tag 0x0001)
 * The directory is the authority; each local header must agree with it
 * (name, method, and sizes/CRC unless bit 3 defers them to a data
 * descriptor), because the data offset is computed from the local header.
 * Every count, length and offset is checked against the file size before use.
 */
#include "fs_zip.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#define EOCD_SIZE 22
#define EOCD64_SIZE 56
#define LOC64_SIZE 20
#define CDH_SIZE 46
#define LFH_SIZE 30
#define MAX_COMMENT 65535
#define U32_SAT 0xffffffffULL
#define U16_SAT 0xffffU
/* Deflate emits at most about 1032 output bytes per input byte; a member
 * declaring more than this is lying (a zip bomb or corruption). */
#define DEFLATE_MAX_RATIO 1040

static uint64_t le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

int fs_zip_ends_with(const char *name, const char *suffix) {
  size_t n = strlen(name), k = strlen(suffix);
  return n >= k && memcmp(name + n - k, suffix, k) == 0;
}

void fs_zip_free(fs_zip *z) {
  for (int i = 0; i < z->n; i++) free(z->e[i].name);
  free(z->e);
  free(z->byname);
  memset(z, 0, sizeof *z);
}

static int by_name(const void *a, const void *b) {
  return strcmp((*(fs_zip_entry *const *)a)->name, (*(fs_zip_entry *const *)b)->name);
}

int fs_zip_find(const fs_zip *z, const char *name) {
  fs_zip_entry key = {0}, *kp = &key, **hit;
  key.name = (char *)name;
  if (!z->byname) return -1;
  hit = bsearch(&kp, z->byname, (size_t)z->n, sizeof *z->byname, by_name);
  return hit ? (int)(*hit - z->e) : -1;
}

/* The name index; two members of one name make lookups ambiguous. */
static int index_names(fs_zip *z, fs_error *err) {
  z->byname = malloc((z->n ? (size_t)z->n : 1) * sizeof *z->byname);
  if (!z->byname) return fs_fail(err, "out of memory for the zip directory");
  for (int i = 0; i < z->n; i++) z->byname[i] = &z->e[i];
  qsort(z->byname, (size_t)z->n, sizeof *z->byname, by_name);
  for (int i = 1; i < z->n; i++)
    if (strcmp(z->byname[i - 1]->name, z->byname[i]->name) == 0)
      return fs_fail(err, "zip member '%s' appears twice", z->byname[i]->name);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* End records                                                              */

typedef struct dir_loc {
  uint64_t count, cd_off, cd_size;
  uint64_t end; /* first byte after the directory may reach (the end records) */
} dir_loc;

/* The last "PK\5\6" whose comment length reaches exactly the end of file. */
static int find_eocd(int fd, uint64_t size, uint64_t *pos, unsigned char rec[EOCD_SIZE],
                     fs_error *err) {
  if (size < EOCD_SIZE) return fs_fail(err, "zip: too short for an end of central directory");
  uint64_t span = size < EOCD_SIZE + MAX_COMMENT ? size : EOCD_SIZE + MAX_COMMENT;
  unsigned char *tail = malloc((size_t)span);
  if (!tail) return fs_fail(err, "out of memory");
  int rc = fs_read_at(fd, tail, (size_t)span, size - span, err);
  for (uint64_t i = span - EOCD_SIZE + 1; !rc && i-- > 0;) {
    const unsigned char *p = tail + i;
    if (memcmp(p, "PK\5\6", 4) == 0 && i + EOCD_SIZE + le(p + 20, 2) == span) {
      memcpy(rec, p, EOCD_SIZE);
      *pos = size - span + i;
      free(tail);
      return 0;
    }
  }
  free(tail);
  return rc ? rc : fs_fail(err, "zip: no end of central directory record (truncated archive?)");
}

static int read_zip64_end(int fd, uint64_t eocd_pos, dir_loc *d, fs_error *err) {
  unsigned char loc[LOC64_SIZE], rec[EOCD64_SIZE];
  if (eocd_pos < LOC64_SIZE) return fs_fail(err, "zip: ZIP64 sizes without a ZIP64 locator");
  FS_TRY(fs_read_at(fd, loc, sizeof loc, eocd_pos - LOC64_SIZE, err));
  if (memcmp(loc, "PK\6\7", 4) != 0)
    return fs_fail(err, "zip: ZIP64 sizes without a ZIP64 locator");
  uint64_t off = le(loc + 8, 8);
  if (le(loc + 4, 4) != 0 || le(loc + 16, 4) > 1)
    return fs_fail(err, "zip: multi-disk archives are not supported");
  if (off > eocd_pos - LOC64_SIZE || eocd_pos - LOC64_SIZE - off < EOCD64_SIZE)
    return fs_fail(err, "zip: ZIP64 end record offset %" PRIu64 " is outside the file", off);
  FS_TRY(fs_read_at(fd, rec, sizeof rec, off, err));
  if (memcmp(rec, "PK\6\6", 4) != 0)
    return fs_fail(err, "zip: bad ZIP64 end of central directory signature");
  if (le(rec + 16, 4) != 0 || le(rec + 20, 4) != 0)
    return fs_fail(err, "zip: multi-disk archives are not supported");
  d->count = le(rec + 32, 8);
  d->cd_size = le(rec + 40, 8);
  d->cd_off = le(rec + 48, 8);
  d->end = off;
  return 0;
}

static int locate_dir(int fd, uint64_t size, dir_loc *d, fs_error *err) {
  unsigned char rec[EOCD_SIZE];
  uint64_t pos = 0;
  FS_TRY(find_eocd(fd, size, &pos, rec, err));
  if (le(rec + 4, 2) != 0 || le(rec + 6, 2) != 0 || le(rec + 8, 2) != le(rec + 10, 2))
    return fs_fail(err, "zip: multi-disk archives are not supported");
  d->count = le(rec + 10, 2);
  d->cd_size = le(rec + 12, 4);
  d->cd_off = le(rec + 16, 4);
  d->end = pos;
  if (d->count == U16_SAT || d->cd_size == U32_SAT || d->cd_off == U32_SAT)
    FS_TRY(read_zip64_end(fd, pos, d, err));
  if (d->cd_off > d->end || d->cd_size > d->end - d->cd_off)
    return fs_fail(err, "zip: central directory [%" PRIu64 ", +%" PRIu64
                   ") runs past its end record at %" PRIu64, d->cd_off, d->cd_size, d->end);
  if (d->count > d->cd_size / CDH_SIZE || d->count > (uint64_t)INT32_MAX)
    return fs_fail(err, "zip: %" PRIu64 " members cannot fit a %" PRIu64
                   "-byte central directory", d->count, d->cd_size);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Central directory                                                        */

/* Replace the saturated 32-bit fields by the ZIP64 extra field's values, which
 * appear in the order usize, csize, local offset - only for saturated fields. */
static int apply_zip64(const unsigned char *extra, size_t elen, uint64_t *usize,
                       uint64_t *csize, uint64_t *off, const char *name, fs_error *err) {
  uint64_t *field[3] = {usize, csize, off};
  size_t i = 0;
  while (i + 4 <= elen) {
    unsigned tag = (unsigned)le(extra + i, 2), len = (unsigned)le(extra + i + 2, 2);
    if (i + 4 + len > elen) break;
    if (tag == 1) {
      size_t k = 0;
      for (int f = 0; f < 3; f++) {
        if (!field[f] || *field[f] != U32_SAT) continue;
        if (k + 8 > len)
          return fs_fail(err, "zip member '%s': ZIP64 extra field too short", name);
        *field[f] = le(extra + i + 4 + k, 8);
        k += 8;
      }
      return 0;
    }
    i += 4 + (size_t)len;
  }
  for (int f = 0; f < 3; f++)
    if (field[f] && *field[f] == U32_SAT)
      return fs_fail(err, "zip member '%s': ZIP64 sizes without a ZIP64 extra field", name);
  return 0;
}

/* The checks on one member that do not need its local header. */
static int check_entry(const fs_zip_entry *e, uint64_t cd_off, fs_error *err) {
  if (e->flags & 1)
    return fs_fail(err, "zip member '%s': encrypted members are not supported", e->name);
  if (e->method != FS_ZIP_STORED && e->method != FS_ZIP_DEFLATED)
    return fs_fail(err, "zip member '%s': compression method %u is not supported "
                   "(only stored and deflate)", e->name, e->method);
  if (e->method == FS_ZIP_STORED && e->csize != e->usize)
    return fs_fail(err, "zip member '%s': stored, but its compressed size %" PRIu64
                   " differs from its size %" PRIu64, e->name, e->csize, e->usize);
  if (e->method == FS_ZIP_DEFLATED && e->usize / DEFLATE_MAX_RATIO > e->csize)
    return fs_fail(err, "zip member '%s': declares %" PRIu64 " bytes from %" PRIu64
                   " compressed bytes, more than deflate can produce", e->name,
                   e->usize, e->csize);
  if (e->local_off > cd_off || cd_off - e->local_off < LFH_SIZE)
    return fs_fail(err, "zip member '%s': local header offset %" PRIu64
                   " is not before the central directory", e->name, e->local_off);
  return 0;
}

static int parse_entry(const unsigned char *cd, uint64_t cd_size, uint64_t *at,
                       uint64_t cd_off, fs_zip_entry *e, fs_error *err) {
  uint64_t i = *at;
  if (cd_size - i < CDH_SIZE || memcmp(cd + i, "PK\1\2", 4) != 0)
    return fs_fail(err, "zip: bad central directory header at byte %" PRIu64, cd_off + i);
  const unsigned char *h = cd + i;
  size_t nlen = (size_t)le(h + 28, 2), elen = (size_t)le(h + 30, 2), clen = (size_t)le(h + 32, 2);
  if (cd_size - i - CDH_SIZE < (uint64_t)nlen + elen + clen)
    return fs_fail(err, "zip: central directory header at byte %" PRIu64 " runs past "
                   "the directory", cd_off + i);
  if (memchr(h + CDH_SIZE, 0, nlen)) return fs_fail(err, "zip: member name with a NUL byte");
  e->name = fs_strndup((const char *)h + CDH_SIZE, nlen);
  if (!e->name) return fs_fail(err, "out of memory");
  e->flags = (uint16_t)le(h + 8, 2);
  e->method = (uint16_t)le(h + 10, 2);
  e->crc = (uint32_t)le(h + 16, 4);
  e->csize = le(h + 20, 4);
  e->usize = le(h + 24, 4);
  e->local_off = le(h + 42, 4);
  if (le(h + 34, 2) != 0 && le(h + 34, 2) != U16_SAT)
    return fs_fail(err, "zip member '%s': on another disk", e->name);
  FS_TRY(apply_zip64(h + CDH_SIZE + nlen, elen, &e->usize, &e->csize, &e->local_off,
                     e->name, err));
  *at = i + CDH_SIZE + nlen + elen + clen;
  return check_entry(e, cd_off, err);
}

/* ------------------------------------------------------------------------ */
/* Local headers                                                            */

static int check_local(int fd, fs_zip_entry *e, uint64_t cd_off, fs_error *err) {
  unsigned char h[LFH_SIZE];
  FS_TRY(fs_read_at(fd, h, LFH_SIZE, e->local_off, err));
  if (memcmp(h, "PK\3\4", 4) != 0)
    return fs_fail(err, "zip member '%s': no local header signature at byte %" PRIu64,
                   e->name, e->local_off);
  size_t nlen = (size_t)le(h + 26, 2), elen = (size_t)le(h + 28, 2);
  uint64_t room = cd_off - e->local_off - LFH_SIZE;
  if ((uint64_t)nlen + elen > room)
    return fs_fail(err, "zip member '%s': local header runs into the central directory", e->name);
  unsigned char *var = malloc(nlen + elen + 1);
  if (!var) return fs_fail(err, "out of memory");
  int rc = fs_read_at(fd, var, nlen + elen, e->local_off + LFH_SIZE, err);
  if (!rc && (nlen != strlen(e->name) || memcmp(var, e->name, nlen) != 0))
    rc = fs_fail(err, "zip member '%s': local header names '%.*s'", e->name,
                 (int)(nlen < 64 ? nlen : 64), (const char *)var);
  if (!rc && le(h + 8, 2) != e->method)
    rc = fs_fail(err, "zip member '%s': local header method %u disagrees with the "
                 "central directory (%u)", e->name, (unsigned)le(h + 8, 2), e->method);
  uint64_t us = le(h + 22, 4), cs = le(h + 18, 4);
  if (!rc && !(le(h + 6, 2) & 8)) { /* bit 3: sizes and CRC in a data descriptor */
    rc = apply_zip64(var + nlen, elen, &us, &cs, NULL, e->name, err);
    if (!rc && (us != e->usize || cs != e->csize || le(h + 14, 4) != e->crc))
      rc = fs_fail(err, "zip member '%s': local header sizes/CRC (%" PRIu64 ", %" PRIu64
                   ") disagree with the central directory (%" PRIu64 ", %" PRIu64 ")",
                   e->name, cs, us, e->csize, e->usize);
  }
  free(var);
  FS_TRY(rc);
  e->data_off = e->local_off + LFH_SIZE + nlen + elen;
  if (e->csize > cd_off - e->data_off)
    return fs_fail(err, "zip member '%s': %" PRIu64 " bytes at %" PRIu64
                   " run into the central directory at %" PRIu64, e->name, e->csize,
                   e->data_off, cd_off);
  return 0;
}

int fs_zip_read_dir(int fd, uint64_t size, fs_zip *z, fs_error *err) {
  dir_loc d = {0, 0, 0, 0};
  memset(z, 0, sizeof *z);
  FS_TRY(locate_dir(fd, size, &d, err));
  unsigned char *cd = malloc(d.cd_size ? (size_t)d.cd_size : 1);
  z->e = calloc(d.count ? (size_t)d.count : 1, sizeof *z->e);
  if (!cd || !z->e) {
    free(cd);
    return fs_fail(err, "out of memory for the zip directory");
  }
  int rc = fs_read_at(fd, cd, (size_t)d.cd_size, d.cd_off, err);
  uint64_t at = 0;
  for (uint64_t i = 0; !rc && i < d.count; i++) {
    rc = parse_entry(cd, d.cd_size, &at, d.cd_off, &z->e[i], err);
    z->n = (int)i + 1; /* the name is owned by z from here */
  }
  if (!rc) rc = index_names(z, err);
  if (!rc) z->checksum = fs_fnv1a64(FS_FNV_OFFSET, cd, (size_t)d.cd_size);
  free(cd);
  for (int i = 0; !rc && i < z->n; i++) rc = check_local(fd, &z->e[i], d.cd_off, err);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Inflating members through libzip                                         */

void fs_zip_stream_init(fs_zip_stream *s) {
  memset(s, 0, sizeof *s);
  s->member = -1;
}

void fs_zip_stream_close(fs_zip_stream *s) {
  if (s->zf) zip_fclose(s->zf);
  if (s->za) zip_discard(s->za);
  fs_zip_stream_init(s);
}

/* Open member (by name, checked against our own directory) at position 0. */
static int stream_open(const char *path, const fs_zip *z, int member, fs_zip_stream *s,
                       fs_error *err) {
  const fs_zip_entry *e = &z->e[member];
  if (!s->za) {
    int ze = 0;
    s->za = zip_open(path, ZIP_RDONLY, &ze);
    if (!s->za) {
      zip_error_t zerr;
      zip_error_init_with_code(&zerr, ze);
      int rc = fs_fail(err, "zip: libzip cannot open the archive: %s", zip_error_strerror(&zerr));
      zip_error_fini(&zerr);
      return rc;
    }
  }
  zip_int64_t idx = zip_name_locate(s->za, e->name, ZIP_FL_ENC_RAW);
  zip_stat_t st;
  if (idx < 0 || zip_stat_index(s->za, (zip_uint64_t)idx, 0, &st) != 0 ||
      !(st.valid & ZIP_STAT_SIZE) || st.size != e->usize || st.comp_method != e->method)
    return fs_fail(err, "zip member '%s': libzip sees a different member (file changed?)",
                   e->name);
  s->zf = zip_fopen_index(s->za, (zip_uint64_t)idx, 0);
  if (!s->zf)
    return fs_fail(err, "zip member '%s': cannot open: %s", e->name, zip_strerror(s->za));
  s->member = member;
  s->pos = 0;
  return 0;
}

/* Read exactly n bytes from the open member, or fail naming it. */
static int stream_read(fs_zip_stream *s, const fs_zip_entry *e, void *buf, size_t n,
                       fs_error *err) {
  size_t done = 0;
  while (done < n) {
    zip_int64_t k = zip_fread(s->zf, (char *)buf + done, (zip_uint64_t)(n - done));
    if (k < 0)
      return fs_fail(err, "zip member '%s': inflate error at byte %" PRIu64 ": %s",
                     e->name, s->pos, zip_file_strerror(s->zf));
    if (k == 0)
      return fs_fail(err, "zip member '%s': ends after %" PRIu64 " of its declared %"
                     PRIu64 " bytes", e->name, s->pos, e->usize);
    done += (size_t)k;
    s->pos += (uint64_t)k;
  }
  return 0;
}

int fs_zip_inflate(const char *path, const fs_zip *z, int member, fs_zip_stream *s,
                   uint64_t off, size_t n, void *buf, fs_error *err) {
  if (member < 0 || member >= z->n) return fs_fail(err, "zip: no member %d", member);
  const fs_zip_entry *e = &z->e[member];
  if (off > e->usize || n > e->usize - off)
    return fs_fail(err, "zip member '%s': bytes [%" PRIu64 ", +%zu) past its size %" PRIu64,
                   e->name, off, n, e->usize);
  if (s->member != member || s->pos > off) { /* deflate streams only go forward */
    if (s->zf) zip_fclose(s->zf);
    s->zf = NULL;
    s->member = -1;
    FS_TRY(stream_open(path, z, member, s, err));
  }
  unsigned char skip[16384];
  while (s->pos < off) {
    uint64_t k = off - s->pos < sizeof skip ? off - s->pos : sizeof skip;
    FS_TRY(stream_read(s, e, skip, (size_t)k, err));
  }
  FS_TRY(stream_read(s, e, buf, n, err));
  if (s->pos == e->usize) fs_zip_stream_close(s); /* done: release the descriptor */
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The read_bytes hook                                                      */

static void zip_model_free(void *p) {
  fs_zip_model *zm = p;
  if (!zm) return;
  fs_zip_stream_close(&zm->stream);
  fs_zip_free(&zm->zip);
  free(zm->where);
  free(zm->path);
  free(zm);
}

int fs_zip_model_attach(fs_model *m, const char *path, fs_zip_model **zm, fs_error *err) {
  fs_zip_model *z = calloc(1, sizeof *z);
  char *p = strdup(path);
  if (!z || !p) {
    free(z);
    free(p);
    return fs_fail(err, "out of memory");
  }
  z->path = p;
  fs_zip_stream_init(&z->stream);
  m->priv = z;
  m->free_priv = zip_model_free;
  *zm = z;
  return 0;
}

/* Which tensor of m is t: usually a pointer into m->tensors; otherwise (a
 * caller's copy) found by name. */
static int tensor_index(const fs_model *m, const fs_tensor *t) {
  if (t >= m->tensors && t < m->tensors + m->ntensors) return (int)(t - m->tensors);
  return t->name ? fs_model_index(m, t->name) : -1;
}

static int pread_region(const fs_model *m, const fs_tensor *t, uint64_t off, size_t n,
                        void *buf, fs_error *err) {
  const char *file = m->files[t->file];
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fs_fail(err, "cannot reopen %s: %s", file, strerror(errno));
  struct stat st;
  int rc = 0;
  if (fstat(fd, &st) != 0)
    rc = fs_fail(err, "cannot stat %s: %s", file, strerror(errno));
  else if ((uint64_t)st.st_size != m->file_sizes[t->file])
    rc = fs_fail(err, "file changed since it was opened");
  if (!rc) rc = fs_read_at(fd, buf, n, t->offset + off, err);
  close(fd);
  return rc;
}

static int zip_read_bytes(const fs_model *m, const fs_tensor *t, uint64_t off, size_t n,
                          void *buf, fs_error *err) {
  fs_zip_model *zm = m->priv;
  int i = tensor_index(m, t);
  if (!zm || i < 0 || i >= zm->nwhere) return fs_fail(err, "not a tensor of this model");
  if (off > t->nbytes || n > t->nbytes - off)
    return fs_fail(err, "bytes [%" PRIu64 ", +%zu) outside the tensor's %" PRIu64,
                   off, n, t->nbytes);
  const fs_zip_where *w = &zm->where[i];
  if (w->member < 0) {
    if (t->file < 0 || t->file >= m->nfiles || t->offset > m->file_sizes[t->file] ||
        t->nbytes > m->file_sizes[t->file] - t->offset)
      return fs_fail(err, "data past the end of the file");
    return pread_region(m, t, off, n, buf, err);
  }
  uint64_t at;
  if (fs_add_u64(w->start, off, &at)) return fs_fail(err, "offset overflows");
  return fs_zip_inflate(zm->path, &zm->zip, w->member, &zm->stream, at, n, buf, err);
}

int fs_zip_read_bytes(const fs_model *m, const fs_tensor *t, uint64_t off, size_t n,
                      void *buf, fs_error *err) {
  return zip_read_bytes(m, t, off, n, buf, err);
}
