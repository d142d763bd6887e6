#!/usr/bin/python3
"""Independent checks of flagscope's HDF5 output, with numpy (LAPACK) and h5py.

  fs_check.py numbers OUT.h5    recompute every matrix and pair of the safetensors,
                                ONNX (read with the onnx package) and TF.js models
                                from the checkpoint bytes: full SVDs, dense
                                Grams and commutators, principal angles
  fs_check.py same A.h5 B.h5..  the same results in every file (runs at 1, 2, 3
                                ranks), timings and provenance aside
  fs_check.py close A.h5 B.h5.. the same up to rounding, for runs where groups of
                                ranks computed some SVDs (--mem-per-rank)
  fs_check.py groups OUT.h5 N   at least N matrices were computed by groups, all ok
  fs_check.py zoo DIRECT.h5 MERGED.h5..
                                a merged zoo (flagscope merge) equals the direct analysis:
                                `same`, plus the same models in the same order, none
                                missing, none twice, and consistent row offsets
  fs_check.py convert CONVERTED ORIGINAL DTYPE same|gguf
                                a file written by flagscope convert equals the original
                                (same names, or GGUF names mapped to Hugging Face ones)
  fs_check.py heads OUT.h5       recompute /heads and /head_overlaps of the safetensors
                                transformers from the checkpoint bytes: per-head
                                bases by numpy SVD, overlaps, principal angles,
                                the QK and OV circuits as dense D x D products
  fs_check.py schema OUT.h5 DOC.md
                                every dataset and attribute is documented
  fs_check.py exact_path OUT.h5 PATH MIN
                                at least MIN pairs had their exact Grams evaluated by PATH
  fs_check.py pairs OUT.h5 MODEL TYPE=N... [heads=H,KV,D] [unplaced=N]
                                exact pair counts by type of one model
  fs_check.py onnx_heads OUT.h5 MODEL.onnx
                                the head size agrees with the attention scaling
                                constant in the ONNX graph
  fs_check.py expect OUT.h5 MODEL STATUS [TEXT]
                                the model whose path ends in MODEL has STATUS and
                                its error text contains TEXT

Nothing here shares code with flagscope: safetensors are parsed with the
standard library and numpy, following the format's specification.
"""
import json
import os
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


def load_onnx(path):
    """Weights of an ONNX model (initializers and Constant nodes) with the onnx
    package, in the [out, in] view: a 2-D weight fed to MatMul (or Gemm without
    transB) as B is [in, out] (Paddle Linear, ONNX's A @ B) and is transposed."""
    import onnx
    from onnx import numpy_helper
    g = onnx.load(path).graph
    out = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    out[n.output[0]] = numpy_helper.to_array(a.t)
    inout = {n.input[1] for n in g.node if len(n.input) > 1 and (
        n.op_type == "MatMul" or (n.op_type == "Gemm" and not any(
            a.name == "transB" and a.i for a in n.attribute)))}
    return {k: (v.T if k in inout and v.ndim == 2 else v).astype(np.float64)
            for k, v in out.items() if v.dtype.kind == "f"}


def load_tfjs(manifest):
    """A TF.js weights manifest and its shards, dequantised (value = q scale + min),
    in the [out, in] view: kernels [kh, kw, in, out] -> [out, in, kh, kw], dense
    [in, out] -> [out, in]."""
    groups = json.load(open(manifest))
    base = os.path.dirname(manifest)
    out = {}
    for grp in groups:
        raw = b"".join(open(os.path.join(base, p), "rb").read() for p in grp["paths"])
        off = 0
        for w in grp["weights"]:
            n = int(np.prod(w["shape"])) if w["shape"] else 1
            q = w.get("quantization")
            dt = {"uint8": "<u1", "uint16": "<u2", "float32": "<f4", "int32": "<i4"}[
                q["dtype"] if q else w["dtype"]]
            a = np.frombuffer(raw, dt, n, off).astype(np.float64)
            off += n * np.dtype(dt).itemsize
            if q:
                a = a * q["scale"] + q["min"]
            a = a.reshape(w["shape"])
            if a.ndim == 2:
                a = a.T
            elif a.ndim >= 3:
                a = np.moveaxis(a, (-1, -2), (0, 1))
            out[w["name"]] = a
    return out


def load_model(path):
    if path.endswith(".onnx"):
        return load_onnx(path)
    if path.endswith(".json"):
        return load_tfjs(path)
    return load_safetensors(path)


