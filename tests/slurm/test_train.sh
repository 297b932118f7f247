# test_train.sh - `sbatch --wait slurm/train.sbatch jobs/quickstart.json` with 2 and 4 tasks on the
# local Slurm (srun, pmix) gives bitwise the model of `mpirun` with as many ranks; the log is named
# by job id.
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

"$PYTHON" - <<'PY'
import h5py, numpy as np
for np_ in (2, 4):
    with h5py.File("mpirun-%d/model.h5" % np_, "r") as a, h5py.File("slurm-%d/model.h5" % np_, "r") as b:
        ta, tb = a["model/theta"][()], b["model/theta"][()]
        same = np.array_equal(ta.view(np.uint64), tb.view(np.uint64))
        print("%d ranks: mpirun vs sbatch/srun: steps %d/%d, ranks attr %d/%d, bitwise identical: %s"
              % (np_, a.attrs["step"], b.attrs["step"], a.attrs["ranks"], b.attrs["ranks"], same))
        assert same and a.attrs["step"] == b.attrs["step"] and b.attrs["ranks"] == np_
PY
echo PASSED
