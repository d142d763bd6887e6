/*
 * fs_graph.c - rule tables that turn tensor names and shapes into a layer
 * graph (see fs_graph.h and docs/layer-graph.md).
 *
 * The rules are data: a table of name patterns per role, one column per naming
 * scheme (GGUF, Hugging Face).  Adding a naming scheme of the same family is
 * adding a column; the pairing logic below does not change.
 */
#include "fs_graph.h"

#include <stdarg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_graph_rules.h"
#include "fs_layermap.h"

const char *fs_pair_type_name(fs_pair_type t) {
  static const char *names[FS_PAIR_NTYPES] = {"chain", "mlp", "ov", "residual",
                                              "block", "classifier"};
  return (unsigned)t < FS_PAIR_NTYPES ? names[t] : "?";
}

/* ---- transformer rule table ----------------------------------------------- */

enum { R_Q, R_K, R_V, R_QKV, R_O, R_GATE, R_UP, R_DOWN, R_ATTN_NORM, R_FFN_NORM, N_ROLES };
enum { G_EMBED, G_EMBED_NORM, G_OUT_NORM, G_OUTPUT, N_GLOBALS };
enum { QKV_SEPARATE, QKV_CONCAT, QKV_INTERLEAVED };

/* One naming scheme of one family.  Patterns hold "%d" for the block. */
typedef struct family {
  const char *name;
  const char *role[N_ROLES];
  const char *global[N_GLOBALS];
  int conv1d;          /* weights stored [in, out] (GPT-2 Conv1D): every map is the transpose */
  int qkv;             /* how a fused R_QKV tensor holds Q, K and V */
  int post_norm;       /* norms after the residual add (BERT): attention of block b reads
                          through R_ATTN_NORM of block b - 1 (G_EMBED_NORM for b = 0) */
  int parallel;        /* attention and MLP of a block read the same residual (NeoX) */
  int embed_table;     /* G_EMBED is a lookup table [vocab, D]: its map is the transpose */
  const char *heads_key, *kv_heads_key; /* metadata; "%s" is GGUF's general.architecture */
} family;

#define HF_LLAMA(p) {p "%d.self_attn.q_proj.weight", p "%d.self_attn.k_proj.weight", \
    p "%d.self_attn.v_proj.weight", NULL, p "%d.self_attn.o_proj.weight",            \
    p "%d.mlp.gate_proj.weight", p "%d.mlp.up_proj.weight", p "%d.mlp.down_proj.weight", \
    p "%d.input_layernorm.weight", p "%d.post_attention_layernorm.weight"}
#define GPT2(p) {NULL, NULL, NULL, p "h.%d.attn.c_attn.weight", p "h.%d.attn.c_proj.weight", \
    NULL, p "h.%d.mlp.c_fc.weight", p "h.%d.mlp.c_proj.weight", p "h.%d.ln_1.weight",         \
    p "h.%d.ln_2.weight"}
#define BERT(p) {p "encoder.layer.%d.attention.self.query.weight",                         \
    p "encoder.layer.%d.attention.self.key.weight",                                        \
    p "encoder.layer.%d.attention.self.value.weight", NULL,                                \
    p "encoder.layer.%d.attention.output.dense.weight", NULL,                              \
    p "encoder.layer.%d.intermediate.dense.weight", p "encoder.layer.%d.output.dense.weight", \
    p "encoder.layer.%d.output.LayerNorm.weight",                                          \
    p "encoder.layer.%d.attention.output.LayerNorm.weight"}
#define VIT(p) {p "encoder.layer.%d.attention.attention.query.weight",                     \
    p "encoder.layer.%d.attention.attention.key.weight",                                   \
    p "encoder.layer.%d.attention.attention.value.weight", NULL,                           \
    p "encoder.layer.%d.attention.output.dense.weight", NULL,                              \
    p "encoder.layer.%d.intermediate.dense.weight", p "encoder.layer.%d.output.dense.weight", \
    p "encoder.layer.%d.layernorm_before.weight", p "encoder.layer.%d.layernorm_after.weight"}

static const family families[] = {
    {"llama",
     {"blk.%d.attn_q.weight", "blk.%d.attn_k.weight", "blk.%d.attn_v.weight", NULL,
      "blk.%d.attn_output.weight", "blk.%d.ffn_gate.weight", "blk.%d.ffn_up.weight",
      "blk.%d.ffn_down.weight", "blk.%d.attn_norm.weight", "blk.%d.ffn_norm.weight"},
     {"token_embd.weight", NULL, "output_norm.weight", "output.weight"},
     0, QKV_SEPARATE, 0, 0, 1, "%s.attention.head_count", "%s.attention.head_count_kv"},
    {"llama", HF_LLAMA("model.layers."),
     {"model.embed_tokens.weight", NULL, "model.norm.weight", "lm_head.weight"},
     0, QKV_SEPARATE, 0, 0, 1, "config.num_attention_heads", "config.num_key_value_heads"},
    {"gpt2", GPT2(""), {"wte.weight", NULL, "ln_f.weight", "lm_head.weight"},
     1, QKV_CONCAT, 0, 0, 1, "config.n_head", NULL},
    {"gpt2", GPT2("transformer."),
     {"transformer.wte.weight", NULL, "transformer.ln_f.weight", "lm_head.weight"},
     1, QKV_CONCAT, 0, 0, 1, "config.n_head", NULL},
    {"bert", BERT("bert."),
     {"bert.embeddings.word_embeddings.weight", "bert.embeddings.LayerNorm.weight", NULL, NULL},
     0, QKV_SEPARATE, 1, 0, 1, "config.num_attention_heads", NULL},
    {"roberta", BERT("roberta."),
     {"roberta.embeddings.word_embeddings.weight", "roberta.embeddings.LayerNorm.weight", NULL,
      NULL},
     0, QKV_SEPARATE, 1, 0, 1, "config.num_attention_heads", NULL},
    {"gptneox",
     {NULL, NULL, NULL, "gpt_neox.layers.%d.attention.query_key_value.weight",
      "gpt_neox.layers.%d.attention.dense.weight", NULL,
      "gpt_neox.layers.%d.mlp.dense_h_to_4h.weight", "gpt_neox.layers.%d.mlp.dense_4h_to_h.weight",
      "gpt_neox.layers.%d.input_layernorm.weight",
      "gpt_neox.layers.%d.post_attention_layernorm.weight"},
     {"gpt_neox.embed_in.weight", NULL, "gpt_neox.final_layer_norm.weight", "embed_out.weight"},
     0, QKV_INTERLEAVED, 0, 1, 1, "config.num_attention_heads", NULL},
    {"vit", VIT("vit."),
     {"vit.embeddings.patch_embeddings.projection.weight", NULL, "vit.layernorm.weight",
      "classifier.weight"},
     0, QKV_SEPARATE, 0, 0, 0, "config.num_attention_heads", NULL},
};
#define NFAMILIES ((int)(sizeof families / sizeof families[0]))

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

