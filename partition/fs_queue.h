/*
 * fs_queue.h - the order in which a rank takes its work items in the spectra
 * stage: first the matrices of its groups (fs_plan: nranks > 1), each on a
 * sub-communicator of the group's ranks, in the plan's global order; then its
 * single-rank matrices, either the plan's (schedule lpt) or, with the dynamic
 * schedule, whatever comes next from a queue shared by all ranks: a counter
 * in an MPI-3 RMA window on rank 0, advanced with MPI_Fetch_and_op, over the
 * single-rank matrices sorted by decreasing cost (the plan's order).
 * Twins (fs_plan.h) are never handed out: the rank of their source takes
 * them right after it.
 *
 * Deadlock freedom (docs/architecture.md): every rank visits its group items
 * in one global order (the plan's seq), and a group's communicator and
 * collectives involve only its members.  The unfinished group item of lowest
 * seq has all its members either at it or at earlier items, all of which are
 * finished (by minimality) or local (single items, which finish on their own);
 * so its members all arrive and it completes; by induction every item does.
 * The queue is passive-target RMA: taking an item never waits for a peer.
 */
#ifndef FS_QUEUE_H
#define FS_QUEUE_H

#include <mpi.h>
#include <stdint.h>

#include "fs_error.h"
#include "fs_plan.h"

typedef struct fs_queue {
  fs_plan *plan;
  MPI_Comm comm;
  int rank;
  int64_t *groups, ngroups, gpos;    /* my group items, by seq */
  int64_t *singles, nsingles, spos;  /* mine (lpt) or everyone's (dynamic), by seq */
  int dynamic;
  MPI_Win win;
  int64_t *counter; /* rank 0's window memory */
  MPI_Comm group;   /* communicator of the current group item */
} fs_queue;

/* Collective over comm; fails on every rank or on none (memory). */
int fs_queue_begin(fs_queue *q, fs_plan *p, MPI_Comm comm, fs_error *err);

/* The next item of this rank: returns 1 with *gi and *group (the group's
 * communicator, valid until the next call; MPI_COMM_NULL for a single-rank
 * item), or 0 when there is no more work.  With the dynamic schedule it sets
 * the plan's owner of the items it hands out (to this rank); fs_run agrees
 * the owners afterwards. */
int fs_queue_next(fs_queue *q, int64_t *gi, MPI_Comm *group);

/* Collective over comm (frees the window). */
void fs_queue_end(fs_queue *q);

/* A communicator of the ranks [first, first + size) of comm, created
 * collectively over those ranks only (MPI_Comm_create_group), so groups of
 * disjoint ranks form independently; tag tells creations apart. */
int fs_group_comm(MPI_Comm comm, int first, int size, int tag, MPI_Comm *out, fs_error *err);

#endif
