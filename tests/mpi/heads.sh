#!/bin/sh
# Attention heads of the generated transformer families at 1, 2 and 3 ranks:
# every file recomputed with numpy (fs_check.py heads), and the three alike.
# usage: heads.sh FLAGSCOPE PYTHON TESTDIR OUTDIR
set -e
FS=$1 PY=$2 HERE=$3 OUT=$4
"$PY" "$HERE/make_families.py" "$OUT/heads_fam"
for n in 1 2 3; do
  mpirun -n $n --oversubscribe "$FS" analyze --quiet --k 8 -o "$OUT/heads_fam_np$n.h5" \
    "$OUT"/heads_fam/gpt2/model.safetensors "$OUT"/heads_fam/neox/model.safetensors \
    "$OUT"/heads_fam/bert/model.safetensors "$OUT"/heads_fam/vit/model.safetensors
  "$PY" "$HERE/fs_check.py" heads "$OUT/heads_fam_np$n.h5"
done
"$PY" "$HERE/fs_check.py" same "$OUT/heads_fam_np1.h5" "$OUT/heads_fam_np2.h5" "$OUT/heads_fam_np3.h5"
