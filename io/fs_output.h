/*
 * fs_output.h - the results of a run as HDF5 schema version 1
 * (docs/hdf5-schema.md).  Collective over the run's communicator.
 */
#ifndef FS_OUTPUT_H
#define FS_OUTPUT_H

#include "fs_h5out.h"
#include "fs_reduce.h"
#include "fs_run.h"

#define FS_SCHEMA_VERSION 1

/* The whole file; z (the model-wide statistics) is read on rank 0 only.  The
 * root attribute "complete" = 1 is written last. */
int fs_output_write(fs_run *R, const fs_zoo_stats *z, fs_error *err);

/* /zoo, /stats and their root attributes (io/fs_output_zoo.c). */
int fs_output_write_zoo(const fs_run *R, const fs_zoo_stats *z, fs_h5 *h, fs_error *err);

#endif
