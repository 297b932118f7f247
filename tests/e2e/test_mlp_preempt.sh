# test_mlp_preempt.sh - SIGUSR1 to one rank of a 2-rank MLP run (batch norm, fixed batch): every rank
# stops at the same step inside an epoch, checkpoints, exits 75; --resume ends bitwise equal to a
# run that was never interrupted. With batch.adaptive the stop waits for the end of the epoch.
source "$(dirname "$0")/lib.sh"
export MBATCH_PROGRESS=plain

"$MBATCH" gen --kind spirals --rows 20000 --noise 0.3 --seed 3 --out sp.h5 >/dev/null
job j.json '{"name": "p", "dataset": {"path": "sp.h5", "validation_fraction": 0.1},
  "model": {"type": "mlp", "hidden": [16], "batch_norm": true},
  "optimizer": {"type": "adam", "lr": 0.01}, "batch": {"size": 200}, "epochs": 30,
  "checkpoint": {"every_epochs": 10, "keep": 2}}'
mb 2 train j.json --quiet --set run_dir=full >/dev/null || fail "uninterrupted run"

# cut NAME EXTRA...: run j.json into NAME, SIGUSR1 to the last rank once epoch 3 is reported.
cut() {
    local name=$1 rc=0 rank
    shift
    mb 2 train j.json --set run_dir="$name" "$@" >"$name.log" 2>"$name.err" &
    local launcher=$!
    for _ in $(seq 1 400); do
        grep -q "^epoch 3/" "$name.log" 2>/dev/null && break
        sleep 0.025
    done
    rank=$(pgrep -f "^$MBATCH train j.json --set run_dir=$name" | tail -1)
    [ -n "$rank" ] || fail "no rank process found to signal"
    kill -USR1 "$rank"
    wait "$launcher" || rc=$?
    cat "$name.err" >&2
    [ "$rc" -eq 75 ] || fail "$name: exit code $rc after SIGUSR1, expected 75"
}
cut cut
grep -qE "stopped by signal 10 at epoch [0-9]+ step [0-9]+; checkpoint cut/checkpoints/ckpt-" \
    cut.err || fail "no mid-epoch preemption message"
step=$(sed -nE 's/.*step ([0-9]+); checkpoint.*/\1/p' cut.err)
[ -f "cut/checkpoints/ckpt-$step.h5" ] || fail "no checkpoint cut/checkpoints/ckpt-$step.h5"
[ ! -f cut/model.h5 ] || fail "a preempted run wrote model.h5"
echo "ok: stopped at step $step of 2700 ($((step % 90)) steps into its epoch)"
mb 2 train j.json --set run_dir=cut --resume --quiet >/dev/null || fail "resume"
"$PYTHON" -c "
import h5py, numpy as np
a = h5py.File('full/model.h5', 'r')['model/theta'][:]
b = h5py.File('cut/model.h5', 'r')['model/theta'][:]
assert np.array_equal(a, b), np.max(np.abs(a - b))
print('ok: the resumed MLP equals the uninterrupted run bitwise')" || fail "resumed model differs"

# batch.adaptive: the stop comes at the end of the epoch the signal arrived in.
cut ad --set batch.adaptive=true
grep -qE "stopped by signal 10 after epoch [0-9]+; checkpoint ad/checkpoints/ckpt-[0-9]+.h5" \
    ad.err || fail "no end-of-epoch preemption message"
echo "ok: $(grep -oE 'stopped by signal 10 after epoch [0-9]+' ad.err) (adaptive batch)"
echo "PASSED"
