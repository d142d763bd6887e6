#!/usr/bin/python3
"""Identical matrices computed once (fs_plan.h "twins"), end to end.

Four hand-built transformers (width 16, 4 heads, 2 blocks, vocabulary 50):
  gpt2_tied    GPT-2 names, one wte.weight read twice (input embedding,
               transposed, and the tied output head with ln_f folded) and
               ln_f = 1 exactly: the output head must be a copy;
  gpt2_gain    the same with a real ln_f gain: two different matrices, no copy;
  llama_bytes  Llama names, lm_head.weight stored separately with the same
               bytes as model.embed_tokens.weight and model.norm = 1: a copy,
               after the owner compared the contents;
  llama_differ lm_head = embed_tokens but for one element in a row that the
               plan's fingerprint (first, middle, last row) does not read: the
               owner's comparison must catch it and compute it on its own.
Runs `flagscope analyze` at 1 rank and at 2 ranks with each schedule, then
checks: every number against numpy from the checkpoint bytes (fs_check.py
numbers: sigma, norms, pairs through the copied bases, classifier statistics),
and that exactly the expected rows are copies (solver copy, 0 iterations,
copy_of = the source row, on the source's rank) and no other row is.
usage: twins.py FLAGSCOPE MPIRUN FS_CHECK WORKDIR"""
import os
import subprocess
import sys

import h5py
import numpy as np

from make_families import write as write_model  # the F32 safetensors + config.json writer

fs, mpirun, fs_check, work = sys.argv[1:5]
rng = np.random.default_rng(11)
D, H, F, V = 16, 4, 64, 50


def w(*shape):
    return rng.standard_normal(shape) / np.sqrt(shape[-1])


def write(name, tensors, config):
    folder = os.path.join(work, name)
    write_model(folder, tensors, config)
    return os.path.join(folder, "model.safetensors")


def gpt2(lnf):
    t = {"wte.weight": w(V, D)}
    for b in range(2):
        p = "h.%d." % b
        t.update({p + "ln_1.weight": 1 + 0.3 * rng.standard_normal(D),
                  p + "attn.c_attn.weight": w(D, 3 * D), p + "attn.c_proj.weight": w(D, D),
                  p + "ln_2.weight": 1 + 0.3 * rng.standard_normal(D),
                  p + "mlp.c_fc.weight": w(D, F), p + "mlp.c_proj.weight": w(F, D)})
    t["ln_f.weight"] = lnf
    return t, {"model_type": "gpt2", "n_head": H, "n_embd": D}


def llama(head):
    t = {"model.embed_tokens.weight": w(V, D)}
    for b in range(2):
        p = "model.layers.%d." % b
        t.update({p + "input_layernorm.weight": 1 + 0.3 * rng.standard_normal(D),
                  p + "self_attn.q_proj.weight": w(D, D), p + "self_attn.k_proj.weight": w(D, D),
                  p + "self_attn.v_proj.weight": w(D, D), p + "self_attn.o_proj.weight": w(D, D),
                  p + "post_attention_layernorm.weight": 1 + 0.3 * rng.standard_normal(D),
                  p + "mlp.gate_proj.weight": w(F, D), p + "mlp.up_proj.weight": w(F, D),
                  p + "mlp.down_proj.weight": w(D, F)})
    t["model.norm.weight"] = np.ones(D)
    t["lm_head.weight"] = head(t["model.embed_tokens.weight"])
    return t, {"model_type": "llama", "num_attention_heads": H, "num_key_value_heads": H,
               "hidden_size": D}


def differ(e):
    x = e.copy()
    x[7, 3] += 0.25  # row 7: not the first (0), middle (25) or last (49)
    return x


models = [write("gpt2_tied", *gpt2(np.ones(D))),
          write("gpt2_gain", *gpt2(1 + 0.3 * rng.standard_normal(D))),
          write("llama_bytes", *llama(lambda e: e.copy())),
          write("llama_differ", *llama(differ))]
# (model, copy name) -> source name: the only copies there may be.
expected = {(0, "wte.weight (tied output)"): "wte.weight",
            (2, "lm_head.weight"): "model.embed_tokens.weight"}