def s(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def column(f, path):
    return f[path][()]


def conv_info(tensors, m, i):
    """How a matrix treats a convolution: (input unfolding?, BatchNorm gamma
    tensor or None, BatchNorm running_var tensor or None).  From the columns
    unfold_in, bn_gamma, bn_var when the file has them, else from the name:
    "<tensor>[in]" is the input unfolding, "[bn X]" the BatchNorm module X next
    to the layer's module (layer1.0.conv1 -> layer1.0.bn1, features.0 -> features.1)."""
    tensor = s(m["tensor"][i])
    if "unfold_in" in m and "bn_var" in m and "bn_gamma" in m:
        gamma, var = s(m["bn_gamma"][i]), s(m["bn_var"][i])
        return bool(m["unfold_in"][i]), gamma or None, var or None
    rest = s(m["name"][i])[len(tensor):]
    gamma = var = None
    if "[bn " in rest:
        module = tensor[:-len(".weight")]
        parent = module.rsplit(".", 1)[0] + "." if "." in module else ""
        bn = parent + rest.split("[bn ", 1)[1].split("]", 1)[0]
        var = bn + ".running_var"
        gamma = bn + ".weight" if bn + ".weight" in tensors else None
    return rest.startswith("[in]"), gamma, var


def bn_scale(tensors, gamma, var, eps):
    """Per output channel: gamma / sqrt(running_var + eps) (gamma 1 if absent)."""
    v = tensors[var]
    return (tensors[gamma] if gamma else np.ones_like(v)) / np.sqrt(v + eps)


def matrix_of(tensors, m, i, eps=1e-5):
    """The analysed matrix of row i of /matrices, rebuilt from the checkpoint:
    row blocks and columns of the stored view, the folded gain multiplying the
    map's inputs (columns, or rows when the map is the transpose), a folded
    BatchNorm scaling the output channels; for a convolution's input unfolding
    the kernel [c_out, c_in, ...] permuted to [c_in, c_out, ...] and flattened."""
    unfold, gamma, var = conv_info(tensors, m, i)
    if "bn_eps" in m and var:
        eps = float(m["bn_eps"][i])
    t = orig = tensors[s(m["tensor"][i])]
    t = t.reshape(t.shape[0], -1) if t.ndim > 1 else t.reshape(1, -1)
    r0, c0, rows, cols = (int(m[c][i]) for c in ("row0", "col0", "rows", "cols"))
    scale = (bn_scale(tensors, gamma, var, eps) if var else
             tensors[gamma] if gamma else np.ones(t.shape[0]))  # a plain affine scale
    if unfold:  # rows are input channels: I = W[c_out, c_in, k] -> [c_in, c_out, k]
        if "ksize" in m:
            cin = t.shape[1] // int(m["ksize"][i])
        else:  # a kernel's c_in; a linear layer reading a flattened map is unfolded whole
            cin = orig.shape[1] if orig.ndim > 2 else rows
        w3 = t.reshape(t.shape[0], cin, -1) * scale[:, None, None]
        full = np.transpose(w3, (1, 0, 2)).reshape(cin, -1)
        w = full[r0:r0 + rows, c0:c0 + cols].copy()
        fold = s(m["fold"][i])
        if fold:
            w *= tensors[fold][r0:r0 + rows][:, None]
        return w
    rep, step = int(m["row_blocks"][i]), int(m["row_step"][i])
    blk = rows // rep
    idx = np.concatenate([np.arange(r0 + b * step, r0 + b * step + blk) for b in range(rep)])
    w = t[idx][:, c0:c0 + cols].copy()
    if var or gamma:  # output channels: stored rows, or stored columns of a transposed map
        if m["transposed"][i]:
            w *= scale[c0:c0 + cols][None, :]
        else:
            w *= scale[idx][:, None]
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


POWERLAW_MIN_TAIL = 10  # FS_POWERLAW_MIN_TAIL in src/fs_spectral.h


def powerlaw_fit(x, min_tail=POWERLAW_MIN_TAIL):
    """Clauset-Shalizi-Newman continuous power-law fit, written here from the
    paper (SIAM Review 51, 2009) and independently of src/fs_spectral.c: for
    every distinct sample as xmin with a tail of at least min_tail samples,
    alpha = 1 + n / sum ln(x / xmin), and the Kolmogorov-Smirnov distance
    sup |S - P| with P(x) = 1 - (x / xmin)^(1 - alpha), evaluated on both sides
    of every step of the empirical CDF S.  Returns {xmin: (alpha, ks, ntail)}
    for every candidate and the xmin of the least distance (smallest on ties)."""
    x = np.sort(x[np.isfinite(x) & (x > 0)])
    n, out, best = len(x), {}, None
    for j in np.flatnonzero(np.r_[True, x[1:] != x[:-1]]):
        t = n - j
        if t < max(min_tail, 2):
            break
        lr = np.log(x[j:]) - np.log(x[j])
        if lr.sum() <= 0:
            continue
        a = 1 + t / lr.sum()
        cdf = -np.expm1((1 - a) * lr)
        i = np.arange(t)
        d = max(np.max((i + 1) / t - cdf), np.max(cdf - i / t))
        out[x[j]] = (a, d, t)
        if best is None or d < out[best][1]:
            best = x[j]
    return out, best


def check_numbers(path):
    f = h5py.File(path, "r")
    mo, m, p = f["models"], f["matrices"], f["pairs"]
    eps = np.radians(f.attrs["eps_degrees"])
    tau = float(f.attrs["tau"][0])
    worst = dict(sigma=0.0, fro=0.0, theta=0.0, overlap=0.0, kappa=0.0, bal=0.0, kappa_rel=0.0)
    counted = dict(models=0, matrices=0, pairs=0, conv_pairs=0, dims=0)
    # Rank policy and full-spectrum columns, when the file has them.
    kmax = int(f.attrs["kmax"])
    policy = s(f.attrs["k_policy"]) if "k_policy" in f.attrs else "fixed"
    pvalue = float(f.attrs["k_policy_value"][0]) if "k_policy_value" in f.attrs else np.nan
    full = bool(f.attrs["full_spectrum"]) if "full_spectrum" in f.attrs else False
    if "energy" in m:
        worst.update(energy=0.0, stable_rank=0.0)
        counted.update(policy_k=0)
    if full:
        worst.update(sigma_full=0.0, effective_rank=0.0, alpha=0.0, alpha_ks=0.0)
        counted.update(alpha=0)
    for mi in range(len(mo["path"])):
        mpath = s(mo["path"][mi])
        if not mpath.endswith((".safetensors", ".onnx", ".json")) or s(mo["status"][mi]) != "ok":
            continue
        counted["models"] += 1
        tensors = load_model(mpath)
        bn_eps = 1e-5  # BatchNorm's default, unless the model's config.json says otherwise
        cfg = os.path.join(os.path.dirname(mpath), "config.json")
        if os.path.exists(cfg):
            bn_eps = float(json.load(open(cfg)).get("batch_norm_eps", bn_eps))
        m0, nm = int(mo["matrix_start"][mi]), int(mo["n_matrices"][mi])
        svd, mats = {}, {}
        for i in range(m0, m0 + nm):
            w = matrix_of(tensors, m, i, bn_eps)
            U, S, Vt = np.linalg.svd(w, full_matrices=False)
            k = int(m["k"][i])
            got = m["sigma"][int(m["sigma_offset"][i]):][:k]
            err = np.max(np.abs(got - S[:k])) / S[0] if S[0] > 0 else np.max(np.abs(got))
            worst["sigma"] = max(worst["sigma"], err)
            worst["fro"] = max(worst["fro"], abs(m["fro"][i] - np.linalg.norm(w)) / np.linalg.norm(w))
            kc = len(S) if full else min(kmax, len(S))  # the numerical rank sees these
            assert int(m["numerical_rank"][i]) == int(np.sum(S[:kc] > tau * S[0])), m["name"][i]
            assert int(m["numerical_rank_is_lower_bound"][i]) == int(
                kc < len(S) and np.sum(S[:kc] > tau * S[0]) == kc), m["name"][i]
            if "energy" in m:
                check_policy(m, i, S, k, kmax, policy, pvalue, worst, counted)
            if full:
                check_full(m, i, S, w.shape, worst, counted)
            svd[i] = (U, S, Vt.T, bool(m["transposed"][i]))
            mats[i] = w
            if "classifier_classes" in m:
                check_classifier(m, i, w, worst, counted)
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
            if "gram_mode" in p and s(p["gram_mode"][j]) == "exact":
                # --commutator exact: these columns are the exact ones (checked by check_exact)
                for c in ("kappa", "kappa_random", "kappa_rel", "balancedness"):
                    assert p[c][j] == p[c + "_exact"][j], (j, c)
                check_exact(p, j, mats[wi], tw, mats[ri], tr, worst, counted)
            else:
                check_lowrank(p, j, u, v, k, jj, Sw, Sr, kappa, bal, worst)
                if "kappa_exact" in p and s(p["exact_path"][j]):
                    check_exact(p, j, mats[wi], tw, mats[ri], tr, worst, counted)
            if "profile_offset" in p:
                check_profile(p, j, u, v, Sw, Sr, eps, worst, counted)
            if "flag_size" in p and int(p["flag_size"][j]) > 0:
                check_flags(p, j, u, v, Sw, Sr, eps, worst, counted)
            counted["pairs"] += 1
            counted["conv_pairs"] += "[in]" in s(m["name"][ri])
    print("checked", counted)
    print("largest deviations from numpy/LAPACK:",
          ", ".join("%s %.2e" % kv for kv in worst.items()))
    assert counted["models"] > 0 and counted["pairs"] > 0, "nothing was checked"
    limits = dict(sigma=1e-10, fro=1e-12, theta=1e-6, overlap=1e-8, kappa=1e-8, bal=1e-8,
                  kappa_rel=1e-7, profile_overlap=1e-8, kappa_exact=1e-12, bal_exact=1e-12,
                  kappa_rel_exact=1e-9, classifier=1e-10, energy=1e-10, stable_rank=1e-10, sigma_full=1e-12,
                  effective_rank=1e-10, alpha=1e-9, alpha_ks=1e-9)
    limits = {q: v for q, v in limits.items() if q in worst}
    if full:
        assert counted["alpha"] > 0, "no power-law fit was checked"
    bad = [q for q in limits if not worst[q] <= limits[q]]
    assert not bad, "beyond tolerance: %s" % bad


def check_lowrank(p, j, u, v, k, jj, Sw, Sr, kappa, bal, worst):
    """kappa, balancedness and kappa_rel of the rank-k / rank-j Grams."""
    worst["kappa"] = max(worst["kappa"], abs(p["kappa"][j] - kappa))
    worst["bal"] = max(worst["bal"], abs(p["balancedness"][j] - bal))
    kr = kappa_random(u.shape[0], Sr[:jj] ** 2, Sw[:k] ** 2)
    worst["kappa_rel"] = max(worst["kappa_rel"], abs(p["kappa_random"][j] - kr) / max(kr, 1e-300),
                             abs(p["kappa_rel"][j] - (kappa / kr if kr > 0 else 0.0)))


def gap_ok(S, s):
    """The top-s singular subspace is well defined: sigma_s and sigma_s+1 apart."""
    return s >= len(S) or S[s - 1] - S[s] > 1e-6 * S[0]


def check_profile(p, j, u, v, Sw, Sr, eps, worst, counted):
    """The profile dim_eps(s, s), overlaps and baselines on the grid 1, 2, 4, ..., q,
    from numpy's principal angles of the leading s columns."""
    worst.setdefault("profile_overlap", 0.0)
    counted.setdefault("profile_points", 0)
    d, q = u.shape[0], min(u.shape[1], v.shape[1])
    grid = [1 << t for t in range(32) if (1 << t) < q] + [q]
    o, c = int(p["profile_offset"][j]), int(p["profile_count"][j])
    assert c == len(grid) and list(p["profile_k"][o:o + c]) == grid, (j, c, grid)
    for g, sg in enumerate(grid):
        assert int(p["profile_dim_random"][o + g]) == max(0, 2 * sg - d)
        assert abs(p["profile_overlap_random"][o + g] - sg * sg / d) <= 1e-15 * sg * sg / d
        if not (gap_ok(Sw, sg) and gap_ok(Sr, sg)):
            continue
        us, vs = u[:, :sg], v[:, :sg]
        th = angles(us, vs)
        ov = np.linalg.norm(us.T @ vs) ** 2
        worst["profile_overlap"] = max(worst["profile_overlap"], abs(p["profile_overlap"][o + g] - ov) / max(ov, 1e-300))
        for e, ep in enumerate(eps):
            if np.all(np.abs(th - ep) > 1e-6):
                assert int(p["profile_dim_eps%d" % e][o + g]) == int(np.sum(th <= ep)), (j, sg, e)
        counted["profile_points"] += 1


def check_flags(p, j, u, v, Sw, Sr, eps, worst, counted):
    """The flag table dim_eps(i, jj), i, jj <= m, from numpy's angles."""
    counted.setdefault("flag_entries", 0)
    mm = int(p["flag_size"][j])
    assert mm == min(32, u.shape[1], v.shape[1])
    o = int(p["flag_offset"][j])
    for i in range(1, mm + 1):
        if not gap_ok(Sw, i):
            continue
        for jj in range(1, mm + 1):
            if not gap_ok(Sr, jj):
                continue
            th = angles(u[:, :i], v[:, :jj])
            for e, ep in enumerate(eps):
                if np.all(np.abs(th - ep) > 1e-6):
                    got = int(p["flag_dim_eps%d" % e][o + (i - 1) * mm + jj - 1])
                    assert got == int(np.sum(th <= ep)), (j, i, jj, e, got)
                    counted["flag_entries"] += 1


def check_exact(p, j, ww, tw, wr, tr, worst, counted):
    """kappa and balancedness of the exact Grams A = I I^T, B = O O^T, dense numpy."""
    worst.setdefault("kappa_exact", 0.0)
    worst.setdefault("bal_exact", 0.0)
    worst.setdefault("kappa_rel_exact", 0.0)
    counted.setdefault("exact_pairs", 0)
    O = ww.T if tw else ww
    I = wr if tr else wr.T
    A, B = I @ I.T, O @ O.T
    na, nb = np.linalg.norm(A), np.linalg.norm(B)
    kappa = np.linalg.norm(A @ B - B @ A) / (np.sqrt(2) * na * nb) if na * nb > 0 else 0.0
    bal = np.linalg.norm(A - B) / (na + nb) if na + nb > 0 else 0.0
    kr = kappa_random(A.shape[0], np.linalg.eigvalsh(A), np.linalg.eigvalsh(B))
    worst["kappa_exact"] = max(worst["kappa_exact"], abs(p["kappa_exact"][j] - kappa))
    worst["bal_exact"] = max(worst["bal_exact"], abs(p["balancedness_exact"][j] - bal))
    worst["kappa_rel_exact"] = max(worst["kappa_rel_exact"],
                                   abs(p["kappa_random_exact"][j] - kr) / max(kr, 1e-300),
                                   abs(p["kappa_rel_exact"][j] - (kappa / kr if kr > 0 else 0.0)))
    counted["exact_pairs"] += 1


def check_classifier(m, i, w, worst, counted):
    """Equinorm and equiangularity of a classifier's rows, directly from the
    C x C cosines; NaN everywhere for a matrix that is no classifier."""
    C = int(m["classifier_classes"][i])
    if C == 0:
        assert np.isnan(m["classifier_norm_cv"][i]) and np.isnan(m["classifier_cos_mean"][i])
        return
    worst.setdefault("classifier", 0.0)
    counted.setdefault("classifiers", 0)
    rows = w.T if m["transposed"][i] else w
    assert rows.shape[0] == C
    n = np.linalg.norm(rows, axis=1)
    cv = n.std() / n.mean() if n.mean() > 0 else 0.0
    nz = rows[n > 0] / n[n > 0][:, None]
    cos = (nz @ nz.T)[np.triu_indices(len(nz), 1)]
    assert int(m["classifier_zero_rows"][i]) == C - len(nz)
    assert abs(m["classifier_cos_simplex"][i] + 1 / (len(nz) - 1)) < 1e-15
    worst["classifier"] = max(worst["classifier"], abs(m["classifier_norm_cv"][i] - cv),
                              abs(m["classifier_cos_mean"][i] - cos.mean()),
                              abs(m["classifier_cos_std"][i] - cos.std()))
    counted["classifiers"] += 1


def check_policy(m, i, S, k, kmax, policy, value, worst, counted):
    """k of the rank policy (capped by kmax and the shape), k_capped, energy and
    the stable rank, from the full numpy spectrum."""
    name, mn, total = m["name"][i], len(S), float(np.sum(S ** 2))
    cap = min(kmax, mn)
    cum = np.cumsum(S ** 2)

    def wanted(rel):  # the policy's k with its threshold moved by rel (rounding)
        if policy == "energy":
            if total <= 0:
                return 1
            slack = 8 * mn * np.finfo(float).eps * total
            reached = np.flatnonzero(cum >= value * total - slack + rel * total)
            return int(reached[0]) + 1 if len(reached) else mn
        if policy == "rank_tol":
            return max(1, int(np.sum(S > value * S[0] * (1 + rel)))) if S[0] > 0 else 1
        return cap

    # a sum or value within rounding of the threshold is ill-posed: checked
    # only when the answer (k and k_capped) is the same on either side of it
    lo, hi = wanted(-1e-9), wanted(1e-9)
    want = lo if (min(lo, cap), lo > cap) == (min(hi, cap), hi > cap) else None
    if want is not None:
        assert k == min(want, cap), (name, k, want, cap)
        assert int(m["k_capped"][i]) == int(want > cap), (name, want, cap)
        counted["policy_k"] += 1
    e = cum[k - 1] / total if total > 0 else 1.0
    worst["energy"] = max(worst["energy"], abs(m["energy"][i] - e))
    sr = total / S[0] ** 2 if S[0] > 0 else 0.0
    worst["stable_rank"] = max(worst["stable_rank"], abs(m["stable_rank"][i] - sr) / max(sr, 1e-300))


def check_full(m, i, S, shape, worst, counted):
    """sigma_full, the effective rank and the power-law fit of the eigenvalues
    of W^T W / max(shape), the fit by the independent powerlaw_fit above."""
    name, mn = m["name"][i], len(S)
    assert int(m["sigma_full_count"][i]) == mn, name
    got = m["sigma_full"][int(m["sigma_full_offset"][i]):][:mn]
    worst["sigma_full"] = max(worst["sigma_full"], np.max(np.abs(got - S)) / max(S[0], 1e-300))
    p = S ** 2 / np.sum(S ** 2)
    p = p[p > 0]
    er = np.exp(-np.sum(p * np.log(p)))
    worst["effective_rank"] = max(worst["effective_rank"], abs(m["effective_rank"][i] - er) / er)
    fits, best = powerlaw_fit(S ** 2 / max(shape))
    if best is None:
        assert np.isnan(m["alpha"][i]) and int(m["alpha_ntail"][i]) == 0, name
        return
    # Near-ties of the KS distance may pick another xmin from rounding alone:
    # flagscope's xmin must be a candidate whose distance is the least.
    ks = float(m["alpha_ks"][i])
    worst["alpha_ks"] = max(worst["alpha_ks"], abs(ks - fits[best][1]))
    near = [x for x in fits if abs(x - m["alpha_xmin"][i]) <= 1e-12 * x]
    assert near, (name, "alpha_xmin is not a sample", m["alpha_xmin"][i])
    a, d, t = fits[near[0]]
    worst["alpha"] = max(worst["alpha"], abs(m["alpha"][i] - a) / a, abs(ks - d))
    assert int(m["alpha_ntail"][i]) == t, (name, int(m["alpha_ntail"][i]), t)
    counted["alpha"] += 1


SKIP = {"seconds", "rank", "iterations", "nranks"}  # timings and placement, not results
SKIP_ATTRS = {"command_line", "created", "mpi_size", "seconds_plan_spectra_pairs_write",
              "seconds_heads", "schedule", "mem_per_rank", "busy_seconds", "load_estimated"}


def flatten(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def check_same(paths):
    ref = h5py.File(paths[0], "r")
    rd = flatten(ref)
    for table in ("zoo/path", "stats/median", "stats/profile_value"):  # the statistics are compared too
        assert table in rd, "%s has no %s" % (paths[0], table)
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
                va, vb = np.asarray(v), np.asarray(g.attrs[k])  # NaN: k_policy_value of --k
                assert np.array_equal(va, vb, equal_nan=va.dtype.kind == "f"), k
    print("identical results in", len(paths), "files:", len(rd), "datasets each")


def check_exact_path(path, name, least):
    p = h5py.File(path, "r")["pairs"]
    n = int(np.sum(p["exact_path"][()] == name.encode()))
    print("%d pairs with exact_path %s" % (n, name))
    assert n >= int(least), "only %d pairs through %s" % (n, name)


def check_close(paths):
    """Results of runs where some matrices were computed by groups of ranks
    (--mem-per-rank): rounding differs there, so singular values must agree
    to 1e-12 of their matrix's sigma_1, angles to 1e-9 rad, other floats to
    1e-9 relative; integers and strings exactly (but the solver used)."""
    ref = h5py.File(paths[0], "r")
    rd = flatten(ref)
    s1 = np.zeros(len(rd["matrices/sigma"]))
    off, k = rd["matrices/sigma_offset"], rd["matrices/k"]
    for o, n in zip(off, k):
        s1[o:o + n] = rd["matrices/sigma"][o] if n else 0
    worst = {}
    for other in paths[1:]:
        od = flatten(h5py.File(other, "r"))
        assert set(rd) == set(od), set(rd) ^ set(od)
        for name, a in rd.items():
            if name.split("/")[-1] in SKIP | {"solver", "cost"}:
                continue
            b = od[name]
            assert a.shape == b.shape, name
            if a.dtype.kind != "f":
                assert np.array_equal(a, b), "%s differs between %s and %s" % (name, paths[0], other)
                continue
            if name == "matrices/sigma":
                err = np.abs(a - b) / np.where(s1 > 0, s1, 1)
                ok = np.all(err <= 1e-12)
            elif name == "pairs/theta":
                err = np.abs(a - b)
                ok = np.all(err <= 1e-9)
            else:
                fin = np.isfinite(a)
                assert np.array_equal(fin, np.isfinite(b)), name
                err = np.abs(a[fin] - b[fin]) / np.maximum(np.abs(a[fin]), 1e-3)
                ok = np.all(err <= 1e-9)
            worst[name] = max(worst.get(name, 0), float(np.max(err)) if err.size else 0.0)
            assert ok, "%s differs between %s and %s by %.3g" % (name, paths[0], other, np.max(err))
    print("close results in", len(paths), "files: sigma within %.2g of sigma_1, theta within %.2g rad, "
          "other floats within %.2g relative" % (worst.get("matrices/sigma", 0), worst.get("pairs/theta", 0),
          max([v for n, v in worst.items() if n not in ("matrices/sigma", "pairs/theta")] or [0])))


def check_groups(path, least):
    """At least LEAST matrices were computed by groups of ranks, all of them ok."""
    m = h5py.File(path, "r")["matrices"]
    g = m["nranks"][()] > 1
    assert g.sum() >= int(least), "%d matrices on groups, expected at least %s" % (g.sum(), least)
    assert np.all(m["status"][g] == b"ok"), m["error"][g]
    print("%d matrices computed by groups of %s ranks" % (g.sum(), sorted(set(m["nranks"][g].tolist()))))


def check_zoo(paths):
    """A merged zoo equals the direct analysis of the zoo.  The comparison is
    `same`: every dataset, with timings and placement (seconds, rank,
    iterations: they depend on the ranks and the load) and the root attributes
    command_line, created, mpi_size and seconds_plan_spectra_pairs_write left
    out (they describe the run, not the results).  Beyond it: one row per
    manifest model in the same order, no path twice, and offsets that index
    each model's own rows."""
    check_same(paths)
    ref = h5py.File(paths[0], "r")
    want = [s(p) for p in ref["models/path"][()]]
    for other in paths[1:]:
        f = h5py.File(other, "r")
        got = [s(p) for p in f["models/path"][()]]
        assert got == want, "models differ: %s" % (set(got) ^ set(want) or "order")
        assert len(set(got)) == len(got), "a model appears twice"
        mo, mx, pa = f["models"], f["matrices"], f["pairs"]
        for i in range(len(got)):
            m0, nm = int(mo["matrix_start"][i]), int(mo["n_matrices"][i])
            p0, npr = int(mo["pair_start"][i]), int(mo["n_pairs"][i])
            assert (mx["model"][m0:m0 + nm] == i).all(), "matrix rows of model %d" % i
            assert (pa["model"][p0:p0 + npr] == i).all(), "pair rows of model %d" % i
            w, r = pa["writer"][p0:p0 + npr], pa["reader"][p0:p0 + npr]
            assert ((w >= m0) & (w < m0 + nm) & (r >= m0) & (r < m0 + nm)).all(), "pairs of model %d" % i
        off, k = mx["sigma_offset"][()], mx["k"][()]
        assert (off == np.concatenate([[0], np.cumsum(k)[:-1]])).all(), "sigma offsets"
    print("merged zoo: %d models, none missing or twice" % len(want))


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


PAIR_TYPES = ("chain", "mlp", "ov", "residual", "block", "classifier")


def type_pattern(column):
    """/zoo's per-type columns are documented once as <type>_...: mlp_kappa_mean -> <type>_kappa_mean."""
    for t in PAIR_TYPES:
        if column.startswith(t + "_"):
            return "<type>_" + column[len(t) + 1:]
    for end in ("_overlap", "_redundant"):  # head_q_overlap -> head_<kind>_overlap
        if column.startswith("head_") and column.endswith(end):
            return "head_<kind>" + end
    return column


def check_schema(path, doc):
    """Every dataset and root attribute of the file is documented in doc."""
    text = open(doc).read()
    f = h5py.File(path, "r")
    missing = [k for k in f.attrs if "`%s`" % k not in text]
    for g in ("models", "matrices", "pairs", "heads", "head_overlaps", "zoo", "stats"):
        missing += ["%s/%s" % (g, k) for k in f[g]
                    if "`%s`" % (type_pattern(k) if g == "zoo" else k) not in text
                    and not k.startswith(("dim_eps", "profile_dim_eps", "flag_dim_eps"))]
    if "trajectory" in f:  # flagscope trajectory's group: its attributes and tables
        t = f["trajectory"]
        missing += ["trajectory@%s" % k for k in t.attrs if "`%s`" % k not in text]
        for g in t:
            missing += ["trajectory/%s/%s" % (g, k) for k in t[g] if "`%s`" % k not in text]
    for pattern in ("`dim_eps<e>`", "`profile_dim_eps<e>`", "`flag_dim_eps<e>`"):
        assert pattern in text, pattern
    assert not missing, "undocumented in %s: %s" % (doc, missing)
    print("schema: every dataset and attribute of %s is documented" % path)


def results_by_name(path, exclude):
    """Per-matrix sigma and per-pair diagnostics keyed by (model path, names),
    for the models whose path does not end with exclude."""
    f = h5py.File(path, "r")
    mo, mx, pr = f["models"], f["matrices"], f["pairs"]
    paths = [s(p) for p in mo["path"][()]]
    names = [s(n) for n in mx["name"][()]]
    sig, off, k = mx["sigma"][()], mx["sigma_offset"][()], mx["k"][()]
    out = {}
    for i, m in enumerate(mx["model"][()]):
        if not paths[m].endswith(exclude) and k[i] > 0:
            out[(paths[m], names[i])] = sig[off[i]:off[i] + k[i]]
    cols = [pr[c][()] for c in ("kappa", "balancedness", "overlap")]
    for i, m in enumerate(pr["model"][()]):
        if not paths[m].endswith(exclude) and s(pr["status"][i]) == "ok":
            key = (paths[m], names[pr["writer"][i]], names[pr["reader"][i]])
            out[key] = np.array([c[i] for c in cols])
    return out, {p: s(st) for p, st in zip(paths, mo["status"][()])}


def check_match(ref, other, exclude):
    """The models other than the excluded one have the same results as in ref."""
    a, sa = results_by_name(ref, exclude)
    b, sb = results_by_name(other, exclude)
    for p, st in sa.items():
        if not p.endswith(exclude):
            assert sb.get(p) == st, "%s: status %s, expected %s" % (p, sb.get(p), st)
    assert set(a) == set(b), "items differ: %s" % sorted(set(a) ^ set(b))[:5]
    for key, v in a.items():
        assert np.allclose(v, b[key], rtol=1e-10, atol=1e-12), key
    print("the other models match: %d items" % len(a))


def check_no_heads(path, ref):
    """A --no-heads run: /heads and /head_overlaps empty, the root attribute
    heads 0 (1 in ref, which has head rows), every matrix and pair as in ref."""
    with h5py.File(path, "r") as f, h5py.File(ref, "r") as g:
        assert f.attrs["heads"] == 0 and g.attrs["heads"] == 1, (f.attrs["heads"], g.attrs["heads"])
        for grp in ("heads", "head_overlaps"):
            assert all(len(f[grp][c]) == 0 for c in f[grp]), grp
            assert len(g[grp]["status"]) > 0, "the reference run has no %s rows" % grp
    check_match(ref, path, "\0no model is excluded")
    print("no_heads: empty head tables, the same matrices and pairs")


# ---- attention heads (docs/mathematics.md, section 11) ----------------------

def attention_maps(t, family, b, nblocks):
    """Q, K, V [out, D] and O [D, H dh] of block b as the layer applies them,
    written from each family's own tensor names and layouts (not from the
    /matrices slicing columns): the attention norm gain scales the inputs."""
    if family == "llama":
        p = "model.layers.%d." % b
        g = t[p + "input_layernorm.weight"]
        q, k, v = (t[p + "self_attn.%s_proj.weight" % x] * g for x in "qkv")
        return q, k, v, t[p + "self_attn.o_proj.weight"]
    if family == "gpt2":
        p = "h.%d." % b
        wa = t[p + "attn.c_attn.weight"].T * t[p + "ln_1.weight"]  # Conv1D [in, out]
        d = wa.shape[1]
        return wa[:d], wa[d:2 * d], wa[2 * d:], t[p + "attn.c_proj.weight"].T
    if family == "gptneox":
        p = "gpt_neox.layers.%d." % b
        w = t[p + "attention.query_key_value.weight"] * t[p + "input_layernorm.weight"]
        d = w.shape[1]
        return None if w.shape[0] != 3 * d else (w, t[p + "attention.dense.weight"])
    if family in ("bert", "roberta", "vit"):
        if family == "vit":
            p = "vit.encoder.layer.%d." % b
            g = t[p + "layernorm_before.weight"]
            a = p + "attention.attention."
        else:  # post-norm: block b reads through the LayerNorm that ends block b - 1
            p = "%s.encoder.layer.%d." % (family, b)
            g = t["%s.embeddings.LayerNorm.weight" % family] if b == 0 else \
                t["%s.encoder.layer.%d.output.LayerNorm.weight" % (family, b - 1)]
            a = p + "attention.self."
        q, k, v = (t[a + x + ".weight"] * g for x in ("query", "key", "value"))
        return q, k, v, t[p + "attention.output.dense.weight"]
    raise AssertionError("no attention layout for family " + family)


def neox_split(w, o, H):
    """GPT-NeoX's fused QKV holds [q_h; k_h; v_h] per head h."""
    dh = w.shape[0] // (3 * H)
    r = w.reshape(H, 3, dh, -1)
    return r[:, 0].reshape(H * dh, -1), r[:, 1].reshape(H * dh, -1), r[:, 2].reshape(H * dh, -1), o


def head_basis(f, tol_dims):
    """Orthonormal basis of range(f) by numpy's SVD, rank by max(D, dh) eps s_1."""
    u, sv, _ = np.linalg.svd(f, full_matrices=False)
    r = int(np.sum(sv > max(tol_dims) * np.finfo(float).eps * sv[0])) if sv[0] > 0 else 0
    return u[:, :r]


def block_heads(q, k, v, o, H, Hkv):
    D, dh = q.shape[1], q.shape[0] // H
    tol = (D, dh)
    grp = H // Hkv
    B = dict(Q=[head_basis(q[h * dh:(h + 1) * dh].T, tol) for h in range(H)],
             K=[head_basis(k[g * dh:(g + 1) * dh].T, tol) for g in range(Hkv)],
             V=[head_basis(v[g * dh:(g + 1) * dh].T, tol) for g in range(Hkv)],
             O=[head_basis(o[:, h * dh:(h + 1) * dh], tol) for h in range(H)])
    qk, ov, ovb = [], [], []
    for h in range(H):
        g = h // grp
        qk.append(np.linalg.svd(q[h * dh:(h + 1) * dh].T @ k[g * dh:(g + 1) * dh], compute_uv=False)[:dh])
        u, sv, _ = np.linalg.svd(o[:, h * dh:(h + 1) * dh] @ v[g * dh:(g + 1) * dh])
        ov.append(sv[:dh])
        r = int(np.sum(sv > max(tol) * np.finfo(float).eps * sv[0])) if sv[0] > 0 else 0
        ovb.append(u[:, :r])
    return dict(B=B, qk=qk, ov=ov, ovb=ovb, D=D, dh=dh, H=H, Hkv=Hkv)


def overlap_matrix(xs, ys, dh, eps, same):
    ov = np.zeros((len(xs), len(ys)))
    dims = np.zeros((len(eps), len(xs), len(ys)), dtype=np.int64)
    sure = np.ones(dims.shape, dtype=bool)  # False where an angle sits on an eps boundary
    for a, x in enumerate(xs):
        for b, y in enumerate(ys):
            ov[a, b] = np.linalg.norm(x.T @ y) ** 2 / dh
            th = np.zeros(x.shape[1]) if same and a == b else angles(x, y) if min(x.shape[1], y.shape[1]) else np.zeros(0)
            for e, ep in enumerate(eps):
                dims[e, a, b] = np.sum(th <= ep)
                sure[e, a, b] = np.all(np.abs(th - ep) > 1e-6)
    return ov, dims, sure


def redundancy(ov, same, thr):
    if same:
        iu = np.triu_indices(ov.shape[0], 1)
        vals = ov[iu]
    else:
        vals = ov.ravel()
    return (vals.mean() if len(vals) else np.nan), int(np.sum(vals > thr))


def check_heads(path):
    f = h5py.File(path, "r")
    mo, hd, ho = f["models"], f["heads"], f["head_overlaps"]
    eps = np.radians(f.attrs["eps_degrees"])
    thr = float(f.attrs["head_threshold"][0])
    worst = dict(overlap=0.0, qk_sigma=0.0, ov_sigma=0.0, mean_offdiag=0.0)
    counted = dict(models=0, blocks=0, heads=0, overlap_rows=0, dims=0, redundant_pairs=0)
    hmodel, hblock, hhead = hd["model"][()], hd["block"][()], hd["head"][()]
    omodel, oblock, okind = ho["model"][()], ho["block"][()], [s(k) for k in ho["kind"][()]]
    for mi in range(len(mo["path"])):
        mpath, family = s(mo["path"][mi]), s(mo["family"][mi])
        H, Hkv = int(mo["n_head"][mi]), int(mo["n_head_kv"][mi])
        if not mpath.endswith(".safetensors") or s(mo["status"][mi]) != "ok" or not H:
            continue
        t = load_safetensors(mpath)
        blocks = sorted(set(hblock[hmodel == mi]))
        assert blocks, "%s: no head rows" % mpath
        res = {}
        for b in blocks:
            maps = attention_maps(t, family, b, len(blocks))
            if family == "gptneox":
                maps = neox_split(*maps, H)
            res[b] = block_heads(*maps, H, Hkv)
            r = res[b]
            for h in range(H):
                (row,) = np.flatnonzero((hmodel == mi) & (hblock == b) & (hhead == h))
                assert s(hd["status"][row]) == "ok" and int(hd["kv_head"][row]) == h // (H // Hkv)
                for name, want in (("qk", r["qk"][h]), ("ov", r["ov"][h])):
                    got = hd[name + "_sigma"][int(hd[name + "_offset"][row]):][:int(hd[name + "_count"][row])]
                    assert len(got) == len(want), (mpath, b, h, name)
                    worst[name + "_sigma"] = max(worst[name + "_sigma"], np.max(np.abs(got - want)) / want[0])
                for name, basis in (("q", r["B"]["Q"][h]), ("k", r["B"]["K"][h // (H // Hkv)]),
                                    ("v", r["B"]["V"][h // (H // Hkv)]), ("o", r["B"]["O"][h]),
                                    ("ov", r["ovb"][h])):
                    assert int(hd[name + "_rank"][row]) == basis.shape[1], (mpath, b, h, name)
                counted["heads"] += 1
            counted["blocks"] += 1
        for b in blocks:
            kinds = [(k, res[b]["B"][k], res[b]["B"][k], True) for k in "QKVO"]
            if b + 1 in res:
                kinds += [("OV>" + k, res[b]["ovb"], res[b + 1]["B"][k], False) for k in "QKV"]
            for kind, xs, ys, same in kinds:
                (row,) = np.flatnonzero((omodel == mi) & (oblock == b) & (np.array(okind) == kind))
                nr, nc = int(ho["nrows"][row]), int(ho["ncols"][row])
                assert (nr, nc) == (len(xs), len(ys)), (mpath, b, kind, nr, nc)
                ov, dims, sure = overlap_matrix(xs, ys, res[b]["dh"], eps, same)
                got = ho["overlap"][int(ho["offset"][row]):][:nr * nc].reshape(nr, nc)
                worst["overlap"] = max(worst["overlap"], np.max(np.abs(got - ov)))
                gd = ho["dim"][int(ho["dim_offset"][row]):][:len(eps) * nr * nc].reshape(len(eps), nr, nc)
                assert np.array_equal(gd[sure], dims[sure]), (mpath, b, kind, gd, dims)
                counted["dims"] += int(sure.sum())
                assert abs(ho["random"][row] - res[b]["dh"] / res[b]["D"]) < 1e-15
                mean, nred = redundancy(ov, same, thr)
                gm = float(ho["mean_offdiag"][row])
                worst["mean_offdiag"] = max(worst["mean_offdiag"], 0 if np.isnan(mean) and np.isnan(gm) else abs(gm - mean))
                near = np.sum(np.abs((ov[np.triu_indices(nr, 1)] if same else ov.ravel()) - thr) < 1e-9)
                assert near or int(ho["n_redundant"][row]) == nred, (mpath, b, kind, nred)
                counted["redundant_pairs"] += nred
                counted["overlap_rows"] += 1
        counted["models"] += 1
    print("checked heads", counted)
    print("largest deviations from numpy/LAPACK:", ", ".join("%s %.2e" % kv for kv in worst.items()))
    assert counted["models"] > 0 and counted["overlap_rows"] > 0, "no heads were checked"
    limits = dict(overlap=1e-10, qk_sigma=1e-10, ov_sigma=1e-10, mean_offdiag=1e-10)
    bad = [q for q in limits if not worst[q] <= limits[q]]
    assert not bad, "beyond tolerance: %s" % bad
    assert len(ho["model"]) == counted["overlap_rows"] or any(
        not s(mo["path"][i]).endswith(".safetensors") for i in range(len(mo["path"]))), "unchecked rows"


def check_pairs(path, model, *expected):
    """The model whose path ends in MODEL has exactly these pair counts by type
    (TYPE=N ...) and, with heads=H,KV,D, these head counts."""
    f = h5py.File(path, "r")
    mo, p = f["models"], f["pairs"]
    rows = [i for i in range(len(mo["path"])) if s(mo["path"][i]).endswith(model)]
    assert len(rows) == 1, "%s: %d rows end in %s" % (path, len(rows), model)
    mi = rows[0]
    types = [s(t) for t, m in zip(p["type"][()], p["model"][()]) if m == mi]
    for e in expected:
        key, want = e.split("=")
        if key == "heads":
            got = "%d,%d,%d" % tuple(int(mo[c][mi]) for c in ("n_head", "n_head_kv", "head_dim"))
        elif key == "unplaced":
            got = str(int(mo["n_unplaced"][mi]))
        elif key == "head_rows":  # rows of /heads: blocks x query heads
            got = str(int(np.sum(f["heads"]["model"][()] == mi)))
        else:
            got = str(types.count(key))
        assert got == want, "%s: %s is %s, expected %s" % (model, key, got, want)
    print("%s: %s" % (model, " ".join(expected)))


def check_onnx_heads(path, model):
    """The head size in the output agrees with the ONNX graph itself: the
    attention logits are scaled by a constant head_dim^-1/2 (q * scale before
    q k^T), once per transformer block."""
    import onnx
    from onnx import numpy_helper
    f = h5py.File(path, "r")
    mo = f["models"]
    mi = [i for i in range(len(mo["path"])) if s(mo["path"][i]).endswith(model)][0]
    h, d = int(mo["n_head"][mi]), int(mo["head_dim"][mi])
    g = onnx.load(model).graph
    consts = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in g.node
              if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"}
    scales = [n for n in g.node if n.op_type == "Mul" and any(
        x in consts and consts[x].size == 1 and abs(float(consts[x]) - d ** -0.5) < 1e-6
        for x in n.input)]
    assert d > 0 and len(scales) >= 1, "no Mul by head_dim^-1/2 = %g in %s" % (d ** -0.5, model)
    print("%s: %d heads of size %d; %d attention scalings by %.7f in the graph" %
          (model, h, d, len(scales), d ** -0.5))


def check_full_groups(path):
    """Every matrix computed by a group has all its singular values."""
    m = h5py.File(path, "r")["matrices"]
    g = m["nranks"][()] > 1
    want = np.minimum(m["rows"][()], m["cols"][()])
    n = int((m["sigma_full_count"][()][g] == want[g]).sum())
    assert n == g.sum() > 0, (n, g.sum())
    print(n, "grouped matrices with every singular value")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"numbers": lambda: check_numbers(*args), "same": lambda: check_same(args),
     "close": lambda: check_close(args),
     "groups": lambda: check_groups(*args),
     "zoo": lambda: check_zoo(args),
     "expect": lambda: check_expect(*args), "convert": lambda: check_convert(*args),
     "schema": lambda: check_schema(*args), "match": lambda: check_match(*args), "full_groups": lambda: check_full_groups(*args),
     "heads": lambda: check_heads(*args), "no_heads": lambda: check_no_heads(*args), "exact_path": lambda: check_exact_path(*args),
     "pairs": lambda: check_pairs(*args), "onnx_heads": lambda: check_onnx_heads(*args)}[cmd]()
