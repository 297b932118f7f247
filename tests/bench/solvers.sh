#!/usr/bin/env bash
# solvers.sh - time to reach the optimum of an L2 logistic regression to 1e-6 (relative) on
# generated ROWS x COLS data: mbatch newton, lbfgs and full-batch gradient descent on RANKS ranks,
# and scikit-learn's lbfgs on the same standardized data with as many threads. One line each.
#   tests/bench/solvers.sh BUILD_DIR [ROWS] [COLS] [RANKS]
# Times are the solvers' own (mbatch: the metrics rows' epoch_s summed up to the first iteration
# within 1e-6; scikit-learn: the fit() call with the smallest max_iter that gets there), not the
# data loading, which both sides do once before.
set -euo pipefail
build=$(cd "${1:?usage: solvers.sh BUILD_DIR [ROWS] [COLS] [RANKS]}" && pwd)
rows=${2:-1000000} cols=${3:-64} ranks=${4:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
work=${BENCH_DIR:-/tmp/mbatch-bench-solvers}
mkdir -p "$work"
cd "$work"
data="logistic-${rows}x${cols}.h5"
[ -f "$data" ] || "$build/mbatch" gen --kind logistic --rows "$rows" --cols "$cols" --seed 1 --out "$data"
l2=1e-4
printf '{"name": "solvers", "dataset": {"path": "%s", "validation_fraction": 0},
 "model": {"type": "logistic", "l2": %s}, "batch": {"size": "full"},
 "checkpoint": {"every_epochs": 0}, "report_gap": true}\n' "$data" "$l2" >solvers.json
run() { mpirun -n "$ranks" "$build/mbatch" train solvers.json --quiet "$@" >/dev/null; }
run --set run_dir=solvers-newton --set optimizer.type=newton --set optimizer.tol=1e-12
run --set run_dir=solvers-lbfgs --set optimizer.type=lbfgs --set optimizer.tol=1e-9
run --set run_dir=solvers-gd --set optimizer.type=sgd --set optimizer.lr=3.5 --set epochs=80
OMP_NUM_THREADS=$ranks OPENBLAS_NUM_THREADS=$ranks /usr/bin/python3 - "$data" "$l2" "$ranks" <<'PY'
import sys, time, warnings, h5py, numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.exceptions import ConvergenceWarning
data, l2, ranks = sys.argv[1], float(sys.argv[2]), sys.argv[3]
warnings.simplefilter("ignore", ConvergenceWarning)

def reached(run):
    with h5py.File(run + "/metrics.h5", "r") as f:
        e, g = f["epochs"][()], f["gap"][()]
    opt = g["optimum"][0]
    rel = g["gap"] / abs(opt)
    hit = np.nonzero(rel <= 1e-6)[0]
    if len(hit) == 0:
        return None, len(e), rel[-1], opt
    i = hit[0]
    return float(np.sum(e["epoch_s"][: i + 1])), i + 1, rel[i], opt

results = {}
for name, run in (("mbatch newton", "solvers-newton"), ("mbatch lbfgs", "solvers-lbfgs"),
                  ("mbatch gradient descent (lr 3.5)", "solvers-gd")):
    results[name] = reached(run)
opt = results["mbatch newton"][3]

with h5py.File(data, "r") as f:
    X, y = f["X"][()], f["y"][()]
Z = (X - X.mean(axis=0)) / X.std(axis=0)
del X
n = len(y)
def objective(w, b):
    z = Z @ w + b
    return np.mean(np.logaddexp(0, z) - y * z) + 0.5 * l2 * w @ w
sk = None
for it in range(2, 400):
    t0 = time.perf_counter()
    m = LogisticRegression(C=1.0 / (l2 * n), tol=1e-14, max_iter=it).fit(Z, y)
    t = time.perf_counter() - t0
    rel = (objective(m.coef_[0], m.intercept_[0]) - opt) / abs(opt)
    if rel <= 1e-6:
        sk = (t, it, rel, opt)
        break
results["scikit-learn lbfgs (%s threads)" % ranks] = sk or (None, it, rel, opt)

rows, cols = Z.shape
for name, (t, it, rel, _) in results.items():
    where = "%d rank(s)" % int(ranks) if name.startswith("mbatch") else "in-memory"
    if t is None:
        print("%-40s did not reach 1e-6 in %d iterations (relative gap %.3g)" % (name, it, rel))
    else:
        print("%-40s %8.3f s to 1e-6 of the optimum (%d iterations, relative gap %.2g; %d x %d, "
              "%s)" % (name, t, it, rel, rows, cols, where))
print("optimum of the objective (mean log-loss + l2/2 |w|^2, l2 = %g): %.15g" % (l2, opt))
PY
