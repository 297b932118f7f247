# test_sweep.sh - sweeps under the real local Slurm: an array of 4 tasks (one configuration each;
# the last task writes sweep.h5 with 4 rows) and the same sweep in one 4-task allocation split
# into 2 groups, whose table must agree with the array's bit for bit.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind logistic --rows 800 --cols 5 --seed 9 --out data.h5
job base.json '{"name": "arr", "dataset": {"path": "data.h5"}, "model": {"type": "logistic"},
  "batch": {"size": 100}, "epochs": 2}'
job array.json '{"base": "base.json", "space": {"optimizer.lr": [0.05, 0.5],
  "model.l2": [0, 0.01]}, "run_dir": "array-sweep"}'
job alloc.json '{"base": "base.json", "space": {"optimizer.lr": [0.05, 0.5],
  "model.l2": [0, 0.01]}, "run_dir": "alloc-sweep"}'
n=$("$MBATCH" sweep array.json --count)
[ "$n" -eq 4 ] || fail "expected 4 configurations, got $n"

sbatch_wait --array=0-$((n - 1)) --ntasks=1 "$SRC_DIR/slurm/sweep-array.sbatch" array.json \
    --quiet ||
    { cat mbatch-sweep-*.out; fail "the array sweep failed"; }
jid=$(cut -d';' -f1 jobid.txt)
for t in 0 1 2 3; do
    [ -s "mbatch-sweep-${jid}_$t.out" ] || fail "no log mbatch-sweep-${jid}_$t.out"
done
cat "mbatch-sweep-${jid}"_*.out | grep -E "sweep-array.sbatch: .* task|mbatch: best" || true

sbatch_wait --ntasks=4 "$SRC_DIR/slurm/sweep-alloc.sbatch" alloc.json --groups 2 --quiet ||
    { cat mbatch-sweep-*.out; fail "the sweep in one allocation failed"; }
jid2=$(cut -d';' -f1 jobid.txt)
grep -E "launch overhead|mbatch: best" "mbatch-sweep-$jid2.out" || fail "no summary in the log"

"$PYTHON" - <<'PY'
import h5py, numpy as np
tables = {}
for d in ("array-sweep", "alloc-sweep"):
    with h5py.File(d + "/sweep.h5", "r") as f:
        r = f["results"][()]
        tables[d] = (r, int(f.attrs["best"]))
    print(d, "rows:", len(r), "statuses:", [s.decode() for s in r["status"]], "best:", tables[d][1])
    assert len(r) == 4 and all(s == b"ok" for s in r["status"])
(a, ba), (b, bb) = tables["array-sweep"], tables["alloc-sweep"]
# One rank per configuration in the array, two per group in the allocation: the losses agree
# to rounding, and the best configuration is the same.
assert ba == bb, (ba, bb)
assert np.allclose(a["val_loss"], b["val_loss"], rtol=1e-10, atol=0), (a["val_loss"], b["val_loss"])
PY
echo PASSED
