/* test_analyze.c - the whole pipeline on models built with known answers,
 * and a real model's spectrum next to LAPACK's.
 *
 * Runs as a plain unit test (1 rank) and under mpirun at 2 and 3 ranks
 * (tests/mpi/CMakeLists.txt): the bases of a pair then live on different
 * ranks and must be exchanged.  Rank 0 builds the models and reads the HDF5
 * output back with the HDF5 C API; every rank takes part in fs_analyze.
 */
#include <check.h>
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_analyze.h"
#include "fs_model.h"
#include "fs_petsc.h"
#include "fs_spectrum.h"
#include "fs_testutil.h"

#define DEG (3.14159265358979323846 / 180.0)
#define D 20 /* dimension of the shared space */

static int rank, size;
static char dir[512];

/* W (m x n, row-major) = sum_i s_i L_i R_i^T, with L (m x r) and R (n x r)
 * column-major. */
static void assemble(int m, int n, int r, const double *L, const double *s,
                     const double *R, double *W) {
  for (int a = 0; a < m; a++)
    for (int b = 0; b < n; b++) {
      double v = 0;
      for (int i = 0; i < r; i++) v += s[i] * L[a + i * m] * R[b + i * n];
      W[a * n + b] = v;
    }
}

/* Writer W1 [D x 12] with left singular vectors q_0..q_11 of a random basis Q
 * of R^D; reader W2 [m2 x D] whose right singular vectors are given by vcol. */
static void write_pair(const char *file, const double *Q, const double *V, int m2,
                       const double *t) {
  static const double s[12] = {10, 9, 8, 7, 1, .9, .8, .7, .6, .5, .4, .3};
  double P[12 * 12], R[20 * 20], W1[D * 12], W2[20 * D];
  fs_test_orthonormal(12, 12, P);
  fs_test_orthonormal(m2, m2, R);
  assemble(D, 12, 12, Q, s, P, W1);
  assemble(m2, D, m2, R, t, V, W2);
  const char *names[2] = {"net.0.weight", "net.1.weight"};
  const int rows[2] = {D, m2}, cols[2] = {12, D};
  const double *data[2] = {W1, W2};
  if (fs_test_write_safetensors(file, 2, names, rows, cols, data)) { /* not inside a test yet */
    fprintf(stderr, "cannot write %s\n", file);
    exit(EXIT_FAILURE);
  }
}

/* Three models with known answers (rank 0 writes them):
 *  planted:    top-4 subspaces at principal angles 0, 0, 3, 7 degrees
 *  commuting:  the two Grams share the eigenbasis Q (kappa = 0), no overlap
 *  balanced:   W2^T W2 = W1 W1^T (balancedness 0, kappa 0, angles 0) */
static void write_models(void) {
  fs_test_seed(42);
  double Q[D * D], V[D * D];
  fs_test_orthonormal(D, D, Q);
  const double a = 3 * DEG, b = 7 * DEG;
  memcpy(V, Q, sizeof V);
  for (int r = 0; r < D; r++) { /* rotate q2 toward q4 by a, q3 toward q5 by b */
    V[r + 2 * D] = cos(a) * Q[r + 2 * D] + sin(a) * Q[r + 4 * D];
    V[r + 4 * D] = -sin(a) * Q[r + 2 * D] + cos(a) * Q[r + 4 * D];
    V[r + 3 * D] = cos(b) * Q[r + 3 * D] + sin(b) * Q[r + 5 * D];
    V[r + 5 * D] = -sin(b) * Q[r + 3 * D] + cos(b) * Q[r + 5 * D];
  }
  const double t[12] = {6, 5, 4, 3, .5, .45, .4, .35, .3, .25, .2, .15};
  char path[600];
  snprintf(path, sizeof path, "%s/planted.safetensors", dir);
  write_pair(path, Q, V, 10, t);
  for (int c = 0; c < D; c++) /* reader's basis: q_19, q_18, ... */
    for (int r = 0; r < D; r++) V[r + c * D] = Q[r + (D - 1 - c) * D];
  snprintf(path, sizeof path, "%s/commuting.safetensors", dir);
  write_pair(path, Q, V, 10, t);
  static const double s[12] = {10, 9, 8, 7, 1, .9, .8, .7, .6, .5, .4, .3};
  snprintf(path, sizeof path, "%s/balanced.safetensors", dir);
  write_pair(path, Q, Q, 12, s);
}