static int add_matrix(fs_graph *g, const fs_model *m, const mapslice *s, fs_error *err) {
  if (g->nmat % 64 == 0) {
    fs_matrix *p = realloc(g->mat, sizeof *p * (size_t)(g->nmat + 64));
    if (!p) return fs_fail(err, "out of memory building the layer graph");
    g->mat = p;
  }
  fs_matrix *x = &g->mat[g->nmat];
  memset(x, 0, sizeof *x);
  snprintf(x->name, sizeof x->name, "%s%s", m->tensors[s->tensor].name, s->suffix ? s->suffix : "");
  x->tensor = s->tensor;
  x->fold = s->fold;
  x->transposed = s->transposed;
  x->rep = s->rep > 0 ? s->rep : 1;
  x->rstep = s->rstep;
  if (s->transposed) /* the map is the transpose: its outputs are stored columns */
    x->r0 = s->ia, x->r1 = s->ib, x->c0 = s->oa, x->c1 = s->ob;
  else
    x->r0 = s->oa, x->r1 = s->ob, x->c0 = s->ia, x->c1 = s->ib;
  x->block = s->block;
  x->head = s->head;
  x->bn_gamma = x->bn_var = -1;
  return g->nmat++;
}

/* Output and input dimensions of a tensor's map. */
static int64_t map_out(const fs_model *m, int t, int transposed) {
  return transposed ? fs_tensor_cols(&m->tensors[t]) : fs_tensor_rows(&m->tensors[t]);
}
static int64_t map_in(const fs_model *m, int t, int transposed) {
  return transposed ? fs_tensor_rows(&m->tensors[t]) : fs_tensor_cols(&m->tensors[t]);
}

static int add_whole(fs_graph *g, const fs_model *m, int tensor, int transposed, int fold,
                     int block, fs_error *err) {
  mapslice s = {tensor, transposed, fold, block, -1, 0, map_out(m, tensor, transposed), 1, 0,
                0, map_in(m, tensor, transposed), NULL};
  return add_matrix(g, m, &s, err);
}

/* A pair joins spaces of one dimension.  Shapes that contradict the family
 * (a checkpoint edited by hand, a block of another width) are not fatal: the
 * pair is skipped, the note names both tensors, and the matrices are still
 * analysed alone. */
static int add_pair(fs_graph *g, fs_pair_type type, int w, int r, int block,
                    int head, fs_error *err) {
  if (w < 0 || r < 0) return 0;
  if (fs_matrix_out_dim(&g->mat[w]) != fs_matrix_in_dim(&g->mat[r])) {
    fs_graph_note(g, "%s pair %s -> %s skipped: writer output dimension %lld != reader input "
                  "dimension %lld", fs_pair_type_name(type), g->mat[w].name, g->mat[r].name,
                  (long long)fs_matrix_out_dim(&g->mat[w]),
                  (long long)fs_matrix_in_dim(&g->mat[r]));
    return 0;
  }
  if (g->npair % 64 == 0) {
    fs_pair *p = realloc(g->pair, sizeof *p * (size_t)(g->npair + 64));
    if (!p) return fs_fail(err, "out of memory building the layer graph");
    g->pair = p;
  }
  g->pair[g->npair++] = (fs_pair){type, w, r, block, head};
  return 0;
}

/* A gain can be folded into a map only if it has one entry per input. */
static int gain_for(const fs_model *m, int gain, int tensor, int transposed) {
  if (gain < 0 || tensor < 0) return -1;
  const fs_tensor *gt = &m->tensors[gain];
  return (gt->ndim == 1 && gt->shape[0] == map_in(m, tensor, transposed)) ? gain : -1;
}

/* ---- transformers ----------------------------------------------------------- */

typedef struct layout {
  const family *f;
  int nblocks;
  int (*role)[N_ROLES]; /* tensor index per block and role, -1 if absent */
  int global[N_GLOBALS];
} layout;

/* The family whose patterns name the most tensors (at least two roles). */
static int find_family(const fs_model *m, layout *L, fs_error *err) {
  memset(L, 0, sizeof *L);
  int best = 0;
  for (int f = 0; f < NFAMILIES; f++) {
    int hits = 0, maxb = -1;
    for (int t = 0; t < m->ntensors; t++)
      for (int r = 0; r < N_ROLES; r++) {
        int b;
        if (families[f].role[r] && match_pattern(families[f].role[r], m->tensors[t].name, &b)) {
          hits++;
          if (b > maxb) maxb = b;
        }
      }
    if (hits > best && hits >= 2) best = hits, L->f = &families[f], L->nblocks = maxb + 1;
  }
  if (!L->f) return 0;
  L->role = malloc(sizeof *L->role * (size_t)L->nblocks);
  if (!L->role) return fs_fail(err, "out of memory building the layer graph");
  memset(L->role, 0xff, sizeof *L->role * (size_t)L->nblocks); /* all -1 */
  for (int r = 0; r < N_GLOBALS; r++)
    L->global[r] = L->f->global[r] ? fs_model_index(m, L->f->global[r]) : -1;
  for (int t = 0; t < m->ntensors; t++)
    for (int r = 0; r < N_ROLES; r++) {
      int b;
      if (L->f->role[r] && match_pattern(L->f->role[r], m->tensors[t].name, &b))
        L->role[b][r] = t;
    }
  return 0;
}

static int meta_int(const fs_model *m, const char *fmt, const char *arch) {
  if (!fmt) return 0;
  char key[128];
  snprintf(key, sizeof key, fmt, arch ? arch : "llama");
  const char *v = fs_model_meta(m, key);
  if (!v) return 0;
  char *end;
  long x = strtol(v, &end, 10);
  return (*end == '\0' && x > 0 && x < 1000000) ? (int)x : 0;
}

