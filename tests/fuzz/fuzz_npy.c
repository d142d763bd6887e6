/* fuzz_npy.c - libFuzzer target: NumPy .npy and .npz (the name follows the first bytes) (see fuzz_common.h). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int zip = size >= 2 && data[0] == 0x50 && data[1] == 0x4b; /* "PK" */
  return fuzz_open_and_read(data, size, zip ? "arrays.npz" : "array.npy");
}
