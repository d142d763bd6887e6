#!/usr/bin/python3
"""Fixture for tests/unit/test_dtype.c: a sharded safetensors checkpoint.

Run with Debian's interpreter (python3-numpy only):
    /usr/bin/python3 tests/data/make_shards.py

Writes tests/data/shards/:
  model.safetensors.index.json   {"metadata": {"total_size", "format"},
                                  "weight_map": {tensor: shard}}
  model-00001-of-00003.safetensors, model-00002-of-00003.safetensors,
  sub/model-00003-of-00003.safetensors   (a shard in a sub-folder is legal)
  config.json                    read next to the index, as for single files
  reference/all.safetensors      every tensor of the shards in one file
The files follow the safetensors specification (u64 LE header length, JSON
header, row-major little-endian data); values are deterministic, and the test
compares each sharded tensor with its reference counterpart.
"""
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shards")
for d in (OUT, os.path.join(OUT, "sub"), os.path.join(OUT, "reference")):
    os.makedirs(d, exist_ok=True)

DT = {np.float32: "F32", np.float16: "F16", np.float64: "F64", np.int8: "I8"}


def write_safetensors(path, tensors, metadata=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, arr in tensors:
        raw = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DT[arr.dtype.type], "shape": list(arr.shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        f.write(data)


rng = np.random.RandomState(7)


def mat(shape, dtype):
    if dtype == np.int8:
        return rng.randint(-128, 128, shape).astype(np.int8)
    return rng.standard_normal(shape).astype(dtype)


shards = {
    "model-00001-of-00003.safetensors": [
        ("model.embed_tokens.weight", mat((16, 8), np.float32)),
        ("model.layers.0.self_attn.q_proj.weight", mat((8, 8), np.float16)),
    ],
    "model-00002-of-00003.safetensors": [
        ("model.layers.0.mlp.up_proj.weight", mat((12, 8), np.float32)),
        ("model.layers.0.mlp.down_proj.weight", mat((8, 12), np.float64)),
        ("model.layers.0.input_layernorm.weight", mat((8,), np.float32)),
    ],
    "sub/model-00003-of-00003.safetensors": [
        ("lm_head.weight", mat((16, 8), np.int8)),
    ],
}

weight_map, total, everything = {}, 0, []
for shard, tensors in shards.items():
    write_safetensors(os.path.join(OUT, shard), tensors, {"format": "pt"})
    for name, arr in tensors:
        weight_map[name] = shard
        total += arr.nbytes
        everything.append((name, arr))

index = {"metadata": {"total_size": total, "format": "pt"},
         "weight_map": dict(sorted(weight_map.items()))}
with open(os.path.join(OUT, "model.safetensors.index.json"), "w") as f:
    json.dump(index, f, indent=2)
    f.write("\n")
with open(os.path.join(OUT, "config.json"), "w") as f:
    json.dump({"model_type": "llama", "num_attention_heads": 2, "hidden_size": 8}, f, indent=2)
    f.write("\n")
write_safetensors(os.path.join(OUT, "reference", "all.safetensors"), everything)
