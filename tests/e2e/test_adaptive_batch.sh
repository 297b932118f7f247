# test_adaptive_batch.sh - batch.adaptive: the batch doubles from 16 while the gradient noise scale
# (from the ranks' own gradients, reduced with the step's packet) exceeds it, and the run needs
# fewer optimizer steps than the fixed batch of 16 to reach the same validation loss. Prints the
# steps to several losses and the batch size of every epoch (metrics.h5 /epochs batch_size).
source "$(dirname "$0")/lib.sh"

"$PYTHON" - <<'PY'
import h5py, numpy as np
rng = np.random.default_rng(5)
n = 5000
t = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi
lab = rng.integers(0, 2, n)
s = np.where(lab == 1, 1.0, -1.0)
X = np.stack([s * t * np.cos(t), s * t * np.sin(t)], 1) + rng.normal(0, 0.3, (n, 2))
with h5py.File("sp.h5", "w") as f:
    f["X"] = X
    f["y"] = lab.astype(np.float64)
PY
for mode in fixed adaptive; do
    ad=false
    [ $mode = adaptive ] && ad=true
    job $mode.json "{\"name\": \"$mode\", \"dataset\": {\"path\": \"sp.h5\", \"X\": \"/X\",
      \"y\": \"/y\", \"validation_fraction\": 0.2}, \"model\": {\"type\": \"mlp\",
      \"hidden\": [32, 32], \"activation\": \"tanh\", \"output\": \"logistic\"},
      \"optimizer\": {\"type\": \"adam\", \"lr\": 0.003}, \"batch\": {\"size\": 16,
      \"adaptive\": $ad, \"max_size\": 1024}, \"epochs\": 12, \"seed\": 3, \"run_dir\": \"$mode\",
      \"checkpoint\": {\"every_epochs\": 0}}"
    mb 2 train $mode.json >$mode.log 2>&1 || { cat $mode.log; fail "$mode training"; }
done
grep "noise scale" adaptive.log || fail "the adaptive run never grew its batch"
"$PYTHON" - <<'PY' || fail "adaptive batch size did not save optimizer steps"
import h5py, numpy as np
ep = {m: h5py.File(m + "/metrics.h5", "r")["epochs"][:] for m in ("fixed", "adaptive")}
for m in ep:
    print("%-8s batch per epoch %s, steps %d, best validation loss %.5f"
          % (m, list(ep[m]["batch_size"]), ep[m]["step"][-1], ep[m]["val_loss"].min()))
def steps_to(m, target):
    hit = np.nonzero(ep[m]["val_loss"] <= target)[0]
    return int(ep[m]["step"][hit[0]]) if hit.size else None
# The same validation loss: the higher of the two runs' best, which both reach.
target = max(ep["fixed"]["val_loss"].min(), ep["adaptive"]["val_loss"].min())
for t in sorted({0.45, 0.42, 0.40, 0.39, target}, reverse=True):
    print("validation loss <= %.5f: fixed batch 16 after %s steps, adaptive after %s steps"
          % (t, steps_to("fixed", t), steps_to("adaptive", t)))
a, f = steps_to("adaptive", target), steps_to("fixed", target)
assert ep["fixed"]["batch_size"].max() == 16 and ep["adaptive"]["batch_size"].max() > 16
assert list(ep["adaptive"]["batch_size"]) == sorted(ep["adaptive"]["batch_size"])
assert a is not None and f is not None and a < f, (a, f)
PY
echo "PASSED"
