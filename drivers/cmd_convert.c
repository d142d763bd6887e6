/*
 * cmd_convert.c - `flagscope convert`: any readable checkpoint as one
 * safetensors file in the [out, in] convention.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_cmd.h"
#include "fs_model.h"
#include "fs_st_write.h"

int cmd_convert(int argc, char **argv) {
  const char *in = NULL, *out = NULL;
  int to = -1;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--dtype")) {
      if (i + 1 >= argc) return usage_error("%s", "--dtype needs a value");
      const char *v = argv[++i];
      if (!strcmp(v, "keep")) to = -1;
      else if (!strcmp(v, "F64") || !strcmp(v, "F32") || !strcmp(v, "F16") || !strcmp(v, "BF16"))
        to = fs_dtype_from_name(v);
      else return usage_error("--dtype wants keep, F64, F32, F16 or BF16, not '%s'", v);
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return usage_error("unknown option %s", argv[i]);
    } else if (!in) {
      in = argv[i];
    } else if (!out) {
      out = argv[i];
    } else {
      return usage_error("%s", "convert takes one input and one output");
    }
  }
  if (!in || !out) return usage_error("%s", "convert needs an input and an output file");
  fs_model m;
  fs_error err;
  if (fs_model_open(in, &m, &err) || fs_st_write(&m, out, to, &err)) {
    fprintf(stderr, "flagscope: error: %s\n", err.msg);
    fs_model_close(&m);
    return EXIT_FAILED;
  }
  fprintf(stderr, "flagscope: wrote %s (%d tensors from %s)\n", out, m.ntensors,
          fs_format_name(m.format));
  fs_model_close(&m);
  return EXIT_OK;
}
