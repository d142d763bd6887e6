#!/bin/bash
# Submit a zoo: a job array over the manifest and a merge job after it.
#   jobs/submit-zoo.sh [--tasks N] [--ranks R] [--outdir DIR] [-o ZOO.h5]
#                      [--sbatch "ARGS"] MANIFEST [analyze options...]
# N array tasks (default 4, at most one per model) of R MPI ranks each
# (default 2) analyse their shares into DIR (default MANIFEST.d); the merge
# job (afterok on the whole array) writes ZOO.h5 (default MANIFEST.h5).
# Resubmitting the same command after a cancellation or a failure redoes only
# what is missing.  Prints the array and merge job ids.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tasks=4 ranks=2 outdir= output= extra=
while [ $# -gt 0 ]; do
  case $1 in
    --tasks) tasks=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --outdir) outdir=$2; shift 2 ;;
    -o|--output) output=$2; shift 2 ;;
    --sbatch) extra=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "usage: $0 [options] MANIFEST [analyze options...]" >&2; exit 2; }
manifest=$(readlink -f "$1")
shift
[ -r "$manifest" ] || { echo "submit-zoo: cannot read $manifest" >&2; exit 2; }
outdir=$(readlink -m "${outdir:-$manifest.d}")
output=$(readlink -m "${output:-${manifest%.*}.h5}")
# Model lines: neither blank nor comments (a bad line costs at most an idle share).
nmodels=$(grep -cvE '^[[:space:]]*(#|$)' "$manifest" || true)
[ "$nmodels" -gt 0 ] || { echo "submit-zoo: no models in $manifest" >&2; exit 2; }
[ "$tasks" -le "$nmodels" ] || tasks=$nmodels
export FLAGSCOPE=${FLAGSCOPE:-$(readlink -f "$here/../build/flagscope")}
mkdir -p "$outdir"
# shellcheck disable=SC2086
array=$(sbatch --parsable $extra --array=0-$((tasks - 1)) --ntasks="$ranks" \
  --output="$outdir/zoo-%A_%a.log" "$here/zoo.sbatch" "$manifest" "$outdir" "$tasks" "$@")
array=${array%%;*}
# shellcheck disable=SC2086
merge=$(sbatch --parsable $extra --dependency=afterok:"$array" --kill-on-invalid-dep=yes \
  --output="$outdir/merge-%j.log" "$here/merge.sbatch" "$outdir" "$manifest" "$output")
merge=${merge%%;*}
echo "submit-zoo: $nmodels models, array $array ($tasks tasks x $ranks ranks), merge $merge -> $output"
echo "$array $merge"
