#!/usr/bin/python3
"""Writes torch/huge_storage.pt for tests/unit/test_fuzz_regressions.c: the
state_dict.pt fixture with its first tensor's pickle rewritten to claim a
storage of 2^40 float32 elements and a shape of (2^20, 2^20), while the
storage member still holds 40 floats.  Needs no torch (plain zipfile).
    /usr/bin/python3 tests/data/fuzz-regressions/make_torch_huge.py
"""
import os
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "numpy_torch", "state_dict.pt")
OUT = os.path.join(HERE, "torch", "huge_storage.pt")


def patch_once(data, old, new):
    assert data.count(old) >= 1, old
    i = data.index(old)
    return data[:i] + new + data[i + len(old):]


def main():
    src = zipfile.ZipFile(SRC)
    with zipfile.ZipFile(OUT, "w", zipfile.ZIP_STORED) as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("data.pkl"):
                # storage numel 40 -> LONG1 2^40; size (8, 5) -> (2^20, 2^20);
                # stride (5, 1) -> (2^20, 1)
                data = patch_once(data, b"X\x03\x00\x00\x00cpuq\x07K(",
                                  b"X\x03\x00\x00\x00cpuq\x07\x8a\x06\x00\x00\x00\x00\x00\x01")
                data = patch_once(data, b"K\x00K\x08K\x05\x86q\tK\x05K\x01\x86",
                                  b"K\x00J\x00\x00\x10\x00J\x00\x00\x10\x00\x86q\t"
                                  b"J\x00\x00\x10\x00K\x01\x86")
            out.writestr(info.filename, data)


if __name__ == "__main__":
    main()
