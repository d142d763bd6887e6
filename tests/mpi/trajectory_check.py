#!/usr/bin/python3
"""Checks of `flagscope trajectory` outputs of the runs of trajectory.sh.

usage: trajectory_check.py ZOODIR RUN.h5... NP2.h5

1. Every point of /trajectory/points against numpy from the checkpoint bytes:
   balancedness, kappa and kappa_rel (the Haar closed form of
   docs/mathematics.md section 6, written out again here).
2. Every fitted rate against numpy's least squares on the same window and points.
3. The dynamical claims, with margins (docs/experiments/trajectory.md):
   linear networks: balancedness falls by >= 100x and its rate per unit t is
   within 3% of -ln(1 - 2 lr lambda) / lr (the discrete-time value of 2 lambda);
   ReLU networks: kappa_rel stays >= 0.3 at every checkpoint of the fit window
   and balancedness >= 0.1, decaying at less than a tenth of 2 lambda.
4. NP2.h5 (the relu seed-1 series on 2 ranks) equals the 1-rank result.
Nothing here shares code with flagscope.
"""
import json
import math
import os
import struct
import sys

import h5py
import numpy as np


def load_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack_from("<Q", raw)[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        assert t["dtype"] == "F64"
        out[name] = np.frombuffer(raw[8 + n + b:8 + n + e], "<f8").reshape(t["shape"])
    return out, header["__metadata__"]


def kappa_random(A, B):
    d = A.shape[0]
    a = np.linalg.eigvalsh(A)
    b = np.linalg.eigvalsh(B)
    a, b = a / a.max(), b / b.max()
    p1, p2, q1, q2 = a.sum(), (a * a).sum(), b.sum(), (b * b).sum()
    e1 = p2 * q2 / d
    e2 = ((p2 * q2 + p2 * q1 ** 2 + p1 ** 2 * q2) / (d * (d + 2))
          - (p1 ** 2 - p2) * (q1 ** 2 - q2) / ((d - 1) * d * (d + 2)))
    return math.sqrt((2 * e1 - 2 * e2) / (2 * p2 * q2))


def pair_numbers(W0, W1):
    A, B = W1.T @ W1, W0 @ W0.T
    nA, nB = np.linalg.norm(A), np.linalg.norm(B)
    beta = np.linalg.norm(A - B) / (nA + nB)
    kappa = np.linalg.norm(A @ B - B @ A) / (math.sqrt(2) * nA * nB)
    return beta, kappa, kappa / kappa_random(A, B)


def ols_rate(x, y):
    x, ly = np.asarray(x, float), np.log(y)
    b, c = np.polyfit(x, ly, 1)
    r = ly - (b * x + c)
    se = math.sqrt((r @ r) / (len(x) - 2) / ((x - x.mean()) @ (x - x.mean())))
    return -b, se


def close(a, b, rel, ab):
    return abs(a - b) <= ab + rel * abs(b)


def check_run(zoo, h5):
    run = os.path.basename(h5)[:-3]
    act, lam = run.split("-")[0], float(run.split("-wd")[1].split("-")[0])
    f = h5py.File(h5, "r")
    t = f["trajectory"]
    ck, se, pt = t["checkpoints"], t["series"], t["points"]
    steps = ck["step"][()]
    lr = float(t.attrs["lr"])
    man = [l.split() for l in open(os.path.join(zoo, run, "trajectory.txt")) if not l.startswith("#")]
    assert [int(s) for _, s in man] == list(steps), "%s: steps differ from the manifest" % h5
    nser = len(se["writer"])
    assert nser == 2, "%s: a depth-3 MLP has 2 chain pairs, found %d" % (h5, nser)
    vals = np.zeros((nser, len(steps), 3))
    for c, (path, _) in enumerate(man):
        W, meta = load_safetensors(os.path.join(zoo, run, path))
        assert float(meta["flagscope.train.lr"]) == lr
        for k in range(nser):
            assert se["writer"][k].decode() == "layers.%d.weight" % k
            vals[k, c] = pair_numbers(W["layers.%d.weight" % k], W["layers.%d.weight" % (k + 1)])
    worst = 0.0
    for i in range(len(pt["series"])):
        k, c = pt["series"][i], pt["checkpoint"][i]
        assert pt["step"][i] == steps[c]
        for j, name in enumerate(("balancedness", "kappa", "kappa_rel")):
            got, want = pt[name][i], vals[k, c, j]
            assert close(got, want, 1e-5, 1e-11), \
                "%s series %d step %d: %s %.12g, numpy %.12g" % (h5, k, steps[c], name, got, want)
            if want > 1e-6:
                worst = max(worst, abs(got - want) / want)
    lo, hi, floor = t.attrs["fit_from_step"], t.attrs["fit_to_step"], t.attrs["fit_floor"]
    assert lo == steps[0] + (steps[-1] - steps[0]) // 2 and hi == steps[-1]
    win = (steps >= lo) & (steps <= hi)
    for k in range(nser):
        for q in ("balancedness", "kappa_rel"):
            # flagscope's own points (checked above): the estimator alone is tested here
            y = np.array([pt[q][i] for i in range(len(pt["series"])) if pt["series"][i] == k])
            sel = win & (y > floor)
            r, s = ols_rate(steps[sel], y[sel])
            assert se[q + "_npoints"][k] == sel.sum()
            assert close(se[q + "_rate"][k], r, 1e-6, 1e-12), \
                "%s: %s rate %.10g, numpy %.10g" % (h5, q, se[q + "_rate"][k], r)
            assert close(se[q + "_rate_se"][k], s, 1e-6, 1e-15), \
                "%s: %s rate se %.10g, numpy %.10g" % (h5, q, se[q + "_rate_se"][k], s)
            assert close(se[q + "_rate_t"][k], r / lr, 1e-6, 1e-12)
    # the claims
    beta, krel = vals[:, :, 0], vals[:, :, 2]
    theory = -math.log(1 - 2 * lr * lam) / lr
    for k in range(nser):
        rate_t = se["balancedness_rate_t"][k]
        if act == "linear":
            drop = beta[k, 0] / beta[k, -1]
            assert drop >= 100, "%s series %d: balancedness fell only %.3gx" % (h5, k, drop)
            assert abs(rate_t / theory - 1) < 0.03, \
                "%s series %d: rate %.5g per unit t, theory %.5g" % (h5, k, rate_t, theory)
            print("%s pair %d: balancedness %.3g -> %.3g (%.3gx), rate %.5f per t "
                  "(2 lambda %.3f, discrete %.5f), kappa_rel %.3g -> %.3g"
                  % (run, k, beta[k, 0], beta[k, -1], drop, rate_t, 2 * lam, theory,
                     krel[k, 0], krel[k, -1]))
        else:
            assert krel[k, win].min() >= 0.3, \
                "%s series %d: kappa_rel fell to %.3g < 0.3" % (h5, k, krel[k, win].min())
            assert beta[k, win].min() >= 0.1
            assert abs(rate_t) < 0.1 * 2 * lam, "%s: relu balancedness decays at %g" % (h5, rate_t)
            print("%s pair %d: balancedness %.3g -> %.3g, rate %.2g per t; kappa_rel %.3g -> %.3g "
                  "(min in window %.3g)" % (run, k, beta[k, 0], beta[k, -1], rate_t, krel[k, 0],
                                            krel[k, -1], krel[k, win].min()))
    return worst


def main():
    zoo, runs, np2 = sys.argv[1], sys.argv[2:-1], sys.argv[-1]
    worst = max(check_run(zoo, h5) for h5 in runs)
    print("points against numpy: worst relative difference %.2g" % worst)
    one = [r for r in runs if os.path.basename(r).startswith("relu-depth3-wd0.1-seed1")][0]
    a, b = h5py.File(one, "r")["trajectory"], h5py.File(np2, "r")["trajectory"]
    for g in ("checkpoints", "series", "points"):
        for k in a[g]:
            x, y = a[g][k][()], b[g][k][()]
            if x.dtype.kind == "f":
                assert np.allclose(x, y, rtol=1e-9, atol=1e-14, equal_nan=True), "np2 differs in %s/%s" % (g, k)
            else:
                assert (x == y).all(), "np2 differs in %s/%s" % (g, k)
    print("trajectory_check: all checks pass")


if __name__ == "__main__":
    main()
