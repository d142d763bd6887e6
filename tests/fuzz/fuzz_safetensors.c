/* fuzz_safetensors.c - libFuzzer target: safetensors and the sharded safetensors index; the
 * input is model.safetensors or, when it starts with a JSON object, the
 * index model.safetensors.index.json beside the three fixed shards of
 * tests/data/shards (copied once) (see fuzz_common.h). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_copy_beside("tests/data/shards/model-00001-of-00003.safetensors",
                   "model-00001-of-00003.safetensors");
  fuzz_copy_beside("tests/data/shards/model-00002-of-00003.safetensors",
                   "model-00002-of-00003.safetensors");
  fuzz_copy_beside("tests/data/shards/sub/model-00003-of-00003.safetensors",
                   "sub/model-00003-of-00003.safetensors");
  fuzz_copy_beside("tests/data/shards/config.json", "config.json");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t i = 0;
  while (i < size && (data[i] == 0x20 || data[i] == 0x0a || data[i] == 0x0d || data[i] == 0x09))
    i++;
  int json = i < size && data[i] == 0x7b; /* a JSON object: the index */
  return fuzz_open_and_read(data, size,
                            json ? "model.safetensors.index.json" : "model.safetensors");
}