static void h5_read(hid_t f, const char *name, hid_t type, void *buf) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  ck_assert_msg(d >= 0, "no dataset %s", name);
  ck_assert(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
  H5Dclose(d);
}

/* Every run also computes the exact commutators (--commutator both) and the
 * flag tables, so that they are checked through the pipeline at 1, 2, 3 ranks. */
static void run(int k, const char *out) {
  char paths[3][600];
  char *argv[3];
  const char *names[3] = {"planted", "commuting", "balanced"};
  for (int i = 0; i < 3; i++) {
    snprintf(paths[i], sizeof paths[i], "%s/%s.safetensors", dir, names[i]);
    argv[i] = paths[i];
  }
  fs_analyze_opts o;
  fs_analyze_defaults(&o);
  o.kmax = k;
  o.commutator = FS_COMMUTATOR_BOTH;
  o.flag_table = 1;
  o.output = out;
  int nfailed = -1;
  fs_error e;
  ck_assert_msg(!fs_analyze(MPI_COMM_WORLD, argv, 3, &o, &nfailed, &e), "%s", e.msg);
  ck_assert_int_eq(nfailed, 0);
}

/* The planted pair's profile and flag table (angles 0, 0, 3, 7 degrees between
 * q_b and V_b: the angles of (U_i, V_j) are the first min(i, j) of them); the
 * exact Grams: commuting and balanced stay so; with k4, low-rank kappa is that
 * of the truncated Grams and differs from the exact one, at full rank they agree. */
static void check_profiles_and_exact(const char *out, int k4) {
  hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
  ck_assert(f >= 0);
  int64_t poff[3], pcnt[3], foff[3], fsz[3], pk[64], pd[3][64], fd[3][3 * 144];
  double kappa[3], kx[3], bal[3], bx[3];
  char path[64];
  h5_read(f, "/pairs/profile_offset", H5T_NATIVE_INT64, poff);
  h5_read(f, "/pairs/profile_count", H5T_NATIVE_INT64, pcnt);
  h5_read(f, "/pairs/profile_k", H5T_NATIVE_INT64, pk);
  h5_read(f, "/pairs/flag_offset", H5T_NATIVE_INT64, foff);
  h5_read(f, "/pairs/flag_size", H5T_NATIVE_INT64, fsz);
  for (int e = 0; e < 3; e++) {
    snprintf(path, sizeof path, "/pairs/profile_dim_eps%d", e);
    h5_read(f, path, H5T_NATIVE_INT64, pd[e]);
    snprintf(path, sizeof path, "/pairs/flag_dim_eps%d", e);
    h5_read(f, path, H5T_NATIVE_INT64, fd[e]);
  }
  h5_read(f, "/pairs/kappa", H5T_NATIVE_DOUBLE, kappa);
  h5_read(f, "/pairs/kappa_exact", H5T_NATIVE_DOUBLE, kx);
  h5_read(f, "/pairs/balancedness", H5T_NATIVE_DOUBLE, bal);
  h5_read(f, "/pairs/balancedness_exact", H5T_NATIVE_DOUBLE, bx);
  H5Fclose(f);
  const double t[4] = {0, 0, 3 * DEG, 7 * DEG}, eps[3] = {1 * DEG, 5 * DEG, 10 * DEG};
  if (k4) { /* q = 4: s = 1, 2, 4; flag table 4 x 4 */
    ck_assert_int_eq(pcnt[0], 3);
    ck_assert(pk[poff[0]] == 1 && pk[poff[0] + 1] == 2 && pk[poff[0] + 2] == 4);
    ck_assert_int_eq(fsz[0], 4);
    for (int e = 0; e < 3; e++) {
      for (int g = 0; g < 3; g++) {
        int s = (int)pk[poff[0] + g], want = 0;
        for (int b = 0; b < s; b++) want += t[b] <= eps[e];
        ck_assert_int_eq(pd[e][poff[0] + g], want);
      }
      for (int i = 1; i <= 4; i++)
        for (int j = 1; j <= 4; j++) {
          int want = 0;
          for (int b = 0; b < (i < j ? i : j); b++) want += t[b] <= eps[e];
          ck_assert_int_eq(fd[e][foff[0] + (i - 1) * 4 + (j - 1)], want);
        }
    }
    /* rank 4 of 12: not the exact Grams (the tail sigma <= 1 against 7..10 moves kappa by 4e-4) */
    ck_assert_double_gt(fabs(kappa[0] - kx[0]), 1e-5);
  } else { /* k = 12 covers the writer's rank 12 and the reader's 10 */
    for (int p = 0; p < 3; p++) {
      ck_assert_double_lt(fabs(kappa[p] - kx[p]), 1e-12);
      ck_assert_double_lt(fabs(bal[p] - bx[p]), 1e-12);
    }
  }
  ck_assert_double_lt(kx[1], 1e-13); /* commuting: also the full Grams */
  ck_assert_double_lt(bx[2], 1e-13); /* balanced: W2^T W2 = W1 W1^T exactly */
}

