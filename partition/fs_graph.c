/*
 * fs_graph.c - rule tables that turn tensor names and shapes into a layer
 * graph (see fs_graph.h and docs/layer-graph.md).
 *
 * The rules are data: a table of name patterns per role, one column per naming
 * scheme (GGUF, Hugging Face).  Adding a naming scheme of the same family is
 * adding a column; the pairing logic below does not change.
 */
#include "fs_graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *fs_pair_type_name(fs_pair_type t) {
  static const char *names[FS_PAIR_NTYPES] = {"chain", "mlp", "ov", "residual",
                                              "block", "classifier"};
  return (unsigned)t < FS_PAIR_NTYPES ? names[t] : "?";
}

/* ---- Llama-family rule table -------------------------------------------- */

enum { R_Q, R_K, R_V, R_O, R_GATE, R_UP, R_DOWN, R_ATTN_NORM, R_FFN_NORM, N_BLOCK_ROLES };
enum { G_EMBED, G_OUT_NORM, G_OUTPUT, N_GLOBAL_ROLES };
enum { SCHEME_GGUF, SCHEME_HF, N_SCHEMES };

static const char *const block_rules[N_BLOCK_ROLES][N_SCHEMES] = {
    [R_Q] = {"blk.%d.attn_q.weight", "model.layers.%d.self_attn.q_proj.weight"},
    [R_K] = {"blk.%d.attn_k.weight", "model.layers.%d.self_attn.k_proj.weight"},
    [R_V] = {"blk.%d.attn_v.weight", "model.layers.%d.self_attn.v_proj.weight"},
    [R_O] = {"blk.%d.attn_output.weight", "model.layers.%d.self_attn.o_proj.weight"},
    [R_GATE] = {"blk.%d.ffn_gate.weight", "model.layers.%d.mlp.gate_proj.weight"},
    [R_UP] = {"blk.%d.ffn_up.weight", "model.layers.%d.mlp.up_proj.weight"},
    [R_DOWN] = {"blk.%d.ffn_down.weight", "model.layers.%d.mlp.down_proj.weight"},
    [R_ATTN_NORM] = {"blk.%d.attn_norm.weight", "model.layers.%d.input_layernorm.weight"},
    [R_FFN_NORM] = {"blk.%d.ffn_norm.weight",
                    "model.layers.%d.post_attention_layernorm.weight"},
};

static const char *const global_rules[N_GLOBAL_ROLES][N_SCHEMES] = {
    [G_EMBED] = {"token_embd.weight", "model.embed_tokens.weight"},
    [G_OUT_NORM] = {"output_norm.weight", "model.norm.weight"},
    [G_OUTPUT] = {"output.weight", "lm_head.weight"},
};

/* Head counts: GGUF "<arch>.attention.head_count[_kv]", HF config.json. */
static const char *const head_keys[2][N_SCHEMES] = {
    {"%s.attention.head_count", "config.num_attention_heads"},
    {"%s.attention.head_count_kv", "config.num_key_value_heads"},
};

/* Match name against a pattern holding at most one "%d"; *idx gets the number. */
static int match_pattern(const char *pat, const char *name, int *idx) {
  const char *hole = strstr(pat, "%d");
  if (!hole) return strcmp(pat, name) == 0;
  size_t pre = (size_t)(hole - pat);
  if (strncmp(pat, name, pre) != 0) return 0;
  const char *p = name + pre;
  if (*p < '0' || *p > '9') return 0;
  long v = 0;
  while (*p >= '0' && *p <= '9' && v < 1000000) v = 10 * v + (*p++ - '0');
  if (v >= 1000000) return 0;
  if (strcmp(p, hole + 2) != 0) return 0;
  *idx = (int)v;
  return 1;
}

/* ---- growing arrays ----------------------------------------------------- */

