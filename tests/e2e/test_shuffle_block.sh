# test_shuffle_block.sh - batch.shuffle_block: with one block covering the data the epochs walk the
# rows in file order (checked against a NumPy mini-batch SGD), with smaller blocks the batches stay
# rank-count independent (bitwise in reproducible mode at 1-4 ranks) and differ from row shuffling,
# and bad values are refused.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind logistic --rows 1000 --cols 6 --seed 21 --out data.h5
job sb.json '{"dataset": {"path": "data.h5", "validation_fraction": 0},
  "model": {"type": "logistic", "l2": 0.01}, "optimizer": {"lr": 0.5},
  "batch": {"size": 48}, "epochs": 3, "checkpoint": {"every_epochs": 0}}'
for np in 1 3; do
    mb "$np" train sb.json --quiet --set run_dir=whole-np$np --set batch.shuffle_block=1000
done
for np in 1 2 3 4; do
    mb "$np" train sb.json --quiet --set run_dir=blk-np$np --set batch.shuffle_block=16 \
        --set reproducible=true
done
mb 2 train sb.json --quiet --set run_dir=rows
expect 1 "batch.shuffle_block" 1 train sb.json --set batch.shuffle_block=0 --set run_dir=bad

"$PYTHON" - <<'PY'
import h5py, numpy as np
from mbcheck import theta
with h5py.File("data.h5", "r") as f:
    X, y = f["X"][()].astype(np.float64), f["y"][()].astype(np.float64)
Z = (X - X.mean(axis=0)) / X.std(axis=0)
# One block of all rows: every epoch takes batches of 48 consecutive rows in file order.
w, B, lr, l2 = np.zeros(Z.shape[1] + 1), 48, 0.5, 0.01
for epoch in range(3):
    for s in range(0, len(y), B):
        Zb, yb = Z[s:s + B], y[s:s + B]
        z = Zb @ w[:-1] + w[-1]
        r = 1.0 / (1.0 + np.exp(-z)) - yb
        g = np.append(Zb.T @ r / len(yb) + l2 * w[:-1], r.mean())
        w = w - lr * g
for np_ in (1, 3):
    rel = np.max(np.abs(theta("whole-np%d" % np_) - w)) / np.max(np.abs(w))
    print("shuffle_block >= rows, %d rank(s) vs NumPy in-order SGD: max relative difference %.3g"
          % (np_, rel))
    assert rel < 1e-12, rel
ref = theta("blk-np1")
for np_ in (2, 3, 4):
    same = np.array_equal(theta("blk-np%d" % np_).view(np.uint64), ref.view(np.uint64))
    print("shuffle_block 16, reproducible, %d ranks vs 1 bitwise identical: %s" % (np_, same))
    assert same
for other in ("rows", "whole-np1"):
    d = np.max(np.abs(theta(other) - ref))
    print("shuffle_block 16 vs %s: max difference %.3g (a different order)" % (other, d))
    assert d > 1e-6, d
PY
echo PASSED
