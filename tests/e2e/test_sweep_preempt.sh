# test_sweep_preempt.sh - a sweep in one allocation is signalled mid-way (SIGUSR1, as Slurm's
# --signal does): the busy groups checkpoint, mbatch exits 75 with the finished configurations'
# results kept; `--resume` skips those, resumes the interrupted ones from their checkpoints, and
# the final models and validation losses equal an uninterrupted sweep's, bit for bit.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind logistic --rows 12000 --cols 8 --seed 2 --out data.h5
job s.json '{"base": {"name": "pre", "dataset": {"path": "data.h5"}, "model": {"type": "logistic"},
    "optimizer": {"lr": 0.2, "momentum": 0.9}, "batch": {"size": 50}, "epochs": 20,
    "checkpoint": {"every_steps": 20}},
  "space": {"optimizer.lr": [0.01, 0.1, 0.2], "model.l2": [0, 0.001]}, "run_dir": "cut"}'
rc=0
timeout -k 5 120 "$MPIEXEC" -n 2 "$MBATCH" sweep s.json --groups 2 --quiet >cut.log 2>&1 &
pid=$!
# Wait until a configuration has finished and others are under way, then signal.
for _ in $(seq 400); do
    compgen -G "cut/cfg-*/result.json" >/dev/null && break
    sleep 0.05
done
sleep 0.2
# timeout does not pass USR1 on: signal its child, mpirun, which forwards it to every rank.
child=""
for _ in $(seq 100); do
    child=$(pgrep -P "$pid" || true)
    [ -n "$child" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
[ -n "$child" ] || { cat cut.log; fail "the sweep ended before it could be signalled"; }
kill -USR1 "$child"
wait "$pid" || rc=$?
cat cut.log
[ "$rc" -eq 75 ] || fail "the signalled sweep exited $rc, expected 75"
grep -q "stopped by a signal" cut.log || fail "no preemption message"
done_before=$(compgen -G "cut/cfg-*/result.json" | wc -l || true)
[ "$done_before" -lt 6 ] || fail "the signal came after the sweep had finished"
echo "configurations with results when signalled: $done_before of 6"
mb 2 sweep s.json --groups 2 --quiet --resume | tee resume.log
grep -q "resuming from cut/cfg-" resume.log || fail "no configuration resumed from a checkpoint"
sed 's/"run_dir": "cut"/"run_dir": "whole"/' s.json >w.json
mb 2 sweep w.json --groups 2 --quiet >whole.log
"$PYTHON" - <<'PY'
import h5py, numpy as np
def rows(d):
    with h5py.File(d + "/sweep.h5", "r") as f:
        return f["results"][()]
a, b = rows("cut"), rows("whole")
assert len(a) == len(b) == 6 and all(a["status"] == b"ok"), a["status"]
# Not train_loss: after a mid-epoch resume it averages only that epoch's remaining steps.
for k in ("val_loss", "val_metric", "epochs"):
    assert np.array_equal(a[k], b[k]), (k, a[k], b[k])
for i in range(6):
    ta = h5py.File("cut/cfg-%d/model.h5" % i, "r")["model/theta"][()]
    tb = h5py.File("whole/cfg-%d/model.h5" % i, "r")["model/theta"][()]
    assert np.array_equal(ta.view(np.uint64), tb.view(np.uint64)), i
print("interrupted + resumed sweep vs uninterrupted: all 6 models bitwise identical")
PY
echo PASSED
