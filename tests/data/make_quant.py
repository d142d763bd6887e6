#!/usr/bin/python3
"""Fixture for tests/unit/test_dtype.c: a GGUF v3 file with one tensor of each
llama.cpp block-quantised type and, next to each, its expected values.

Run with Debian's interpreter (python3-numpy only):
    /usr/bin/python3 tests/data/make_quant.py

Writes tests/data/quant/quant.gguf.  For every type the script draws logical
values (f16 scales and mins, per-sub-block scales, integer quants) with a
fixed seed, PACKS them into blocks following the layouts of ggml's
ggml-common.h (block structs) as documented for dequantize_row_* in
ggml-quants.c, and records the dequantised values computed in float64 from
the logical values by the documented formula:
    Q8_0  d*q              Q4_0  d*(q-8)       Q4_1  d*q + m
    Q5_0  d*(q-16)         Q5_1  d*q + m
    Q2_K  d*sc*q - dmin*mn (16 sub-blocks of 16; 4-bit sc and mn, 2-bit q)
    Q3_K  d*(sc-32)*(q-4)  (16 of 16; 6-bit sc, 3-bit q)
    Q4_K  d*sc*q - dmin*mn (8 of 32; 6-bit sc and mn, 4-bit q)
    Q5_K  d*sc*q - dmin*mn (8 of 32; 6-bit sc and mn, 5-bit q)
    Q6_K  d*sc*(q-32)      (16 of 16; int8 sc, 6-bit q)
The reader under test unpacks; this script only packs, so a wrong bit order
on either side shows up as a mismatch.  Tensor "<type>" has shape [3, 96]
(block-32 types) or [2, 512] (K types) as the [out, in] view; "<type>.expected"
is F64 of the same shape.
"""
import os
import struct

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "quant")
os.makedirs(OUT, exist_ok=True)
rng = np.random.RandomState(20261129)

GGML = {"Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8, "Q2_K": 10,
        "Q3_K": 11, "Q4_K": 12, "Q5_K": 13, "Q6_K": 14, "F64": 28}


def f16(x):
    """A float16 value: (its two bytes, its exact float64 value)."""
    h = np.float16(x)
    return h.tobytes(), float(h)


def scale():
    return f16(rng.uniform(0.001, 0.1) * rng.choice([-1, 1]))


def pos_scale():
    return f16(rng.uniform(0.001, 0.1))


# ---- 32-element blocks -----------------------------------------------------

def q8_0():
    db, d = scale()
    q = rng.randint(-128, 128, 32)
    return db + q.astype(np.int8).tobytes(), d * q


def nibbles(q):
    """Element j in the low nibble of byte j, element j+16 in its high one."""
    return bytes(int(q[j] & 15) | int(q[j + 16] & 15) << 4 for j in range(16))


def high_bits(q):
    """Bit 4 of element j is bit j of a little-endian u32."""
    h = 0
    for j in range(32):
        h |= int(q[j] >> 4 & 1) << j
    return struct.pack("<I", h)


def q4_0():
    db, d = scale()
    q = rng.randint(0, 16, 32)
    return db + nibbles(q), d * (q - 8)


def q4_1():
    db, d = scale()
    mb, m = scale()
    q = rng.randint(0, 16, 32)
    return db + mb + nibbles(q), d * q + m


def q5_0():
    db, d = scale()
    q = rng.randint(0, 32, 32)
    return db + high_bits(q) + nibbles(q), d * (q - 16)


def q5_1():
    db, d = scale()
    mb, m = scale()
    q = rng.randint(0, 32, 32)
    return db + mb + high_bits(q) + nibbles(q), d * q + m


# ---- 256-element super-blocks ------------------------------------------------
# In Q2_K, Q3_K and Q6_K element i = 128*h + 32*j + l (l < 32) sits in the
# h-th 128-element half; in Q4_K and Q5_K, i = 64*c + 32*u + l.

def q2_k():
    db, d = pos_scale()
    mb, dmin = pos_scale()
    sc = rng.randint(0, 16, 16)
    mn = rng.randint(0, 16, 16)
    q = rng.randint(0, 4, 256)
    qs = bytearray(64)
    for i in range(256):
        h, j, l = i // 128, i % 128 // 32, i % 32
        qs[32 * h + l] |= int(q[i]) << (2 * j)
    scales = bytes(int(sc[k]) | int(mn[k]) << 4 for k in range(16))
    k = np.arange(256) // 16
    return scales + bytes(qs) + db + mb, d * sc[k] * q - dmin * mn[k]


