#!/bin/sh
# Degenerate but readable input through `flagscope analyze`: zero matrices,
# rank-one matrices with k above their rank, 1 x n and n x 1 shapes (a shared
# space of dimension 1), a zero classifier row set, NaN and Inf entries.
# Expected: every ok row of /matrices and /pairs has finite results (NaN only
# in the columns documented as "not applicable"), the defined values of
# docs/mathematics.md section 9, every failed row a reason, and no NaN/Inf in
# the summary table.
# usage: degenerate.sh FLAGSCOPE WORKDIR
set -u
fs=$1 w=$2
rm -rf "$w" && mkdir -p "$w" || exit 1
fail() { echo "FAIL: $*"; echo "--- stderr:"; cat "$w/stderr"; echo "--- stdout:"; cat "$w/stdout"; exit 1; }
/usr/bin/python3 - "$w" <<'PY' || exit 1
import json, struct, sys
import numpy as np
def write(path, tensors):
    hdr, blobs, pos = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, "<f8").tobytes()
        hdr[name] = {"dtype": "F64", "shape": list(a.shape), "data_offsets": [pos, pos + len(b)]}
        blobs.append(b); pos += len(b)
    h = json.dumps(hdr).encode(); h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
d = sys.argv[1]
rng = np.random.default_rng(5)
g = rng.standard_normal
write(d + "/zero.safetensors", {"fc1.weight": np.zeros((8, 6)), "fc2.weight": g((5, 8)),
                                "fc3.weight": np.zeros((4, 5))})
write(d + "/rank1.safetensors", {"fc1.weight": np.outer(g(8), g(6)), "fc2.weight": np.outer(g(4), g(8))})
write(d + "/thin.safetensors", {"fc1.weight": g((1, 6)), "fc2.weight": g((5, 1)), "fc3.weight": g((1, 5))})
w = g((8, 6)); w[3, 2] = np.nan
write(d + "/nan.safetensors", {"fc1.weight": w, "fc2.weight": g((5, 8))})
w = g((5, 8)); w[0, 7] = -np.inf
write(d + "/inf.safetensors", {"fc1.weight": g((8, 6)), "fc2.weight": w})
# a ResNet-style classifier (torchvision names) whose fc has zero rows
stem = {"conv1.weight": g((4, 3, 3, 3)), "bn1.weight": np.ones(4), "bn1.bias": np.zeros(4),
        "bn1.running_mean": np.zeros(4), "bn1.running_var": np.ones(4)}
blk = {}
for c in ("1", "2"):
    blk.update({"layer1.0.conv%s.weight" % c: g((4, 4, 3, 3)), "layer1.0.bn%s.weight" % c: np.ones(4),
                "layer1.0.bn%s.bias" % c: np.zeros(4), "layer1.0.bn%s.running_mean" % c: np.zeros(4),
                "layer1.0.bn%s.running_var" % c: np.ones(4)})
fc = g((6, 4)); fc[2] = 0; fc[5] = 0
write(d + "/zerorows.safetensors", {**stem, **blk, "fc.weight": fc})
PY
mpirun -n 2 --oversubscribe "$fs" analyze --k 16 --commutator both --flag-table \
  "$w/zero.safetensors" "$w/rank1.safetensors" "$w/thin.safetensors" "$w/nan.safetensors" \
  "$w/inf.safetensors" "$w/zerorows.safetensors" -o "$w/out.h5" > "$w/stdout" 2> "$w/stderr"
rc=$?
[ $rc -eq 1 ] || fail "exit status $rc, expected 1 (the NaN and Inf models are partial)"
grep -qiE "(^| )-?(nan|inf)( |$)" "$w/stdout" && fail "NaN or Inf in the summary table"
/usr/bin/python3 - "$w/out.h5" <<'PY' || fail "output"
import sys
import h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
mo, m, p = f["models"], f["matrices"], f["pairs"]
s = lambda x: x.decode()
status = {s(mo["path"][i]).rsplit("/", 1)[1]: s(mo["status"][i]) for i in range(len(mo["path"]))}
want = {"zero.safetensors": "ok", "rank1.safetensors": "ok", "thin.safetensors": "ok",
        "nan.safetensors": "partial", "inf.safetensors": "partial", "zerorows.safetensors": "ok"}
