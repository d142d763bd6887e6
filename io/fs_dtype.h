/*
 * fs_dtype.h - element types of stored tensors and their conversion to double.
 *
 * One table describes every type: its name, its block (1 element for plain
 * types; 32 or 256 for llama.cpp's block-quantised types, whose scales are
 * stored inside each block) and the bytes of one block, and a decoder that
 * turns whole blocks into doubles.  A reader maps its format's type codes to
 * these; a type whose decoder is not there yet is refused by name.
 */
#ifndef FS_DTYPE_H
#define FS_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  FS_DT_F64, FS_DT_F32, FS_DT_F16, FS_DT_BF16,
  FS_DT_F8_E4M3, FS_DT_F8_E5M2,
  FS_DT_I8, FS_DT_U8, FS_DT_I16, FS_DT_U16, FS_DT_I32, FS_DT_I64,
  FS_DT_Q8_0, FS_DT_Q4_0, FS_DT_Q4_1, FS_DT_Q5_0, FS_DT_Q5_1,
  FS_DT_Q2_K, FS_DT_Q3_K, FS_DT_Q4_K, FS_DT_Q5_K, FS_DT_Q6_K,
  FS_DT_COUNT
} fs_dtype;

/* Decode nblocks consecutive blocks from src into block * nblocks doubles. */
typedef void (*fs_decode_fn)(const unsigned char *src, size_t nblocks, double *dst);

typedef struct fs_dtype_info {
  const char *name;    /* as the safetensors specification / ggml spell it */
  int block;           /* elements per block */
  int bytes;           /* bytes per block */
  fs_decode_fn decode; /* NULL: known but not supported yet */
} fs_dtype_info;

/* NULL for a value outside the enum. */
const fs_dtype_info *fs_dtype_info_of(fs_dtype t);
const char *fs_dtype_name(fs_dtype t);
/* Bytes of one element of a plain (block 1) type; 0 for block types. */
size_t fs_dtype_size(fs_dtype t);
/* Bytes of numel elements; -1 if numel is not a whole number of blocks or
 * the size overflows. */
int fs_dtype_nbytes(fs_dtype t, uint64_t numel, uint64_t *nbytes);
/* The type of a name ("F32", "Q8_0"); -1 if unknown. */
int fs_dtype_from_name(const char *name);
int fs_dtype_supported(fs_dtype t);

/* Exact conversions of the half-precision formats. */
double fs_f16_to_double(uint16_t h);
double fs_bf16_to_double(uint16_t h);

#endif
