/*
 * cmd_compare.c - `flagscope compare A.h5 B.h5 ... [--csv DIR]`: the zoo tables
 * of several runs as one, and families ranked (io/fs_compare.c).  Serial.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_cmd.h"
#include "fs_report.h"

int cmd_compare(int argc, char **argv) {
  const char *csv = NULL;
  char **files = calloc((size_t)argc + 1, sizeof *files);
  int n = 0;
  if (!files) return EXIT_FAILED;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--csv")) {
      if (i + 1 >= argc) return free(files), usage_error("option %s needs a value", argv[i]);
      csv = argv[++i];
    } else if (argv[i][0] == '-') {
      free(files);
      return usage_error("unknown option %s", argv[i]);
    } else {
      files[n++] = argv[i];
    }
  }
  if (!n) return free(files), usage_error("%s", "compare needs one or more output files");
  int rc = EXIT_OK;
  fs_error err;
  fs_error_clear(&err);
  if (csv && cmd_ensure_dir(csv)) rc = EXIT_FAILED;
  else if (fs_compare(files, n, csv, stdout, &err)) {
    fprintf(stderr, "flagscope: error: %s\n", err.msg);
    rc = EXIT_FAILED;
  }
  free(files);
  return rc;
}
