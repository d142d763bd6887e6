#!/usr/bin/python3
"""Make the ONNX test fixtures of tests/unit/test_onnx.c with python3-onnx.

    /usr/bin/python3 tests/data/make_onnx.py            # synthetic fixtures
    /usr/bin/python3 tests/data/make_onnx.py --ppocr F  # expected values of the
                                                        # fetched PP-OCRv4 model F

Everything lands in tests/data/onnx/.  The C reader is checked against what
the reference implementation (onnx.numpy_helper) says the files hold; the
expected values are written in a simple format of our own, so the C test
needs no protobuf to read them:

  NAME.f64   raw little-endian float64 values, back to back
  NAME.txt   one line per fact:
               ntensors N
               meta KEY VALUE
               tensor NAME DTYPE IN_OUT NDIM D0 .. Dn-1 R0 R1 FIRST
             a tensor line gives the [out, in] view the reader must present
             (shape, whether the stored bytes are its transpose) and rows
             [R0, R1) of that view (R1 - R0 rows of prod(D1..) values),
             starting at value FIRST of NAME.f64.
Hostile files go to tests/data/onnx/hostile/.
"""
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "onnx")

# ONNX element type -> (flagscope dtype name, numpy type)
TYPES = {
    TensorProto.FLOAT: ("F32", np.float32),
    TensorProto.DOUBLE: ("F64", np.float64),
    TensorProto.FLOAT16: ("F16", np.float16),
    TensorProto.BFLOAT16: ("BF16", None),
    TensorProto.INT8: ("I8", np.int8),
    TensorProto.UINT8: ("U8", np.uint8),
    TensorProto.INT16: ("I16", np.int16),
    TensorProto.UINT16: ("U16", np.uint16),
    TensorProto.INT32: ("I32", np.int32),
    TensorProto.INT64: ("I64", np.int64),
}
SHORT = {TensorProto.FLOAT: "float", TensorProto.DOUBLE: "double",
         TensorProto.FLOAT16: "float16", TensorProto.BFLOAT16: "bfloat16",
         TensorProto.INT8: "int8", TensorProto.UINT8: "uint8", TensorProto.INT16: "int16",
         TensorProto.UINT16: "uint16", TensorProto.INT32: "int32", TensorProto.INT64: "int64"}

# Values that exercise each type's range (exact in the type).
VALUES = {
    TensorProto.FLOAT: [0.1, -2.5, 3.4028234663852886e38, 1.401298464324817e-45, -0.0, 7.0],
    TensorProto.DOUBLE: [0.1, -1e300, 5e-324, 1.0 / 3.0, -0.0, 2.0 ** 60],
    TensorProto.FLOAT16: [0.333251953125, -65504.0, 5.960464477539063e-08, 1.0, -0.0, 0.5],
    TensorProto.BFLOAT16: [0.333984375, -3.3895313892515355e38, 9.183549615799121e-41,
                           1.0, -0.0, 0.5],
    TensorProto.INT8: [-128, 127, 0, -1, 5, 64],
    TensorProto.UINT8: [0, 255, 1, 128, 7, 200],
    TensorProto.INT16: [-32768, 32767, 0, -1, 300, -300],
    TensorProto.UINT16: [0, 65535, 1, 32768, 7, 40000],
    TensorProto.INT32: [-2147483648, 2147483647, 0, -1, 100000, -7],
    TensorProto.INT64: [-(2 ** 53), 2 ** 53, 0, -1, 2 ** 40 + 3, -7],
}


def bf16_bits(values):
    """bfloat16 bit patterns; every value in VALUES is exact in bfloat16."""
    bits = np.array(values, dtype=np.float32).view(np.uint32)
    assert np.all(bits & 0xFFFF == 0), "value not exact in bfloat16"
    return (bits >> 16).astype(np.int64).tolist()


def tensor_raw(name, dt, dims, values):
    t = TensorProto(name=name, data_type=dt, dims=dims)
    if dt == TensorProto.BFLOAT16:
        t.raw_data = np.array(bf16_bits(values), dtype="<u2").tobytes()
    else:
        t.raw_data = np.array(values, dtype=TYPES[dt][1]).astype(
            np.dtype(TYPES[dt][1]).newbyteorder("<")).tobytes()
    return t


