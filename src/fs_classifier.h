/*
 * fs_classifier.h - neural-collapse statistics of a classifier's weights
 * (SPEC 3.8): equinorm (coefficient of variation of the class norms) and
 * equiangularity (mean and spread of the pairwise cosines against the simplex
 * value -1/(C-1)), from the weights alone.  The cosines go through the d x d
 * Gram of the normalised rows when C > d, so that C = 50k classes cost
 * O(C d^2) time and O(d^2) memory (docs/mathematics.md, section 12).
 */
#ifndef FS_CLASSIFIER_H
#define FS_CLASSIFIER_H

#include "fs_error.h"
#include "fs_plan.h"

typedef struct fs_classifier_stats {
  int classes;        /* C, the rows of the map; 0: not a classifier */
  int zero_rows;      /* rows w_c = 0, left out of the cosines */
  double norm_cv;     /* std / mean of ||w_c|| over all C rows (population std) */
  double cos_mean;    /* mean of cos(w_c, w_c') over the pairs of nonzero rows */
  double cos_std;     /* their standard deviation (population) */
  double cos_simplex; /* -1 / (C' - 1), C' the nonzero rows: the simplex ETF value */
} fs_classifier_stats;

/* The empty statistics of a matrix that is no classifier: classes 0, NaN. */
void fs_classifier_none(fs_classifier_stats *st);

typedef enum { FS_COS_AUTO, FS_COS_DIRECT, FS_COS_GRAM } fs_cos_path;

/* W is the stored rows x cols row-major matrix; the map applies W (classes =
 * rows) or, with transposed, W^T (classes = cols).  AUTO forms the C' x C'
 * cosines directly when C' <= d, else the d x d Gram. */
int fs_classifier_compute(const double *W, int rows, int cols, int transposed, fs_cos_path path,
                          fs_classifier_stats *st, fs_error *err);

/* 1 if global matrix gi is the reader of a classifier pair of its model. */
int fs_classifier_is_reader(const fs_plan *p, int64_t gi);

#endif
