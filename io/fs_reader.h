/*
 * fs_reader.h - private contract between fs_model.c and the format parsers
 * (fs_safetensors.c, fs_gguf.c).  Not installed, not used outside io/.
 *
 * fs_model_open owns the file descriptor, the detection by magic and the
 * final cleanup; a parser only fills the model from an open descriptor.
 * Parser messages do NOT start with the path: fs_model_open prefixes it once,
 * so every error reads "path: tensor 'name': reason" or "path: reason".
 * On failure a parser may leave the model half filled; fs_model_open then
 * frees it with fs_model_close, so every allocation must be reachable from
 * the model at all times (tensors is calloc'ed and ntensors set before the
 * names are filled in).
 */
#ifndef FS_READER_H
#define FS_READER_H

#include <stddef.h>
#include <stdint.h>

#include "fs_model.h"

/* Largest safetensors JSON header we accept (the reference implementation
 * uses the same bound); larger claims are hostile or corrupt. */
#define FS_ST_MAX_HEADER ((uint64_t)100 << 20)

/* Bytes read from the start of a file for format detection. */
#define FS_PROBE_BYTES 64

/* Format probes: 1 if the first n bytes (n <= FS_PROBE_BYTES; fewer only for
 * a shorter file) look like the format. */
int fs_safetensors_probe(const unsigned char *head, size_t n);
int fs_gguf_probe(const unsigned char *head, size_t n);

/* Register another file holding tensor data (shards); files[0] is the path
 * opened, registered by fs_model_open before the parser runs. */
int fs_model_add_file(fs_model *m, const char *path, uint64_t size, fs_error *err);

/* Format parsers: fd is open for reading, size is the file size. */
int fs_safetensors_read(const char *path, int fd, uint64_t size, fs_model *m,
                        fs_error *err);
int fs_gguf_read(const char *path, int fd, uint64_t size, fs_model *m,
                 fs_error *err);

/* pread exactly n bytes at off; a short read or an I/O error is reported
 * with the byte offset (no path: see above). */
int fs_read_at(int fd, void *buf, size_t n, uint64_t off, fs_error *err);

/* FNV-1a 64: start with FS_FNV_OFFSET, feed any number of chunks. */
#define FS_FNV_OFFSET 0xcbf29ce484222325ULL
uint64_t fs_fnv1a64(uint64_t h, const void *data, size_t n);

/* Overflow-checked arithmetic on sizes; return 0 on success, -1 on overflow. */
int fs_mul_u64(uint64_t a, uint64_t b, uint64_t *out);
int fs_add_u64(uint64_t a, uint64_t b, uint64_t *out);
/* Product of the dimensions as int64; -1 when it overflows int64. */
int fs_shape_numel(const int64_t *shape, int ndim, int64_t *numel);
/* "[172, 64]" into buf (for messages). */
const char *fs_shape_str(const int64_t *shape, int ndim, char *buf, size_t len);

/* Append a metadata entry; key and value are copied (value may be counted). */
int fs_model_add_meta(fs_model *m, const char *key, const char *value,
                      size_t value_len, fs_error *err);
/* Allocate n zeroed tensors and set ntensors = n. */
int fs_model_alloc_tensors(fs_model *m, uint64_t n, fs_error *err);
char *fs_strndup(const char *s, size_t n);

/* Shortest decimal text that reads back as exactly v ("1e-05", not
 * "1.0000000000000001e-05"). */
void fs_format_double(char *buf, size_t len, double v);

/* Sharded safetensors (fs_safetensors_index.c).  The index is JSON text. */
int fs_safetensors_index_probe(const unsigned char *head, size_t n);
int fs_safetensors_index_read(const char *path, int fd, uint64_t size, fs_model *m,
                              fs_error *err);
/* Parse one shard's header (fd open, size its file size) and append its
 * tensors to m with file index `file`; its __metadata__ is ignored.
 * checksum gets the FNV-1a 64 of the shard's header. */
int fs_safetensors_read_shard(int fd, uint64_t size, int file, fs_model *m,
                              uint64_t *checksum, fs_error *err);
/* config.json next to path, as for a single safetensors file. */
int fs_safetensors_load_config(const char *path, fs_model *m, fs_error *err);

/* TF/Keras kernel layouts (fs_tf_layout.c): kernels stored [in, out] and
 * [k..., in, out] are presented as [out, in] and [out, in, k...]. */
typedef struct fs_tf_kernel {
  int permute;                 /* an N-D kernel: its bytes are permuted on read */
  int64_t cin, cout, spatial;  /* spatial: the product of the k... dimensions */
} fs_tf_kernel;
/* Every partial product of the dimensions fits int64 (zeros counted as 1), so
 * no view of the tensor overflows even when a zero dimension makes numel 0. */
int fs_tf_dims_fit(const int64_t *shape, int nd);
/* Turn t's stored TF shape into the presented one, recording in k what a read
 * must permute (names ending in "embeddings" are left as stored). */
void fs_tf_orient(const char *name, fs_tensor *t, fs_tf_kernel *k);
/* Elements of esize bytes from the stored [k..., cin, cout] order into the
 * presented [cout, cin, k...] order. */
void fs_tf_permute(const fs_tf_kernel *k, const unsigned char *stored, unsigned char *view,
                   size_t esize);

/* TensorFlow.js model.json / weights manifest (fs_tfjs.c) and Keras HDF5
 * weight files (fs_keras.c). */
int fs_tfjs_probe(const unsigned char *head, size_t n);
int fs_tfjs_read(const char *path, int fd, uint64_t size, fs_model *m, fs_error *err);
int fs_keras_probe(const unsigned char *head, size_t n);
int fs_keras_read(const char *path, int fd, uint64_t size, fs_model *m, fs_error *err);

/* ONNX (fs_onnx.c).  ONNX has no magic bytes, so its probe also needs the
 * file name (see path_probes in fs_model.c). */
int fs_onnx_probe(const char *path, const unsigned char *head, size_t n);
int fs_onnx_read(const char *path, int fd, uint64_t size, fs_model *m, fs_error *err);

/* NumPy .npy (fs_npy.c), .npz (fs_npz.c) and PyTorch zip checkpoints
 * (fs_torch.c).  The two zip probes look at the first member's name only; the
 * central directory then decides between .npz and PyTorch (fs_zip.h). */
int fs_npy_probe(const unsigned char *head, size_t n);
int fs_npy_read(const char *path, int fd, uint64_t size, fs_model *m, fs_error *err);
int fs_npz_probe(const unsigned char *head, size_t n);
int fs_npz_read(const char *path, int fd, uint64_t size, fs_model *m, fs_error *err);
int fs_torch_probe(const unsigned char *head, size_t n);
int fs_torch_read(const char *path, int fd, uint64_t size, fs_model *m, fs_error *err);

#endif