assert status == want, status
# Columns that must be finite in every ok row (the others are NaN by documented convention).
mcols = ["fro", "spectral_norm", "stable_rank", "energy"]
pcols = ["overlap", "overlap_random", "kappa", "kappa_random", "kappa_rel", "balancedness",
         "kappa_exact", "kappa_random_exact", "kappa_rel_exact", "balancedness_exact"]
for t, cols in (("matrices", mcols), ("pairs", pcols)):
    g = f[t]
    ok = g["status"][()] == b"ok"
    assert ok.any() and (~ok).any(), t
    for c in cols:
        assert np.all(np.isfinite(g[c][ok])), (t, c, g[c][ok])
    assert all(len(e) > 0 for e in g["error"][~ok]), t
    for c in g:
        if g[c].dtype.kind == "f" and g[c].shape == ok.shape:
            assert not np.any(np.isinf(g[c][()])), (t, c)
for c in ("theta", "profile_overlap", "profile_overlap_random"):
    assert np.all(np.isfinite(p[c][()])), c
name = lambda i: "%s:%s" % (s(mo["path"][m["model"][i]]).rsplit("/", 1)[1], s(m["name"][i]))
row = {name(i): i for i in range(len(m["name"]))}
# zero matrix: sigma 0, stable and numerical rank 0
z = row["zero.safetensors:fc1.weight"]
assert m["fro"][z] == 0 and m["stable_rank"][z] == 0 and m["numerical_rank"][z] == 0
# rank one with k = 6 > rank: numerical rank 1 (exact), sigma_2.. at rounding level
r = row["rank1.safetensors:fc1.weight"]
sig = m["sigma"][m["sigma_offset"][r]:][:m["k"][r]]
assert m["k"][r] == 6 and m["numerical_rank"][r] == 1 and np.all(sig[1:] <= 1e-12 * sig[0]), sig
prow = {(int(p["writer"][j]), int(p["reader"][j])): j for j in range(len(p["writer"]))}
def pair(model, a, b):
    return prow[(row[model + ":" + a], row[model + ":" + b])]
# zero writer, nonzero reader: kappa 0, balancedness 1 (both modes); both zero: 0, 0
j = pair("zero.safetensors", "fc1.weight", "fc2.weight")
assert p["kappa"][j] == 0 and p["balancedness"][j] == 1 and p["kappa_rel"][j] == 0
assert p["kappa_exact"][j] == 0 and p["balancedness_exact"][j] == 1
j = pair("zero.safetensors", "fc2.weight", "fc3.weight")
assert p["kappa_exact"][j] == 0 and p["balancedness_exact"][j] == 1
# rank one with k above the rank: low-rank and exact agree (k covers the rank)
j = pair("rank1.safetensors", "fc1.weight", "fc2.weight")
assert abs(p["kappa"][j] - p["kappa_exact"][j]) < 1e-14, (p["kappa"][j], p["kappa_exact"][j])
assert abs(p["balancedness"][j] - p["balancedness_exact"][j]) < 1e-14
# d = 1: everything commutes, kappa_random 0, kappa_rel 0 by convention; one angle 0
j = pair("thin.safetensors", "fc1.weight", "fc2.weight")
assert p["d"][j] == 1 and p["kappa"][j] == 0 and p["kappa_random"][j] == 0 and p["kappa_rel"][j] == 0
assert p["theta"][p["theta_offset"][j]] == 0 and p["dim_eps0"][j] == 1
# classifier with two zero rows: C = 6, the cosines over the 4 nonzero rows
c = [i for i in range(len(m["name"])) if m["classifier_classes"][i] > 0]
assert len(c) == 1 and m["classifier_classes"][c[0]] == 6 and m["classifier_zero_rows"][c[0]] == 2
assert abs(m["classifier_cos_simplex"][c[0]] + 1 / 3) < 1e-15 and np.isfinite(m["classifier_cos_std"][c[0]])
print("degenerate input: defined results in", int((m["status"][()] == b"ok").sum()), "matrices and",
      int((p["status"][()] == b"ok").sum()), "pairs, reasons for the rest")
PY
echo "degenerate input: all cases behave"
