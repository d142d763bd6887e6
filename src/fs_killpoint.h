/*
 * fs_killpoint.h - deterministic crash points for the kill-and-restart tests.
 *
 *   FLAGSCOPE_KILL_AT=STAGE[@N][:SIGNAL]   FLAGSCOPE_KILL_RANK=R (default 0)
 *
 * The N-th time (default 1) rank R reaches the named stage, it raises SIGNAL
 * (KILL by default; TERM and USR1 test the graceful stop; PAUSE sleeps 3 s
 * instead, a window for a test to signal mpirun).  Stages:
 *   read      a matrix's weights are read (before its SVD)
 *   spectrum  a matrix's spectrum is computed
 *   pair      a pair's diagnostics are computed
 *   write     every dataset of the output is written, the file not yet closed
 *   rename    a zoo model's HDF5 file is renamed into place, its record not yet written
 *   model     a zoo model is committed (file and record durable)
 * Without the variable this is a getenv per call: nothing else happens.
 */
#ifndef FS_KILLPOINT_H
#define FS_KILLPOINT_H

void fs_killpoint(const char *stage, int rank);

#endif
