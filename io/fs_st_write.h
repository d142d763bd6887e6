/*
 * fs_st_write.h - write a model as one safetensors file (flagscope convert).
 *
 * Every tensor of any readable format is written in its normalised [out, in]
 * view (see fs_model.h), converted to one float type or kept in its own, with
 * the source's metadata carried over in __metadata__.  The file is written as
 * OUT.partial and renamed when complete.
 */
#ifndef FS_ST_WRITE_H
#define FS_ST_WRITE_H

#include "fs_model.h"

/* to: FS_DT_F64, FS_DT_F32, FS_DT_F16 or FS_DT_BF16; or -1 to keep each
 * float tensor's own type (F32 for integer and quantised sources). */
int fs_st_write(const fs_model *m, const char *out, int to, fs_error *err);

/* Round to nearest, ties to even; overflow gives +-Inf (exact for every value
 * that came from the target type). */
uint16_t fs_double_to_f16(double x);
uint16_t fs_double_to_bf16(double x);

#endif
