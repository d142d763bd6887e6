/*
 * fs_h5read.h - reading a flagscope output file back (HDF5 schema version 1,
 * docs/hdf5-schema.md), serially, without MPI: for `flagscope report` and
 * `flagscope compare`.
 *
 * fs_h5r_open refuses a file whose root attribute schema_version is not the
 * one this build knows (FS_SCHEMA_VERSION) and a file without complete = 1
 * (one copied while it was still written).  A table is a group of 1-D
 * datasets: the columns are those with as many elements as its key column;
 * the others (ragged data) are read one by one with fs_h5r_dataset.  No
 * dataset larger than the file itself is allocated, whatever it claims.
 */
#ifndef FS_H5READ_H
#define FS_H5READ_H

#include <stdint.h>

#include "fs_error.h"
#include "fs_h5out.h"

typedef struct fs_h5r fs_h5r;

typedef struct fs_col {
  char name[64];
  fs_h5_type type;
  size_t width;  /* bytes of a string element, terminating NUL included */
  int64_t n;
  void *data;    /* double[n], int64_t[n] or char[n][width] */
} fs_col;

typedef struct fs_table {
  char group[64];
  int64_t nrows;
  int ncols;
  fs_col *cols;  /* in the file's (alphabetical) order; fs_table_order reorders */
} fs_table;

int fs_h5r_open(const char *path, fs_h5r **out, fs_error *err);
void fs_h5r_close(fs_h5r *r);
const char *fs_h5r_path(const fs_h5r *r);

/* 1 if the object (group or dataset) exists. */
int fs_h5r_exists(fs_h5r *r, const char *obj);

/* Root attributes: a string (truncated to n bytes; "" if absent: returns 1),
 * up to max doubles (*count set; 0 if absent). */
int fs_h5r_attr_string(fs_h5r *r, const char *name, char *buf, size_t n);
int fs_h5r_attr_doubles(fs_h5r *r, const char *name, double *v, int max, int *count);

int fs_h5r_table(fs_h5r *r, const char *group, const char *key, fs_table *t, fs_error *err);
int fs_h5r_dataset(fs_h5r *r, const char *path, fs_col *c, fs_error *err);

void fs_table_free(fs_table *t);
void fs_col_free(fs_col *c);

/* Move the named columns (those present) to the front, in the order given. */
void fs_table_order(fs_table *t, const char *const *first, int nfirst);

/* Column by name, or NULL. */
const fs_col *fs_table_col(const fs_table *t, const char *name);

/* Element i: numbers as double (NaN for a string or a missing column), a
 * string ("" for a number or a missing column). */
double fs_col_num(const fs_col *c, int64_t i);
const char *fs_col_str(const fs_col *c, int64_t i);

#endif
