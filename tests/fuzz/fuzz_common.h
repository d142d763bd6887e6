/*
 * fuzz_common.h - the shared half of the libFuzzer targets (issue 10).
 *
 * Each target writes the input to a file of the format's name in a private
 * temporary directory, opens it with fs_model_open and, when that succeeds,
 * reads every row of every tensor of at most FUZZ_MAX_ELEMS elements, then
 * closes the model.  Any error is fine; a crash, a sanitizer report, a leak
 * or a hang is a bug in a reader.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Tensors above this many elements are opened but not read (16 M). */
#define FUZZ_MAX_ELEMS ((int64_t)1 << 24)

/* The private directory (created on first use), e.g. for shard files. */
const char *fuzz_dir(void);
/* Copy a file of the source tree (path relative to it) into fuzz_dir()
 * under the name `as` (which may contain one subdirectory). */
void fuzz_copy_beside(const char *src_rel, const char *as);
/* Write data to fuzz_dir()/name, open it, read all rows, close; returns 0. */
int fuzz_open_and_read(const uint8_t *data, size_t size, const char *name);

#endif
