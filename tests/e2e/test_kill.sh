# test_kill.sh - SIGKILL at random points: rank 0 (the checkpoint writer) or rank 1, after random
# delays and, through MBATCH_FAULT, inside checkpoint writes (before and just after the rename).
# After every kill the newest complete checkpoint must load and verify (independent h5py
# checksums); every chain of kill + --resume must end bitwise equal to an uninterrupted run.
source "$(dirname "$0")/lib.sh"
RANDOM=20261122 # the kill plan is reproducible; the timing of each kill is not
min_kills=${MBATCH_KILLS:-20}

"$MBATCH" gen --kind logistic --rows 3000 --cols 6 --seed 4 --out data.h5 >/dev/null
# 2700 Adam steps, a checkpoint every 90 steps (3 per epoch): about 1 s, much of it fsyncs.
job j.json '{"dataset": {"path": "data.h5"}, "epochs": 10, "batch": {"size": 10},
  "optimizer": {"type": "adam", "lr": 0.01},
  "checkpoint": {"every_epochs": 1, "every_steps": 90, "keep": 2}}'
mb 2 train j.json --quiet --set run_dir=ref >/dev/null

rank_pid() { # rank_pid PID RANK: the pid of that rank among PID's descendants, or nothing
    local p
    for p in $(pgrep -P "$1" || true); do
        if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
            echo "$p"
            return
        fi
        rank_pid "$p" "$2"
    done
}

kills=0 in_write=0 rank0=0 chains=0 runs=0
chain=0
mkdir -p snaps
while [ "$kills" -lt "$min_kills" ] || [ -d "run$chain" ]; do
    dir=run$chain
    runs=$((runs + 1))
    mode=$((RANDOM % 4))
    fault=""
    if [ "$kills" -ge "$min_kills" ]; then
        mode=9 # enough kills: let this chain finish
    elif [ "$mode" -eq 0 ]; then
        fault="ckpt_kill@$((RANDOM % 20 + 1))/0"
    elif [ "$mode" -eq 1 ]; then
        fault="ckpt_kill_renamed@$((RANDOM % 20 + 1))/0"
    fi
    MBATCH_FAULT=$fault timeout -k 5 120 "$MPIEXEC" -n 2 "$MBATCH" train j.json --quiet --resume \
        --set run_dir="$dir" >out.txt 2>err.txt &
    launcher=$!
    what="finished"
    if [ "$mode" -ge 2 ] && [ "$mode" -ne 9 ]; then
        victim=$((RANDOM % 2))
        # 0.25 to 1.25 s: from data loading to the last epochs of a run that starts over.
        sleep "0.$(printf '%03d' $((RANDOM % 1000)))"
        sleep 0.25
        pid=$(rank_pid "$launcher" "$victim")
        if [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; then
            what="SIGKILL rank $victim"
        fi
    elif [ -n "$fault" ]; then
        what="SIGKILL inside checkpoint write ($fault)"
    fi
    rc=0
    wait "$launcher" || rc=$?
    if [ "$rc" -eq 0 ]; then
        [ -f "$dir/model.h5" ] || fail "$dir: exit 0 without model.h5"
        "$PYTHON" - "$dir" <<'PY' || fail "$dir: the resumed run differs from the uninterrupted one"
import sys, h5py, numpy as np
def load(d):
    with h5py.File(d + "/model.h5", "r") as f:
        return f["model/theta"][()], int(f.attrs["step"]), int(f.attrs["epoch"])
(a, sa, ea), (b, sb, eb) = load("ref"), load(sys.argv[1])
ok = np.array_equal(a.view(np.uint64), b.view(np.uint64)) and sa == sb and ea == eb
print("%s: finished at step %d, epoch %d: bitwise equal to the uninterrupted run: %s" % (sys.argv[1], sb, eb, ok))
sys.exit(0 if ok else 1)
PY
        chains=$((chains + 1))
        rm -rf "$dir"
        chain=$((chain + 1))
        continue
    fi
    if [ "$what" = finished ]; then
        cat err.txt >&2
        fail "$dir: exit $rc without a kill"
    fi
    kills=$((kills + 1))
    case "$what" in *inside*) in_write=$((in_write + 1)) ;; *"rank 0"*) rank0=$((rank0 + 1)) ;; esac
    # Keep what the kill left, to verify every newest complete checkpoint at the end.
    if [ -d "$dir/checkpoints" ]; then cp -r "$dir/checkpoints" "snaps/$kills"; fi
    echo "kill $kills: $dir: $what (exit $rc)"
done

# The newest checkpoint file of each snapshot is what --resume would take first: it must verify.
newest=()
for s in snaps/*; do
    n=$(ls "$s" | sed -n 's/^ckpt-\([0-9]*\)\.h5$/\1/p' | sort -n | tail -1)
    [ -n "$n" ] && newest+=("$s/ckpt-$n.h5")
done
bad=0
"$PYTHON" "$SRC_DIR/tests/e2e/ckpt_check.py" "${newest[@]}" >check.txt || bad=1
echo "$kills kills ($in_write inside checkpoint writes, $rank0 of rank 0 by timer), $runs runs," \
    "$chains chains resumed to the end, ${#newest[@]} newest checkpoints checked," \
    "$(grep -vc ': ok$' check.txt || true) unloadable"
[ "$bad" -eq 0 ] || { cat check.txt; fail "an unloadable newest checkpoint"; }
[ "$chains" -ge 2 ] || fail "only $chains chains finished"
[ "$in_write" -ge 3 ] || fail "only $in_write kills inside checkpoint writes"
echo PASSED
