#!/usr/bin/python3
"""Fixtures for tests/unit/test_dtype.c: F8 tables and a safetensors file of
every integer and 8-bit float dtype.

Run with Debian's interpreter (python3-numpy only):
    /usr/bin/python3 tests/data/make_dtype.py

Writes tests/data/dtype/:
  f8_table.f64      512 float64 LE: the value of every E4M3 code 0..255, then
                    of every E5M2 code, computed here from the OCP 8-bit float
                    definition (E4M3 "fn": bias 7, no infinities, S.1111.111 =
                    NaN; E5M2: bias 15, exponent 31 = Inf/NaN).
  dtypes.safetensors  one tensor per dtype (F8_E4M3, F8_E5M2, I8, U8, I16, U16,
                    I32, I64), written by numpy, and for each "<name>.expected",
                    its values as F64 (numpy's own exact conversion; I64 values
                    beyond 2^53 are rounded to nearest by numpy, as documented).
"""
import json
import math
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dtype")
os.makedirs(OUT, exist_ok=True)


def f8_value(code, ebits, mbits, bias, ieee):
    s = -1.0 if code & 0x80 else 1.0
    e = (code >> mbits) & ((1 << ebits) - 1)
    m = code & ((1 << mbits) - 1)
    top = (1 << ebits) - 1
    if ieee and e == top:
        return s * math.inf if m == 0 else math.nan
    if not ieee and e == top and m == (1 << mbits) - 1:
        return math.nan
    if e == 0:
        return s * (m / (1 << mbits)) * 2.0 ** (1 - bias)
    return s * (1 + m / (1 << mbits)) * 2.0 ** (e - bias)


def e4m3(c):
    return f8_value(c, 4, 3, 7, False)


def e5m2(c):
    return f8_value(c, 5, 2, 15, True)


table = [e4m3(c) for c in range(256)] + [e5m2(c) for c in range(256)]
np.array(table, dtype="<f8").tofile(os.path.join(OUT, "f8_table.f64"))


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype name, shape, little-endian bytes)."""
    header, data = {}, b""
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": list(shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        f.write(data)


tensors = []


def add(name, dt, arr, expected):
    arr = np.ascontiguousarray(arr)
    tensors.append((name, dt, arr.shape, arr.tobytes()))
    exp = np.asarray(expected, dtype="<f8").reshape(arr.shape)
    tensors.append((name + ".expected", "F64", arr.shape, exp.tobytes()))


# 8-bit floats: every finite code, as bit patterns, shape [2, k] or so.
fin4 = [c for c in range(256) if math.isfinite(e4m3(c))]
fin5 = [c for c in range(256) if math.isfinite(e5m2(c))]
add("f8_e4m3", "F8_E4M3", np.array(fin4, np.uint8).reshape(2, -1), [e4m3(c) for c in fin4])
add("f8_e5m2", "F8_E5M2", np.array(fin5, np.uint8).reshape(2, -1), [e5m2(c) for c in fin5])

ints = {
    "i8": ("I8", np.int8), "u8": ("U8", np.uint8), "i16": ("I16", np.int16),
    "u16": ("U16", np.uint16), "i32": ("I32", np.int32), "i64": ("I64", np.int64),
}
for name, (dt, t) in ints.items():
    info = np.iinfo(t)
    vals = [info.min, info.min + 1, -1 if info.min < 0 else 2, 0, 1, info.max - 1, info.max,
            int(info.max) // 3]
    if t == np.int64:
        vals += [2**53, 2**53 + 1, -(2**53) - 1, 2**53 + 3, 2**62 + 2**9 + 1, -7, 8, 9]
    else:
        vals += [5, 7, 11, 13, 17, 19, 23, 29]
    arr = np.array(vals, dtype=np.dtype(t).newbyteorder("<"))
    add(name, dt, arr.reshape(4, 4), arr.astype(np.float64))

write_safetensors(os.path.join(OUT, "dtypes.safetensors"), tensors)
