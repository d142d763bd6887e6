/*
 * fs_npy.h - the NumPy .npy header, shared by the .npy and .npz readers
 * (private to io/).  Format: numpy/lib/format.py, "NPY format" (NEP 1).
 */
#ifndef FS_NPY_H
#define FS_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "fs_reader.h"

/* Largest header text accepted; numpy writes well under 1 KiB. */
#define FS_NPY_MAX_HEADER ((uint64_t)1 << 20)
/* Magic, version and the length field of a version 2/3 header. */
#define FS_NPY_PREFIX 12

typedef struct fs_npy_header {
  uint64_t header_len; /* bytes before the data (magic to the final '\n') */
  fs_dtype dtype;
  int ndim;
  int64_t shape[FS_MAX_DIMS];
  int fortran;         /* fortran_order True */
  uint64_t nbytes;     /* of the data */
} fs_npy_header;

/* From the first n bytes of a file (n >= FS_NPY_PREFIX, or the whole file if
 * shorter): the total header length, or an error.  Checks magic and version. */
int fs_npy_header_len(const unsigned char *p, size_t n, uint64_t *len, fs_error *err);
/* Parse a complete header (p holds header_len bytes) into h. */
int fs_npy_parse(const unsigned char *p, uint64_t len, fs_npy_header *h, fs_error *err);
/* Fill tensor t (name already set) from h: dtype, shape, nbytes, in_out. */
int fs_npy_to_tensor(const fs_npy_header *h, fs_tensor *t, fs_error *err);

#endif
