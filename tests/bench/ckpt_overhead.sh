#!/usr/bin/env bash
# ckpt_overhead.sh - what a checkpoint every epoch costs: the same job with
# checkpoint.every_epochs = 1 and = 0, on generated N x D float64 logistic data, REPEATS times
# each, interleaved (the machine may be shared). Prints, per batch size, the median epoch time of
# each repeat, the overhead (median over repeats) with its spread (min..max), and the time spent
# in the checkpoint write itself (io_s) as a share of the epoch.
#   tests/bench/ckpt_overhead.sh BUILD_DIR [ROWS] [COLS] [EPOCHS] [RANKS] [REPEATS] [BATCHES...]
set -euo pipefail
build=$(cd "${1:?usage: ckpt_overhead.sh BUILD_DIR [ROWS] [COLS] [EPOCHS] [RANKS] [REPEATS] [BATCH...]}" && pwd)
rows=${2:-1000000} cols=${3:-64} epochs=${4:-8} np=${5:-2} repeats=${6:-5}
shift $(( $# < 6 ? $# : 6 ))
batches=("$@")
[ ${#batches[@]} -gt 0 ] || batches=(full 4096)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
work=${BENCH_DIR:-/tmp/mbatch-bench}
mkdir -p "$work"
cd "$work"
data="logistic-${rows}x${cols}.h5"
[ -f "$data" ] || "$build/mbatch" gen --kind logistic --rows "$rows" --cols "$cols" --seed 1 --out "$data"
for b in "${batches[@]}"; do
    [ "$b" = full ] && bj='"full"' || bj=$b
    printf '{"dataset": {"path": "%s", "validation_fraction": 0}, "model": {"type": "logistic",
 "l2": 1e-4}, "optimizer": {"lr": 0.5}, "batch": {"size": %s}, "epochs": %d,
 "checkpoint": {"keep": 3}}\n' "$data" "$bj" "$epochs" >ckbench.json
    for r in $(seq "$repeats"); do
        for every in 1 0; do
            rm -rf "ck-$b-$every-$r"
            mpirun -n "$np" "$build/mbatch" train ckbench.json --quiet \
                --set run_dir="ck-$b-$every-$r" --set checkpoint.every_epochs=$every >/dev/null
        done
    done
    /usr/bin/python3 - "$b" "$repeats" "$rows" "$cols" "$np" <<'PY'
import sys, h5py, numpy as np
b, repeats, rows, cols, np_ = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def epochs(d):
    with h5py.File(d + "/metrics.h5", "r") as f:
        e = f["epochs"][()]
    # The first epoch warms caches; the last one checkpoints in both runs (the final epoch).
    return e[1:-1]
over, share, on_s, off_s = [], [], [], []
for r in range(1, repeats + 1):
    on, off = epochs("ck-%s-1-%d" % (b, r)), epochs("ck-%s-0-%d" % (b, r))
    a, z = np.median(on["epoch_s"]), np.median(off["epoch_s"])
    on_s.append(a); off_s.append(z)
    over.append((a - z) / z)
    share.append(np.median(on["io_s"] / on["epoch_s"]))
print("%s x %s, batch %s, %s ranks: epoch %.4f s with a checkpoint every epoch, %.4f s without "
      "(medians); overhead %+.2f%% (median of %d repeats, spread %+.2f%% .. %+.2f%%); the "
      "checkpoint write itself %.2f%% of the epoch (spread %.2f%% .. %.2f%%)"
      % (rows, cols, b, np_, np.median(on_s), np.median(off_s), 100 * np.median(over), repeats,
         100 * min(over), 100 * max(over), 100 * np.median(share), 100 * min(share),
         100 * max(share)))
PY
done
