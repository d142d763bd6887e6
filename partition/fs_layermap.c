/*
 * fs_layermap.c - the user's layer map (see fs_layermap.h and
 * docs/layer-graph.md, "Layer-map files").
 *
 *   mode extend|override|replace
 *   heads H [H_KV]
 *   pair TYPE WRITER READER [transpose=writer|reader|both] [fold=GAIN]
 *        [heads=H] [kv=H_KV] [block=N]
 *   role TENSOR matrix|ignore [transpose]
 *
 * One directive a line, '#' starts a comment.  A pair joins the writer's
 * output space to the reader's input space as fs_graph.c does: a convolution
 * writes through its output unfolding and reads through its input unfolding;
 * an ov pair with heads= is split per head (V rows of kv head g -> O columns
 * of query head h, g = h / (H / H_kv)).
 */
#include "fs_layermap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_graph_rules.h"

enum { MODE_EXTEND, MODE_OVERRIDE, MODE_REPLACE };
enum { LINE_PAIR, LINE_ROLE };

typedef struct lm_line {
  int line, kind;
  fs_pair_type type;
  char *w, *r, *fold; /* pair: writer, reader, gain (NULL: none) */
  int tw, tr;         /* the writer / reader is stored [in, out] */
  int heads, kv, block;
  int ignore;         /* role: 1 ignore, 0 matrix (tensor in w, transposed in tw) */
} lm_line;

struct fs_layermap {
  char *path;
  int mode, heads, kv;
  int n, cap;
  lm_line *l;
};

static const fs_layermap *active_map;

void fs_layermap_activate(const fs_layermap *map) { active_map = map; }
const fs_layermap *fs_layermap_active(void) { return active_map; }
int fs_layermap_replaces(const fs_layermap *map) { return map && map->mode == MODE_REPLACE; }

void fs_layermap_heads(const fs_layermap *map, int *h, int *kv) {
  if (!map || !map->heads) return;
  *h = map->heads, *kv = map->kv;
}

void fs_layermap_free(fs_layermap *map) {
  if (!map) return;
  for (int i = 0; i < map->n; i++) free(map->l[i].w), free(map->l[i].r), free(map->l[i].fold);
  free(map->l);
  free(map->path);
  free(map);
}

/* ---- parsing ------------------------------------------------------------------ */

#define MAX_TOK 16

static int parse_int(const char *s, int lo, int hi, int *v) {
  char *end;
  errno = 0;
  long x = strtol(s, &end, 10);
  if (end == s || *end || errno || x < lo || x > hi) return FS_ERR;
  *v = (int)x;
  return 0;
}

static int pair_type_of(const char *s, fs_pair_type *t) {
  for (int i = 0; i < FS_PAIR_NTYPES; i++)
    if (!strcmp(s, fs_pair_type_name((fs_pair_type)i))) return *t = (fs_pair_type)i, 0;
  return FS_ERR;
}

static int pair_option(const fs_layermap *map, int ln, const char *opt, lm_line *x,
                       fs_error *err) {
  const char *eq = strchr(opt, '=');
  if (!eq || eq == opt || !eq[1])
    return fs_fail(err, "%s:%d: '%s': a pair option is key=value", map->path, ln, opt);
  size_t k = (size_t)(eq - opt);
  const char *v = eq + 1;
  if (k == 9 && !strncmp(opt, "transpose", k)) {
    if (!strcmp(v, "writer")) x->tw = 1;
    else if (!strcmp(v, "reader")) x->tr = 1;
    else if (!strcmp(v, "both")) x->tw = x->tr = 1;
    else return fs_fail(err, "%s:%d: transpose=%s: expected writer, reader or both", map->path, ln, v);
  } else if (k == 4 && !strncmp(opt, "fold", k)) {
    if (!(x->fold = strdup(v))) return fs_fail(err, "out of memory reading %s", map->path);
  } else if (k == 5 && !strncmp(opt, "heads", k)) {
    if (parse_int(v, 1, 65536, &x->heads))
      return fs_fail(err, "%s:%d: heads=%s: expected a head count from 1 to 65536", map->path, ln, v);
  } else if (k == 2 && !strncmp(opt, "kv", k)) {
    if (parse_int(v, 1, 65536, &x->kv))
      return fs_fail(err, "%s:%d: kv=%s: expected a head count from 1 to 65536", map->path, ln, v);
  } else if (k == 5 && !strncmp(opt, "block", k)) {
    if (parse_int(v, 0, 1000000, &x->block))
      return fs_fail(err, "%s:%d: block=%s: expected a block index >= 0", map->path, ln, v);
  } else {
    return fs_fail(err, "%s:%d: unknown pair option '%.*s' (expected transpose, fold, heads, "
                   "kv or block)", map->path, ln, (int)k, opt);
  }
  return 0;
}

