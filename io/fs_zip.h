/*
 * fs_zip.h - zip archives as the NumPy .npz and PyTorch readers see them
 * (private to io/).
 *
 * The central directory and every member's local header are parsed here,
 * by hand, against PKWARE's APPNOTE.TXT (sections 4.3.7 local file header,
 * 4.3.12 central directory header, 4.3.14-16 ZIP64 records, 4.5.3 ZIP64
 * extra field), so that a stored member becomes a plain byte region of the
 * archive.  Deflated members are inflated through libzip, sequentially, and
 * never past the size the directory declares.
 */
#ifndef FS_ZIP_H
#define FS_ZIP_H

#include <stdint.h>

#include "fs_reader.h"

#define FS_ZIP_STORED 0
#define FS_ZIP_DEFLATED 8

typedef struct fs_zip_entry {
  char *name;        /* NUL-free, as stored */
  uint16_t flags, method;
  uint32_t crc;
  uint64_t csize, usize;  /* compressed and uncompressed sizes */
  uint64_t local_off;     /* of the local header */
  uint64_t data_off;      /* absolute offset of the member's (compressed) bytes */
} fs_zip_entry;

typedef struct fs_zip {
  int n;
  fs_zip_entry *e;
  fs_zip_entry **byname; /* e sorted by name, for lookups */
  uint64_t checksum; /* FNV-1a 64 of the central directory */
} fs_zip;

/* Read the end records and the central directory and validate every local
 * header against it; each member's bytes lie inside the file, before the
 * directory.  On failure z may be half filled: free it with fs_zip_free. */
int fs_zip_read_dir(int fd, uint64_t size, fs_zip *z, fs_error *err);
void fs_zip_free(fs_zip *z);
/* Index of the member called name; -1 if absent (binary search). */
int fs_zip_find(const fs_zip *z, const char *name);
/* 1 if the name ends with suffix. */
int fs_zip_ends_with(const char *name, const char *suffix);

/* A decompressing reader of one member at a time, kept open between calls so
 * that reading a member front to back (or column by column) inflates it once. */
typedef struct fs_zip_stream {
  void *za;       /* zip_t * */
  void *zf;       /* zip_file_t * */
  int member;     /* index into fs_zip, -1 when none is open */
  uint64_t pos;   /* uncompressed bytes already delivered */
} fs_zip_stream;

void fs_zip_stream_init(fs_zip_stream *s);
void fs_zip_stream_close(fs_zip_stream *s);
/* Bytes [off, off + n) of the uncompressed member e (index member); fails if
 * the range is past its declared size or the stream ends early. */
int fs_zip_inflate(const char *path, const fs_zip *z, int member, fs_zip_stream *s,
                   uint64_t off, size_t n, void *buf, fs_error *err);

/* The state behind the read_bytes hook of .npz and PyTorch models: where each
 * tensor's bytes live.  member < 0: a plain region (t->offset, t->nbytes) of
 * files[t->file]; otherwise the tensor starts `start` bytes into the
 * uncompressed member. */
typedef struct fs_zip_where {
  int member;
  uint64_t start;
} fs_zip_where;

typedef struct fs_zip_model {
  char *path;
  fs_zip zip;
  int nwhere;
  fs_zip_where *where;
  fs_zip_stream stream;
} fs_zip_model;

/* Attach an fs_zip_model for path to m (m->priv, m->free_priv). */
int fs_zip_model_attach(fs_model *m, const char *path, fs_zip_model **zm, fs_error *err);
/* The read_bytes hook for models carrying an fs_zip_model. */
int fs_zip_read_bytes(const fs_model *m, const fs_tensor *t, uint64_t off, size_t n,
                      void *buf, fs_error *err);

/* The two zip-based formats share detection: whichever probe matched, the
 * directory decides (a member ARCHIVE/data.pkl makes a PyTorch checkpoint). */
int fs_npz_fill(int fd, uint64_t size, fs_zip_model *zm, fs_model *m, fs_error *err);
int fs_torch_fill(int fd, uint64_t size, fs_zip_model *zm, fs_model *m, fs_error *err);
/* Index of the member ending in "/data.pkl"; -1 if none. */
int fs_torch_pickle_member(const fs_zip *z);

#endif
