/*
 * fs_head_block.c - the attention head blocks of a transformer's layer graph
 * (see fs_graph.h, fs_head_block): the whole Q, K, V and O maps of a block,
 * as the graph already describes them (fused QKV sliced, interleaved row
 * blocks, norm gains folded into the readers), kept for the head diagnostics
 * of SPEC 3.7 (src/fs_heads.c), which cut them into heads themselves.
 */
#include <stdlib.h>

#include "fs_graph.h"

/* Do the four maps have the shapes of n_head query heads and n_head_kv
 * key/value heads of head_dim, all reading and writing one width D? */
static int shapes_fit(const fs_graph *g, const fs_matrix *q, const fs_matrix *k,
                      const fs_matrix *v, const fs_matrix *o) {
  int64_t D = fs_matrix_in_dim(q), hq = (int64_t)g->n_head * g->head_dim;
  int64_t hkv = (int64_t)g->n_head_kv * g->head_dim;
  return D > 0 && fs_matrix_out_dim(q) == hq && fs_matrix_out_dim(k) == hkv &&
         fs_matrix_out_dim(v) == hkv && fs_matrix_in_dim(k) == D && fs_matrix_in_dim(v) == D &&
         fs_matrix_in_dim(o) == hq && fs_matrix_out_dim(o) == D && g->head_dim <= D;
}

int fs_graph_add_head_block(fs_graph *g, int b, int q, int k, int v, int o, fs_error *err) {
  if (!g->n_head || !g->n_head_kv || !g->head_dim || q < 0 || k < 0 || v < 0 || o < 0) return 0;
  if (!shapes_fit(g, &g->mat[q], &g->mat[k], &g->mat[v], &g->mat[o])) return 0;
  if (g->nhead_block % 16 == 0) {
    fs_head_block *p = realloc(g->head_block, sizeof *p * (size_t)(g->nhead_block + 16));
    if (!p) return fs_fail(err, "out of memory building the layer graph");
    g->head_block = p;
  }
  g->head_block[g->nhead_block++] = (fs_head_block){b, g->n_head, g->n_head_kv, g->head_dim,
                                                     g->mat[q], g->mat[k], g->mat[v], g->mat[o]};
  return 0;
}
