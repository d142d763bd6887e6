/*
 * fs_complete.h - durable completion records of the per-model files of a zoo
 * run (flagscope analyze --outdir DIR).
 *
 * Model i of the manifest is DIR/model-IIIIII.h5 (written as .partial,
 * fsync'ed, renamed: fs_h5out) and is complete only when its record
 * DIR/model-IIIIII.done says so: the model's path and tags, the analysis
 * options, the byte size and the FNV-1a 64 checksum of the HDF5 file.  The
 * record is written after the file (temporary file, fsync, rename, fsync of
 * the folder), so it is the commit point: a kill at any moment leaves either
 * no record (the model is redone) or a record that matches a complete file.
 * A file is never trusted without its record, and a record never without
 * re-hashing the file: truncation, garbage or a model listed differently are
 * all "damaged", and the model is redone.
 */
#ifndef FS_COMPLETE_H
#define FS_COMPLETE_H

#include <stddef.h>

#include "fs_error.h"

/* DIR/model-IIIIII.h5 and DIR/model-IIIIII.done (n bytes each). */
void fs_complete_paths(const char *dir, int index, char *h5, char *rec, size_t n);

/* Hash the committed h5 and write its record atomically. */
int fs_complete_commit(const char *h5, const char *rec, const char *path, const char *tags,
                       const char *options, fs_error *err);

/* 1: complete and valid for (path, tags, options; options NULL: any, copied
 * to options_out if given); 0: neither file exists; -1: damaged or stale,
 * with the reason in why. */
int fs_complete_check(const char *h5, const char *rec, const char *path, const char *tags,
                      const char *options, char *options_out, size_t nout, char *why,
                      size_t nwhy);

#endif
