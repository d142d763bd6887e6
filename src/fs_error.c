/* fs_error.c - formatting of error reasons (see fs_error.h). */
#include "fs_error.h"

#include <stdio.h>
#include <string.h>

int fs_fail(fs_error *err, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return FS_ERR;
}

int fs_error_prefix(fs_error *err, const char *fmt, ...) {
  if (!err) return FS_ERR;
  char head[FS_ERRMSG_MAX], old[FS_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(head, sizeof head, fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof old);
  /* Context first, then as much of the old reason as fits. */
  size_t h = strlen(head), o = strlen(old);
  if (h > sizeof err->msg - 3) h = sizeof err->msg - 3;
  if (o > sizeof err->msg - 3 - h) o = sizeof err->msg - 3 - h;
  memcpy(err->msg, head, h);
  memcpy(err->msg + h, ": ", 2);
  memcpy(err->msg + h + 2, old, o);
  err->msg[h + 2 + o] = '\0';
  return FS_ERR;
}

void fs_error_clear(fs_error *err) {
  if (err) err->msg[0] = '\0';
}

int fs_error_one_line(fs_error *err) {
  for (char *c = err ? err->msg : NULL; c && *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
  return FS_ERR;
}
