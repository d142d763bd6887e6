/*
 * fs_complete.c - completion records (see fs_complete.h).  The checksum is
 * FNV-1a 64 (Fowler, Noll, Vo) over every byte of the HDF5 file: not a
 * defence against an adversary, a check that the bytes are the ones written.
 */
#define _GNU_SOURCE
#include "fs_complete.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_h5out.h"

#define RECORD_MAGIC "flagscope-model-record 1"

void fs_complete_paths(const char *dir, int index, char *h5, char *rec, size_t n) {
  snprintf(h5, n, "%s/model-%06d.h5", dir, index);
  snprintf(rec, n, "%s/model-%06d.done", dir, index);
}

static int hash_file(const char *path, uint64_t *hash, int64_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  uint64_t h = 1469598103934665603ULL;
  int64_t total = 0;
  static unsigned char buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    for (size_t i = 0; i < n; i++) h = (h ^ buf[i]) * 1099511628211ULL;
    total += (int64_t)n;
  }
  int bad = ferror(f);
  fclose(f);
  *hash = h, *size = total;
  return bad ? -1 : 0;
}

static char *record_text(const char *path, const char *tags, const char *options, int64_t size,
                         uint64_t hash) {
  char *s = NULL;
  if (asprintf(&s, RECORD_MAGIC "\npath=%s\ntags=%s\noptions=%s\nsize=%" PRId64 "\nfnv1a64=%016" PRIx64 "\nend\n",
               path, tags, options, size, hash) < 0)
    return NULL;
  return s;
}

int fs_complete_commit(const char *h5, const char *rec, const char *path, const char *tags,
                       const char *options, fs_error *err) {
  uint64_t hash;
  int64_t size;
  if (hash_file(h5, &hash, &size)) return fs_fail(err, "%s: cannot read back: %s", h5, strerror(errno));
  char *text = record_text(path, tags, options, size, hash), tmp[4200];
  if (!text) return fs_fail(err, "out of memory");
  snprintf(tmp, sizeof tmp, "%s.partial", rec);
  FILE *f = fopen(tmp, "w");
  int rc = 0;
  if (!f) rc = fs_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
  else {
    int w = fputs(text, f) < 0;
    w |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    w |= fclose(f) != 0;
    if (w) rc = fs_fail(err, "%s: cannot write: %s", tmp, strerror(errno));
    else if (rename(tmp, rec)) rc = fs_fail(err, "%s: cannot rename into place: %s", rec, strerror(errno));
    else {
      char dir[4200];
      const char *slash = strrchr(rec, '/');
      snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - rec) : 1, slash ? rec : ".");
      fs_h5_fsync_path(dir);
    }
  }
  free(text);
  return rc;
}

/* The value of "key=" on a line of the record, or NULL. */
static const char *field(const char *text, const char *key, char *out, size_t n) {
  size_t kn = strlen(key);
  for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
    if (!strncmp(l, key, kn) && l[kn] == '=') {
      size_t len = strcspn(l + kn + 1, "\n");
      if (len >= n) return NULL;
      memcpy(out, l + kn + 1, len);
      out[len] = '\0';
      return out;
    }
  return NULL;
}

static char *read_small(const char *path, size_t max) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *s = malloc(max + 1);
  size_t n = s ? fread(s, 1, max, f) : 0;
  fclose(f);
  if (s) s[n] = '\0';
  return s;
}

int fs_complete_check(const char *h5, const char *rec, const char *path, const char *tags,
                      const char *options, char *options_out, size_t nout, char *why,
                      size_t nwhy) {
  struct stat st;
  int have_h5 = stat(h5, &st) == 0, have_rec = access(rec, F_OK) == 0;
  if (!have_h5 && !have_rec) return 0;
  if (!have_rec) return snprintf(why, nwhy, "%s has no completion record (killed before its commit?)", h5), -1;
  if (!have_h5) return snprintf(why, nwhy, "%s is missing but %s exists", h5, rec), -1;
  char *text = read_small(rec, 64 * 1024);
  if (!text) return snprintf(why, nwhy, "%s: cannot read: %s", rec, strerror(errno)), -1;
  int rc = -1;
  char v[8192], opt[8192];
  uint64_t hash = 0;
  int64_t size = 0;
  if (strncmp(text, RECORD_MAGIC "\n", sizeof RECORD_MAGIC) || !strstr(text, "\nend\n"))
    snprintf(why, nwhy, "%s is not a complete record", rec);
  else if (!field(text, "path", v, sizeof v) || strcmp(v, path))
    snprintf(why, nwhy, "%s is of another model (the manifest changed?)", rec);
  else if (!field(text, "tags", v, sizeof v) || strcmp(v, tags))
    snprintf(why, nwhy, "%s has other tags (the manifest changed?)", rec);
  else if (!field(text, "options", opt, sizeof opt) || (options && strcmp(opt, options)))
    snprintf(why, nwhy, "%s was analysed with other options (%s)", h5, opt);
  else if (!field(text, "size", v, sizeof v) || (int64_t)st.st_size != strtoll(v, NULL, 10))
    snprintf(why, nwhy, "%s has %lld bytes, its record says %s", h5, (long long)st.st_size, v);
  else if (hash_file(h5, &hash, &size) || !field(text, "fnv1a64", v, sizeof v) ||
           strtoull(v, NULL, 16) != hash)
    snprintf(why, nwhy, "%s: checksum mismatch (damaged)", h5);
  else {
    rc = 1;
    if (options_out) snprintf(options_out, nout, "%s", opt);
  }
  free(text);
  return rc;
}
