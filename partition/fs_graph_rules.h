/*
 * fs_graph_rules.h - the building blocks that the rule files of the layer
 * graph share (fs_graph.c, fs_graph_paddle.c, fs_graph_tfjs.c,
 * fs_layermap.c).  Private to partition/: the public interface is fs_graph.h.
 *
 * Every builder appends to the graph and returns the new matrix's index (or
 * 0 for a pair), FS_ERR only when memory runs out.  A pair whose two spaces
 * differ is not an error: it is skipped and the graph's note says so, since a
 * checkpoint whose names look like a family but whose shapes do not chain
 * must still be analysed as plain matrices.
 */
#ifndef FS_GRAPH_RULES_H
#define FS_GRAPH_RULES_H

#include "fs_graph.h"

/* A matrix given in the coordinates of the layer's map: output rows
 * [oa, ob) (rep blocks rstep apart) and input columns [ia, ib); stored
 * coordinates follow from the tensor's orientation. */
typedef struct mapslice {
  int tensor, transposed, fold, block, head;
  int64_t oa, ob, rep, rstep, ia, ib;
  const char *suffix;
} mapslice;

/* A per-channel scale after a layer, folded into its outputs: a BatchNorm
 * (var >= 0: gamma / sqrt(var + eps), gamma optional) or a plain affine scale
 * (var < 0, gamma >= 0: face-api's "scale" layers, BatchNorm already folded
 * by the exporter).  module names it ("layer1.0.bn1"). */
typedef struct bnorm {
  int gamma, var;
  double eps;
  char module[FS_MATRIX_NAME_MAX];
} bnorm;

int fs_graph_add_matrix(fs_graph *g, const fs_model *m, const mapslice *s, fs_error *err);
int fs_graph_add_whole(fs_graph *g, const fs_model *m, int tensor, int transposed, int fold,
                       int block, fs_error *err);
int fs_graph_add_pair(fs_graph *g, fs_pair_type type, int w, int r, int block, int head,
                      fs_error *err);
/* A conv (or linear) layer as writer: output unfolding, scale folded in. */
int fs_graph_add_out(fs_graph *g, const fs_model *m, int t, const bnorm *bn, int block,
                     fs_error *err);
/* A layer as reader of input channels [ca, cb) of its cin: rows [ca, cb) of
 * its input unfolding (k = inputs / cin), scale folded in, gain (a 1-D tensor
 * of cin entries, or -1) multiplying the channels read. */
int fs_graph_add_in_rows(fs_graph *g, const fs_model *m, int t, int64_t cin, int64_t ca,
                         int64_t cb, const bnorm *bn, int gain, int block, fs_error *err);
bnorm fs_graph_find_bn(const fs_model *m, const char *module, int64_t nout);
/* gain if it is 1-D with one entry per input of the tensor's map, else -1. */
int fs_graph_gain_for(const fs_model *m, int gain, int tensor, int transposed);
/* Appends "; reason" to the graph's note (truncated, never overflowing). */
void fs_graph_note(fs_graph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The rules of the other files, in the order fs_graph_build tries them;
 * used marks the tensors placed so far. */
int fs_graph_build_paddle(const fs_model *m, const char *used, fs_graph *g, fs_error *err);
int fs_graph_build_tfjs_resnet(const fs_model *m, const char *used, fs_graph *g, fs_error *err);
int fs_graph_build_tfjs_chain(const fs_model *m, const char *used, fs_graph *g, fs_error *err);

/* A depthwise convolution [C, 1, kh, kw] (PyTorch/Paddle; TF's [kh, kw, C, 1]
 * is presented as [1, C, kh, kw] and named ".../depthwise..."): channels C. */
int64_t fs_graph_depthwise_channels(const fs_model *m, int t);

#endif
