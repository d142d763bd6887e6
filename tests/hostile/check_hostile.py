#!/usr/bin/python3
"""Checks a `flagscope analyze` of the hostile corpus (make_hostile.py).

usage: check_hostile.py CASEDIR OUT.h5 STDERR

Every case must appear in /models with its expected status and a reason
containing the expected text; every failed case must be named on stderr; no
reason may be "out of memory" (a size the header claims must be refused by
checking it against the file, not by trying to allocate it).
"""
import sys

import h5py

casedir, out, errfile = sys.argv[1:4]
err = open(errfile).read()
f = h5py.File(out, "r")
mo = f["models"]
rows = {mo["path"][i].decode(): (mo["status"][i].decode(), mo["error"][i].decode())
        for i in range(len(mo["path"]))}
bad, counts = [], {}
for line in open(casedir + "/cases.tsv"):
    name, want, text = line.rstrip("\n").split("\t")
    path = casedir + "/" + name
    got, why = rows.get(path, ("absent", ""))
    counts[got] = counts.get(got, 0) + 1
    if got == "absent" or (want != "any" and got != want):
        bad.append("%s: status %s, expected %s (%s)" % (name, got, want, why))
    elif text != "-" and text.lower() not in why.lower():
        bad.append("%s: reason '%s' lacks '%s'" % (name, why, text))
    elif got == "failed" and path not in err:
        bad.append("%s: failed without a message naming it" % name)
    elif "out of memory" in why.lower():  # a claim reached malloc: refuse it before
        bad.append("%s: the claim was allocated, not refused (%s)" % (name, why))
    elif got != "ok" and not why:
        bad.append("%s: %s without a reason" % (name, got))
for b in bad:
    print("FAIL", b)
print("%d hostile cases: %s" % (sum(counts.values()),
                                ", ".join("%d %s" % (n, s) for s, n in sorted(counts.items()))))
sys.exit(1 if bad else 0)
