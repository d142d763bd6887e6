/*
 * fs_manifest.c - zoo manifests (see fs_manifest.h for the format).
 */
#define _GNU_SOURCE
#include "fs_manifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES 8192
#define KEY_MAX 32

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static char *resolve(const char *dir, const char *p, size_t len) {
  char *out = NULL;
  if (p[0] == '/' || !dir || !*dir) {
    if (asprintf(&out, "%.*s", (int)len, p) < 0) out = NULL;
  } else if (asprintf(&out, "%s/%.*s", dir, (int)len, p) < 0) {
    out = NULL;
  }
  return out;
}

static int valid_key(const char *k, size_t n) {
  if (!n || n > KEY_MAX || !((k[0] >= 'A' && k[0] <= 'Z') || (k[0] >= 'a' && k[0] <= 'z') || k[0] == '_'))
    return 0;
  for (size_t i = 1; i < n; i++)
    if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", k[i])) return 0;
  return 1;
}

/* Appends one checked key=value token to the tag string. */
static int add_tag(const char *tok, size_t n, const char *dir, char *tags, fs_error *err) {
  const char *eq = memchr(tok, '=', n);
  if (!eq) return fs_fail(err, "'%.*s' is not a key=value tag", (int)n, tok);
  size_t kn = (size_t)(eq - tok), vn = n - kn - 1;
  if (!valid_key(tok, kn))
    return fs_fail(err, "tag key '%.*s' is not a name (letters, digits, _ . -, at most %d bytes)",
                   (int)kn, tok, KEY_MAX);
  if (!vn) return fs_fail(err, "tag '%.*s' has no value", (int)kn, tok);
  if (memchr(eq + 1, '"', vn)) return fs_fail(err, "tag '%.*s': quotes are not allowed in values", (int)kn, tok);
  for (const char *t = tags; *t;) { /* duplicate keys would make the tags ambiguous */
    size_t tk = strcspn(t, "=");
    if (tk == kn && !memcmp(t, tok, kn)) return fs_fail(err, "tag '%.*s' given twice", (int)kn, tok);
    t += strcspn(t, " ");
    t += *t == ' ';
  }
  if (kn == 6 && !memcmp(tok, "family", 6)) {
    for (size_t i = 0; i < vn; i++)
      if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789_", eq[1 + i]) || vn > 15)
        return fs_fail(err, "family '%.*s' is not a family name (lower case, at most 15 bytes)",
                       (int)vn, eq + 1);
  }
  char *val = (kn == 6 && !memcmp(tok, "layers", 6)) ? resolve(dir, eq + 1, vn) : strndup(eq + 1, vn);
  if (!val) return fs_fail(err, "out of memory");
  size_t have = strlen(tags), need = have + (have > 0) + kn + 1 + strlen(val);
  int rc = 0;
  if (need > FS_MANIFEST_TAGS_MAX) rc = fs_fail(err, "tags longer than %d bytes", FS_MANIFEST_TAGS_MAX);
  else { /* need fits: copy the pieces */
    char *t = tags + have;
    if (have) *t++ = ' ';
    memcpy(t, tok, kn + 1);
    strcpy(t + kn + 1, val);
  }
  free(val);
  return rc;
}

int fs_manifest_parse_line(const char *line, const char *dir, fs_manifest_entry *e,
                           fs_error *err) {
  memset(e, 0, sizeof *e);
  const char *s = line;
  while (is_space(*s)) s++;
  if (!*s || *s == '#') return 0;
  const char *p = s, *rest;
  size_t plen;
  if (*s == '"') {
    const char *q = strchr(s + 1, '"');
    if (!q) return fs_fail(err, "unterminated quote");
    p = s + 1, plen = (size_t)(q - p), rest = q + 1;
    if (*rest && !is_space(*rest) && *rest != '#') return fs_fail(err, "text right after the closing quote");
    if (!plen) return fs_fail(err, "empty path");
  } else {
    plen = strcspn(s, " \t\r\n#");
    rest = s + plen;
    /* No '=' in the words after the first: the whole line is one path with
     * spaces, as in one-path-per-line manifests. */
    size_t clen = strcspn(rest, "#");
    if (!memchr(rest, '=', clen)) {
      plen = (size_t)(rest + clen - s);
      while (plen && is_space(s[plen - 1])) plen--;
      rest = s + plen;
    }
  }
  if (plen > 4095) return fs_fail(err, "path longer than 4095 bytes");
  char tags[FS_MANIFEST_TAGS_MAX + 1] = "";
  while (*rest && *rest != '#') {
    while (is_space(*rest)) rest++;
    if (!*rest || *rest == '#') break;
    size_t n = strcspn(rest, " \t\r\n#");
    FS_TRY(add_tag(rest, n, dir, tags, err));
    rest += n;
  }
  e->path = resolve(dir, p, plen);
  e->tags = strdup(tags);
  if (!e->path || !e->tags) {
    fs_manifest_entry_free(e);
    return fs_fail(err, "out of memory");
  }
  return 1;
}

