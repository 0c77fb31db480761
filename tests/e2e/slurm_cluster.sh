# shellcheck shell=bash disable=SC2034  # SLURM_STATE is read by the sourcing script
# A real single-node Slurm cluster for tests: munged + slurmctld + slurmd on localhost, all
# state, sockets, logs and the config in a scratch directory of their own
# (docs/platform.md, "Slurm 22.05 on one machine").
#
#   source tests/e2e/slurm_cluster.sh
#   slurm_cluster_start          # exports SLURM_CONF; fails the test when Slurm cannot start
#   sbatch ...; scontrol ...     # the ordinary client commands talk to this cluster
#
# The daemons started here are stopped by their PIDs when the sourcing shell exits (an EXIT
# trap; INT/TERM/HUP exit through it), whatever happened. This never skips: a machine without
# Slurm or munge fails with a message saying what is missing.

SLURM_CLUSTER_DIR=""
SLURM_CLUSTER_PIDS=()          # munged slurmctld slurmd, in start order

slurm_fail() {
  echo "slurm_cluster: FAIL: $*" >&2
  exit 1
}

slurm_log() { echo "slurm_cluster: $*" >&2; }

# Finds a daemon or client binary on PATH or in the usual sbin folders.
slurm_find_bin() {
  local name=$1 dir
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  for dir in /usr/sbin /usr/local/sbin /sbin /usr/bin /usr/local/bin; do
    if [ -x "$dir/$name" ]; then echo "$dir/$name"; return 0; fi
  done
  return 1
}

