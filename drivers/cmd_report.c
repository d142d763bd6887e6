/*
 * cmd_report.c - `flagscope report OUT.h5 [--csv DIR] [--plots DIR]
 * [--head-threshold X]`: tables, CSV files and figures from a finished run
 * (io/fs_report.c).  Serial; needs no MPI.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs_cmd.h"
#include "fs_report.h"

int cmd_ensure_dir(const char *dir) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", dir);
  for (char *s = buf + 1;; s++) { /* each parent in turn, like mkdir -p */
    char c = *s;
    if (c && c != '/') continue;
    *s = '\0';
    struct stat st;
    if (!(stat(buf, &st) == 0 && S_ISDIR(st.st_mode)) && mkdir(buf, 0777) != 0) {
      fprintf(stderr, "flagscope: error: %s: cannot create the directory: %s\n", buf, strerror(errno));
      return FS_ERR;
    }
    *s = c;
    if (!c) return 0;
  }
}

int cmd_report(int argc, char **argv) {
  fs_report_opts o = {NULL, NULL, NAN, stdout}; /* threshold: the file's head_threshold */
  const char *file = NULL;
  for (int i = 2; i < argc; i++) {
    const char *s = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(s, "--csv") || !strcmp(s, "--plots") || !strcmp(s, "--head-threshold")) {
      if (!val) return usage_error("option %s needs a value", s);
      i++;
      if (!strcmp(s, "--csv")) o.csv_dir = val;
      else if (!strcmp(s, "--plots")) o.plot_dir = val;
      else {
        char *end;
        o.head_threshold = strtod(val, &end);
        if (*end || !(o.head_threshold >= 0 && o.head_threshold <= 1))
          return usage_error("--head-threshold wants a number in [0, 1], not '%s'", val);
      }
    } else if (!strcmp(s, "--quiet")) {
      o.out = NULL;
    } else if (s[0] == '-') {
      return usage_error("unknown option %s", s);
    } else if (file) {
      return usage_error("report reads one file (extra argument '%s'); see compare", s);
    } else {
      file = s;
    }
  }
  if (!file) return usage_error("%s", "report needs an output file of flagscope analyze");
  if ((o.csv_dir && cmd_ensure_dir(o.csv_dir)) || (o.plot_dir && cmd_ensure_dir(o.plot_dir))) return EXIT_FAILED;
  fs_error err;
  fs_error_clear(&err);
  if (fs_report(file, &o, &err)) {
    fprintf(stderr, "flagscope: error: %s\n", err.msg);
    return EXIT_FAILED;
  }
  return EXIT_OK;
}