/* Where Q, K and V live in one block: tensor, and output-row offsets. */
typedef struct qkv_place {
  int t[3];           /* tensor of Q, K, V */
  int64_t off[3];     /* first output row of Q, K, V in its tensor's map */
  int64_t dim[3];     /* output dimension of Q, K, V */
  int64_t rep, rstep; /* interleaved per head: H blocks of head_dim rows */
} qkv_place;

/* Splits a block's Q, K and V; heads (g->n_head...) must be known for the
 * interleaved layout.  Returns 0 and leaves p->t[0] = -1 if it cannot. */
static void place_qkv(const fs_model *m, const layout *L, const int *role, const fs_graph *g,
                      qkv_place *p) {
  memset(p, 0, sizeof *p);
  p->t[0] = p->t[1] = p->t[2] = -1;
  p->rep = 1;
  int tr = L->f->conv1d;
  if (L->f->qkv == QKV_SEPARATE) {
    for (int i = 0; i < 3; i++)
      if ((p->t[i] = role[R_Q + i]) >= 0) p->dim[i] = map_out(m, p->t[i], tr);
    return;
  }
  int t = role[R_QKV];
  if (t < 0) return;
  int64_t out = map_out(m, t, tr);
  if (L->f->qkv == QKV_CONCAT) {
    int h = g->n_head, kv = g->n_head_kv;
    int64_t hd = h ? out / (h + 2 * kv) : 0;
    if (!h || hd * (h + 2 * kv) != out) { /* unknown heads: equal thirds (multi-head) */
      if (out % 3) return;
      hd = out / 3, h = 1, kv = 1;
    }
    int64_t d[3] = {h * hd, kv * hd, kv * hd};
    for (int i = 0; i < 3; i++) p->t[i] = t, p->dim[i] = d[i];
    p->off[1] = d[0], p->off[2] = d[0] + d[1];
  } else { /* interleaved per head: [q_h; k_h; v_h] for h = 0..H-1 */
    if (!g->head_dim) return;
    int64_t hd = g->head_dim;
    for (int i = 0; i < 3; i++) p->t[i] = t, p->off[i] = i * hd, p->dim[i] = g->n_head * hd;
    p->rep = g->n_head, p->rstep = 3 * hd;
  }
}

/* Head counts from metadata, checked against the shapes of block 0. */
static void transformer_heads(const fs_model *m, const layout *L, fs_graph *g) {
  const char *arch = fs_model_meta(m, "general.architecture");
  int h = meta_int(m, L->f->heads_key, arch), kv = meta_int(m, L->f->kv_heads_key, arch);
  fs_layermap_heads(fs_layermap_active(), &h, &kv);
  if (!kv) kv = h;
  const int *r0 = L->role[0];
  if (!h) {
    snprintf(g->note, sizeof g->note, "head count unknown (no %s in the metadata): "
             "ov pairs skipped", L->f->heads_key);
    return;
  }
  int tr = L->f->conv1d;
  int64_t o = r0[R_O] >= 0 ? map_in(m, r0[R_O], tr) : -1, q, k, v;
  if (L->f->qkv == QKV_SEPARATE) {
    if (r0[R_Q] < 0 || r0[R_K] < 0 || r0[R_V] < 0 || r0[R_O] < 0) {
      snprintf(g->note, sizeof g->note, "block 0 lacks one of Q, K, V, O: ov pairs skipped");
      return;
    }
    q = map_out(m, r0[R_Q], tr), k = map_out(m, r0[R_K], tr), v = map_out(m, r0[R_V], tr);
  } else {
    int64_t out = r0[R_QKV] >= 0 ? map_out(m, r0[R_QKV], tr) : -1;
    int64_t hd = (out > 0 && out % (h + 2 * kv) == 0) ? out / (h + 2 * kv) : -1;
    q = h * hd, k = v = kv * hd;
    if (hd < 0) q = k = v = -1;
  }
  if (q <= 0 || q % h || h % kv || k != q / h * kv || v != k || o != q) {
    snprintf(g->note, sizeof g->note, "%d heads / %d kv heads do not fit the attention shapes "
             "of block 0 (%s): ov pairs skipped", h, kv,
             m->tensors[r0[R_Q] >= 0 ? r0[R_Q] : r0[R_QKV] >= 0 ? r0[R_QKV] : 0].name);
    return;
  }
  g->n_head = h, g->n_head_kv = kv, g->head_dim = (int)(q / h);
}

/* The gain in front of the attention of block b. */
static int attn_gain(const layout *L, int b) {
  if (!L->f->post_norm) return L->role[b][R_ATTN_NORM];
  return b == 0 ? L->global[G_EMBED_NORM] : L->role[b - 1][R_ATTN_NORM];
}

typedef struct block_idx {
  int q, k, v, o, gate, up, down; /* graph matrices, -1 if absent */
} block_idx;

static int add_qkv(const fs_model *m, const layout *L, int b, fs_graph *g, const qkv_place *p,
                   block_idx *x, fs_error *err) {
  static const char *sfx[3] = {".q", ".k", ".v"};
  int *dst[3] = {&x->q, &x->k, &x->v};
  int tr = L->f->conv1d;
  for (int i = 0; i < 3; i++) {
    *dst[i] = -1;
    if (p->t[i] < 0) continue;
    int fused = L->f->qkv != QKV_SEPARATE;
    mapslice s = {p->t[i], tr, gain_for(m, attn_gain(L, b), p->t[i], tr), b, -1,
                  p->off[i], p->off[i] + p->dim[i] / p->rep, p->rep, p->rstep,
                  0, map_in(m, p->t[i], tr), fused ? sfx[i] : NULL};
    if ((*dst[i] = add_matrix(g, m, &s, err)) < 0) return FS_ERR;
  }
  return 0;
}

