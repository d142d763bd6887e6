#!/usr/bin/python3
"""Fixtures for tests/unit/test_tfjs.c: TensorFlow.js weights.

Run with Debian's interpreter (python3-numpy only):
    /usr/bin/python3 tests/data/make_tfjs.py

Writes tests/data/tfjs/ following the tfjs-core weights manifest format
(io/types.ts): weights packed back to back, in manifest order, across the
concatenation of a group's shard files, little-endian; uint8/uint16
quantisation value = q * scale + min.
  model.json              layers-model JSON: two groups; group 1 has two
                          shards split inside dense/kernel, group 2 one
  manifest.json           the same groups as a bare top-level array
  group1-shard{1,2}of2.bin, group2-shard1of1.bin
  expected.f64            every tensor's [out, in] view as float64 LE,
                          computed here with numpy (independent of the reader)
  expected.txt            "name rows cols first_value_index dtype" per tensor
And, when tests/data/fetched/face-api/ exists (scripts/fetch-tfjs-data.sh):
  face-api-expected.txt   selected view elements and per-tensor sums of
                          face-api's face recognition net, dequantised from
                          the raw .bin with numpy: "name row col value" and
                          "name sum value" / "name sumsq value" lines
"""
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "tfjs")
os.makedirs(OUT, exist_ok=True)
rng = np.random.RandomState(11)


def view(name, a):
    """The [out, in] presentation of a TF layout, as float64 2-D."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 2:  # Keras kernels are [in, out]; embeddings [vocab, dim]
        return a.copy() if name.endswith("embeddings") else a.T.copy()
    if a.ndim >= 3:  # [k..., in, out] -> [out, in, k...]
        perm = [a.ndim - 1, a.ndim - 2] + list(range(a.ndim - 2))
        a = np.transpose(a, perm)
        return a.reshape(a.shape[0], -1)
    return a.reshape(1, -1)


def affine(shape, qdt, scale, mn):
    top = 255 if qdt == "uint8" else 65535
    q = rng.randint(0, top + 1, size=shape).astype(np.uint8 if top == 255 else np.uint16)
    return q, q.astype(np.float64) * scale + mn


# (name, shape, stored numpy array, manifest entry extras, value array)
entries = []
k = rng.standard_normal((3, 4)).astype(np.float32)  # Dense kernel [in, out]
entries.append(("dense/kernel", k, {"dtype": "float32"}, k))
b = rng.standard_normal(4).astype(np.float32)
entries.append(("dense/bias", b, {"dtype": "float32"}, b))
q, v = affine((2, 2, 3, 5), "uint8", 0.0123, -1.5)  # conv kernel [kh, kw, in, out]
entries.append(("conv/kernel", q, {"dtype": "float32", "quantization":
                {"dtype": "uint8", "scale": 0.0123, "min": -1.5}}, v))
q, v = affine((6, 3), "uint16", 3.0e-5, -0.75)
entries.append(("emb/embeddings", q, {"dtype": "float32", "quantization":
                {"dtype": "uint16", "scale": 3.0e-5, "min": -0.75}}, v))
h = rng.standard_normal((4, 2)).astype(np.float16)
entries.append(("half/kernel", h, {"dtype": "float32", "quantization": {"dtype": "float16"}}, h))
c = np.array([7, -3, 100000], dtype=np.int32)
entries.append(("count", c, {"dtype": "int32"}, c))
q, v = affine((3, 3), "uint8", 0.5, -10.0)  # int32 original: rounded affine
q[0, 0], q[0, 1] = 1, 2  # -9.5 and -9.0: halves round up, as Math.round
entries.append(("step", q, {"dtype": "int32", "quantization":
                {"dtype": "uint8", "scale": 0.5, "min": -10.0}}, v))
group1 = entries
q, v = affine((5, 2), "uint16", 1.0e-4, 0.5)
group2 = [("q16/kernel", q, {"dtype": "float32", "quantization":
           {"dtype": "uint16", "scale": 1.0e-4, "min": 0.5,
            "original_dtype": "float32"}}, v)]


def pack(group):
    blob, ws = b"", []
    for name, stored, extra, _ in group:
        blob += stored.astype(stored.dtype.newbyteorder("<")).tobytes()
        ws.append(dict({"name": name, "shape": list(stored.shape)}, **extra))
    return blob, ws


blob1, w1 = pack(group1)
blob2, w2 = pack(group2)
cut = 30  # inside dense/kernel (bytes 0..47): a tensor straddles two shards
files = {"group1-shard1of2.bin": blob1[:cut], "group1-shard2of2.bin": blob1[cut:],
         "group2-shard1of1.bin": blob2}
for fname, data in files.items():
    with open(os.path.join(OUT, fname), "wb") as f:
        f.write(data)
manifest = [{"paths": ["group1-shard1of2.bin", "group1-shard2of2.bin"], "weights": w1},
            {"paths": ["group2-shard1of1.bin"], "weights": w2}]
model = {"format": "layers-model", "generatedBy": "make_tfjs.py",
         "convertedBy": None, "modelTopology": {"class_name": "Sequential"},
         "weightsManifest": manifest}
with open(os.path.join(OUT, "model.json"), "w") as f:
    json.dump(model, f)
with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=2)

with open(os.path.join(OUT, "expected.f64"), "wb") as fb, \
        open(os.path.join(OUT, "expected.txt"), "w") as ft:
    pos = 0
    for name, stored, extra, values in group1 + group2:
        vals = values
        if extra["dtype"] == "int32" and "quantization" in extra:
            q = stored.astype(np.float64) * extra["quantization"]["scale"] \
                + extra["quantization"]["min"]
            vals = np.floor(q + 0.5)  # JavaScript's Math.round
        w = view(name, vals)
        fb.write(w.astype("<f8").tobytes())
        ft.write("%s %d %d %d\n" % (name, w.shape[0], w.shape[1], pos))
        pos += w.size

# Expected values of the real face-api net, from its raw bytes.
FA = os.path.join(HERE, "fetched", "face-api")
man_path = os.path.join(FA, "face_recognition_model-weights_manifest.json")
if os.path.exists(man_path):
    man = json.load(open(man_path))
    raw = b"".join(open(os.path.join(FA, p), "rb").read() for p in man[0]["paths"])
    off, lines = 0, []
    pick = {"fc", "conv32_down/conv/filters", "conv32_down/conv/bias",
            "conv256_down_out/conv2/conv/filters"}
    for w in man[0]["weights"]:
        n = int(np.prod(w["shape"]))
        qt = w.get("quantization")
        if qt:
            dt = {"uint8": "<u1", "uint16": "<u2"}[qt["dtype"]]
            a = np.frombuffer(raw, dt, n, off).astype(np.float64) * qt["scale"] + qt["min"]
            off += n * np.dtype(dt).itemsize
        else:
            a = np.frombuffer(raw, "<f4", n, off).astype(np.float64)
            off += 4 * n
        if w["name"] not in pick and qt:
            continue
        m = view(w["name"], a.reshape(w["shape"]))
        lines.append("%s sum %.17g" % (w["name"], m.sum()))
        lines.append("%s sumsq %.17g" % (w["name"], (m * m).sum()))
        for r, c in [(0, 0), (m.shape[0] - 1, m.shape[1] - 1), (m.shape[0] // 2, m.shape[1] // 3)]:
            lines.append("%s %d %d %.17g" % (w["name"], r, c, m[r, c]))
    assert off == len(raw)
    with open(os.path.join(OUT, "face-api-expected.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
