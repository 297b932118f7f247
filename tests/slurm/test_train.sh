# test_train.sh - `sbatch --wait slurm/train.sbatch jobs/quickstart.json` with 2 and 4 tasks on the
# local Slurm (srun, pmix) gives bitwise the model of `mpirun` with as many ranks; the log is named
# by job id. predict.sbatch gives mpirun's predictions; `mbatch submit --wait` of a job whose
# one-time schedule has passed (sbatch --begin) runs it at once and gives the same model again.
source "$(dirname "$0")/lib.sh"

"$MBATCH" gen --kind logistic --rows 20000 --cols 16 --seed 7 --out data.h5
for np in 2 4; do
    mb "$np" train "$SRC_DIR/jobs/quickstart.json" --quiet --set dataset.path=data.h5 \
        --set run_dir=mpirun-$np
    sbatch_wait --ntasks=$np --job-name=qs "$SRC_DIR/slurm/train.sbatch" \
        "$SRC_DIR/jobs/quickstart.json" --set dataset.path=data.h5 --set run_dir=slurm-$np ||
        { cat qs-*.out >&2; fail "sbatch train.sbatch with $np tasks failed"; }
    id=$(cut -d';' -f1 jobid.txt)
    log=qs-$id.out
    [ -f "$log" ] || fail "no log $log named by the job id"
    grep -q "quickstart: logistic regression, 20000 rows .* $np ranks" "$log" ||
        { cat "$log" >&2; fail "the job did not train on $np ranks"; }
    grep -q "mbatch exited with 0" "$log" || { cat "$log" >&2; fail "exit status not 0"; }
    echo "ok: job $id on $np tasks, log $log"
done

# predict.sbatch on 2 tasks vs mpirun predict on 2 ranks.
mb 2 predict --model mpirun-2/model.h5 --data data.h5 --out mpirun-pred.h5 --quiet
sbatch_wait --ntasks=2 --job-name=pr "$SRC_DIR/slurm/predict.sbatch" --model slurm-2/model.h5 \
    --data data.h5 --out slurm-pred.h5 || { cat pr-*.out >&2; fail "predict.sbatch failed"; }
echo "ok: predict.sbatch job $(cut -d';' -f1 jobid.txt)"

# mbatch submit: a schedule in the past becomes --begin and runs at once; --wait gives its code.
job sub.json "{\"name\": \"sub\", \"dataset\": {\"path\": \"data.h5\"}, \"batch\": {\"size\": 4096},
  \"optimizer\": {\"type\": \"sgd\", \"lr\": 0.5, \"momentum\": 0.9, \"nesterov\": true},
  \"model\": {\"type\": \"logistic\", \"l2\": 1e-4}, \"epochs\": 10, \"seed\": 42,
  \"schedule\": \"2020-01-01T00:00Z\"}"
timeout -k 5 120 "$MBATCH" submit sub.json --ntasks 2 --wait \
    --script "$SRC_DIR/slurm/train.sbatch" --set run_dir=submitted >submit.txt 2>&1 ||
    { cat submit.txt sub-*.out >&2; fail "mbatch submit --wait failed"; }
cat submit.txt
grep -q "^sbatch --job-name=sub --ntasks=2 --begin=2020-01-01T" submit.txt ||
    fail "no --begin in the command"
grep -q "is in the past; the job is eligible at once" submit.txt ||
    fail "no note about the past time"

"$PYTHON" - <<'PY'
import h5py, numpy as np
with h5py.File("mpirun-pred.h5", "r") as a, h5py.File("slurm-pred.h5", "r") as b:
    pa, pb = a["predictions"][()], b["predictions"][()]
    same = np.array_equal(pa.view(np.uint64), pb.view(np.uint64))
    print("predictions: mpirun vs predict.sbatch, %d rows, bitwise identical: %s" % (len(pa), same))
    assert same
with h5py.File("mpirun-2/model.h5", "r") as a, h5py.File("submitted/model.h5", "r") as b:
    ta, tb = a["model/theta"][()], b["model/theta"][()]
    same = np.array_equal(ta.view(np.uint64), tb.view(np.uint64))
    print("mbatch submit --wait (2 tasks) vs mpirun: bitwise identical: %s" % same)
    assert same
for np_ in (2, 4):
    with h5py.File("mpirun-%d/model.h5" % np_, "r") as a, \
         h5py.File("slurm-%d/model.h5" % np_, "r") as b:
        ta, tb = a["model/theta"][()], b["model/theta"][()]
        same = np.array_equal(ta.view(np.uint64), tb.view(np.uint64))
        print("%d ranks: mpirun vs sbatch/srun: steps %d/%d, ranks attr %d/%d, "
              "bitwise identical: %s"
              % (np_, a.attrs["step"], b.attrs["step"], a.attrs["ranks"], b.attrs["ranks"], same))
        assert same and a.attrs["step"] == b.attrs["step"] and b.attrs["ranks"] == np_
PY
echo PASSED