def tensor_typed(name, dt, dims, values):
    """The typed fields as the ONNX specification assigns them."""
    t = TensorProto(name=name, data_type=dt, dims=dims)
    if dt == TensorProto.FLOAT:
        t.float_data.extend(values)
    elif dt == TensorProto.DOUBLE:
        t.double_data.extend(values)
    elif dt == TensorProto.INT64:
        t.int64_data.extend(values)
    elif dt == TensorProto.FLOAT16:
        t.int32_data.extend(np.array(values, dtype=np.float16).view(np.uint16).astype(int).tolist())
    elif dt == TensorProto.BFLOAT16:
        t.int32_data.extend(bf16_bits(values))
    else:
        t.int32_data.extend(values)
    return t


class Expect:
    """Writer of NAME.txt / NAME.f64."""

    def __init__(self):
        self.lines, self.values = [], []

    def tensor(self, name, dtype, arr, in_out, r0=0, r1=None):
        view = np.asarray(arr, dtype=np.float64)
        if view.ndim == 2 and in_out:
            view = view.T
        rows = view.shape[0] if view.ndim >= 2 else 1
        r1 = rows if r1 is None else r1
        flat = view.reshape(rows, -1) if view.ndim >= 1 else view.reshape(1, 1)
        dims = " ".join(str(d) for d in view.shape)
        self.lines.append("tensor %s %s %d %d %s %d %d %d" % (
            name, dtype, in_out, view.ndim, dims, r0, r1, len(self.values)))
        self.values.extend(flat[r0:r1].reshape(-1).tolist())

    def write(self, stem):
        with open(os.path.join(OUT, stem + ".txt"), "w") as f:
            f.write("\n".join(self.lines) + "\n")
        with open(os.path.join(OUT, stem + ".f64"), "wb") as f:
            f.write(struct.pack("<%dd" % len(self.values), *self.values))


def to_f64(t):
    """Values of a TensorProto as float64, by the reference implementation."""
    if t.data_type == TensorProto.BFLOAT16:  # numpy has no bfloat16
        bits = (np.frombuffer(t.raw_data, "<u2").astype(np.uint32) if t.raw_data
                else np.array(t.int32_data, dtype=np.uint32))
        return (bits << 16).view(np.float32).astype(np.float64).reshape(tuple(t.dims))
    return numpy_helper.to_array(t).astype(np.float64)


