/*
 * fs_train.h - a small, deterministic MLP trainer (flagscope train), to
 * produce checkpoint series whose dynamics are known (docs/experiments/
 * trajectory.md, docs/mathematics.md section 13).
 *
 * Model: x -> W_L s(W_{L-1} ... s(W_1 x)), no biases, s = identity, ReLU or
 * tanh on the hidden layers, the output layer linear.  W_l is stored
 * row-major [out, in] (the nn.Linear layout) and written as the safetensors
 * tensor "layers.<l-1>.weight", so the MLP chain rule of partition/fs_graph.c
 * pairs consecutive layers.
 *
 * Task: a random teacher of the same activation and depth (width
 * teacher_width) labels n Gaussian inputs x ~ N(0, I); the student minimises
 *     L(W) = 1/(2n) sum_i ||f(x_i) - y_i||^2 + (lambda/2) sum_l ||W_l||_F^2
 * by full-batch gradient descent  W <- W - lr (grad L_data + lambda W),
 * i.e. L2 weight decay; for plain gradient descent this is the same update as
 * decoupled decay W <- (1 - lr lambda) W - lr grad L_data.  Gradient-flow time
 * is t = step * lr.
 *
 * Initialisation: W_l ~ N(0, g^2 / fan_in) with gain g = sqrt(2) for ReLU
 * hidden layers, 1 otherwise (He / LeCun), for teacher and student alike.
 *
 * Randomness: one PRNG, xoshiro256** (Blackman & Vigna 2018) seeded through
 * splitmix64 (Steele, Lea & Flood 2014); normals by Box-Muller.  The student
 * is drawn from `seed`, the teacher and inputs from `data_seed`, so seeds
 * vary the initialisation on one task.  Results are bit-identical for a given
 * (options, libm, BLAS build and thread count); all arithmetic is double.
 */
#ifndef FS_TRAIN_H
#define FS_TRAIN_H

#include <stdint.h>

#include "fs_error.h"

#define FS_TRAIN_MAX_DEPTH 16

typedef enum { FS_ACT_LINEAR, FS_ACT_RELU, FS_ACT_TANH } fs_activation;

typedef struct fs_train_opts {
  fs_activation act;
  int depth;           /* weight matrices, >= 1 */
  int width;           /* hidden width */
  int din, dout;       /* input and output dimensions */
  int teacher_width;   /* hidden width of the teacher */
  int nsamples;        /* training set size (one full batch) */
  double lr;           /* learning rate */
  double wd;           /* weight decay lambda (L2 coefficient) */
  uint64_t seed;       /* student initialisation */
  uint64_t data_seed;  /* teacher and inputs */
} fs_train_opts;

typedef struct fs_mlp {
  int depth;
  int dims[FS_TRAIN_MAX_DEPTH + 1];  /* dims[0] = din, dims[depth] = dout */
  fs_activation act;
  double *W[FS_TRAIN_MAX_DEPTH];     /* W[l]: dims[l+1] x dims[l], row-major */
} fs_mlp;

typedef struct fs_trainer fs_trainer;

void fs_train_defaults(fs_train_opts *o);
const char *fs_activation_name(fs_activation a);
/* "linear", "relu", "tanh"; returns FS_ERR for anything else. */
int fs_activation_parse(const char *s, fs_activation *a);

/* Draws teacher, inputs, targets and the student; checks the options. */
int fs_trainer_create(const fs_train_opts *o, fs_trainer **t, fs_error *err);
void fs_trainer_destroy(fs_trainer **t);

/* The objective at the current weights (data loss plus the decay term); with
 * grad, also its gradient into fs_trainer_grad(). */
double fs_trainer_objective(fs_trainer *t, int grad);
/* The data term 1/(2n) sum ||f(x) - y||^2 of the last fs_trainer_objective. */
double fs_trainer_loss(const fs_trainer *t);
/* Gradient of layer l (same layout as W[l]) from the last call with grad. */
const double *fs_trainer_grad(const fs_trainer *t, int l);

/* One gradient-descent step; fails if the objective is no longer finite. */
int fs_trainer_step(fs_trainer *t, fs_error *err);
long fs_trainer_steps_done(const fs_trainer *t);
fs_mlp *fs_trainer_student(fs_trainer *t);

/* Write the student as F64 safetensors ("layers.<l>.weight", [out, in]) with
 * the options, step, t = step * lr and loss in __metadata__ (keys
 * flagscope.train.*). */
int fs_trainer_write(fs_trainer *t, const char *path, fs_error *err);

#endif
