/*
 * flagscope - alignment of neural-network weight matrices, from the weights.
 *
 * A thin driver over the fs_ library: it parses the command line (its own
 * options are --long; single-dash options go to the PETSc/SLEPc options
 * database, e.g. -svd_type trlanczos), then calls one library entry point.
 * Exit status: 0 all models analysed, 1 some failed, 2 usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_cmd.h"


static const char *usage_text =
    "usage: flagscope <command> [options]\n"
    "\n"
    "commands:\n"
    "  analyze [MODEL...]   truncated spectra of every weight matrix and the alignment of\n"
    "                       every adjacent pair; one HDF5 file, a summary table on stdout.\n"
    "                       Without models: the bundled example zoo.  Run under mpirun/srun.\n"
    "  inspect MODEL...     tensors, metadata and the inferred layer graph; reads no data\n"
    "  convert IN OUT.safetensors [--dtype keep|F64|F32|F16|BF16]\n"
    "                       any readable checkpoint as one safetensors file, tensors in\n"
    "                       their [out, in] layout, metadata carried over (default: keep\n"
    "                       each float type; integer and quantised tensors become F32)\n"
    "\n"
    "analyze options:\n"
    "  -o, --output FILE    HDF5 output (default flagscope.h5; written as FILE.partial\n"
    "                       and renamed when complete)\n"
    "  --zoo MANIFEST       models listed one per line ('#' comments; paths relative to\n"
    "                       the manifest)\n"
    "  --k N                singular triplets per matrix, capped by its shape (default 64);\n"
    "                       the fixed rank policy, and the cap k_max of the others\n"
    "  --energy F           rank policy: keep the smallest k whose sigma_i^2 sum to F of\n"
    "                       ||W||_F^2, F in (0, 1] (capped by --k and the shape)\n"
    "  --rank-tol T         rank policy: keep the numerical rank #{sigma_i > T sigma_1},\n"
    "                       T in (0, 1) (capped by --k and the shape)\n"
    "  --full-spectrum      also every singular value of every matrix (LAPACK on the owning\n"
    "                       rank), the effective rank and the power-law exponent alpha\n"
    "  --eps LIST           angle tolerances in degrees, comma-separated (default 1,5,10)\n"
    "  --commutator MODE    kappa and balancedness from the rank-k factors (lowrank, the\n"
    "                       default), from the full matrices' Grams (exact), or both\n"
    "  --flag-table         also dim_eps(i, j) for i, j <= 32 per pair (the relative\n"
    "                       position of the two flags)\n"
    "  --tau T              relative tolerance of the numerical rank (default 1e-6)\n"
    "  --head-threshold X   attention head pairs with an overlap above X count as\n"
    "                       redundant (default 0.5)\n"
    "  --quiet              no summary table\n"
    "  -svd_type T, -svd_tol X, ...   PETSc/SLEPc options, passed through\n"
    "\n"
    "  -h, --help           this text;  --version  the version\n"
    "exit status: 0 all models analysed, 1 some models failed, 2 usage error\n";

int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "flagscope: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(run 'flagscope --help' for usage)\n");
  return EXIT_USAGE;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage_text, stderr);
    return EXIT_USAGE;
  }
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    fputs(usage_text, stdout);
    return EXIT_OK;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("flagscope %s\n", FLAGSCOPE_VERSION);
    return EXIT_OK;
  }
  for (int i = 2; i < argc; i++)
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      fputs(usage_text, stdout);
      return EXIT_OK;
    }
  if (!strcmp(argv[1], "analyze")) return cmd_analyze(argc, argv);
  if (!strcmp(argv[1], "inspect")) return cmd_inspect(argc, argv);
  if (!strcmp(argv[1], "convert")) return cmd_convert(argc, argv);
  return usage_error("unknown command '%s'", argv[1]);
}