def synthetic():
    ex = Expect()
    inits = []
    # Every supported element type, in raw_data and in the typed fields.
    for dt, (fs_name, _) in TYPES.items():
        for how, make in (("raw", tensor_raw), ("typed", tensor_typed)):
            t = make("%s_%s" % (how, SHORT[dt]), dt, [2, 3], VALUES[dt])
            inits.append(t)
            ex.tensor(t.name, fs_name, to_f64(t), 0)

    rng = np.random.default_rng(7)
    mat = lambda *s: rng.standard_normal(s).astype(np.float32)
    # MatMul B and Gemm B (transB = 0) are [in, out]; Gemm with transB = 1
    # and Conv weights are [out, in, ...].
    w_mm, w_gemm_t, w_gemm_n, w_conv = mat(4, 3), mat(3, 4), mat(4, 3), mat(2, 1, 3, 3)
    b_gemm = mat(3)
    for name, w in (("w_matmul", w_mm), ("w_gemm_transB1", w_gemm_t),
                    ("w_gemm_transB0", w_gemm_n), ("b_gemm", b_gemm)):
        inits.append(numpy_helper.from_array(w, name))
    ex.tensor("w_matmul", "F32", w_mm, 1)
    ex.tensor("w_gemm_transB1", "F32", w_gemm_t, 0)
    ex.tensor("w_gemm_transB0", "F32", w_gemm_n, 1)
    ex.tensor("b_gemm", "F32", b_gemm, 0)

    # Constant nodes: a conv kernel in raw_data, a MatMul weight in
    # float_data, a 3-D tensor (never transposed).
    c_conv = numpy_helper.from_array(w_conv, "ignored")
    c_mm = tensor_typed("ignored", TensorProto.FLOAT, [3, 2], mat(3, 2).ravel().tolist())
    c_3d = numpy_helper.from_array(mat(2, 2, 2).astype(np.float64), "ignored")
    nodes = [
        helper.make_node("Constant", [], ["k_conv"], value=c_conv, name="c0"),
        helper.make_node("Constant", [], ["k_mm"], value=c_mm, name="c1"),
        helper.make_node("Constant", [], ["k_3d"], value=c_3d, name="c2"),
        helper.make_node("MatMul", ["x", "w_matmul"], ["h1"]),
        helper.make_node("Gemm", ["x", "w_gemm_transB1", "b_gemm"], ["h2"], transB=1),
        helper.make_node("Gemm", ["x", "w_gemm_transB0"], ["h3"], transB=0),
        helper.make_node("MatMul", ["h1", "k_mm"], ["h4"]),
        helper.make_node("Conv", ["img", "k_conv"], ["h5"]),
        helper.make_node("Add", ["k_3d", "k_3d"], ["h6"]),
    ]
    ex.tensor("k_conv", "F32", w_conv, 0)
    ex.tensor("k_mm", "F32", to_f64(c_mm), 1)
    ex.tensor("k_3d", "F64", to_f64(c_3d), 0)

    # An If whose branches hold Constant nodes (one of them a MatMul weight
    # inside the branch) and an initializer of their own.
    then_w = tensor_typed("ignored", TensorProto.DOUBLE, [2, 2], [1.5, -2.25, 1e-300, 4.0])
    else_w = tensor_raw("ignored", TensorProto.FLOAT16, [2, 2], [0.5, -1.0, 2.0, 65504.0])
    else_init = tensor_raw("else_init", TensorProto.FLOAT, [2, 2], [1.0, 2.0, 3.0, 4.0])
    out2 = lambda n: [helper.make_tensor_value_info(n, TensorProto.DOUBLE, [2, 2])]
    then_g = helper.make_graph(
        [helper.make_node("Constant", [], ["then_w"], value=then_w),
         helper.make_node("MatMul", ["then_w", "then_w"], ["then_out"])],
        "then", [], out2("then_out"))
    else_g = helper.make_graph(
        [helper.make_node("Constant", [], ["else_w"], value=else_w),
         helper.make_node("MatMul", ["else_w", "else_init"], ["else_h"]),
         helper.make_node("Cast", ["else_h"], ["else_out"], to=TensorProto.DOUBLE)],
        "else", [], out2("else_out"), initializer=[else_init])
    nodes.append(helper.make_node("If", ["cond"], ["h7"], then_branch=then_g,
                                  else_branch=else_g))
    ex.tensor("then_w", "F64", to_f64(then_w), 1)   # B of the branch's MatMul
    ex.tensor("else_w", "F16", to_f64(else_w), 0)   # A of the MatMul: as stored
    ex.tensor("else_init", "F32", to_f64(else_init), 1)

    g = helper.make_graph(
        nodes, "fixture",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]),
         helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 1, 5, 5]),
         helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in
         (("h2", [1, 3]), ("h3", [1, 3]), ("h4", [1, 2]), ("h5", [1, 2, 3, 3]))] +
        [helper.make_tensor_value_info(n, TensorProto.DOUBLE, s) for n, s in
         (("h6", [2, 2, 2]), ("h7", [2, 2]))],
        initializer=inits, doc_string="graph of the flagscope ONNX fixture")
    m = helper.make_model(g, producer_name="flagscope make_onnx.py", producer_version="1",
                          doc_string="flagscope ONNX reader test fixture",
                          opset_imports=[helper.make_opsetid("", 13),
                                         helper.make_opsetid("com.example", 2)])
    m.ir_version = 8
    helper.set_model_props(m, {"purpose": "unit test"})
    onnx.checker.check_model(m)
    path = os.path.join(OUT, "mixed.onnx")
    onnx.save(m, path)

    # The model as the reference reader sees it: number of tensors, metadata.
    n = len(inits) + 3 + 3
    ex.lines[:0] = ["ntensors %d" % n, "meta ir_version 8", "meta opset 13",
                    "meta opset.com.example 2",
                    "meta producer_name flagscope make_onnx.py",
                    "meta doc_string flagscope ONNX reader test fixture",
                    "meta metadata.purpose unit test"]
    ex.write("mixed")
    hostile(m)


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def small_model(t):
    g = helper.make_graph([], "h", [], [], initializer=[t])
    m = helper.make_model(g, producer_name="hostile")
    m.ir_version = 8
    return m.SerializeToString()


