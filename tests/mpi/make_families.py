#!/usr/bin/python3
"""Write tiny checkpoints of the transformer families flagscope recognises,
with random weights and the real families' tensor names, layouts and
config.json (width 16, 4 heads, MLP 64, 2 blocks): GPT-2 (Conv1D [in, out],
fused c_attn; in block 0 query head 1 copies head 0 and value head 2 has rank 2), GPT-NeoX (fused QKV interleaved per head), BERT (post-norm),
ViT (patch convolution); and two convolutional networks with BatchNorm
(random running statistics): a torchvision-named ResNet of two stages, the
second opening with a downsample block, and a LeNet-named CNN chain whose
first linear layer reads a flattened [C, H, W] map; a Qwen2-style
grouped-query model (Llama names, q/k/v biases); and a scaled-down PP-OCRv4
recogniser as an ONNX file with Paddle's names (see ppocr_onnx); face-api's
tiny face detector scaled down as TF.js (separable convolutions).
usage: make_families.py DIR"""
import json
import os
import struct
import sys

import numpy as np

rng = np.random.default_rng(7)
D, H, F, V = 16, 4, 64, 50


def w(*shape):
    return rng.standard_normal(shape) / np.sqrt(shape[-1])


def gain():
    return 1 + 0.3 * rng.standard_normal(D)


def write(folder, tensors, config):
    os.makedirs(folder, exist_ok=True)
    hdr, blobs, pos = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        hdr[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [pos, pos + len(b)]}
        blobs.append(b)
        pos += len(b)
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f)


def gpt2():
    t = {"wte.weight": w(V, D)}
    for b in range(2):
        p = "h.%d." % b
        t.update({p + "ln_1.weight": gain(), p + "attn.c_attn.weight": w(D, 3 * D),
                  p + "attn.c_proj.weight": w(D, D), p + "ln_2.weight": gain(),
                  p + "mlp.c_fc.weight": w(D, F), p + "mlp.c_proj.weight": w(F, D)})
    t["ln_f.weight"] = gain()
    # Known head answers in block 0 (after every random draw, so the other
    # tensors are unchanged): query head 1 is a copy of query head 0
    # (overlap 1, full intersection), value head 2 has rank 2 of its 4.
    a, dh = t["h.0.attn.c_attn.weight"], D // H
    a[:, dh:2 * dh] = a[:, 0:dh]
    v2 = slice(2 * D + 2 * dh, 2 * D + 3 * dh)
    a[:, v2] = a[:, v2][:, :2] @ np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 2.0]])  # exact in F32
    return t, {"model_type": "gpt2", "n_head": H, "n_embd": D}


def neox():
    t = {"gpt_neox.embed_in.weight": w(V, D)}
    for b in range(2):
        p = "gpt_neox.layers.%d." % b
        t.update({p + "input_layernorm.weight": gain(),
                  p + "attention.query_key_value.weight": w(3 * D, D),
                  p + "attention.dense.weight": w(D, D), p + "post_attention_layernorm.weight": gain(),
                  p + "mlp.dense_h_to_4h.weight": w(F, D), p + "mlp.dense_4h_to_h.weight": w(D, F)})
    t.update({"gpt_neox.final_layer_norm.weight": gain(), "embed_out.weight": w(V, D)})
    return t, {"model_type": "gpt_neox", "num_attention_heads": H, "hidden_size": D}


def bert():
    t = {"bert.embeddings.word_embeddings.weight": w(V, D), "bert.embeddings.LayerNorm.weight": gain()}
    for b in range(2):
        p = "bert.encoder.layer.%d." % b
        t.update({p + "attention.self.query.weight": w(D, D), p + "attention.self.key.weight": w(D, D),
                  p + "attention.self.value.weight": w(D, D),
                  p + "attention.output.dense.weight": w(D, D),
                  p + "attention.output.LayerNorm.weight": gain(),
                  p + "intermediate.dense.weight": w(F, D), p + "output.dense.weight": w(D, F),
                  p + "output.LayerNorm.weight": gain()})
    return t, {"model_type": "bert", "num_attention_heads": H, "hidden_size": D}


def vit():
    t = {"vit.embeddings.patch_embeddings.projection.weight": w(D, 3, 2, 2)}
    for b in range(2):
        p = "vit.encoder.layer.%d." % b
        t.update({p + "layernorm_before.weight": gain(),
                  p + "attention.attention.query.weight": w(D, D),
                  p + "attention.attention.key.weight": w(D, D),
                  p + "attention.attention.value.weight": w(D, D),
                  p + "attention.output.dense.weight": w(D, D), p + "layernorm_after.weight": gain(),
                  p + "intermediate.dense.weight": w(F, D), p + "output.dense.weight": w(D, F)})
    t.update({"vit.layernorm.weight": gain(), "classifier.weight": w(10, D)})
    return t, {"model_type": "vit", "num_attention_heads": H, "hidden_size": D}


def conv(co, ci, k):
    return rng.standard_normal((co, ci, k, k)) / np.sqrt(ci * k * k)


