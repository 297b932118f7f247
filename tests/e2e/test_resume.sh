# test_resume.sh - stop after epoch k, --resume: the final weights equal an uninterrupted run's,
# bitwise (mini-batch SGD with Nesterov momentum, and Adam, so optimizer state must carry over).
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind softmax --classes 4 --rows 2500 --cols 6 --seed 5 --out data.h5
job j.json '{"dataset": {"path": "data.h5"}, "model": {"type": "softmax", "l2": 0.001},
  "optimizer": {"lr": 0.2, "momentum": 0.9, "nesterov": true}, "batch": {"size": 100},
  "epochs": 6, "checkpoint": {"every_epochs": 1, "keep": 2}}'
mb 2 train j.json --quiet --set run_dir=full
mb 2 train j.json --quiet --set run_dir=split --set epochs=2
ls split/checkpoints
[ "$(ls split/checkpoints | wc -l)" -eq 2 ] || fail "checkpoint.keep=2 not honoured"
mb 2 train j.json --set run_dir=split --resume | tee resume.log
grep -q "resuming from split/checkpoints/ckpt-" resume.log || fail "did not resume"
# Resuming mid-epoch from a step checkpoint, with Adam.
mb 2 train j.json --quiet --set run_dir=adam --set optimizer.type=adam --set optimizer.momentum=0 \
    --set optimizer.nesterov=false --set optimizer.lr=0.01
mb 2 train j.json --quiet --set run_dir=adam2 --set optimizer.type=adam \
    --set optimizer.momentum=0 --set optimizer.nesterov=false --set optimizer.lr=0.01 \
    --set epochs=3 --set checkpoint.every_steps=7 --set checkpoint.every_epochs=0 --set checkpoint.keep=0
rm adam2/checkpoints/ckpt-69.h5 adam2/checkpoints/ckpt-63.h5 # keep ckpt-56: 56 = 2 epochs of 23 steps + 10
mb 2 train j.json --set run_dir=adam2 --resume --set optimizer.type=adam \
    --set optimizer.momentum=0 --set optimizer.nesterov=false --set optimizer.lr=0.01 | tee r2.log
grep -q "ckpt-56.h5" r2.log || fail "did not resume from step 56"
# A checkpoint of a different job is refused.
rc=0
mb 2 train j.json --set run_dir=split --resume --set model.l2=0.5 >o.txt 2>e.txt || rc=$?
[ "$rc" -eq 1 ] && grep -q "different job: model.l2 differs" e.txt || { cat e.txt; fail "resume accepted another job"; }

"$PYTHON" - <<'PY'
import h5py, numpy as np
def theta(d):
    with h5py.File(d + "/model.h5", "r") as f:
        return f["model/theta"][()], f.attrs["step"], f.attrs["epoch"]
for a, b in (("full", "split"), ("adam", "adam2")):
    (ta, sa, ea), (tb, sb, eb) = theta(a), theta(b)
    same = np.array_equal(ta.view(np.uint64), tb.view(np.uint64))
    print("%s vs %s: steps %d/%d, epochs %d/%d, bitwise identical: %s" % (a, b, sa, sb, ea, eb, same))
    assert same and sa == sb and ea == eb
with h5py.File("split/metrics.h5", "r") as f:
    ep = f["epochs"]["epoch"]
    assert list(ep) == list(range(6)), list(ep)
PY
echo PASSED