# A TCP port nobody listens on (so that a second cluster on the machine does not collide).
slurm_free_port() {
  local port tries=0
  while [ $tries -lt 200 ]; do
    port=$(( 20000 + RANDOM % 20000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
    tries=$((tries + 1))
  done
  slurm_fail "no free TCP port found for slurmctld/slurmd"
}

# Prints the tail of every daemon log (called when something goes wrong).
slurm_cluster_logs() {
  local f
  [ -n "$SLURM_CLUSTER_DIR" ] || return 0
  for f in "$SLURM_CLUSTER_DIR"/munge/munged.log "$SLURM_CLUSTER_DIR"/log/slurmctld.log \
           "$SLURM_CLUSTER_DIR"/log/slurmd*.log; do
    [ -f "$f" ] || continue
    echo "----- tail of $f" >&2
    tail -n 25 "$f" >&2
  done
}

# Stops every daemon this library started, by PID (TERM, then KILL after 10 s), newest first.
slurm_cluster_stop() {
  local i pid n
  set +e
  for (( i=${#SLURM_CLUSTER_PIDS[@]}-1; i>=0; i-- )); do
    pid=${SLURM_CLUSTER_PIDS[$i]}
    [ -n "$pid" ] || continue
    kill -TERM "$pid" 2>/dev/null || continue
    for (( n=0; n<100; n++ )); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      slurm_log "pid $pid did not stop on TERM, killing it"
      kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null || true     # munged is not our child: wait says 127
  done
  SLURM_CLUSTER_PIDS=()
  slurm_hosts_remove
  # Step daemons detach from slurmd; one left by a job the test gave up on would confuse the
  # next cluster (whose jobs are numbered from 1 again). Ours are the ones that started with this
  # cluster's SLURM_CONF; a step daemon of any other Slurm on the machine is left alone.
  local stepd
  for stepd in $(pgrep -x slurmstepd); do
    tr '\0' '\n' < "/proc/$stepd/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$SLURM_CLUSTER_DIR/slurm.conf" &&
      kill -KILL "$stepd" 2>/dev/null
  done
  if [ -n "$SLURM_CLUSTER_DIR" ] && [ -z "${SLURM_CLUSTER_KEEP:-}" ]; then
    rm -rf "$SLURM_CLUSTER_DIR"
  fi
}

slurm_cluster_on_exit() {
  local rc=$?
  set +e
  if [ $rc -ne 0 ]; then slurm_cluster_logs; fi
  slurm_cluster_stop
  exit $rc
}

# Checks what the cluster needs, makes its scratch directory (SLURM_CLUSTER_DIR), sets the
# traps that stop it, and starts munged (one for every host: its socket is a file).
slurm_cluster_prepare() {
  local b munged key n
  for b in munged slurmctld slurmd sbatch srun scontrol sinfo squeue scancel; do
    slurm_find_bin "$b" >/dev/null ||
      slurm_fail "'$b' not found: install slurm-wlm and munge (scripts/common.sh does)"
  done
  munged=$(slurm_find_bin munged)
  id munge >/dev/null 2>&1 || slurm_fail "no 'munge' user: the munge package is not installed"
  [ "$(id -u)" = 0 ] || slurm_fail "the test cluster needs root (it runs slurmd as root)"

  # Under $TMPDIR, or /tmp where that path is too long: the munge socket's path must fit in a unix
  # socket address (108 bytes).
  local parent=${TMPDIR:-/tmp}
  [ "${#parent}" -le 60 ] || parent=/tmp
  SLURM_CLUSTER_DIR=$(mktemp -d "$parent/wsi-slurm.XXXXXX") || slurm_fail "mktemp failed in $parent"
  trap slurm_cluster_on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  chmod 755 "$SLURM_CLUSTER_DIR"
  local d=$SLURM_CLUSTER_DIR
  mkdir -p "$d/munge" "$d/state" "$d/spool" "$d/log" "$d/run" "$d/tmp"
  chown munge:munge "$d/munge"; chmod 755 "$d/munge"

  # Munge key: the machine's, or one made here (CI machines may have the package but no key;
  # SLURM_CLUSTER_NEW_KEY=1 forces a new one).
  if [ -r /etc/munge/munge.key ] && [ -z "${SLURM_CLUSTER_NEW_KEY:-}" ]; then
    key=/etc/munge/munge.key
  else
    key=$d/munge/munge.key
    if command -v mungekey >/dev/null 2>&1 || [ -x /usr/sbin/mungekey ]; then
      "$(slurm_find_bin mungekey)" --create --keyfile="$key" >/dev/null 2>&1 ||
        dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
    else
      dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
    fi
    [ -s "$key" ] || slurm_fail "could not create a munge key in $key"
    chown munge:munge "$key"; chmod 400 "$key"
  fi

  runuser -u munge -- "$munged" --socket="$d/munge/munge.socket.2" --key-file="$key" \
      --pid-file="$d/munge/munged.pid" --log-file="$d/munge/munged.log" \
      --seed-file="$d/munge/munged.seed" ||
    slurm_fail "munged did not start (see $d/munge/munged.log)"
  # munged daemonises: its PID comes from its pid file.
  for (( n=0; n<50; n++ )); do
    [ -s "$d/munge/munged.pid" ] && [ -S "$d/munge/munge.socket.2" ] && break
    sleep 0.1
  done
  [ -s "$d/munge/munged.pid" ] || slurm_fail "munged wrote no pid file"
  SLURM_CLUSTER_PIDS+=("$(cat "$d/munge/munged.pid")")
}

# RealMemory of a node: 80 % of MemTotal, in MB (it must not exceed what slurmd finds).
slurm_node_memory() { awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.8 }' /proc/meminfo; }

# Writes SLURM_CLUSTER_DIR/slurm.conf: what every test cluster shares, then the lines given
# (controller, nodes, partition, per-node paths), and exports SLURM_CONF.
slurm_write_conf() {
  local d=$SLURM_CLUSTER_DIR ctld_port slurmd_port
  ctld_port=$(slurm_free_port)
  slurmd_port=$(slurm_free_port)
  while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(slurm_free_port); done
  [ -n "$ctld_port" ] && [ -n "$slurmd_port" ] || slurm_fail "no free TCP port for the daemons"
  cat > "$d/slurm.conf" <<EOF
# Test cluster made by tests/e2e/slurm_cluster.sh
ClusterName=wsitest
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$d/munge/munge.socket.2
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$d/state
TmpFS=$d/tmp
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=pmix
ReturnToService=2
SwitchType=switch/none
MailProg=/bin/true
MinJobAge=600
GresTypes=gpu
EOF
  printf '%s\n' "$@" >> "$d/slurm.conf"
  export SLURM_CONF=$d/slurm.conf
}

# Waits (at most 60 s) until sinfo shows $1 nodes, all idle; fails naming the states otherwise.
slurm_wait_idle() {
  local want=$1 t0=$SECONDS states="" pid
  while [ $((SECONDS - t0)) -lt 60 ]; do
    for pid in "${SLURM_CLUSTER_PIDS[@]}"; do
      kill -0 "$pid" 2>/dev/null ||
        { cat "$SLURM_CLUSTER_DIR"/log/*.out >&2; slurm_fail "a Slurm daemon (pid $pid) died at start"; }
    done
    states=$(sinfo -h -N -o %T 2>/dev/null | sort | uniq -c | tr -s ' ' | tr '\n' ',')
    [ "$states" = " $want idle," ] && return 0
    sleep 0.5
  done
  slurm_fail "the nodes are not all idle after 60 s (sinfo says '${states:-nothing}'); logs follow"
}

# Starts a single-node cluster (localhost) and waits until the node is idle. Exports SLURM_CONF.
slurm_cluster_start() {
  local slurmctld slurmd cpus mem d t0=$SECONDS
  slurm_cluster_prepare
  d=$SLURM_CLUSTER_DIR
  slurmctld=$(slurm_find_bin slurmctld); slurmd=$(slurm_find_bin slurmd)
  cpus=$(nproc)
  mem=$(slurm_node_memory)
  # KillWait: the time a signalled job has to checkpoint before Slurm kills it.
  slurm_write_conf "SlurmctldHost=localhost" "SlurmdSpoolDir=$d/spool" "SlurmdPidFile=$d/run/slurmd.pid" \
    "SlurmdLogFile=$d/log/slurmd.log" "KillWait=10" "NodeName=localhost CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN" \
    "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP"
  # Counted GPUs without device files: slurm/*.sbatch ask for --gpus-per-task=1 and run here
  # unchanged; no CUDA device is bound (wsi-mpi runs with --device cpu or auto).
  printf 'NodeName=localhost Name=gpu File=%s\n' /dev/null /dev/zero > "$d/gres.conf"

  "$slurmctld" -D -i -f "$d/slurm.conf" > "$d/log/slurmctld.out" 2>&1 &
  SLURM_CLUSTER_PIDS+=($!)
  "$slurmd" -D -N localhost -f "$d/slurm.conf" > "$d/log/slurmd.out" 2>&1 &
  SLURM_CLUSTER_PIDS+=($!)
  slurm_wait_idle 1
  slurm_log "up in $((SECONDS - t0)) s: $cpus CPUs, ${mem} MB, conf $SLURM_CONF"
}

# Waits (at most 60 s) until no slurmstepd of job $1 runs on this node any more: its tasks and
# batch script have ended (a job is CANCELLED as soon as scancel returns, before its tasks end).
slurm_wait_steps_gone() {
  local job=$1 t0=$SECONDS
  while ps -eo args= | grep -q "^slurmstepd: \[$job\."; do
    [ $((SECONDS - t0)) -lt 60 ] || slurm_fail "job $1: its steps did not end within 60 s"
    sleep 0.2
  done
}

# A job was requeued and is PENDING: start it now rather than after Slurm's hold. Slurm 22.05
# holds a requeued job back for cred_expire + 1 s (121 s by default, Reason=BeginTime) because
# slurmd refuses to launch a job whose credential it revoked at the requeue ("Job credential
# revoked", the job then FAILS) until a new credential is newer than the revocation, at
# one-second granularity. So: wait until the job's old slurmstepd processes are gone, then 2 s,
# then `scontrol update StartTime=now`.
slurm_release_requeued() {
  local job=$1
  slurm_wait_steps_gone "$job"
  sleep 2
  scontrol update JobId="$job" StartTime=now || slurm_fail "scontrol update StartTime=now failed"
}

# The job's JobState (empty when Slurm no longer knows the job).
slurm_job_state() {
  scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n 's/^JobState=//p' | head -n 1
}

slurm_job_field() {   # job field: slurm_job_field JOBID Restarts
  scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# Waits until job $1 is in one of the states $2 (a |-separated list, e.g. 'COMPLETED|PENDING'),
# at most $3 seconds, and leaves the state in SLURM_STATE. Fails the test when the job ends in a
# state not listed, or on the time limit. Call it directly, not in $(...): it exits on failure.
slurm_wait_state() {
  local job=$1 want=$2 limit=$3 t0=$SECONDS st=""
  SLURM_STATE=""
  while [ $((SECONDS - t0)) -lt "$limit" ]; do
    st=$(slurm_job_state "$job")
    if [ -n "$st" ] && [[ "|$want|" == *"|$st|"* ]]; then SLURM_STATE=$st; return 0; fi
    case "$st" in
      FAILED|CANCELLED|TIMEOUT|NODE_FAIL|BOOT_FAIL|OUT_OF_MEMORY|DEADLINE|PREEMPTED)
        scontrol show job "$job" >&2
        slurm_fail "job $job ended $st while waiting for $want" ;;
    esac
    sleep 0.5
  done
  scontrol show job "$job" >&2
  slurm_fail "job $job not $want after $limit s (state '${st:-unknown}')"
}

# ---- Several hosts on this machine (docs/platform.md, "Slurm on several hosts of one machine") ---
# slurm_cluster_start_hosts N: the controller (slurmctld) in this machine's own network
# namespace, at the bridge's address, and N compute hosts node1..nodeN, each a network namespace
# of its own (address 10.A.B.1K on a bridge, its own hostname through a UTS namespace, its own
# slurmd, spool, log and TmpFS); munge and the file system are shared, as a cluster's parallel
# file system is. Exports SLURM_CONF and SLURM_HOSTS_NET (the hosts' subnet, for Open MPI's
# *_if_include). Tests that need it skip (exit 77) where network namespaces cannot be made.
SLURM_HOSTS_ID=""
SLURM_HOSTS_NET=""
SLURM_HOSTS_N=0

# Exits 77 (ctest: skipped) when this machine cannot make network namespaces and veth pairs.
slurm_hosts_require() {
  local probe=wsiprobe$$
  if ! ip netns add "$probe" 2>/dev/null; then
    echo "SKIP: network namespaces cannot be made here ('ip netns add' failed: not root, or no CAP_SYS_ADMIN)"
    exit 77
  fi
  if ! ip link add "${probe}a" type veth peer name "${probe}b" 2>/dev/null; then
    ip netns del "$probe"
    echo "SKIP: veth pairs cannot be made here ('ip link add ... type veth' failed)"
    exit 77
  fi
  ip link del "${probe}a" 2>/dev/null
  ip netns del "$probe"
  command -v nsenter >/dev/null && command -v unshare >/dev/null ||
    { echo "SKIP: nsenter/unshare (util-linux) not found"; exit 77; }
}

slurm_host_ns() { echo "wsi${SLURM_HOSTS_ID}n$1"; }        # the network namespace of host K
slurm_host_link() { echo "wsi${SLURM_HOSTS_ID}v$1"; }      # host K's veth end on the bridge

# Starts slurmd of host K in its namespaces (also to bring a host back after a kill).
slurm_host_start_slurmd() {
  local k=$1 d=$SLURM_CLUSTER_DIR slurmd
  slurmd=$(slurm_find_bin slurmd)
  mkdir -p "$d/spool/node$k" "$d/tmp-node$k"
  nsenter --net="/run/netns/$(slurm_host_ns "$k")" unshare --uts --mount --propagation private \
    sh -c "hostname node$k && mount --bind '$d/tmp-node$k' '$d/tmp' && exec '$slurmd' -D -N node$k -f '$d/slurm.conf'" \
    >> "$d/log/slurmd-node$k.out" 2>&1 &
  SLURM_CLUSTER_PIDS+=($!)
  disown $!   # a host killed on purpose is not news for the shell's job control
}

# Every process of host K (its slurmd, step daemons, ranks), as a power cut would end them.
slurm_host_kill() {
  local pids
  pids=$(ip netns pids "$(slurm_host_ns "$1")" 2>/dev/null | tr '\n' ' ')
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
  return 0
}

# Host K's network link down (its processes live on, unreachable) or up again.
slurm_host_cut() { ip link set "$(slurm_host_link "$1")" down; }
slurm_host_restore() { ip link set "$(slurm_host_link "$1")" up; }

slurm_hosts_network() {
  local n=$1 k ns
  SLURM_HOSTS_ID=$(( RANDOM % 9000 + 1000 ))
  local a=$(( 100 + RANDOM % 100 )) b=$(( RANDOM % 250 + 1 ))
  while ip route | grep -q "^10\.$a\.$b\."; do b=$(( RANDOM % 250 + 1 )); done
  SLURM_HOSTS_NET=10.$a.$b
  ip link add "wsi${SLURM_HOSTS_ID}br" type bridge || slurm_fail "cannot make a bridge"
  ip addr add "$SLURM_HOSTS_NET.1/24" dev "wsi${SLURM_HOSTS_ID}br"
  ip link set "wsi${SLURM_HOSTS_ID}br" up
  for (( k=1; k<=n; k++ )); do
    ns=$(slurm_host_ns "$k")
    ip netns add "$ns" || slurm_fail "ip netns add $ns failed"
    ip link add "$(slurm_host_link "$k")" type veth peer name "wsi${SLURM_HOSTS_ID}e$k" ||
      slurm_fail "cannot make a veth pair for node$k"
    ip link set "wsi${SLURM_HOSTS_ID}e$k" netns "$ns"
    ip link set "$(slurm_host_link "$k")" master "wsi${SLURM_HOSTS_ID}br" up
    ip -n "$ns" addr add "$SLURM_HOSTS_NET.1$k/24" dev "wsi${SLURM_HOSTS_ID}e$k"
    ip -n "$ns" link set "wsi${SLURM_HOSTS_ID}e$k" up
    ip -n "$ns" link set lo up
  done
  SLURM_HOSTS_N=$n
}

# Removes the hosts' processes, namespaces and links (from slurm_cluster_stop).
slurm_hosts_remove() {
  local k
  [ -n "$SLURM_HOSTS_ID" ] || return 0
  for (( k=1; k<=SLURM_HOSTS_N; k++ )); do
    slurm_host_kill "$k"
    ip netns del "$(slurm_host_ns "$k")" 2>/dev/null
    ip link del "$(slurm_host_link "$k")" 2>/dev/null
  done
  ip link del "wsi${SLURM_HOSTS_ID}br" 2>/dev/null
  SLURM_HOSTS_ID=""
}

slurm_cluster_start_hosts() {
  local n=${1:-3} k d slurmctld mem nodes t0=$SECONDS
  slurm_cluster_prepare
  d=$SLURM_CLUSTER_DIR
  slurmctld=$(slurm_find_bin slurmctld)
  slurm_hosts_network "$n"
  mem=$(( $(slurm_node_memory) / n ))
  nodes=()
  for (( k=1; k<=n; k++ )); do
    nodes+=("NodeName=node$k NodeAddr=$SLURM_HOSTS_NET.1$k CPUs=2 RealMemory=$mem Gres=gpu:2 State=UNKNOWN")
  done
  # The controller must be this machine's name (any other: "This host not a valid controller").
  # A host that stops answering is DOWN after SlurmdTimeout; its jobs then fail over (requeue).
  # The ranks left on the other hosts cannot finish a last checkpoint without the lost one's: they
  # wait on it until Slurm kills them, KillWait after the requeue's SIGTERM.
  slurm_write_conf "SlurmctldHost=$(hostname -s)($SLURM_HOSTS_NET.1)" "SlurmdSpoolDir=$d/spool/%n" \
    "SlurmdPidFile=$d/run/slurmd-%n.pid" "SlurmdLogFile=$d/log/slurmd-%n.log" "SlurmdTimeout=6" \
    "MessageTimeout=5" "KillWait=3" "${nodes[@]}" "PartitionName=debug Nodes=node[1-$n] Default=YES MaxTime=INFINITE State=UP"
  for (( k=1; k<=n; k++ )); do printf 'NodeName=node%s Name=gpu File=%s\n' "$k" /dev/null "$k" /dev/zero; done \
    > "$d/gres.conf"
  "$slurmctld" -D -i -f "$d/slurm.conf" > "$d/log/slurmctld.out" 2>&1 &
  SLURM_CLUSTER_PIDS+=($!)
  for (( k=1; k<=n; k++ )); do slurm_host_start_slurmd "$k"; done
  slurm_wait_idle "$n"
  slurm_log "up in $((SECONDS - t0)) s: controller $(hostname -s) at $SLURM_HOSTS_NET.1, hosts node1..node$n at $SLURM_HOSTS_NET.11.., conf $SLURM_CONF"
}
