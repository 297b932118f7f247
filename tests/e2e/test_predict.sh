# test_predict.sh - columns layout with float32 and categorical columns: train, then predict
# (distributed, both io modes); predictions checked against numpy applying the stored model.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind softmax --classes 3 --rows 1500 --cols 4 --categorical 2 --levels 5 \
    --layout columns --dtype float32 --seed 9 --out cols.h5
job j.json '{"dataset": {"path": "cols.h5", "group": "/data",
  "features": ["x0", "c1", "x1", "x2", "c0", "x3"], "categorical": ["c0", "c1"], "target": "y"},
  "model": {"type": "softmax", "l2": 0.001}, "optimizer": {"lr": 0.5, "momentum": 0.8},
  "batch": {"size": 128}, "epochs": 8}'
mb 3 train j.json | tee train.log
tr '\r' '\n' <train.log | grep -qE '^epoch 8/8 ' || fail "no progress line for epoch 8"
mb 2 predict --model runs/j/model.h5 --data cols.h5 --out p_par.h5 | tee predict.log
grep -q "accuracy" predict.log || fail "no accuracy reported"
mb 3 predict --model runs/j/model.h5 --data cols.h5 --out p_sca.h5 --io scatter --quiet
"$MBATCH" inspect runs/j/model.h5 | tee inspect.txt
grep -q "softmax regression" inspect.txt || fail "inspect does not describe the model"
grep -q "c1 (5 categories)" inspect.txt || fail "inspect does not list categories"
"$MBATCH" inspect runs/j/metrics.h5 | grep -qE '^ +8 ' || fail "inspect metrics lacks epoch 8"

"$PYTHON" - <<'PY'
import h5py, numpy as np
with h5py.File("runs/j/model.h5", "r") as f:
    theta, mean, std = f["model/theta"][()], f["preprocess/mean"][()], f["preprocess/std"][()]
    cats = {k: f["preprocess/categories/" + k][()] for k in ("c0", "c1")}
    d, k = int(f.attrs["d"]), int(f.attrs["k"])
with h5py.File("cols.h5", "r") as f:
    g = f["data"]
    cols = []
    for name in ["x0", "c1", "x1", "x2", "c0", "x3"]:
        v = g[name][()]
        if name in cats:
            cols.append((v[:, None] == cats[name][None, :]).astype(np.float64))
        else:
            cols.append(v.astype(np.float64)[:, None])
    X = np.hstack(cols)
    y = g["y"][()]
assert X.shape[1] == d, (X.shape, d)
Z = (X - mean) / std
W, b = theta[: d * k].reshape(d, k), theta[d * k :]
s = Z @ W + b
p = np.exp(s - s.max(axis=1, keepdims=True)); p /= p.sum(axis=1, keepdims=True)
for out in ("p_par.h5", "p_sca.h5"):
    with h5py.File(out, "r") as f:
        pred, label = f["predictions"][()], f["label"][()]
    err = np.max(np.abs(pred - p))
    print("%s: max |p - numpy| = %.3g, accuracy %.4f" % (out, err, np.mean(label == y)))
    assert err < 1e-12 and np.array_equal(label, p.argmax(axis=1))
assert np.mean(p.argmax(axis=1) == y) > 0.5
# One-hot columns are not standardized.
assert np.all(std[1:6] == 1) and np.all(mean[1:6] == 0)
PY
echo PASSED
