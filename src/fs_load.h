/*
 * fs_load.h - a matrix of the layer graph as the layer applies it, read from
 * its checkpoint: the slice (row blocks and columns) of the stored [out, in]
 * view, normalisation gains folded into its inputs, a BatchNorm scale into its
 * outputs, or a convolution's input unfolding (SPEC section 2, fs_graph.h).
 */
#ifndef FS_LOAD_H
#define FS_LOAD_H

#include "fs_error.h"
#include "fs_graph.h"
#include "fs_model.h"

/* *out: fs_matrix_rows(x) x fs_matrix_cols(x), row-major, malloc'd (the
 * caller frees it).  Only the rows of the slice are read, except for an input
 * unfolding, which needs the whole kernel. */
int fs_load_matrix(const fs_model *m, const fs_matrix *x, double **out, fs_error *err);

/* Rows [i0, i1) of the same matrix into out ((i1 - i0) x cols, row-major,
 * the caller's), for a rank that holds only a row block (fs_spectrum_dist).
 * Only the stored rows behind them are read, FS_LOAD_CHUNK_ROWS at a time;
 * an input unfolding's rows are columns of the kernel, so the whole kernel is
 * streamed through in chunks of FS_LOAD_CHUNK_ROWS stored rows (memory: the
 * chunk, not the kernel; bytes read: the whole kernel). */
int fs_load_matrix_rows(const fs_model *m, const fs_matrix *x, int64_t i0, int64_t i1,
                        double *out, fs_error *err);
#define FS_LOAD_CHUNK_ROWS 64

#endif
