#!/usr/bin/env bash
# trees.sh - training time of 100 trees of depth 8 on generated N x D data: mbatch random_forest
# and gradient_boosting at the given rank counts, next to scikit-learn's RandomForestClassifier
# (n_jobs=2) and HistGradientBoostingClassifier (same rows, trees, depth and bins) in the same
# run. Prints one line per measurement; the machine's load average is printed with them.
#   tests/bench/trees.sh BUILD_DIR [ROWS] [COLS] [TREES] [RANKS...]
set -euo pipefail
build=$(cd "${1:?usage: trees.sh BUILD_DIR [ROWS] [COLS] [TREES] [RANKS...]}" && pwd)
rows=${2:-1000000} cols=${3:-64} trees=${4:-100}
shift $(($# < 4 ? $# : 4))
ranks=("$@")
[ ${#ranks[@]} -gt 0 ] || ranks=(1 2)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
work=${BENCH_DIR:-/tmp/mbatch-bench}
mkdir -p "$work"
cd "$work"
data="logistic-${rows}x${cols}.h5"
[ -f "$data" ] || "$build/mbatch" gen --kind logistic --rows "$rows" --cols "$cols" --seed 1 --out "$data"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
for model in random_forest gradient_boosting; do
    printf '{"name": "bench-%s", "dataset": {"path": "%s", "validation_fraction": 0.1},
 "model": {"type": "%s", "n_trees": %d, "max_depth": 8, "max_bins": 255},
 "checkpoint": {"every_epochs": 0}, "seed": 1}\n' "$model" "$data" "$model" "$trees" >"$model.json"
    for np in "${ranks[@]}"; do
        /usr/bin/time -f "%e" -o wall.txt mpirun -n "$np" "$build/mbatch" train "$model.json" \
            --quiet --set run_dir="$model-np$np"
        /usr/bin/python3 - "$model" "$np" "$(cat wall.txt)" <<'PY'
import sys, h5py, numpy as np
model, np_, wall = sys.argv[1], sys.argv[2], float(sys.argv[3])
with h5py.File("%s-np%s/metrics.h5" % (model, np_), "r") as f:
    e = f["epochs"][()]
    kpi = dict(f.attrs)
print("mbatch %-17s %s rank(s): %d trees in %.1f s of training (%.1f s wall with load and "
      "binning); %.3f s/tree; allreduce %.1f s; validation accuracy %.4f"
      % (model, np_, len(e), e["epoch_s"].sum(), wall, np.median(e["epoch_s"]), e["comm_s"].sum(),
         e["val_metric"][-1]))
PY
    done
done
/usr/bin/python3 - "$data" "$trees" <<'PY'
import sys, time, h5py, numpy as np
from sklearn.ensemble import RandomForestClassifier, HistGradientBoostingClassifier
data, trees = sys.argv[1], int(sys.argv[2])
with h5py.File(data, "r") as f:
    X, y = f["X"][()], f["y"][()]
n = len(y)
idx = np.random.RandomState(0).permutation(n)
tr, va = idx[: n - n // 10], idx[n - n // 10 :]
for name, est in (
    ("RandomForestClassifier(n_jobs=2)",
     RandomForestClassifier(trees, max_depth=8, n_jobs=2, random_state=0)),
    ("HistGradientBoostingClassifier",
     HistGradientBoostingClassifier(max_iter=trees, max_depth=8, max_leaf_nodes=None,
                                    early_stopping=False, max_bins=255))):
    t0 = time.time()
    est.fit(X[tr], y[tr])
    dt = time.time() - t0
    print("scikit-learn %-33s %d trees in %.1f s; %.3f s/tree; validation accuracy %.4f"
          % (name, trees, dt, dt / trees, est.score(X[va], y[va])))
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