static int add_matrix(fs_graph *g, const fs_model *m, int tensor, int fold,
                      int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                      int transposed, int block, int head, const char *suffix,
                      fs_error *err) {
  if (g->nmat % 64 == 0) {
    fs_matrix *p = realloc(g->mat, sizeof *p * (size_t)(g->nmat + 64));
    if (!p) return fs_fail(err, "out of memory building the layer graph");
    g->mat = p;
  }
  fs_matrix *x = &g->mat[g->nmat];
  memset(x, 0, sizeof *x);
  snprintf(x->name, sizeof x->name, "%s%s", m->tensors[tensor].name, suffix ? suffix : "");
  x->tensor = tensor;
  x->fold = fold;
  x->r0 = r0, x->r1 = r1, x->c0 = c0, x->c1 = c1;
  x->transposed = transposed;
  x->block = block;
  x->head = head;
  return g->nmat++;
}

static int add_whole(fs_graph *g, const fs_model *m, int tensor, int fold,
                     int block, fs_error *err) {
  const fs_tensor *t = &m->tensors[tensor];
  return add_matrix(g, m, tensor, fold, 0, fs_tensor_rows(t), 0, fs_tensor_cols(t),
                    0, block, -1, NULL, err);
}

/* A pair joins spaces of one dimension; anything else is a rule bug. */
static int add_pair(fs_graph *g, fs_pair_type type, int w, int r, int block,
                    int head, fs_error *err) {
  if (w < 0 || r < 0) return 0;
  if (fs_matrix_out_dim(&g->mat[w]) != fs_matrix_in_dim(&g->mat[r]))
    return fs_fail(err, "%s pair %s -> %s: writer output dimension %lld != reader input "
                   "dimension %lld", fs_pair_type_name(type), g->mat[w].name, g->mat[r].name,
                   (long long)fs_matrix_out_dim(&g->mat[w]),
                   (long long)fs_matrix_in_dim(&g->mat[r]));
  if (g->npair % 64 == 0) {
    fs_pair *p = realloc(g->pair, sizeof *p * (size_t)(g->npair + 64));
    if (!p) return fs_fail(err, "out of memory building the layer graph");
    g->pair = p;
  }
  g->pair[g->npair++] = (fs_pair){type, w, r, block, head};
  return 0;
}

/* A gain can be folded into a reader only if it has one entry per column. */
static int gain_for(const fs_model *m, int gain, int tensor) {
  if (gain < 0) return -1;
  const fs_tensor *gt = &m->tensors[gain], *t = &m->tensors[tensor];
  return (gt->ndim == 1 && gt->shape[0] == fs_tensor_cols(t)) ? gain : -1;
}

/* ---- Llama ---------------------------------------------------------------- */

typedef struct llama_layout {
  int scheme, nblocks;
  int (*role)[N_BLOCK_ROLES]; /* tensor index per block and role, -1 if absent */
  int global[N_GLOBAL_ROLES];
} llama_layout;

static int find_llama(const fs_model *m, llama_layout *L, fs_error *err) {
  memset(L, 0, sizeof *L);
  for (int s = 0; s < N_SCHEMES && !L->nblocks; s++) {
    int maxb = -1;
    for (int t = 0; t < m->ntensors; t++)
      for (int r = 0; r < N_BLOCK_ROLES; r++) {
        int b;
        if (match_pattern(block_rules[r][s], m->tensors[t].name, &b) && b > maxb) maxb = b;
      }
    if (maxb < 0) continue;
    L->scheme = s;
    L->nblocks = maxb + 1;
  }
  if (!L->nblocks) return 0;
  L->role = malloc(sizeof *L->role * (size_t)L->nblocks);
  if (!L->role) return fs_fail(err, "out of memory building the layer graph");
  memset(L->role, 0xff, sizeof *L->role * (size_t)L->nblocks); /* all -1 */
  for (int r = 0; r < N_GLOBAL_ROLES; r++)
    L->global[r] = fs_model_index(m, global_rules[r][L->scheme]);
  for (int t = 0; t < m->ntensors; t++)
    for (int r = 0; r < N_BLOCK_ROLES; r++) {
      int b;
      if (match_pattern(block_rules[r][L->scheme], m->tensors[t].name, &b))
        L->role[b][r] = t;
    }
  return 0;
}

