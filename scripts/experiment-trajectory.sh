#!/bin/sh
# The training-trajectory experiment of docs/experiments/trajectory.md, with
# one command: trains linear, ReLU and tanh MLPs at five weight decays
# (0.003 ... 0.3, a factor of 100) and three seeds, runs `flagscope
# trajectory` on every run, and writes the table and the plots into
# docs/experiments/ (python3-matplotlib from Debian for the plots).
# usage: scripts/experiment-trajectory.sh [BUILD_DIR] [WORK_DIR]
# About two minutes on one core.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
work=${2:-$root/build/experiment-trajectory}
fs=$build/flagscope
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
lr=0.05
rm -rf "$work" && mkdir -p "$work"
for wd in 0.003 0.01 0.03 0.1 0.3; do
  # The same exponent for every lambda: 2 lambda t_max = 16, so the linear
  # networks' balancedness falls by about e^-16 over the run; 40 intervals.
  steps=$(python3 -c "print(int(round(16 / (2 * $wd * $lr))))")
  every=$((steps / 40))
  "$fs" train --zoo --act linear,relu,tanh --depth 3 --wd "$wd" --seed 1,2,3 --lr $lr \
    --steps "$steps" --every "$every" --quiet -o "$work/wd$wd"
  grep -v '^#' "$work/wd$wd/runs.txt" | while read -r act depth lam seed man; do
    "$fs" trajectory "$work/wd$wd/$man" --quiet -o "$work/wd$wd/$(dirname "$man").h5" 2> /dev/null
    echo "$act $depth $lam $seed $work/wd$wd/$(dirname "$man").h5" >> "$work/runs.txt"
  done
done
/usr/bin/python3 "$root/scripts/experiment-trajectory.py" "$work/runs.txt" "$lr" "$root/docs/experiments"