def bn(t, module, c):
    t.update({module + ".weight": 1 + 0.3 * rng.standard_normal(c),
              module + ".bias": 0.1 * rng.standard_normal(c),
              module + ".running_mean": 0.1 * rng.standard_normal(c),
              module + ".running_var": rng.uniform(0.2, 3.0, c)})


def resnet():
    t = {"conv1.weight": conv(4, 3, 3)}
    bn(t, "bn1", 4)
    for stage, (ci, co) in enumerate(((4, 4), (4, 8)), 1):
        p = "layer%d.0." % stage
        t[p + "conv1.weight"] = conv(co, ci, 3)
        bn(t, p + "bn1", co)
        t[p + "conv2.weight"] = conv(co, co, 3)
        bn(t, p + "bn2", co)
        if ci != co:
            t[p + "downsample.0.weight"] = conv(co, ci, 1)
            bn(t, p + "downsample.1", co)
    t.update({"fc.weight": w(5, 8), "fc.bias": 0.1 * rng.standard_normal(5)})
    return t, {"model_type": "resnet"}


def cnn():
    t = {"conv1.weight": conv(4, 2, 3)}
    bn(t, "bn1", 4)
    t.update({"conv2.weight": conv(6, 4, 3), "conv2.bias": 0.1 * rng.standard_normal(6),
              "fc1.weight": w(10, 6 * 2 * 2), "fc2.weight": w(3, 10)})
    return t, {"batch_norm_eps": 1e-3}


def qwen():
    """Qwen2/Mistral-style grouped-query attention in Hugging Face Llama names:
    4 query heads sharing 2 key/value heads of size 4, q/k/v biases."""
    kv, hd = 2, D // H
    t = {"model.embed_tokens.weight": w(V, D)}
    for b in range(2):
        p = "model.layers.%d." % b
        t.update({p + "input_layernorm.weight": gain(),
                  p + "self_attn.q_proj.weight": w(H * hd, D), p + "self_attn.q_proj.bias": gain(),
                  p + "self_attn.k_proj.weight": w(kv * hd, D),
                  p + "self_attn.k_proj.bias": 0.1 * rng.standard_normal(kv * hd),
                  p + "self_attn.v_proj.weight": w(kv * hd, D),
                  p + "self_attn.v_proj.bias": 0.1 * rng.standard_normal(kv * hd),
                  p + "self_attn.o_proj.weight": w(D, H * hd),
                  p + "post_attention_layernorm.weight": gain(),
                  p + "mlp.gate_proj.weight": w(F, D), p + "mlp.up_proj.weight": w(F, D),
                  p + "mlp.down_proj.weight": w(D, F)})
    t.update({"model.norm.weight": gain(), "lm_head.weight": w(V, D)})
    return t, {"model_type": "qwen2", "num_attention_heads": H, "num_key_value_heads": kv,
               "hidden_size": D}


