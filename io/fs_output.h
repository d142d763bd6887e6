/*
 * fs_output.h - the results of a run as HDF5 schema version 1
 * (docs/hdf5-schema.md).  Collective over the run's communicator.
 */
#ifndef FS_OUTPUT_H
#define FS_OUTPUT_H

#include "fs_run.h"

#define FS_SCHEMA_VERSION 1

int fs_output_write(fs_run *R, fs_error *err);

#endif