def q3_k():
    db, d = scale()
    sc = rng.randint(0, 64, 16)  # stored; the scale is sc - 32
    q = rng.randint(0, 8, 256)   # stored; the quant is q - 4
    hmask, qs, scales = bytearray(32), bytearray(64), bytearray(12)
    for i in range(256):
        h, j, l = i // 128, i % 128 // 32, i % 32
        qs[32 * h + l] |= int(q[i] & 3) << (2 * j)
        hmask[l] |= int(q[i] >> 2) << (4 * h + j)
    for k in range(16):
        lo, hi = int(sc[k] & 15), int(sc[k] >> 4)
        if k < 8:
            scales[k] |= lo
        else:
            scales[k - 8] |= lo << 4
        scales[8 + k % 4] |= hi << (2 * (k // 4))
    k = np.arange(256) // 16
    return bytes(hmask) + bytes(qs) + bytes(scales) + db, d * (sc[k] - 32) * (q - 4)


def k4_scales(sc, mn):
    """Eight 6-bit (scale, min) pairs into 12 bytes."""
    p = bytearray(12)
    for k in range(8):
        if k < 4:
            p[k] |= int(sc[k])
            p[k + 4] |= int(mn[k])
        else:
            p[k + 4] |= int(sc[k] & 15) | int(mn[k] & 15) << 4
            p[k - 4] |= int(sc[k] >> 4) << 6
            p[k] |= int(mn[k] >> 4) << 6
    return bytes(p)


def q45_k(bits):
    db, d = pos_scale()
    mb, dmin = pos_scale()
    sc = rng.randint(0, 64, 8)
    mn = rng.randint(0, 64, 8)
    q = rng.randint(0, 1 << bits, 256)
    qs, qh = bytearray(128), bytearray(32)
    for i in range(256):
        c, u, l = i // 64, i % 64 // 32, i % 32
        qs[32 * c + l] |= int(q[i] & 15) << (4 * u)
        qh[l] |= int(q[i] >> 4) << (2 * c + u)
    k = np.arange(256) // 32
    vals = d * sc[k] * q - dmin * mn[k]
    body = db + mb + k4_scales(sc, mn) + (bytes(qh) if bits == 5 else b"") + bytes(qs)
    return body, vals


def q6_k():
    db, d = scale()
    sc = rng.randint(-128, 128, 16)
    q = rng.randint(0, 64, 256)
    ql, qh = bytearray(128), bytearray(64)
    for i in range(256):
        h, r, l = i // 128, i % 128 // 32, i % 32
        ql[64 * h + 32 * (r % 2) + l] |= int(q[i] & 15) << (4 * (r // 2))
        qh[32 * h + l] |= int(q[i] >> 4) << (2 * r)
    k = np.arange(256) // 16
    body = bytes(ql) + bytes(qh) + sc.astype(np.int8).tobytes() + db
    return body, d * sc[k] * (q - 32)


TYPES = [("Q8_0", q8_0, 34, 3, 96), ("Q4_0", q4_0, 18, 3, 96), ("Q4_1", q4_1, 20, 3, 96),
         ("Q5_0", q5_0, 22, 3, 96), ("Q5_1", q5_1, 24, 3, 96),
         ("Q2_K", q2_k, 84, 2, 512), ("Q3_K", q3_k, 110, 2, 512),
         ("Q4_K", lambda: q45_k(4), 144, 2, 512), ("Q5_K", lambda: q45_k(5), 176, 2, 512),
         ("Q6_K", q6_k, 210, 2, 512)]


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def write_gguf(path, tensors):
    """tensors: (name, type name, rows, cols, raw bytes); GGUF v3, alignment 32."""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 1)
    head += gguf_str("general.architecture") + struct.pack("<I", 8) + gguf_str("quanttest")
    data, infos = b"", b""
    for name, tname, rows, cols, raw in tensors:
        data += b"\0" * (-len(data) % 32)
        infos += gguf_str(name) + struct.pack("<IQQIQ", 2, cols, rows, GGML[tname], len(data))
        data += raw
    head += infos
    head += b"\0" * (-len(head) % 32)
    with open(path, "wb") as f:
        f.write(head + data)


tensors = []
for tname, make, nbytes, rows, cols in TYPES:
    raw, vals = b"", []
    per = 32 if nbytes <= 34 else 256
    for _ in range(rows * cols // per):
        body, v = make()
        assert len(body) == nbytes, (tname, len(body))
        raw += body
        vals.append(np.asarray(v, dtype=np.float64))
    tensors.append((tname, tname, rows, cols, raw))
    exp = np.concatenate(vals).astype("<f8").tobytes()
    tensors.append((tname + ".expected", "F64", rows, cols, exp))

write_gguf(os.path.join(OUT, "quant.gguf"), tensors)
