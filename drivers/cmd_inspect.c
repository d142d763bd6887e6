/*
 * cmd_inspect.c - `flagscope inspect`: a model's tensors, metadata and inferred
 * layer graph, from its header alone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_cmd.h"
#include "fs_graph.h"
#include "fs_model.h"

static void print_shape(const fs_tensor *t) {
  printf("[");
  for (int d = 0; d < t->ndim; d++) printf("%s%lld", d ? ", " : "", (long long)t->shape[d]);
  printf("]");
}

static void inspect_graph(const fs_model *m) {
  fs_graph g;
  fs_error err;
  if (fs_graph_build(m, &g, &err)) {
    printf("layer graph: error: %s\n", err.msg);
    return;
  }
  printf("layer graph: family %s", g.family);
  if (g.n_head) printf(", %d heads, %d kv heads, head size %d", g.n_head, g.n_head_kv, g.head_dim);
  printf("\n%s%s%s", g.note[0] ? "  note: " : "", g.note, g.note[0] ? "\n" : "");
  printf("  %d matrices:\n", g.nmat);
  for (int i = 0; i < g.nmat; i++) {
    const fs_matrix *x = &g.mat[i];
    printf("    %4d  %-44s %6lld x %-6lld%s%s%s%s%s\n", i, x->name, (long long)fs_matrix_rows(x),
           (long long)fs_matrix_cols(x),
           x->unfold_in ? "  (input unfolding)" : x->transposed ? "  (map is the transpose)" : "",
           x->fold >= 0 ? "  folded with " : "", x->fold >= 0 ? m->tensors[x->fold].name : "",
           x->bn_var >= 0 ? "  BatchNorm " : "", x->bn_var >= 0 ? m->tensors[x->bn_var].name : "");
  }
  printf("  %d pairs:\n", g.npair);
  for (int i = 0; i < g.npair; i++) {
    const fs_pair *p = &g.pair[i];
    printf("    %-10s %-44s -> %s  (d = %lld)\n", fs_pair_type_name(p->type), g.mat[p->writer].name,
           g.mat[p->reader].name, (long long)fs_matrix_in_dim(&g.mat[p->reader]));
  }
  fs_graph_free(&g);
}

int cmd_inspect(int argc, char **argv) {
  if (argc < 3) return usage_error("%s", "inspect needs at least one model");
  int failed = 0;
  for (int i = 2; i < argc; i++) {
    fs_model m;
    fs_error err;
    if (fs_model_open(argv[i], &m, &err)) {
      fprintf(stderr, "flagscope: error: %s\n", err.msg);
      failed = 1;
      continue;
    }
    printf("%s: %s, %llu bytes, %d tensors, header checksum %016llx\n", m.path,
           fs_format_name(m.format), (unsigned long long)m.file_size, m.ntensors,
           (unsigned long long)m.header_checksum);
    for (int j = 0; j < m.nmeta; j++) printf("  meta %-40s %.100s\n", m.meta[j].key, m.meta[j].value);
    for (int j = 0; j < m.ntensors; j++) {
      const fs_tensor *t = &m.tensors[j];
      printf("  tensor %-48s %-5s ", t->name, fs_dtype_name(t->dtype));
      print_shape(t);
      printf("  %llu bytes\n", (unsigned long long)t->nbytes);
    }
    inspect_graph(&m);
    fs_model_close(&m);
  }
  return failed ? EXIT_FAILED : EXIT_OK;
}
