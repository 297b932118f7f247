# test_errors.sh - every documented input error, at 2 ranks: the exit code, one message from
# rank 0 naming the rank, file, dataset and value, and no hang (mb() has a timeout).
source "$(dirname "$0")/lib.sh"

"$PYTHON" - <<'PY'
import h5py, numpy as np
rng = np.random.default_rng(1)
def matrix(name, X, y, **attrs):
    with h5py.File(name, "w") as f:
        f["X"] = X
        f["y"] = y
X = rng.normal(size=(10, 3)); y = (rng.random(10) > 0.5).astype(np.int32)
matrix("good.h5", X, y)
matrix("rows.h5", X, y[:9])
Xn = X.copy(); Xn[8, 1] = np.nan; matrix("nan.h5", Xn, y)
Xi = X.copy(); Xi[2, 0] = np.inf; matrix("inf.h5", Xi, y)
y2 = y.copy(); y2[7] = 2; matrix("label2.h5", X, y2)
yh = y.astype(np.float64); yh[6] = 0.5; matrix("labelhalf.h5", X, yh)
matrix("zero.h5", np.zeros((0, 3)), np.zeros(0, dtype=np.int32))
with h5py.File("strings.h5", "w") as f:
    f["X"] = np.array([[b"a", b"b"]] * 10)
    f["y"] = y
with h5py.File("cols.h5", "w") as f:
    g = f.create_group("t")
    g["a"] = rng.normal(size=10); g["b"] = rng.normal(size=10); g["label"] = y
    g["cat"] = rng.normal(size=10)
with h5py.File("tiny.h5", "w") as f:
    f["X"] = rng.normal(size=(3, 2)); f["y"] = np.array([0, 1, 1], dtype=np.int32)
open("text.h5", "w").write("this is not HDF5\n")
PY

base='"model": {"type": "logistic"}, "epochs": 2'
job good.json "{\"dataset\": {\"path\": \"good.h5\"}, $base}"
for f in rows nan inf label2 labelhalf zero strings text missing; do
    job $f.json "{\"dataset\": {\"path\": \"$f.h5\"}, $base}"
done
job nods.json "{\"dataset\": {\"path\": \"good.h5\", \"X\": \"/Z\"}, $base}"
job nocol.json "{\"dataset\": {\"path\": \"cols.h5\", \"group\": \"/t\", \"features\": [\"a\", \"zz\"],
  \"target\": \"label\"}, $base}"
job notint.json "{\"dataset\": {\"path\": \"cols.h5\", \"group\": \"/t\", \"features\": [\"a\", \"cat\"],
  \"categorical\": [\"cat\"], \"target\": \"label\"}, $base}"
printf '{\n  "dataset": {"path": "good.h5"},\n  "model": {"type": "logistic",\n            "typo": 1}\n}\n' >unknown.json
job types.json '{"dataset": {"path": "good.h5"}, "epochs": "ten"}'
job choice.json '{"dataset": {"path": "good.h5"}, "model": {"type": "forest"}}'
job syntax.json '{"dataset": {"path": "good.h5"}, "epochs": 3,, }'

expect 3 '^mbatch: missing\.h5: no such file' 2 train missing.json
expect 2 '^mbatch: text\.h5: not an HDF5 file' 2 train text.json
expect 2 '^mbatch: good\.h5: dataset /Z not found' 2 train nods.json
expect 2 "^mbatch: cols\.h5: column 'zz' not found in group /t" 2 train nocol.json
expect 2 '^mbatch: rows\.h5: /X has 10 rows but /y has 9' 2 train rows.json
expect 2 '^mbatch: strings\.h5: /X has an unsupported dtype' 2 train strings.json
expect 2 "^mbatch: rank 1: nan\.h5: /X row 8 column 'x1' is NaN" 2 train nan.json
expect 2 "^mbatch: inf\.h5: /X row 2 column 'x0' is (inf|Inf)" 2 train inf.json
expect 2 '^mbatch: rank 1: label2\.h5: /y row 7 has label 2; logistic regression needs 0 or 1' 2 train label2.json
expect 2 '^mbatch: rank 1: labelhalf\.h5: /y row 6 has label 0\.5; logistic' 2 train labelhalf.json
expect 2 '^mbatch: zero\.h5: /X has zero rows' 2 train zero.json
expect 2 "^mbatch: (rank [0-9]: )?cols\.h5: .*'cat'.*(not an integer|integer)" 2 train notint.json
expect 1 "^mbatch: unknown\.json:4:13: unknown key 'model\.typo'" 2 train unknown.json
expect 1 "^mbatch: types\.json:1:34: 'epochs' must be an integer, not a string" 2 train types.json
expect 1 "^mbatch: choice\.json:.*'model\.type' is \"forest\"; expected one of: linear\|logistic\|softmax" 2 train choice.json
expect 1 '^mbatch: syntax\.json:1:[0-9]+: ' 2 train syntax.json
expect 1 "^mbatch: --set optimizer\.lrr=1: unknown key 'optimizer\.lrr'" 2 train good.json --set optimizer.lrr=1
expect 1 "^mbatch: --set epochs=-3: .*'epochs' is -3" 2 train good.json --set epochs=-3
expect 1 "^mbatch: missing-job\.json: cannot read the job file" 2 train missing-job.json
expect 4 "^mbatch: epoch 1 step [0-9]+: the training loss is" 2 train good.json --set model.type=linear \
    --set optimizer.lr=1e300 --set batch.size=1

# Fewer rows than ranks is not an error.
job tiny.json "{\"dataset\": {\"path\": \"tiny.h5\", \"validation_fraction\": 0}, $base}"
mb 4 train tiny.json --quiet || fail "3 rows on 4 ranks failed"
[ -f runs/tiny/model.h5 ] || fail "no model for 3 rows on 4 ranks"
echo PASSED
