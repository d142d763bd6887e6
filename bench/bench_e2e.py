#!/usr/bin/python3
"""End-to-end benchmarks of `flagscope analyze` (docs/benchmarks.md).

  bench_e2e.py [--build DIR] [--repeats R] [--quick] [--no-llama]
               [--no-reference] [--zoo 1,10,100]

1. Generates (once, into BUILD/bench-models, never committed) a GPT-2-small-
   shaped checkpoint (124.4M parameters) and one Llama-7B block
   (bench/make_models.py).
2. Runs flagscope on each at 1 and 2 ranks, R times, with its attention-head
   diagnostics and with --no-heads: wall time (median), CPU time of all
   ranks, per-rank stage times and peak memory (--timing).
3. Runs bench/reference_fullsvd.py (full SVD of every matrix, same pair
   diagnostics, one process) on the same model in the same run: the ratio,
   both for flagscope's whole analysis and for the same work as the
   reference's (--no-heads: the reference has no head diagnostics).
4. Zoo scaling: 1, 10, 100 copies of the small example model (symlinks in a
   temporary directory) at 2 ranks: time per model should stay constant.
--quick: GPT-2 only, R = 1, no reference, zoo 1 and 10.
Every process gets OPENBLAS_NUM_THREADS=1 (one BLAS thread per rank).
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
           OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
TIMING = re.compile(r"timing rank (\d+): plan ([\d.]+) s, read ([\d.]+) s, svd ([\d.]+) s, "
                    r"pairs ([\d.]+) s, heads ([\d.]+) s, reduce ([\d.]+) s, write ([\d.]+) s; peak memory "
                    r"(\d+) MB, largest owned matrix (\d+) MB")


def run(cmd):
    """(wall seconds, CPU seconds of all descendants, stdout + stderr)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if p.returncode:
        sys.exit(f"bench_e2e: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return wall, cpu, p.stdout + p.stderr


def flagscope(build, models, ranks, out, manifest=None, extra=()):
    cmd = ["mpirun", "-n", str(ranks), "--bind-to", "none", os.path.join(build, "flagscope"),
           "analyze", "--timing", "--quiet", "-o", out, *extra]
    cmd += ["--zoo", manifest] if manifest else models
    wall, cpu, text = run(cmd)
    ranks_t = [tuple(float(x) for x in m.groups()) for m in TIMING.finditer(text)]
    return wall, cpu, sorted(ranks_t)


def median_run(build, model, ranks, out, repeats, extra=()):
    runs = [flagscope(build, [model], ranks, out, extra=extra) for _ in range(repeats)]
    runs.sort(key=lambda r: r[0])
    return runs[len(runs) // 2], [r[0] for r in runs]


def e2e_table(build, models, repeats):
    print("\n### End to end\n")
    print("| model | analysis | ranks | wall s (median) | all runs s | CPU s (all ranks) | per rank: read / svd / "
          "pairs / heads / reduce / write s | peak MB per rank | largest owned MB | "
          "peak < 2x largest + 200 MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    results = {}
    for name, path in models:
        for variant, extra in (("whole", ()), ("--no-heads", ("--no-heads",))):
            for ranks in (1, 2):
                out = os.path.join(tempfile.gettempdir(), f"bench_e2e_{name}_{ranks}{extra and '_noheads' or ''}.h5")
                (wall, cpu, rt), walls = median_run(build, path, ranks, out, repeats, extra)
                results[(name, ranks, variant)] = (wall, cpu, out)
                stages = "; ".join("/".join(f"{t[i]:.2f}" for i in range(2, 8)) for t in rt)
                peak = ", ".join(f"{t[8]:.0f}" for t in rt)
                big = ", ".join(f"{t[9]:.0f}" for t in rt)
                ok = all(t[8] < 2 * t[9] + 200 for t in rt)
                print(f"| {name} | {variant} | {ranks} | {wall:.2f} | {' '.join(f'{w:.1f}' for w in walls)} | "
                      f"{cpu:.2f} | {stages} | {peak} | {big} | {'yes' if ok else 'no'} |", flush=True)
    return results


def reference_table(models, results):
    print("\n### Against the full-spectrum way (bench/reference_fullsvd.py)\n")
    print("| model | reference wall s | reference CPU s | reference read / svd / pairs s | "
          "flagscope 1 rank wall s | ratio | flagscope 2 ranks wall s | ratio | CPU ratio "
          "(1 rank) | the same work (--no-heads) 1 / 2 ranks wall s | its ratio 1 / 2 ranks | "
          "largest difference from flagscope |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, path in models:
        wall, cpu, text = run([PY, os.path.join(HERE, "reference_fullsvd.py"), path,
                               results[(name, 1, "whole")][2]])
        m = re.search(r"read ([\d.]+) s, svd ([\d.]+) s, pairs ([\d.]+) s", text)
        diff = re.search(r"flagscope: (.*) \(sigma", text)
        w1, c1, _ = results[(name, 1, "whole")]
        w2, _, _ = results[(name, 2, "whole")]
        n1, n2 = results[(name, 1, "--no-heads")][0], results[(name, 2, "--no-heads")][0]
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {'/'.join(m.groups())} | {w1:.2f} | "
              f"{wall / w1:.1f} | {w2:.2f} | {wall / w2:.1f} | {cpu / c1:.1f} | "
              f"{n1:.2f} / {n2:.2f} | {wall / n1:.1f} / {wall / n2:.1f} | "
              f"{diff.group(1) if diff else '?'} |", flush=True)


def zoo_table(build, counts):
    print("\n### Zoo scaling (copies of examples/zoo/stories260K.gguf, 2 ranks)\n")
    print("| models | wall s | CPU s | wall ms per model | CPU ms per model |")
    print("|---|---|---|---|---|")
    src = os.path.join(HERE, "..", "examples", "zoo", "stories260K.gguf")
    with tempfile.TemporaryDirectory() as d:
        for n in counts:
            for i in range(n):
                link = os.path.join(d, f"m{i:04d}.gguf")
                if not os.path.exists(link):
                    os.symlink(os.path.abspath(src), link)
            manifest = os.path.join(d, f"zoo{n}.txt")
            with open(manifest, "w") as f:
                f.write("".join(f"m{i:04d}.gguf\n" for i in range(n)))
            wall, cpu, _ = flagscope(build, None, 2, os.path.join(d, "zoo.h5"), manifest)
            print(f"| {n} | {wall:.2f} | {cpu:.2f} | {1e3 * wall / n:.0f} | {1e3 * cpu / n:.0f} |",
                  flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-llama", action="store_true")
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--zoo", default="1,10,100")
    a = ap.parse_args()
    if a.quick:
        a.repeats, a.no_llama, a.no_reference, a.zoo = 1, True, True, "1,10"
    mdir = os.path.join(a.build, "bench-models")
    models = [("gpt2-small", os.path.join(mdir, "gpt2-small", "model.safetensors"))]
    if not a.no_llama:
        models.append(("llama7b-block", os.path.join(mdir, "llama7b-block", "model.safetensors")))
    for name, path in models:
        if not os.path.exists(path):
            kind = "gpt2" if name.startswith("gpt2") else "llama"
            subprocess.run([PY, os.path.join(HERE, "make_models.py"), mdir, kind], env=ENV, check=True)
    print(f"bench_e2e: {os.uname().nodename}, {os.cpu_count()} cores, OPENBLAS_NUM_THREADS=1, "
          f"median of {a.repeats} run(s); {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    results = e2e_table(a.build, models, a.repeats)
    if not a.no_reference:
        reference_table(models, results)
    zoo_table(a.build, [int(x) for x in a.zoo.split(",") if x])


if __name__ == "__main__":
    main()