static int add_block(const fs_model *m, const layout *L, int b, fs_graph *g, const qkv_place *p,
                     block_idx *x, fs_error *err) {
  const int *role = L->role[b];
  int tr = L->f->conv1d, ffn = role[R_FFN_NORM];
  FS_TRY(add_qkv(m, L, b, g, p, x, err));
  x->gate = role[R_GATE] >= 0 ? add_whole(g, m, role[R_GATE], tr, gain_for(m, ffn, role[R_GATE], tr), b, err) : -1;
  x->up = role[R_UP] >= 0 ? add_whole(g, m, role[R_UP], tr, gain_for(m, ffn, role[R_UP], tr), b, err) : -1;
  x->o = role[R_O] >= 0 ? add_whole(g, m, role[R_O], tr, -1, b, err) : -1;
  x->down = role[R_DOWN] >= 0 ? add_whole(g, m, role[R_DOWN], tr, -1, b, err) : -1;
  if ((role[R_GATE] >= 0 && x->gate < 0) || (role[R_UP] >= 0 && x->up < 0) ||
      (role[R_O] >= 0 && x->o < 0) || (role[R_DOWN] >= 0 && x->down < 0))
    return FS_ERR;
  return 0;
}

/* ov pairs: V rows of kv head g -> O columns of query head h, g = h / (H / H_kv). */
static int add_ov(const fs_model *m, const layout *L, int b, fs_graph *g, const qkv_place *p,
                  fs_error *err) {
  int o = L->role[b][R_O], tr = L->f->conv1d;
  if (!g->n_head || p->t[2] < 0 || o < 0) return 0;
  int64_t hd = g->head_dim;
  int group = g->n_head / g->n_head_kv, first_v = g->nmat;
  for (int kv = 0; kv < g->n_head_kv; kv++) {
    char sfx[24];
    snprintf(sfx, sizeof sfx, "%s[kv %d]", L->f->qkv == QKV_SEPARATE ? "" : ".v", kv);
    /* the rows of kv head g: one block of the interleaved layout, or a plain range */
    int64_t a = p->rep > 1 ? p->off[2] + kv * p->rstep : p->off[2] + kv * hd;
    mapslice s = {p->t[2], tr, gain_for(m, attn_gain(L, b), p->t[2], tr), b, kv, a, a + hd, 1, 0,
                  0, map_in(m, p->t[2], tr), sfx};
    if (add_matrix(g, m, &s, err) < 0) return FS_ERR;
  }
  for (int h = 0; h < g->n_head; h++) {
    char sfx[24];
    snprintf(sfx, sizeof sfx, "[head %d]", h);
    mapslice s = {o, tr, -1, b, h, 0, map_out(m, o, tr), 1, 0, h * hd, (h + 1) * hd, sfx};
    int oi = add_matrix(g, m, &s, err);
    if (oi < 0) return FS_ERR;
    FS_TRY(add_pair(g, FS_PAIR_OV, first_v + h / group, oi, b, h, err));
  }
  return 0;
}

/* The residual stream: each writer to the readers that come next. */
static int add_residual(fs_graph *g, int parallel, const int *writers, int nw,
                        const block_idx *x, int b, fs_error *err) {
  const int attn[3] = {x->q, x->k, x->v}, mlp[2] = {x->gate, x->up};
  for (int w = 0; w < nw; w++) {
    for (int r = 0; r < 3; r++) FS_TRY(add_pair(g, FS_PAIR_RESIDUAL, writers[w], attn[r], b, -1, err));
    for (int r = 0; parallel && r < 2; r++)
      FS_TRY(add_pair(g, FS_PAIR_RESIDUAL, writers[w], mlp[r], b, -1, err));
  }
  if (!parallel)
    for (int r = 0; r < 2; r++) FS_TRY(add_pair(g, FS_PAIR_RESIDUAL, x->o, mlp[r], b, -1, err));
  return 0;
}

/* A block that lacks part of its attention keeps its other matrices, alone. */
static void note_missing_attention(const fs_model *m, const layout *L, int b, fs_graph *g) {
  static const char *what[] = {"Q", "K", "V", "QKV", "O"};
  const int *role = L->role[b];
  int first = L->f->qkv == QKV_SEPARATE ? R_Q : R_QKV, last = R_O;
  for (int r = first; r <= last; r++) {
    if ((L->f->qkv == QKV_SEPARATE && r == R_QKV) || (L->f->qkv != QKV_SEPARATE && r < R_QKV) ||
        role[r] >= 0)
      continue;
    char name[160];
    snprintf(name, sizeof name, L->f->role[r], b);
    fs_graph_note(g, "block %d has no %s (%s): its attention pairs are skipped", b, what[r], name);
    (void)m;
    return;
  }
}

static int build_transformer(const fs_model *m, const layout *L, fs_graph *g, fs_error *err) {
  snprintf(g->family, sizeof g->family, "%s", L->f->name);
  transformer_heads(m, L, g);
  int embed = -1, e = L->global[G_EMBED];
  if (e >= 0) { /* a lookup table [vocab, D] writes R^D as its transpose */
    if (fs_tensor_rows(&m->tensors[e]) > 0 &&
        (embed = add_whole(g, m, e, L->f->embed_table, -1, -1, err)) < 0)
      return FS_ERR;
  }
  int writers[2] = {embed, -1}, nw = 1;
  for (int b = 0; b < L->nblocks; b++) {
    qkv_place p;
    block_idx x;
    place_qkv(m, L, L->role[b], g, &p);
    note_missing_attention(m, L, b, g);
    if (L->f->qkv != QKV_SEPARATE && L->role[b][R_QKV] >= 0 && p.t[0] < 0) {
      /* cannot split the fused tensor: analyse it whole, unpaired */
      if (!g->note[0])
        snprintf(g->note, sizeof g->note, "%s: fused QKV not split (head count unknown)",
                 m->tensors[L->role[b][R_QKV]].name);
      if (add_whole(g, m, L->role[b][R_QKV], L->f->conv1d, -1, b, err) < 0) return FS_ERR;
    }
    FS_TRY(add_block(m, L, b, g, &p, &x, err));
    FS_TRY(fs_graph_add_head_block(g, b, x.q, x.k, x.v, x.o, err));
    FS_TRY(add_residual(g, L->f->parallel, writers, nw, &x, b, err));
    FS_TRY(add_pair(g, FS_PAIR_MLP, x.up, x.down, b, -1, err));
    FS_TRY(add_pair(g, FS_PAIR_MLP, x.gate, x.down, b, -1, err));
    FS_TRY(add_ov(m, L, b, g, &p, err));
    if (L->f->parallel) writers[0] = x.o, writers[1] = x.down, nw = 2;
    else writers[0] = x.down, nw = 1;
  }
  /* classifier: the last writers -> the output head (or the tied embedding), through the final norm */
  int head = L->global[G_OUTPUT] >= 0 ? L->global[G_OUTPUT] : (L->f->embed_table ? e : -1);
  if (head >= 0 && L->nblocks > 0 && (L->global[G_OUTPUT] >= 0 || L->global[G_OUT_NORM] >= 0)) {
    mapslice s = {head, 0, gain_for(m, L->global[G_OUT_NORM], head, 0), L->nblocks, -1, 0,
                  map_out(m, head, 0), 1, 0, 0, map_in(m, head, 0),
                  L->global[G_OUTPUT] >= 0 ? NULL : " (tied output)"};
    int c = add_matrix(g, m, &s, err);
    if (c < 0) return FS_ERR;
    for (int w = 0; w < nw; w++)
      FS_TRY(add_pair(g, FS_PAIR_CLASSIFIER, writers[w], c, L->nblocks, -1, err));
  }
  return 0;
}

