#!/usr/bin/python3
"""Independent checks of the model-wide statistics (/zoo, /stats) and of
`flagscope report` / `flagscope compare`, with Debian's h5py, numpy, pandas and PIL.

  fs_report_check.py stats OUT.h5 [ANALYZE_STDOUT]
        /stats and /zoo recomputed from /pairs with numpy (np.quantile, linear);
        /zoo read into pandas; the means printed by `flagscope analyze`
  fs_report_check.py report OUT.h5 DIR
        DIR/stdout.txt, DIR/csv/*.csv and DIR/plots/*.png of `flagscope report`:
        every CSV cell equals h5py's value, the printed medians and fractions equal
        /zoo's, every PNG is a real picture (not blank)
  fs_report_check.py compare CSVDIR A.h5 B.h5 ...
        compare_zoo.csv is the union of the /zoo tables; compare_families.csv
        ranks the families as recomputed with pandas
  fs_report_check.py add-heads IN.h5 OUT.h5
        a copy with a /head_overlaps group (schema of docs/hdf5-schema.md) of known
        matrices, unless IN.h5 has one already
  fs_report_check.py heads OUT.h5 DIR
        head_redundancy.csv against numpy; a heat-map PNG per (model, block)
  fs_report_check.py tamper IN.h5 OUT.h5 version|incomplete|noheads
        a copy with schema_version 2, without the attribute `complete`, or
        without /head_overlaps

Nothing here shares code with flagscope.
"""
import csv
import glob
import math
import os
import re
import shutil
import sys

import h5py
import numpy as np

TYPES = ["chain", "mlp", "ov", "residual", "block", "classifier"]  # schema order
QUANT = [0.10, 0.25, 0.50, 0.75, 0.90]


