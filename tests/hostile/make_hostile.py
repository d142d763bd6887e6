#!/usr/bin/python3
"""Hostile inputs for every reader, written at test time (never committed).

usage: make_hostile.py ZOO FIXTURES OUTDIR

ZOO is examples/zoo, FIXTURES tests/data.  Writes OUTDIR/<case files> and
OUTDIR/cases.tsv, one line per case:
    <path relative to OUTDIR>  <expected status>  <text the reason must contain>
The expected status is what /models/status must say after `flagscope analyze`:
failed, partial, ok, or any (a defined result is enough: a degenerate but valid
file, e.g. a 1 x n matrix).  The text is matched case-insensitively; "-" means
no requirement.  Every file is built from its format's specification (or from
a real file, cut or patched at a documented place) by this script alone.
"""
import io
import json
import os
import struct
import sys
import zipfile
import zlib

import numpy as np

zoo, fixtures, out = sys.argv[1:4]
os.makedirs(out, exist_ok=True)
cases = []


def case(name, data, status, text="-"):
    path = os.path.join(out, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if data is not None:
        with open(path, "wb") as f:
            f.write(data)
    cases.append((name, status, text))


# ---- safetensors --------------------------------------------------------------

def st(header, data=b"", raw_len=None):
    h = json.dumps(header).encode() if not isinstance(header, bytes) else header
    n = len(h) if raw_len is None else raw_len
    return struct.pack("<Q", n) + h + data


def st_tensors(tensors):
    hdr, blobs, pos = {}, [], 0
    for name, (a, dt) in tensors.items():
        with np.errstate(over="ignore"):  # inf_f16 overflows on purpose
            b = a.astype(dt).tobytes()
        code = {"<f4": "F32", "<f2": "F16", "<f8": "F64"}[dt]
        hdr[name] = {"dtype": code, "shape": list(a.shape), "data_offsets": [pos, pos + len(b)]}
        blobs.append(b)
        pos += len(b)
    return st(hdr, b"".join(blobs))


rng = np.random.default_rng(7)
w1, w2 = rng.standard_normal((8, 4)), rng.standard_normal((3, 8))
good = st_tensors({"fc1.weight": (w1, "<f4"), "fc2.weight": (w2, "<f4")})
hlen = struct.unpack("<Q", good[:8])[0]
case("st/good.safetensors", good, "ok")
hdr = json.loads(good[8:8 + hlen])

case("st/len_huge.safetensors", struct.pack("<Q", 2**63 - 1) + good[8:], "failed", "header")
case("st/len_past_end.safetensors", struct.pack("<Q", len(good) + 100) + good[8:], "failed", "header")
case("st/len_zero.safetensors", struct.pack("<Q", 0) + good[8:], "failed", "-")
case("st/not_json.safetensors", st(b"{this is not json" + b" " * 40), "failed", "-")
case("st/deep_nesting.safetensors", st(b"[" * 100000 + b"]" * 100000), "failed", "-")
case("st/deep_object.safetensors", st(b'{"a":' * 50000 + b"1" + b"}" * 50000), "failed", "-")
many = {"t%d" % i: {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}
        for i in range(50000)}
case("st/fifty_thousand_tensors.safetensors", st(many, b"\0" * 200000), "ok")


def patched(name, **kw):
    h = json.loads(json.dumps(hdr))
    h["fc1.weight"].update(kw)
    return st(h, good[8 + hlen:])


case("st/shape_huge.safetensors", patched("x", shape=[2**31, 2**31]), "failed", "fc1.weight")
case("st/shape_overflow.safetensors", patched("x", shape=[2**62, 2**62, 16]), "failed", "fc1.weight")
case("st/shape_negative.safetensors", patched("x", shape=[-8, -4]), "failed", "fc1.weight")
case("st/shape_float.safetensors", patched("x", shape=[2.5, 4]), "failed", "fc1.weight")
case("st/shape_string.safetensors", patched("x", shape="8x4"), "failed", "fc1.weight")
case("st/offsets_past_end.safetensors", patched("x", data_offsets=[0, 10**12]), "failed", "fc1.weight")
case("st/offsets_reversed.safetensors", patched("x", data_offsets=[128, 0]), "failed", "fc1.weight")
case("st/offsets_negative.safetensors", patched("x", data_offsets=[-128, 0]), "failed", "fc1.weight")
case("st/dtype_unknown.safetensors", patched("x", dtype="F128"), "failed", "F128")
h2 = json.loads(json.dumps(hdr))
h2["fc2.weight"]["data_offsets"] = [0, 96]  # overlaps fc1
case("st/overlap.safetensors", st(h2, good[8 + hlen:]), "failed", "overlap")
h3 = json.loads(json.dumps(hdr))
h3["__metadata__"] = {"format": {"nested": [1, 2, 3]}}
case("st/metadata_not_strings.safetensors", st(h3, good[8 + hlen:]), "any")
for cut in (0, 4, 7, 8, 9, 8 + hlen // 2, 8 + hlen, 8 + hlen + 16, len(good) - 1):
    case("st/cut_%d.safetensors" % cut, good[:cut], "failed", "-")
wn = w1.copy()
wn[2, 3] = np.nan
case("st/nan.safetensors", st_tensors({"fc1.weight": (wn, "<f4"), "fc2.weight": (w2, "<f4")}),
     "partial", "-")
wi = w2.copy()
wi[1, 1] = 1e6  # overflows F16
case("st/inf_f16.safetensors", st_tensors({"fc1.weight": (w1, "<f2"), "fc2.weight": (wi, "<f2")}),
     "partial", "-")
case("st/zero.safetensors", st_tensors({"fc1.weight": (0 * w1, "<f4"), "fc2.weight": (0 * w2, "<f4")}), "any")
case("st/one_by_n.safetensors", st_tensors({"fc1.weight": (w1[:1], "<f4"), "fc2.weight": (w2[:, :1], "<f4")}), "any")
case("st/empty_dim.safetensors", st({"a": {"dtype": "F32", "shape": [0, 4], "data_offsets": [0, 0]}}), "any")

# ---- sharded safetensors: an index whose shards escape or are missing ---------------------

def index(weight_map):
    return json.dumps({"metadata": {}, "weight_map": weight_map}).encode()


os.makedirs(os.path.join(out, "shards"), exist_ok=True)
case("shards/escape.safetensors.index.json", index({"fc1.weight": "../../../../etc/hostname"}),
     "failed", "-")
case("shards/absolute.safetensors.index.json", index({"fc1.weight": "/etc/hostname"}), "failed", "-")
case("shards/missing.safetensors.index.json", index({"fc1.weight": "nowhere.safetensors"}),
     "failed", "nowhere")

# ---- GGUF: counts the file cannot hold, cuts at the section boundaries --------------------

gg = open(os.path.join(zoo, "stories260K.gguf"), "rb").read()
case("gguf/version_99.gguf", gg[:4] + struct.pack("<I", 99) + gg[8:], "failed", "version")
case("gguf/ntensors_huge.gguf", gg[:8] + struct.pack("<Q", 2**62) + gg[16:], "failed", "-")
case("gguf/nkv_huge.gguf", gg[:16] + struct.pack("<Q", 2**62) + gg[24:], "failed", "-")
case("gguf/first_key_len_huge.gguf", gg[:24] + struct.pack("<Q", 2**60) + gg[32:], "failed", "-")
for cut in (3, 4, 8, 16, 24, 40, 1000, len(gg) // 2, len(gg) - 1):
    case("gguf/cut_%d.gguf" % cut, gg[:cut], "failed", "-")

# ---- NumPy .npy / .npz ----------------------------------------------------------------------

def npy(descr, shape, data, fortran=False, raw_header=None):
    h = raw_header or ("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }"
                       % (descr, fortran, shape)).encode()
    h += b" " * (-(10 + len(h) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + data


a = rng.standard_normal((6, 5))
case("npy/good.npy", npy("<f8", "(6, 5)", a.tobytes()), "ok")
case("npy/shape_huge.npy", npy("<f8", "(1099511627776, 1024)", a.tobytes()), "failed", "-")
case("npy/shape_overflow.npy", npy("<f8", "(4611686018427387904, 4611686018427387904)", b""), "failed", "-")
case("npy/shape_negative.npy", npy("<f8", "(-6, 5)", a.tobytes()), "failed", "-")
case("npy/descr_complex.npy", npy("<c16", "(3, 5)", a.tobytes()), "failed", "-")
case("npy/descr_object.npy", npy("|O", "(6, 5)", a.tobytes()), "failed", "-")
case("npy/header_deep.npy", npy("", "", b"", raw_header=b"{'shape': " + b"(" * 20000 + b")" * 20000 + b"}"),
     "failed", "-")
case("npy/header_len_past_end.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", 65535) + b"{", "failed", "-")
case("npy/data_short.npy", npy("<f8", "(6, 5)", a.tobytes()[:100]), "failed", "-")


def zipped(members, method=zipfile.ZIP_DEFLATED):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", method) as z:
        for name, data in members:
            z.writestr(name, data)
    return b.getvalue()


case("npz/good.npz", zipped([("w.npy", npy("<f8", "(6, 5)", a.tobytes()))]), "ok")
# A deflate bomb: a member that inflates to 512 MiB of zeros after a header that
# claims 30 doubles.  Only what the header needs may be inflated.
bomb = npy("<f8", "(6, 5)", b"\0" * (512 << 20))
case("npz/bomb.npz", zipped([("w.npy", bomb)]), "failed", "declares")
del bomb
case("npz/claim_huge.npz", zipped([("w.npy", npy("<f8", "(17179869184,)", a.tobytes()))]), "failed", "-")
z = bytearray(zipped([("w.npy", npy("<f8", "(6, 5)", a.tobytes()))], zipfile.ZIP_STORED))
cd = z.rfind(b"PK\x01\x02")
z[cd + 24:cd + 28] = struct.pack("<I", 0xFFFFFFF0)  # central directory: uncompressed size lies
case("npz/size_lies.npz", bytes(z), "failed", "-")
zg = zipped([("w.npy", npy("<f8", "(6, 5)", a.tobytes()))])
for cut in (4, 30, len(zg) // 2, len(zg) - 22, len(zg) - 1):
    case("npz/cut_%d.npz" % cut, zg[:cut], "failed", "-")
case("npz/not_zip.npz", b"PK\x03\x04" + os.urandom(200), "failed", "-")

# ---- PyTorch zip checkpoints ----------------------------------------------------------------

pt = open(os.path.join(fixtures, "numpy_torch", "state_dict.pt"), "rb").read()
for cut in (10, len(pt) // 3, len(pt) // 2, len(pt) - 22, len(pt) - 1):
    case("pt/cut_%d.pt" % cut, pt[:cut], "failed", "-")
# Pickles that would exhaust a naive machine: a deep stack, huge memo indices,
# a deflate bomb in place of data.pkl.
PROTO = b"\x80\x02"
S = zipfile.ZIP_STORED  # as torch.save writes it
case("pt/pickle_deep.pt", zipped([("archive/data.pkl", PROTO + b"]" * 200000 + b".")], S), "failed", "-")
case("pt/pickle_marks.pt", zipped([("archive/data.pkl", PROTO + b"(" * 200000 + b".")], S), "failed", "-")
case("pt/pickle_memo.pt", zipped([("archive/data.pkl", PROTO + b"]r\xff\xff\xff\x7f.")], S), "failed", "-")
case("pt/pickle_get.pt", zipped([("archive/data.pkl", PROTO + b"j\xff\xff\xff\x7f.")], S), "failed", "-")
case("pt/pickle_bomb.pt", zipped([("archive/data.pkl", PROTO + b"N" * (64 << 20) + b".")], S),
     "failed", "-")

# ---- ONNX: protobuf lengths past the end, deep nesting ----------------------------------------

def varint(n):
    b = bytearray()
    while True:
        c = n & 0x7F
        n >>= 7
        b.append(c | (0x80 if n else 0))
        if not n:
            return bytes(b)


def ld(field, payload):  # a length-delimited field
    return varint(field << 3 | 2) + varint(len(payload)) + payload


case("onnx/graph_len_huge.onnx", varint(7 << 3 | 2) + varint(2**62) + b"\x0a\x00", "failed", "-")
case("onnx/graph_len_past_end.onnx", varint(7 << 3 | 2) + varint(1000) + b"\x0a\x00", "failed", "-")
# GraphProto(7).node(1).attribute(5).g(6).node(1)... nested 3000 levels deep.
inner = b""
for _ in range(3000):
    inner = ld(1, ld(5, ld(6, inner)))
case("onnx/deep_graphs.onnx", b"\x08\x07" + ld(7, inner), "failed", "-")
tensor = ld(8, b"w") + b"\x08\x80\x80\x80\x80\x80\x80\x80\x80\x01" * 2 + b"\x10\x01"  # dims 2^63, F32
case("onnx/dims_overflow.onnx", b"\x08\x07" + ld(7, ld(5, tensor)), "failed", "-")

# ---- TF.js: manifests that lie or escape -----------------------------------------------------

tfjs_dir = os.path.join(fixtures, "tfjs")
mj = json.load(open(os.path.join(tfjs_dir, "model.json")))


def tfjs(name, model, shards=True):
    d = os.path.join(out, "tfjs", name)
    os.makedirs(d, exist_ok=True)
    if shards:
        for f in os.listdir(tfjs_dir):
            if f.endswith(".bin"):
                open(os.path.join(d, f), "wb").write(open(os.path.join(tfjs_dir, f), "rb").read())
    return os.path.join("tfjs", name, "model.json")


def tfjs_case(name, mutate, status, text="-", shards=True):
    m = json.loads(json.dumps(mj))
    mutate(m)
    rel = tfjs(name, m, shards)
    case(rel, json.dumps(m).encode(), status, text)


def set_paths(p):
    def f(m):
        m["weightsManifest"][0]["paths"] = p
    return f


def set_shape(shape):
    def f(m):
        m["weightsManifest"][0]["weights"][0]["shape"] = shape
    return f


tfjs_case("good", lambda m: None, "ok")
tfjs_case("escape", set_paths(["../../../../../etc/hostname"]), "failed", "-")
tfjs_case("absolute", set_paths(["/etc/hostname"]), "failed", "-")
tfjs_case("shard_missing", lambda m: None, "failed", "-", shards=False)
tfjs_case("shape_huge", set_shape([2**40, 2**40]), "failed", "-")
tfjs_case("shape_negative", set_shape([-3, 4]), "failed", "-")
case(tfjs("deep", None, False), b'{"weightsManifest":' + b"[" * 100000 + b"]" * 100000 + b"}",
     "failed", "-")

# ---- not a model at all ------------------------------------------------------------------------
case("misc/empty.bin", b"", "failed", "-")
case("misc/random.bin", os.urandom(4096), "failed", "-")
case("misc/missing.safetensors", None, "failed", "-")

with open(os.path.join(out, "cases.tsv"), "w") as f:
    for c in cases:
        f.write("%s\t%s\t%s\n" % c)
print("%d hostile cases in %s" % (len(cases), out))