/* ---- convolutions: unfoldings, BatchNorm, ResNets, CNN chains ------------- */

/* A pair whose spaces differ is skipped with a note (checkpoints whose names
 * look like a family but whose shapes do not chain: grouped convolutions). */
static int link(fs_graph *g, fs_pair_type type, int w, int r, int block, fs_error *err) {
  if (w < 0 || r < 0) return 0;
  if (fs_matrix_out_dim(&g->mat[w]) != fs_matrix_in_dim(&g->mat[r])) {
    fs_graph_note(g, "%s -> %s not paired: %lld outputs, %lld inputs", g->mat[w].name,
                  g->mat[r].name, (long long)fs_matrix_out_dim(&g->mat[w]),
                  (long long)fs_matrix_in_dim(&g->mat[r]));
    return 0;
  }
  return add_pair(g, type, w, r, block, -1, err);
}

static double bn_eps_of(const fs_model *m) {
  static const char *keys[] = {"config.batch_norm_eps", "config.bn_eps"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    const char *v = fs_model_meta(m, keys[i]);
    char *end;
    double x = v ? strtod(v, &end) : 0;
    if (v && *end == '\0' && x > 0 && x < 1) return x;
  }
  return 1e-5;
}

/* The BatchNorm module bn (a name prefix: "layer1.0.bn1") after a layer of
 * nout outputs: running_var is required, weight (gamma) optional. */
static bnorm find_bn(const fs_model *m, const char *module, int64_t nout) {
  bnorm b = {-1, -1, 0, ""};
  char name[320];
  snprintf(name, sizeof name, "%s.running_var", module);
  int v = fs_model_index(m, name);
  if (v < 0 || m->tensors[v].ndim != 1 || m->tensors[v].shape[0] != nout) return b;
  snprintf(name, sizeof name, "%s.weight", module);
  int g = fs_model_index(m, name);
  b.gamma = (g >= 0 && m->tensors[g].ndim == 1 && m->tensors[g].shape[0] == nout) ? g : -1;
  b.var = v;
  b.eps = bn_eps_of(m);
  snprintf(b.module, sizeof b.module, "%s", module);
  return b;
}

/* The BatchNorm module is always a sibling of the layer's module (bn1 next to
 * conv1, downsample.1 next to downsample.0): names carry its last component. */
static const char *bn_sibling(const bnorm *bn) {
  const char *dot = strrchr(bn->module, '.');
  return dot ? dot + 1 : bn->module;
}

static int is_conv(const fs_model *m, int t) { return t >= 0 && m->tensors[t].ndim >= 3; }

/* Output channels of a conv or linear layer. */
static int64_t layer_out(const fs_model *m, int t) { return fs_tensor_rows(&m->tensors[t]); }

/* A layer as writer: its output unfolding [c_out, c_in k], BatchNorm folded
 * into the rows.  The name says which BatchNorm: "layer1.0.conv1.weight[bn bn1]"
 * for layer1.0.bn1. */
static int add_out(fs_graph *g, const fs_model *m, int t, const bnorm *bn, int block,
                   fs_error *err) {
  char sfx[FS_MATRIX_NAME_MAX + 16] = "";
  if (bn->var >= 0) snprintf(sfx, sizeof sfx, "[bn %s]", bn_sibling(bn));
  else if (bn->gamma >= 0) snprintf(sfx, sizeof sfx, "[scale]");
  mapslice s = {t, 0, -1, block, -1, 0, layer_out(m, t), 1, 0, 0, fs_tensor_cols(&m->tensors[t]),
                sfx};
  int i = add_matrix(g, m, &s, err);
  if (i >= 0) g->mat[i].bn_gamma = bn->gamma, g->mat[i].bn_var = bn->var, g->mat[i].bn_eps = bn->eps;
  return i;
}

/* A layer as reader of cin channels: its input unfolding I = [cin, c_out k],
 * k = inputs / cin (the spatial size of a kernel, or H W of a flattened
 * [C, H, W] map), a transposed map; "conv2.weight[in][bn bn2]". */
static int add_in(fs_graph *g, const fs_model *m, int t, int64_t cin, const bnorm *bn, int block,
                  fs_error *err) {
  return fs_graph_add_in_rows(g, m, t, cin, 0, cin, bn, -1, block, err); /* all its input rows */
}

/* torchvision ResNet: P layerL.B.{conv1,conv2,conv3,downsample.0}.weight. */
typedef struct rn_block {
  int L, B;
  int conv[3], ds; /* tensors, -1 if absent */
} rn_block;

static int rn_cmp(const void *a, const void *b) {
  const rn_block *x = a, *y = b;
  return x->L != y->L ? (x->L > y->L) - (x->L < y->L) : (x->B > y->B) - (x->B < y->B);
}

/* "layerL.B.rest" at s: L, B and rest. */
static int parse_layer(const char *s, int *L, int *B, const char **rest) {
  if (strncmp(s, "layer", 5)) return 0;
  char *e;
  if (s[5] < '0' || s[5] > '9') return 0;
  long l = strtol(s + 5, &e, 10);
  if (*e != '.' || e[1] < '0' || e[1] > '9' || l > 1000) return 0;
  long b = strtol(e + 1, &e, 10);
  if (*e != '.' || b > 100000) return 0;
  *L = (int)l, *B = (int)b, *rest = e + 1;
  return 1;
}