START_TEST(known_answers_k4) {
  char out[600];
  snprintf(out, sizeof out, "%s/k4_np%d.h5", dir, size);
  run(4, out);
  if (rank != 0) return;
  hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
  ck_assert(f >= 0);
  int64_t dim[3][3], q[3], toff[3];
  double kappa[3], bal[3], overlap[3], theta[12];
  for (int e = 0; e < 3; e++) {
    char name[32];
    snprintf(name, sizeof name, "/pairs/dim_eps%d", e);
    int64_t col[3];
    h5_read(f, name, H5T_NATIVE_INT64, col);
    for (int p = 0; p < 3; p++) dim[p][e] = col[p];
  }
  h5_read(f, "/pairs/q", H5T_NATIVE_INT64, q);
  h5_read(f, "/pairs/theta_offset", H5T_NATIVE_INT64, toff);
  h5_read(f, "/pairs/theta", H5T_NATIVE_DOUBLE, theta);
  h5_read(f, "/pairs/kappa", H5T_NATIVE_DOUBLE, kappa);
  h5_read(f, "/pairs/balancedness", H5T_NATIVE_DOUBLE, bal);
  h5_read(f, "/pairs/overlap", H5T_NATIVE_DOUBLE, overlap);
  H5Fclose(f);
  /* planted: angles 0, 0, 3, 7 degrees; eps 1, 5, 10 degrees see 2, 3, 4 of them */
  ck_assert_int_eq(q[0], 4);
  const double want[4] = {0, 0, 3 * DEG, 7 * DEG};
  for (int i = 0; i < 4; i++) ck_assert_double_eq_tol(theta[toff[0] + i], want[i], 1e-12);
  ck_assert_int_eq(dim[0][0], 2);
  ck_assert_int_eq(dim[0][1], 3);
  ck_assert_int_eq(dim[0][2], 4);
  ck_assert_double_eq_tol(overlap[0], 2 + pow(cos(3 * DEG), 2) + pow(cos(7 * DEG), 2), 1e-12);
  /* commuting: orthogonal top subspaces, Grams diagonal in one basis */
  for (int i = 0; i < 4; i++) ck_assert_double_eq_tol(theta[toff[1] + i], 90 * DEG, 1e-12);
  ck_assert_int_eq(dim[1][2], 0);
  ck_assert_double_lt(kappa[1], 1e-13);
  ck_assert_double_lt(overlap[1], 1e-24);
  /* balanced: the same Gram on both sides */
  for (int i = 0; i < 4; i++) ck_assert_double_lt(theta[toff[2] + i], 1e-7);
  ck_assert_int_eq(dim[2][0], 4);
  ck_assert_double_lt(kappa[2], 1e-13);
  ck_assert_double_lt(bal[2], 1e-13);
  /* and the planted pair is neither commuting nor balanced */
  ck_assert_double_gt(kappa[0], 1e-3);
  ck_assert_double_gt(bal[0], 1e-2);
  check_profiles_and_exact(out, 1);
}
END_TEST

