#!/bin/sh
# flagscope report and compare on the example zoo with a failed model, checked
# by h5py/numpy/pandas/PIL (fs_report_check.py); schema-version and
# completeness refusals; head-overlap heat maps from a /head_overlaps group.
# usage: report.sh FLAGSCOPE ZOO WORKDIR OTHER_RUN.h5
set -u
fs=$1 zoo=$2 w=$3 other=$4
check="/usr/bin/python3 $(dirname "$0")/fs_report_check.py"
rm -rf "$w" && mkdir -p "$w" || exit 1
fail() { echo "FAIL: $*"; cat "$w/err" 2>/dev/null; exit 1; }

# The example zoo and a truncated checkpoint: exit 1, the others analysed.
head -c 300 "$zoo/stories260K.gguf" > "$w/truncated.gguf"
mpirun -n 2 --oversubscribe "$fs" analyze --k 16 -o "$w/zoo.h5" "$zoo/stories260K.gguf" \
  "$zoo/stories260K-hf/model.safetensors" "$zoo/gnubg-nets.safetensors" "$w/truncated.gguf" \
  > "$w/analyze.txt" 2> "$w/err"
[ $? -eq 1 ] || fail "analyze with a truncated model: exit status not 1"
$check stats "$w/zoo.h5" "$w/analyze.txt" || fail "stats"
/usr/bin/python3 -c "
import h5py, sys
z = h5py.File(sys.argv[1])['zoo']
i = [p.decode().endswith('truncated.gguf') for p in z['path'][()]].index(True)
assert z['status'][i] == b'failed' and b'truncated.gguf' in z['reason'][i], z['reason'][i]
assert z['parameters'][i] == -1 and z['mlp_pairs'][i] == 0
print('/zoo: the truncated model is failed:', z['reason'][i].decode())" "$w/zoo.h5" || fail "/zoo row of the failed model"

# report: terminal, CSV and figures, each against h5py
mkdir -p "$w/rep"
"$fs" report "$w/zoo.h5" --csv "$w/rep/csv" --plots "$w/rep/plots" > "$w/rep/stdout.txt" 2> "$w/err" ||
  fail "report exited $?"
grep -q "truncated.gguf .*failed" "$w/rep/stdout.txt" || fail "the report does not show the failed model"
$check report "$w/zoo.h5" "$w/rep" || fail "report outputs"

# without /head_overlaps: said, and no heat maps
$check tamper "$w/zoo.h5" "$w/noheads.h5" noheads || fail "tamper noheads"
"$fs" report "$w/noheads.h5" --plots "$w/noheads" > "$w/out" 2> "$w/err" || fail "report without heads exited $?"
grep -q "no /head_overlaps" "$w/out" || fail "the report does not say the heads are absent"
[ -z "$(ls "$w/noheads" | grep heads_)" ] || fail "heat maps without /head_overlaps"

# head-overlap heat maps and head redundancy, from /head_overlaps (the run's,
# or known matrices added by h5py when the run has none)
$check add-heads "$w/zoo.h5" "$w/heads.h5" || fail "add-heads"
mkdir -p "$w/reph"
"$fs" report "$w/heads.h5" --csv "$w/reph/csv" --plots "$w/reph/plots" > "$w/reph/stdout.txt" 2> "$w/err" ||
  fail "report with heads exited $?"
$check heads "$w/heads.h5" "$w/reph" || fail "heads"

# compare: two runs merged, families ranked
"$fs" compare "$other" "$w/zoo.h5" --csv "$w/cmp" > "$w/cmp.txt" 2> "$w/err" || fail "compare exited $?"
grep -q "families ranked" "$w/cmp.txt" || fail "compare: no ranking"
# an undefined family mean (bas-al of a type with no subspace-aligned pair) is '-', never nan
sed -n '/families ranked/,$p' "$w/cmp.txt" | grep -qiE "(^| )nan( |$)" && fail "compare prints nan"
sed -n '/families ranked/,$p' "$w/cmp.txt" | grep -qE " +- +-$" || fail "compare: no '-' for an undefined bas-al"
$check compare "$w/cmp" "$other" "$w/zoo.h5" || fail "compare outputs"

# refusals: another schema version, an incomplete file, a missing file, usage
$check tamper "$w/zoo.h5" "$w/v2.h5" version && $check tamper "$w/zoo.h5" "$w/partial.h5" incomplete ||
  fail "tamper"
"$fs" report "$w/v2.h5" > "$w/out" 2> "$w/err"
[ $? -eq 1 ] && grep -q "schema version 2, but this flagscope reads version 1" "$w/err" ||
  fail "schema version 2 not refused"
"$fs" compare "$w/zoo.h5" "$w/v2.h5" > "$w/out" 2> "$w/err"
[ $? -eq 1 ] && grep -q "v2.h5: schema version 2" "$w/err" || fail "compare: schema version 2 not refused"
"$fs" report "$w/partial.h5" > "$w/out" 2> "$w/err"
[ $? -eq 1 ] && grep -q "not marked complete" "$w/err" || fail "incomplete file not refused"
"$fs" report "$w/missing.h5" > "$w/out" 2> "$w/err"
[ $? -eq 1 ] && grep -q "missing.h5: no such file" "$w/err" || fail "missing file"
"$fs" report "$w/truncated.gguf" > "$w/out" 2> "$w/err"
[ $? -eq 1 ] && grep -q "not an HDF5 file" "$w/err" || fail "not HDF5"
"$fs" report > "$w/out" 2> "$w/err"; [ $? -eq 2 ] || fail "report without a file: not a usage error"
"$fs" report "$w/zoo.h5" --bogus > "$w/out" 2> "$w/err"; [ $? -eq 2 ] || fail "report --bogus"
"$fs" compare > "$w/out" 2> "$w/err"; [ $? -eq 2 ] || fail "compare without files"
echo "report: tables, CSV, figures, compare and refusals all as expected"