/* The prefix P of the first "P layerL.B.conv1.weight" (4-D), or -1. */
static int resnet_prefix(const fs_model *m, const char *used, char *P, size_t n) {
  for (int t = 0; t < m->ntensors; t++) {
    const char *name = m->tensors[t].name, *rest;
    int L, B;
    if (used[t] || !is_conv(m, t)) continue;
    for (const char *p = strstr(name, "layer"); p; p = strstr(p + 1, "layer"))
      if ((p == name || p[-1] == '.') && parse_layer(p, &L, &B, &rest) &&
          !strcmp(rest, "conv1.weight") && (size_t)(p - name) < n) {
        snprintf(P, n, "%.*s", (int)(p - name), name);
        return 0;
      }
  }
  return -1;
}

static int collect_blocks(const fs_model *m, const char *used, const char *P, rn_block *blk) {
  static const char *roles[4] = {"conv1.weight", "conv2.weight", "conv3.weight",
                                 "downsample.0.weight"};
  int n = 0;
  size_t np = strlen(P);
  for (int t = 0; t < m->ntensors; t++) {
    const char *name = m->tensors[t].name, *rest;
    int L, B, r;
    if (used[t] || !is_conv(m, t) || strncmp(name, P, np) || !parse_layer(name + np, &L, &B, &rest))
      continue;
    for (r = 0; r < 4 && strcmp(rest, roles[r]); r++) {}
    if (r == 4) continue;
    int i;
    for (i = 0; i < n && (blk[i].L != L || blk[i].B != B); i++) {}
    if (i == n) blk[n++] = (rn_block){L, B, {-1, -1, -1}, -1};
    if (r < 3) blk[i].conv[r] = t;
    else blk[i].ds = t;
  }
  qsort(blk, (size_t)n, sizeof *blk, rn_cmp);
  return n;
}

static int build_resnet(const fs_model *m, const char *used, fs_graph *g, fs_error *err) {
  char P[192], name[320];
  if (resnet_prefix(m, used, P, sizeof P)) return 0;
  rn_block *blk = malloc(sizeof *blk * (size_t)(m->ntensors + 1));
  if (!blk) return fs_fail(err, "out of memory building the layer graph");
  int nb = collect_blocks(m, used, P, blk), rc = 0;
  int writers[2] = {-1, -1}; /* the output of the previous block (or the stem) */
  snprintf(name, sizeof name, "%sconv1.weight", P);
  int stem = fs_model_index(m, name);
  if (stem >= 0 && !used[stem] && is_conv(m, stem)) {
    snprintf(name, sizeof name, "%sbn1", P);
    bnorm bn = find_bn(m, name, layer_out(m, stem));
    if ((writers[0] = add_out(g, m, stem, &bn, -1, err)) < 0) rc = FS_ERR;
  }
  for (int b = 0; b < nb && !rc; b++) {
    const rn_block *x = &blk[b];
    int out[3] = {-1, -1, -1}, in[3] = {-1, -1, -1}, ds_out = -1, ds_in = -1;
    for (int j = 0; j < 3 && x->conv[j] >= 0 && !rc; j++) {
      int t = x->conv[j];
      snprintf(name, sizeof name, "%slayer%d.%d.bn%d", P, x->L, x->B, j + 1);
      bnorm bn = find_bn(m, name, layer_out(m, t));
      out[j] = add_out(g, m, t, &bn, b, err);
      in[j] = add_in(g, m, t, m->tensors[t].shape[1], &bn, b, err);
      if (out[j] < 0 || in[j] < 0) rc = FS_ERR;
      else if (j > 0) rc = link(g, FS_PAIR_BLOCK, out[j - 1], in[j], b, err);
    }
    if (x->ds >= 0 && !rc) {
      snprintf(name, sizeof name, "%slayer%d.%d.downsample.1", P, x->L, x->B);
      bnorm bn = find_bn(m, name, layer_out(m, x->ds));
      ds_out = add_out(g, m, x->ds, &bn, b, err);
      ds_in = add_in(g, m, x->ds, m->tensors[x->ds].shape[1], &bn, b, err);
      if (ds_out < 0 || ds_in < 0) rc = FS_ERR;
    }
    for (int w = 0; w < 2 && !rc; w++) {
      rc = link(g, FS_PAIR_BLOCK, writers[w], in[0], b, err);
      if (!rc) rc = link(g, FS_PAIR_BLOCK, writers[w], ds_in, b, err);
    }
    int last = out[2] >= 0 ? out[2] : out[1] >= 0 ? out[1] : out[0];
    writers[0] = last, writers[1] = ds_out;
  }
  snprintf(name, sizeof name, "%sfc.weight", P);
  int fc = fs_model_index(m, name);
  if (!rc && nb && fc >= 0 && !used[fc] && m->tensors[fc].ndim == 2) {
    int c = add_whole(g, m, fc, 0, -1, nb, err);
    rc = c < 0 ? FS_ERR : 0;
    for (int w = 0; w < 2 && !rc; w++) rc = link(g, FS_PAIR_CLASSIFIER, writers[w], c, nb, err);
  }
  if (!rc && nb && !g->family[0]) snprintf(g->family, sizeof g->family, "resnet");
  free(blk);
  return rc;
}

/* CNN chains: weights "<group><stem><N>.weight" (features.0.weight: group
 * "features.", stem ""; conv1.weight: group "", stem "conv"), convolutions
 * before linear layers, then by stem and index. */
typedef struct cnn_key {
  char group[192], stem[32];
  long index;
  int tensor, linear;
} cnn_key;

static int cnn_key_of(const fs_model *m, int t, cnn_key *k) {
  const char *name = m->tensors[t].name;
  size_t n = strlen(name);
  if (n < 8 || strcmp(name + n - 7, ".weight")) return 0;
  const char *end = name + n - 7, *c = end;
  while (c > name && c[-1] != '.') c--;
  const char *d = c;
  while (d < end && ((*d >= 'a' && *d <= 'z') || (*d >= 'A' && *d <= 'Z') || *d == '_')) d++;
  if (d == end || end - d > 6 || d - c >= (long)sizeof k->stem || c - name >= (long)sizeof k->group)
    return 0;
  for (const char *p = d; p < end; p++)
    if (*p < '0' || *p > '9') return 0;
  snprintf(k->group, sizeof k->group, "%.*s", (int)(c - name), name);
  snprintf(k->stem, sizeof k->stem, "%.*s", (int)(d - c), c);
  k->index = strtol(d, NULL, 10);
  k->tensor = t;
  k->linear = m->tensors[t].ndim == 2;
  return 1;
}

