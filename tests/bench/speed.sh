#!/usr/bin/env bash
# speed.sh - one command for the speed figures: read bandwidth, mbatch epochs against the floor
# and against NumPy and scikit-learn, start-up, checkpoint overhead, time to 1e-4 of the optimum.
#   tests/bench/speed.sh BUILD_DIR      (SPEED_REPEATS=3, SPEED_ROWS=1000000, SPEED_COLS=64,
#                                        BENCH_DIR=/tmp/mbatch-bench-speed)
set -euo pipefail
build=$(cd "${1:?usage: speed.sh BUILD_DIR}" && pwd)
[ -x "$build/tests/bench/mbatch_bw" ] || { echo "speed.sh: build $build first (make)" >&2; exit 2; }
exec /usr/bin/python3 "$(dirname "$0")/speed.py" "$build"
