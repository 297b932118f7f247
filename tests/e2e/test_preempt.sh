# test_preempt.sh - SIGUSR1 to one rank of `mpirun -n 2 mbatch train` mid-run: every rank stops at
# the same step, a checkpoint is written, exit 75; the resumed run is stopped again by SIGTERM to
# the other rank; the second --resume ends bitwise equal to a run that was never interrupted. Also:
# a signal during start-up is answered at the first step; checkpoint.max_restarts refuses a job
# requeued too often.
source "$(dirname "$0")/lib.sh"
export MBATCH_PROGRESS=plain

"$MBATCH" gen --kind logistic --rows 30000 --cols 500 --seed 3 --out data.h5
# 54 steps of 500 rows x 500 features per epoch, 100 epochs: a second or more of training that
# slows with the machine rather than with scheduling latency, so the signal lands mid-run (40
# features had become too fast for that: 0.2-0.45 s for all 100 epochs).
job j.json '{"name": "p", "dataset": {"path": "data.h5"},
  "model": {"type": "logistic", "l2": 0.001},
  "optimizer": {"type": "adam", "lr": 0.01}, "batch": {"size": 500}, "epochs": 100,
  "checkpoint": {"every_epochs": 50, "keep": 2}}'
mb 2 train j.json --quiet --set run_dir=full

# The same job, stopped by a signal to the last rank once epoch 10 is reported.
rc=0
mb 2 train j.json --set run_dir=cut >cut.log 2>cut.err &
launcher=$!
for _ in $(seq 1 400); do
    grep -q "^epoch 10/" cut.log 2>/dev/null && break
    sleep 0.025
done
rank=$(pgrep -f "^$MBATCH train j.json --set run_dir=cut" | tail -1)
[ -n "$rank" ] || fail "no rank process found to signal"
kill -USR1 "$rank"
wait "$launcher" || rc=$?
cat cut.err >&2
[ "$rc" -eq 75 ] || fail "exit code $rc after SIGUSR1, expected 75"
pattern="stopped by signal 10 at epoch [0-9]+ step [0-9]+; "
pattern+="checkpoint cut/checkpoints/ckpt-[0-9]+.h5"
n=$(grep -cE "$pattern; resume with --resume" cut.err || true)
[ "$n" -eq 1 ] || fail "expected the preemption message once, saw $n"
step=$(sed -nE 's/.*step ([0-9]+); checkpoint.*/\1/p' cut.err)
[ -f "cut/checkpoints/ckpt-$step.h5" ] || fail "no checkpoint cut/checkpoints/ckpt-$step.h5"
[ ! -f cut/model.h5 ] || fail "a preempted run wrote model.h5"
echo "ok: stopped at step $step of 5400"

# The resumed run, stopped by SIGTERM (what Slurm sends on preemption) to the first rank once it
# reports an epoch a few past the first stop (which lands later on a faster machine).
epoch=$(sed -nE 's/.*stopped by signal 10 at epoch ([0-9]+) .*/\1/p' cut.err)
rc=0
mb 2 train j.json --set run_dir=cut --resume >resume.log 2>resume.err &
launcher=$!
for _ in $(seq 1 800); do
    grep -q "^epoch $((epoch + 3))/" resume.log 2>/dev/null && break
    sleep 0.025
done
rank=$(pgrep -f "^$MBATCH train j.json --set run_dir=cut --resume" | head -1)
[ -n "$rank" ] || fail "no rank process of the resumed run found to signal"
kill -TERM "$rank"
wait "$launcher" || rc=$?
cat resume.err >&2
grep -q "resuming from cut/checkpoints/ckpt-$step.h5" resume.log || fail "did not resume from $step"
[ "$rc" -eq 75 ] || fail "exit code $rc after SIGTERM, expected 75"
grep -qE "stopped by signal 15 at epoch [0-9]+ step [0-9]+" resume.err || fail "no SIGTERM message"
step2=$(sed -nE 's/.*step ([0-9]+); checkpoint.*/\1/p' resume.err)
[ "$step2" -gt "$step" ] || fail "the second stop (step $step2) is not after the first ($step)"
echo "ok: stopped again by SIGTERM at step $step2"

mb 2 train j.json --set run_dir=cut --resume >resume2.log
grep -q "resuming from cut/checkpoints/ckpt-$step2.h5" resume2.log ||
    fail "did not resume from $step2"

# A signal while the ranks start (MPI start-up, loading) is answered at the first step, not fatal.
rc=0
mb 2 train j.json --quiet --set run_dir=early >early.log 2>early.err &
launcher=$!
# Signal as soon as both ranks catch SIGUSR1 (bit 9 of SigCgt in /proc/PID/status): before MPI
# is up.
catching() {
    local mask
    mask=$(sed -n 's/^SigCgt:\s*//p' "/proc/$1/status" 2>/dev/null) || return 1
    [ -n "$mask" ] && (((0x$mask & 0x200) != 0))
}
for _ in $(seq 1 1000); do
    ranks=$(pgrep -f "^$MBATCH train j.json --quiet --set run_dir=early" || true)
    n=0
    for p in $ranks; do catching "$p" && n=$((n + 1)); done
    [ "$n" -eq 2 ] && break
    sleep 0.005
done
[ "$n" -eq 2 ] || fail "the ranks never caught SIGUSR1"
kill -USR1 $ranks
wait "$launcher" || rc=$?
[ "$rc" -eq 75 ] || { cat early.err >&2; fail "a signal at start-up: exit $rc, expected 75"; }
echo "ok: signal at start-up: $(grep -o "stopped by signal 10 at epoch [0-9]* step [0-9]*" \
    early.err)"

# SLURM_RESTART_COUNT above checkpoint.max_restarts: refused before any work.
SLURM_RESTART_COUNT=3 expect 1 "requeued 3 times, more than checkpoint.max_restarts = 2" 2 \
    train j.json --set run_dir=cut --set checkpoint.max_restarts=2 --resume

"$PYTHON" - <<'PY'
import h5py, numpy as np
def model(d):
    with h5py.File(d + "/model.h5", "r") as f:
        return f["model/theta"][()], f.attrs["step"], f.attrs["epoch"]
(a, sa, ea), (b, sb, eb) = model("full"), model("cut")
same = np.array_equal(a.view(np.uint64), b.view(np.uint64))
print("uninterrupted vs preempted+resumed: steps %d/%d epochs %d/%d bitwise identical: %s"
      % (sa, sb, ea, eb, same))
assert same and sa == sb and ea == eb
PY
echo PASSED
