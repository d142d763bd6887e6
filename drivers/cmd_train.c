/*
 * cmd_train.c - `flagscope train`: trains small MLPs on a synthetic teacher
 * task (src/fs_train.h) and writes safetensors checkpoints with a trajectory
 * manifest; with --zoo, one run per activation x depth x weight decay x seed.
 *
 * Layout of the output directory DIR:
 *   one run:  DIR/step-<8 digits>.safetensors, DIR/trajectory.txt
 *   --zoo:    DIR/<act>-depth<D>-wd<lambda>-seed<S>/ (one run each),
 *             DIR/runs.txt (one line per run: activation depth weight_decay
 *             seed trajectory-manifest) and DIR/manifest.txt (every
 *             checkpoint, one path per line, for `analyze --zoo`).
 * A trajectory manifest has one "path step" line per checkpoint, steps
 * increasing, paths relative to the manifest (flagscope trajectory).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs_cmd.h"
#include "fs_train.h"

#define MAX_LIST 64

typedef struct train_args {
  fs_train_opts o;
  long steps, every;
  const char *outdir;
  int zoo, quiet;
  int nact, ndepth, nwd, nseed;
  fs_activation acts[MAX_LIST];
  int depths[MAX_LIST];
  double wds[MAX_LIST];
  uint64_t seeds[MAX_LIST];
} train_args;

/* Comma-separated list of numbers, each checked by the caller's bounds. */
static int parse_list(const char *s, double *v, int *n, double lo, double hi, int integer) {
  *n = 0;
  while (*s) {
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || errno || !(x >= lo && x <= hi) || *n == MAX_LIST) return FS_ERR;
    if (integer && x != (double)(long long)x) return FS_ERR;
    v[(*n)++] = x;
    if (*end && *end != ',') return FS_ERR;
    s = end + (*end == ',');
  }
  return *n ? 0 : FS_ERR;
}

static int parse_int(const char *s, long lo, long hi, long *v) {
  char *end;
  errno = 0;
  long x = strtol(s, &end, 10);
  if (end == s || *end || errno || x < lo || x > hi) return FS_ERR;
  *v = x;
  return 0;
}

static int parse_acts(const char *s, train_args *a) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", s);
  a->nact = 0;
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
    if (a->nact == MAX_LIST || fs_activation_parse(tok, &a->acts[a->nact++])) return FS_ERR;
  return a->nact ? 0 : FS_ERR;
}

static int parse_value(const char *s, const char *val, train_args *a) {
  double v[MAX_LIST];
  long x;
  int n;
  if (!strcmp(s, "--act")) {
    if (parse_acts(val, a)) return usage_error("--act wants linear, relu or tanh (comma-separated), not '%s'", val);
  } else if (!strcmp(s, "--depth")) {
    if (parse_list(val, v, &n, 1, FS_TRAIN_MAX_DEPTH, 1))
      return usage_error("--depth wants integers in [1, 16], not '%s'", val);
    for (int i = 0; i < n; i++) a->depths[i] = (int)v[i];
    a->ndepth = n;
  } else if (!strcmp(s, "--wd")) {
    if (parse_list(val, a->wds, &a->nwd, 0, 1e6, 0))
      return usage_error("--wd wants weight decays >= 0, not '%s'", val);
  } else if (!strcmp(s, "--seed")) {
    if (parse_list(val, v, &n, 0, 9007199254740992.0, 1))
      return usage_error("--seed wants integers >= 0, not '%s'", val);
    for (int i = 0; i < n; i++) a->seeds[i] = (uint64_t)v[i];
    a->nseed = n;
  } else if (!strcmp(s, "--lr")) {
    char *end;
    a->o.lr = strtod(val, &end);
    if (*end || !(a->o.lr > 0)) return usage_error("--lr wants a positive number, not '%s'", val);
  } else if (!strcmp(s, "-o") || !strcmp(s, "--output")) {
    a->outdir = val;
  } else { /* the integer options */
    static const char *names[] = {"--width", "--din", "--dout", "--teacher-width", "--samples",
                                  "--steps", "--every", "--data-seed"};
    int i = 0;
    while (i < 8 && strcmp(s, names[i])) i++;
    if (i == 8) return usage_error("unknown option %s", s);
    long hi = i < 4 ? 4096 : i == 4 ? 1000000 : 1000000000L;
    if (parse_int(val, i == 6 || i == 7 ? 0 : 1, hi, &x)) {
      char msg[128];
      snprintf(msg, sizeof msg, "%s wants an integer in [%d, %ld], not '%%s'", s,
               i == 6 || i == 7 ? 0 : 1, hi);
      return usage_error(msg, val);
    }
    if (i == 0) a->o.width = (int)x;
    else if (i == 1) a->o.din = (int)x;
    else if (i == 2) a->o.dout = (int)x;
    else if (i == 3) a->o.teacher_width = (int)x;
    else if (i == 4) a->o.nsamples = (int)x;
    else if (i == 5) a->steps = x;
    else if (i == 6) a->every = x;
    else a->o.data_seed = (uint64_t)x;
  }
  return EXIT_OK;
}

