/* fuzz_onnx.c - libFuzzer target: ONNX ModelProto (protobuf-c), recognised by the .onnx name (see fuzz_common.h). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fuzz_open_and_read(data, size, "model.onnx");
}
