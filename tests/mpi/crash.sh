#!/bin/sh
# Crash consistency of zoo runs (analyze --outdir, merge) on 6 models at 2
# ranks: a run killed with
# SIGKILL at a named stage (src/fs_killpoint.h) and restarted ends with a
# merged file equal to a direct analysis of the zoo; a graceful stop
# (SIGTERM, SIGUSR1 forwarded by mpirun) exits 3 and resumes; damaged,
# truncated or stale model files are detected and redone.
#   crash.sh FLAGSCOPE EXAMPLES_DIR OUTDIR
set -u
FS=$1 ZOO=$2 OUT=$3
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
MPI="mpirun -n 2 --oversubscribe"
rm -rf "$OUT" && mkdir -p "$OUT" || exit 1
fail() { echo "FAIL: $*"; exit 1; }

$PY "$HERE/make_families.py" "$OUT/families" >/dev/null || fail "make_families"
cat > "$OUT/zoo.txt" <<EOT
# four generated families and two real models, with tags
families/gpt2/model.safetensors seed=1 step=100
families/neox/model.safetensors seed=2
$ZOO/stories260K.gguf family=llama
families/cnn/model.safetensors wd=0.01
$ZOO/gnubg-nets.safetensors
families/bert/model.safetensors
EOT
ARGS="--quiet --k 8 --zoo $OUT/zoo.txt"
$MPI "$FS" analyze $ARGS -o "$OUT/direct.h5" 2>"$OUT/direct.log" || fail "direct analysis: $(cat "$OUT/direct.log")"

# run NAME [ENV...]: a zoo run of one task into $OUT/NAME; its status in $rc
run() {
  d=$1; shift
  env "$@" $MPI "$FS" analyze $ARGS --outdir "$OUT/$d" >>"$OUT/$d.log" 2>&1
  rc=$?
}
# finish NAME: restart until done, merge, compare with the direct analysis
finish() {
  run "$1"
  [ $rc = 0 ] || fail "$1: restart exit $rc: $(tail -5 "$OUT/$1.log")"
  "$FS" merge "$OUT/$1" --zoo "$OUT/zoo.txt" -o "$OUT/$1.h5" >"$OUT/$1.merge" 2>&1 ||
    fail "$1: merge: $(cat "$OUT/$1.merge")"
  $PY "$HERE/fs_check.py" zoo "$OUT/direct.h5" "$OUT/$1.h5" >>"$OUT/$1.log" 2>&1 ||
    fail "$1: merged file differs: $(tail -3 "$OUT/$1.log")"
}
ndone() { ls "$OUT/$1"/*.done 2>/dev/null | wc -l; }

# The kill matrix: stage@occurrence on rank 0 unless said; SIGKILL.
for point in read@3 spectrum@40 pair@25 write@2 rename@3 model@4 spectrum@7/1; do
  stage=${point%/*} rank=0
  [ "$stage" != "$point" ] && rank=${point#*/}
  name=kill_$(echo "$point" | tr '@/' '__')
  run "$name" FLAGSCOPE_KILL_AT="$stage" FLAGSCOPE_KILL_RANK="$rank"
  [ $rc != 0 ] || fail "$name: the killed run exited 0"
  grep -q "test hook: signal 9 at" "$OUT/$name.log" || fail "$name: the hook did not fire"
  before=$(ndone "$name")
  [ "$before" -lt 6 ] || fail "$name: every model done before the kill"
  finish "$name"
  echo "kill at $stage on rank $rank: $before of 6 models committed before, restart + merge identical"
done
# A kill during the write leaves a .partial that the restart replaces.
[ -e "$OUT/kill_write_2/model-000001.h5" ] || fail "write: model 1 missing after the restart"
grep -q "no completion record" "$OUT/kill_rename_3.log" || fail "rename: the uncommitted file was not redone"

# Graceful stop from inside (SIGTERM on rank 0 after model 2): exit 3, resume.
run term FLAGSCOPE_KILL_AT=model@2:TERM
[ $rc = 3 ] || fail "term: exit $rc, expected 3: $(tail -3 "$OUT/term.log")"
[ "$(ndone term)" = 2 ] || fail "term: $(ndone term) models done, expected 2"
finish term
grep -q "4 analysed (0 again after damage, 0 failed), 2 already complete" "$OUT/term.log" || fail "term: resume did not skip"
echo "SIGTERM after model 2: exit 3 with 2 committed; resume analysed 4, skipped 2, identical"

# SIGUSR1 to mpirun (as SLURM's --signal does): mpirun forwards it to the ranks.
env FLAGSCOPE_KILL_AT=model@1:PAUSE $MPI "$FS" analyze $ARGS --outdir "$OUT/usr1" >"$OUT/usr1.log" 2>&1 &
pid=$!
i=0
while [ ! -e "$OUT/usr1/model-000000.done" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.5
kill -USR1 $pid
wait $pid
rc=$?
[ $rc = 3 ] || fail "usr1: mpirun exit $rc, expected 3: $(tail -3 "$OUT/usr1.log")"
n=$(ndone usr1)
finish usr1
echo "SIGUSR1 to mpirun during model 1: exit 3 with $n committed, resume identical"

# Damage a complete output: truncate, overwrite bytes, remove a record, stale options.
d=$OUT/kill_model_4
truncate -s 3000 "$d/model-000001.h5"
printf 'garbage garbage garbage' | dd of="$d/model-000002.h5" bs=1 seek=5000 conv=notrunc 2>/dev/null
rm "$d/model-000003.done"
sed -i 's/^options=kmax=8 /options=kmax=9 /' "$d/model-000004.done"
head -c 10000 /dev/urandom > "$d/model-000005.h5"
"$FS" merge "$d" --zoo "$OUT/zoo.txt" -o "$OUT/damaged.h5" >"$OUT/damaged.merge" 2>&1
[ $? = 1 ] || fail "merge of a damaged folder did not exit 1"
for why in "model-000001.h5 has 3000 bytes" "model-000002.h5: checksum mismatch" \
           "model-000003.h5 has no completion record" "model-000004.h5 was analysed with other options" \
           "model-000005.h5 has 10000 bytes"; do
  grep -q "$why" "$OUT/damaged.merge" || fail "merge summary lacks '$why': $(cat "$OUT/damaged.merge")"
done
: >"$OUT/kill_model_4.log"
finish kill_model_4
[ "$(grep -c "analysing it again" "$OUT/kill_model_4.log")" = 5 ] || fail "damage: not 5 models redone"
grep -q "5 analysed (5 again after damage, 0 failed), 1 already complete" "$OUT/kill_model_4.log" ||
  fail "damage: $(grep 'task 0' "$OUT/kill_model_4.log")"
echo "truncated, overwritten, unrecorded, stale and garbage files: reported by merge, 5 redone, identical"
echo "crash consistency: all passed"
