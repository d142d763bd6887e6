#!/bin/bash
# A real single-node SLURM (Debian's slurm-wlm and munge), started by this
# test with its own configuration, ports and munge socket in a temporary
# folder, and stopped at the end by pid, even on failure.
#   (a) a zoo of 9 real models (+1 missing file, +1 bad line) submitted with
#       jobs/submit-zoo.sh as an array of 3 tasks x 2 ranks; the merged file
#       equals a direct `flagscope analyze` of the zoo, and the merge log lists
#       the missing model and the bad line;
#   (b) the same zoo with one array task cancelled (scancel) mid-run and the
#       zoo resubmitted: identical file, no model missing or twice;
#   (c) a task stopped by SIGTERM after its third model exits 3, requeues
#       itself (scontrol requeue), resumes, and the merge job then runs.
# Needs root (SlurmUser=root).  slurm_zoo.sh FLAGSCOPE EXAMPLES_DIR WORKDIR
set -u
FS=$(readlink -f "$1") ZOO=$(readlink -f "$2") WORK=$(readlink -m "$3")
HERE=$(cd "$(dirname "$0")" && pwd)
JOBS=$HERE/../../jobs
PY=/usr/bin/python3
T0=$(date +%s)
say() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
fail() { say "FAIL: $*"; for f in "$WORK"/run*/*.log "$S"/slurmctld.log; do [ -e "$f" ] && { echo "== $f"; tail -15 "$f"; }; done; exit 1; }
[ "$(id -u)" = 0 ] || { echo "slurm_zoo: needs root (SlurmUser=root)"; exit 77; }
for p in munged slurmctld slurmd sbatch; do
  command -v $p >/dev/null || [ -x /usr/sbin/$p ] || { echo "slurm_zoo: $p missing (scripts/setup.sh installs slurm-wlm, munge)"; exit 77; }
done
export PATH=$PATH:/usr/sbin
rm -rf "$WORK" && mkdir -p "$WORK" || exit 1
S=$(mktemp -d /tmp/fs-slurm.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  rm -rf "$S"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- munge and SLURM, private to this test --------------------------------------
mkdir -p "$S/state" "$S/spool"
dd if=/dev/urandom of="$S/munge.key" bs=1024 count=1 2>/dev/null && chmod 400 "$S/munge.key"
munged --foreground --force --key-file="$S/munge.key" --socket="$S/munge.sock" \
  --pid-file="$S/munged.pid" --log-file="$S/munged.log" --seed-file="$S/munge.seed" \
  >"$S/munged.out" 2>&1 &
pids+=($!)
read -r port _ < <($PY -c 'import socket
for _ in range(50):
    a, b = socket.socket(), socket.socket()
    try:
        a.bind(("", 0)); p = a.getsockname()[1]; b.bind(("", p + 1)); print(p); break
    except OSError: pass
    finally: a.close(); b.close()')
host=$(hostname)
cat > "$S/slurm.conf" <<EOC
ClusterName=fstest
SlurmctldHost=$host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$S/munge.sock,cred_expire=5
# cred_expire also delays a requeued job (default 120 s): short for (c)
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
# the main scheduler pass starts a requeued job once its begin time is past
SchedulerParameters=sched_interval=2
MpiDefault=none
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
ReturnToService=2
JobRequeue=1
KillWait=5
MinJobAge=600
InactiveLimit=0
NodeName=$host CPUs=2 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOC
export SLURM_CONF=$S/slurm.conf
for i in $(seq 50); do [ -S "$S/munge.sock" ] && break; sleep 0.1; done
slurmctld -D -i -f "$SLURM_CONF" >"$S/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$S/slurmd.out" 2>&1 &
pids+=($!)
for i in $(seq 150); do
  state=$(sinfo -h -o %T 2>/dev/null | head -1)
  [ "$state" = idle ] && break
  sleep 0.2
done
[ "$state" = idle ] || fail "the node did not come up ($state): $(tail -5 "$S/slurmctld.log" "$S/slurmd.log" 2>&1)"
say "single-node SLURM up on port $port (node $host idle)"

# ---- the zoo ---------------------------------------------------------------------
$PY "$HERE/../mpi/make_families.py" "$WORK/families" >/dev/null || fail make_families
cat > "$WORK/zoo.txt" <<EOT
# 9 real models (3 trained, 6 generated families), a missing file, a bad line
$ZOO/stories260K.gguf seed=1 step=100
$ZOO/stories260K-hf/model.safetensors seed=1 step=100
families/gpt2/model.safetensors seed=2
families/neox/model.safetensors
$ZOO/gnubg-nets.safetensors family=mlp
families/bert/model.safetensors wd=0.1
families/missing/model.safetensors
families/vit/model.safetensors wd=0.01
families/cnn/model.safetensors bad-tag seed=3
families/resnet/model.safetensors
families/cnn/model.safetensors step=7
EOT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
mpirun -n 2 --oversubscribe "$FS" analyze --quiet --k 8 --zoo "$WORK/zoo.txt" -o "$WORK/direct.h5" \
  2>"$WORK/direct.log"
[ -e "$WORK/direct.h5" ] || fail "direct analysis: $(cat "$WORK/direct.log")"
say "direct analysis done"

job_state() { scontrol -o show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | sort -u | tr '\n' ' '; }
# wait_gone ID SECONDS: until no job of ID is pending or running
wait_gone() {
  for i in $(seq $(($2 * 5))); do
    [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0
    sleep 0.2
  done
  fail "job $1 still queued after $2 s: $(squeue -j "$1")"
}
submit() { # submit RUN [env...]: sets array and merge
  read -r array merge < <(env "${@:2}" FLAGSCOPE="$FS" "$JOBS/submit-zoo.sh" --tasks 3 --ranks 2 \
    --outdir "$WORK/$1" -o "$WORK/$1.h5" --sbatch "--time=10" "$WORK/zoo.txt" --k 8 | tail -1)
  [ -n "$merge" ] || fail "submit-zoo.sh failed"
}

# (a) array of 3 tasks x 2 ranks, merge afterok
t=$(date +%s)
submit runA
say "(a) submitted array $array and merge $merge"
wait_gone "$merge" 150
[ "$(job_state "$merge")" = "FAILED " ] || fail "(a) merge state $(job_state "$merge"), expected FAILED (exit 1: a missing model)"
log=$(ls "$WORK"/runA/merge-*.log)
grep -q "10 of 10 models merged" "$log" || fail "(a) merge summary: $(cat "$log")"
grep -q "zoo.txt:10: 'bad-tag' is not a key=value tag" "$log" || fail "(a) bad line not in the summary"
grep -q "failed model 6 (.*families/missing/model.safetensors).*cannot open" "$log" || fail "(a) missing file not in the summary"
$PY "$HERE/../mpi/fs_check.py" zoo "$WORK/direct.h5" "$WORK/runA.h5" || fail "(a) merged file differs"
say "(a) array + merge in $(( $(date +%s) - t )) s: merged file equals the direct analysis"

# (b) task 1 cancelled mid-run (held 3 s after its first model), then resubmitted
t=$(date +%s)
submit runB FLAGSCOPE_KILL_AT=model@1:PAUSE
say "(b) submitted array $array and merge $merge"
first=$(( 10 * 1 / 3 ))  # task 1's first model: share [10/3, 20/3)
for i in $(seq 600); do [ -e "$WORK/runB/model-00000$first.done" ] && break; sleep 0.2; done
[ -e "$WORK/runB/model-00000$first.done" ] || fail "(b) task 1 never committed a model"
scancel "${array}_1" || fail "(b) scancel"
say "(b) cancelled task ${array}_1 after its first model"
wait_gone "$array" 120
wait_gone "$merge" 30
state=$(job_state "${array}_1")
case $state in *CANCELLED*) ;; *) fail "(b) task 1 state '$state'" ;; esac
[ ! -e "$WORK/runB.h5" ] || fail "(b) the merge ran after a cancelled task"
ndone=$(ls "$WORK"/runB/*.done | wc -l)
[ "$ndone" -lt 10 ] || fail "(b) every model was done before the cancel"
submit runB
say "(b) resubmitted ($ndone of 10 models were committed): array $array, merge $merge"
wait_gone "$merge" 150
$PY "$HERE/../mpi/fs_check.py" zoo "$WORK/direct.h5" "$WORK/runB.h5" || fail "(b) merged file differs"
skipped=$(cat "$WORK"/runB/zoo-"$array"_*.log | sed -n 's/.*, \([0-9]*\) already complete.*/\1/p' | awk "{s += \$1} END {print s + 0}")
[ "$skipped" = "$ndone" ] || fail "(b) the resubmission skipped $skipped models, $ndone were done"
say "(b) cancel + resubmit in $(( $(date +%s) - t )) s: $skipped models skipped, merged file equals the direct analysis"

# (c) graceful stop and requeue: task 2 (4 models) gets SIGTERM after its 3rd
t=$(date +%s)
submit runC FLAGSCOPE_KILL_AT=model@3:TERM
say "(c) submitted array $array and merge $merge"
wait_gone "$merge" 150
$PY "$HERE/../mpi/fs_check.py" zoo "$WORK/direct.h5" "$WORK/runC.h5" || fail "(c) merged file differs"
log=$WORK/runC/zoo-${array}_2.log
grep -q "task 2 stopped early; requeueing" "$log" || fail "(c) task 2 did not requeue: $(cat "$log")"
grep -q "restart 1" "$log" || fail "(c) task 2 did not restart"
grep -q "1 analysed (0 again after damage, 0 failed), 3 already complete" "$log" || fail "(c) resume: $(cat "$log")"
say "(c) SIGTERM, exit 3, requeue, resume, merge in $(( $(date +%s) - t )) s: merged file equals the direct analysis"
say "slurm zoo: all passed"