def hostile(good):
    d = os.path.join(OUT, "hostile")
    os.makedirs(d, exist_ok=True)
    data = small_model(tensor_raw("w", TensorProto.FLOAT, [2, 3], [1, 2, 3, 4, 5, 6]))
    put = lambda name, b: open(os.path.join(d, name), "wb").write(b)
    put("truncated.onnx", data[: len(data) - 7])
    # A graph field (7) that claims 1000 bytes where 3 follow.
    put("length_past_end.onnx", varint(1 << 3 | 0) + varint(8) + varint(7 << 3 | 2) +
        varint(1000) + b"abc")
    t = TensorProto(name="huge", data_type=TensorProto.FLOAT,
                    dims=[1 << 40, 1 << 40], raw_data=b"\0" * 16)
    put("dims_overflow.onnx", small_model(t))
    t = TensorProto(name="short", data_type=TensorProto.FLOAT, dims=[2, 3],
                    raw_data=b"\0" * 20)
    put("raw_size.onnx", small_model(t))
    t = TensorProto(name="typed_short", data_type=TensorProto.FLOAT, dims=[2, 3],
                    float_data=[1, 2, 3, 4, 5])
    put("typed_count.onnx", small_model(t))
    t = TensorProto(name="outside", data_type=TensorProto.FLOAT, dims=[2, 3],
                    data_location=TensorProto.EXTERNAL)
    e = t.external_data.add()
    e.key, e.value = "location", "weights.bin"
    put("external.onnx", small_model(t))
    t = TensorProto(name="neg", data_type=TensorProto.FLOAT, dims=[-2, 3])
    put("negative_dim.onnx", small_model(t))
    t = TensorProto(name="words", data_type=TensorProto.STRING, dims=[1], string_data=[b"a"])
    put("string.onnx", small_model(t))
    t = TensorProto(name="i8_range", data_type=TensorProto.INT8, dims=[2],
                    int32_data=[1, 300])
    put("int8_range.onnx", small_model(t))
    # Graphs nested in If branches deeper than any real model.
    g = helper.make_graph([], "leaf", [], [])
    for _ in range(60):
        g = helper.make_graph([helper.make_node("If", ["c"], [], then_branch=g)],
                              "level", [], [])
    m = helper.make_model(g)
    put("deep.onnx", m.SerializeToString())


def ppocr(path):
    m = onnx.load(path)
    consts = {n.output[0]: a.t for n in m.graph.node if n.op_type == "Constant"
              for a in n.attribute if a.name == "value"}
    assert len(m.graph.initializer) == 0
    ex = Expect()
    ex.lines.append("ntensors %d" % (len(consts) + len(m.graph.initializer)))
    ex.lines.append("meta ir_version %d" % m.ir_version)
    ex.lines.append("meta opset %d" % m.opset_import[0].version)
    matmul_b = {n.input[1] for n in m.graph.node if n.op_type == "MatMul"}
    # The fused qkv of the first transformer block, the CTC head, a conv kernel
    # and a bias: a few rows of each.
    picks = [("linear_77.w_0", 0, 2), ("linear_77.w_0", 358, 360),
             ("linear_85.w_0", 6623, 6625), ("linear_77.b_0", 0, 1)]
    conv = next(n.input[1] for n in m.graph.node if n.op_type == "Conv")
    picks.append((conv, 0, 2))
    for name, r0, r1 in picks:
        t = consts[name]
        arr = numpy_helper.to_array(t)
        in_out = int(name in matmul_b and arr.ndim == 2)
        ex.tensor(name, TYPES[t.data_type][0], arr, in_out, r0, r1)
    ex.write("ppocr_rec")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    if len(sys.argv) == 3 and sys.argv[1] == "--ppocr":
        ppocr(sys.argv[2])
    elif len(sys.argv) == 1:
        synthetic()
    else:
        sys.exit(__doc__)