int fs_manifest_tag(const char *tags, const char *key, char *out, size_t n) {
  size_t kn = strlen(key);
  for (const char *t = tags; t && *t;) {
    size_t len = strcspn(t, " ");
    if (len > kn && t[kn] == '=' && !strncmp(t, key, kn)) {
      snprintf(out, n, "%.*s", (int)(len - kn - 1), t + kn + 1);
      return 1;
    }
    t += len;
    t += *t == ' ';
  }
  return 0;
}

static int push(void **v, int n, size_t size) { /* room for element n */
  if (n & (n - 1) && n) return 0; /* capacity doubles at powers of two */
  void *p = realloc(*v, size * (size_t)(n ? 2 * n : 1));
  if (!p) return FS_ERR;
  *v = p;
  return 0;
}

static int add_bad(fs_manifest *m, const char *path, int line, const char *why) {
  if (push((void **)&m->bad, m->nbad, sizeof *m->bad)) return FS_ERR;
  if (asprintf(&m->bad[m->nbad], "%s:%d: %s", path, line, why) < 0) return FS_ERR;
  m->nbad++;
  return 0;
}

int fs_manifest_read(const char *path, fs_manifest *m, fs_error *err) {
  memset(m, 0, sizeof *m);
  FILE *f = fopen(path, "r");
  if (!f) return fs_fail(err, "%s: cannot read the manifest: %s", path, strerror(errno));
  const char *slash = strrchr(path, '/');
  char *dir = strndup(path, slash ? (size_t)(slash - path) : 0);
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int rc = dir ? 0 : fs_fail(err, "out of memory"), lineno = 0;
  while (!rc && (len = getline(&line, &cap, f)) >= 0) {
    lineno++;
    fs_error e;
    fs_error_clear(&e);
    fs_manifest_entry ent;
    int r;
    if (len > LINE_MAX_BYTES) r = fs_fail(&e, "line longer than %d bytes", LINE_MAX_BYTES);
    else if (memchr(line, '\0', (size_t)len)) r = fs_fail(&e, "NUL byte in the line");
    else r = fs_manifest_parse_line(line, dir, &ent, &e);
    if (r < 0) {
      fs_error_one_line(&e);
      if (add_bad(m, path, lineno, e.msg)) rc = fs_fail(err, "out of memory");
    } else if (r == 1) {
      ent.line = lineno;
      if (push((void **)&m->entry, m->n, sizeof *m->entry)) {
        fs_manifest_entry_free(&ent);
        rc = fs_fail(err, "out of memory");
      } else {
        m->entry[m->n++] = ent;
      }
    }
  }
  if (!rc && ferror(f)) rc = fs_fail(err, "%s: read error", path);
  free(line), free(dir);
  fclose(f);
  if (rc) fs_manifest_free(m);
  return rc;
}

void fs_manifest_entry_free(fs_manifest_entry *e) {
  free(e->path), free(e->tags);
  e->path = e->tags = NULL;
}

void fs_manifest_free(fs_manifest *m) {
  for (int i = 0; i < m->n; i++) fs_manifest_entry_free(&m->entry[i]);
  for (int i = 0; i < m->nbad; i++) free(m->bad[i]);
  free(m->entry), free(m->bad);
  memset(m, 0, sizeof *m);
}
