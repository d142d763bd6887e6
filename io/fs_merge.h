/*
 * fs_merge.h - one zoo file from the per-model files of `flagscope analyze
 * --outdir DIR` (flagscope merge DIR --zoo MANIFEST -o ZOO.h5).
 *
 * The result has the schema of a direct `flagscope analyze --zoo MANIFEST`:
 * every table (group at the root: /models, /matrices, /pairs, /heads,
 * /head_overlaps, /stats, /zoo) is the per-model tables concatenated in manifest order,
 * with the columns that index other rows or ragged data (the table
 * INDEX_COLUMNS in fs_merge.c: every `model`, /pairs/writer and reader,
 * /models/matrix_start and pair_start, every *offset) shifted by what the
 * files before hold; a column that looks like an index (offset, _start) but
 * is not in that table makes the merge fail rather than guess.
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
