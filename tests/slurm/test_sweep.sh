# test_sweep.sh - sweeps under the real local Slurm: an array of 4 tasks (one configuration each;
# the last task writes sweep.h5 with 4 rows), and 8 configurations in one 4-task allocation split
# into 2 groups, whose best configuration, trained again by train.sbatch on 2 tasks (its group's
# size), gives the same model bit for bit.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind logistic --rows 800 --cols 5 --seed 9 --out data.h5
job base.json '{"name": "arr", "dataset": {"path": "data.h5"}, "model": {"type": "logistic"},
  "batch": {"size": 100}, "epochs": 2}'
job array.json '{"base": "base.json", "space": {"optimizer.lr": [0.05, 0.5],
  "model.l2": [0, 0.01]}, "run_dir": "array-sweep"}'
job alloc.json '{"base": "base.json", "space": {"optimizer.lr": [0.05, 0.2, 0.5, 1.0],
  "model.l2": [0, 0.01]}, "run_dir": "alloc-sweep"}'
n=$("$MBATCH" sweep array.json --count)
[ "$n" -eq 4 ] || fail "expected 4 configurations, got $n"

sbatch_wait --array=0-$((n - 1)) --ntasks=1 "$SRC_DIR/slurm/sweep-array.sbatch" array.json \
    --quiet || { cat mbatch-sweep-*.out; fail "the array sweep failed"; }
jid=$(cut -d';' -f1 jobid.txt)
for t in 0 1 2 3; do
    [ -s "mbatch-sweep-${jid}_$t.out" ] || fail "no log mbatch-sweep-${jid}_$t.out"
done
grep -h "mbatch: best" "mbatch-sweep-${jid}"_*.out || fail "no task wrote the summary"

sbatch_wait --ntasks=4 "$SRC_DIR/slurm/sweep-alloc.sbatch" alloc.json --groups 2 --quiet ||
    { cat mbatch-sweep-*.out; fail "the sweep in one allocation failed"; }
jid2=$(cut -d';' -f1 jobid.txt)
grep -E "4 ranks in 2 groups|launch overhead|mbatch: best" "mbatch-sweep-$jid2.out" ||
    fail "no summary in the log"
best_line=$(sed -n 's/^mbatch: best: mbatch train base.json //p' "mbatch-sweep-$jid2.out")
[ -n "$best_line" ] || fail "no best configuration line"
# shellcheck disable=SC2086 # the --set line is meant to split into words
sbatch_wait --ntasks=2 --job-name=best "$SRC_DIR/slurm/train.sbatch" base.json $best_line \
    --set run_dir=alone --quiet || { cat best-*.out; fail "training the best configuration failed"; }

"$PYTHON" - <<'PY'
import h5py, numpy as np
with h5py.File("array-sweep/sweep.h5", "r") as f:
    r = f["results"][()]
print("array: rows", len(r), "statuses", [s.decode() for s in r["status"]])
assert len(r) == 4 and all(s == b"ok" for s in r["status"])
with h5py.File("alloc-sweep/sweep.h5", "r") as f:
    r = f["results"][()]
    best = int(f.attrs["best"])
print("allocation: rows", len(r), "statuses", [s.decode() for s in r["status"]], "best", best)
assert len(r) == 8 and all(s == b"ok" for s in r["status"])
assert best == int(np.argmin(r["val_loss"])), (best, r["val_loss"])
a = h5py.File("alloc-sweep/cfg-%d/model.h5" % best, "r")["model/theta"][()]
b = h5py.File("alone/model.h5", "r")["model/theta"][()]
same = np.array_equal(a.view(np.uint64), b.view(np.uint64))
print("best configuration %d in the sweep vs train.sbatch on 2 tasks, bitwise identical: %s"
      % (best, same))
assert same
PY
echo PASSED