env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
runs = [("np1", ["-n", "1"], []), ("np2_lpt", ["-n", "2"], ["--schedule", "lpt"]),
        ("np2_dynamic", ["-n", "2"], ["--schedule", "dynamic"])]
for tag, np_args, opts in runs:
    out = os.path.join(work, tag + ".h5")
    r = subprocess.run([mpirun, *np_args, "--oversubscribe", fs, "analyze", "--k", "8", *opts,
                        "-o", out, *models], env=env, capture_output=True, text=True)
    assert r.returncode == 0, "%s: exit %d\n%s" % (tag, r.returncode, r.stderr)
    assert "3 matrices planned as copies of an identical one of their model (e.g. a tied embedding), 2 of them compared first" in r.stderr, r.stderr
    r = subprocess.run([sys.executable, fs_check, "numbers", out], capture_output=True, text=True)
    assert r.returncode == 0, "%s: fs_check numbers failed\n%s%s" % (tag, r.stdout, r.stderr)
    print(tag, r.stdout.strip().splitlines()[-1])
    f = h5py.File(out, "r")
    m = f["matrices"]
    name = [x.decode() for x in m["name"][:]]
    solver = [x.decode() for x in m["solver"][:]]
    model, copy_of, its, rank, status = (m[c][:] for c in ("model", "copy_of", "iterations",
                                                             "rank", "status"))
    assert all(s == b"ok" for s in status), tag
    copies = {(int(model[i]), name[i]): i for i in range(len(name)) if solver[i] == "copy"}
    assert set(copies) == set(expected), "%s: copies %s" % (tag, sorted(copies))
    for (mi, cname), src_name in expected.items():
        i = copies[(mi, cname)]
        src = [j for j in range(len(name)) if model[j] == mi and name[j] == src_name]
        assert len(src) == 1 and copy_of[i] == src[0], (tag, cname, copy_of[i], src)
        j = src[0]
        assert solver[j] != "copy" and copy_of[j] == -1 and its[i] == 0, (tag, solver[j])
        assert rank[i] == rank[j], "%s: %s on rank %d, its source on %d" % (tag, cname, rank[i], rank[j])
    others = [i for i in range(len(name)) if (int(model[i]), name[i]) not in expected]
    assert all(copy_of[i] == -1 for i in others), tag
    # The look-alike lm_head (fingerprint equal, contents not) was solved, and
    # its sigma differ from the embedding's (fs_check compared both to numpy).
    e = [i for i in range(len(name)) if model[i] == 3 and name[i] == "model.embed_tokens.weight"][0]
    l = [i for i in range(len(name)) if model[i] == 3 and name[i] == "lm_head.weight"][0]
    assert solver[l] != "copy" and copy_of[l] == -1, (tag, solver[l])
    assert m["fro"][e] != m["fro"][l], tag
# Model by model (--outdir) and merged: copy_of is a row of the merged file
# (the merge shifts it, -1 stays -1), equal to the direct 2-rank run's.
zoo, outdir = os.path.join(work, "zoo.txt"), os.path.join(work, "zoo.d")
with open(zoo, "w") as f:
    f.write("".join(p + "\n" for p in models))
for cmd in ([mpirun, "-n", "2", "--oversubscribe", fs, "analyze", "--quiet", "--k", "8", "--zoo", zoo,
             "--outdir", outdir],
            [fs, "merge", outdir, "--zoo", zoo, "-o", os.path.join(work, "merged.h5")]):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, "%s: exit %d\n%s" % (cmd[-1], r.returncode, r.stderr)
a = h5py.File(os.path.join(work, "np2_dynamic.h5"), "r")["matrices"]
b = h5py.File(os.path.join(work, "merged.h5"), "r")["matrices"]
assert list(a["copy_of"][:]) == list(b["copy_of"][:]), "merged copy_of differs"
assert list(a["solver"][:]) == list(b["solver"][:]) and sum(b["copy_of"][:] >= 0) == 2
print("twins: ok")
