/*
 * fs_merge.h - one zoo file from the per-model files of `flagscope analyze
 * --outdir DIR` (flagscope merge DIR --zoo MANIFEST -o ZOO.h5).
 *
 * The result has the schema of a direct `flagscope analyze --zoo MANIFEST`:
 * the tables /models, /matrices and /pairs are the per-model tables
 * concatenated in manifest order, with the indices into other tables
 * renumbered (/matrices/model, /pairs/model, /pairs/writer, /pairs/reader,
 * /models/matrix_start, /models/pair_start) and every ragged offset
 * (X_offset into dataset X of the same group) shifted by the values before.
 * Dataset attributes and the root attributes come from the first file;
 * command_line and created describe the merge.  Only files whose completion
 * record matches the manifest and whose checksum holds are used, and all of
 * them must carry the same analysis options; the others are listed, with
 * their reason, in the summary, and the models that are there are merged.
 * Serial (one process), written as OUT.partial, fsync'ed and renamed.
 */
#ifndef FS_MERGE_H
#define FS_MERGE_H

#include <stdio.h>

#include "fs_error.h"
#include "fs_manifest.h"

/* *nproblems: models missing, damaged or failed, plus bad manifest lines. */
int fs_merge(const fs_manifest *m, const char *dir, const char *out, const char *command_line,
             FILE *summary, int *nproblems, fs_error *err);

#endif
