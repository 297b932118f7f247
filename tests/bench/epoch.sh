#!/usr/bin/env bash
# epoch.sh - samples/s of full-batch epochs on generated N x D float64 logistic data, at the
# given rank counts. Prints one line per rank count (median of the epochs after the first).
#   tests/bench/epoch.sh BUILD_DIR [ROWS] [COLS] [EPOCHS] [RANKS...]
set -euo pipefail
build=$(cd "${1:?usage: epoch.sh BUILD_DIR [ROWS] [COLS] [EPOCHS] [RANKS...]}" && pwd)
rows=${2:-1000000} cols=${3:-64} epochs=${4:-6}
shift $(( $# < 4 ? $# : 4 ))
ranks=("$@")
[ ${#ranks[@]} -gt 0 ] || ranks=(1 2)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
work=${BENCH_DIR:-/tmp/mbatch-bench}
mkdir -p "$work"
cd "$work"
data="logistic-${rows}x${cols}.h5"
[ -f "$data" ] || "$build/mbatch" gen --kind logistic --rows "$rows" --cols "$cols" --seed 1 --out "$data"
printf '{"dataset": {"path": "%s", "validation_fraction": 0}, "model": {"type": "logistic", "l2": 1e-4},
 "optimizer": {"lr": 1.0}, "batch": {"size": "full"}, "epochs": %d,
 "checkpoint": {"every_epochs": 0}}\n' "$data" "$epochs" >bench.json
for np in "${ranks[@]}"; do
    mpirun -n "$np" "$build/mbatch" train bench.json --quiet --set run_dir="np$np"
    /usr/bin/python3 - "$np" "$rows" "$cols" <<'PY'
import sys, h5py, numpy as np
np_, rows, cols = sys.argv[1:]
with h5py.File("np%s/metrics.h5" % np_, "r") as f:
    e = f["epochs"][()]
sps = np.median(e["samples_per_s"][1:]) if len(e) > 1 else e["samples_per_s"][0]
print("%s x %s float64 logistic, full batch, %s rank(s): %.4g samples/s per epoch "
      "(median of %d epochs; epoch %.4f s, compute %.4f s, comm %.6f s)"
      % (rows, cols, np_, sps, len(e) - 1, np.median(e["epoch_s"][1:]),
         np.median(e["compute_s"][1:]), np.median(e["comm_s"][1:])))
PY
done
