# lib.sh - helpers for the Slurm tests (sourced): the e2e helpers, the local cluster's
# SLURM_CONF, and the mbatch under test first on PATH so batch scripts find it.
# Environment from ctest: that of the e2e tests plus MBATCH_SLURM_DIR and MBATCH_BIN_DIR.
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"
: "${MBATCH_BIN_DIR:=$(dirname "$MBATCH")}"
export PATH="$MBATCH_BIN_DIR:$PATH" MBATCH
eval "$("$SRC_DIR/slurm/local-cluster.sh" env)"
sinfo -h >/dev/null || fail "the local Slurm cluster is not running (fixture slurm_cluster)"
# Batch scripts print progress lines, not a live line, into their logs.
export MBATCH_PROGRESS=plain

# sbatch_wait ARGS...: sbatch --wait with a timeout; a job left behind is cancelled. The job id
# goes to $JOBID_FILE (default jobid.txt) as soon as the job is submitted.
sbatch_wait() {
    local rc=0 f=${JOBID_FILE:-jobid.txt}
    timeout -k 5 120 sbatch --wait --parsable "$@" >"$f" || rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        scancel "$(cut -d';' -f1 "$f")" 2>/dev/null || true
        fail "sbatch $* did not finish within 120 s"
    fi
    return "$rc"
}