def ppocr_onnx(path):
    """A scaled-down PP-OCRv4 recogniser as paddle2onnx writes it: weights in
    Constant nodes with Paddle's names, Linear weights [in, out] fed to MatMul,
    creation numbers out of forward order (the neck's convs numbered before the
    re-parameterised backbone's), nodes in forward order.  Stem conv2d_1 +
    batch_norm2d_1 (8 ch); depthwise 30; pointwise 31 (8 -> 24); depthwise 32
    with a squeeze-excitation 5/6 (24 -> 6 -> 24); pointwise 33; neck conv2d_10
    (24 -> 4, 1x3) and 11 (4 -> 16) with BatchNorms 2, 3; one SVTR block of
    width 16, 8 heads of 2 (linear_1 qkv, 2 proj, 3 fc1, 4 fc2; layer_norm_1,
    2; final 3); conv2d_12 (16 -> 24) + bn 4; conv2d_13 reading concat(backbone
    24, conv2d_12 24), 1x3, -> 4, + bn 5; conv2d_14 (4 -> 16) + bn 6; CTC head
    linear_5.  Pairs by hand: chain 9 (stem -> 31 through the depthwise 30,
    31 -> SE 5 -> 6, 31 -> 33, 33 -> 10 -> 11, the two concat halves, 13 -> 14),
    residual 5, mlp 1, ov 8, classifier 1."""
    import onnx
    from onnx import helper, numpy_helper
    nodes, n = [], [0]

    def const(name, a):
        nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(
            np.asarray(a, dtype=np.float32), name)))
        return name

    def op(kind, *inputs):
        n[0] += 1
        out = "t%d" % n[0]
        nodes.append(helper.make_node(kind, list(inputs), [out]))
        return out

    def convl(x, num, co, ci, kh, kw, bias):
        wname = const("conv2d_%d.w_0" % num, rng.standard_normal((co, ci, kh, kw)) / np.sqrt(ci * kh * kw))
        if bias:
            return op("Conv", x, wname, const("conv2d_%d.b_0" % num, 0.1 * rng.standard_normal(co)))
        return op("Conv", x, wname)

    def bnl(x, num, c):
        names = [const("batch_norm2d_%d.%s" % (num, k), v) for k, v in (
            ("w_0", 1 + 0.3 * rng.standard_normal(c)), ("b_0", 0.1 * rng.standard_normal(c)),
            ("w_1", 0.1 * rng.standard_normal(c)), ("w_2", rng.uniform(0.2, 3.0, c)))]
        return op("HardSwish", op("BatchNormalization", x, *names))

    def linear(x, num, i, o):
        y = op("MatMul", x, const("linear_%d.w_0" % num, rng.standard_normal((i, o)) / np.sqrt(i)))
        return op("Add", y, const("linear_%d.b_0" % num, 0.1 * rng.standard_normal(o)))

    def lnorm(x, num, c):
        y = op("Mul", x, const("layer_norm_%d.w_0" % num, 1 + 0.3 * rng.standard_normal(c)))
        return op("Add", y, const("layer_norm_%d.b_0" % num, 0.1 * rng.standard_normal(c)))

    x = bnl(convl("x", 1, 8, 3, 3, 3, False), 1, 8)
    x = convl(x, 30, 8, 1, 3, 3, True)
    x = op("HardSwish", convl(x, 31, 24, 8, 1, 1, True))
    x = convl(x, 32, 24, 1, 3, 3, True)
    se = convl(op("GlobalAveragePool", x), 5, 6, 24, 1, 1, True)
    se = convl(op("Relu", se), 6, 24, 6, 1, 1, True)
    x = op("Mul", x, op("HardSigmoid", se))
    h = x = op("HardSwish", convl(x, 33, 24, 24, 1, 1, True))
    z = bnl(convl(x, 10, 4, 24, 1, 3, False), 2, 4)
    z = bnl(convl(z, 11, 16, 4, 1, 1, False), 3, 16)
    qkv = linear(lnorm(z, 1, 16), 1, 16, 48)
    z = op("Add", z, linear(op("Softmax", qkv), 2, 16, 16))
    z = op("Add", z, linear(op("HardSwish", linear(lnorm(z, 2, 16), 3, 16, 32)), 4, 32, 16))
    z = bnl(convl(lnorm(z, 3, 16), 12, 24, 16, 1, 1, False), 4, 24)
    z = bnl(convl(op("Concat", h, z), 13, 4, 48, 1, 3, False), 5, 4)
    z = bnl(convl(z, 14, 16, 4, 1, 1, False), 6, 16)
    y = linear(z, 5, 16, 10)
    graph = helper.make_graph(nodes, "Model from PaddlePaddle.",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info(y, onnx.TensorProto.FLOAT, None)])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(helper.make_model(graph, producer_name="make_families"), path)


def tfjs_separable(folder):
    """face-api's tiny face detector scaled down, as a TF.js weights manifest
    and shard (float32, TF layouts): conv0/filters [3, 3, 3, 4], then
    separable convs conv1..conv3 (depthwise_filter [3, 3, C, 1], pointwise_filter
    [1, 1, C, 2C], bias), a 1x1 head conv8/filters [1, 1, 32, 5], and a dense
    fc/weights [5, 3] ([in, out]).  Pairs by hand: conv0 -> conv1 pointwise ->
    conv2 -> conv3 -> conv8 (4 chain, through the depthwise convs), conv8 -> fc
    (classifier)."""
    ws = [("conv0/filters", rng.standard_normal((3, 3, 3, 4)) / np.sqrt(27)),
          ("conv0/bias", 0.1 * rng.standard_normal(4))]
    c = 4
    for i in (1, 2, 3):
        ws += [("conv%d/depthwise_filter" % i, rng.standard_normal((3, 3, c, 1)) / 3),
               ("conv%d/pointwise_filter" % i, rng.standard_normal((1, 1, c, 2 * c)) / np.sqrt(c)),
               ("conv%d/bias" % i, 0.1 * rng.standard_normal(2 * c))]
        c *= 2
    ws += [("conv8/filters", rng.standard_normal((1, 1, c, 5)) / np.sqrt(c)),
           ("conv8/bias", 0.1 * rng.standard_normal(5)), ("fc/weights", w(5, 3))]
    os.makedirs(folder, exist_ok=True)
    blob = b"".join(np.ascontiguousarray(a, dtype="<f4").tobytes() for _, a in ws)
    with open(os.path.join(folder, "model.bin"), "wb") as f:
        f.write(blob)
    manifest = [{"paths": ["model.bin"], "weights": [
        {"name": n, "shape": list(a.shape), "dtype": "float32"} for n, a in ws]}]
    with open(os.path.join(folder, "model-weights_manifest.json"), "w") as f:
        json.dump(manifest, f)


if __name__ == "__main__":
    for name, make in (("gpt2", gpt2), ("neox", neox), ("bert", bert), ("vit", vit),
                       ("resnet", resnet), ("cnn", cnn), ("qwen", qwen)):
        tensors, config = make()
        write(os.path.join(sys.argv[1], name), tensors, config)
    ppocr_onnx(os.path.join(sys.argv[1], "ppocr", "model.onnx"))
    tfjs_separable(os.path.join(sys.argv[1], "tfjs_separable"))
