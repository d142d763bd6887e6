#!/bin/sh
# bench_imbalance.sh MPIRUN FLAGSCOPE DIR - the measured load imbalance of real
# runs: the example zoo on 2 and 3 ranks with each schedule (rank 0's log line).
mpirun=$1 fs=$2 dir=$3
for n in 2 3; do
  for s in lpt dynamic; do
    printf 'example zoo, %d ranks, %-7s: ' "$n" "$s"
    "$mpirun" -n "$n" --oversubscribe "$fs" analyze --quiet --schedule "$s" \
      -o "$dir/bench_imbalance.h5" 2>&1 | sed -n 's/^flagscope: load imbalance //p'
  done
done
rm -f "$dir/bench_imbalance.h5"
