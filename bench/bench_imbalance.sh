#!/bin/sh
# bench_imbalance.sh MPIRUN FLAGSCOPE DIR - the measured load imbalance of real
# runs (rank 0's log line: max / mean busy seconds, and the estimate): a real
# heterogeneous zoo (the example zoo, plus PP-OCRv4 and the face-api ResNet when
# tests/data/fetched has them) on 2 and 3 ranks with each schedule, 3 runs each.
mpirun=$1 fs=$2 dir=$3
src=$(dirname "$0")/..
zoo="$src/examples/zoo/stories260K.gguf $src/examples/zoo/stories260K-hf/model.safetensors"
zoo="$zoo $src/examples/zoo/gnubg-nets.safetensors"
for f in ch_PP-OCRv4_rec_infer.onnx face-api/face_recognition_model-weights_manifest.json; do
  test -f "$src/tests/data/fetched/$f" && zoo="$zoo $src/tests/data/fetched/$f"
done
echo "zoo: $(echo $zoo | wc -w) models"
for n in 2 3; do
  for s in lpt dynamic; do
    for rep in 1 2 3; do
      printf '%d ranks, %-7s: ' "$n" "$s"
      "$mpirun" -n "$n" --oversubscribe "$fs" analyze --quiet --schedule "$s" \
        -o "$dir/bench_imbalance.h5" $zoo 2>&1 | sed -n 's/^flagscope: load imbalance //p'
    done
  done
done
rm -f "$dir/bench_imbalance.h5"
