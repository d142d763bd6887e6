#!/bin/sh
# flagscope convert end to end: the converted files read back by numpy (an
# independent reader) equal the original tensors, exactly or rounded to
# nearest even for F16/BF16.  usage: convert.sh FLAGSCOPE ZOO WORKDIR
set -eu
fs=$1 zoo=$2 w=$3
check="/usr/bin/python3 $(dirname "$0")/fs_check.py convert"
rm -rf "$w" && mkdir -p "$w"
hf=$zoo/stories260K-hf/model.safetensors
"$fs" convert "$zoo/stories260K.gguf" "$w/gguf.safetensors"
$check "$w/gguf.safetensors" "$hf" keep gguf
for t in keep F64 F16 BF16; do
  "$fs" convert "$hf" "$w/hf_$t.safetensors" --dtype $t
  $check "$w/hf_$t.safetensors" "$hf" $t same
done
"$fs" convert "$zoo/gnubg-nets.safetensors" "$w/gnubg.safetensors"
$check "$w/gnubg.safetensors" "$zoo/gnubg-nets.safetensors" keep same
# Errors: a missing input, a usage error, an unwritable output (no file left).
if "$fs" convert "$w/missing.gguf" "$w/x.safetensors" 2> "$w/err"; then exit 1; fi
grep -q "missing.gguf" "$w/err"
set +e
"$fs" convert "$hf" 2> /dev/null; [ $? -eq 2 ] || exit 1
"$fs" convert "$hf" "$w/no/dir/x.safetensors" 2> "$w/err"; [ $? -eq 1 ] || exit 1
[ ! -e "$w/no" ] || exit 1
echo "convert: all cases behave"
