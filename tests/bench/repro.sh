#!/usr/bin/env bash
# repro.sh - the cost of "reproducible": true against the default mode: epoch seconds on generated
# N x D float64 logistic data, full batch and one mini-batch size, at the given rank counts. The
# two modes alternate, REPEATS times, so that a shared machine's drift hits both; prints every
# run's median epoch time, then per configuration the overhead on the fastest and on the median
# epoch, and the spread of back-to-back pairs.
#   tests/bench/repro.sh BUILD_DIR [ROWS] [COLS] [EPOCHS] [BATCH] [REPEATS] [RANKS...]
set -euo pipefail
build=$(cd "${1:?usage: repro.sh BUILD_DIR [ROWS] [COLS] [EPOCHS] [BATCH] [REPEATS] [RANKS...]}" && pwd)
rows=${2:-1000000} cols=${3:-64} epochs=${4:-4} batch=${5:-4096} repeats=${6:-3}
shift $(($# < 6 ? $# : 6))
ranks=("$@")
[ ${#ranks[@]} -gt 0 ] || ranks=(1 2)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
work=${BENCH_DIR:-/tmp/mbatch-bench}
mkdir -p "$work"
cd "$work"
data="logistic-${rows}x${cols}.h5"
[ -f "$data" ] || "$build/mbatch" gen --kind logistic --rows "$rows" --cols "$cols" --seed 1 --out "$data"
printf '{"dataset": {"path": "%s", "validation_fraction": 0.1}, "model": {"type": "logistic",
 "l2": 1e-4}, "optimizer": {"lr": 0.5}, "epochs": %d, "checkpoint": {"every_epochs": 0}}\n' \
    "$data" "$epochs" >repro-bench.json
: >repro-bench.txt
for np in "${ranks[@]}"; do
    for b in full "$batch"; do
        for rep in $(seq "$repeats"); do
            for mode in false true; do
                dir="repro-np$np-b$b-$mode-$rep"
                mpirun -n "$np" "$build/mbatch" train repro-bench.json --quiet \
                    --set run_dir="$dir" --set batch.size="$b" --set reproducible=$mode
                /usr/bin/python3 - "$dir" "$np" "$b" "$mode" >>repro-bench.txt <<'PY'
import sys, h5py
d, np_, b, mode = sys.argv[1:]
with h5py.File(d + "/metrics.h5", "r") as f:
    e = f["epochs"][()]
# The first epoch pays first-touch page faults; the others are the steady state.
print(np_, b, mode, " ".join("%.5f" % x for x in (e["epoch_s"][1:] if len(e) > 1 else e["epoch_s"])))
PY
                rm -rf "$dir"
            done
        done
    done
done
/usr/bin/python3 - "$rows" "$cols" <<'PY'
import sys, collections, numpy as np
rows, cols = sys.argv[1:]
runs = collections.defaultdict(list)  # (np, batch, mode) -> one list of epoch seconds per run
for line in open("repro-bench.txt"):
    np_, b, mode, *s = line.split()
    runs[(np_, b, mode)].append([float(x) for x in s])
for (np_, b, mode), v in sorted(runs.items()):
    print("%s x %s, %s rank(s), batch %-5s reproducible=%-5s run medians (s): %s" %
          (rows, cols, np_, b, mode, " ".join("%.4f" % np.median(x) for x in v)))
# On a shared machine the fastest epochs are the least disturbed; medians show the typical case.
for (np_, b, mode) in sorted(runs):
    if mode != "true":
        continue
    base, rep = runs[(np_, b, "false")], runs[(np_, b, "true")]
    allb, allr = np.concatenate(base), np.concatenate(rep)
    pairs = [np.median(r) / np.median(x) - 1 for x, r in zip(base, rep)]
    print("%s rank(s), batch %-5s: reproducible costs %+.1f%% (fastest epoch %.4f vs %.4f s), "
          "%+.1f%% (median epoch %.4f vs %.4f s); back-to-back pairs %s" %
          (np_, b, 100 * (allr.min() / allb.min() - 1), allr.min(), allb.min(),
           100 * (np.median(allr) / np.median(allb) - 1), np.median(allr), np.median(allb),
           " ".join("%+.0f%%" % (100 * p) for p in pairs)))
PY
