#!/usr/bin/python3
"""Fixtures for tests/unit/test_npy.c: NumPy .npy/.npz and torch.save files.

Run with Debian's interpreter (python3-numpy, python3-torch):
    /usr/bin/python3 tests/data/make_numpy_torch.py

Writes tests/data/numpy_torch/.  Every tensor's expected values are written
by numpy alone, independently of the files under test, as the [out, in]
view (the logical array, row-major) in raw little-endian float64:
    expected/<n>.f64
and listed in expected/index.txt, one line per tensor:
    <file> <tensor name> <dtype> <ndim> <d0> ... <expected file>
<dtype> is flagscope's name (F32, F16, ...).  All values are small integers
or dyadic fractions, exact in every dtype used.
"""
import collections
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "numpy_torch")
EXP = os.path.join(OUT, "expected")
os.makedirs(EXP, exist_ok=True)
index = []

NP_NAMES = {"float64": "F64", "float32": "F32", "float16": "F16", "int8": "I8",
            "uint8": "U8", "int16": "I16", "uint16": "U16", "int32": "I32",
            "int64": "I64"}


def values(shape, seed, scale=0.25):
    """Exact dyadic values in [-8, 8) on a deterministic pattern."""
    n = int(np.prod(shape)) if shape else 1
    k = (np.arange(n, dtype=np.int64) * 37 + seed * 11) % 64 - 32
    return (k * scale).reshape(shape)


def expect(fname, name, dtype_name, logical):
    """Record the logical array's values (row-major) as float64 LE."""
    i = len(index)
    arr = np.ascontiguousarray(np.asarray(logical, dtype=np.float64))
    arr.astype("<f8").tofile(os.path.join(EXP, "%d.f64" % i))
    dims = " ".join(str(d) for d in arr.shape)
    index.append("%s %s %s %d %s%s%d.f64" % (fname, name, dtype_name, arr.ndim,
                                             dims, " " if dims else "", i))


def npy_arrays():
    """name -> array; order is C unless the name says fortran."""
    a = collections.OrderedDict()
    a["f8_2d"] = values((3, 4), 1).astype("<f8")
    a["f4_fortran"] = np.asfortranarray(values((5, 3), 2).astype("<f4"))
    a["f2_1d"] = values((7,), 3).astype("<f2")
    a["f4_3d"] = values((2, 3, 4), 4).astype("<f4")
    a["i1"] = values((2, 3), 5, 1).astype("i1")
    a["u1"] = (values((2, 3), 6, 1) + 32).astype("u1")
    a["i2"] = values((3, 2), 7, 1).astype("<i2")
    a["u2"] = (values((3, 2), 7, 1) + 32).astype("<u2")
    a["i4"] = values((2, 2), 8, 1).astype("<i4")
    a["i8"] = values((2, 2), 9, 1).astype("<i8")
    return a


def write_npy():
    for name, arr in npy_arrays().items():
        fname = name + ".npy"
        np.save(os.path.join(OUT, fname), arr)
        expect(fname, name, NP_NAMES[arr.dtype.name], arr)


def write_npz():
    arrs = collections.OrderedDict()
    arrs["w"] = values((4, 6), 10).astype("<f4")
    arrs["wt"] = np.asfortranarray(values((6, 4), 11).astype("<f8"))
    arrs["b"] = values((6,), 12).astype("<f2")
    np.savez(os.path.join(OUT, "stored.npz"), **arrs)
    big = collections.OrderedDict(arrs)
    # Larger members: the deflate stream is read column by column (bigt)
    # and restarted for out-of-order row ranges.
    big["big"] = values((120, 40), 13).astype("<f4")
    big["bigt"] = np.asfortranarray(values((40, 30), 14).astype("<f8"))
    np.savez_compressed(os.path.join(OUT, "compressed.npz"), **big)
    for fname, d in (("stored.npz", arrs), ("compressed.npz", big)):
        for k, v in d.items():
            expect(fname, k, NP_NAMES[v.dtype.name], v)


TORCH_NAMES = {torch.float32: "F32", torch.float16: "F16",
               torch.bfloat16: "BF16", torch.float64: "F64"}


def t(shape, seed, dtype):
    return torch.tensor(values(shape, seed)).to(dtype)


def write_torch():
    sd = collections.OrderedDict()
    sd["fc1.weight"] = t((8, 5), 20, torch.float32)
    sd["fc1.bias"] = t((8,), 21, torch.float16)
    sd["fc2.weight"] = t((3, 8), 22, torch.bfloat16)
    sd["fc2.bias"] = t((3,), 23, torch.float64)
    base = t((6, 4), 24, torch.float32)
    sd["proj.weight"] = base.t()            # [4, 6], stride (1, 4)
    assert sd["proj.weight"].stride() == (1, 4)
    sd["proj.slice"] = base[2:5]             # same storage, offset 8
    assert sd["proj.slice"].storage_offset() == 8
    sd["conv.weight"] = t((4, 2, 3, 3), 25, torch.float32)
    torch.save(sd, os.path.join(OUT, "state_dict.pt"))
    for k, v in sd.items():
        expect("state_dict.pt", k, TORCH_NAMES[v.dtype], v.to(torch.float64).numpy())

    inner = collections.OrderedDict()
    inner["layer.weight"] = t((3, 3), 26, torch.float32)
    ckpt = {"epoch": 7, "model": {"state_dict": inner,
                                  "head": {"w": t((2, 3), 27, torch.float16)}}}
    torch.save(ckpt, os.path.join(OUT, "nested.pt"))
    expect("nested.pt", "model.state_dict.layer.weight", "F32",
           inner["layer.weight"].numpy())
    expect("nested.pt", "model.head.w", "F16",
           ckpt["model"]["head"]["w"].to(torch.float64).numpy())


def main():
    write_npy()
    write_npz()
    write_torch()
    with open(os.path.join(EXP, "index.txt"), "w") as f:
        f.write("\n".join(index) + "\n")


if __name__ == "__main__":
    main()
