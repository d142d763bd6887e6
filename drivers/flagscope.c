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
    "  inspect [--layer-map FILE] MODEL...\n"
    "                       tensors, metadata and the inferred layer graph (layers, heads,\n"
    "                       typed pairs, unplaced tensors); reads no data\n"
    "  convert IN OUT.safetensors [--dtype keep|F64|F32|F16|BF16]\n"
    "                       any readable checkpoint as one safetensors file, tensors in\n"
    "                       their [out, in] layout, metadata carried over (default: keep\n"
    "                       each float type; integer and quantised tensors become F32)\n"
    "  train -o DIR [--zoo] train small MLPs on a synthetic teacher task (deterministic);\n"
    "                       safetensors checkpoints and a trajectory manifest in DIR\n"
    "  trajectory MANIFEST  one run's checkpoints ('PATH STEP' per line, steps increasing,\n"
    "                       one architecture): the analysis, every pair against the step,\n"
    "                       fitted exponential rates; HDF5 with a /trajectory group\n"
    "  report OUT.h5 [--csv DIR] [--plots DIR] [--head-threshold X] [--quiet]\n"
    "                       tables of a finished run on the terminal, CSV files (zoo, stats,\n"
    "                       depth profiles, head redundancy) and PNG figures (depth profiles,\n"
    "                       head-overlap heat maps, zoo comparisons by family); head pairs\n"
    "                       overlapping more than X count as redundant (default: the\n"
    "                       run's --head-threshold)\n"
    "  compare A.h5 B.h5 ... [--csv DIR]\n"
    "                       the zoo tables of several runs as one, families ranked\n"
    "  merge DIR --zoo MANIFEST [-o ZOO.h5]\n"
    "                       the per-model files of analyze --outdir DIR as one file, the\n"
    "                       schema of a direct analysis of the zoo; lists missing, damaged\n"
    "                       and failed models (serial, no mpirun needed)\n"
    "\n"
    "analyze options:\n"
    "  -o, --output FILE    HDF5 output (default flagscope.h5; written as FILE.partial\n"
    "                       and renamed when complete)\n"
    "  --zoo MANIFEST       models listed one per line: PATH [key=value tags...] ('#'\n"
    "                       comments; paths relative to the manifest; docs/user-guide.md)\n"
    "  --outdir DIR         zoo mode: one durable file per model in DIR, complete ones\n"
    "                       skipped, damaged ones redone; SIGTERM/SIGUSR1 stop after the\n"
    "                       model in flight with exit status 3 (rerun to resume)\n"
    "  --task I --ntasks N  with --outdir: only share I of N of the models (job arrays)\n"
    "  --k N                singular triplets per matrix, capped by its shape (default 64);\n"
    "                       the fixed rank policy, and the cap k_max of the others\n"
    "  --energy F           rank policy: keep the smallest k whose sigma_i^2 sum to F of\n"
    "                       ||W||_F^2, F in (0, 1] (capped by --k and the shape)\n"
    "  --rank-tol T         rank policy: keep the numerical rank #{sigma_i > T sigma_1},\n"
    "                       T in (0, 1) (capped by --k and the shape)\n"
    "  --full-spectrum      also every singular value of every matrix (LAPACK on the owning\n"
    "                       rank, ScaLAPACK on a --mem-per-rank group), the effective rank\n"
    "                       and the power-law exponent alpha\n"
    "  --eps LIST           angle tolerances in degrees, comma-separated (default 1,5,10)\n"
    "  --commutator MODE    kappa and balancedness from the rank-k factors (lowrank, the\n"
    "                       default), from the full matrices' Grams (exact), or both\n"
    "  --flag-table         also dim_eps(i, j) for i, j <= 32 per pair (the relative\n"
    "                       position of the two flags)\n"
    "  --tau T              relative tolerance of the numerical rank (default 1e-6)\n"
    "  --head-threshold X   attention head pairs with an overlap above X count as\n"
    "                       redundant (default 0.5)\n"
    "  --no-heads           skip the attention-head diagnostics (/heads and\n"
    "                       /head_overlaps stay empty; the root attribute heads is 0)\n"
    "  --align-ratio R      a pair is subspace-aligned when dim_eps / min(k, j) >= R at the\n"
    "                       median eps (default 0.5)\n"
    "  --align-kappa X      ... and basis-aligned when also kappa_rel <= X (default 0.5)\n"
    "  --mem-per-rank B     memory budget of one matrix per rank, bytes (suffix K, M, G:\n"
    "                       powers of 1024); a matrix estimated above it is computed by a\n"
    "                       group of ranks on a sub-communicator (default: no budget)\n"
    "  --schedule S         lpt (static, longest processing time first), dynamic (a shared\n"
    "                       queue, largest first) or auto (default: dynamic for several\n"
    "                       models, lpt for one)\n"
    "  --layer-map FILE     roles and pairs named explicitly, extending or overriding the\n"
    "                       inferred graph of every model (docs/layer-graph.md)\n"
    "  --quiet              no summary table\n"
    "  --solver S           truncated SVD: auto (default: by shape and k), slepc (SLEPc,\n"
    "                       -svd_type picks its method) or rsvd (blocked Krylov; -rsvd_tol)\n"
    "  --timing             log every rank's stage times and peak memory\n"
    "  -svd_type T, -svd_tol X, ...   PETSc/SLEPc options, passed through\n"
    "\n"
    "train options (lists are comma-separated and need --zoo: one run per combination):\n"
    "  -o, --output DIR     checkpoints step-<8 digits>.safetensors and trajectory.txt\n"
    "  --act LIST           linear, relu or tanh on the hidden layers (default linear)\n"
    "  --depth LIST         weight matrices (default 3)\n"
    "  --wd LIST            weight decay lambda, L2: W <- W - lr (grad + lambda W)\n"
    "                       (default 0.01)\n"
    "  --seed LIST          student initialisation seeds (default 1)\n"
    "  --width N, --din N, --dout N, --teacher-width N   sizes (default 16, 8, 4, 16)\n"
    "  --samples N          training inputs x ~ N(0, I), one full batch (default 128)\n"
    "  --data-seed N        seed of the teacher and the inputs (default 1000)\n"
    "  --lr X               learning rate (default 0.05); time t = step * lr\n"
    "  --steps N            gradient steps (default 1000)\n"
    "  --every K            a checkpoint every K steps (default steps/20), and the last\n"
    "  --zoo                DIR/<act>-depth<D>-wd<lambda>-seed<S>/ per run, DIR/runs.txt,\n"
    "                       DIR/manifest.txt (every checkpoint, for analyze --zoo)\n"
    "\n"
    "trajectory options:\n"
    "  -o, --output FILE    HDF5 output (default trajectory.h5)\n"
    "  --fit-from S, --fit-to S   fit window in steps (default: the second half)\n"
    "  --floor X            values <= X are left out of the fits (default 1e-10)\n"
    "  --lr X               learning rate for rates per unit t = step * lr (default: the\n"
    "                       checkpoints' flagscope.train.lr metadata, if they agree)\n"
    "  --k N, --quiet, -svd_type T, ...   as for analyze\n"
    "\n"
    "  -h, --help           this text;  --version  the version\n"
    "exit status: 0 all models analysed, 1 some models failed, 2 usage error,\n"
    "             3 zoo run stopped by a signal (rerun to finish)\n";

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
  if (!strcmp(argv[1], "train")) return cmd_train(argc, argv);
  if (!strcmp(argv[1], "trajectory")) return cmd_trajectory(argc, argv);
  if (!strcmp(argv[1], "report")) return cmd_report(argc, argv);
  if (!strcmp(argv[1], "compare")) return cmd_compare(argc, argv);
  if (!strcmp(argv[1], "merge")) return cmd_merge(argc, argv);
  return usage_error("unknown command '%s'", argv[1]);
}
