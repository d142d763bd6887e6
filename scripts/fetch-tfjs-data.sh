#!/bin/bash
# Fetch the real TensorFlow.js test model: face-api's face recognition ResNet
# (@vladmandic/face-api 1.7.15 on npm, MIT licence): a bare weights manifest
# and one .bin shard, uint8 affine-quantised.  Written to
# tests/data/fetched/face-api/ (gitignored); idempotent and sha256-checked.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/tests/data/fetched/face-api
files=(face_recognition_model-weights_manifest.json face_recognition_model.bin)
sums=(cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b
      b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589)

check() {
  for i in "${!files[@]}"; do
    [ -s "$1/${files[$i]}" ] || return 1
    echo "${sums[$i]}  $1/${files[$i]}" | sha256sum -c --quiet --status || return 1
  done
}

check "$out" && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent @vladmandic/face-api@1.7.15 >/dev/null)
tar -xzf "$tmp"/vladmandic-face-api-1.7.15.tgz -C "$tmp" \
    "${files[@]/#/package/model/}"
if ! check "$tmp/package/model"; then
  echo "fetch-tfjs-data: sha256 mismatch in @vladmandic/face-api@1.7.15" >&2
  exit 1
fi
mkdir -p "$out"
for f in "${files[@]}"; do cp "$tmp/package/model/$f" "$out/$f"; done
echo "fetch-tfjs-data: wrote $out"
