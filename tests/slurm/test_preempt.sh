# test_preempt.sh - preemption on the local Slurm: SIGUSR1 to a running train.sbatch (as Slurm's
# --signal does) reaches every rank, they checkpoint and exit 75, the script requeues the job, the
# second run resumes by itself; the final model equals an uninterrupted run's, bitwise. Then a job
# with checkpoint.max_restarts = 0 is refused on its first requeued run, with a clear message.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind logistic --rows 2000 --cols 8 --seed 3 --out data.h5
# Mini-batches of 4 over 1000 epochs: over a second of training, so the signal lands mid-run.
job j.json '{"name": "p", "dataset": {"path": "data.h5"}, "model": {"type": "logistic", "l2": 0.001},
  "optimizer": {"type": "adam", "lr": 0.01}, "batch": {"size": 4}, "epochs": 1000,
  "checkpoint": {"every_epochs": 100, "keep": 2}}'
mb 2 train j.json --quiet --set run_dir=full

# preempt NAME ARGS...: submit train.sbatch on 2 tasks in the background, wait for epoch 20 in
# its log, send SIGUSR1 to the batch shell, wait for the job; sets $id and $rc.
preempt() {
    local name=$1
    shift
    rc=0
    sbatch_wait --ntasks=2 --job-name="$name" "$SRC_DIR/slurm/train.sbatch" j.json "$@" &
    local waiter=$!
    for _ in $(seq 1 200); do
        [ -s jobid.txt ] && break
        sleep 0.05
    done
    id=$(cut -d';' -f1 jobid.txt)
    [ -n "$id" ] || fail "sbatch printed no job id"
    for _ in $(seq 1 600); do
        grep -q "^epoch 20/" "$name-$id.out" 2>/dev/null && break
        sleep 0.05
    done
    grep -q "^epoch 20/" "$name-$id.out" || { cat "$name-$id.out" >&2; fail "job $id never reached epoch 20"; }
    scancel --signal=USR1 --batch "$id"
    wait "$waiter" || rc=$?
    rm -f jobid.txt
}

preempt pre --set run_dir=cut
log=pre-$id.out
cat "$log" | grep -v "^epoch" || true
[ "$rc" -eq 0 ] || fail "sbatch --wait: job $id ended with $rc after requeue, expected 0"
grep -qE "stopped by signal 10 at epoch [0-9]+ step [0-9]+; checkpoint cut/checkpoints/ckpt-[0-9]+.h5" "$log" ||
    fail "no preemption checkpoint in $log"
step=$(sed -nE 's/.*stopped by signal 10 at epoch [0-9]+ step ([0-9]+);.*/\1/p' "$log")
grep -q "mbatch exited with 75" "$log" || fail "the first run did not exit 75"
grep -q "requeueing job $id (restart 1)" "$log" || fail "the script did not requeue"
grep -q "job $id run 2 on" "$log" || fail "no second run (SLURM_RESTART_COUNT=1)"
grep -q "resuming from cut/checkpoints/ckpt-$step.h5" "$log" || fail "the second run did not resume from step $step"
grep -q "mbatch: done: 1000 epochs, 450000 steps" "$log" || fail "the second run did not finish"
echo "ok: job $id stopped at step $step, requeued, resumed, finished"

# checkpoint.max_restarts = 0: the requeued run refuses to go on; the job ends with exit 1.
preempt cap --set run_dir=capped --set checkpoint.max_restarts=0
cat "cap-$id.out" | grep -v "^epoch" || true
[ "$rc" -eq 1 ] || fail "a job over checkpoint.max_restarts ended with $rc, expected 1"
grep -q "requeued 1 times, more than checkpoint.max_restarts = 0; refusing to go on" "cap-$id.out" ||
    fail "no max_restarts message in cap-$id.out"

"$PYTHON" - <<'PY'
import h5py, numpy as np
def model(d):
    with h5py.File(d + "/model.h5", "r") as f:
        return f["model/theta"][()], f.attrs["step"]
(a, sa), (b, sb) = model("full"), model("cut")
same = np.array_equal(a.view(np.uint64), b.view(np.uint64))
print("uninterrupted (mpirun) vs preempted+requeued+resumed (Slurm): steps %d/%d, bitwise identical: %s"
      % (sa, sb, same))
assert same and sa == sb
PY
echo PASSED