static int meta_int(const fs_model *m, const char *fmt, const char *arch) {
  char key[128];
  snprintf(key, sizeof key, fmt, arch ? arch : "llama");
  const char *v = fs_model_meta(m, key);
  if (!v) return 0;
  char *end;
  long x = strtol(v, &end, 10);
  return (*end == '\0' && x > 0 && x < 1000000) ? (int)x : 0;
}

/* Head counts from metadata, checked against the Q/K/V/O shapes of block 0. */
static void llama_heads(const fs_model *m, const llama_layout *L, fs_graph *g) {
  const char *arch = fs_model_meta(m, "general.architecture");
  int h = meta_int(m, head_keys[0][L->scheme], arch);
  int kv = meta_int(m, head_keys[1][L->scheme], arch);
  if (!kv) kv = h;
  const int *r0 = L->role[0];
  if (!h) {
    snprintf(g->note, sizeof g->note, "head count unknown (no %s in the metadata): "
             "ov pairs skipped", head_keys[0][L->scheme]);
    return;
  }
  if (r0[R_Q] < 0 || r0[R_K] < 0 || r0[R_V] < 0 || r0[R_O] < 0) {
    snprintf(g->note, sizeof g->note, "block 0 lacks one of Q, K, V, O: ov pairs skipped");
    return;
  }
  int64_t q = fs_tensor_rows(&m->tensors[r0[R_Q]]);
  int64_t k = fs_tensor_rows(&m->tensors[r0[R_K]]);
  int64_t v = fs_tensor_rows(&m->tensors[r0[R_V]]);
  int64_t o = fs_tensor_cols(&m->tensors[r0[R_O]]);
  if (q % h || h % kv || k != q / h * kv || v != k || o != q) {
    snprintf(g->note, sizeof g->note, "%d heads / %d kv heads do not fit %s rows %lld, "
             "%s rows %lld: ov pairs skipped", h, kv, m->tensors[r0[R_Q]].name,
             (long long)q, m->tensors[r0[R_K]].name, (long long)k);
    return;
  }
  g->n_head = h, g->n_head_kv = kv, g->head_dim = (int)(q / h);
}

/* Matrices of one block; idx[] receives their graph indices (-1 if absent). */
static int llama_block_matrices(const fs_model *m, const int *role, int b,
                                fs_graph *g, int *idx, fs_error *err) {
  static const int attn_readers[] = {R_Q, R_K, R_V}, ffn_readers[] = {R_GATE, R_UP};
  for (int r = 0; r < N_BLOCK_ROLES; r++) idx[r] = -1;
  for (int i = 0; i < 3; i++) {
    int t = role[attn_readers[i]];
    if (t >= 0) idx[attn_readers[i]] = add_whole(g, m, t, gain_for(m, role[R_ATTN_NORM], t), b, err);
  }
  for (int i = 0; i < 2; i++) {
    int t = role[ffn_readers[i]];
    if (t >= 0) idx[ffn_readers[i]] = add_whole(g, m, t, gain_for(m, role[R_FFN_NORM], t), b, err);
  }
  if (role[R_O] >= 0) idx[R_O] = add_whole(g, m, role[R_O], -1, b, err);
  if (role[R_DOWN] >= 0) idx[R_DOWN] = add_whole(g, m, role[R_DOWN], -1, b, err);
  for (int r = 0; r < N_BLOCK_ROLES; r++)
    if (role[r] >= 0 && r != R_ATTN_NORM && r != R_FFN_NORM && idx[r] < 0) return FS_ERR;
  return 0;
}

