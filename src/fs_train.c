/*
 * fs_train.c - deterministic MLP trainer (see fs_train.h for the model, the
 * task, the update and the PRNG).
 *
 * Batch layout: the n samples are the rows of row-major n x d matrices, so a
 * layer is Z_l = H_{l-1} W_l^T and every product is one BLAS-3 dgemm:
 *   forward    Z_l = H_{l-1} W_l^T,   H_l = s(Z_l),   output Y = Z_L
 *   backward   G_L = (Y - T) / n,
 *              dW_l = G_l^T H_{l-1} + lambda W_l,
 *              G_{l-1} = (G_l W_l) .* s'(Z_{l-1})
 * References: backpropagation (Rumelhart, Hinton & Williams 1986); the
 * balancedness dynamics this trainer is used to check are derived in
 * docs/mathematics.md section 13 (Arora, Cohen & Hazan 2018; Du, Hu & Lee 2018).
 */
#include "fs_train.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_lapack.h"
#include "fs_model.h"
#include "fs_st_write.h"


struct fs_trainer {
  fs_train_opts o;
  fs_mlp student;
  double *X, *T;                       /* n x din inputs, n x dout targets */
  double *Z[FS_TRAIN_MAX_DEPTH];       /* pre-activations, n x dims[l+1] */
  double *H[FS_TRAIN_MAX_DEPTH];       /* activations of hidden layers */
  double *G[2];                        /* back-propagated errors (ping-pong), n x max dim */
  double *dW[FS_TRAIN_MAX_DEPTH];
  double loss;
  long steps;
};

/* ---- PRNG: splitmix64 seeding, xoshiro256**, Box-Muller --------------------- */

typedef struct rng {
  uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r) {
  uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return out;
}

/* Streams: the same seed with different stream numbers gives independent
 * generators (the teacher, the inputs, the student). */
