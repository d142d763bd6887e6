/*
 * fs_commutator.h - exact commutator magnitude and balancedness of two
 * layers from their full matrices (SPEC 3.5, 3.6, "exact mode").
 *
 * The writer's output map O (d x n1) and the reader's input unfolding
 * I (d x n2) on the shared space of dimension d give the Grams A = I I^T and
 * B = O O^T.  Two evaluations, chosen by a flop estimate (docs/mathematics.md,
 * section 6.2):
 *   dense  - A and B formed with dsyrk, A B with dgemm, all d x d;
 *   factor - the Householder QR [I O] = Q R, so that A = Q R_I R_I^T Q^T,
 *            B = Q R_O R_O^T Q^T and every norm is that of a p x p core,
 *            p = min(d, n1 + n2); no d x d matrix is formed.
 * Both have absolute error O(u) in kappa (no cancelling traces).
 */
#ifndef FS_COMMUTATOR_H
#define FS_COMMUTATOR_H

#include "fs_error.h"

typedef enum { FS_COMMUTATOR_LOWRANK, FS_COMMUTATOR_EXACT, FS_COMMUTATOR_BOTH } fs_commutator_mode;

const char *fs_commutator_mode_name(fs_commutator_mode m);
/* "lowrank", "exact" or "both"; returns FS_ERR for anything else. */
int fs_commutator_mode_parse(const char *s, fs_commutator_mode *m);

/* A factor X of the Gram X X^T on R^d, column-major: d x n (trans = 0,
 * leading dimension d) or its transpose n x d (trans = 1, leading dimension n). */
typedef struct fs_factor {
  int d, n, trans;
  const double *a;
} fs_factor;

typedef enum { FS_GRAM_AUTO, FS_GRAM_DENSE, FS_GRAM_FACTOR, FS_GRAM_SCALAPACK } fs_gram_path;

typedef struct fs_commutator {
  double kappa;        /* ||AB - BA||_F / (sqrt 2 ||A||_F ||B||_F) */
  double balancedness; /* ||A - B||_F / (||A||_F + ||B||_F) */
  double kappa_random; /* RMS kappa under a Haar rotation of B (fs_kappa_random_moments) */
  double kappa_rel;    /* kappa / kappa_random (0 when kappa_random is 0) */
  fs_gram_path path;   /* the evaluation used (DENSE or FACTOR) */
} fs_commutator;

/* Flop estimates of the two evaluations (docs/mathematics.md, 6.2). */
double fs_commutator_flops(int d, int n1, int n2, fs_gram_path path);

/* kappa and balancedness of A = I I^T, B = O O^T; path AUTO takes the cheaper. */
int fs_commutator_exact(const fs_factor *I, const fs_factor *O, fs_gram_path path,
                        fs_commutator *res, fs_error *err);

#endif