static int parse_train(int argc, char **argv, train_args *a) {
  fs_train_defaults(&a->o);
  a->steps = 1000;
  a->nact = a->ndepth = a->nwd = a->nseed = 1;
  a->acts[0] = a->o.act, a->depths[0] = a->o.depth, a->wds[0] = a->o.wd, a->seeds[0] = a->o.seed;
  for (int i = 2; i < argc; i++) {
    const char *s = argv[i];
    if (!strcmp(s, "--zoo")) a->zoo = 1;
    else if (!strcmp(s, "--quiet")) a->quiet = 1;
    else if (s[0] != '-') return usage_error("unexpected argument '%s'", s);
    else if (i + 1 >= argc) return usage_error("option %s needs a value", s);
    else {
      int rc = parse_value(s, argv[++i], a);
      if (rc) return rc;
    }
  }
  if (!a->outdir) return usage_error("%s", "train needs an output directory (-o DIR)");
  if (!a->zoo && a->nact * a->ndepth * a->nwd * a->nseed > 1)
    return usage_error("%s", "lists of activations, depths, weight decays or seeds need --zoo");
  if (!a->every) a->every = a->steps >= 20 ? a->steps / 20 : 1;
  return EXIT_OK;
}

static int make_dir(const char *d) {
  if (mkdir(d, 0777) == 0 || errno == EEXIST) return 0;
  fprintf(stderr, "flagscope: error: %s: cannot create the directory: %s\n", d, strerror(errno));
  return FS_ERR;
}

/* One run into dir: checkpoints at 0, every, 2 every, ... and the last step. */
static int run_one(const train_args *a, const fs_train_opts *o, const char *dir, FILE *all,
                   const char *prefix) {
  if (make_dir(dir)) return FS_ERR;
  char path[4200], name[64];
  snprintf(path, sizeof path, "%s/trajectory.txt", dir);
  FILE *man = fopen(path, "w");
  if (!man) {
    fprintf(stderr, "flagscope: error: %s: cannot create: %s\n", path, strerror(errno));
    return FS_ERR;
  }
  fprintf(man, "# flagscope train: path step (t = step * lr, lr = %.17g)\n", o->lr);
  fs_error err;
  fs_error_clear(&err);
  fs_trainer *t = NULL;
  int rc = fs_trainer_create(o, &t, &err);
  for (long s = 0; !rc; s++) {
    if (s % a->every == 0 || s == a->steps) {
      snprintf(name, sizeof name, "step-%08ld.safetensors", s);
      snprintf(path, sizeof path, "%s/%s", dir, name);
      rc = fs_trainer_write(t, path, &err);
      fprintf(man, "%s %ld\n", name, s);
      if (all) fprintf(all, "%s%s\n", prefix, name);
    }
    if (rc || s == a->steps) break;
    rc = fs_trainer_step(t, &err);
  }
  if (!rc && !a->quiet)
    printf("%-40s steps %ld  loss %.6e\n", dir, a->steps, fs_trainer_loss(t));
  fs_trainer_destroy(&t);
  if (fclose(man) != 0 && !rc) rc = fs_fail(&err, "%s/trajectory.txt: write failed", dir);
  if (rc) fprintf(stderr, "flagscope: error: %s: %s\n", dir, err.msg);
  return rc;
}

static int run_zoo(const train_args *a) {
  if (make_dir(a->outdir)) return EXIT_FAILED;
  char path[4200], dir[4200], sub[256], prefix[300];
  snprintf(path, sizeof path, "%s/runs.txt", a->outdir);
  FILE *runs = fopen(path, "w");
  snprintf(path, sizeof path, "%s/manifest.txt", a->outdir);
  FILE *all = fopen(path, "w");
  int rc = (!runs || !all) ? FS_ERR : 0;
  if (rc) fprintf(stderr, "flagscope: error: %s: cannot create the manifests\n", a->outdir);
  if (runs) fprintf(runs, "# activation depth weight_decay seed trajectory\n");
  for (int i = 0; !rc && i < a->nact; i++)
    for (int j = 0; !rc && j < a->ndepth; j++)
      for (int k = 0; !rc && k < a->nwd; k++)
        for (int s = 0; !rc && s < a->nseed; s++) {
          fs_train_opts o = a->o;
          o.act = a->acts[i], o.depth = a->depths[j], o.wd = a->wds[k], o.seed = a->seeds[s];
          snprintf(sub, sizeof sub, "%s-depth%d-wd%g-seed%" PRIu64, fs_activation_name(o.act),
                   o.depth, o.wd, o.seed);
          snprintf(dir, sizeof dir, "%s/%s", a->outdir, sub);
          snprintf(prefix, sizeof prefix, "%s/", sub);
          rc = run_one(a, &o, dir, all, prefix);
          if (!rc)
            fprintf(runs, "%s %d %.17g %" PRIu64 " %s/trajectory.txt\n", fs_activation_name(o.act),
                    o.depth, o.wd, o.seed, sub);
        }
  if (runs && fclose(runs) != 0) rc = FS_ERR;
  if (all && fclose(all) != 0) rc = FS_ERR;
  return rc ? EXIT_FAILED : EXIT_OK;
}

int cmd_train(int argc, char **argv) {
  train_args a;
  memset(&a, 0, sizeof a);
  int rc = parse_train(argc, argv, &a);
  if (rc) return rc;
  if (a.zoo) return run_zoo(&a);
  fs_train_opts o = a.o;
  o.act = a.acts[0], o.depth = a.depths[0], o.wd = a.wds[0], o.seed = a.seeds[0];
  return run_one(&a, &o, a.outdir, NULL, "") ? EXIT_FAILED : EXIT_OK;
}
