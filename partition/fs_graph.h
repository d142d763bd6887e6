/*
 * fs_graph.h - the layer graph of one model: which matrices to analyse and
 * which pairs of them are adjacent (SPEC section 4).
 *
 * A matrix is a 2-D tensor seen as a linear map, or a head slice of one, with
 * a normalisation gain folded into its columns where the layer reads the
 * residual stream through a norm.  A pair joins a writer (its output space)
 * to a reader (its input space) of the same dimension d.
 *
 * Families are recognised by a rule table over tensor names (fs_graph.c):
 *   transformers - Llama/Mistral/Qwen (GGUF and Hugging Face names, grouped-query
 *            attention), GPT-2 (fused c_attn, Conv1D stored [in, out]), BERT and
 *            RoBERTa (norms after the residual add), GPT-NeoX/Pythia (fused QKV
 *            interleaved per head, parallel attention and MLP), ViT; pairs mlp,
 *            ov (per head), residual, classifier;
 *   resnet - torchvision ResNet names (conv1/bn1 stem, layerL.B.convK/bnK,
 *            layerL.B.downsample.0/.1, fc): pairs block and classifier, every
 *            conv BatchNorm-folded, readers through their input unfolding;
 *   cnn    - conv (and linear) layers of one indexed group (features.0, features.3;
 *            conv1, conv2, fc1), consecutive when the channels chain: pairs chain;
 *   mlp    - 2-D tensors that differ only in one layer index (net.0, net.2, fc1, fc2),
 *            consecutive when the shapes chain: pairs chain;
 *   matrices - anything else: every 2-D tensor analysed alone.
 * Tensors that no rule places are still analysed as plain matrices.
 */
#ifndef FS_GRAPH_H
#define FS_GRAPH_H

#include <stdint.h>

#include "fs_error.h"
#include "fs_model.h"

typedef enum {
  FS_PAIR_CHAIN,
  FS_PAIR_MLP,
  FS_PAIR_OV,
  FS_PAIR_RESIDUAL,
  FS_PAIR_BLOCK,
  FS_PAIR_CLASSIFIER,
  FS_PAIR_NTYPES
} fs_pair_type;

const char *fs_pair_type_name(fs_pair_type t);

#define FS_MATRIX_NAME_MAX 96

/* The rows of a matrix are rep blocks of the stored view's rows
 * [r0 + i rstep, r1 + i rstep), i = 0..rep-1 (rep = 1 for a plain slice;
 * rep = H for the Q of a fused QKV tensor interleaved per head), and its
 * columns are [c0, c1). */
typedef struct fs_matrix {
  char name[FS_MATRIX_NAME_MAX]; /* tensor name, with "[head h]" / "[kv g]" / ".q" for slices */
  int tensor;                    /* index into the model's tensors */
  int fold;                      /* 1-D gain scaling the map's input, or -1 */
  int64_t r0, r1, c0, c1;        /* slice of the stored [out, in] view */
  int64_t rep, rstep;            /* row blocks (see above) */
  int transposed;                /* the layer's map is the transpose of the slice
                                    (embedding tables, GPT-2 Conv1D [in, out]) */
  int block;                     /* depth: block index or chain position; -1 if none */
  int head;                      /* head (or kv head) of a slice; -1 for whole matrices */
  /* Convolutions (SPEC section 2).  unfold_in = 1: the matrix is the input
   * unfolding I = [c_in, c_out * ksize] of a kernel whose stored view is
   * O = [c_out, c_in * ksize], I[ci][co * ksize + s] = O[co][ci * ksize + s];
   * r0..r1, c0..c1 then index I, and transposed = 1 (the map reads R^{c_in}:
   * its reader basis is I's left singular vectors).  ksize is the spatial size
   * kh * kw (for a linear layer reading a flattened [C, H, W] map: H * W). */
  int unfold_in;
  int64_t ksize;
  /* BatchNorm after the layer, folded into its outputs: output channel co is
   * scaled by gamma[co] / sqrt(var[co] + bn_eps) (gamma = 1 when bn_gamma < 0).
   * bn_var < 0: no BatchNorm. */
  int bn_gamma, bn_var;
  double bn_eps;
} fs_matrix;

typedef struct fs_pair {
  fs_pair_type type;
  int writer, reader; /* indices into the graph's matrices */
  int block, head;    /* -1 where not applicable */
} fs_pair;

/* The attention of one transformer block as whole maps, for the head
 * diagnostics (SPEC 3.7, src/fs_heads.h): Q [n_head head_dim, D] and K, V
 * [n_head_kv head_dim, D] (fused QKV sliced, interleaved row blocks resolved,
 * the norm gain folded as for the residual readers), O [D, n_head head_dim];
 * rows h head_dim .. (h + 1) head_dim - 1 of Q (columns of O) are head h. */
typedef struct fs_head_block {
  int block;
  int n_head, n_head_kv, head_dim;
  fs_matrix q, k, v, o;
} fs_head_block;

typedef struct fs_graph {
  char family[16];
  int n_head, n_head_kv, head_dim; /* 0 when unknown */
  int nmat, npair;
  fs_matrix *mat;
  fs_pair *pair;
  int nhead_block;           /* blocks with Q, K, V and O whose shapes fit the heads */
  fs_head_block *head_block; /* in block order */
  char note[400]; /* why part of the graph could not be built, "" if none */
  int nunplaced;  /* tensors placed by no rule and no layer-map line (not */
  int *unplaced;  /* biases, norm betas or scalars of a placed module) */
} fs_graph;

int fs_graph_build(const fs_model *m, fs_graph *g, fs_error *err);
void fs_graph_free(fs_graph *g);

/* Adds the head block of block b from the graph matrices q, k, v, o (whole
 * maps, -1 if absent) when the heads are known and the shapes fit them;
 * otherwise nothing (partition/fs_head_block.c). */
int fs_graph_add_head_block(fs_graph *g, int b, int q, int k, int v, int o, fs_error *err);

static inline int64_t fs_matrix_rows(const fs_matrix *x) { return x->rep * (x->r1 - x->r0); }
static inline int64_t fs_matrix_cols(const fs_matrix *x) { return x->c1 - x->c0; }
/* Dimension of the space the layer writes into / reads from. */
static inline int64_t fs_matrix_out_dim(const fs_matrix *x) {
  return x->transposed ? fs_matrix_cols(x) : fs_matrix_rows(x);
}
static inline int64_t fs_matrix_in_dim(const fs_matrix *x) {
  return x->transposed ? fs_matrix_rows(x) : fs_matrix_cols(x);
}

#endif
