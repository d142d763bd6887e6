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
#include "fs_layermap.h"
#include "fs_model.h"

static void print_shape(const fs_tensor *t) {
  printf("[");
  for (int d = 0; d < t->ndim; d++) printf("%s%lld", d ? ", " : "", (long long)t->shape[d]);
  printf("]");
}

static void print_note(const char *note) {
  /* fs_graph_note joins reasons with "; " */
  for (const char *p = note; *p;) {
    const char *e = strstr(p, "; ");
    int n = e ? (int)(e - p) : (int)strlen(p);
    printf("  note: %.*s\n", n, p);
    p += n + (e ? 2 : 0);
  }
}

static void print_matrix(const fs_model *m, int i, const fs_matrix *x) {
  printf("    %4d  %-48s %6lld x %-6lld", i, x->name, (long long)fs_matrix_rows(x),
         (long long)fs_matrix_cols(x));
  if (x->block >= 0) printf("  block %d", x->block);
  if (x->head >= 0) printf("  head %d", x->head);
  printf("%s", x->unfold_in ? "  (input unfolding)" : x->transposed ? "  (map is the transpose)" : "");
  if (x->fold >= 0) printf("  folded with %s", m->tensors[x->fold].name);
  if (x->bn_var >= 0) printf("  BatchNorm %s", m->tensors[x->bn_var].name);
  else if (x->bn_gamma >= 0) printf("  scale %s", m->tensors[x->bn_gamma].name);
  printf("\n");
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
  if (g.n_head && g.n_head_kv < g.n_head)
    printf(" (grouped-query: %d query heads per kv head)", g.n_head / g.n_head_kv);
  printf("\n");
  print_note(g.note);
  printf("  %d matrices:\n", g.nmat);
  for (int i = 0; i < g.nmat; i++) print_matrix(m, i, &g.mat[i]);
  int count[FS_PAIR_NTYPES] = {0};
  for (int i = 0; i < g.npair; i++) count[g.pair[i].type]++;
  printf("  %d pairs:", g.npair);
  for (int t = 0; t < FS_PAIR_NTYPES; t++) printf(" %s %d%s", fs_pair_type_name((fs_pair_type)t),
                                                  count[t], t + 1 < FS_PAIR_NTYPES ? "," : "");
  printf("\n");
  for (int i = 0; i < g.npair; i++) {
    const fs_pair *p = &g.pair[i];
    char where[48] = "";
    if (p->head >= 0) snprintf(where, sizeof where, ", block %d, head %d", p->block, p->head);
    else if (p->block >= 0) snprintf(where, sizeof where, ", block %d", p->block);
    printf("    %-10s %-48s -> %s  (d = %lld%s)\n", fs_pair_type_name(p->type), g.mat[p->writer].name,
           g.mat[p->reader].name, (long long)fs_matrix_in_dim(&g.mat[p->reader]), where);
  }
  printf("  %d unplaced tensor%s%s\n", g.nunplaced, g.nunplaced == 1 ? "" : "s",
         g.nunplaced ? " (no rule or layer-map line places them; 2-D ones are analysed alone):" : "");
  for (int i = 0; i < g.nunplaced; i++) {
    const fs_tensor *t = &m->tensors[g.unplaced[i]];
    printf("    %-48s ", t->name);
    print_shape(t);
    printf("\n");
  }
  fs_graph_free(&g);
}

int cmd_inspect(int argc, char **argv) {
  const char *map_path = NULL;
  int nmodels = 0;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--layer-map")) {
      if (i + 1 >= argc) return usage_error("%s", "--layer-map needs a file");
      map_path = argv[++i];
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return usage_error("unknown inspect option %s", argv[i]);
    } else {
      nmodels++;
    }
  }
  if (!nmodels) return usage_error("%s", "inspect needs at least one model");
  fs_layermap *map = NULL;
  fs_error err;
  if (map_path && fs_layermap_read(map_path, &map, &err)) return usage_error("%s", err.msg);
  fs_layermap_activate(map);
  int failed = 0;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--layer-map")) {
      i++;
      continue;
    }
    fs_model m;
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
  fs_layermap_activate(NULL);
  fs_layermap_free(map);
  return failed ? EXIT_FAILED : EXIT_OK;
}
