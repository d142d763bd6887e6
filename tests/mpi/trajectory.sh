#!/bin/sh
# flagscope train + trajectory: a small version of the experiment of
# docs/experiments/trajectory.md (depth-3 MLPs, lambda = 0.1, two seeds),
# checked by trajectory_check.py against numpy, plus determinism and the
# refusal of bad series.
# usage: trajectory.sh FLAGSCOPE WORKDIR CHECK_SCRIPT SCHEMA_DOC FS_CHECK
set -u
fs=$1 w=$2 check=$3 doc=$4 fscheck=$5
py=/usr/bin/python3
rm -rf "$w" && mkdir -p "$w" || exit 1
fail() { echo "FAIL: $*"; exit 1; }

# lambda t_max = 8 as in the experiment: 1600 steps at lr 0.05, 20 intervals.
"$fs" train --zoo --act linear,relu --wd 0.1 --seed 1,2 --lr 0.05 --steps 1600 --every 80 \
  --quiet -o "$w/zoo" || fail "train --zoo"
[ "$(grep -vc '^#' "$w/zoo/runs.txt")" -eq 4 ] || fail "runs.txt must list 4 runs"
[ "$(wc -l < "$w/zoo/manifest.txt")" -eq 84 ] || fail "manifest.txt must list 4 x 21 checkpoints"

# Determinism: the same options and seed give the same bytes.
"$fs" train --act relu --wd 0.1 --seed 2 --lr 0.05 --steps 1600 --every 800 --quiet -o "$w/again" ||
  fail "train"
cmp -s "$w/again/step-00001600.safetensors" "$w/zoo/relu-depth3-wd0.1-seed2/step-00001600.safetensors" ||
  fail "same seed, different final checkpoint"

list=""
for run in linear-depth3-wd0.1-seed1 linear-depth3-wd0.1-seed2 relu-depth3-wd0.1-seed1 relu-depth3-wd0.1-seed2; do
  "$fs" trajectory "$w/zoo/$run/trajectory.txt" -o "$w/$run.h5" > "$w/$run.txt" 2>&1 ||
    { cat "$w/$run.txt"; fail "trajectory $run"; }
  list="$list $w/$run.h5"
done
# The same series on two ranks gives the same trajectory.
mpirun -n 2 --oversubscribe "$fs" trajectory "$w/zoo/relu-depth3-wd0.1-seed1/trajectory.txt" --quiet \
  -o "$w/np2.h5" > /dev/null 2>&1 || fail "trajectory on 2 ranks"
$py "$check" "$w/zoo" $list "$w/np2.h5" || fail "trajectory_check.py"
$py "$fscheck" schema "$w/np2.h5" "$doc" || fail "schema"

# Refusals, naming the first offending checkpoint; no output file.
z=$w/zoo/linear-depth3-wd0.1-seed1
"$fs" train --depth 2 --steps 10 --every 10 --quiet -o "$w/d2" || fail "train depth 2"
printf '%s 0\n%s 80\n%s 160\n%s 240\n' "$z/step-00000000.safetensors" "$z/step-00000080.safetensors" \
  "$w/d2/step-00000010.safetensors" "$w/d2/step-00000000.safetensors" > "$w/arch.txt"
"$fs" trajectory "$w/arch.txt" -o "$w/arch.h5" 2> "$w/err"; rc=$?
[ $rc -eq 1 ] || fail "mixed architectures: exit $rc, expected 1"
grep -q "checkpoint 2 (.*d2/step-00000010.safetensors, step 160): architecture differs" "$w/err" ||
  { cat "$w/err"; fail "mixed architectures: message must name checkpoint 2"; }
printf '%s 0\n%s 160\n%s 80\n' "$z/step-00000000.safetensors" "$z/step-00000160.safetensors" \
  "$z/step-00000080.safetensors" > "$w/order.txt"
"$fs" trajectory "$w/order.txt" -o "$w/order.h5" 2> "$w/err"; rc=$?
[ $rc -eq 1 ] || fail "steps out of order: exit $rc, expected 1"
grep -q "order.txt:3: checkpoint 2 (.*step-00000080.safetensors): step 80 is out of order" "$w/err" ||
  { cat "$w/err"; fail "out of order: message must name checkpoint 2"; }
printf '%s 0\n%s 0\n' "$z/step-00000000.safetensors" "$z/step-00000080.safetensors" > "$w/dup.txt"
"$fs" trajectory "$w/dup.txt" -o "$w/dup.h5" 2> "$w/err" && fail "repeated step accepted"
"$fs" trajectory "$w/missing.txt" -o "$w/missing.h5" 2> "$w/err" && fail "missing manifest accepted"
grep -q "missing.txt" "$w/err" || fail "missing manifest: message"
for f in arch order dup missing; do
  [ ! -e "$w/$f.h5" ] || fail "$f: a refused series left $f.h5"
done
"$fs" train --act sigmoid -o "$w/x" 2> /dev/null; [ $? -eq 2 ] || fail "train --act sigmoid must be a usage error"
"$fs" train --wd 0.1,0.2 -o "$w/x" 2> /dev/null; [ $? -eq 2 ] || fail "lists without --zoo must be a usage error"
echo "trajectory: all cases behave"
