#!/bin/sh
# Bad input end to end: a truncated file, a file that is no model, a missing
# file, NaN and Inf weights, next to a good model.  Expected: one clear line
# per problem naming the file (and the tensor), exit status 1, the good model
# analysed, every bad one recorded with its reason; and an unwritable output
# leaves no file behind.
# usage: bad_input.sh FLAGSCOPE ZOO WORKDIR
set -u
fs=$1 zoo=$2 w=$3
check="/usr/bin/python3 $(dirname "$0")/fs_check.py"
rm -rf "$w" && mkdir -p "$w" || exit 1
fail() { echo "FAIL: $*"; echo "--- stderr:"; cat "$w/stderr"; exit 1; }

head -c 600000 "$zoo/stories260K.gguf" > "$w/truncated.gguf"
printf 'this is not a model at all' > "$w/garbage.bin"
# Independent writer (numpy + json, per the safetensors specification).
/usr/bin/python3 - "$w" <<'PY'
import json, struct, sys
import numpy as np
def write(path, tensors):
    hdr, blobs, pos = {}, [], 0
    for name, a in tensors.items():
        b = a.astype("<f4").tobytes()
        hdr[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [pos, pos + len(b)]}
        blobs.append(b); pos += len(b)
    h = json.dumps(hdr).encode(); h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
rng = np.random.default_rng(1)
w1, w2 = rng.standard_normal((8, 4)), rng.standard_normal((3, 8))
w1[2, 3] = np.nan
write(sys.argv[1] + "/nan.safetensors", {"fc1.weight": w1, "fc2.weight": w2})
w1[2, 3] = 0; w2[1, 1] = np.inf
write(sys.argv[1] + "/inf.safetensors", {"fc1.weight": w1, "fc2.weight": w2})
write(sys.argv[1] + "/nopairs.safetensors", {"alpha": rng.standard_normal((6, 5))})
PY

mpirun -n 2 --oversubscribe "$fs" analyze "$zoo/stories260K.gguf" "$w/truncated.gguf" \
  "$w/garbage.bin" "$w/missing.gguf" "$w/nan.safetensors" "$w/inf.safetensors" \
  -o "$w/out.h5" > "$w/stdout" 2> "$w/stderr"
rc=$?
[ $rc -eq 1 ] || fail "exit status $rc, expected 1"
for f in truncated.gguf garbage.bin missing.gguf nan.safetensors inf.safetensors; do
  grep -q "$w/$f" "$w/stderr" || fail "no message names $f"
done
grep -q "fc1.weight.*NaN" "$w/stderr" || fail "the NaN message does not name the tensor"
grep -q "fc2.weight.*Inf" "$w/stderr" || fail "the Inf message does not name the tensor"
[ -f "$w/out.h5" ] && [ ! -e "$w/out.h5.partial" ] || fail "output missing or left partial"
$check expect "$w/out.h5" stories260K.gguf ok || fail "good model"
$check expect "$w/out.h5" truncated.gguf failed "$w/truncated.gguf" || fail "truncated"
$check expect "$w/out.h5" garbage.bin failed "$w/garbage.bin" || fail "garbage"
$check expect "$w/out.h5" missing.gguf failed "$w/missing.gguf" || fail "missing"
$check expect "$w/out.h5" nan.safetensors partial "1 of 2 matrices" || fail "nan"
$check expect "$w/out.h5" inf.safetensors partial "1 of 2 matrices" || fail "inf"
grep -q "stories260K.gguf" "$w/stdout" || fail "summary table lacks the good model"

# Empty tables: a model with no pairs, and a run in which every model fails.
mpirun -n 2 --oversubscribe "$fs" analyze "$w/nopairs.safetensors" -o "$w/nopairs.h5" \
  > "$w/stdout" 2> "$w/stderr" || fail "a model without pairs must analyse"
$check expect "$w/nopairs.h5" nopairs.safetensors ok || fail "nopairs"
mpirun -n 2 --oversubscribe "$fs" analyze "$w/missing.gguf" -o "$w/allfailed.h5" \
  > "$w/stdout" 2> "$w/stderr"
[ $? -eq 1 ] || fail "all models failed: exit status should be 1"
$check expect "$w/allfailed.h5" missing.gguf failed "No such file" || fail "allfailed"

# An output that cannot be written: exit 1, one line, no file pretending to be complete.
mpirun -n 2 --oversubscribe "$fs" analyze "$zoo/stories260K.gguf" -o "$w/no/such/dir/out.h5" \
  > "$w/stdout" 2> "$w/stderr"
rc=$?
[ $rc -eq 1 ] || fail "unwritable output: exit status $rc, expected 1"
grep -q "no/such/dir/out.h5" "$w/stderr" || fail "unwritable output: no message naming it"
[ ! -e "$w/no" ] || fail "unwritable output: something was created"
echo "bad input: all cases behave"