static void rng_seed(rng *r, uint64_t seed, uint64_t stream) {
  uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

/* Uniform in (0, 1): 53 random bits, never 0. */
static double rng_uniform(rng *r) { return ((double)(rng_next(r) >> 11) + 0.5) * 0x1.0p-53; }

static double rng_normal(rng *r) {
  double u = rng_uniform(r), v = rng_uniform(r);
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* ---- dense kernels ------------------------------------------------------------ */

/* C = alpha op(A) op(B) + beta C, all row-major (C is M x N): column-major
 * BLAS sees C^T = op(B)^T op(A)^T, i.e. the same transposition flags with the
 * operands swapped. */
static void gemm_rm(char ta, char tb, int M, int N, int K, double alpha, const double *A,
                    int lda, const double *B, int ldb, double beta, double *C, int ldc) {
  dgemm_(&tb, &ta, &N, &M, &K, &alpha, B, &ldb, A, &lda, &beta, C, &ldc, 1, 1);
}

static double act(fs_activation a, double z) {
  return a == FS_ACT_RELU ? (z > 0 ? z : 0) : a == FS_ACT_TANH ? tanh(z) : z;
}

/* s'(z) from z and h = s(z). */
static double act_deriv(fs_activation a, double z, double h) {
  return a == FS_ACT_RELU ? (z > 0 ? 1 : 0) : a == FS_ACT_TANH ? 1 - h * h : 1;
}

/* ---- options ---------------------------------------------------------------- */

void fs_train_defaults(fs_train_opts *o) {
  memset(o, 0, sizeof *o);
  o->act = FS_ACT_LINEAR;
  o->depth = 3;
  o->width = 16;
  o->din = 8;
  o->dout = 4;
  o->teacher_width = 16;
  o->nsamples = 128;
  o->lr = 0.05;
  o->wd = 0.01;
  o->seed = 1;
  o->data_seed = 1000;
}

static const char *act_names[] = {"linear", "relu", "tanh"};

const char *fs_activation_name(fs_activation a) {
  return a >= FS_ACT_LINEAR && a <= FS_ACT_TANH ? act_names[a] : "?";
}

int fs_activation_parse(const char *s, fs_activation *a) {
  for (int i = 0; i < 3; i++)
    if (!strcmp(s, act_names[i])) return *a = (fs_activation)i, 0;
  return FS_ERR;
}

static int check_opts(const fs_train_opts *o, fs_error *err) {
  if (o->depth < 1 || o->depth > FS_TRAIN_MAX_DEPTH)
    return fs_fail(err, "depth %d outside [1, %d]", o->depth, FS_TRAIN_MAX_DEPTH);
  const int lim = 4096;
  if (o->width < 1 || o->width > lim || o->din < 1 || o->din > lim || o->dout < 1 ||
      o->dout > lim || o->teacher_width < 1 || o->teacher_width > lim)
    return fs_fail(err, "dimensions must lie in [1, %d]", lim);
  if (o->nsamples < 1 || o->nsamples > 1000000)
    return fs_fail(err, "samples %d outside [1, 1000000]", o->nsamples);
  if (!(o->lr > 0 && o->lr < 1e3)) return fs_fail(err, "learning rate %g not in (0, 1000)", o->lr);
  if (!(o->wd >= 0 && o->lr * o->wd < 1))
    return fs_fail(err, "weight decay %g must be >= 0 with lr * lambda < 1", o->wd);
  if (o->act < FS_ACT_LINEAR || o->act > FS_ACT_TANH) return fs_fail(err, "unknown activation");
  return 0;
}

/* ---- networks ------------------------------------------------------------------ */

static void mlp_free(fs_mlp *m) {
  for (int l = 0; l < m->depth; l++) free(m->W[l]), m->W[l] = NULL;
}

static int mlp_init(fs_mlp *m, fs_activation a, int depth, int din, int width, int dout,
                    rng *r, fs_error *err) {
  memset(m, 0, sizeof *m);
  m->depth = depth, m->act = a;
  for (int l = 0; l <= depth; l++) m->dims[l] = l == 0 ? din : l == depth ? dout : width;
  for (int l = 0; l < depth; l++) {
    size_t n = (size_t)m->dims[l + 1] * (size_t)m->dims[l];
    if (!(m->W[l] = malloc(sizeof(double) * n))) {
      mlp_free(m);
      return fs_fail(err, "out of memory for layer %d", l);
    }
    /* The gain keeps the activations' scale through ReLU layers (He et al. 2015). */
    double gain = (a == FS_ACT_RELU && l > 0) ? sqrt(2.0) : 1.0;
    double sd = gain / sqrt((double)m->dims[l]);
    for (size_t i = 0; i < n; i++) m->W[l][i] = sd * rng_normal(r);
  }
  return 0;
}

/* Forward pass of m on the n rows of X; Z[l] and H[l] (hidden layers) are
 * n x dims[l+1]; the output is Z[depth-1]. */
static void forward(const fs_mlp *m, int n, const double *X, double **Z, double **H) {
  const double *in = X;
  for (int l = 0; l < m->depth; l++) {
    int di = m->dims[l], dout = m->dims[l + 1];
    gemm_rm('N', 'T', n, dout, di, 1.0, in, di, m->W[l], di, 0.0, Z[l], dout);
    if (l + 1 == m->depth) break;
    size_t cnt = (size_t)n * (size_t)dout;
    for (size_t i = 0; i < cnt; i++) H[l][i] = act(m->act, Z[l][i]);
    in = H[l];
  }
}

/* ---- the trainer -------------------------------------------------------------- */

void fs_trainer_destroy(fs_trainer **tp) {
  fs_trainer *t = *tp;
  if (!t) return;
  mlp_free(&t->student);
  for (int l = 0; l < FS_TRAIN_MAX_DEPTH; l++) free(t->Z[l]), free(t->H[l]), free(t->dW[l]);
  free(t->G[0]), free(t->G[1]), free(t->X), free(t->T);
  free(t);
  *tp = NULL;
}

static int alloc_work(fs_trainer *t, int maxd, fs_error *err) {
  const fs_mlp *m = &t->student;
  size_t n = (size_t)t->o.nsamples;
  int bad = !(t->G[0] = malloc(sizeof(double) * n * (size_t)maxd)) ||
            !(t->G[1] = malloc(sizeof(double) * n * (size_t)maxd));
  for (int l = 0; l < m->depth && !bad; l++) {
    bad = !(t->Z[l] = malloc(sizeof(double) * n * (size_t)maxd)) ||
          !(t->H[l] = malloc(sizeof(double) * n * (size_t)maxd)) ||
          !(t->dW[l] = calloc((size_t)m->dims[l + 1] * (size_t)m->dims[l], sizeof(double)));
  }
  return bad ? fs_fail(err, "out of memory for the work arrays") : 0;
}

/* Teacher and inputs from data_seed; targets T = teacher(X). */
static int make_task(fs_trainer *t, fs_error *err) {
  const fs_train_opts *o = &t->o;
  size_t n = (size_t)o->nsamples;
  rng r;
  rng_seed(&r, o->data_seed, 1);
  fs_mlp teacher;
  FS_TRY(mlp_init(&teacher, o->act, o->depth, o->din, o->teacher_width, o->dout, &r, err));
  int rc = 0;
  t->X = malloc(sizeof(double) * n * (size_t)o->din);
  t->T = malloc(sizeof(double) * n * (size_t)o->dout);
  if (!t->X || !t->T) rc = fs_fail(err, "out of memory for the training set");
  if (!rc) {
    rng_seed(&r, o->data_seed, 2);
    for (size_t i = 0; i < n * (size_t)o->din; i++) t->X[i] = rng_normal(&r);
    /* The student's work arrays are sized for the widest of both networks. */
    forward(&teacher, o->nsamples, t->X, t->Z, t->H);
    memcpy(t->T, t->Z[o->depth - 1], sizeof(double) * n * (size_t)o->dout);
  }
  mlp_free(&teacher);
  return rc;
}

int fs_trainer_create(const fs_train_opts *o, fs_trainer **out, fs_error *err) {
  *out = NULL;
  FS_TRY(check_opts(o, err));
  fs_trainer *t = calloc(1, sizeof *t);
  if (!t) return fs_fail(err, "out of memory");
  t->o = *o;
  int maxd = o->width > o->teacher_width ? o->width : o->teacher_width;
  if (o->din > maxd) maxd = o->din;
  if (o->dout > maxd) maxd = o->dout;
  rng r;
  rng_seed(&r, o->seed, 3);
  int rc = mlp_init(&t->student, o->act, o->depth, o->din, o->width, o->dout, &r, err);
  if (!rc) rc = alloc_work(t, maxd, err);
  if (!rc) rc = make_task(t, err);
  if (rc) {
    fs_trainer_destroy(&t);
    return rc;
  }
  fs_trainer_objective(t, 0);
  *out = t;
  return 0;
}

double fs_trainer_objective(fs_trainer *t, int grad) {
  const fs_mlp *m = &t->student;
  int n = t->o.nsamples, L = m->depth, dout = m->dims[L];
  forward(m, n, t->X, t->Z, t->H);
  double *G = t->G[0], sse = 0, reg = 0;
  for (size_t i = 0; i < (size_t)n * (size_t)dout; i++) {
    double e = t->Z[L - 1][i] - t->T[i];
    sse += e * e;
    G[i] = e / n;
  }
  t->loss = sse / (2.0 * n);
  for (int l = 0; l < L; l++) {
    size_t cnt = (size_t)m->dims[l + 1] * (size_t)m->dims[l];
    for (size_t i = 0; i < cnt; i++) reg += m->W[l][i] * m->W[l][i];
  }
  if (grad) {
    for (int l = L - 1, cur = 0; l >= 0; l--, cur ^= 1) {
      int di = m->dims[l], dO = m->dims[l + 1];
      const double *in = l ? t->H[l - 1] : t->X;
      double *Gc = t->G[cur], *Gp = t->G[cur ^ 1];
      size_t cnt = (size_t)dO * (size_t)di;
      memcpy(t->dW[l], m->W[l], sizeof(double) * cnt);
      gemm_rm('T', 'N', dO, di, n, 1.0, Gc, dO, in, di, t->o.wd, t->dW[l], di);
      if (!l) break;
      gemm_rm('N', 'N', n, di, dO, 1.0, Gc, dO, m->W[l], di, 0.0, Gp, di);
      for (size_t i = 0; i < (size_t)n * (size_t)di; i++)
        Gp[i] *= act_deriv(m->act, t->Z[l - 1][i], t->H[l - 1][i]);
    }
  }
  return t->loss + 0.5 * t->o.wd * reg;
}

double fs_trainer_loss(const fs_trainer *t) { return t->loss; }
const double *fs_trainer_grad(const fs_trainer *t, int l) { return t->dW[l]; }
long fs_trainer_steps_done(const fs_trainer *t) { return t->steps; }
fs_mlp *fs_trainer_student(fs_trainer *t) { return &t->student; }

int fs_trainer_step(fs_trainer *t, fs_error *err) {
  double f = fs_trainer_objective(t, 1);
  if (!isfinite(f))
    return fs_fail(err, "the loss is no longer finite at step %ld (lower --lr)", t->steps);
  fs_mlp *m = &t->student;
  for (int l = 0; l < m->depth; l++) {
    size_t cnt = (size_t)m->dims[l + 1] * (size_t)m->dims[l];
    for (size_t i = 0; i < cnt; i++) m->W[l][i] -= t->o.lr * t->dW[l][i];
  }
  t->steps++;
  return 0;
}

/* ---- checkpoints ----------------------------------------------------------------- */

/* The student's bytes as an in-memory model for fs_st_write: tensor l is
 * W[l] as little-endian F64. */
static int student_bytes(const fs_model *md, const fs_tensor *tn, uint64_t off, size_t n,
                         void *buf, fs_error *err) {
  const fs_mlp *m = md->priv;
  int l = (int)(tn - md->tensors);
  if (l < 0 || l >= m->depth || off + n > tn->nbytes) return fs_fail(err, "bad byte range");
  unsigned char *b = buf;
  for (size_t i = 0; i < n; i++) {
    uint64_t u;
    memcpy(&u, &m->W[l][(off + i) / 8], 8);
    b[i] = (unsigned char)(u >> (8 * ((off + i) % 8)));
  }
  return 0;
}

int fs_trainer_write(fs_trainer *t, const char *path, fs_error *err) {
  const fs_mlp *m = &t->student;
  const fs_train_opts *o = &t->o;
  fs_tensor tens[FS_TRAIN_MAX_DEPTH];
  char names[FS_TRAIN_MAX_DEPTH][32];
  memset(tens, 0, sizeof tens);
  for (int l = 0; l < m->depth; l++) {
    snprintf(names[l], sizeof names[l], "layers.%d.weight", l);
    tens[l].name = names[l];
    tens[l].dtype = FS_DT_F64;
    tens[l].ndim = 2;
    tens[l].shape[0] = m->dims[l + 1], tens[l].shape[1] = m->dims[l];
    tens[l].nbytes = 8u * (uint64_t)m->dims[l + 1] * (uint64_t)m->dims[l];
  }
  enum { NMETA = 14 };
  char vals[NMETA][64];
  const char *keys[NMETA] = {
      "flagscope.train.activation", "flagscope.train.depth", "flagscope.train.width",
      "flagscope.train.din", "flagscope.train.dout", "flagscope.train.teacher_width",
      "flagscope.train.samples", "flagscope.train.lr", "flagscope.train.weight_decay",
      "flagscope.train.seed", "flagscope.train.data_seed", "flagscope.train.step",
      "flagscope.train.t", "flagscope.train.loss"};
  snprintf(vals[0], 64, "%s", fs_activation_name(o->act));
  snprintf(vals[1], 64, "%d", o->depth);
  snprintf(vals[2], 64, "%d", o->width);
  snprintf(vals[3], 64, "%d", o->din);
  snprintf(vals[4], 64, "%d", o->dout);
  snprintf(vals[5], 64, "%d", o->teacher_width);
  snprintf(vals[6], 64, "%d", o->nsamples);
  snprintf(vals[7], 64, "%.17g", o->lr);
  snprintf(vals[8], 64, "%.17g", o->wd);
  snprintf(vals[9], 64, "%" PRIu64, o->seed);
  snprintf(vals[10], 64, "%" PRIu64, o->data_seed);
  snprintf(vals[11], 64, "%ld", t->steps);
  snprintf(vals[12], 64, "%.17g", (double)t->steps * o->lr);
  fs_trainer_objective(t, 0); /* the loss at these weights */
  snprintf(vals[13], 64, "%.17g", t->loss);
  fs_meta meta[NMETA];
  for (int i = 0; i < NMETA; i++) meta[i].key = (char *)keys[i], meta[i].value = vals[i];
  fs_model md;
  memset(&md, 0, sizeof md);
  md.path = "flagscope train";
  md.format = FS_FMT_SAFETENSORS;
  md.nfiles = 1;
  md.ntensors = m->depth;
  md.tensors = tens;
  md.nmeta = NMETA;
  md.meta = meta;
  md.read_bytes = student_bytes;
  md.priv = (void *)m;
  return fs_st_write(&md, path, FS_DT_F64, err);
}