/* ov pairs: V slice of kv head g -> O columns of query head h, g = h / (H / H_kv). */
static int llama_ov_pairs(const fs_model *m, const int *role, int b, fs_graph *g,
                          fs_error *err) {
  if (!g->n_head || role[R_V] < 0 || role[R_O] < 0) return 0;
  int hd = g->head_dim, group = g->n_head / g->n_head_kv, vfold;
  int first_v = g->nmat;
  vfold = gain_for(m, role[R_ATTN_NORM], role[R_V]);
  for (int kv = 0; kv < g->n_head_kv; kv++) {
    char sfx[24];
    snprintf(sfx, sizeof sfx, "[kv %d]", kv);
    if (add_matrix(g, m, role[R_V], vfold, (int64_t)kv * hd, (int64_t)(kv + 1) * hd, 0,
                   fs_tensor_cols(&m->tensors[role[R_V]]), 0, b, kv, sfx, err) < 0)
      return FS_ERR;
  }
  for (int h = 0; h < g->n_head; h++) {
    char sfx[24];
    snprintf(sfx, sizeof sfx, "[head %d]", h);
    int o = add_matrix(g, m, role[R_O], -1, 0, fs_tensor_rows(&m->tensors[role[R_O]]),
                       (int64_t)h * hd, (int64_t)(h + 1) * hd, 0, b, h, sfx, err);
    if (o < 0) return FS_ERR;
    FS_TRY(add_pair(g, FS_PAIR_OV, first_v + h / group, o, b, h, err));
  }
  return 0;
}

static int build_llama(const fs_model *m, const llama_layout *L, fs_graph *g,
                       fs_error *err) {
  snprintf(g->family, sizeof g->family, "llama");
  llama_heads(m, L, g);
  int prev[N_BLOCK_ROLES] = {0}, cur[N_BLOCK_ROLES];
  int embed = -1;
  if (L->global[G_EMBED] >= 0) { /* a lookup table [vocab, D]: the map is its transpose */
    const fs_tensor *t = &m->tensors[L->global[G_EMBED]];
    embed = add_matrix(g, m, L->global[G_EMBED], -1, 0, fs_tensor_rows(t), 0,
                       fs_tensor_cols(t), 1, -1, -1, NULL, err);
    if (embed < 0) return FS_ERR;
  }
  for (int b = 0; b < L->nblocks; b++) {
    FS_TRY(llama_block_matrices(m, L->role[b], b, g, cur, err));
    /* residual stream: embedding or previous MLP -> this attention; attention -> MLP */
    int writer = b == 0 ? embed : prev[R_DOWN];
    for (int r = R_Q; r <= R_V; r++) FS_TRY(add_pair(g, FS_PAIR_RESIDUAL, writer, cur[r], b, -1, err));
    FS_TRY(add_pair(g, FS_PAIR_RESIDUAL, cur[R_O], cur[R_GATE], b, -1, err));
    FS_TRY(add_pair(g, FS_PAIR_RESIDUAL, cur[R_O], cur[R_UP], b, -1, err));
    FS_TRY(add_pair(g, FS_PAIR_MLP, cur[R_UP], cur[R_DOWN], b, -1, err));
    FS_TRY(add_pair(g, FS_PAIR_MLP, cur[R_GATE], cur[R_DOWN], b, -1, err));
    FS_TRY(llama_ov_pairs(m, L->role[b], b, g, err));
    memcpy(prev, cur, sizeof prev);
  }
  /* classifier: last MLP -> output head (or the tied embedding), through the final norm */
  int head = L->global[G_OUTPUT] >= 0 ? L->global[G_OUTPUT] : L->global[G_EMBED];
  if (head >= 0 && L->nblocks > 0) {
    int c = add_matrix(g, m, head, gain_for(m, L->global[G_OUT_NORM], head), 0,
                       fs_tensor_rows(&m->tensors[head]), 0, fs_tensor_cols(&m->tensors[head]),
                       0, L->nblocks, -1, L->global[G_OUTPUT] >= 0 ? NULL : " (tied output)",
                       err);
    if (c < 0) return FS_ERR;
    FS_TRY(add_pair(g, FS_PAIR_CLASSIFIER, prev[R_DOWN], c, L->nblocks, -1, err));
  }
  return 0;
}

/* ---- plain MLP chains ------------------------------------------------------ */

typedef struct chain_key {
  char key[256]; /* the name with its last run of digits replaced by '#' */
  long index;
  int tensor;
} chain_key;

