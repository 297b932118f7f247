#!/usr/bin/env bash
# local-cluster.sh - a real one-node Slurm (munged, slurmctld, slurmd) kept in a private directory.
#
#   slurm/local-cluster.sh start   start it (idempotent), wait until the node is idle
#   slurm/local-cluster.sh stop    stop what start started, by its own pid files only
#   slurm/local-cluster.sh env     print `export SLURM_CONF=...` for: eval "$(... env)"
#   slurm/local-cluster.sh status  say whether it runs
#
# Runs as root (slurmd must, to start jobs as the submitting user). Everything it writes lives
# in $MBATCH_SLURM_DIR (default $XDG_RUNTIME_DIR/mbatch-slurm, else /tmp/mbatch-slurm-$UID);
# the node declares MBATCH_SLURM_CPUS CPUs (default 4) whatever the machine has, so 4-rank jobs
# run on a 2-core machine. Ports: MBATCH_SLURM_PORT (slurmctld) and the next one (slurmd); by
# default the first free pair from 6817, so clusters in different directories can run side by side.
set -euo pipefail

cmd=${1:-}
if [ -n "${MBATCH_SLURM_DIR:-}" ]; then
    dir=$MBATCH_SLURM_DIR
elif [ -n "${XDG_RUNTIME_DIR:-}" ] && [ -d "${XDG_RUNTIME_DIR}" ]; then
    dir=$XDG_RUNTIME_DIR/mbatch-slurm
else
    dir=/tmp/mbatch-slurm-$(id -u)
fi
cpus=${MBATCH_SLURM_CPUS:-4}
port=${MBATCH_SLURM_PORT:-}
host=$(hostname -s)
conf=$dir/slurm.conf
export SLURM_CONF=$conf

die() {
    echo "local-cluster.sh: $*" >&2
    exit 1
}

# alive NAME: is the daemon whose pid file is $dir/NAME.pid running (and really that daemon)?
alive() {
    local f=$dir/$1.pid pid
    [ -s "$f" ] || return 1
    pid=$(cat "$f")
    [ -d "/proc/$pid" ] || return 1
    grep -q "$1" "/proc/$pid/comm" 2>/dev/null
}

# in_use PORT: does something listen on 127.0.0.1:PORT?
in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_conf() {
    if [ -z "$port" ]; then
        port=6817
        while in_use "$port" || in_use $((port + 1)); do
            port=$((port + 2))
            [ "$port" -lt 6917 ] || die "no free port pair between 6817 and 6917"
        done
    fi
    mkdir -p "$dir/state" "$dir/spool" "$dir/log"
    chmod 700 "$dir"
    cat >"$conf" <<EOF
# Written by slurm/local-cluster.sh: a one-node cluster for tests and demos.
ClusterName=mbatch-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# cred_expire: a requeued job waits this long before it may start again (default 120 s).
AuthInfo=socket=$dir/munge.socket,cred_expire=5
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Lets the node declare more CPUs than the machine has.
SlurmdParameters=config_overrides
MpiDefault=pmix
# Finished jobs leave the controller after 4 s: sbatch --wait would otherwise poll for 10 s.
MinJobAge=4
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
# A requeued job may start again at once (the default holds it for a while).
JobRequeue=1
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

start() {
    [ "$(id -u)" -eq 0 ] || die "must run as root (slurmd starts jobs as their users)"
    for b in munged slurmctld slurmd sinfo; do
        command -v "$b" >/dev/null || die "$b not found; install the packages slurm-wlm and munge"
    done
    if alive munged && alive slurmctld && alive slurmd; then
        echo "local-cluster.sh: already running in $dir"
        wait_idle
        return
    fi
    # Half-started from an earlier attempt: stop the rest, start cleanly.
    stop quiet
    write_conf
    if [ ! -s "$dir/munge.key" ]; then
        dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
        chmod 400 "$dir/munge.key"
    fi
    munged --force --key-file="$dir/munge.key" --socket="$dir/munge.socket" \
        --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munged.seed"
    # -i: ignore saved state; jobs of an earlier cluster are gone.
    slurmctld -i -f "$conf"
    slurmd -f "$conf"
    wait_idle
    echo "local-cluster.sh: running in $dir (node $host, $cpus CPUs); eval \"\$($0 env)\""
}

wait_idle() {
    local i state=""
    for i in $(seq 1 150); do
        state=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
        case "$state" in
        idle | mixed | allocated) return 0 ;;
        down* | drain*) scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true ;;
        esac
        sleep 0.1
    done
    die "the node is '${state:-unknown}' after 15 s, not idle; logs in $dir/log"
}

# term NAME...: SIGTERM to each named daemon that runs, then wait for all of them (SIGKILL after
# 10 s); each exits in a second or two, so they go down together.
term() {
    local name pids=() i p left
    for name in "$@"; do
        alive "$name" || continue
        pids+=("$(cat "$dir/$name.pid")")
        kill "${pids[-1]}" 2>/dev/null || true
    done
    for i in $(seq 1 200); do
        left=0
        for p in "${pids[@]}"; do [ -d "/proc/$p" ] && left=1; done
        [ "$left" -eq 0 ] && break
        sleep 0.05
    done
    for p in "${pids[@]}"; do [ -d "/proc/$p" ] && kill -9 "$p" 2>/dev/null; done
    for name in "$@"; do rm -f "$dir/$name.pid"; done
}

stop() {
    # The Slurm daemons first (they authenticate their goodbyes through munged), then munged.
    term slurmd slurmctld
    term munged
    [ -n "${1:-}" ] || echo "local-cluster.sh: stopped ($dir)"
}

case "$cmd" in
start) start ;;
stop) stop ;;
env) echo "export SLURM_CONF=$conf" ;;
status)
    if alive munged && alive slurmctld && alive slurmd; then
        echo "running in $dir"
    else
        echo "not running ($dir)"
        exit 1
    fi
    ;;
*)
    echo "usage: slurm/local-cluster.sh start|stop|env|status" >&2
    exit 1
    ;;
esac
