/*
 * fs_h5out.c - parallel HDF5 column writer (see fs_h5out.h).
 *
 * Selections are element lists (H5Sselect_elements): a rank's rows of a table
 * are scattered through it, and HDF5 turns the list into one MPI-IO request.
 */
#include "fs_h5out.h"

#include "fs_fault.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

struct fs_h5 {
  MPI_Comm comm;
  int rank;
  hid_t file;
  char path[4096], partial[4200];
};

/* HDF5 prints its own error stack by default; we report one line instead. */
static void quiet_hdf5(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

int fs_h5_create(MPI_Comm comm, const char *path, fs_h5 **out, fs_error *err) {
  quiet_hdf5();
  fs_h5 *h = calloc(1, sizeof *h);
  if (!h) return fs_fail(err, "%s: out of memory", path);
  h->comm = comm;
  MPI_Comm_rank(comm, &h->rank);
  snprintf(h->path, sizeof h->path, "%s", path);
  snprintf(h->partial, sizeof h->partial, "%s.partial", path);
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
  h->file = H5Fcreate(h->partial, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  if (h->file < 0) {
    free(h);
    return fs_fail(err, "%s: cannot create the HDF5 file (directory missing or not writable?)",
                   path);
  }
  *out = h;
  return 0;
}

/* fsync a file or a folder by name; 0 or -1. */
int fs_h5_fsync_path(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

/* The folder of path, for the fsync that makes a rename durable. */
static void parent_dir(const char *path, char *dir, size_t n) {
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(dir, n, ".");
  else if (slash == path) snprintf(dir, n, "/");
  else snprintf(dir, n, "%.*s", (int)(slash - path), path);
}

int fs_h5_close(fs_h5 *h, int commit, fs_error *err) {
  if (!h) return 0;
  int rc = H5Fclose(h->file) < 0 ? fs_fail(err, "%s: closing the HDF5 file failed", h->partial) : 0;
  MPI_Barrier(h->comm); /* every rank's data is on disk before the rename */
  if (h->rank == 0) {
    if (commit && !rc) {
      /* Data before name: a crash after the rename must find complete data
       * (ext4/xfs order neither for us).  Then the folder, for the name. */
      char dir[4096];
      parent_dir(h->path, dir, sizeof dir);
      if (fs_h5_fsync_path(h->partial) != 0)
        rc = fs_fail(err, "%s: cannot flush %s to disk", h->path, h->partial);
      else if (rename(h->partial, h->path) != 0)
        rc = fs_fail(err, "%s: cannot rename %s into place", h->path, h->partial);
      else
        fs_h5_fsync_path(dir); /* best effort: some file systems refuse a folder fsync */
    } else {
      unlink(h->partial);
    }
  }
  int any = rc != 0, all;
  MPI_Allreduce(&any, &all, 1, MPI_INT, MPI_MAX, h->comm);
  if (all && !rc) rc = fs_fail(err, "%s: writing the output failed on rank 0", h->path);
  free(h);
  return rc;
}

int fs_h5_group(fs_h5 *h, const char *path, fs_error *err) {
  hid_t g = H5Gcreate2(h->file, path, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) return fs_fail(err, "%s: cannot create group %s", h->path, path);
  H5Gclose(g);
  return 0;
}

static int write_attr(fs_h5 *h, const char *obj, const char *name, hid_t type,
                      hid_t space, const void *buf, fs_error *err) {
  hid_t o = H5Oopen(h->file, obj, H5P_DEFAULT);
  hid_t a = o < 0 ? -1 : H5Acreate2(o, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t w = a < 0 ? -1 : H5Awrite(a, type, buf);
  if (a >= 0) H5Aclose(a);
  if (o >= 0) H5Oclose(o);
  H5Sclose(space);
  return w < 0 ? fs_fail(err, "%s: cannot write attribute %s:%s", h->path, obj, name) : 0;
}

int fs_h5_attr_string(fs_h5 *h, const char *obj, const char *name,
                      const char *value, fs_error *err) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, strlen(value) + 1);
  H5Tset_strpad(t, H5T_STR_NULLTERM);
  int rc = write_attr(h, obj, name, t, H5Screate(H5S_SCALAR), value, err);
  H5Tclose(t);
  return rc;
}

int fs_h5_attr_int(fs_h5 *h, const char *obj, const char *name, int64_t value,
                   fs_error *err) {
  return write_attr(h, obj, name, H5T_NATIVE_INT64, H5Screate(H5S_SCALAR), &value, err);
}

int fs_h5_attr_doubles(fs_h5 *h, const char *obj, const char *name,
                       const double *v, int n, fs_error *err) {
  hsize_t dim = (hsize_t)n;
  return write_attr(h, obj, name, H5T_NATIVE_DOUBLE, H5Screate_simple(1, &dim, NULL), v, err);
}

static hid_t mem_type(fs_h5_type type, size_t strwidth) {
  if (type == FS_H5_DOUBLE) return H5Tcopy(H5T_NATIVE_DOUBLE);
  if (type == FS_H5_INT64) return H5Tcopy(H5T_NATIVE_INT64);
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, strwidth);
  H5Tset_strpad(t, H5T_STR_NULLPAD);
  return t;
}

int fs_h5_write(fs_h5 *h, const char *path, fs_h5_type type, size_t strwidth,
                int64_t nglobal, int64_t nlocal, const int64_t *idx,
                const void *data, fs_error *err) {
  hsize_t dim = (hsize_t)nglobal, nloc = (hsize_t)nlocal;
  hid_t t = mem_type(type, strwidth);
  hid_t fspace = H5Screate_simple(1, &dim, NULL);
  hid_t d = H5Dcreate2(h->file, path, t, fspace, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hid_t mspace = H5Screate_simple(1, &nloc, NULL);
  herr_t sel = 0;
  if (nlocal > 0 && (!idx || !data)) {
    sel = -1; /* the caller ran out of memory: fail together below */
  } else if (nlocal > 0) {
    hsize_t *coord = malloc(sizeof *coord * (size_t)nlocal);
    if (!coord) sel = -1;
    for (int64_t i = 0; coord && i < nlocal; i++) coord[i] = (hsize_t)idx[i];
    if (coord) sel = H5Sselect_elements(fspace, H5S_SELECT_SET, (size_t)nlocal, coord);
    free(coord);
  } else {
    H5Sselect_none(fspace);
    H5Sselect_none(mspace);
  }
  /* H5Dwrite is collective: enter it only if every rank is ready to.  An
   * empty dataset (the same nglobal on every rank) has nothing to write, and
   * parallel HDF5 refuses a transfer of zero elements everywhere. */
  int ready = d >= 0 && sel >= 0 && (nlocal == 0 || data) && !fs_fault_hit(FS_FAULT_WRITE, -1);
  int all_ready;
  MPI_Allreduce(&ready, &all_ready, 1, MPI_INT, MPI_MIN, h->comm);
  hid_t xfer = H5Pcreate(H5P_DATASET_XFER);
  H5Pset_dxpl_mpio(xfer, H5FD_MPIO_COLLECTIVE);
  herr_t w = !all_ready ? -1 : nglobal == 0 ? 0 : H5Dwrite(d, t, mspace, fspace, xfer, data);
  H5Pclose(xfer);
  H5Sclose(mspace);
  H5Sclose(fspace);
  if (d >= 0) H5Dclose(d);
  H5Tclose(t);
  /* A failure on one rank must be known to all: the next call is collective. */
  int bad = w < 0, any;
  MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, h->comm);
  if (any) return fs_fail(err, "%s: writing dataset %s failed%s", h->path, path,
                          bad ? "" : " on another rank");
  return 0;
}
