/*
 * fs_queue.c - the work order of one rank in the spectra stage (see
 * fs_queue.h).  The dynamic queue is a shared counter (MPI-3 RMA, one
 * MPI_Fetch_and_op per item under a passive-target lock_all epoch), the
 * classic self-scheduling loop (Tang and Yew, ICPP 1986) over items sorted
 * by decreasing cost, which makes it list scheduling in LPT order on the
 * measured times instead of the estimates.
 */
#include "fs_queue.h"

#include <stdlib.h>
#include <string.h>

int fs_group_comm(MPI_Comm comm, int first, int size, int tag, MPI_Comm *out, fs_error *err) {
  MPI_Group all, sub;
  int range[1][3] = {{first, first + size - 1, 1}};
  *out = MPI_COMM_NULL;
  int rc = MPI_Comm_group(comm, &all);
  if (rc == MPI_SUCCESS) rc = MPI_Group_range_incl(all, 1, range, &sub);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_create_group(comm, sub, tag, out);
  MPI_Group_free(&sub);
  MPI_Group_free(&all);
  if (rc != MPI_SUCCESS)
    return fs_fail(err, "creating the communicator of ranks %d..%d failed (MPI error %d)", first,
                   first + size - 1, rc);
  return 0;
}


/* The plan's seq is a permutation of the matrices: place by it, no sort. */
static void list(fs_queue *q) {
  fs_plan *p = q->plan;
  int64_t *byseq = q->singles; /* scratch of nmat entries, filled in seq order */
  for (int64_t i = 0; i < p->nmat; i++) byseq[p->mat[i].seq] = i;
  int64_t ng = 0, ns = 0;
  for (int64_t s = 0; s < p->nmat; s++) {
    const fs_plan_matrix *w = &p->mat[byseq[s]];
    if (w->twin_of >= 0) continue; /* follows its source (fs_analyze.c) */
    if (w->nranks > 1) {
      if (q->rank >= w->first && q->rank < w->first + w->nranks) q->groups[ng++] = byseq[s];
    } else if (q->dynamic || w->owner == q->rank) {
      byseq[ns++] = byseq[s]; /* ns <= s: compaction in place is safe */
    }
  }
  q->ngroups = ng, q->nsingles = ns;
}

int fs_queue_begin(fs_queue *q, fs_plan *p, MPI_Comm comm, fs_error *err) {
  memset(q, 0, sizeof *q);
  q->plan = p, q->comm = comm, q->group = MPI_COMM_NULL, q->win = MPI_WIN_NULL;
  q->dynamic = p->schedule == FS_SCHED_DYNAMIC;
  MPI_Comm_rank(comm, &q->rank);
  q->groups = malloc(sizeof *q->groups * (size_t)(p->nmat + 1));
  q->singles = malloc(sizeof *q->singles * (size_t)(p->nmat + 1));
  int ok = q->groups && q->singles, all;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
  if (!all) {
    free(q->groups), free(q->singles);
    memset(q, 0, sizeof *q);
    q->win = MPI_WIN_NULL;
    return fs_fail(err, "out of memory ordering %lld matrices", (long long)p->nmat);
  }
  list(q);
  if (q->dynamic) {
    MPI_Win_allocate(q->rank == 0 ? (MPI_Aint)sizeof(int64_t) : 0, sizeof(int64_t), MPI_INFO_NULL,
                     comm, &q->counter, &q->win);
    if (q->rank == 0) { /* the counter starts at 0 before anyone takes from it */
      MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, q->win);
      *q->counter = 0;
      MPI_Win_unlock(0, q->win);
    }
    MPI_Barrier(comm);
    MPI_Win_lock_all(0, q->win);
  }
  return 0;
}

int fs_queue_next(fs_queue *q, int64_t *gi, MPI_Comm *group) {
  if (q->group != MPI_COMM_NULL) MPI_Comm_free(&q->group);
  *group = MPI_COMM_NULL;
  if (q->gpos < q->ngroups) {
    *gi = q->groups[q->gpos++];
    const fs_plan_matrix *w = &q->plan->mat[*gi];
    fs_error e;
    /* MPI's default handler aborts on a failure here; the tag is the item's
     * position, so creations of overlapping groups never mix. */
    if (fs_group_comm(q->comm, w->first, w->nranks, (int)(w->seq % 32767), &q->group, &e))
      MPI_Abort(q->comm, 1);
    *group = q->group;
    return 1;
  }
  if (!q->dynamic) {
    if (q->spos >= q->nsingles) return 0;
    *gi = q->singles[q->spos++];
    return 1;
  }
  int64_t one = 1, got = 0;
  MPI_Fetch_and_op(&one, &got, MPI_INT64_T, 0, 0, MPI_SUM, q->win);
  MPI_Win_flush(0, q->win);
  if (got >= q->nsingles) return 0;
  *gi = q->singles[got];
  q->plan->mat[*gi].owner = q->rank;
  return 1;
}

void fs_queue_end(fs_queue *q) {
  if (q->group != MPI_COMM_NULL) MPI_Comm_free(&q->group);
  if (q->win != MPI_WIN_NULL) {
    MPI_Win_unlock_all(q->win);
    MPI_Win_free(&q->win);
  }
  free(q->groups), free(q->singles);
  memset(q, 0, sizeof *q);
}
