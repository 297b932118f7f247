"""ckpt_check.py - an independent reader of mbatch checkpoints for the e2e tests.

`ckpt_check.py FILE...` recomputes the FNV-1a checksum of every dataset with h5py and numpy and
compares it with the stored `checksum` attribute, checks `complete == 1` and that every float is
finite; prints one line per file and exits 1 if any file fails.
"""
import sys

import h5py
import numpy as np


def fnv1a(data, h=0xCBF29CE484222325):
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def dataset_sum(d):
    if h5py.check_string_dtype(d.dtype) is not None:
        raw = b"".join(
            (s if isinstance(s, bytes) else s.encode()) + b"\0" for s in d.asstr(encoding="utf-8")[()]
        ) if d.size else b""
        return fnv1a(raw)
    arr = np.ascontiguousarray(d[()])
    return fnv1a(arr.astype(arr.dtype.newbyteorder("<")).tobytes())


def check(path):
    problems = []
    with h5py.File(path, "r") as f:
        if f.attrs.get("complete") != 1:
            problems.append("complete != 1")
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        for n in names:
            d = f[n]
            if "checksum" not in d.attrs:
                problems.append(n + ": no checksum")
                continue
            if dataset_sum(d) != int(d.attrs["checksum"]):
                problems.append(n + ": checksum mismatch")
            if d.dtype.kind == "f" and not np.all(np.isfinite(d[()])):
                problems.append(n + ": non-finite value")
        step = int(f.attrs["step"])
    return step, problems


bad = 0
for p in sys.argv[1:]:
    try:
        step, problems = check(p)
    except Exception as e:  # an unreadable file is a failure of the test, not of this script
        step, problems = -1, ["unreadable: %s" % e]
    print("%s: step %d: %s" % (p, step, "ok" if not problems else "; ".join(problems)))
    bad += bool(problems)
sys.exit(1 if bad else 0)
