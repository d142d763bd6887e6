#!/usr/bin/python3
"""Write tiny checkpoints of the transformer families flagscope recognises,
with random weights and the real families' tensor names, layouts and
config.json (width 16, 4 heads, MLP 64, 2 blocks): GPT-2 (Conv1D [in, out],
fused c_attn; in block 0 query head 1 copies head 0 and value head 2 has rank 2), GPT-NeoX (fused QKV interleaved per head), BERT (post-norm),
ViT (patch convolution); and two convolutional networks with BatchNorm
(random running statistics): a torchvision-named ResNet of two stages, the
second opening with a downsample block, and a LeNet-named CNN chain whose
first linear layer reads a flattened [C, H, W] map.
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


if __name__ == "__main__":
    for name, make in (("gpt2", gpt2), ("neox", neox), ("bert", bert), ("vit", vit),
                       ("resnet", resnet), ("cnn", cnn)):
        tensors, config = make()
        write(os.path.join(sys.argv[1], name), tensors, config)
