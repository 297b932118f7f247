# test_threads.sh - "threads": 1 rank x 2 threads gives the bits of 2 ranks (full batch,
# mini-batch, float32) on data whose standardization is exact in any order; other splits agree
# to the rank-count tolerance of the other tests; validation rows stay out of the threads' pieces.
source "$(dirname "$0")/lib.sh"

# Integer features whose columns sum to exactly 0 (the second half negates a shuffle of the first):
# the column means and variances come out the same whatever the order of summation, so the only
# sums that could differ are the gradient's.
"$PYTHON" - <<'PY'
import h5py, numpy as np
n, d = 3000, 37
rng = np.random.default_rng(11)
h = rng.integers(-8, 9, size=(n // 2, d)).astype(np.float64)
X = np.vstack([h, -h[rng.permutation(n // 2)]])[rng.permutation(n)]
y = (rng.random(n) < 1 / (1 + np.exp(-(X @ (rng.normal(size=d) / 4))))).astype(np.float64)
with h5py.File("ints.h5", "w") as f:
    f["X"] = X
    f["y"] = y
PY
job ints.json '{"dataset": {"path": "ints.h5", "validation_fraction": 0}, "model": {"type":
  "logistic", "l2": 0.001}, "optimizer": {"lr": 1.0}, "batch": {"size": "full"}, "epochs": 20,
  "checkpoint": {"every_epochs": 0}}'
for v in "full:float64" "100:float64" "100:float32"; do
    b=${v%%:*} dt=${v##*:}
    mb 1 train ints.json --quiet --set run_dir="t1x2-$b-$dt" --set threads=2 \
        --set batch.size="$b" --set dtype="$dt"
    mb 2 train ints.json --quiet --set run_dir="t2x1-$b-$dt" --set batch.size="$b" --set dtype="$dt"
done
mb 1 train ints.json --quiet --set run_dir=t1x3 --set threads=3 --set batch.size=100
mb 3 train ints.json --quiet --set run_dir=t3x1 --set batch.size=100
mb 2 train ints.json --quiet --set run_dir=t2x2 --set threads=2 --set batch.size=100
mb 4 train ints.json --quiet --set run_dir=t4x1 --set batch.size=100
"$MBATCH" gen --kind logistic --rows 2001 --cols 9 --seed 4 --out val.h5
job val.json '{"dataset": {"path": "val.h5", "validation_fraction": 0.2}, "model": {"type":
  "logistic"}, "optimizer": {"lr": 0.5}, "batch": {"size": 64}, "epochs": 5}'
mb 1 train val.json --quiet --set run_dir=v1x1
mb 1 train val.json --quiet --set run_dir=v1x4 --set threads=4
expect 1 "threads" 1 train ints.json --set threads=0 --set run_dir=bad

# Where the threads run. mpirun binds each of <= 2 ranks to one core: a rank's second thread
# goes to a PU no rank is bound to, a PU of its own, when the machine has one; when it has none,
# the rank says that its threads share its core.
# Full batch: no helper thread computes epoch orders, the only other threads are the gradient's.
if [ "$(nproc)" -ge 2 ]; then
    "$MBATCH" gen --kind logistic --rows 200000 --cols 32 --seed 5 --out wide.h5 >/dev/null
    job wide.json '{"dataset": {"path": "wide.h5", "validation_fraction": 0}, "epochs": 600,
      "checkpoint": {"every_epochs": 0}}'
    mb 1 train wide.json --quiet --set run_dir=w1x2 --set threads=2 >out.txt 2>err.txt &
    launched=$!
    seen=""
    for _ in $(seq 100); do
        pid=$(pgrep -n -x mbatch || true)
        if [ -n "$pid" ]; then
            main=$(sed -n 's/^Cpus_allowed_list:\t//p' "/proc/$pid/status" 2>/dev/null || true)
            for t in /proc/"$pid"/task/*; do
                a=$(sed -n 's/^Cpus_allowed_list:\t//p' "$t/status" 2>/dev/null || true)
                if [ -n "$a" ] && [ -n "$main" ] && [ "$a" != "$main" ]; then seen="$main|$a"; fi
            done
        fi
        [ -n "$seen" ] && break
        sleep 0.1
    done
    wait "$launched" || fail "1 rank x 2 threads: $(cat err.txt)"
    [ -n "$seen" ] || fail "1 rank x 2 threads: no thread ran apart from the rank's PUs"
    echo "ok: 1 rank x 2 threads: the rank on PUs ${seen%%|*}, a thread on ${seen##*|}"
    grep -q "share" err.txt && fail "1 rank x 2 threads on $(nproc) PUs: $(cat err.txt)"
    if [ "$(nproc)" -eq 2 ]; then
        mb 2 train ints.json --quiet --set run_dir=w2x2 --set threads=2 >out.txt 2>err.txt ||
            fail "2 ranks x 2 threads: $(cat err.txt)"
        grep -q "threads = 2, but the rank's threads can run only on PU [0-9]*: they share it" \
            err.txt || fail "2 ranks x 2 threads on 2 PUs, no warning: $(cat err.txt)"
        echo "ok: $(head -1 err.txt)"
    fi
fi

"$PYTHON" - <<'PY'
import h5py, numpy as np
from mbcheck import theta
def rel(a, b):
    return np.max(np.abs(theta(a) - theta(b)) / np.maximum(np.abs(theta(b)), 1e-300))
for b, dt in (("full", "float64"), ("100", "float64"), ("100", "float32")):
    a, c = theta("t1x2-%s-%s" % (b, dt)), theta("t2x1-%s-%s" % (b, dt))
    same = np.array_equal(a.view(np.uint64), c.view(np.uint64))
    print("batch %s %s: 1 rank x 2 threads and 2 ranks bitwise identical: %s" % (b, dt, same))
    assert same
for a, b in (("t1x3", "t3x1"), ("t2x2", "t4x1")):
    r = rel(a, b)
    print("%s vs %s: max relative difference %.3g" % (a, b, r))
    assert r < 1e-10, r
with h5py.File("v1x4/metrics.h5", "r") as f, h5py.File("v1x1/metrics.h5", "r") as g:
    assert np.allclose(f["epochs"]["val_loss"], g["epochs"]["val_loss"], rtol=1e-12, atol=0)
r = rel("v1x4", "v1x1")
print("validation split, 4 threads vs 1: max relative difference %.3g" % r)
assert r < 1e-10, r
PY
