/*
 * cmd_merge.c - `flagscope merge DIR --zoo MANIFEST -o ZOO.h5`: the per-model
 * files of a zoo run (analyze --outdir DIR) as one file with the schema of a
 * direct analysis of the zoo (io/fs_merge.h).  Serial; no mpirun needed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_cmd.h"
#include "fs_manifest.h"
#include "fs_merge.h"

int cmd_merge(int argc, char **argv) {
  const char *dir = NULL, *zoo = NULL, *out = "zoo.h5";
  for (int i = 2; i < argc; i++) {
    const char *s = argv[i];
    if (!strcmp(s, "-o") || !strcmp(s, "--output") || !strcmp(s, "--zoo")) {
      if (i + 1 >= argc) return usage_error("option %s needs a value", s);
      if (!strcmp(s, "--zoo")) zoo = argv[++i];
      else out = argv[++i];
    } else if (s[0] == '-') {
      return usage_error("unknown merge option %s", s);
    } else if (dir) {
      return usage_error("merge takes one folder, not also '%s'", s);
    } else {
      dir = s;
    }
  }
  if (!dir || !zoo) return usage_error("%s", "merge needs DIR and --zoo MANIFEST");
  fs_manifest m;
  fs_error err;
  fs_error_clear(&err);
  if (fs_manifest_read(zoo, &m, &err)) {
    fprintf(stderr, "flagscope: error: %s\n", err.msg);
    return EXIT_FAILED;
  }
  char cmd[8192] = "";
  for (int i = 0; i < argc; i++)
    snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), "%s%s", i ? " " : "", argv[i]);
  int problems = 0, rc = fs_merge(&m, dir, out, cmd, stdout, &problems, &err);
  if (rc) fprintf(stderr, "flagscope: error: %s\n", err.msg);
  fs_manifest_free(&m);
  return rc ? EXIT_FAILED : problems ? EXIT_FAILED : EXIT_OK;
}
