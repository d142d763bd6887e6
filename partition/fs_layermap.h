/*
 * fs_layermap.h - the user's layer map: a text file that names roles and
 * pairs explicitly, for architectures the rules of fs_graph.c do not know
 * (format: docs/layer-graph.md, "Layer-map files").
 *
 * A line-based format rather than JSON: every error can name the file and the
 * line it comes from (jansson reports lines for syntax errors only, not for a
 * pair naming a tensor the model lacks), a map is written by hand next to a
 * checkpoint, and it diffs line by line.
 *
 * The map is read and checked for syntax once (fs_layermap_read: errors
 * "FILE:LINE: reason"), then made active for the run (fs_layermap_activate);
 * fs_graph_build applies the active map to every model, the way PETSc's
 * options database holds one set of options for a whole run.  Errors that
 * depend on the model (a tensor it lacks, dimensions that differ) fail that
 * model's graph with "FILE:LINE: reason"; the other models go on.
 */
#ifndef FS_LAYERMAP_H
#define FS_LAYERMAP_H

#include "fs_error.h"
#include "fs_graph.h"
#include "fs_model.h"

typedef struct fs_layermap fs_layermap;

int fs_layermap_read(const char *path, fs_layermap **map, fs_error *err);
void fs_layermap_free(fs_layermap *map);

/* The map fs_graph_build applies (NULL: none). */
void fs_layermap_activate(const fs_layermap *map);
const fs_layermap *fs_layermap_active(void);

/* "mode replace": the inferred graph is not built at all. */
int fs_layermap_replaces(const fs_layermap *map);
/* Overrides *h and *kv with the map's "heads" line, if any (map may be NULL). */
void fs_layermap_heads(const fs_layermap *map, int *h, int *kv);
/* Adds the map's pairs and roles to g (after dropping the inferred pairs it
 * overrides). */
int fs_layermap_apply(const fs_layermap *map, const fs_model *m, fs_graph *g, fs_error *err);
/* Marks the tensors of "role T ignore" lines as accounted for. */
void fs_layermap_mark_ignored(const fs_layermap *map, const fs_model *m, char *used);

#endif
