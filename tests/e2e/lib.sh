# lib.sh - shared helpers for the end-to-end tests of the mbatch command (sourced).
# Environment from ctest: MBATCH, MPIEXEC, SRC_DIR, PYTHON, WORK_DIR.
set -euo pipefail
: "${MBATCH:?}" "${MPIEXEC:=mpiexec}" "${PYTHON:=/usr/bin/python3}" "${SRC_DIR:?}"
export PYTHONPATH="$SRC_DIR/tests/e2e${PYTHONPATH:+:$PYTHONPATH}" # mbcheck.py
name=$(basename "$0" .sh)
work="${WORK_DIR:-/tmp/mbatch-e2e}/$name"
rm -rf "$work"
mkdir -p "$work"
cd "$work"

fail() {
    echo "FAILED: $*" >&2
    exit 1
}

# mb NP ARGS...: run mbatch on NP ranks, with a timeout so that a hang fails the test.
mb() {
    local np=$1
    shift
    timeout -k 5 120 "$MPIEXEC" -n "$np" "$MBATCH" "$@"
}

# expect CODE PATTERN NP ARGS...: mbatch must exit with CODE and print PATTERN (grep -E) once.
expect() {
    local code=$1 pattern=$2 np=$3 rc=0
    shift 3
    mb "$np" "$@" >out.txt 2>err.txt || rc=$?
    if [ "$rc" -ne "$code" ]; then
        cat out.txt err.txt >&2
        fail "mbatch $* on $np ranks: exit code $rc, expected $code"
    fi
    local n
    n=$(grep -cE "$pattern" err.txt || true)
    if [ "$n" -ne 1 ]; then
        cat err.txt >&2
        fail "mbatch $* on $np ranks: expected one message matching '$pattern', saw $n"
    fi
    echo "ok: exit $rc: $(grep -E "$pattern" err.txt)"
}

# job FILE JSON: write a job file.
job() {
    printf '%s\n' "$2" >"$1"
}
