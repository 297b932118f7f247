#!/usr/bin/env bash
# stream.sh - streaming mode against in-memory mode: full-batch and B = 4096 mini-batch logistic
# epochs and lbfgs iterations on the 1,000,000 x 64 file of speed.py, in memory and with
# io.memory_budget = a quarter of the data (N x (D + 1) x 8 bytes), float64 and float32 (lbfgs
# reads float64 rows whatever the dtype: float64 only), 1 and 2 ranks. Prints one line per case
# with the median epoch (iteration) time, epochs 2.., samples/s and streamed / in-memory. The file
# sits in the page cache (it is read once before the runs), so this measures the reader's copy and
# the overlap, not a disk.
#   tests/bench/stream.sh BUILD_DIR [EPOCHS] [REPEATS]
# The runs alternate in-memory and streamed; on two ranks one run's epochs can be a third slower
# than the next run's of the same case (the VM's two cores are shared), so each case pools
# EPOCHS - 1 epochs of REPEATS runs per mode, and the line also gives the ratio of the best
# epochs, which such disturbances only lengthen.
set -euo pipefail
build=$(cd "${1:?usage: stream.sh BUILD_DIR [EPOCHS] [REPEATS]}" && pwd)
epochs=${2:-20} repeats=${3:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
rows=1000000 cols=64
data=${BENCH_DIR:-/tmp/mbatch-bench-speed}/logistic-${rows}x${cols}.h5
mkdir -p "$(dirname "$data")"
[ -f "$data" ] || "$build/mbatch" gen --kind logistic --rows $rows --cols $cols --seed 1 \
    --out "$data" >/dev/null
cat "$data" >/dev/null # into the page cache
work=$(mktemp -d /tmp/mbatch-bench-stream.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
budget=$((rows * (cols + 1) * 8 / 4))
printf '{"dataset": {"path": "%s"}, "model": {"type": "logistic", "l2": 1e-4},
 "optimizer": {"lr": 0.5}, "batch": {"size": "full"}, "epochs": %d,
 "checkpoint": {"every_epochs": 0}}\n' "$data" "$epochs" >job.json
echo "stream.sh: $rows x $cols logistic, $epochs epochs x $repeats runs, budget" \
    "$budget bytes (a quarter of $((rows * (cols + 1) * 8)) bytes of data), file in the page" \
    "cache; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for batch in full 4096 lbfgs; do
for dtype in float64 float32; do
    [ $batch = lbfgs ] && [ $dtype = float32 ] && continue
    for np in 1 2; do
        for r in $(seq "$repeats"); do
            for mode in mem str; do
                set -- --set dtype=$dtype --set run_dir="$mode-$dtype-$np-$r"
                case $batch in
                full) ;;
                lbfgs) set -- "$@" --set optimizer.type=lbfgs --set optimizer.tol=1e-12 ;;
                *) set -- "$@" --set batch.size=$batch ;;
                esac
                [ $mode = str ] && set -- "$@" --set io.memory_budget=$budget
                mpirun -n $np "$build/mbatch" train job.json --quiet "$@" >"$mode-$dtype-$np-$r.log"
            done
        done
        /usr/bin/python3 - "$dtype" "$np" "$repeats" "$batch" <<'PY'
import sys, h5py, numpy as np
dtype, np_, repeats, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def med(mode):
    t = []
    for r in range(1, repeats + 1):
        with h5py.File("%s-%s-%s-%d/metrics.h5" % (mode, dtype, np_, r), "r") as f:
            e = f["epochs"][()]
        t += list(e["epoch_s"][1:])
        n = e["samples_per_s"][1] * e["epoch_s"][1]
    return float(np.median(t)), float(np.min(t)), n
m, mb, n = med("mem")
s, sb, _ = med("str")
label = "lbfgs" if batch == "lbfgs" else "batch=" + batch
print("%-10s %-7s %d rank%s  in-memory %7.1f ms/epoch %6.1f M samples/s   streamed %7.1f "
      "ms/epoch %6.1f M samples/s   streamed/in-memory %.2f (best epochs %.2f)"
      % (label, dtype, int(np_), " " if np_ == "1" else "s", m * 1e3, n / m / 1e6, s * 1e3,
         n / s / 1e6, s / m, sb / mb))
PY
    done
done
done
