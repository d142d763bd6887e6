#!/bin/sh
# ranks.sh MPIRUN FLAGSCOPE PYTHON TESTDIR OUTDIR - the generated families give
# the same results on 1, 3 (lpt) and 4 ranks (dynamic), and, up to rounding,
# when a small --mem-per-rank puts matrices of every kind (fused and
# interleaved slices, folded gains, BatchNorm, convolution input unfoldings)
# on groups of 2, 3 and 4 ranks; the grouped run is also checked against numpy.
set -e
mpirun=$1 fs=$2 py=$3 dir=$4 out=$5
"$py" "$dir/make_families.py" "$out" > /dev/null
models=""
for f in gpt2 neox bert vit resnet cnn; do models="$models $out/$f/model.safetensors"; done
run() { n=$1; shift; "$mpirun" -n "$n" --oversubscribe "$fs" analyze --quiet --k 8 "$@" $models; }
run 1 -o "$out/np1.h5"
run 3 --schedule lpt -o "$out/np3.h5"
run 4 --schedule dynamic -o "$out/np4.h5"
"$py" "$dir/fs_check.py" same "$out/np1.h5" "$out/np3.h5" "$out/np4.h5"
run 4 --schedule dynamic --mem-per-rank 16K -o "$out/np4_groups.h5"
run 3 --schedule lpt --mem-per-rank 8K -o "$out/np3_groups.h5"
"$py" "$dir/fs_check.py" groups "$out/np4_groups.h5" 20
"$py" "$dir/fs_check.py" groups "$out/np3_groups.h5" 20
"$py" - "$out/np3_groups.h5" <<'PY'
import sys, h5py
m = h5py.File(sys.argv[1], "r")["matrices"]
g = m["nranks"][()] > 1
kinds = {"unfolding": m["unfold_in"][g].sum(), "interleaved": (m["row_blocks"][g] > 1).sum(),
         "transposed": m["transposed"][g].sum(), "folded": (m["fold"][g] != b"").sum(),
         "batchnorm": (m["bn_var"][g] != b"").sum()}
assert all(kinds.values()), kinds
print("grouped matrices of every kind:", kinds)
PY
"$py" "$dir/fs_check.py" close "$out/np1.h5" "$out/np4_groups.h5" "$out/np3_groups.h5"
"$py" "$dir/fs_check.py" numbers "$out/np4_groups.h5"

# A NaN in the rows one group member reads (row 50 of 64: the second rank's
# block): the whole group fails that matrix together, no rank waits, the
# leader records the member's message, the other model completes, exit 1.
"$py" - "$out/nan.safetensors" <<'PY'
import json, struct, sys
import numpy as np
rng = np.random.default_rng(1)
a, b = rng.standard_normal((64, 48)), rng.standard_normal((32, 64))
a[50, 3] = np.nan
hdr, blobs, off = {}, [], 0
for name, t in (("net.0.weight", a), ("net.2.weight", b)):
    raw = t.astype("<f4").tobytes()
    hdr[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
    off += len(raw)
    blobs.append(raw)
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
PY
status=0
"$mpirun" -n 2 --oversubscribe "$fs" analyze --quiet --k 8 --mem-per-rank 1K -o "$out/nan.h5" \
  "$out/nan.safetensors" "$out/cnn/model.safetensors" 2> "$out/nan.log" || status=$?
test "$status" = 1 || { cat "$out/nan.log"; echo "exit status $status, expected 1"; exit 1; }
test "$(grep -c 'row 50, column 3' "$out/nan.log")" = 1 || { cat "$out/nan.log"; exit 1; }
"$py" - "$out/nan.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
m, mo = f["matrices"], f["models"]
assert m["nranks"][0] == 2 and m["status"][0] == b"failed", (m["nranks"][0], m["status"][0])
assert b"row 50, column 3" in m["error"][0], m["error"][0]
assert list(mo["status"][()]) == [b"partial", b"ok"], mo["status"][()]
print("NaN in a group member's rows: recorded once by the leader:", m["error"][0].decode()[-60:])
PY

# An injected read fault on one member (rank 1) of every group of model 0
# (FLAGSCOPE_FAULT, src/fs_fault.h): agreed inside each group before its
# collectives, so nobody hangs; model 0 partial, the other model whole.
status=0
FLAGSCOPE_FAULT=read@1/0 timeout 120 "$mpirun" -n 2 --oversubscribe "$fs" analyze --quiet --k 8 \
  --mem-per-rank 1K -o "$out/fault.h5" "$out/nan.safetensors" "$out/cnn/model.safetensors" \
  2> "$out/fault.log" || status=$?
test "$status" = 1 || { cat "$out/fault.log"; echo "fault: exit status $status, expected 1"; exit 1; }
"$py" - "$out/fault.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
m, mo = f["matrices"], f["models"]
mine = m["model"][()] == 0
assert all(b"injected fault" in e for e in m["error"][mine]), m["error"][mine]
assert (m["nranks"][mine] == 2).all() and list(mo["status"][()]) == [b"partial", b"ok"]
print("fault on one group member: agreed, recorded, the other model whole")
PY
