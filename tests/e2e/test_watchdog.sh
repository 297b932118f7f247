# test_watchdog.sh - a rank that stops arriving at collective steps (injected hang) ends the job
# with exit 5 within timeout_s plus a few seconds, one message naming the missing rank and the
# step, whichever rank hangs; ranks whose parameters drift apart are caught by the cross-rank
# hash (exit 4); a SIGKILLed rank takes the whole mpirun job down within 30 s.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind logistic --rows 2000 --cols 5 --seed 3 --out data.h5 >/dev/null
job j.json '{"dataset": {"path": "data.h5"}, "epochs": 4, "batch": {"size": 200},
  "checkpoint": {"every_epochs": 1}, "timeout_s": 2}'

# hang SPEC NP MISSING: the job ends within 12 s, naming MISSING as the rank that did not arrive.
hang() {
    local spec=$1 np=$2 missing=$3 t0 t1
    t0=$(date +%s.%N)
    MBATCH_FAULT=$spec expect 5 "collective step [0-9]+ \([a-z ]+ of [0-9]+ values\): rank $missing did not arrive within timeout_s = 2 s" \
        "$np" train j.json --quiet --set run_dir="hang-$np"
    t1=$(date +%s.%N)
    "$PYTHON" -c "import sys; d = $t1 - $t0; print('ended after %.1f s' % d); sys.exit(d > 12)" ||
        fail "the hung job took too long to end"
}
hang hang@20/1 2 1
hang hang@20/0 3 0
hang hang@20/2 3 2

# Silent divergence: one rank's parameters move by one ulp; the epoch-end hash catches it.
MBATCH_FAULT=diverge@2/1 expect 4 "step 18: the model parameters differ across ranks" 2 train j.json \
    --quiet --set run_dir=div

# A rank SIGKILLed mid-run: mpirun takes the whole job down well within 30 s.
job slow.json '{"dataset": {"path": "data.h5"}, "epochs": 100000, "batch": {"size": 10},
  "checkpoint": {"every_epochs": 0}, "timeout_s": 600}'
for victim in 0 1; do
    rm -rf slow
    "$MPIEXEC" -n 2 "$MBATCH" train slow.json --quiet --set run_dir=slow >out.txt 2>err.txt &
    launcher=$!
    pid=""
    for _ in $(seq 100); do
        for p in $(pgrep -P "$launcher" || true); do
            if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$victim"; then pid=$p; fi
        done
        [ -n "$pid" ] && [ -e slow/metrics.h5 ] && break
        sleep 0.1
    done
    [ -n "$pid" ] || { kill "$launcher"; fail "rank $victim never started"; }
    t0=$(date +%s.%N)
    kill -KILL "$pid"
    rc=0
    for _ in $(seq 300); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$launcher" 2>/dev/null; then kill -KILL "$launcher"; fail "the job outlived a killed rank by 30 s"; fi
    wait "$launcher" || rc=$?
    t1=$(date +%s.%N)
    [ "$rc" -ne 0 ] || fail "the job exited 0 after rank $victim was killed"
    left=$(pgrep -f "$MBATCH train slow.json" || true)
    [ -z "$left" ] || fail "ranks left running after the kill: $left"
    "$PYTHON" -c "print('rank $victim killed: the job ended (exit $rc) after %.1f s' % ($t1 - $t0))"
done
echo PASSED