/* k = 12: the writer's full rank; the balanced pair stays exactly balanced. */
START_TEST(known_answers_full_rank) {
  char out[600];
  snprintf(out, sizeof out, "%s/k12_np%d.h5", dir, size);
  run(12, out);
  if (rank != 0) return;
  hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
  int64_t k[3], j[3];
  double kappa[3], bal[3];
  h5_read(f, "/pairs/k", H5T_NATIVE_INT64, k);
  h5_read(f, "/pairs/j", H5T_NATIVE_INT64, j);
  h5_read(f, "/pairs/kappa", H5T_NATIVE_DOUBLE, kappa);
  h5_read(f, "/pairs/balancedness", H5T_NATIVE_DOUBLE, bal);
  H5Fclose(f);
  ck_assert_int_eq(k[0], 12);
  ck_assert_int_eq(j[0], 10); /* capped by the reader's 10 rows */
  ck_assert_int_eq(j[2], 12);
  ck_assert_double_lt(kappa[1], 1e-13);
  ck_assert_double_lt(bal[2], 1e-13);
  ck_assert_double_lt(kappa[2], 1e-13);
  check_profiles_and_exact(out, 0);
}
END_TEST

/* The singular values of stories260K blk.0.ffn_up next to LAPACK's dgesdd of
 * the same matrix, for the default solver (thick-restart Lanczos here), SLEPc's
 * dense LAPACK wrapper and the cross-product solver. */
START_TEST(real_ffn_up_against_lapack) {
  if (rank != 0) return;
  fs_model m;
  fs_error e;
  ck_assert_msg(!fs_model_open(fs_test_example("stories260K.gguf"), &m, &e), "%s", e.msg);
  const fs_tensor *t = fs_model_find(&m, "blk.0.ffn_up.weight");
  ck_assert_ptr_nonnull(t);
  int rows = (int)fs_tensor_rows(t), cols = (int)fs_tensor_cols(t);
  double *W = malloc(sizeof *W * (size_t)rows * cols), ref[64];
  ck_assert(!fs_tensor_read_rows(&m, t, 0, rows, W, &e));
  ck_assert_int_eq(fs_test_full_svd(W, rows, cols, ref, NULL, NULL), 0);
  const char *solvers[] = {NULL, "lapack", "cross"};
  for (int s = 0; s < 3; s++) {
    if (solvers[s]) PetscOptionsSetValue(NULL, "-svd_type", solvers[s]);
    fs_spectrum sp;
    ck_assert_msg(!fs_spectrum_compute(W, rows, cols, 64, &sp, &e), "%s", e.msg);
    double worst = 0;
    for (int i = 0; i < 64; i++) worst = fmax(worst, fabs(sp.sigma[i] - ref[i]) / ref[i]);
    printf("blk.0.ffn_up [%d x %d], solver %-9s: sigma_1..4 = %.15f %.15f %.15f %.15f;"
           " sigma_64 = %.15f; max rel. deviation from dgesdd %.1e\n", rows, cols, sp.solver,
           sp.sigma[0], sp.sigma[1], sp.sigma[2], sp.sigma[3], sp.sigma[63], worst);
    ck_assert_double_lt(worst, 1e-10);
    fs_spectrum_free(&sp);
    if (solvers[s]) PetscOptionsClearValue(NULL, "-svd_type");
  }
  printf("blk.0.ffn_up LAPACK dgesdd        : sigma_1..4 = %.15f %.15f %.15f %.15f;"
         " sigma_64 = %.15f\n", ref[0], ref[1], ref[2], ref[3], ref[63]);
  free(W);
  fs_model_close(&m);
}
END_TEST

int main(int argc, char **argv) {
  fs_error e;
  if (fs_petsc_init(&argc, &argv, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    return EXIT_FAILURE;
  }
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  if (rank == 0) {
    const char *p = fs_test_tmpfile("models");
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(p, '/') - p), p);
    write_models();
  }
  MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, PETSC_COMM_WORLD);
  Suite *s = suite_create("analyze");
  TCase *tc = tcase_create("analyze");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, known_answers_k4);
  tcase_add_test(tc, known_answers_full_rank);
  tcase_add_test(tc, real_ffn_up_against_lapack);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK); /* MPI and PETSc live in this process */
  srunner_run_all(sr, rank == 0 ? CK_NORMAL : CK_SILENT);
  int failed = srunner_ntests_failed(sr), any;
  srunner_free(sr);
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, PETSC_COMM_WORLD);
  fs_petsc_finalize();
  return any ? EXIT_FAILURE : EXIT_SUCCESS;
}
