#!/usr/bin/python3
"""Convert GNU Backgammon's binary weights (gnubg.wd) into safetensors.

gnubg.wd (little-endian): float magic, float version, then nets back to back,
each: int32 cIn, cHid, cOut, nTrained; float32 betaHidden, betaOutput;
hidden weights [cIn][cHid] (input-major), output weights [cOut][cHid],
hidden thresholds [cHid], output thresholds [cOut].  The first three nets
are contact, race and crashed; they are written as two-layer MLPs in the
[out, in] layout: <net>.fc1.weight [cHid, cIn], fc1.bias, fc2.weight
[cOut, cHid], fc2.bias.  Uses the standard library only.

GNU Backgammon's weights are GPL-3+: this script runs on the user's machine
(scripts/fetch-models.sh) and its output is never committed.
"""
import json
import os
import struct
import sys

NETS = ("contact", "race", "crashed")


def read_nets(raw):
    off, nets = 8, []
    while off < len(raw):
        c_in, c_hid, c_out, _ = struct.unpack_from("<4i", raw, off)
        off += 24  # the four ints and the two betas
        n_h, n_o = c_in * c_hid, c_out * c_hid
        if min(c_in, c_hid, c_out) <= 0 or off + 4 * (n_h + n_o + c_hid + c_out) > len(raw):
            sys.exit("gnubg.wd: net %d has a bad header" % len(nets))
        hidden = struct.unpack_from("<%df" % n_h, raw, off); off += 4 * n_h
        output = struct.unpack_from("<%df" % n_o, raw, off); off += 4 * n_o
        th = struct.unpack_from("<%df" % c_hid, raw, off); off += 4 * c_hid
        to = struct.unpack_from("<%df" % c_out, raw, off); off += 4 * c_out
        # transpose hidden [cIn][cHid] into [cHid][cIn]
        fc1 = [hidden[i * c_hid + h] for h in range(c_hid) for i in range(c_in)]
        nets.append(((c_hid, c_in), fc1, th, (c_out, c_hid), output, to))
    return nets


def main(src, dst):
    nets = read_nets(open(src, "rb").read())
    header = {"__metadata__": {"source": "GNU Backgammon gnubg.wd (GPL-3+)"}}
    blobs, pos = [], 0
    for name, (s1, w1, b1, s2, w2, b2) in zip(NETS, nets):
        for suffix, shape, vals in (("fc1.weight", s1, w1), ("fc1.bias", [s1[0]], b1),
                                    ("fc2.weight", s2, w2), ("fc2.bias", [s2[0]], b2)):
            blob = struct.pack("<%df" % len(vals), *vals)
            header["%s.%s" % (name, suffix)] = {"dtype": "F32", "shape": list(shape),
                                                "data_offsets": [pos, pos + len(blob)]}
            blobs.append(blob)
            pos += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data section starts 8-byte aligned
    with open(dst + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    os.replace(dst + ".tmp", dst)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: gnubg2safetensors.py gnubg.wd out.safetensors")
    main(sys.argv[1], sys.argv[2])
