/* fuzz_keras.c - libFuzzer target: Keras HDF5 weight files (see fuzz_common.h). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <hdf5.h>

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  /* libhdf5 keeps freed blocks on free lists; without limits every run
   * ends with more mallocs than frees, and libFuzzer then runs a full leak
   * check after each input (10 runs a second instead of hundreds). */
  H5set_free_list_limits(0, 0, 0, 0, 0, 0);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Only HDF5 files (signature at byte 0, as Keras writes them): inputs
   * that mutate into another format belong to the other targets. */
  static const uint8_t sig[8] = {0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a};
  if (size < sizeof sig || memcmp(data, sig, sizeof sig) != 0) return -1;
  return fuzz_open_and_read(data, size, "model.weights.h5");
}
