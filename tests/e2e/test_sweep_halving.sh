# test_sweep_halving.sh - successive halving: at the rung epoch the worse half of the
# configurations stops (checked against each one's metrics.h5), the better half resumes to the
# full epochs, and a survivor's model equals an uninterrupted run's, bitwise.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind logistic --rows 1000 --cols 5 --seed 4 --out data.h5
job base.json '{"name": "hv", "dataset": {"path": "data.h5"}, "model": {"type": "logistic"},
  "optimizer": {"lr": 0.1}, "batch": {"size": 100}, "epochs": 4}'
job s.json '{"base": "base.json", "space": {"optimizer.lr": [0.001, 0.3, 0.01, 1.0]},
  "halving": {"rungs": [2], "keep": 0.5}, "run_dir": "hsweep"}'
mb 2 sweep s.json --groups 2 --quiet | tee sweep.log
grep -q "halving at epoch 2: 2 of 4 configurations go on" sweep.log || fail "no halving line"
mb 1 train base.json --set optimizer.lr=0.3 --set run_dir=straight --quiet
"$PYTHON" - <<'PY'
import h5py, numpy as np
with h5py.File("hsweep/sweep.h5", "r") as f:
    r = f["results"][()]
rung = []
for i in range(4):
    with h5py.File("hsweep/cfg-%d/metrics.h5" % i, "r") as m:
        rung.append(m["epochs"]["val_loss"][1])  # after epoch 2
keep = sorted(range(4), key=lambda i: rung[i])[:2]
for i in range(4):
    st = r[i]["status"].decode()
    want = ("ok", 4) if i in keep else ("stopped", 2)
    assert (st, r[i]["epochs"]) == want, (i, st, r[i]["epochs"], rung)
print("kept", keep, "by validation loss at epoch 2:", rung)
assert 1 in keep  # lr 0.3 survives, and is compared with a straight 4-epoch run
a = h5py.File("hsweep/cfg-1/model.h5", "r")["model/theta"][()]
b = h5py.File("straight/model.h5", "r")["model/theta"][()]
same = np.array_equal(a.view(np.uint64), b.view(np.uint64))
print("survivor resumed past the rung vs straight run, bitwise identical:", same)
assert same
PY
echo PASSED
