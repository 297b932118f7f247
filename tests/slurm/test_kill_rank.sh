# test_kill_rank.sh - under srun (train.sbatch on the local Slurm), a rank SIGKILLed mid-run
# takes the whole job down within 30 s: the other rank does not wait for it forever.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind logistic --rows 20000 --cols 10 --seed 3 --out data.h5 >/dev/null
job j.json '{"name": "k", "dataset": {"path": "data.h5"}, "batch": {"size": 100},
  "epochs": 100000, "checkpoint": {"every_epochs": 0}, "timeout_s": 600}'
(
    rc=0
    JOBID_FILE=k.id sbatch_wait --ntasks=2 --job-name=k "$SRC_DIR/slurm/train.sbatch" j.json || rc=$?
    echo "$rc" >k.rc
) &
for _ in $(seq 1 400); do [ -s k.id ] && break; sleep 0.05; done
id=$(cut -d';' -f1 k.id)
[ -n "$id" ] || fail "sbatch printed no job id"
for _ in $(seq 1 1200); do grep -q "^epoch 2/" "k-$id.out" 2>/dev/null && break; sleep 0.05; done
grep -q "^epoch 2/" "k-$id.out" || { cat "k-$id.out"; fail "the job never reached epoch 2"; }
victim=""
for p in $(pgrep -x mbatch || true); do
    env=$(tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null || true)
    if grep -qx "SLURM_JOB_ID=$id" <<<"$env" && grep -qx "SLURM_PROCID=1" <<<"$env"; then victim=$p; fi
done
[ -n "$victim" ] || { scancel "$id"; fail "rank 1 of job $id not found"; }
t0=$(date +%s.%N)
kill -KILL "$victim"
for _ in $(seq 1 600); do [ -s k.rc ] && break; sleep 0.05; done
t1=$(date +%s.%N)
if [ ! -s k.rc ]; then scancel "$id"; fail "job $id still running 30 s after rank 1 was killed"; fi
wait
"$PYTHON" -c "print('rank 1 SIGKILLed under srun: job $id ended (sbatch exit %s) after %.1f s' % ('$(cat k.rc)', $t1 - $t0))"
[ "$(cat k.rc)" -ne 0 ] || fail "the job reported success"
echo PASSED
