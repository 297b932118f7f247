#!/usr/bin/env bash
# place.sh - full-batch epoch time of 2 ranks bound to cores vs unbound, REPEATS times each
# (interleaved, so that load from other jobs hits both alike), on generated N x D float64 data.
#   tests/bench/place.sh BUILD_DIR [ROWS] [COLS] [EPOCHS] [REPEATS]
# bound-launcher: mpirun's default binding (a core per rank with <= 2 ranks), kept by mbatch;
# bound-mbatch:   mpirun --bind-to none, mbatch binds (placement.bind auto -> core);
# unbound:        mpirun --bind-to none and placement.bind=none.
# Prints each run's median epoch time (epochs after the first), then min/median/max per mode.
set -euo pipefail
build=$(cd "${1:?usage: place.sh BUILD_DIR [ROWS] [COLS] [EPOCHS] [REPEATS]}" && pwd)
rows=${2:-1000000} cols=${3:-64} epochs=${4:-6} repeats=${5:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
work=${BENCH_DIR:-/tmp/mbatch-bench-place}
mkdir -p "$work"
cd "$work"
data="logistic-${rows}x${cols}.h5"
[ -f "$data" ] || "$build/mbatch" gen --kind logistic --rows "$rows" --cols "$cols" --seed 1 --out "$data"
printf '{"dataset": {"path": "%s", "validation_fraction": 0}, "model": {"type": "logistic", "l2": 1e-4},
 "optimizer": {"lr": 1.0}, "batch": {"size": "full"}, "epochs": %d,
 "checkpoint": {"every_epochs": 0}}\n' "$data" "$epochs" >place-bench.json
: >place-bench.txt
for i in $(seq 1 "$repeats"); do
    for mode in bound-launcher bound-mbatch unbound; do
        case $mode in
        bound-launcher) args=() sets=() ;;
        bound-mbatch) args=(--bind-to none) sets=() ;;
        unbound) args=(--bind-to none) sets=(--set placement.bind=none) ;;
        esac
        rm -rf "run-$mode"
        mpirun "${args[@]}" -n 2 "$build/mbatch" train place-bench.json --quiet \
            --set run_dir="run-$mode" "${sets[@]}" >/dev/null
        /usr/bin/python3 - "$mode" "run-$mode" <<'PY' | tee -a place-bench.txt
import sys, h5py, numpy as np
mode, run = sys.argv[1:]
with h5py.File(run + "/metrics.h5", "r") as f:
    e, r = f["epochs"][()], f["ranks"][()]
print("%s %.4f  (cores %s)" % (mode, np.median(e["epoch_s"][1:]),
      " ".join(x.decode() for x in r["binding"])))
PY
    done
done
/usr/bin/python3 - "$rows" "$cols" <<'PY'
import sys, collections
t = collections.defaultdict(list)
for line in open("place-bench.txt"):
    mode, s = line.split()[:2]
    t[mode].append(float(s))
print("%s x %s float64 logistic, full batch, 2 ranks: median epoch time, min / median / max of "
      "%d runs" % (sys.argv[1], sys.argv[2], len(t["unbound"])))
for mode, v in t.items():
    v.sort()
    print("  %-15s %.4f / %.4f / %.4f s" % (mode, v[0], v[len(v) // 2], v[-1]))
PY
