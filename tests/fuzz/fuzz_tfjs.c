/* fuzz_tfjs.c - libFuzzer target: TF.js model.json / weights manifest; the input is
 * the JSON, the fixed shards of tests/data/tfjs are copied beside it once (see fuzz_common.h). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_copy_beside("tests/data/tfjs/group1-shard1of2.bin", "group1-shard1of2.bin");
  fuzz_copy_beside("tests/data/tfjs/group1-shard2of2.bin", "group1-shard2of2.bin");
  fuzz_copy_beside("tests/data/tfjs/group2-shard1of1.bin", "group2-shard1of1.bin");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fuzz_open_and_read(data, size, "model.json");
}
