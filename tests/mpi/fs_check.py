#!/usr/bin/python3
"""Independent checks of flagscope's HDF5 output, with numpy (LAPACK) and h5py.

  fs_check.py numbers OUT.h5    recompute every matrix and pair of the safetensors
                                models from the checkpoint bytes: full SVDs, dense
                                Grams and commutators, principal angles
  fs_check.py same A.h5 B.h5..  the same results in every file (runs at 1, 2, 3
                                ranks), timings and provenance aside
  fs_check.py convert CONVERTED ORIGINAL DTYPE same|gguf
                                a file written by flagscope convert equals the original
                                (same names, or GGUF names mapped to Hugging Face ones)
  fs_check.py schema OUT.h5 DOC.md
                                every dataset and attribute is documented
  fs_check.py expect OUT.h5 MODEL STATUS [TEXT]
                                the model whose path ends in MODEL has STATUS and
                                its error text contains TEXT

Nothing here shares code with flagscope: safetensors are parsed with the
standard library and numpy, following the format's specification.
"""
import json
import struct
import sys

import h5py
import numpy as np

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2"}


def load_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack_from("<Q", raw)[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        buf = raw[8 + n + b:8 + n + e]
        if t["dtype"] == "BF16":
            a = (np.frombuffer(buf, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(buf, DTYPES[t["dtype"]])
        out[name] = a.astype(np.float64).reshape(t["shape"])
    return out


def s(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def column(f, path):
    return f[path][()]


def matrix_of(tensors, m, i):
    """The analysed matrix of row i of /matrices, rebuilt from the checkpoint:
    row blocks and columns of the stored view, the folded gain multiplying the
    map's inputs (columns, or rows when the map is the transpose)."""
    t = tensors[s(m["tensor"][i])]
    t = t.reshape(t.shape[0], -1) if t.ndim > 1 else t.reshape(1, -1)
    r0, c0, rows, cols = (int(m[c][i]) for c in ("row0", "col0", "rows", "cols"))
    rep, step = int(m["row_blocks"][i]), int(m["row_step"][i])
    blk = rows // rep
    idx = np.concatenate([np.arange(r0 + b * step, r0 + b * step + blk) for b in range(rep)])
    w = t[idx][:, c0:c0 + cols].copy()
    fold = s(m["fold"][i])
    if fold:
        if m["transposed"][i]:
            w *= tensors[fold][idx][:, None]
        else:
            w *= tensors[fold][c0:c0 + cols][None, :]
    return w


def angles(u, v):
    """Principal angles, ascending: cosines from U^T V, sines of the smaller basis
    projected on the complement of the larger (Bjorck-Golub / Knyazev-Argentati)."""
    if u.shape[1] < v.shape[1]:
        u, v = v, u
    cos = np.clip(np.linalg.svd(u.T @ v, compute_uv=False), 0, 1)
    sin = np.clip(np.sort(np.linalg.svd(v - u @ (u.T @ v), compute_uv=False)), 0, 1)
    th = np.arccos(cos)  # descending cosines: ascending angles
    small = th < np.pi / 4
    th[small] = np.arcsin(sin[small])
    return th


def gram_diagnostics(u, b, v, a):
    A = (v * a) @ v.T
    B = (u * b) @ u.T
    C = A @ B - B @ A
    na, nb = np.linalg.norm(A), np.linalg.norm(B)
    kappa = np.linalg.norm(C) / (np.sqrt(2) * na * nb) if na * nb > 0 else 0.0
    bal = np.linalg.norm(A - B) / (na + nb) if na + nb > 0 else 0.0
    return kappa, bal


def kappa_random(d, a, b):
    """RMS kappa under a Haar rotation of one Gram (docs/mathematics.md, 6.3)."""
    p1, p2, q1, q2 = a.sum(), (a * a).sum(), b.sum(), (b * b).sum()
    if d < 2 or p2 == 0 or q2 == 0:
        return 0.0
    e_a2b2 = p2 * q2 / d
    e_abab = (p2 * q2 + p2 * q1 ** 2 + p1 ** 2 * q2) / (d * (d + 2)) \
        - (p1 ** 2 - p2) * (q1 ** 2 - q2) / ((d - 1) * d * (d + 2))
    return np.sqrt(max(2 * e_a2b2 - 2 * e_abab, 0) / (2 * p2 * q2))


def check_numbers(path):
    f = h5py.File(path, "r")
    mo, m, p = f["models"], f["matrices"], f["pairs"]
    eps = np.radians(f.attrs["eps_degrees"])
    tau = float(f.attrs["tau"][0])
    worst = dict(sigma=0.0, fro=0.0, theta=0.0, overlap=0.0, kappa=0.0, bal=0.0, kappa_rel=0.0)
    counted = dict(models=0, matrices=0, pairs=0, dims=0)
    for mi in range(len(mo["path"])):
        mpath = s(mo["path"][mi])
        if not mpath.endswith(".safetensors") or s(mo["status"][mi]) != "ok":
            continue
        counted["models"] += 1
        tensors = load_safetensors(mpath)
        m0, nm = int(mo["matrix_start"][mi]), int(mo["n_matrices"][mi])
        svd = {}
        for i in range(m0, m0 + nm):
            w = matrix_of(tensors, m, i)
            U, S, Vt = np.linalg.svd(w, full_matrices=False)
            k = int(m["k"][i])
            got = m["sigma"][int(m["sigma_offset"][i]):][:k]
            err = np.max(np.abs(got - S[:k])) / S[0] if S[0] > 0 else np.max(np.abs(got))
            worst["sigma"] = max(worst["sigma"], err)
            worst["fro"] = max(worst["fro"], abs(m["fro"][i] - np.linalg.norm(w)) / np.linalg.norm(w))
            assert int(m["numerical_rank"][i]) == int(np.sum(S[:k] > tau * S[0])), m["name"][i]
            svd[i] = (U, S, Vt.T, bool(m["transposed"][i]))
            counted["matrices"] += 1
        p0, npair = int(mo["pair_start"][mi]), int(mo["n_pairs"][mi])
        for j in range(p0, p0 + npair):
            wi, ri = int(p["writer"][j]), int(p["reader"][j])
            k, jj = int(p["k"][j]), int(p["j"][j])
            Uw, Sw, Vw, tw = svd[wi]
            Ur, Sr, Vr, tr = svd[ri]
            u = (Vw if tw else Uw)[:, :k]
            v = (Ur if tr else Vr)[:, :jj]
            th = angles(u, v)
            got = p["theta"][int(p["theta_offset"][j]):][:len(th)]
            worst["theta"] = max(worst["theta"], np.max(np.abs(got - th)))
            for e, ep in enumerate(eps):
                if np.all(np.abs(th - ep) > 1e-6):  # counts at the boundary are ill-posed
                    assert int(p["dim_eps%d" % e][j]) == int(np.sum(th <= ep)), (j, e)
                    counted["dims"] += 1
            ov = np.linalg.norm(u.T @ v) ** 2
            worst["overlap"] = max(worst["overlap"], abs(p["overlap"][j] - ov) / max(ov, 1e-300))
            assert abs(p["overlap_random"][j] - k * jj / u.shape[0]) < 1e-12
            kappa, bal = gram_diagnostics(u, Sw[:k] ** 2, v, Sr[:jj] ** 2)
            worst["kappa"] = max(worst["kappa"], abs(p["kappa"][j] - kappa))
            worst["bal"] = max(worst["bal"], abs(p["balancedness"][j] - bal))
            kr = kappa_random(u.shape[0], Sr[:jj] ** 2, Sw[:k] ** 2)
            worst["kappa_rel"] = max(worst["kappa_rel"], abs(p["kappa_random"][j] - kr) / max(kr, 1e-300),
                                     abs(p["kappa_rel"][j] - (kappa / kr if kr > 0 else 0.0)))
            counted["pairs"] += 1
    print("checked", counted)
    print("largest deviations from numpy/LAPACK:",
          ", ".join("%s %.2e" % kv for kv in worst.items()))
    assert counted["models"] > 0 and counted["pairs"] > 0, "nothing was checked"
    limits = dict(sigma=1e-10, fro=1e-12, theta=1e-6, overlap=1e-8, kappa=1e-8, bal=1e-8,
                  kappa_rel=1e-7)
    bad = [q for q in limits if not worst[q] <= limits[q]]
    assert not bad, "beyond tolerance: %s" % bad


SKIP = {"seconds", "rank", "iterations"}  # timings and placement, not results
SKIP_ATTRS = {"command_line", "created", "mpi_size", "seconds_plan_spectra_pairs_write"}


def flatten(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def check_same(paths):
    ref = h5py.File(paths[0], "r")
    rd = flatten(ref)
    for other in paths[1:]:
        g = h5py.File(other, "r")
        od = flatten(g)
        assert set(rd) == set(od), set(rd) ^ set(od)
        for name, a in rd.items():
            if name.split("/")[-1] in SKIP:
                continue
            b = od[name]
            assert a.shape == b.shape, name
            if a.dtype.kind == "f":
                ok = np.allclose(a, b, rtol=1e-10, atol=1e-12, equal_nan=True)
            else:
                ok = np.array_equal(a, b)
            assert ok, "%s differs between %s and %s" % (name, paths[0], other)
        for k, v in ref.attrs.items():
            if k not in SKIP_ATTRS:
                assert np.array_equal(np.asarray(v), np.asarray(g.attrs[k])), k
    print("identical results in", len(paths), "files:", len(rd), "datasets each")


def check_expect(path, model, status, text=""):
    f = h5py.File(path, "r")
    mo = f["models"]
    for i in range(len(mo["path"])):
        if s(mo["path"][i]).endswith(model):
            got, why = s(mo["status"][i]), s(mo["error"][i])
            assert got == status, "%s: status %s, expected %s (%s)" % (model, got, status, why)
            assert text in why, "%s: error '%s' lacks '%s'" % (model, why, text)
            print("%s: %s %s" % (model, got, why))
            return
    raise AssertionError("no model %s in %s" % (model, path))


GGUF_TO_HF = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
              "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
              "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
              "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}


def hf_name(gguf):
    parts = gguf.split(".")
    if parts[0] == "blk":
        return "model.layers.%s.%s.weight" % (parts[1], GGUF_TO_HF[parts[2]])
    return {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
            "output.weight": "lm_head.weight"}[gguf]


def bf16_bits(a):
    """Round float64 -> float32 (exact here) -> bf16, ties to even, as bit patterns."""
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def check_convert(converted, original, dtype, mapping):
    """Every tensor of the converted file equals the original's (read by numpy),
    exactly for 'keep'/F64/F32, and rounded to nearest even for F16/BF16."""
    raw = open(converted, "rb").read()
    n = struct.unpack_from("<Q", raw)[0]
    header = json.loads(raw[8:8 + n])
    got = load_safetensors(converted)
    ref = load_safetensors(original)
    count = 0
    for name, t in header.items():
        if name == "__metadata__":
            continue
        want = ref[hf_name(name) if mapping == "gguf" else name]
        g = got[name]
        assert g.shape == want.shape, name
        if dtype == "BF16":
            b = header[name]["data_offsets"]
            bits = np.frombuffer(raw[8 + n + b[0]:8 + n + b[1]], "<u2").reshape(want.shape)
            assert np.array_equal(bits, bf16_bits(want)), name
        elif dtype == "F16":
            assert np.array_equal(g, want.astype(np.float16).astype(np.float64)), name
        else:
            assert np.array_equal(g, want), name
        count += 1
    assert count > 0
    print("converted %s: %d tensors equal to %s (%s)" % (converted, count, original, dtype))


def check_schema(path, doc):
    """Every dataset and root attribute of the file is documented in doc."""
    text = open(doc).read()
    f = h5py.File(path, "r")
    missing = [k for k in f.attrs if "`%s`" % k not in text]
    for g in ("models", "matrices", "pairs"):
        missing += ["%s/%s" % (g, k) for k in f[g] if "`%s`" % k not in text
                    and not k.startswith("dim_eps")]
    assert "`dim_eps<e>`" in text
    assert not missing, "undocumented in %s: %s" % (doc, missing)
    print("schema: every dataset and attribute of %s is documented" % path)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"numbers": lambda: check_numbers(*args), "same": lambda: check_same(args),
     "expect": lambda: check_expect(*args), "convert": lambda: check_convert(*args),
     "schema": lambda: check_schema(*args)}[cmd]()
