/*
 * fs_output_extra.h - the parts of HDF5 schema version 1 written beside the
 * column tables (docs/hdf5-schema.md): the intersection-dimension profile and
 * the flag table of every pair (ragged, with offsets), and the SLEPc solver
 * settings as root attributes.  Collective over the run's communicator.
 */
#ifndef FS_OUTPUT_EXTRA_H
#define FS_OUTPUT_EXTRA_H

#include "fs_h5out.h"
#include "fs_run.h"

int fs_output_pair_extras(fs_run *R, fs_h5 *h, fs_error *err);
int fs_output_solver_settings(fs_run *R, fs_h5 *h, fs_error *err);

#endif
