#!/usr/bin/env bash
# sweep.sh - the launch overhead of configurations inside one allocation: a sweep of CONFIGS small
# configurations at each "ranks:groups" pair, and one separate mpirun per configuration to compare.
# Prints, per pair, the overhead per configuration (from one configuration's end to the next one's
# first step: hand-out + job parse + data load), the sweep's wall time, and the sum of training.
#   tests/bench/sweep.sh BUILD_DIR [CONFIGS] [RANKS:GROUPS...]     (default 40 1:1 2:2 2:1 4:2)
set -euo pipefail
build=$(cd "${1:?usage: sweep.sh BUILD_DIR [CONFIGS] [RANKS:GROUPS...]}" && pwd)
configs=${2:-40}
shift $(($# < 2 ? $# : 2))
pairs=("$@")
[ ${#pairs[@]} -gt 0 ] || pairs=(1:1 2:2 2:1 4:2)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
work=${BENCH_DIR:-/tmp/mbatch-bench-sweep}
rm -rf "$work"
mkdir -p "$work"
cd "$work"
"$build/mbatch" gen --kind logistic --rows 20000 --cols 16 --seed 1 --out data.h5 >/dev/null
printf '{"base": {"name": "b", "dataset": {"path": "data.h5"}, "model": {"type": "logistic"},
  "batch": {"size": 2000}, "epochs": 2, "checkpoint": {"every_epochs": 0}},
 "space": {"optimizer.lr": {"log_uniform": [0.01, 1]}}, "samples": %d, "seed": 1}\n' \
    "$configs" >sweep.json
for pair in "${pairs[@]}"; do
    np=${pair%%:*} groups=${pair##*:}
    rm -rf runs
    t0=$(date +%s.%N)
    mpirun -n "$np" "$build/mbatch" sweep sweep.json --groups "$groups" --quiet >"sweep-$np-$groups.log"
    t1=$(date +%s.%N)
    /usr/bin/python3 - "$np" "$groups" "$configs" "$t0" "$t1" <<'PY'
import sys, h5py, numpy as np
np_, groups, n, t0, t1 = sys.argv[1:]
with h5py.File("runs/b-sweep/sweep.h5", "r") as f:
    r = f["results"][()]
over = (r["gap_s"] + r["setup_s"]) * 1e3
print("%s ranks, %s groups, %s configurations: launch overhead per configuration %.1f ms "
      "(median %.1f, max %.1f; hand-out %.2f ms + load %.1f ms); mpirun wall %.2f s, "
      "sum of training %.2f s" % (np_, groups, n, over.mean(), np.median(over), over.max(),
      r["gap_s"].mean() * 1e3, r["setup_s"].mean() * 1e3, float(t1) - float(t0),
      r["seconds"].sum()))
PY
done
# The alternative: one mpirun per configuration (what a shell loop over `mbatch train` costs).
t0=$(date +%s.%N)
for i in 0 1 2 3 4; do
    mpirun -n 2 "$build/mbatch" train runs/b-sweep/base.json --quiet --set run_dir="loop$i" \
        $("$build/mbatch" sweep sweep.json --list | awk -F'\t' -v i=$i '$1 == i {print $3}')
done
t1=$(date +%s.%N)
/usr/bin/python3 -c "import sys; print('separate mpirun per configuration (2 ranks): %.0f ms each'
    % ((float(sys.argv[2]) - float(sys.argv[1])) / 5 * 1e3))" "$t0" "$t1"