def s(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def close(a, b, rtol=1e-12, atol=1e-14):
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return abs(a - b) <= atol + rtol * abs(b)


def pair_values(f):
    """Per pair: type, block, model, ok, and every statistic's value."""
    p = f["pairs"]
    eps = list(f.attrs["eps_degrees"])
    q = p["q"][()].astype(float)
    ok = np.array([s(x) == "ok" for x in p["status"][()]])
    with np.errstate(divide="ignore", invalid="ignore"):
        vals = [("ratio", e, p["dim_eps%d" % i][()] / q) for i, e in enumerate(eps)]
        vals += [("ratio_random", None, p["dim_random"][()] / q),
                 ("overlap_rel", None, np.where(p["overlap_random"][()] > 0,
                                                p["overlap"][()] / p["overlap_random"][()], np.nan)),
                 ("kappa", None, p["kappa"][()]), ("kappa_rel", None, p["kappa_rel"][()]),
                 ("balancedness", None, p["balancedness"][()])]
    types = np.array([s(x) for x in p["type"][()]])
    return p["model"][()], types, p["block"][()], ok, vals


def expected_stats(f):
    """The rows of /stats as numpy computes them, in the schema's order."""
    model, types, block, ok, vals = pair_values(f)
    rows = []
    for m in range(len(f["models"]["path"])):
        for t in TYPES:
            sel = ok & (model == m) & (types == t)
            if not sel.any():
                continue
            for name, e, v in vals:
                x, b = v[sel], block[sel]
                fin = np.isfinite(x)
                x, b = x[fin], b[fin]
                blocks = sorted(set(int(k) for k in b if k >= 0))
                prof = [float(np.mean(x[b == k])) for k in blocks]
                qs = np.quantile(x, QUANT) if len(x) else [np.nan] * 5
                rows.append(dict(model=m, type=t, statistic=name, eps=e, count=len(x),
                                 mean=float(np.mean(x)) if len(x) else np.nan,
                                 min=float(x.min()) if len(x) else np.nan,
                                 max=float(x.max()) if len(x) else np.nan,
                                 q=[float(v) for v in qs], blocks=blocks, profile=prof))
    return rows


def check_stats(path, analyze_stdout=None):
    f = h5py.File(path, "r")
    st, z = f["stats"], f["zoo"]
    want = expected_stats(f)
    n = len(st["model"])
    assert n == len(want), "%d rows in /stats, numpy expects %d" % (n, len(want))
    worst = 0.0
    pb, pv = st["profile_block"][()], st["profile_value"][()]
    for i, w in enumerate(want):
        assert int(st["model"][i]) == w["model"] and s(st["type"][i]) == w["type"], i
        assert s(st["statistic"][i]) == w["statistic"], (i, s(st["statistic"][i]), w["statistic"])
        e = float(st["eps_degrees"][i])
        assert (math.isnan(e) and w["eps"] is None) or e == w["eps"], i
        assert int(st["count"][i]) == w["count"], i
        got = [float(st[c][i]) for c in ("mean", "min", "max", "q10", "q25", "median", "q75", "q90")]
        exp = [w["mean"], w["min"], w["max"]] + w["q"]
        for a, b in zip(got, exp):
            assert close(a, b), (i, w["statistic"], got, exp)
            if not math.isnan(b):
                worst = max(worst, abs(a - b))
        o, L = int(st["profile_offset"][i]), int(st["profile_length"][i])
        assert list(pb[o:o + L]) == w["blocks"], (i, list(pb[o:o + L]), w["blocks"])
        for a, b in zip(pv[o:o + L], w["profile"]):
            assert close(float(a), b), (i, "profile")
            worst = max(worst, abs(a - b))
    check_zoo(f, want)
    check_zoo_heads(f)
    check_pandas(f)
    if analyze_stdout:
        check_printed_means(f, want, analyze_stdout)
    print("stats: %d rows of /stats and %d of /zoo equal numpy's (largest deviation %.1e)"
          % (n, len(z["path"]), worst))


def aligned_fractions(f, m, t):
    """Fractions of the ok pairs of model m and type t that are subspace-aligned
    and, of those, basis-aligned, numpy's NaN for 0/0."""
    ae, ar, ak = (float(f.attrs[k][0]) for k in ("align_eps_degrees", "align_ratio", "align_kappa"))
    model, types, block, ok, vals = pair_values(f)
    ratio = [v for name, e, v in vals if name == "ratio" and e == ae][0]
    krel = [v for name, e, v in vals if name == "kappa_rel"][0]
    sel = ok & (model == m) & (types == t)
    sub = ratio[sel] >= ar
    return (sub.mean() if sel.any() else np.nan,
            (krel[sel][sub] <= ak).mean() if sub.any() else np.nan)


def check_zoo(f, want):
    z = f["zoo"]
    ae = float(f.attrs["align_eps_degrees"][0])
    model, types, block, ok, vals = pair_values(f)
    ratio = [v for name, e, v in vals if name == "ratio" and e == ae][0]
    krel = [v for name, e, v in vals if name == "kappa_rel"][0]
    mo = f["models"]
    assert len(z["path"]) == len(mo["path"])
    for m in range(len(mo["path"])):
        assert z["path"][m] == mo["path"][m] and z["status"][m] == mo["status"][m], m
        assert z["reason"][m] == mo["error"][m], m
        for t in TYPES:
            sel = ok & (model == m) & (types == t)
            assert int(z[t + "_pairs"][m]) == int(sel.sum()), (m, t)
            if not sel.any():
                assert math.isnan(z[t + "_ratio_mean"][m]), (m, t)
                continue
            r, k = ratio[sel], krel[sel]
            sub, bas = aligned_fractions(f, m, t)
            exp = {"ratio_mean": r.mean(), "ratio_median": np.median(r),
                   "kappa_rel_mean": k.mean(), "kappa_rel_median": np.median(k),
                   "aligned_subspace": sub, "aligned_basis": bas}
            for c, v in exp.items():
                assert close(float(z["%s_%s" % (t, c)][m]), float(v)), (m, t, c)
    params = z["parameters"][()]
    assert all(int(p) > 0 for p, st in zip(params, z["status"][()]) if s(st) == "ok")


def check_zoo_heads(f):
    """head_<kind>_overlap / _redundant of /zoo from /head_overlaps, with
    mean_offdiag itself recomputed from each overlap matrix."""
    z, o = f["zoo"], f.get("head_overlaps")
    if o is None:
        return
    th = float(f.attrs["head_threshold"][0])
    ov, checked = o["overlap"][()], 0
    for m in range(len(z["path"])):
        rows = [i for i in range(len(o["model"])) if o["model"][i] == m and s(o["status"][i]) == "ok"]
        assert int(z["head_blocks"][m]) == len({int(o["block"][i]) for i in rows if ">" not in s(o["kind"][i])})
        for k in KINDS:
            means, red = [], 0
            for i in rows:
                if s(o["kind"][i]) != k:
                    continue
                nr, nc, off = int(o["nrows"][i]), int(o["ncols"][i]), int(o["offset"][i])
                a = ov[off:off + nr * nc].reshape(nr, nc)
                if ">" in k:
                    mean, above = a.mean(), int((a > th).sum())
                else:
                    iu = np.triu_indices(nr, 1)
                    mean = a[iu].mean() if nr > 1 else np.nan
                    above = int((a[iu] > th).sum())
                assert close(float(o["mean_offdiag"][i]), float(mean), 1e-12, 1e-15), (m, k, i)
                assert int(o["n_redundant"][i]) == above, (m, k, i)
                if np.isfinite(mean):
                    means.append(mean)
                red += above
            col = "head_%s_" % k.lower().replace(">", "_")
            want = float(np.mean(means)) if means else np.nan
            assert close(float(z[col + "overlap"][m]), want, 1e-12, 1e-15), (m, k)
            assert int(z[col + "redundant"][m]) == red, (m, k)
            checked += 1
    print("zoo heads: %d (model, kind) head-redundancy values equal numpy's" % checked)


def check_pandas(f):
    """/zoo into a pandas DataFrame the way docs/hdf5-schema.md shows."""
    try:
        import pandas as pd
    except ImportError:
        print("pandas not installed: DataFrame check skipped")
        return
    g = f["zoo"]
    df = pd.DataFrame({k: g[k][()] for k in g})
    for k in df.columns:
        if df[k].dtype == object:
            df[k] = df[k].str.decode("ascii")
    assert len(df) == len(g["path"]) and "family" in df and df["parameters"].dtype.kind == "i"
    by = df.groupby("family")["parameters"].sum()
    assert by.sum() == df["parameters"].sum()


def printed_equal(txt, v, tol):
    """A number of a printed table: '-' exactly where the value is undefined (NaN)."""
    v = float(v)
    if txt == "-" or math.isnan(v):
        return txt == "-" and math.isnan(v)
    return abs(float(txt) - v) <= tol


def check_printed_means(f, want, stdout):
    """The summary table of `flagscope analyze` prints the means of /stats (4-5
    decimals) and the aligned fractions as numpy computes them (3 decimals),
    '-' where undefined (bas-al with no subspace-aligned pair)."""
    eps = list(f.attrs["eps_degrees"])
    names = [s(x) for x in f["zoo"]["name"][()]]
    rows = {(w["model"], w["type"], w["statistic"], w["eps"]): w for w in want}
    order = [("ratio", e) for e in eps] + [("ratio_random", None), ("overlap_rel", None),
                                           ("kappa", None), ("kappa_rel", None),
                                           ("balancedness", None)]
    model, checked, undefined = None, 0, 0
    for line in open(stdout):
        for i, n in enumerate(names):
            if line.startswith(n[:34]):
                model = i
        m = re.match(r"^.{34} .{8} .{7} .{5}  (\w+) +(\d+) +(.*)$", line.rstrip("\n"))
        if not m or m.group(1) not in TYPES or model is None:
            continue
        nums = m.group(3).split()
        assert len(nums) == len(order) + 2, (line, "columns")
        for (name, e), txt in zip(order, nums):
            w = rows[(model, m.group(1), name, e)]
            assert printed_equal(txt, w["mean"], 6e-5 + 1e-9 * abs(w["mean"])), (line, name)
            checked += 1
        for txt, v in zip(nums[-2:], aligned_fractions(f, model, m.group(1))):
            assert printed_equal(txt, v, 6e-4), (line, "sub-al/bas-al", txt, v)
            checked, undefined = checked + 1, undefined + (txt == "-")
    assert checked > 0, "no row of the printed table was recognised"
    print("printed means: %d numbers of the analyze table equal /stats and numpy's aligned "
          "fractions (%d undefined, printed '-')" % (checked, undefined))


# ---- report ---------------------------------------------------------------------------

def read_csv(path):
    with open(path, newline="") as fh:
        r = list(csv.reader(fh))
    return r[0], r[1:]


def cell_equal(txt, v):
    if isinstance(v, bytes):
        return txt == v.decode()
    if isinstance(v, (np.integer, int)):
        return int(txt) == int(v)
    v = float(v)
    return (txt == "nan" and math.isnan(v)) or (not math.isnan(v) and float(txt) == v)


def check_table_csv(f, group, path):
    head, rows = read_csv(path)
    g = f[group]
    n = len(rows)
    for c in head:
        assert c in g, "%s: column %s is not in %s" % (path, c, group)
        col = g[c][()]
        assert len(col) == n, (path, c)
        for i in range(n):
            assert cell_equal(rows[i][head.index(c)], col[i]), (path, c, i, rows[i][head.index(c)], col[i])
    cols = [k for k in g if g[k].shape == (n,)] if n else []
    assert set(cols) <= set(head), "%s lacks %s" % (path, set(cols) - set(head))
    return n, len(head)


def check_png(path):
    from PIL import Image
    im = Image.open(path).convert("RGB")
    w, h = im.size
    a = np.asarray(im)
    rgb = a.reshape(-1, 3).astype(np.uint32)
    colours = len(np.unique((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]))
    ink = float(np.mean(np.any(a < 200, axis=2)))  # fraction of non-white pixels
    assert w >= 600 and h >= 300, (path, im.size)
    assert colours >= 8, "%s: only %d colours" % (path, colours)
    assert 0.01 < ink < 0.6, "%s: %.3f of the pixels are ink" % (path, ink)
    return ink


def check_report(path, d):
    f = h5py.File(path, "r")
    n1, c1 = check_table_csv(f, "zoo", os.path.join(d, "csv", "zoo.csv"))
    n2, c2 = check_table_csv(f, "stats", os.path.join(d, "csv", "stats.csv"))
    # profiles.csv: the ragged depth profiles, one value a line
    head, rows = read_csv(os.path.join(d, "csv", "profiles.csv"))
    st = f["stats"]
    assert len(rows) == len(st["profile_value"]), "profiles.csv"
    i = 0
    for r in range(len(st["model"])):
        o, L = int(st["profile_offset"][r]), int(st["profile_length"][r])
        for k in range(o, o + L):
            row = rows[i]
            assert int(row[0]) == int(st["model"][r]) and row[2] == s(st["type"][r])
            assert int(row[5]) == int(st["profile_block"][k]) and float(row[6]) == st["profile_value"][k]
            i += 1
    check_printed_medians(f, os.path.join(d, "stdout.txt"))
    pngs = sorted(glob.glob(os.path.join(d, "plots", "*.png")))
    names = [os.path.basename(p) for p in pngs]
    for want in ("zoo_ratio.png", "zoo_kappa_rel.png", "zoo_balancedness.png", "zoo_alignment.png"):
        assert want in names, "%s missing" % want
    z = f["zoo"]
    with_pairs = [m for m in range(len(z["path"])) if sum(int(z[t + "_pairs"][m]) for t in TYPES)]
    depth = [n for n in names if n.startswith("depth_")]
    assert len(depth) == len(with_pairs), (depth, with_pairs)
    inks = [check_png(p) for p in pngs]
    print("report: zoo.csv %dx%d, stats.csv %dx%d, %d profile values equal h5py's; %d PNGs "
          "(ink %.2f-%.2f of the pixels)" % (n1, c1, n2, c2, len(rows), len(pngs), min(inks), max(inks)))


def check_printed_medians(f, stdout):
    """The report's zoo table: medians and aligned fractions of /zoo, and every
    model with its status (a failed one with its reason)."""
    z = f["zoo"]
    names = [s(x) for x in z["name"][()]]
    text = open(stdout).read().split("\nhead redundancy")[0]  # the zoo table
    model, checked = None, 0
    for line in text.splitlines():
        for i, n in enumerate(names):
            if line.startswith(n[:34]):
                model = i
                assert s(z["status"][i]) in line, (line, s(z["status"][i]))
        m = re.match(r"^.{34} .{8} .{10} .{7}  (\w+) +(\d+) +(\S+) +(\S+) +(\S+) +(\S+) +(\S+)$", line)
        if not m or m.group(1) not in TYPES:
            continue
        t = m.group(1)
        exp = [z[t + "_pairs"][model], z[t + "_ratio_median"][model], z[t + "_kappa_rel_median"][model],
               z[t + "_balancedness_median"][model], z[t + "_aligned_subspace"][model],
               z[t + "_aligned_basis"][model]]
        for txt, v in zip(m.groups()[1:], exp):
            assert printed_equal(txt, v, 6e-4), (line, txt, v)
            checked += 1
    for i, n in enumerate(names):
        assert n[:34] in text, "the report does not list %s" % n
        if s(z["status"][i]) != "ok":
            assert s(z["reason"][i])[:60] in text, "the report lacks the reason of %s" % n
    assert checked > 0
    print("printed: %d numbers of the report table equal /zoo" % checked)


# ---- compare --------------------------------------------------------------------------

def check_compare(d, paths):
    import pandas as pd
    head, rows = read_csv(os.path.join(d, "compare_zoo.csv"))
    assert head[0] == "run"
    want = []
    for p in paths:
        z = h5py.File(p, "r")["zoo"]
        for m in range(len(z["path"])):
            want.append((p, m, z))
    assert len(rows) == len(want), (len(rows), len(want))
    for row, (p, m, z) in zip(rows, want):
        assert row[0] == p
        for c in head[1:]:
            assert cell_equal(row[head.index(c)], z[c][m]), (p, m, c)
    df = pd.read_csv(os.path.join(d, "compare_zoo.csv"))
    fam = pd.read_csv(os.path.join(d, "compare_families.csv"))
    ok = df[df.status == "ok"]
    checked = 0
    for _, r in fam.iterrows():
        t = r["type"]
        sel = ok[(ok.family == r["family"]) & (ok[t + "_pairs"] > 0)]
        for c, better in (("ratio_median", 1), ("kappa_rel_median", 0), ("balancedness_median", 0),
                          ("aligned_subspace", 1), ("aligned_basis", 1)):
            v = sel[t + "_" + c].dropna()
            exp = v.mean() if len(v) else np.nan
            assert (np.isnan(exp) and np.isnan(r[c])) or abs(r[c] - exp) < 1e-12, (t, c)
            others = fam[fam["type"] == t][c].dropna()
            if not np.isnan(exp):
                tol = 1e-12 * max(1.0, abs(exp))  # C and pandas may sum in another order
                rank = 1 + int(((others > exp + tol) if better else (others < exp - tol)).sum())
                assert int(r[c + "_rank"]) == rank, (t, r["family"], c, r[c + "_rank"], rank)
            checked += 1
    assert checked > 0
    print("compare: %d merged rows equal the runs' /zoo; %d family values and ranks equal pandas'"
          % (len(rows), checked))


# ---- heads ----------------------------------------------------------------------------

KINDS = ["Q", "K", "V", "O", "OV>Q", "OV>K", "OV>V"]


def add_heads(src, dst):
    shutil.copyfile(src, dst)
    f = h5py.File(dst, "r+")
    if "head_overlaps" in f:
        print("add-heads: %s has /head_overlaps already" % src)
        return
    rng = np.random.default_rng(7)
    rows, data = [], []
    for m, (nh, st) in enumerate(zip(f["models"]["n_head"][()], f["models"]["status"][()])):
        if nh <= 0 or s(st) != "ok":
            continue
        for b in range(2):
            for k in KINDS:
                a = rng.uniform(0, 0.4, (nh, nh))
                if ">" not in k:
                    a = (a + a.T) / 2
                    np.fill_diagonal(a, 1.0)
                    a[0, 1] = a[1, 0] = 0.9  # one redundant head pair
                rows.append((m, b, k, nh, nh, sum(x.size for x in data)))
                data.append(a.ravel())
    g = f.create_group("head_overlaps")
    g["model"] = np.array([r[0] for r in rows], np.int64)
    g["block"] = np.array([r[1] for r in rows], np.int64)
    g["kind"] = np.array([r[2].encode() for r in rows], "S8")
    g["nrows"] = np.array([r[3] for r in rows], np.int64)
    g["ncols"] = np.array([r[4] for r in rows], np.int64)
    g["offset"] = np.array([r[5] for r in rows], np.int64)
    g["overlap"] = np.concatenate(data) if data else np.zeros(0)
    print("add-heads: %d rows of known head overlaps" % len(rows))


def check_heads(path, d, threshold=0.5):
    f = h5py.File(path, "r")
    g = f["head_overlaps"]
    ov = g["overlap"][()]
    head, rows = read_csv(os.path.join(d, "csv", "head_redundancy.csv"))
    assert len(rows) == len(g["model"]), "head_redundancy.csv rows"
    for i, r in enumerate(rows):
        nr, nc, o = int(g["nrows"][i]), int(g["ncols"][i]), int(g["offset"][i])
        a = ov[o:o + nr * nc].reshape(nr, nc)
        k = s(g["kind"][i])
        if ">" in k:
            mean, above = a.mean(), int((a > threshold).sum())
        else:
            off = ~np.eye(nr, dtype=bool)
            mean, above = a[off].mean(), int((np.triu(a, 1) > threshold).sum())
        assert r[3] == k and abs(float(r[6]) - mean) < 1e-12 and int(r[7]) == above, (i, r, mean, above)
    blocks = set(zip(g["model"][()], g["block"][()]))
    pngs = glob.glob(os.path.join(d, "plots", "heads_*_block*.png"))
    assert len(pngs) == len(blocks), (len(pngs), len(blocks))
    for p in pngs:
        check_png(p)
    print("heads: %d rows of head_redundancy.csv equal numpy's; %d heat-map figures"
          % (len(rows), len(pngs)))


def tamper(src, dst, how):
    shutil.copyfile(src, dst)
    f = h5py.File(dst, "r+")
    if how == "noheads":
        del f["head_overlaps"]
    elif how == "version":
        del f.attrs["schema_version"]
        f.attrs.create("schema_version", 2, dtype=np.int64)
    else:
        del f.attrs["complete"]


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"stats": lambda: check_stats(*args), "report": lambda: check_report(*args),
     "compare": lambda: check_compare(args[0], args[1:]), "add-heads": lambda: add_heads(*args),
     "heads": lambda: check_heads(*args), "tamper": lambda: tamper(*args)}[cmd]()