static int parse_pair(fs_layermap *map, int ln, char **tok, int nt, lm_line *x, fs_error *err) {
  if (nt < 4)
    return fs_fail(err, "%s:%d: pair needs a type, a writer and a reader tensor", map->path, ln);
  if (pair_type_of(tok[1], &x->type))
    return fs_fail(err, "%s:%d: unknown pair type '%s' (expected chain, mlp, ov, residual, "
                   "block or classifier)", map->path, ln, tok[1]);
  x->kind = LINE_PAIR;
  x->block = -1;
  if (!(x->w = strdup(tok[2])) || !(x->r = strdup(tok[3])))
    return fs_fail(err, "out of memory reading %s", map->path);
  for (int i = 4; i < nt; i++) FS_TRY(pair_option(map, ln, tok[i], x, err));
  if ((x->heads || x->kv) && x->type != FS_PAIR_OV)
    return fs_fail(err, "%s:%d: heads= and kv= split ov pairs only", map->path, ln);
  if (x->heads && x->fold)
    return fs_fail(err, "%s:%d: fold= does not apply to an ov pair split by heads=", map->path, ln);
  if (x->kv && !x->heads)
    return fs_fail(err, "%s:%d: kv= needs heads=", map->path, ln);
  if (!x->kv) x->kv = x->heads;
  if (x->heads && x->heads % x->kv)
    return fs_fail(err, "%s:%d: kv=%d does not divide heads=%d", map->path, ln, x->kv, x->heads);
  return 0;
}

static int parse_role(fs_layermap *map, int ln, char **tok, int nt, lm_line *x, fs_error *err) {
  if (nt < 3 || nt > 4 || (strcmp(tok[2], "matrix") && strcmp(tok[2], "ignore")) ||
      (nt == 4 && strcmp(tok[3], "transpose")))
    return fs_fail(err, "%s:%d: expected 'role TENSOR matrix [transpose]' or 'role TENSOR ignore'",
                   map->path, ln);
  x->kind = LINE_ROLE;
  x->ignore = !strcmp(tok[2], "ignore");
  x->tw = nt == 4;
  if (x->ignore && x->tw)
    return fs_fail(err, "%s:%d: an ignored tensor has no orientation", map->path, ln);
  if (!(x->w = strdup(tok[1]))) return fs_fail(err, "out of memory reading %s", map->path);
  return 0;
}

static int parse_line(fs_layermap *map, int ln, char **tok, int nt, int *seen_mode,
                      fs_error *err) {
  if (!strcmp(tok[0], "mode")) {
    static const char *modes[] = {"extend", "override", "replace"};
    if (nt != 2) return fs_fail(err, "%s:%d: mode takes one word", map->path, ln);
    if (*seen_mode) return fs_fail(err, "%s:%d: mode given twice", map->path, ln);
    for (map->mode = 0; map->mode < 3 && strcmp(tok[1], modes[map->mode]); map->mode++) {}
    if (map->mode == 3)
      return fs_fail(err, "%s:%d: mode %s: expected extend, override or replace", map->path, ln,
                     tok[1]);
    *seen_mode = 1;
    return 0;
  }
  if (!strcmp(tok[0], "heads")) {
    if (nt < 2 || nt > 3 || parse_int(tok[1], 1, 65536, &map->heads) ||
        (nt == 3 && parse_int(tok[2], 1, 65536, &map->kv)))
      return fs_fail(err, "%s:%d: expected 'heads H [H_KV]' with counts from 1 to 65536",
                     map->path, ln);
    if (nt == 2) map->kv = map->heads;
    if (map->heads % map->kv)
      return fs_fail(err, "%s:%d: %d key/value heads do not divide %d heads", map->path, ln,
                     map->kv, map->heads);
    return 0;
  }
  if (strcmp(tok[0], "pair") && strcmp(tok[0], "role"))
    return fs_fail(err, "%s:%d: unknown directive '%s' (expected mode, heads, pair or role)",
                   map->path, ln, tok[0]);
  if (map->n == map->cap) {
    int cap = map->cap ? 2 * map->cap : 16;
    lm_line *l = realloc(map->l, sizeof *l * (size_t)cap);
    if (!l) return fs_fail(err, "out of memory reading %s", map->path);
    map->l = l, map->cap = cap;
  }
  lm_line *x = &map->l[map->n++];
  memset(x, 0, sizeof *x);
  x->line = ln;
  return tok[0][0] == 'p' ? parse_pair(map, ln, tok, nt, x, err)
                          : parse_role(map, ln, tok, nt, x, err);
}