static int chain_key_of(const char *name, chain_key *k) {
  const char *end = NULL, *p;
  for (p = name; *p; p++)
    if (*p >= '0' && *p <= '9' && !(p[1] >= '0' && p[1] <= '9')) end = p + 1;
  if (!end || strlen(name) >= sizeof k->key) return 0;
  const char *start = end;
  while (start > name && start[-1] >= '0' && start[-1] <= '9') start--;
  if (end - start > 6) return 0;
  snprintf(k->key, sizeof k->key, "%.*s#%s", (int)(start - name), name, end);
  k->index = strtol(start, NULL, 10);
  return 1;
}

static int chain_cmp(const void *a, const void *b) {
  const chain_key *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  if (c) return c;
  return (x->index > y->index) - (x->index < y->index);
}

static int build_chains(const fs_model *m, const char *used, fs_graph *g,
                        char *placed, fs_error *err) {
  chain_key *keys = malloc(sizeof *keys * (size_t)(m->ntensors ? m->ntensors : 1));
  if (!keys) return fs_fail(err, "out of memory building the layer graph");
  int n = 0, rc = 0;
  for (int t = 0; t < m->ntensors; t++)
    if (!used[t] && m->tensors[t].ndim == 2 && chain_key_of(m->tensors[t].name, &keys[n]))
      keys[n++].tensor = t;
  qsort(keys, (size_t)n, sizeof *keys, chain_cmp);
  for (int i = 0; i + 1 < n && !rc; i++) {
    const fs_tensor *a = &m->tensors[keys[i].tensor], *b = &m->tensors[keys[i + 1].tensor];
    if (strcmp(keys[i].key, keys[i + 1].key) || fs_tensor_rows(a) != fs_tensor_cols(b)) continue;
    int depth = 0;
    for (int j = i; j > 0 && !strcmp(keys[j - 1].key, keys[i].key); j--) depth++;
    int w = placed[keys[i].tensor] ? g->nmat - 1
                                   : add_whole(g, m, keys[i].tensor, -1, depth, err);
    placed[keys[i].tensor] = 1;
    int r = add_whole(g, m, keys[i + 1].tensor, -1, depth + 1, err);
    placed[keys[i + 1].tensor] = 1;
    rc = (w < 0 || r < 0) ? FS_ERR : add_pair(g, FS_PAIR_CHAIN, w, r, depth, -1, err);
  }
  free(keys);
  if (!rc && g->npair && !g->family[0]) snprintf(g->family, sizeof g->family, "mlp");
  return rc;
}

/* ---- entry point ----------------------------------------------------------- */

static void mark_used(const fs_graph *g, char *used) {
  for (int i = 0; i < g->nmat; i++) {
    used[g->mat[i].tensor] = 1;
    if (g->mat[i].fold >= 0) used[g->mat[i].fold] = 1;
  }
}

int fs_graph_build(const fs_model *m, fs_graph *g, fs_error *err) {
  memset(g, 0, sizeof *g);
  char *used = calloc((size_t)m->ntensors + 1, 1);
  if (!used) return fs_fail(err, "out of memory building the layer graph");
  llama_layout L;
  int rc = find_llama(m, &L, err);
  if (!rc && L.nblocks) rc = build_llama(m, &L, g, err);
  free(L.role);
  if (!rc) {
    mark_used(g, used);
    char *placed = calloc((size_t)m->ntensors + 1, 1);
    rc = placed ? build_chains(m, used, g, placed, err)
                : fs_fail(err, "out of memory building the layer graph");
    free(placed);
    mark_used(g, used);
  }
  /* Whatever no rule placed is still a matrix worth a spectrum. */
  for (int t = 0; !rc && t < m->ntensors; t++)
    if (!used[t] && m->tensors[t].ndim >= 2 && fs_tensor_numel(&m->tensors[t]) > 0)
      rc = add_whole(g, m, t, -1, -1, err) < 0 ? FS_ERR : 0;
  if (!rc && !g->family[0]) snprintf(g->family, sizeof g->family, "matrices");
  free(used);
  if (rc) {
    fs_error_prefix(err, "%s: layer graph", m->path);
    fs_graph_free(g);
  }
  return rc;
}

void fs_graph_free(fs_graph *g) {
  free(g->mat);
  free(g->pair);
  memset(g, 0, sizeof *g);
}
