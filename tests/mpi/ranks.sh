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
