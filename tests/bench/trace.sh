#!/usr/bin/env bash
# trace.sh - what "trace": true costs: median epoch time of a small-batch job (thousands of steps,
# so per-step recording would show) with tracing off and on, alternated to share the machine's
# noise, plus the size of trace.json and the spans it holds.
#   tests/bench/trace.sh BUILD_DIR [ROWS] [COLS] [BATCH] [EPOCHS] [REPEATS] [RANKS]
set -euo pipefail
build=$(cd "${1:?usage: trace.sh BUILD_DIR [ROWS] [COLS] [BATCH] [EPOCHS] [REPEATS] [RANKS]}" &&
    pwd)
rows=${2:-200000} cols=${3:-16} batch=${4:-64} epochs=${5:-4} repeats=${6:-5} np=${7:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
work=${BENCH_DIR:-/tmp/mbatch-bench}
mkdir -p "$work"
cd "$work"
data="logistic-${rows}x${cols}.h5"
[ -f "$data" ] || "$build/mbatch" gen --kind logistic --rows "$rows" --cols "$cols" --seed 1 --out "$data"
printf '{"dataset": {"path": "%s"}, "model": {"type": "logistic"}, "optimizer": {"lr": 0.1},
 "batch": {"size": %d}, "epochs": %d, "checkpoint": {"every_epochs": 0}}\n' \
    "$data" "$batch" "$epochs" >trace-bench.json
for i in $(seq "$repeats"); do
    for tr in false true; do
        rm -rf "trace-$tr-$i"
        mpirun -n "$np" "$build/mbatch" train trace-bench.json --quiet --set trace=$tr \
            --set run_dir="trace-$tr-$i"
    done
done
/usr/bin/python3 - "$repeats" "$rows" "$cols" "$batch" "$np" <<'PY'
import json, os, sys, h5py, numpy as np
repeats, rows, cols, batch, np_ = sys.argv[1:]
med = {}
for tr in ("false", "true"):
    t = []
    for i in range(1, int(repeats) + 1):
        with h5py.File("trace-%s-%d/metrics.h5" % (tr, i), "r") as f:
            e = f["epochs"][()]
        t.extend(e["epoch_s"][1:])  # the first epoch pays for page faults
    med[tr] = np.median(t)
    steps = int(e["step"][-1] - e["step"][-2]) if len(e) > 1 else int(e["step"][-1])
print("%s x %s logistic, batch %s, %s ranks, %d steps/epoch: epoch %.4f s untraced, %.4f s traced "
      "(%+.1f%%, median of %d epochs each)" % (rows, cols, batch, np_, steps, med["false"],
      med["true"], 100 * (med["true"] / med["false"] - 1), (len(e) - 1) * int(repeats)))
path = "trace-true-%s/trace.json" % repeats
doc = json.load(open(path))
print("trace.json: %.1f MB, %d spans kept, %d dropped by sampling (capacity %d per rank)" % (
    os.path.getsize(path) / 1e6, doc["otherData"]["spans"],
    doc["otherData"]["spans_dropped_by_sampling"], doc["otherData"]["capacity_per_rank"]))
PY
