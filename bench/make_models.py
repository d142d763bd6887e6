#!/usr/bin/python3
"""Generate benchmark checkpoints (never committed; written under OUTDIR).

  make_models.py OUTDIR gpt2     GPT-2-small shape: 124.4M parameters, F32
                                 safetensors + config.json (OUTDIR/gpt2-small/)
  make_models.py OUTDIR llama    one block of Llama-7B: q, k, v, o 4096x4096,
                                 gate, up 11008x4096, down 4096x11008
                                 (OUTDIR/llama7b-block/)

Every weight matrix is W = H_1 diag(s) H_2^T with s_i = c * i^{-1/2} (a slowly
decaying, power-law spectrum like trained weights'), H_1, H_2 random
orthogonal matrices applied as three rounds of random signs, a random
permutation and an orthonormal Hartley transform (dense, fully mixing
factors at O(mn log n) cost; Haar-random ones would cost O(n^3) per matrix,
minutes for the Llama shapes), and c chosen so
that the entries have standard deviation 0.02 (GPT-2's initialisation scale).
Norm gains are 1 and biases 0.  Deterministic (fixed seed).  Debian's numpy.
"""
import json
import os
import struct
import sys

import numpy as np


def hartley(X, axis):
    """Orthonormal discrete Hartley transform along axis (real, O(n log n))."""
    F = np.fft.fft(X, axis=axis)
    return (F.real - F.imag) / np.sqrt(X.shape[axis])


def mix(rng, W, axis):
    """W <- Q W (axis 0) or W Q^T (axis 1) for a random orthogonal Q: three
    rounds of random signs, a random permutation and a Hartley transform."""
    n = W.shape[axis]
    for _ in range(3):
        p, d = rng.permutation(n), rng.choice([-1.0, 1.0], n)
        W = np.take(W, p, axis=axis)
        W *= d[:, None] if axis == 0 else d[None, :]
        W = hartley(W, axis)
    return W


def spectral_matrix(rng, m, n, std=0.02):
    r = min(m, n)
    s = 1.0 / np.sqrt(np.arange(1, r + 1))
    s *= std * np.sqrt(m * n / np.sum(s * s))
    W = np.zeros((m, n), dtype=np.float64)
    W[np.arange(r), np.arange(r)] = s
    return mix(rng, mix(rng, W, 0), 1).astype(np.float32)


def write_safetensors(path, tensors, meta=None):
    """tensors: list of (name, float32 array), written in order."""
    header, off = {}, 0
    for name, a in tensors:
        nbytes = a.size * 4
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [off, off + nbytes]}
        off += nbytes
    if meta:
        header["__metadata__"] = meta
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for _, a in tensors:
            f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())


def gpt2(outdir):
    rng = np.random.default_rng(124)
    d, L, V, P = 768, 12, 50257, 1024
    ones, zeros = np.ones(d, np.float32), np.zeros(d, np.float32)
    t = [("wte.weight", spectral_matrix(rng, V, d)),
         ("wpe.weight", spectral_matrix(rng, P, d))]
    for b in range(L):
        p = f"h.{b}."
        # Conv1D: stored [in, out]
        t += [(p + "ln_1.weight", ones), (p + "ln_1.bias", zeros),
              (p + "attn.c_attn.weight", spectral_matrix(rng, d, 3 * d)),
              (p + "attn.c_attn.bias", np.zeros(3 * d, np.float32)),
              (p + "attn.c_proj.weight", spectral_matrix(rng, d, d)),
              (p + "attn.c_proj.bias", zeros),
              (p + "ln_2.weight", ones), (p + "ln_2.bias", zeros),
              (p + "mlp.c_fc.weight", spectral_matrix(rng, d, 4 * d)),
              (p + "mlp.c_fc.bias", np.zeros(4 * d, np.float32)),
              (p + "mlp.c_proj.weight", spectral_matrix(rng, 4 * d, d)),
              (p + "mlp.c_proj.bias", zeros)]
    t += [("ln_f.weight", ones), ("ln_f.bias", zeros)]
    out = os.path.join(outdir, "gpt2-small")
    os.makedirs(out, exist_ok=True)
    write_safetensors(os.path.join(out, "model.safetensors"), t, {"format": "pt"})
    cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": d,
           "n_head": 12, "n_layer": L, "n_positions": P, "vocab_size": V}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    print(f"{out}: {sum(a.size for _, a in t) / 1e6:.1f}M parameters")


def llama(outdir):
    rng = np.random.default_rng(7)
    d, f = 4096, 11008
    p = "model.layers.0."
    t = [(p + "input_layernorm.weight", np.ones(d, np.float32))]
    for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
        t.append((p + "self_attn." + name + ".weight", spectral_matrix(rng, d, d)))
    t.append((p + "post_attention_layernorm.weight", np.ones(d, np.float32)))
    t += [(p + "mlp.gate_proj.weight", spectral_matrix(rng, f, d)),
          (p + "mlp.up_proj.weight", spectral_matrix(rng, f, d)),
          (p + "mlp.down_proj.weight", spectral_matrix(rng, d, f))]
    out = os.path.join(outdir, "llama7b-block")
    os.makedirs(out, exist_ok=True)
    write_safetensors(os.path.join(out, "model.safetensors"), t, {"format": "pt"})
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": d,
           "intermediate_size": f, "num_hidden_layers": 1, "num_attention_heads": 32,
           "num_key_value_heads": 32, "vocab_size": 32000}
    with open(os.path.join(out, "config.json"), "w") as f_:
        json.dump(cfg, f_, indent=1)
    print(f"{out}: {sum(a.size for _, a in t) / 1e6:.1f}M parameters")


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[2] not in ("gpt2", "llama"):
        sys.exit(__doc__)
    {"gpt2": gpt2, "llama": llama}[sys.argv[2]](sys.argv[1])
