/*
 * fs_output_table.h - the column tables of the HDF5 schema, shared by the
 * writers of its groups (io/fs_output.c, io/fs_output_heads.c,
 * io/fs_output_extra.c): each column has a name, a type, a description (stored
 * as its "description" attribute) and a getter that fills one row; and the one
 * writer of ragged datasets (values per row, with an offset column).
 */
#ifndef FS_OUTPUT_TABLE_H
#define FS_OUTPUT_TABLE_H

#include <stdio.h>

#include "fs_h5out.h"
#include "fs_run.h"

typedef void (*getter)(const fs_run *R, int64_t row, void *dst, size_t width);

typedef struct column {
  const char *name;
  fs_h5_type type;
  size_t width; /* bytes of a string column */
  getter get;
  const char *description;
} column;

#define PUT_D(v) ((void)width, *(double *)dst = (v))
#define PUT_I(v) ((void)width, *(int64_t *)dst = (int64_t)(v))
#define PUT_S(...) snprintf((char *)dst, width, __VA_ARGS__)
#define NCOL(a) ((int)(sizeof(a) / sizeof(a)[0]))

/* The group and its columns, nrows rows in all; this rank writes its nl rows
 * at the ascending indices rows[].  Collective. */
int fs_output_table(fs_run *R, fs_h5 *h, const char *group, const column *cols, int ncol,
                    int64_t nrows, int64_t nl, const int64_t *rows, fs_error *err);

/* A ragged dataset: row r owns count(r) values of 8 bytes (double or int64)
 * from offset(r), the prefix sum of the counts, which every rank computes alike
 * from agreed state; the offsets go to offpath unless it is NULL (several
 * datasets sharing one offset column write it once), described by offdesc
 * unless NULL.  A row's values are values(R, r), count(r) of them contiguous;
 * where they are stored otherwise (as int, or strided by a tolerance), fill
 * writes the count(r) of them into dst instead, told arg (e.g. the
 * tolerance's index), and values is NULL.  desc, unless NULL, is path's "description" attribute. */
typedef struct ragged {
  const char *path, *offpath, *offdesc;
  fs_h5_type type; /* FS_H5_DOUBLE or FS_H5_INT64 */
  int64_t (*count)(const fs_run *, int64_t);
  const void *(*values)(const fs_run *, int64_t);
  const char *desc;
  void (*fill)(const fs_run *, int64_t r, int arg, void *dst);
  int arg;
} ragged;

/* Writes g for nrows rows, this rank's nmine of them at the ascending
 * indices mine[].  Collective. */
int fs_output_ragged(fs_run *R, fs_h5 *h, const ragged *g, int64_t nrows, const int64_t *mine,
                     int64_t nmine, fs_error *err);

/* The /heads and /head_overlaps groups (io/fs_output_heads.c).  Collective. */
int fs_output_heads(fs_run *R, fs_h5 *h, fs_error *err);

#endif