int fs_layermap_read(const char *path, fs_layermap **out, fs_error *err) {
  *out = NULL;
  fs_layermap *map = calloc(1, sizeof *map);
  if (!map || !(map->path = strdup(path))) {
    free(map);
    return fs_fail(err, "out of memory reading %s", path);
  }
  FILE *f = fopen(path, "r");
  if (!f) {
    fs_fail(err, "%s: cannot read the layer map: %s", path, strerror(errno));
    fs_layermap_free(map);
    return FS_ERR;
  }
  char buf[4096];
  int ln = 0, rc = 0, seen_mode = 0;
  while (!rc && fgets(buf, sizeof buf, f)) {
    ln++;
    size_t len = strlen(buf);
    if (len == sizeof buf - 1 && buf[len - 1] != '\n' && !feof(f)) {
      rc = fs_fail(err, "%s:%d: line longer than %zu bytes", path, ln, sizeof buf - 2);
      break;
    }
    buf[strcspn(buf, "#\r\n")] = '\0';
    char *tok[MAX_TOK + 1], *save = NULL;
    int nt = 0;
    for (char *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
      if (nt == MAX_TOK) {
        rc = fs_fail(err, "%s:%d: more than %d words", path, ln, MAX_TOK);
        break;
      }
      tok[nt++] = t;
    }
    if (!rc && nt) rc = parse_line(map, ln, tok, nt, &seen_mode, err);
  }
  if (!rc && ferror(f)) rc = fs_fail(err, "%s: read error", path);
  fclose(f);
  if (!rc && !map->n && !map->heads)
    rc = fs_fail(err, "%s: the layer map has no pair, role or heads line", path);
  if (rc) {
    fs_error_one_line(err);
    fs_layermap_free(map);
    return FS_ERR;
  }
  *out = map;
  return 0;
}

/* ---- applying ------------------------------------------------------------------- */

static int tensor_of(const fs_layermap *map, const lm_line *x, const fs_model *m, const char *name,
                     const char *what, fs_error *err) {
  int t = fs_model_index(m, name);
  if (t < 0) return fs_fail(err, "%s:%d: %s tensor '%s' is not in the model", map->path, x->line,
                            what, name);
  if (m->tensors[t].ndim < 2 || fs_tensor_numel(&m->tensors[t]) <= 0)
    return fs_fail(err, "%s:%d: %s tensor '%s' is not a matrix (%d dimensions)", map->path,
                   x->line, what, name, m->tensors[t].ndim);
  return t;
}

/* A whole, unsliced matrix of tensor t already in the graph, or -1.  fold
 * ANY_FOLD takes the layer as the rules read it (a norm gain folded in or
 * not): a map line without fold= means that layer. */
#define ANY_FOLD (-2)
static int find_whole(const fs_graph *g, const fs_model *m, int t, int transposed, int fold,
                      int unfold) {
  for (int i = 0; i < g->nmat; i++) {
    const fs_matrix *x = &g->mat[i];
    if (x->tensor != t || x->head >= 0 || x->rep != 1 || x->unfold_in != unfold ||
        (fold != ANY_FOLD && x->fold != fold) || (!unfold && x->transposed != transposed))
      continue;
    int64_t r = fs_tensor_rows(&m->tensors[t]), c = fs_tensor_cols(&m->tensors[t]);
    if (!unfold && x->r0 == 0 && x->r1 == r && x->c0 == 0 && x->c1 == c) return i;
    if (unfold && x->r0 == 0 && x->r1 == m->tensors[t].shape[1]) return i;
  }
  return -1;
}

static int writer_of(const fs_model *m, fs_graph *g, int t, int tw, int block, fs_error *err) {
  int conv = m->tensors[t].ndim >= 3;
  int i = find_whole(g, m, t, conv ? 0 : tw, ANY_FOLD, 0);
  if (i >= 0) return i;
  if (conv) {
    bnorm none = {-1, -1, 0, ""};
    return fs_graph_add_out(g, m, t, &none, block, err);
  }
  return fs_graph_add_whole(g, m, t, tw, -1, block, err);
}

