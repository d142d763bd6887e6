/*
 * fs_h5out.h - column tables in one parallel HDF5 file (MPI-IO).
 *
 * Every table is a group holding one 1-D dataset per column, all sharing a
 * row index; ragged data (singular values, angles) are one concatenated
 * dataset plus an offset column.  Each rank writes the rows it owns; every
 * call here is collective (all ranks call it, in the same order, with the
 * same names and global sizes), because dataset creation in parallel HDF5 is.
 * Strings are fixed-length (variable-length types cannot be written in
 * parallel).
 *
 * The file is written as PATH.partial and renamed to PATH by fs_h5_close only
 * when everything was written, so a file named PATH is always complete.
 */
#ifndef FS_H5OUT_H
#define FS_H5OUT_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "fs_error.h"

typedef struct fs_h5 fs_h5;

typedef enum { FS_H5_DOUBLE, FS_H5_INT64, FS_H5_STRING } fs_h5_type;

int fs_h5_create(MPI_Comm comm, const char *path, fs_h5 **out, fs_error *err);

/* Close; with commit, fsync PATH.partial, rename it to PATH and fsync the
 * folder (else remove it).  Collective. */
int fs_h5_close(fs_h5 *h, int commit, fs_error *err);

/* fsync a file (or folder) by name: 0, or -1 with errno. */
int fs_h5_fsync_path(const char *path);

int fs_h5_group(fs_h5 *h, const char *path, fs_error *err);

/* Attributes on an existing object ("/" for the root); same value on every rank. */
int fs_h5_attr_string(fs_h5 *h, const char *obj, const char *name,
                      const char *value, fs_error *err);
int fs_h5_attr_int(fs_h5 *h, const char *obj, const char *name, int64_t value,
                   fs_error *err);
int fs_h5_attr_doubles(fs_h5 *h, const char *obj, const char *name,
                       const double *v, int n, fs_error *err);

/* A dataset of nglobal elements; this rank writes nlocal of them at the
 * ascending global positions idx[], from data (doubles, int64s, or strings
 * of strwidth bytes each, NUL-padded).  strwidth is ignored for numbers. */
int fs_h5_write(fs_h5 *h, const char *path, fs_h5_type type, size_t strwidth,
                int64_t nglobal, int64_t nlocal, const int64_t *idx,
                const void *data, fs_error *err);

#endif
