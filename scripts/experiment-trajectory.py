#!/usr/bin/python3
"""Table and plots of the training-trajectory experiment
(docs/experiments/trajectory.md), from the HDF5 files of
`flagscope trajectory` listed in RUNS (lines: act depth lambda seed file.h5).

usage: experiment-trajectory.py RUNS LR OUTDIR
writes OUTDIR/trajectory-table.md, trajectory-balancedness.png,
trajectory-kappa-rel.png and trajectory-rates.png.
"""
import collections
import math
import sys

import h5py
import numpy as np


def load(runs):
    out = []
    for line in open(runs):
        act, depth, lam, seed, path = line.split()
        f = h5py.File(path, "r")
        t = f["trajectory"]
        s, p = t["series"], t["points"]
        out.append(dict(
            act=act, lam=float(lam), seed=int(seed), lr=float(t.attrs["lr"]),
            rate_t=s["balancedness_rate_t"][()], rate_t_se=s["balancedness_rate_t_se"][()],
            krate_t=s["kappa_rel_rate_t"][()], krate_t_se=s["kappa_rel_rate_t_se"][()],
            beta_first=s["balancedness_first"][()], beta_last=s["balancedness_last"][()],
            krel_first=s["kappa_rel_first"][()], krel_last=s["kappa_rel_last"][()],
            krel_mean=s["kappa_rel_window_mean"][()],
            npoints=s["balancedness_npoints"][()],
            step=t["checkpoints"]["step"][()], loss=t["checkpoints"]["loss"][()],
            series=p["series"][()], beta=p["balancedness"][()], krel=p["kappa_rel"][()]))
    return out


def fmt(v, digits=3):
    return "%.*g" % (digits, v) if np.isfinite(v) else "n/a"


def table(runs, lr):
    groups = collections.OrderedDict()
    for r in sorted(runs, key=lambda r: (["linear", "relu", "tanh"].index(r["act"]), r["lam"])):
        groups.setdefault((r["act"], r["lam"]), []).append(r)
    lines = [
        "| activation | lambda | theory 2 lambda | discrete -ln(1-2 lr lambda)/lr | balancedness rate (per t) | rate / lambda | "
        "balancedness first -> last | kappa_rel rate (per t) | kappa_rel first -> last | kappa_rel in fit window | final loss |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (act, lam), rs in groups.items():
        rate = np.concatenate([r["rate_t"] for r in rs])
        krate = np.concatenate([r["krate_t"] for r in rs])
        bf = np.concatenate([r["beta_first"] for r in rs])
        bl = np.concatenate([r["beta_last"] for r in rs])
        kf = np.concatenate([r["krel_first"] for r in rs])
        kl = np.concatenate([r["krel_last"] for r in rs])
        km = np.concatenate([r["krel_mean"] for r in rs])
        loss = np.array([r["loss"][-1] for r in rs])
        disc = -math.log(1 - 2 * lr * lam) / lr

        def ms(x, d=3):
            x = x[np.isfinite(x)]
            if not len(x):
                return "n/a"
            return "%s +- %s" % (fmt(x.mean(), d), fmt(x.std(ddof=1) if len(x) > 1 else 0, 2))
        lines.append("| %s | %g | %g | %s | %s | %s | %s -> %s | %s | %s -> %s | %s (min %s) | %s |" % (
            act, lam, 2 * lam, fmt(disc, 4), ms(rate, 4), ms(rate / lam, 5),
            fmt(np.median(bf)), fmt(np.median(bl)), ms(krate, 3),
            fmt(np.median(kf)), fmt(np.median(kl)), ms(km, 3), fmt(np.nanmin(km)), fmt(np.median(loss))))
    note = ("\n%d runs (%d pairs each); mean +- sample standard deviation over seeds x pairs; "
            "first -> last are medians.\n" % (len(runs), len(runs[0]["rate_t"])))
    return "\n".join(lines) + "\n" + note


def plots(runs, outdir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    lams = sorted({r["lam"] for r in runs})
    acts = ["linear", "relu", "tanh"]
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(lams)))
    for key, name, ylabel in (("beta", "balancedness", "balancedness"),
                              ("krel", "kappa-rel", "kappa_rel")):
        fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), sharey=True)
        for ax, act in zip(axes, acts):
            for c, lam in zip(colours, lams):
                for r in runs:
                    if r["act"] != act or r["lam"] != lam:
                        continue
                    for k in range(len(r["rate_t"])):
                        sel = r["series"] == k
                        x = r["step"] * r["lr"] * lam  # lambda t: one axis for all lambdas
                        ax.semilogy(x, r[key][sel], color=c, lw=0.8,
                                    label="lambda = %g" % lam if r["seed"] == 1 and k == 0 else None)
            ax.set_title("%s MLP, depth 3" % act)
            ax.set_xlabel("lambda t  (t = step x lr)")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel(ylabel)
        if key == "beta":
            x = np.linspace(0, 8, 50)
            axes[0].semilogy(x, 0.5 * np.exp(-2 * x), "k--", lw=1, label="0.5 exp(-2 lambda t)")
        axes[0].legend(fontsize=7)
        fig.suptitle("%s of the pairs (layers.0->1, layers.1->2), 3 seeds each" % ylabel)
        fig.tight_layout()
        fig.savefig("%s/trajectory-%s.png" % (outdir, name), dpi=90)
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    lam = np.array(lams)
    ax.loglog(lam, 2 * lam, "k--", lw=1, label="theory: 2 lambda")
    for act, m in zip(acts, "os^"):
        xs, ys = [], []
        for r in runs:
            if r["act"] == act:
                for v in r["rate_t"]:
                    xs.append(r["lam"])
                    ys.append(v)
        ys = np.array(ys)
        ok = ys > 0
        ax.loglog(np.array(xs)[ok], ys[ok], m, ms=5, alpha=0.6, label="%s (balancedness)" % act)
    ax.set_xlabel("weight decay lambda")
    ax.set_ylabel("fitted rate per unit t")
    ax.set_title("balancedness decay rate against weight decay")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig("%s/trajectory-rates.png" % outdir, dpi=90)
    plt.close(fig)


def main():
    runs_file, lr, outdir = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    runs = load(runs_file)
    text = table(runs, lr)
    open("%s/trajectory-table.md" % outdir, "w").write(text)
    print(text)
    plots(runs, outdir)


if __name__ == "__main__":
    main()