static int reader_of(const fs_model *m, fs_graph *g, int t, int tr, int fold, int block,
                     fs_error *err) {
  int want = fold >= 0 ? fold : ANY_FOLD;
  if (m->tensors[t].ndim >= 3) {
    int i = find_whole(g, m, t, 1, want, 1);
    if (i >= 0) return i;
    bnorm none = {-1, -1, 0, ""};
    int64_t cin = m->tensors[t].shape[1];
    return fs_graph_add_in_rows(g, m, t, cin, 0, cin, &none, fold, block, err);
  }
  int i = find_whole(g, m, t, tr, want, 0);
  return i >= 0 ? i : fs_graph_add_whole(g, m, t, tr, fold, block, err);
}

static int64_t out_dim(const fs_model *m, int t, int tr) {
  return tr ? fs_tensor_cols(&m->tensors[t]) : fs_tensor_rows(&m->tensors[t]);
}
static int64_t in_dim(const fs_model *m, int t, int tr) {
  if (m->tensors[t].ndim >= 3) return m->tensors[t].shape[1];
  return tr ? fs_tensor_rows(&m->tensors[t]) : fs_tensor_cols(&m->tensors[t]);
}

/* ov with heads=: kv slices of V, H slices of O, one pair per query head. */
static int apply_heads(const fs_layermap *map, const lm_line *x, const fs_model *m, fs_graph *g,
                       int v, int o, fs_error *err) {
  int64_t vout = out_dim(m, v, x->tw), oin = in_dim(m, o, x->tr);
  if (vout % x->kv || oin != vout / x->kv * x->heads)
    return fs_fail(err, "%s:%d: heads=%d kv=%d do not fit: '%s' writes %lld (kv x head size), "
                   "'%s' reads %lld (heads x head size)", map->path, x->line, x->heads, x->kv,
                   x->w, (long long)vout, x->r, (long long)oin);
  int64_t hd = vout / x->kv;
  int first = g->nmat;
  for (int kv = 0; kv < x->kv; kv++) {
    char sfx[32];
    snprintf(sfx, sizeof sfx, "[kv %d]", kv);
    mapslice s = {v, x->tw, -1, x->block, kv, kv * hd, (kv + 1) * hd, 1, 0, 0,
                  in_dim(m, v, x->tw), sfx};
    if (fs_graph_add_matrix(g, m, &s, err) < 0) return FS_ERR;
  }
  for (int h = 0; h < x->heads; h++) {
    char sfx[32];
    snprintf(sfx, sizeof sfx, "[head %d]", h);
    mapslice s = {o, x->tr, -1, x->block, h, 0,
                  out_dim(m, o, x->tr), 1, 0, h * hd, (h + 1) * hd, sfx};
    int oi = fs_graph_add_matrix(g, m, &s, err);
    if (oi < 0) return FS_ERR;
    FS_TRY(fs_graph_add_pair(g, FS_PAIR_OV, first + h / (x->heads / x->kv), oi, x->block, h, err));
  }
  if (!g->n_head) g->n_head = x->heads, g->n_head_kv = x->kv, g->head_dim = (int)hd;
  return 0;
}

static int has_pair(const fs_graph *g, fs_pair_type type, int w, int r) {
  for (int i = 0; i < g->npair; i++)
    if (g->pair[i].type == type && g->pair[i].writer == w && g->pair[i].reader == r) return 1;
  return 0;
}

static int apply_pair(const fs_layermap *map, const lm_line *x, const fs_model *m, fs_graph *g,
                      fs_error *err) {
  int w = tensor_of(map, x, m, x->w, "writer", err), r = w < 0 ? -1 : tensor_of(map, x, m, x->r, "reader", err);
  if (w < 0 || r < 0) return FS_ERR;
  int fold = -1;
  if (x->fold) {
    fold = fs_model_index(m, x->fold);
    if (fold < 0)
      return fs_fail(err, "%s:%d: fold tensor '%s' is not in the model", map->path, x->line, x->fold);
    if (m->tensors[fold].ndim != 1 || m->tensors[fold].shape[0] != in_dim(m, r, x->tr))
      return fs_fail(err, "%s:%d: fold tensor '%s' must be 1-D with %lld entries (the inputs of "
                     "'%s')", map->path, x->line, x->fold, (long long)in_dim(m, r, x->tr), x->r);
  }
  if (x->heads) return apply_heads(map, x, m, g, w, r, err);
  if (out_dim(m, w, x->tw) != in_dim(m, r, x->tr))
    return fs_fail(err, "%s:%d: writer '%s' writes %lld dimensions, reader '%s' reads %lld%s",
                   map->path, x->line, x->w, (long long)out_dim(m, w, x->tw), x->r,
                   (long long)in_dim(m, r, x->tr),
                   x->tw || x->tr ? "" : " (stored [in, out]? add transpose=)");
  int wi = writer_of(m, g, w, x->tw, x->block, err);
  int ri = wi < 0 ? -1 : reader_of(m, g, r, x->tr, fold, x->block, err);
  if (wi < 0 || ri < 0) return FS_ERR;
  if (has_pair(g, x->type, wi, ri)) return 0;
  return fs_graph_add_pair(g, x->type, wi, ri, x->block, -1, err);
}

