#!/usr/bin/python3
"""Fixtures for tests/unit/test_keras.c: Keras HDF5 weight files.

Run with Debian's interpreter (python3-numpy, python3-h5py):
    /usr/bin/python3 tests/data/make_keras.py

No TensorFlow here: the files are written with h5py in the layout of Keras 2's
legacy HDF5 saving (save_weights_to_hdf5_group): the weights root carries
attrs layer_names, backend, keras_version; each layer group an attr
weight_names ("layer/kernel:0", ...) naming datasets relative to the layer
group; attributes above the 64 KiB object-header limit are split into
"<name>0", "<name>1", ...  The extension is .hdf5 (the project ignores *.h5).
Writes tests/data/keras/:
  weights.hdf5       model.save_weights layout, fixed-length string attrs:
                     dense [in 4, out 3] + bias, conv2d [3,3,2,4] + bias,
                     dropout (no weights: empty float array, as Keras writes),
                     embedding [10, 4] (float64), conv1d [5, 2, 3]
  model.hdf5         model.save layout: root attrs + group model_weights with
                     variable-length string attrs and layer_names split into
                     layer_names0/layer_names1, plus optimizer_weights
  expected.f64/.txt  every tensor's [out, in] view as float64, by numpy
  soft_link.hdf5     a dataset reached through an in-file soft link (legal)
  bad_*.hdf5, keras3.weights.hdf5   files the reader must refuse
"""
import os

import h5py
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras")
os.makedirs(OUT, exist_ok=True)
rng = np.random.RandomState(5)


def view(name, a):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 2:
        return a.copy() if name.endswith("embeddings") else a.T.copy()
    if a.ndim >= 3:
        a = np.transpose(a, [a.ndim - 1, a.ndim - 2] + list(range(a.ndim - 2)))
        return a.reshape(a.shape[0], -1)
    return a.reshape(1, -1)


layers = [
    ("dense", [("dense/kernel:0", rng.standard_normal((4, 3)).astype(np.float32)),
               ("dense/bias:0", rng.standard_normal(3).astype(np.float32))]),
    ("conv2d", [("conv2d/kernel:0", rng.standard_normal((3, 3, 2, 4)).astype(np.float32)),
                ("conv2d/bias:0", rng.standard_normal(4).astype(np.float32))]),
    ("dropout", []),
    ("embedding", [("embedding/embeddings:0", rng.standard_normal((10, 4)))]),
    ("conv1d", [("conv1d/kernel:0", rng.standard_normal((5, 2, 3)).astype(np.float32))]),
]


def fixed(strings):
    return np.array([s.encode() for s in strings])


def write_layers(root, vlen, split=False):
    names = [n for n, _ in layers]
    if vlen:
        dt = h5py.string_dtype()
        if split:
            root.attrs.create("layer_names0", names[:2], dtype=dt)
            root.attrs.create("layer_names1", names[2:], dtype=dt)
        else:
            root.attrs.create("layer_names", names, dtype=dt)
    else:
        root.attrs["layer_names"] = fixed(names)
    root.attrs["backend"] = b"tensorflow"
    root.attrs["keras_version"] = b"2.13.1"
    for lname, ws in layers:
        g = root.create_group(lname)
        wn = [w for w, _ in ws]
        if not wn:
            g.attrs["weight_names"] = np.asarray([])  # what Keras writes for []
        elif vlen:
            g.attrs.create("weight_names", wn, dtype=h5py.string_dtype())
        else:
            g.attrs["weight_names"] = fixed(wn)
        for wname, arr in ws:
            g.create_dataset(wname, data=arr)


with h5py.File(os.path.join(OUT, "weights.hdf5"), "w") as f:
    write_layers(f, vlen=False)

with h5py.File(os.path.join(OUT, "model.hdf5"), "w") as f:
    f.attrs["keras_version"] = "2.13.1"
    f.attrs["backend"] = "tensorflow"
    f.attrs["model_config"] = '{"class_name": "Sequential", "config": {}}'
    write_layers(f.create_group("model_weights"), vlen=True, split=True)
    f.create_group("optimizer_weights").create_dataset("iter:0", data=np.int64(3))

with open(os.path.join(OUT, "expected.f64"), "wb") as fb, \
        open(os.path.join(OUT, "expected.txt"), "w") as ft:
    pos = 0
    for lname, ws in layers:
        for wname, arr in ws:
            name = wname.split(":")[0]
            w = view(name, arr)
            fb.write(w.astype("<f8").tobytes())
            ft.write("%s %d %d %d\n" % (name, w.shape[0], w.shape[1], pos))
            pos += w.size


def bad(fname, build):
    with h5py.File(os.path.join(OUT, fname), "w") as f:
        build(f)


def one_dense(f, attrs=True, data=True, **kw):
    if attrs:
        f.attrs["layer_names"] = fixed(["dense"])
    g = f.create_group("dense")
    g.attrs["weight_names"] = fixed(["dense/kernel:0"])
    if data:
        g.create_dataset("dense/kernel:0", data=np.ones((4, 3), np.float32), **kw)


bad("bad_no_layer_names.hdf5", lambda f: one_dense(f, attrs=False))
bad("bad_missing_dataset.hdf5", lambda f: one_dense(f, data=False))
bad("bad_gzip.hdf5", lambda f: one_dense(f, compression="gzip"))


def no_weight_names(f):
    f.attrs["layer_names"] = fixed(["dense"])
    f.create_group("dense").create_dataset("kernel", data=np.ones((2, 2)))


def no_group(f):
    f.attrs["layer_names"] = fixed(["dense", "ghost"])
    g = f.create_group("dense")
    g.attrs["weight_names"] = fixed([])


def strings(f):
    f.attrs["layer_names"] = fixed(["text"])
    g = f.create_group("text")
    g.attrs["weight_names"] = fixed(["vocab:0"])
    g.create_dataset("vocab:0", data=fixed(["a", "b"]))


def not_strings(f):
    f.attrs["layer_names"] = np.arange(3)


def keras3(f):
    f.create_group("layers/dense/vars").create_dataset("0", data=np.ones((4, 3)))
    f.create_group("optimizer/vars")


bad("bad_no_weight_names.hdf5", no_weight_names)
bad("bad_no_group.hdf5", no_group)
bad("bad_string_dataset.hdf5", strings)
bad("bad_layer_names_type.hdf5", not_strings)
bad("keras3.weights.hdf5", keras3)


# Links and storage in other files: never followed or read (soft links stay
# inside the file and are fine).
def external_link(f):
    one_dense(f, data=False)
    f["dense"]["dense/kernel:0"] = h5py.ExternalLink("weights.hdf5", "/dense/dense/kernel:0")


def soft_link(f):
    one_dense(f, data=False)
    f.create_dataset("elsewhere", data=np.ones((4, 3), np.float32))
    f["dense"]["dense/kernel:0"] = h5py.SoftLink("/elsewhere")


def external_storage(f):
    one_dense(f, data=False)
    f["dense"].create_dataset("dense/kernel:0", shape=(4, 3), dtype="<f4",
                              external=[("expected.f64", 0, 48)])


bad("bad_external_link.hdf5", external_link)
bad("soft_link.hdf5", soft_link)  # legal: in-file links are followed
bad("bad_external_storage.hdf5", external_storage)
