"""make_corpus.py - build the bad-input corpus: damaged or hostile datasets and job files.

`make_corpus.py OUT_DIR` (default: tests/data/bad next to this script's parent) writes one job file
per case, the data files they name, and `cases.json`: a list of {"name", "job", "codes", "pattern"}
where `codes` are the acceptable exit codes of `mbatch train JOB` and `pattern` a regular
expression its one-line message must match. Every case must be refused before anything is
written. Uses h5py and numpy only; deterministic.
"""
import json
import os
import subprocess
import sys

import h5py
import numpy as np

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "data", "bad")
os.makedirs(out, exist_ok=True)
os.chdir(out)
rng = np.random.default_rng(7)
cases = []


def case(name, codes, pattern, job=None, text=None):
    """A job file for this case: `job` (a dict, merged over a good job) or raw `text`."""
    path = name + ".json"
    if text is None:
        j = {"dataset": {"path": "good.h5"}, "epochs": 2, "run_dir": "runs/" + name}
        for k, v in (job or {}).items():
            if isinstance(v, dict) and isinstance(j.get(k), dict):
                j[k] = dict(j[k], **v)
            else:
                j[k] = v
        text = json.dumps(j)
    mode = "wb" if isinstance(text, bytes) else "w"
    with open(path, mode) as f:
        f.write(text)
    cases.append({"name": name, "job": path, "codes": codes, "pattern": pattern})


def data_case(name, pattern, codes=(2,), job=None):
    case(name, list(codes), pattern, dict({"dataset": {"path": name + ".h5"}}, **(job or {})))


def good(path, n=200, d=4):
    with h5py.File(path, "w") as f:
        f["X"] = rng.standard_normal((n, d))
        f["y"] = (rng.random(n) < 0.5).astype(np.float64)


good("good.h5")

# ---- files that are not (whole) HDF5 ----
open("empty.h5", "wb").close()
data_case("empty", r"empty\.h5: empty file")
with open("text.h5", "w") as f:
    f.write("X,y\n1,2\n")
data_case("text", r"text\.h5: not an HDF5 file")
with open("random.h5", "wb") as f:
    f.write(rng.bytes(4096))