static int cnn_cmp(const void *a, const void *b) {
  const cnn_key *x = a, *y = b;
  int c = strcmp(x->group, y->group);
  if (!c) c = x->linear - y->linear;
  if (!c) c = strcmp(x->stem, y->stem);
  return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* The BatchNorm after a layer: "convN" -> "bnN", "N" -> "N+1" (Sequential). */
static bnorm cnn_bn(const fs_model *m, const cnn_key *k) {
  char module[320];
  bnorm none = {-1, -1, 0, ""};
  if (!strcmp(k->stem, "conv")) snprintf(module, sizeof module, "%sbn%ld", k->group, k->index);
  else if (!k->stem[0]) snprintf(module, sizeof module, "%s%ld", k->group, k->index + 1);
  else return none;
  return find_bn(m, module, layer_out(m, k->tensor));
}

/* One group [a, b) holding a convolution: every member written through its
 * output unfolding; member i+1 reads member i's channels through its input
 * unfolding (a conv), directly (a linear after global pooling: in = c) or
 * through a flattened [c, H, W] map (a linear with in = c H W). */
static int cnn_group(const fs_model *m, const cnn_key *keys, int a, int b, fs_graph *g,
                     fs_error *err) {
  int prev = -1, rc = 0, pt = -1;
  for (int i = a; i < b && !rc; i++) {
    int t = keys[i].tensor, depth = i - a;
    bnorm bn = cnn_bn(m, &keys[i]);
    int o = add_out(g, m, t, &bn, depth, err);
    if (o < 0) return FS_ERR;
    /* A depthwise conv scales each channel by its own filter: it mixes no
     * channels, so the stream passes through it to the next layer. */
    if (prev >= 0 && fs_graph_depthwise_channels(m, t) == layer_out(m, pt)) continue;
    if (prev >= 0) {
      int r = -1;
      int64_t c = layer_out(m, pt), in = fs_tensor_cols(&m->tensors[t]);
      if ((is_conv(m, t) && m->tensors[t].shape[1] == c) ||
          (!is_conv(m, t) && is_conv(m, pt) && in != c && in % c == 0)) {
        if ((r = add_in(g, m, t, c, &bn, depth, err)) < 0) return FS_ERR;
      } else if (!is_conv(m, t) && in == c) {
        r = o;
      } else
        fs_graph_note(g, "%s -> %s not paired: %lld channels, %lld inputs", m->tensors[pt].name,
                      m->tensors[t].name, (long long)c,
                      (long long)(is_conv(m, t) ? m->tensors[t].shape[1] : in));
      rc = link(g, FS_PAIR_CHAIN, prev, r, depth - 1, err);
    }
    prev = o, pt = t;
  }
  return rc;
}

static int build_cnn_chains(const fs_model *m, const char *used, fs_graph *g, fs_error *err) {
  cnn_key *keys = malloc(sizeof *keys * (size_t)(m->ntensors + 1));
  if (!keys) return fs_fail(err, "out of memory building the layer graph");
  int n = 0, rc = 0, groups = 0;
  for (int t = 0; t < m->ntensors; t++)
    if (!used[t] && (m->tensors[t].ndim == 2 || is_conv(m, t)) &&
        fs_tensor_numel(&m->tensors[t]) > 0 && cnn_key_of(m, t, &keys[n]))
      n++;
  qsort(keys, (size_t)n, sizeof *keys, cnn_cmp);
  for (int a = 0, b; a < n && !rc; a = b) {
    int conv = 0;
    for (b = a; b < n && !strcmp(keys[b].group, keys[a].group); b++) conv |= !keys[b].linear;
    if (conv) rc = cnn_group(m, keys, a, b, g, err), groups++;
  }
  free(keys);
  if (!rc && groups && !g->family[0]) snprintf(g->family, sizeof g->family, "cnn");
  return rc;
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
                                   : add_whole(g, m, keys[i].tensor, 0, -1, depth, err);
    placed[keys[i].tensor] = 1;
    int r = add_whole(g, m, keys[i + 1].tensor, 0, -1, depth + 1, err);
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
    if (g->mat[i].bn_gamma >= 0) used[g->mat[i].bn_gamma] = 1;
    if (g->mat[i].bn_var >= 0) used[g->mat[i].bn_var] = 1;
  }
}

/* The rules, in order: each sees the tensors the earlier ones left. */
static int build_rules(const fs_model *m, fs_graph *g, char *used, fs_error *err) {
  static int (*const rules[])(const fs_model *, const char *, fs_graph *, fs_error *) = {
      fs_graph_build_paddle, fs_graph_build_tfjs_resnet, fs_graph_build_tfjs_chain,
      build_resnet, build_cnn_chains};
  layout L;
  int rc = find_family(m, &L, err);
  if (!rc && L.f) rc = build_transformer(m, &L, g, err);
  free(L.role);
  if (!rc) mark_used(g, used);
  for (size_t i = 0; !rc && i < sizeof rules / sizeof rules[0]; i++) {
    rc = rules[i](m, used, g, err);
    mark_used(g, used);
  }
  if (!rc) {
    char *placed = calloc((size_t)m->ntensors + 1, 1);
    rc = placed ? build_chains(m, used, g, placed, err)
                : fs_fail(err, "out of memory building the layer graph");
    free(placed);
    mark_used(g, used);
  }
  return rc;
}

/* The module of a parameter: its name up to the last '.' or '/'. */
static size_t module_len(const char *name) {
  const char *d = strrchr(name, '.'), *s = strrchr(name, '/');
  if (s > d) d = s;
  return d ? (size_t)(d - name) : 0;
}

typedef struct module_key {
  const char *name;
  size_t len; /* module_len(name) */
  int tensor;
} module_key;

static int same_module(const module_key *x, const module_key *y) {
  return x->len == y->len && !strncmp(x->name, y->name, x->len);
}