/* Drops matrices (and the pairs that use them) whose drop flag is set. */
static void drop_matrices(fs_graph *g, const char *drop) {
  int *map = malloc(sizeof *map * (size_t)(g->nmat + 1)), n = 0, np = 0;
  if (!map) return; /* nothing dropped: the graph stays consistent */
  for (int i = 0; i < g->nmat; i++) {
    map[i] = drop[i] ? -1 : n;
    if (!drop[i]) g->mat[n++] = g->mat[i];
  }
  for (int i = 0; i < g->npair; i++) {
    fs_pair p = g->pair[i];
    if (map[p.writer] < 0 || map[p.reader] < 0) continue;
    p.writer = map[p.writer], p.reader = map[p.reader];
    g->pair[np++] = p;
  }
  g->nmat = n, g->npair = np;
  free(map);
}

static int named(const fs_layermap *map, const char *name) {
  for (int i = 0; i < map->n; i++)
    if (!strcmp(map->l[i].w, name) || (map->l[i].r && !strcmp(map->l[i].r, name))) return 1;
  return 0;
}

/* Override: the inferred pairs that touch a tensor the map names go; ignored
 * tensors lose their matrices in every mode. */
static int prune(const fs_layermap *map, const fs_model *m, fs_graph *g, fs_error *err) {
  char *drop = calloc((size_t)g->nmat + 1, 1);
  if (!drop) return fs_fail(err, "out of memory applying %s", map->path);
  for (int i = 0; i < g->nmat; i++)
    for (int j = 0; j < map->n; j++)
      if (map->l[j].kind == LINE_ROLE && map->l[j].ignore &&
          !strcmp(map->l[j].w, m->tensors[g->mat[i].tensor].name))
        drop[i] = 1;
  drop_matrices(g, drop);
  free(drop);
  if (map->mode != MODE_OVERRIDE) return 0;
  int np = 0;
  for (int i = 0; i < g->npair; i++)
    if (!named(map, m->tensors[g->mat[g->pair[i].writer].tensor].name) &&
        !named(map, m->tensors[g->mat[g->pair[i].reader].tensor].name))
      g->pair[np++] = g->pair[i];
  g->npair = np;
  return 0;
}

int fs_layermap_apply(const fs_layermap *map, const fs_model *m, fs_graph *g, fs_error *err) {
  if (!map) return 0;
  FS_TRY(prune(map, m, g, err));
  for (int i = 0; i < map->n; i++) {
    const lm_line *x = &map->l[i];
    if (x->kind == LINE_PAIR) {
      FS_TRY(apply_pair(map, x, m, g, err));
    } else if (!x->ignore) {
      int t = tensor_of(map, x, m, x->w, "role", err);
      if (t < 0) return FS_ERR;
      if (find_whole(g, m, t, x->tw, ANY_FOLD, 0) < 0 &&
          fs_graph_add_whole(g, m, t, x->tw, -1, -1, err) < 0)
        return FS_ERR;
    } else if (fs_model_index(m, x->w) < 0) {
      return fs_fail(err, "%s:%d: ignored tensor '%s' is not in the model", map->path, x->line, x->w);
    }
  }
  if (map->mode == MODE_REPLACE || !g->family[0] || !strcmp(g->family, "matrices"))
    snprintf(g->family, sizeof g->family, "layer-map");
  return 0;
}

void fs_layermap_mark_ignored(const fs_layermap *map, const fs_model *m, char *used) {
  for (int i = 0; map && i < map->n; i++)
    if (map->l[i].kind == LINE_ROLE && map->l[i].ignore) {
      int t = fs_model_index(m, map->l[i].w);
      if (t >= 0) used[t] = 1;
    }
}
