# test_sweep.sh - mbatch sweep on 4 ranks in 2 groups: 9 configurations (a grid times random
# draws), the expansion recomputed by an independent Python copy of the counter RNG, diverging
# configurations recorded as failed while the rest go on, the best one equal bitwise to a separate
# `mbatch train` of its --set line on as many ranks as its group, and the usage errors.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind linear --rows 1200 --cols 6 --seed 11 --out data.h5
job s.json '{"base": {"name": "lin", "dataset": {"path": "data.h5"}, "model": {"type": "linear"},
    "optimizer": {"lr": 0.1, "momentum": 0.5}, "batch": {"size": 100}, "epochs": 3,
    "checkpoint": {"every_epochs": 0}},
  "space": {"optimizer.lr": [0.02, 0.1, 100000], "model.l2": {"log_uniform": [1e-4, 1e-1]}},
  "samples": 3, "seed": 7}'
[ "$("$MBATCH" sweep s.json --count)" = 9 ] || fail "--count is not 9"
"$MBATCH" sweep s.json --list >list.txt
mb 4 sweep s.json --groups 2 --quiet | tee sweep.log
grep -q "mbatch: best: mbatch train runs/lin-sweep/base.json --set" sweep.log || fail "no best line"
grep -E "launch overhead per configuration: [0-9.]+ ms" sweep.log || fail "no launch overhead"
best_line=$(sed -n 's/^mbatch: best: mbatch train runs\/lin-sweep\/base.json //p' sweep.log)
best=$("$PYTHON" -c "import h5py; print(h5py.File('runs/lin-sweep/sweep.h5')['/'].attrs['best'])")
# The best configuration trained alone on 2 ranks (its group's size) gives the same bits.
mb 2 train runs/lin-sweep/base.json $best_line --set run_dir=alone --quiet

BEST=$best "$PYTHON" - <<'PY'
import csv, json, math, os, h5py, numpy as np
M = (1 << 64) - 1
def mix64(z):
    z ^= z >> 30; z = (z * 0xbf58476d1ce4e5b9) & M
    z ^= z >> 27; z = (z * 0x94d049bb133111eb) & M
    return z ^ (z >> 31)
G = 0x9e3779b97f4a7c15
def u64(seed, purpose, a, b):
    h = mix64((seed + G) & M)
    h = mix64(h ^ ((purpose + 2 * G) & M))
    h = mix64(h ^ ((a + 3 * G) & M))
    return mix64(h ^ ((b + 4 * G) & M))
def uniform(*k):
    return (u64(*k) >> 11) * 2.0 ** -53
# The expansion: configuration i = grid point i // 3, draw (seed 7, MB_RNG_SWEEP = 5, i, dim 1).
expect = []
for i in range(9):
    lr = [0.02, 0.1, 100000][i // 3]
    l2 = math.exp(math.log(1e-4) + (math.log(1e-1) - math.log(1e-4)) * uniform(7, 5, i, 1))
    expect.append((lr, l2))
with h5py.File("runs/lin-sweep/sweep.h5", "r") as f:
    r = f["results"][()]
    best = int(f.attrs["best"])
    assert f.attrs["metric"] in (b"val_loss", "val_loss")
assert len(r) == 9, len(r)
for i, row in enumerate(r):
    p = json.loads(row["params"])
    lr, l2 = expect[i]
    assert p["optimizer.lr"] == lr and abs(p["model.l2"] - l2) <= 1e-15 * l2, (i, p, expect[i])
    status = row["status"].decode()
    if lr == 100000:
        assert status == "failed" and row["exit_code"] == 4, (i, status, row["exit_code"])
        assert b"lower optimizer.lr" in row["message"], row["message"]
    else:
        assert status == "ok" and row["epochs"] == 3, (i, status, row["message"])
        # The row's validation loss is the last epoch of the configuration's own metrics.h5.
        with h5py.File("runs/lin-sweep/cfg-%d/metrics.h5" % i, "r") as m:
            assert m["epochs"]["val_loss"][-1] == row["val_loss"], i
print("expansion and statuses: ok; failed:", [i for i in range(9) if r[i]["status"] == b"failed"])
ok = [i for i in range(9) if r[i]["status"] == b"ok"]
oracle_best = min(ok, key=lambda i: (r[i]["val_loss"], i))
assert best == oracle_best == int(os.environ["BEST"]), (best, oracle_best)
rows = list(csv.DictReader(open("runs/lin-sweep/sweep.csv")))
assert len(rows) == 9 and rows[best]["status"] == "ok", rows[best]
assert float(rows[best]["optimizer.lr"]) == expect[best][0]
def theta(p):
    with h5py.File(p, "r") as f:
        return f["model/theta"][()]
a, b = theta("runs/lin-sweep/cfg-%d/model.h5" % best), theta("alone/model.h5")
same = np.array_equal(a.view(np.uint64), b.view(np.uint64))
print("best configuration %d: sweep model vs separate run, bitwise identical: %s" % (best, same))
assert same
PY
# --list is the same expansion as the run.
grep -q "^8	" list.txt || fail "--list does not show configuration 8"

# Usage errors: every rank agrees, one message, exit 1.
expect 1 "groups is 5; expected 1..4" 4 sweep s.json --groups 5
job bad.json '{"base": {"dataset": {"path": "data.h5"}}, "space": {"optimizer.lr": [0.1]},
  "sample": 2}'
expect 1 "bad.json: unknown key 'sample'" 2 sweep bad.json
job bad2.json '{"base": {"dataset": {"path": "data.h5"}},
  "space": {"model.l2": {"log_uniform": [0, 1]}}}'
expect 1 "log_uniform is \[0, 1\]; expected low <= high and low > 0" 2 sweep bad2.json
echo PASSED
