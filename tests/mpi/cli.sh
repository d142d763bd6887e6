#!/bin/sh
# The command line: help, version, usage errors (exit 2), inspect.
# usage: cli.sh FLAGSCOPE ZOO WORKDIR
set -u
fs=$1 zoo=$2 w=$3
rm -rf "$w" && mkdir -p "$w" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
expect_rc() { want=$1; shift; "$@" > "$w/out" 2> "$w/err"; rc=$?; [ $rc -eq "$want" ] || fail "'$*' exited $rc, expected $want"; }

expect_rc 0 "$fs" --help;           grep -q "usage: flagscope" "$w/out" || fail "--help text"
expect_rc 0 "$fs" analyze --help;   grep -q -- "--eps" "$w/out" || fail "analyze --help text"
expect_rc 0 "$fs" --version;        grep -q "^flagscope [0-9]" "$w/out" || fail "--version"
expect_rc 2 "$fs"
expect_rc 2 "$fs" frobnicate;       grep -q "unknown command" "$w/err" || fail "unknown command"
expect_rc 2 "$fs" analyze --k 0 x.gguf
expect_rc 2 "$fs" analyze --eps 1,abc x.gguf; grep -q -- "--eps" "$w/err" || fail "--eps message"
expect_rc 2 "$fs" analyze --bogus x.gguf
expect_rc 2 "$fs" analyze --commutator exactly x.gguf; grep -q -- "--commutator" "$w/err" || fail "--commutator message"
expect_rc 2 "$fs" analyze --solver magic x.gguf; grep -q -- "--solver wants" "$w/err" || fail "--solver message"
expect_rc 2 "$fs" analyze --zoo "$w/missing-manifest.txt"
grep -q "missing-manifest.txt" "$w/err" || fail "manifest message"
expect_rc 1 "$fs" inspect "$w/missing.gguf"; grep -q "missing.gguf" "$w/err" || fail "inspect message"

# inspect reads headers only and shows the inferred graph of the real model.
expect_rc 0 "$fs" inspect "$zoo/stories260K.gguf"
grep -q "family llama, 8 heads, 4 kv heads, head size 8" "$w/out" || fail "inspect: heads"
[ "$(grep -c '^    ov ' "$w/out")" -eq 40 ] || fail "inspect: 40 ov pairs expected"
[ "$(grep -c '^    mlp ' "$w/out")" -eq 10 ] || fail "inspect: 10 mlp pairs expected"
[ "$(grep -c '^    residual ' "$w/out")" -eq 25 ] || fail "inspect: 25 residual pairs expected"
grep -q "ov  *blk.0.attn_v.weight\[kv 1\] *-> blk.0.attn_output.weight\[head 3\]" "$w/out" ||
  fail "inspect: query head 3 must read kv head 1"

# A manifest with comments and relative paths.
printf '# two models\n%s/stories260K.gguf  # trailing comment\n\n' "$zoo" > "$w/zoo.txt"
OMPI_MCA_plm=isolated expect_rc 0 "$fs" analyze --zoo "$w/zoo.txt" -o "$w/zoo.h5" --quiet
[ -f "$w/zoo.h5" ] || fail "manifest run wrote no output"
# Valid values of the options that take one are accepted (--eps was once taken for --rank-tol).
OMPI_MCA_plm=isolated expect_rc 0 "$fs" analyze "$zoo/gnubg-nets.safetensors" --eps 1,5 --k 4 \
  --commutator both --flag-table --tau 1e-5 -o "$w/opts.h5" --quiet
[ -f "$w/opts.h5" ] || fail "option run wrote no output"

# --solver rsvd records its solver; --timing logs the stages and the memory.
OMPI_MCA_plm=isolated expect_rc 0 "$fs" analyze "$zoo/stories260K.gguf" -o "$w/rsvd.h5" --quiet \
  --solver rsvd --timing
grep -q "timing rank 0: plan .* svd .* heads .* peak memory [0-9]* MB" "$w/err" || fail "--timing line"
/usr/bin/python3 -c "import h5py, sys; s = set(h5py.File(sys.argv[1])['matrices/solver'][:]); \
sys.exit(0 if s <= {b'rsvd', b'rsvd-gram'} and s else 1)" "$w/rsvd.h5" || fail "--solver rsvd not used"
echo "cli: all cases behave"
