#!/bin/sh
# --layer-map on the command line: a malformed map is a usage error naming the
# file and line; a map that extends the real gnubg nets adds its pair to the
# analysis (checked by fs_check.py numbers against numpy); a map naming a
# tensor the model lacks fails that model with the file and line in /models.
# usage: layer_map.sh FLAGSCOPE ZOO WORKDIR PYTHON FS_CHECK
set -u
fs=$1 zoo=$2 w=$3 py=$4 chk=$5
rm -rf "$w" && mkdir -p "$w" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
expect_rc() { want=$1; shift; "$@" > "$w/out" 2> "$w/err"; rc=$?; [ $rc -eq "$want" ] || fail "'$*' exited $rc, expected $want: $(cat "$w/err")"; }
export OMPI_MCA_plm=isolated
gnubg=$zoo/gnubg-nets.safetensors

printf 'pair chain race.fc1.weight contact.fc2.weight\nfrobnicate\n' > "$w/bad.map"
expect_rc 2 "$fs" inspect --layer-map "$w/bad.map" "$gnubg"
grep -q "bad.map:2: unknown directive 'frobnicate'" "$w/err" || fail "inspect: map error"
expect_rc 2 "$fs" analyze --layer-map "$w/bad.map" "$gnubg" -o "$w/bad.h5"
grep -q "bad.map:2:" "$w/err" || fail "analyze: map error"
expect_rc 2 "$fs" inspect --layer-map "$w/missing.map" "$gnubg"

# the three nets are chains (3 pairs); the map adds race.fc1 -> contact.fc2 (128 -> 128)
printf '# an extra, hand-named pair\npair chain race.fc1.weight contact.fc2.weight block=7\n' > "$w/good.map"
expect_rc 0 "$fs" inspect --layer-map "$w/good.map" "$gnubg"
grep -q "4 pairs: chain 4" "$w/out" || fail "inspect: 4 chain pairs expected"
grep -q "chain  *race.fc1.weight  *-> contact.fc2.weight  (d = 128, block 7)" "$w/out" ||
  fail "inspect: the map's pair"
expect_rc 0 mpirun -n 2 --oversubscribe "$fs" analyze --quiet --k 8 --layer-map "$w/good.map" -o "$w/good.h5" "$gnubg"
expect_rc 0 "$py" "$chk" pairs "$w/good.h5" gnubg-nets.safetensors chain=4 mlp=0 ov=0 classifier=0 unplaced=0
expect_rc 0 "$py" "$chk" numbers "$w/good.h5"

# a zoo manifest's layers= tag: that model alone gets the map (its path is
# relative to the manifest), the same nets listed without it keep 3 pairs
ln -sf "$gnubg" "$w/mapped.safetensors"
printf '%s\nmapped.safetensors seed=1 layers=good.map\n' "$gnubg" > "$w/zoo.txt"
expect_rc 0 mpirun -n 2 --oversubscribe "$fs" analyze --quiet --k 8 --zoo "$w/zoo.txt" -o "$w/zoo.h5"
expect_rc 0 "$py" "$chk" pairs "$w/zoo.h5" mapped.safetensors chain=4 mlp=0 ov=0 classifier=0 unplaced=0
expect_rc 0 "$py" "$chk" pairs "$w/zoo.h5" gnubg-nets.safetensors chain=3 mlp=0 ov=0 classifier=0 unplaced=0
"$py" - "$w/zoo.h5" <<'PY' || fail "the manifest's tags are not in /zoo and /models"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
for table in ("zoo", "models"):
    tags = [t.decode() for t in f[table]["tags"][()]]
    assert tags[0] == "" and tags[1].startswith("seed=1 layers=") and tags[1].endswith("good.map"), tags
PY
printf 'mapped.safetensors layers=bad.map\n' > "$w/badzoo.txt"
expect_rc 1 "$fs" analyze --quiet --zoo "$w/badzoo.txt" -o "$w/badzoo.h5"
expect_rc 0 "$py" "$chk" expect "$w/badzoo.h5" mapped.safetensors failed "bad.map:2: unknown directive"

printf 'pair chain race.fc1.weight nosuch.weight\n' > "$w/absent.map"
expect_rc 1 "$fs" analyze --quiet --layer-map "$w/absent.map" -o "$w/absent.h5" "$gnubg"
expect_rc 0 "$py" "$chk" expect "$w/absent.h5" gnubg-nets.safetensors failed \
  "absent.map:1: reader tensor 'nosuch.weight' is not in the model"
echo "layer_map: all cases behave"
