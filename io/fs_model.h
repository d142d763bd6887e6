/*
 * fs_model.h - one checkpoint file, seen through its header.
 *
 * A reader turns a file into a list of tensors (name, dtype, shape, byte
 * region) and a list of metadata entries, reading the header only.  Every
 * offset, count and shape is checked against the real file size before
 * anything is allocated from it, so a header that claims terabytes is an
 * error, not an allocation.  Tensor data is read later, and only by the rank
 * that owns the tensor (fs_tensor_read_rows).
 *
 * Conventions (SPEC section 2): shapes are row-major, outermost first, and a
 * 2-D weight is presented as [out, in], the nn.Linear layout.  GGUF lists
 * dimensions innermost-first; its reader reverses them.  Formats that store
 * [in, out] set in_out so that fs_tensor_read_rows transposes.
 */
#ifndef FS_MODEL_H
#define FS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "fs_dtype.h"
#include "fs_error.h"

typedef enum { FS_FMT_SAFETENSORS, FS_FMT_GGUF, FS_FMT_SAFETENSORS_INDEX,
               FS_FMT_TFJS, FS_FMT_KERAS, FS_FMT_ONNX, FS_FMT_NPY, FS_FMT_NPZ,
               FS_FMT_TORCH, FS_FMT_COUNT } fs_format;

#define FS_MAX_DIMS 8

typedef struct fs_tensor {
  char *name;
  fs_dtype dtype;
  int ndim;
  int64_t shape[FS_MAX_DIMS]; /* row-major, outermost first */
  int file;                   /* index into the model's files (0: the path opened) */
  uint64_t offset;            /* absolute byte offset of the data in that file */
  uint64_t nbytes;            /* bytes of numel elements of dtype, checked at open */
  int in_out;                 /* 1: the bytes hold the transpose of the [out, in]
                                 view (row-major [cols, rows]); shape, rows and
                                 cols always describe the view */
  int64_t use_order;          /* formats that carry a dataflow graph (ONNX): 1 + the
                                 position of the tensor's first read among the node
                                 inputs in graph order; 0 when unknown */
} fs_tensor;

/* Scalar metadata, rendered as text (arrays are summarised, e.g. "[512 strings]"). */
typedef struct fs_meta {
  char *key;
  char *value;
} fs_meta;

typedef struct fs_model fs_model;

/* Bytes [off, off + n) of a tensor's data, for formats whose tensors are not
 * plain regions of a file (compressed archive members); see fs_model. */
typedef int (*fs_read_bytes_fn)(const fs_model *m, const fs_tensor *t,
                                uint64_t off, size_t n, void *buf, fs_error *err);

struct fs_model {
  char *path;
  fs_format format;
  uint64_t file_size;         /* of path */
  int nfiles;                 /* files holding tensor data; files[0] is path */
  char **files;
  uint64_t *file_sizes;
  uint64_t header_checksum; /* FNV-1a 64 of the header bytes */
  int ntensors;
  fs_tensor *tensors;
  int nmeta;
  fs_meta *meta;
  fs_read_bytes_fn read_bytes; /* NULL: pread from files[t->file] at t->offset */
  void *priv;                  /* the format's own state, freed by free_priv */
  void (*free_priv)(void *priv);
};

/* Detect the format by its magic bytes and read the header.  On failure the
 * model is left empty (safe to close) and err names the file and the reason. */
int fs_model_open(const char *path, fs_model *m, fs_error *err);
void fs_model_close(fs_model *m);

/* Lookups; NULL / -1 when absent. */
const fs_tensor *fs_model_find(const fs_model *m, const char *name);
int fs_model_index(const fs_model *m, const char *name);
const char *fs_model_meta(const fs_model *m, const char *key);

const char *fs_format_name(fs_format f);
int64_t fs_tensor_numel(const fs_tensor *t);
/* Rows and columns of the [out, in] view: a 1-D tensor is 1 x n; a tensor of
 * more dimensions is [shape[0], product of the rest]. */
int64_t fs_tensor_rows(const fs_tensor *t);
int64_t fs_tensor_cols(const fs_tensor *t);

/* Read rows [r0, r1) of the [out, in] view as doubles, row-major, into out
 * ((r1-r0) * cols values).  Fails, naming file and tensor, on a short read or
 * on a NaN/Inf value. */
int fs_tensor_read_rows(const fs_model *m, const fs_tensor *t, int64_t r0,
                        int64_t r1, double *out, fs_error *err);
/* Columns [c0, c1) of rows [r0, r1) of the view into out ((r1-r0) * (c1-c0)
 * values, row-major): only those bytes are read where the format allows (a
 * plain type stored [out, in]), else whole rows a chunk at a time.  Fails
 * like fs_tensor_read_rows, on a non-finite value inside the block only. */
int fs_tensor_read_block(const fs_model *m, const fs_tensor *t, int64_t r0, int64_t r1,
                         int64_t c0, int64_t c1, double *out, fs_error *err);

#endif
