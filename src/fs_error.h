/*
 * fs_error.h - one error type and one checking macro for all of flagscope.
 *
 * Every fallible function returns int: 0 on success, FS_ERR (-1) on failure,
 * with a one-line, human-readable reason in an fs_error the caller passed in.
 * Messages name the file, the tensor and the reason; callers add context by
 * prefixing (fs_error_prefix), never by printing.  PETSc/SLEPc errors are
 * folded into the same type by fs_petsc.h.
 */
#ifndef FS_ERROR_H
#define FS_ERROR_H

#include <stdarg.h>

#define FS_ERR (-1)
#define FS_ERRMSG_MAX 512

typedef struct fs_error {
  char msg[FS_ERRMSG_MAX];
} fs_error;

/* Record a formatted reason in err (may be NULL) and return FS_ERR. */
int fs_fail(fs_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepend "context: " to the message already in err; returns FS_ERR. */
int fs_error_prefix(fs_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void fs_error_clear(fs_error *err);

/* Replace control characters (newlines from names read out of a file, say)
 * with '?', so that a message stays one line; returns FS_ERR. */
int fs_error_one_line(fs_error *err);

/* Propagate a failure unchanged: FS_TRY(fs_something(..., err)); */
#define FS_TRY(call)                                                           \
  do {                                                                         \
    int fs_rc_ = (call);                                                       \
    if (fs_rc_) return fs_rc_;                                                 \
  } while (0)

#endif