data_case("random", r"random\.h5: not an HDF5 file")
good("big_for_cut.h5", n=5000, d=8)
blob = open("big_for_cut.h5", "rb").read()
os.remove("big_for_cut.h5")
with open("truncated.h5", "wb") as f:
    f.write(blob[: len(blob) // 2])
data_case("truncated", r"truncated\.h5: truncated HDF5 file")
with open("truncated_header.h5", "wb") as f:
    f.write(blob[:30])
data_case("truncated_header", r"truncated_header\.h5: (truncated HDF5 file|not an HDF5 file)")
with open("signature_only.h5", "wb") as f:
    f.write(b"\x89HDF\r\n\x1a\n")
data_case("signature_only", r"signature_only\.h5: (truncated HDF5 file|not an HDF5 file)")
corrupt = bytearray(blob)
corrupt[100:400] = rng.bytes(300)
with open("corrupt_header.h5", "wb") as f:
    f.write(bytes(corrupt))
data_case("corrupt_header", r"corrupt_header\.h5: ")

# ---- a file a writer still holds (or crashed holding): the superblock's write flag is set ----
subprocess.run([sys.executable, "-c", """
import os, h5py, numpy as np
f = h5py.File("open_for_write.h5", "w", libver="latest")
f["X"] = np.zeros((10, 3)); f["y"] = np.zeros(10)
f.flush()
os._exit(0)  # no close: the file stays flagged open for writing
"""], check=True)
data_case("open_for_write", r"open_for_write\.h5: the file is flagged as open for writing.*h5clear")

# ---- wrong ranks and shapes ----
with h5py.File("x_1d.h5", "w") as f:
    f["X"] = np.zeros(10)
    f["y"] = np.zeros(10)
data_case("x_1d", r"/X must be 2-D, has 1 dimension")
with h5py.File("x_3d.h5", "w") as f:
    f["X"] = np.zeros((10, 2, 2))
    f["y"] = np.zeros(10)
data_case("x_3d", r"/X must be 2-D, has 3 dimensions")
with h5py.File("y_2d.h5", "w") as f:
    f["X"] = np.zeros((10, 2))
    f["y"] = np.zeros((10, 2))
data_case("y_2d", r"/y must be 1-D")
with h5py.File("x_scalar.h5", "w") as f:
    f["X"] = 3.0
    f["y"] = np.zeros(10)
data_case("x_scalar", r"/X must be 2-D, has 0 dimensions")
with h5py.File("zero_rows.h5", "w") as f:
    f["X"] = np.zeros((0, 3))
    f["y"] = np.zeros(0)
data_case("zero_rows", r"/X has zero rows")
with h5py.File("zero_cols.h5", "w") as f:
    f["X"] = np.zeros((5, 0))
    f["y"] = np.zeros(5)
data_case("zero_cols", r"/X has zero columns")
with h5py.File("rows_mismatch.h5", "w") as f:
    f["X"] = np.zeros((10, 2))
    f["y"] = np.zeros(9)
data_case("rows_mismatch", r"has 9 rows but /X has 10|/X has 10 rows but /y has 9|rows")

# ---- absurd declared sizes: chunked, never written, so the file is tiny ----
with h5py.File("huge.h5", "w") as f:
    f.create_dataset("X", shape=(10**13, 64), dtype="f8", chunks=(1024, 64))
    f.create_dataset("y", shape=(10**13,), dtype="f8", chunks=(1024,))
data_case("huge", r"huge\.h5 declares 10000000000000 rows x 64 columns: .* over the node's physical memory")
good("budget.h5", n=1000, d=8)
# A reproducible job cannot stream (its microblocks are cut from the whole shard): refused.
data_case("over_budget", r"budget\.h5 declares 1000 rows x 8 columns: .* over io\.memory_budget.*"
          r"covers the gradient optimizers \(linear models and the mlp\) and the solvers, "
          r"and \"reproducible\"",
          job={"dataset": {"path": "budget.h5"}, "io": {"memory_budget": 100000},
               "batch": {"size": 100}, "reproducible": True})

# ---- element types mbatch cannot train on ----
with h5py.File("string_x.h5", "w") as f:
    f["X"] = np.array([[b"a", b"b"]] * 10)
    f["y"] = np.zeros(10)
data_case("string_x", r"/X has an unsupported dtype")
with h5py.File("compound_x.h5", "w") as f:
    f["X"] = np.zeros((10, 2), dtype=[("a", "f8"), ("b", "i4")])
    f["y"] = np.zeros(10)
data_case("compound_x", r"/X has an unsupported dtype")
with h5py.File("vlen_string_y.h5", "w") as f:
    f["X"] = np.zeros((10, 2))
    f.create_dataset("y", data=["x"] * 10, dtype=h5py.string_dtype())
data_case("vlen_string_y", r"/y has an unsupported dtype")
with h5py.File("string_column.h5", "w") as f:
    g = f.create_group("t")
    g["a"] = np.zeros(10)
    g.create_dataset("name", data=["x"] * 10, dtype=h5py.string_dtype())
    g["label"] = np.zeros(10)
data_case("string_column", r"/t/name has an unsupported dtype",
          job={"dataset": {"path": "string_column.h5", "group": "/t", "features": ["a", "name"],
                           "target": "label"}})
with h5py.File("compound_column.h5", "w") as f:
    g = f.create_group("t")
    g["a"] = np.zeros(10)
    g["c"] = np.zeros(10, dtype=[("p", "f8"), ("q", "f8")])
    g["label"] = np.zeros(10)
data_case("compound_column", r"/t/c has an unsupported dtype",
          job={"dataset": {"path": "compound_column.h5", "group": "/t", "features": ["a", "c"],
                           "target": "label"}})
with h5py.File("nan_x.h5", "w") as f:
    x = np.zeros((10, 2))
    x[3, 1] = np.nan
    f["X"] = x
    f["y"] = np.zeros(10)
data_case("nan_x", r"row 3 column .* is NaN")
with h5py.File("bad_label.h5", "w") as f:
    f["X"] = np.zeros((10, 2))
    f["y"] = np.full(10, 7.0)
data_case("bad_label", r"label|class|0 or 1")

# ---- data that lives elsewhere: external links, virtual datasets, external raw storage ----
good("elsewhere.h5")
with h5py.File("external_link.h5", "w") as f:
    f["X"] = h5py.ExternalLink("elsewhere.h5", "/X")
    f["y"] = np.zeros(200)
data_case("external_link", r"/X is \(or lies under\) an external link")
with h5py.File("external_group.h5", "w") as f:
    f["t"] = h5py.ExternalLink("elsewhere.h5", "/")
data_case("external_group", r"/t is \(or lies under\) an external link",
          job={"dataset": {"path": "external_group.h5", "group": "/t", "features": ["X"],
                           "target": "y"}})
layout = h5py.VirtualLayout(shape=(200, 4), dtype="f8")
layout[:] = h5py.VirtualSource("elsewhere.h5", "X", shape=(200, 4))
with h5py.File("virtual.h5", "w") as f:
    f.create_virtual_dataset("X", layout)
    f["y"] = np.zeros(200)
data_case("virtual", r"/X is a virtual dataset")
rawbin = np.zeros((200, 4)).tobytes()
with open("raw.bin", "wb") as f:
    f.write(rawbin)
with h5py.File("external_raw.h5", "w") as f:
    f.create_dataset("X", shape=(200, 4), dtype="<f8", external=[("raw.bin", 0, len(rawbin))])
    f["y"] = np.zeros(200)
data_case("external_raw", r"/X keeps its data in 1 external raw file")

# ---- job files ----
case("job_empty", [1], r"job_empty\.json:.*", text="")
case("job_not_object", [1], r"a job file is a JSON object", text="[1, 2, 3]")
case("job_syntax", [1], r"job_syntax\.json:3:\d+: ", text='{\n  "epochs": 3,\n  "seed": ,\n}')
case("job_duplicate_key", [1], r"job_duplicate_key\.json:1:\d+: duplicate object key",
     text='{"dataset": {"path": "good.h5"}, "epochs": 3, "epochs": 4}')
case("job_nan", [1], r"job_nan\.json:1:\d+: ", text='{"dataset": {"path": "good.h5"}, "model": {"l2": NaN}}')
case("job_infinity", [1], r"job_infinity\.json:1:\d+: ",
     text='{"dataset": {"path": "good.h5"}, "optimizer": {"lr": Infinity}}')
case("job_real_overflow", [1], r"job_real_overflow\.json:1:\d+: real number overflow",
     text='{"dataset": {"path": "good.h5"}, "optimizer": {"lr": 1e999}}')
case("job_int_overflow", [1], r"job_int_overflow\.json:1:\d+: too big integer",
     text='{"dataset": {"path": "good.h5"}, "epochs": 99999999999999999999999}')
case("job_int_range", [1], r"'seed' is .*expected a value in", job={"seed": 1e300})
case("job_epochs_huge", [1], r"'epochs' is .*expected a value in", job={"epochs": 2**62})
case("job_zero_batch", [1], r"'batch.size' is 0", job={"batch": {"size": 0}})
case("job_negative_batch", [1], r"'batch.size' is -5", job={"batch": {"size": -5}})
case("job_zero_epochs", [1], r"'epochs' is 0", job={"epochs": 0})
case("job_negative_keep", [1], r"'checkpoint.keep' is -1", job={"checkpoint": {"keep": -1}})
case("job_negative_budget", [1], r"'io.memory_budget' is -1", job={"io": {"memory_budget": -1}})
case("job_negative_timeout", [1], r"'timeout_s' is -1", job={"timeout_s": -1})
case("job_fraction", [1], r"'dataset.validation_fraction' is 1.5",
     job={"dataset": {"validation_fraction": 1.5}})
case("job_unknown_key", [1], r"unknown key 'model.typo'", job={"model": {"typo": 1}})
case("job_wrong_type", [1], r"'epochs' must be an integer, not a string", job={"epochs": "ten"})
case("job_bad_choice", [1], r"'on_nonfinite' is \"ignore\"", job={"on_nonfinite": "ignore"})
case("job_deep", [1], r"job_deep\.json:", text="[" * 100000)
case("job_binary", [1], r"job_binary\.json:", text=bytes(rng.integers(0, 256, 512, dtype=np.uint8)))
case("job_nul", [1], r"job_nul\.json:", text=b'{"epochs": 3\x00, "seed": 1}')
case("job_no_dataset", [1], r"'dataset.path' is required", text='{"epochs": 3}')

with open("cases.json", "w") as f:
    json.dump(cases, f, indent=1)
print("%d cases in %s" % (len(cases), out))
