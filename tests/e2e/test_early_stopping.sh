# test_early_stopping.sh - early_stopping.patience on the validation loss: training stops exactly
# when `patience` epochs bring no gain over min_delta (checked against metrics.h5), and model.h5
# holds the best epoch's weights: bitwise those of a run that simply ends at that epoch.
source "$(dirname "$0")/lib.sh"

# Few rows and many features: the validation loss turns up once the model starts to overfit.
"$MBATCH" gen --kind logistic --rows 240 --cols 40 --seed 3 --out data.h5
job j.json '{"dataset": {"path": "data.h5", "validation_fraction": 0.25},
  "model": {"type": "logistic"}, "optimizer": {"lr": 2.0}, "epochs": 300,
  "early_stopping": {"patience": 4, "min_delta": 1e-4}, "checkpoint": {"every_epochs": 0}}'
mb 2 train j.json --set run_dir=es | tee es.log
grep -q "early stopping after epoch" es.log || fail "did not stop early"
best=$("$PYTHON" - <<'PY'
import h5py, numpy as np
with h5py.File("es/metrics.h5", "r") as f:
    v = f["epochs"]["val_loss"]
n = len(v)
assert n < 300, n
# The oracle: replay the rule over the logged validation losses.
best, since, stop = np.inf, 0, None
for e, x in enumerate(v):
    if x < best - 1e-4:
        best, b, since = x, e, 0
    else:
        since += 1
        if since >= 4:
            stop = e
            break
assert stop == n - 1, (stop, n)
print(b + 1)
PY
)
echo "stopped after $(grep -o 'early stopping after epoch [0-9]*' es.log); best epoch $best"
mb 2 train j.json --set run_dir=plain --set epochs="$best" --set early_stopping.patience=0 --quiet
"$PYTHON" - <<'PY'
import h5py, numpy as np
a = h5py.File("es/model.h5", "r")["model/theta"][()]
b = h5py.File("plain/model.h5", "r")["model/theta"][()]
same = np.array_equal(a.view(np.uint64), b.view(np.uint64))
print("early-stopped model vs a run ending at the best epoch, bitwise identical:", same)
assert same
PY
echo PASSED
