#!/usr/bin/python3
"""The full-spectrum tools' way, for comparison: one process, one layer at a
time, a full dense SVD of every matrix (numpy.linalg.svd, LAPACK dgesdd, as
WeightWatcher does), then the same pair diagnostics as flagscope's low-rank
mode from the leading k / j singular vectors.

  reference_fullsvd.py MODEL.safetensors FLAGSCOPE.h5

The list of matrices (tensor, row and column slices, transposition, folded
norm gain) and of pairs is taken from flagscope's output for the same model,
so both do the same work; reading that list is not timed.  Prints the times
(read, SVD, pairs, total) and the largest differences from flagscope's
sigma, principal angles, overlap, kappa and balancedness: an independent
check of the numbers as well as a timing.  Debian's numpy and h5py; F32,
F16 and F64 safetensors.
"""
import json
import struct
import sys
import time

import h5py
import numpy as np

DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8"}


def open_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    base = 8 + n

    def tensor(name):
        h = header[name]
        a, b = h["data_offsets"]
        shape = h["shape"]
        arr = np.fromfile(path, dtype=DTYPES[h["dtype"]], count=(b - a) // np.dtype(DTYPES[h["dtype"]]).itemsize,
                          offset=base + a).astype(np.float64)
        return arr.reshape(shape if len(shape) == 2 else (1, -1))
    return tensor


def s(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def load_matrix(tensor, M, i):
    """The matrix as flagscope reads it: row blocks, column slice, fold."""
    T = tensor(s(M["tensor"][i]))
    r0, rows, c0, cols = (int(M[c][i]) for c in ("row0", "rows", "col0", "cols"))
    nb, step = int(M["row_blocks"][i]), int(M["row_step"][i])
    blk = rows // nb
    idx = np.concatenate([np.arange(r0 + b * step, r0 + b * step + blk) for b in range(nb)])
    W = T[idx, c0:c0 + cols]
    fold = s(M["fold"][i])
    if fold:
        g = tensor(fold).ravel()
        W = W * (g[idx][:, None] if M["transposed"][i] else g[c0:c0 + cols][None, :])
    return W


def pair_numbers(Uw, sw, Vr, sr):
    C = Vr.T @ Uw  # j x k
    cos = np.clip(np.linalg.svd(C, compute_uv=False), -1.0, 1.0)
    theta = np.sort(np.arccos(cos))
    a, b = sr ** 2, sw ** 2
    Mx = a[:, None] * C * b[None, :]
    comm2 = 2 * np.sum(Mx * Mx) - 2 * np.trace((Mx.T @ C) @ (Mx.T @ C))
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    kappa = np.sqrt(max(comm2, 0.0)) / (np.sqrt(2) * na * nb)
    diff2 = na ** 2 + nb ** 2 - 2 * np.sum(a[:, None] * b[None, :] * C * C)
    bal = np.sqrt(max(diff2, 0.0)) / (na + nb)
    return theta, np.sum(C * C), kappa, bal


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    tensor = open_safetensors(sys.argv[1])
    with h5py.File(sys.argv[2], "r") as f:
        M = {k: f["matrices"][k][:] for k in f["matrices"].keys()}
        P = {k: f["pairs"][k][:] for k in f["pairs"].keys()}
    nmat = len(M["name"])
    t_read = t_svd = 0.0
    t0 = time.perf_counter()
    out, inp, sig = {}, {}, {}
    for i in range(nmat):
        if s(M["status"][i]) != "ok":
            continue
        t = time.perf_counter()
        W = load_matrix(tensor, M, i)
        t_read += time.perf_counter() - t
        t = time.perf_counter()
        U, S, Vt = np.linalg.svd(W, full_matrices=False)  # every singular triplet
        t_svd += time.perf_counter() - t
        k = int(M["k"][i])
        if M["transposed"][i]:
            out[i], inp[i] = Vt[:k].T, U[:, :k]
        else:
            out[i], inp[i] = U[:, :k], Vt[:k].T
        sig[i] = S
    t = time.perf_counter()
    worst = {"sigma": 0.0, "theta": 0.0, "overlap": 0.0, "kappa": 0.0, "balancedness": 0.0}
    for p in range(len(P["writer"])):
        w, r = int(P["writer"][p]), int(P["reader"][p])
        if s(P["status"][p]) != "ok":
            continue
        k, j = out[w].shape[1], inp[r].shape[1]
        theta, ov, kap, bal = pair_numbers(out[w], sig[w][:k], inp[r], sig[r][:j])
        q, off = int(P["q"][p]), int(P["theta_offset"][p])
        worst["theta"] = max(worst["theta"], np.max(np.abs(theta[:q] - P["theta"][off:off + q])))
        for name, v in (("overlap", ov), ("kappa", kap), ("balancedness", bal)):
            worst[name] = max(worst[name], abs(v - P[name][p]) / max(abs(P[name][p]), 1e-300))
    t_pairs = time.perf_counter() - t
    total = time.perf_counter() - t0
    for i in sig:
        k, off = int(M["k"][i]), int(M["sigma_offset"][i])
        ref = sig[i][:k]
        worst["sigma"] = max(worst["sigma"], np.max(np.abs(M["sigma"][off:off + k] - ref) / ref.clip(1e-300)))
    print(f"reference: read {t_read:.3f} s, svd {t_svd:.3f} s, pairs {t_pairs:.3f} s, "
          f"total {total:.3f} s ({len(sig)} matrices, {len(P['writer'])} pairs)")
    print("reference: largest difference from flagscope: " +
          ", ".join(f"{k} {v:.1e}" for k, v in worst.items()) +
          " (sigma, overlap, kappa, balancedness relative; theta in radians)")


if __name__ == "__main__":
    main()
