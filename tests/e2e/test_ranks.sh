# test_ranks.sh - full-batch GD gives the same weights at 1, 2, 3 and 4 ranks (1e-12 relative),
# and both io modes give bitwise identical models.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind logistic --rows 3001 --cols 7 --seed 3 --out data.h5
job full.json '{"dataset": {"path": "data.h5"}, "model": {"type": "logistic", "l2": 0.001},
  "optimizer": {"lr": 1.0}, "batch": {"size": "full"}, "epochs": 40,
  "checkpoint": {"every_epochs": 10}}'
for np in 1 2 3 4; do
    mb "$np" train full.json --quiet --set run_dir=np$np
done
mb 2 train full.json --quiet --set run_dir=scatter2 --set io.mode=scatter
mb 3 train full.json --quiet --set run_dir=scatter3 --set io.mode=scatter
# Mini-batch with momentum: the same samples in the same batches whatever the rank count.
for np in 1 4; do
    mb "$np" train full.json --quiet --set run_dir=mb$np --set batch.size=256 \
        --set optimizer.momentum=0.9 --set optimizer.lr=0.1
done
# The closing line names the validation loss only when there are validation rows.
mb 2 train full.json --set run_dir=said --set epochs=2 >said.txt
grep -qE "final train loss [0-9.]+, validation loss [0-9.]+$" said.txt || fail "$(cat said.txt)"
mb 2 train full.json --set run_dir=said0 --set epochs=2 --set dataset.validation_fraction=0 >said.txt
grep -qE "final train loss [0-9.]+$" said.txt || fail "no validation rows: $(cat said.txt)"

"$PYTHON" - <<'PY'
import numpy as np
from mbcheck import theta
ref = theta("np1")
for np_ in (2, 3, 4):
    t = theta("np%d" % np_)
    rel = np.max(np.abs(t - ref) / np.maximum(np.abs(ref), 1e-300))
    print("full batch, %d ranks vs 1: max relative difference %.3g" % (np_, rel))
    assert rel < 1e-12, rel
for np_ in (2, 3):
    same = np.array_equal(theta("np%d" % np_).view(np.uint64), theta("scatter%d" % np_).view(np.uint64))
    print("%d ranks: parallel and scatter io bitwise identical: %s" % (np_, same))
    assert same
a, b = theta("mb1"), theta("mb4")
rel = np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-300))
print("mini-batch 256, 4 ranks vs 1: max relative difference %.3g" % rel)
assert rel < 1e-10, rel
PY
echo PASSED
