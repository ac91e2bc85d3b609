#!/usr/bin/env bash
# A real single-node SLURM cluster (munge, slurmctld, slurmd from Debian's packages) for development
# and CI, so the SLURM tests run against real sbatch/scontrol rather than a mock.
#
#   slurm/dev-cluster.sh start    install the packages if missing, start the daemons, wait until the node is idle
#   slurm/dev-cluster.sh stop     stop the daemons (the state folder is kept)
#   slurm/dev-cluster.sh status   exit 0 if the cluster answers and the node can run jobs
#
# Both start and stop are idempotent. Needs root (daemons run as root, munge as user munge).
# Environment: THRESHER_SLURM_DIR (state, spool and logs; default /tmp/thresher-slurm),
#              THRESHER_SLURM_CPUS (CPUs the node advertises, default 8: small test jobs run at once),
#              THRESHER_SLURM_PARTITION (default debug).
# The config goes to /etc/slurm/slurm.conf, where sinfo/sbatch look; a slurm.conf we did not write is
# never overwritten (set SLURM_CONF to use another path).
set -euo pipefail

DIR="${THRESHER_SLURM_DIR:-/tmp/thresher-slurm}"
CPUS="${THRESHER_SLURM_CPUS:-8}"
PARTITION="${THRESHER_SLURM_PARTITION:-debug}"
CONF="${SLURM_CONF:-/etc/slurm/slurm.conf}"
MARKER="# written by thresher slurm/dev-cluster.sh"
NODE="$(hostname -s)"

log() { echo "dev-cluster: $*" >&2; }
die() { log "error: $*"; exit 1; }

# alive = the pid exists and is not a zombie (stopped daemons can linger as zombies here)
alive() {
    local pid="$1" state
    [[ -n "$pid" ]] || return 1
    state="$(ps -o stat= -p "$pid" 2>/dev/null | tr -d ' ')" || return 1
    [[ -n "$state" && "$state" != Z* ]]
}

pid_of() { [[ -s "$1" ]] && cat "$1" || true; }

install_packages() {
    local missing=()
    command -v munged >/dev/null || missing+=(munge)
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

start_munge() {
    if [[ ! -s /etc/munge/munge.key ]]; then
        mkdir -p /etc/munge
        mungekey --create --keyfile=/etc/munge/munge.key
    fi
    chown munge:munge /etc/munge /etc/munge/munge.key
    chmod 0700 /etc/munge
    chmod 0400 /etc/munge/munge.key
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    chmod 0755 /run/munge
    if alive "$(pid_of /run/munge/munged.pid)" && munge -n </dev/null | unmunge >/dev/null 2>&1; then
        return 0
    fi
    log "starting munged"
    runuser -u munge -- munged --force
    for _ in $(seq 50); do
        munge -n </dev/null | unmunge >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "munged does not answer (see /var/log/munge/munged.log)"
}

write_conf() {
    if [[ -e "$CONF" ]] && ! grep -qF "$MARKER" "$CONF"; then
        die "$CONF exists and was not written by this script; move it away or set SLURM_CONF"
    fi
    mkdir -p "$(dirname "$CONF")" "$DIR"/{state,spool,log,run}
    local mem
    mem="$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)"
    mem=$(( ${mem:-2048} * 9 / 10 ))  # more than slurmd detects would drain the node
    local new="$DIR/slurm.conf.new"
    cat >"$new" <<EOF
$MARKER
ClusterName=thresher-dev
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# without it every job gets the whole node's memory and jobs run one at a time
DefMemPerCPU=1024
# a job whose afterok dependency failed is cancelled instead of pending forever
DependencyParameters=kill_invalid_depend
SchedulerParameters=batch_sched_delay=0,bf_interval=1,sched_min_interval=0
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=5
MinJobAge=600
MaxArraySize=1001
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    if [[ -e "$CONF" ]] && cmp -s "$new" "$CONF"; then
        rm -f "$new"
        return 1  # unchanged
    fi
    mv "$new" "$CONF"
    return 0
}

node_ready() {
    local state
    state="$(sinfo -h -n "$NODE" -o '%T' 2>/dev/null | head -1)" || return 1
    [[ "$state" == idle* || "$state" == mixed* || "$state" == allocated* || "$state" == completing* ]]
}

start() {
    [[ $EUID -eq 0 ]] || die "run as root (the daemons and package installation need it)"
    install_packages
    start_munge
    local changed=0
    write_conf && changed=1
    if [[ $changed -eq 1 ]]; then
        # a new config: restart whatever runs with the old one
        stop_slurm
    fi
    if ! alive "$(pid_of "$DIR/run/slurmctld.pid")"; then
        log "starting slurmctld"
        slurmctld -f "$CONF"
    fi
    if ! alive "$(pid_of "$DIR/run/slurmd.pid")"; then
        log "starting slurmd"
        slurmd -f "$CONF"
    fi
    for i in $(seq 100); do
        if node_ready; then
            log "up: partition $PARTITION, node $NODE ($CPUS CPUs); logs in $DIR/log"
            return 0
        fi
        local state
        state="$(sinfo -h -n "$NODE" -o '%T' 2>/dev/null | head -1 || true)"
        if [[ "$state" == down* || "$state" == drain* ]] && (( i % 10 == 5 )); then
            scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
        fi
        sleep 0.3
    done
    sinfo >&2 || true
    die "the node did not become idle; see $DIR/log/slurmctld.log and $DIR/log/slurmd.log"
}

stop_pidfile() {
    local name="$1" file="$2" pid
    pid="$(pid_of "$file")"
    alive "$pid" || { rm -f "$file"; return 0; }
    log "stopping $name ($pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        alive "$pid" || { rm -f "$file"; return 0; }
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    sleep 0.2
    rm -f "$file"
}

stop_slurm() {
    stop_pidfile slurmd "$DIR/run/slurmd.pid"
    stop_pidfile slurmctld "$DIR/run/slurmctld.pid"
}

stop() {
    stop_slurm
    stop_pidfile munged /run/munge/munged.pid
}

status() {
    command -v sinfo >/dev/null || { log "sinfo not installed"; return 1; }
    node_ready || { log "not up"; return 1; }
    sinfo
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    restart) stop; start ;;
    *) echo "usage: $0 start|stop|status|restart" >&2; exit 2 ;;
esac
