# test_mlp_overlap.sh - allreduce_bucket: an MLP's gradient reduced layer by layer while the
# backward pass goes on gives the weights of one allreduce per step (bitwise on 2 ranks, where a
# sum of two is a sum of two however it is cut; to 1e-12 on 3 and 4 ranks, whose reduction may
# associate differently by message size), the same weights as 1 rank to 1e-10, and a rank that
# hangs inside an overlapped step still ends the job through the watchdog.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind softmax --rows 3000 --cols 10 --classes 3 --seed 5 --out soft.h5 >/dev/null
job ov.json '{"dataset": {"path": "soft.h5", "validation_fraction": 0.1},
  "model": {"type": "mlp", "hidden": [48, 32, 16], "batch_norm": true, "output": "softmax"},
  "optimizer": {"type": "adam", "lr": 0.01}, "batch": {"size": 120}, "epochs": 3, "seed": 4,
  "checkpoint": {"every_epochs": 0}}'
mb 1 train ov.json --quiet --set run_dir=one
for np in 2 3 4; do
    # Bucket 1: every layer starts its own allreduce as soon as it is final.
    mb "$np" train ov.json --quiet --set run_dir=lay$np --set allreduce_bucket=1
    mb "$np" train ov.json --quiet --set run_dir=whole$np --set allreduce_bucket=0
done
"$PYTHON" - <<'PY'
import numpy as np
from mbcheck import theta
one = theta("one")
for np_ in (2, 3, 4):
    a, b = theta("lay%d" % np_), theta("whole%d" % np_)
    same = a.tobytes() == b.tobytes()
    rel = np.max(np.abs(a - b)) / np.max(np.abs(b))
    print("%d ranks: per-layer overlapped allreduces vs one per step: bitwise %s, max relative "
          "difference %.3g; vs 1 rank %.3g" % (np_, same, rel, np.max(np.abs(a - one))))
    assert same if np_ == 2 else rel < 1e-12, rel
    assert np.max(np.abs(a - one)) < 1e-10
PY
# A rank that stops arriving in a training step: with buckets the wait still ends the job.
job hang.json '{"dataset": {"path": "soft.h5"}, "model": {"type": "mlp", "hidden": [48, 32], "output": "softmax"},
  "batch": {"size": 120}, "epochs": 2, "timeout_s": 2, "allreduce_bucket": 1,
  "checkpoint": {"every_epochs": 0}}'
MBATCH_FAULT=hang@40/1 expect 5 "\(allreduce of [0-9]+ values\): rank 1 did not arrive within timeout_s = 2 s" 2 train hang.json \
    --quiet --set run_dir=hang
echo PASSED
