#!/bin/sh
# The hostile corpus (make_hostile.py: huge claims, offsets past the end,
# overlapping tensors, overflowing and negative dims, deep and enormous JSON,
# deflate bombs and lying zip sizes, pickles that exhaust stacks and memos,
# protobuf lengths past the end and deep nesting, shards and manifests that
# escape their folder, cuts at section boundaries, NaN/Inf, degenerate shapes)
# analysed in one run, twice:
#   - one process under an address-space limit of 1 GB (no file may make
#     flagscope allocate what its header merely claims), and
#   - 2 MPI ranks, where every rank opens every file and must agree;
# each must finish (timeout), exit 1, and record every case with its expected
# status and reason (check_hostile.py).
# usage: run_hostile.sh FLAGSCOPE ZOO TESTDATA WORKDIR
set -u
fs=$1 zoo=$2 data=$3 w=$4
here=$(dirname "$0")
rm -rf "$w" && mkdir -p "$w" || exit 1
/usr/bin/python3 "$here/make_hostile.py" "$zoo" "$data" "$w/cases" || exit 1
files=$(cut -f1 "$w/cases/cases.tsv" | sed "s|^|$w/cases/|")
fail() { echo "FAIL: $*"; tail -20 "$w/stderr"; exit 1; }

# AddressSanitizer reserves terabytes of shadow address space, so an ASan
# build runs without the limit; its allocator aborts on an absurd malloc
# instead, which fails the run just as well.
limit=1000000
if ldd "$fs" 2>/dev/null | grep -q libasan; then limit=unlimited; fi
(ulimit -v $limit; exec timeout 300 "$fs" analyze --quiet --k 4 -o "$w/one.h5" $files) \
  > "$w/stdout" 2> "$w/stderr"
rc=$?
[ $rc -eq 1 ] || fail "one process under ulimit -v $limit: exit status $rc, expected 1"
/usr/bin/python3 "$here/check_hostile.py" "$w/cases" "$w/one.h5" "$w/stderr" || fail "one process"

timeout 300 mpirun -n 2 --oversubscribe "$fs" analyze --quiet --k 4 -o "$w/two.h5" $files \
  > "$w/stdout" 2> "$w/stderr"
rc=$?
[ $rc -eq 1 ] || fail "2 ranks: exit status $rc, expected 1"
/usr/bin/python3 "$here/check_hostile.py" "$w/cases" "$w/two.h5" "$w/stderr" || fail "2 ranks"
echo "hostile corpus: every case recorded with its reason, in bounded memory, at 1 and 2 ranks"
