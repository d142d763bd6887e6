/*
 * fs_manifest.h - zoo manifests: one model per line (docs/user-guide.md).
 *
 *   # comment                       blank lines and '#' comments are skipped
 *   path/to/model.safetensors       a model, relative to the manifest's folder
 *   run3/ckpt.pt seed=3 step=1000 family=mlp layers=run3/map.json
 *   "dir with space/model.gguf" wd=0.1
 *
 * A line is a path (double-quoted if it holds spaces or '#') followed by
 * key=value tags, all of which go to /models/tags.  layers= (resolved like the
 * model path) is also that model's layer map (partition/fs_plan.c).  A
 * line without any '=' after its first word is a whole path, as the one-path-
 * per-line manifests always were.  A bad line is reported with file:line and
 * its reason and skipped; the other models go on.
 */
#ifndef FS_MANIFEST_H
#define FS_MANIFEST_H

#include <stddef.h>

#include "fs_error.h"

#define FS_MANIFEST_TAGS_MAX 511 /* bytes of the tag string (/models/tags holds 512) */

typedef struct fs_manifest_entry {
  char *path; /* resolved: the manifest's folder prefixed to a relative path */
  char *tags; /* "key=value key=value" as given (layers= resolved), "" if none */
  int line;   /* 1-based line of the manifest */
} fs_manifest_entry;

typedef struct fs_manifest {
  int n, nbad;
  fs_manifest_entry *entry;
  char **bad; /* "FILE:LINE: reason", one per skipped line */
} fs_manifest;

/* Read a manifest.  Fails only when the file cannot be read or memory runs
 * out; bad lines are listed in m->bad. */
int fs_manifest_read(const char *path, fs_manifest *m, fs_error *err);

/* Parse one line (without its newline) of a manifest in folder dir ("" for
 * the current one).  Returns 1 and fills e for a model, 0 for a blank or
 * comment line, FS_ERR with the reason in err for a bad line. */
int fs_manifest_parse_line(const char *line, const char *dir, fs_manifest_entry *e,
                           fs_error *err);

/* The value of tag key in a tag string, copied to out (n bytes); 0 if absent. */
int fs_manifest_tag(const char *tags, const char *key, char *out, size_t n);

void fs_manifest_entry_free(fs_manifest_entry *e);
void fs_manifest_free(fs_manifest *m);

#endif