static int by_module(const void *a, const void *b) {
  const module_key *x = a, *y = b;
  int c = strncmp(x->name, y->name, x->len < y->len ? x->len : y->len);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Tensors no rule placed.  A parameter is accounted for when a placed tensor
 * shares its module (the bias next to a weight, a BatchNorm's mean and beta
 * next to its variance, a LayerNorm's beta next to its gain) or when it holds
 * one number (a scalar scales a whole map uniformly or is a graph constant:
 * it changes no subspace).  The rest is listed, never dropped. */
static int find_unplaced(const fs_model *m, const char *used, fs_graph *g, fs_error *err) {
  int n = m->ntensors;
  module_key *k = malloc(sizeof *k * (size_t)(n + 1));
  char *known = calloc((size_t)n + 1, 1);
  g->unplaced = malloc(sizeof *g->unplaced * (size_t)(n + 1));
  if (!k || !known || !g->unplaced) {
    free(k), free(known);
    return fs_fail(err, "out of memory building the layer graph");
  }
  for (int t = 0; t < n; t++) k[t] = (module_key){m->tensors[t].name, module_len(m->tensors[t].name), t};
  qsort(k, (size_t)n, sizeof *k, by_module);
  for (int a = 0, b; a < n; a = b) { /* runs of one module */
    int any = 0;
    for (b = a; b < n && same_module(&k[a], &k[b]); b++) any |= used[k[b].tensor];
    if (k[a].len && any)
      for (int i = a; i < b; i++) known[k[i].tensor] = 1;
  }
  for (int t = 0; t < n; t++)
    if (!used[t] && !known[t] && fs_tensor_numel(&m->tensors[t]) > 1)
      g->unplaced[g->nunplaced++] = t;
  free(k), free(known);
  return 0;
}

int fs_graph_build(const fs_model *m, fs_graph *g, fs_error *err) {
  memset(g, 0, sizeof *g);
  char *used = calloc((size_t)m->ntensors + 1, 1);
  if (!used) return fs_fail(err, "out of memory building the layer graph");
  const fs_layermap *map = fs_layermap_active();
  int rc = fs_layermap_replaces(map) ? 0 : build_rules(m, g, used, err);
  if (!rc && map) {
    rc = fs_layermap_apply(map, m, g, err);
    mark_used(g, used);
    fs_layermap_mark_ignored(map, m, used);
  }
  if (!rc) rc = find_unplaced(m, used, g, err);
  /* Whatever no rule placed is still a matrix worth a spectrum. */
  for (int t = 0; !rc && t < m->ntensors; t++)
    if (!used[t] && m->tensors[t].ndim >= 2 && fs_tensor_numel(&m->tensors[t]) > 0)
      rc = add_whole(g, m, t, 0, -1, -1, err) < 0 ? FS_ERR : 0;
  if (!rc && g->nunplaced)
    fs_graph_note(g, "%d tensor%s placed by no rule (%s%s), analysed as plain matrices where 2-D",
                  g->nunplaced, g->nunplaced > 1 ? "s" : "", m->tensors[g->unplaced[0]].name,
                  g->nunplaced > 1 ? ", ..." : "");
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
  free(g->head_block);
  free(g->unplaced);
  memset(g, 0, sizeof *g);
}

/* ---- the building blocks shared with the other rule files ------------------- */

int fs_graph_add_matrix(fs_graph *g, const fs_model *m, const mapslice *s, fs_error *err) {
  return add_matrix(g, m, s, err);
}
int fs_graph_add_whole(fs_graph *g, const fs_model *m, int tensor, int transposed, int fold,
                       int block, fs_error *err) {
  return add_whole(g, m, tensor, transposed, fold, block, err);
}
int fs_graph_add_pair(fs_graph *g, fs_pair_type type, int w, int r, int block, int head,
                      fs_error *err) {
  return add_pair(g, type, w, r, block, head, err);
}
int fs_graph_add_out(fs_graph *g, const fs_model *m, int t, const bnorm *bn, int block,
                     fs_error *err) {
  return add_out(g, m, t, bn, block, err);
}
bnorm fs_graph_find_bn(const fs_model *m, const char *module, int64_t nout) {
  return find_bn(m, module, nout);
}
int fs_graph_gain_for(const fs_model *m, int gain, int tensor, int transposed) {
  return gain_for(m, gain, tensor, transposed);
}

int fs_graph_add_in_rows(fs_graph *g, const fs_model *m, int t, int64_t cin, int64_t ca,
                         int64_t cb, const bnorm *bn, int gain, int block, fs_error *err) {
  int64_t k = fs_tensor_cols(&m->tensors[t]) / cin;
  char sfx[FS_MATRIX_NAME_MAX + 48] = "[in]";
  if (ca != 0 || cb != cin) snprintf(sfx, sizeof sfx, "[in %lld:%lld]", (long long)ca, (long long)cb);
  if (bn->var >= 0)
    snprintf(sfx + strlen(sfx), sizeof sfx - strlen(sfx), "[bn %s]", bn_sibling(bn));
  else if (bn->gamma >= 0)
    snprintf(sfx + strlen(sfx), sizeof sfx - strlen(sfx), "[scale]");
  int fold = gain >= 0 && m->tensors[gain].ndim == 1 && m->tensors[gain].shape[0] == cin ? gain : -1;
  mapslice s = {t, 1, fold, block, -1, 0, layer_out(m, t) * k, 1, 0, ca, cb, sfx};
  int i = add_matrix(g, m, &s, err);
  if (i < 0) return i;
  fs_matrix *x = &g->mat[i];
  x->unfold_in = 1, x->ksize = k;
  x->bn_gamma = bn->gamma, x->bn_var = bn->var, x->bn_eps = bn->eps;
  return i;
}

void fs_graph_note(fs_graph *g, const char *fmt, ...) {
  size_t n = strlen(g->note);
  if (n + 3 >= sizeof g->note) return;
  if (n) memcpy(g->note + n, "; ", 3), n += 2;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g->note + n, sizeof g->note - n, fmt, ap);
  va_end(ap);
}

int64_t fs_graph_depthwise_channels(const fs_model *m, int t) {
  const fs_tensor *x = &m->tensors[t];
  if (x->ndim < 3) return -1;
  if (x->shape[1] == 1 && x->shape[0] > 1) return x->shape[0];
  if (x->shape[0] == 1 && x->shape[1] > 1 && strstr(x->name, "depthwise")) return x->shape[1];
  return -1;
}
