#!/bin/sh
# Faults on one rank, injected at every stage (FLAGSCOPE_FAULT, src/fs_fault.h),
# at NP ranks.  Expected for each: no rank waits forever (every run is under
# `timeout`), exit status 1 with a line naming the cause, and
#   open, read, spectra, pairs, heads - the output is written; the faulty model is
#       marked failed/partial with the reason; the other models' results equal
#       a fault-free run's;
#   exchange - the output is written; pairs that needed a basis from another
#       rank are failed with the reason, the rest computed;
#   reduce   - the output is written and equals a fault-free run's (only the
#       summary table is lost);
#   write    - no output file and no partial file left behind;
#   kill     - a rank killed mid-run leaves no output; the rerun equals a
#       fault-free run (nothing stale is trusted).
# usage: fault.sh FLAGSCOPE ZOO WORKDIR NP
set -u
fs=$1 zoo=$2 w=$3 np=$4
check="/usr/bin/python3 $(dirname "$0")/fs_check.py"
rm -rf "$w" && mkdir -p "$w" || exit 1
fail() { echo "FAIL ($np ranks): $*"; echo "--- stderr:"; cat "$w/stderr"; exit 1; }
models="$zoo/stories260K.gguf $zoo/stories260K-hf/model.safetensors $zoo/gnubg-nets.safetensors"
victim=stories260K.gguf   # model 0
run() { # FAULT OUT
  FLAGSCOPE_FAULT=$1 timeout 300 mpirun -n "$np" --oversubscribe "$fs" analyze --quiet --k 16 \
    -o "$2" $models > "$w/stdout" 2> "$w/stderr"
}

run "" "$w/ref.h5" || fail "the fault-free run failed"

# A fault confined to model 0 on rank 1: that model is recorded, the others are whole.
for stage in open read spectra pairs heads; do
  run "$stage@1/0" "$w/$stage.h5"
  rc=$?
  [ $rc -eq 1 ] || fail "$stage: exit status $rc, expected 1 (124: a rank hung)"
  grep -q "injected fault" "$w/stderr" || fail "$stage: no message gives the cause"
  [ -f "$w/$stage.h5" ] || fail "$stage: no output"
  case $stage in  # a partial model's reason counts the items; theirs are in the tables
    open) want=failed why="injected fault" ;;
    *) want=partial why="failed (see their error columns)" ;;
  esac
  $check expect "$w/$stage.h5" $victim $want "$why" || fail "$stage: model 0"
  $check match "$w/ref.h5" "$w/$stage.h5" $victim || fail "$stage: the other models differ"
done

# A run-wide resource failing on one rank.
run "exchange@1" "$w/exchange.h5"
rc=$?
[ $rc -eq 1 ] || fail "exchange: exit status $rc, expected 1"
grep -q "exchanging bases failed\|basis exchange" "$w/stderr" || fail "exchange: no message"
$check expect "$w/exchange.h5" $victim partial "pairs failed" || fail "exchange"
h5dump -d /pairs/error "$w/exchange.h5" | grep -q "did not arrive from rank" ||
  fail "exchange: the pairs do not say why they failed"

run "reduce@1" "$w/reduce.h5"
rc=$?
[ $rc -eq 1 ] || fail "reduce: exit status $rc, expected 1"
grep -q "reducing the statistics" "$w/stderr" || fail "reduce: no message"
$check match "$w/ref.h5" "$w/reduce.h5" no-model-excluded || fail "reduce: the output differs"

run "write@1" "$w/write.h5"
rc=$?
[ $rc -eq 1 ] || fail "write: exit status $rc, expected 1"
grep -q "write.h5: writing dataset" "$w/stderr" || fail "write: no message naming the file"
[ ! -e "$w/write.h5" ] && [ ! -e "$w/write.h5.partial" ] || fail "write: a file was left"

# Killed in the middle (after the spectra, in the pairs stage): no output is
# left that could pass for a result, and the rerun is whole.
run "pairs@1!kill" "$w/kill.h5"
[ $? -ne 0 ] || fail "kill: the run did not notice the killed rank"
[ ! -e "$w/kill.h5" ] || fail "kill: an output file appeared"
run "" "$w/kill.h5" || fail "kill: the rerun failed"
$check same "$w/ref.h5" "$w/kill.h5" || fail "kill: the rerun differs"

# A typo in the fault specification is an error, not a silent test of nothing.
run "spectrum@1" "$w/typo.h5"
[ $? -eq 1 ] && grep -q "FLAGSCOPE_FAULT" "$w/stderr" || fail "typo: not refused"
echo "faults at $np ranks: every stage agreed, recorded and survived"
