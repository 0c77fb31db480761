#!/usr/bin/env bash
# wsi-mpi on a Slurm cluster of several hosts made on this machine by the test itself
# (tests/e2e/slurm_cluster.sh, slurm_cluster_start_hosts): a controller and three compute hosts,
# each in a network namespace of its own, through the real slurm/wsi-mpi.sbatch, unchanged.
#
#   slurm_hosts.sh run       BIN WORK   # sbatch -N 2 --ntasks-per-node=2: 4 ranks on 2 hosts (Open
#                                       # MPI over TCP between them, shared memory within); the
#                                       # file equals a 1-rank file; the rank table names both hosts
#   slurm_hosts.sh node-lost BIN WORK   # mid-job, (1) every process of one host is killed, (2) one
#                                       # host's link is cut: the job does not hang, Slurm requeues
#                                       # it, it resumes on the hosts left and ends with the file of
#                                       # an uninterrupted run; no unit done before is computed again
#
# Skips (exit 77) only where network namespaces cannot be made; fails when Slurm cannot start.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEST=slurm_hosts
# shellcheck source=slurm_job.sh
source "$HERE/slurm_job.sh" "$@"
slurm_hosts_require
slurm_cluster_start_hosts 3
say "cluster up: $(sinfo -h -N -o '%N %T' | tr '\n' ' ')"
# Open MPI between the hosts: TCP on their subnet only (the machine's other interfaces are not
# reachable from inside the namespaces). sbatch passes the environment on to the ranks.
export OMPI_MCA_btl_tcp_if_include=$SLURM_HOSTS_NET.0/24 OMPI_MCA_oob_tcp_if_include=$SLURM_HOSTS_NET.0/24

submit() {   # submit JOB.ini -> job id: 2 hosts x 2 ranks of 1 core
  (cd "$WORK" && WSI_MPI=$BIN sbatch --parsable --job-name="wsi-$MODE" -N 2 --ntasks-per-node=2 \
     --cpus-per-task=1 --time=10:00 --output="$LOG" --error="$WORK/slurm.err" "$SBATCH_SCRIPT" "$1") ||
    fail "sbatch refused the job"
}

# The hosts of the job's (current) allocation, one per line.
job_hosts() { scontrol show hostnames "$(slurm_job_field "$1" NodeList)"; }

# Ranks per host in the rank table of the last run in the log: "node1 2 node2 2".
table_hosts() {
  awk '/rank  host +tiles/ {delete n; on=1; next}
       on && /info: +[0-9]+  [^ ]+ +[0-9]/ {sub(/.*info: +/, ""); n[$2]++; next}
       on {on=0}
       END {for (h in n) printf "%s %d\n", h, n[h]}' "$LOG" | sort | tr '\n' ' '
}

case "$MODE" in
run)
  synth_cohort --slides 4 --size 4000x3000
  job=$(submit "$WORK/cohort/job.ini")
  say "submitted job $job"
  wait_done "$job" 240
  hosts=$(job_hosts "$job" | tr '\n' ' ')
  say "job $job COMPLETED on $hosts"
  grep -q "wsi-mpi exited 0" "$LOG" || { show_log; fail "the batch script did not report exit 0"; }
  table=$(table_hosts)
  say "rank table: ranks per host: $table"
  grep -E -A5 "rank  host +tiles" "$LOG" | sed 's/^/    /'
  [ "$table" = "node1 2 node2 2 " ] || { show_log; fail "expected 2 ranks on each of node1 and node2, got '$table'"; }
  reference "$WORK/cohort/job.ini" "$WORK/reference.h5"
  $PY "$HERE/slurm_compare.py" "$WORK/cohort/cohort.h5" "$WORK/reference.h5" --ranks 4 --all-ranks-computed ||
    fail "the 2-host cohort file differs from the 1-rank one"
  ;;

node-lost)
  # About 1500 tiles in units of 16; the unit pause keeps the job running long enough to lose
  # a host in the middle, however fast the machine.
  synth_cohort --slides 6 --size 6000x4500
  JOB=$WORK/cohort/lost.ini
  grep -v -e '^unit-tiles' -e '^checkpoint-interval' -e '^batch-size' "$WORK/cohort/job.ini" > "$JOB"
  printf 'unit-tiles = 16\ncheckpoint-interval = 1\nbatch-size = 2\n' >> "$JOB"
  reference "$JOB" "$WORK/reference.h5"
  say "uninterrupted reference run done"
  UNITS=$WORK/units   # per-rank logs of computed units (appended by every run)
  export WSI_TEST_UNIT_PAUSE=0.2 WSI_TEST_UNIT_LOG=$UNITS
  PROGRESS=$WORK/cohort/cohort.h5.progress.json

  units_done() {   # units done according to the progress file (0 before the first checkpoint)
    $PY -c 'import json,sys
try: print(json.load(open(sys.argv[1]))["units_done"])
except Exception: print(0)' "$PROGRESS"
  }
  unit_log_sizes() {   # "FILE:LINES ..." of the per-rank unit logs
    $PY -c 'import glob,sys
print(" ".join(f"{p}:{len(open(p).read().split())}" for p in glob.glob(sys.argv[1] + ".*")))' "$UNITS"
  }

  for case in kill cut; do
    rm -f "$WORK/cohort/cohort.h5" "$WORK/cohort/cohort.h5.progress.json" "$UNITS".*
    job=$(submit "$JOB")
    say "[$case] submitted job $job"
    slurm_wait_state "$job" RUNNING 60
    t=$SECONDS
    until [ "$(units_done)" -ge 20 ]; do
      [ $((SECONDS - t)) -lt 120 ] || { show_log; fail "[$case] no progress within 120 s"; }
      sleep 0.2
    done
    hosts=($(job_hosts "$job"))
    lost=${hosts[1]}; k=${lost#node}
    if [ "$case" = kill ]; then slurm_host_kill "$k"; else slurm_host_cut "$k"; fi
    say "[$case] $lost lost at $(units_done) units done (job on ${hosts[*]})"

    # Slurm finds the host not responding (SlurmdTimeout), fails the job over: requeued.
    t=$SECONDS
    while [ "$(slurm_job_field "$job" Restarts)" != 1 ]; do
      [ $((SECONDS - t)) -lt 120 ] || { show_log; scontrol show job "$job" >&2; fail "[$case] job $job was not requeued within 120 s"; }
      sleep 0.5
    done
    say "[$case] job $job requeued after $((SECONDS - t)) s; $lost is $(sinfo -h -n "$lost" -o %T)"
    # No step of the job may live on in the hosts that still answer (a hang would).
    t=$SECONDS
    while ps -eo pid=,args= | grep "slurmstepd: \[$job\." | grep -v grep | awk '{print $1}' |
          grep -vxF -f <(ip netns pids "$(slurm_host_ns "$k")"; echo none) -q; do
      [ $((SECONDS - t)) -lt 60 ] || { ps -eo pid,args | grep slurmstepd >&2; fail "[$case] steps of job $job still run 60 s after the requeue"; }
      sleep 0.5
    done
    say "[$case] no step of job $job left on the other hosts after $((SECONDS - t)) s"
    done_before=$($PY -c 'import h5py,sys,numpy
f = h5py.File(sys.argv[1], "r"); print(" ".join(map(str, numpy.flatnonzero(f["progress/done"][:]))))' "$WORK/cohort/cohort.h5")
    snapshot=$(unit_log_sizes)
    sleep 2
    scontrol update JobId="$job" StartTime=now || fail "scontrol update StartTime=now failed"
    wait_done "$job" 240
    rerun_hosts=($(job_hosts "$job"))
    say "[$case] job $job COMPLETED on ${rerun_hosts[*]} after the requeue"
    [[ " ${rerun_hosts[*]} " != *" $lost "* ]] || fail "[$case] the requeued job ran on the lost host $lost"
    $PY - "$UNITS" "$snapshot" "$done_before" <<'EOF' || fail "[$case] units done before the loss were computed again"
import glob, sys
sizes = dict(item.rsplit(":", 1) for item in sys.argv[2].split())
done = set(map(int, sys.argv[3].split()))
rerun = set()
for path in glob.glob(sys.argv[1] + ".*"):
    rerun |= {int(x) for x in open(path).read().split()[int(sizes.get(path, 0)):]}
print(f"slurm_hosts: {len(done)} units done before the loss, {len(rerun)} computed after the requeue, "
      f"{len(done & rerun)} of them again")
sys.exit(0 if rerun and not done & rerun else 1)
EOF
    $PY "$HERE/slurm_compare.py" "$WORK/cohort/cohort.h5" "$WORK/reference.h5" --ranks 4 ||
      fail "[$case] the file after losing $lost differs from the uninterrupted one"
    # The lost host comes back for the next case.
    if [ "$case" = cut ]; then slurm_host_kill "$k"; slurm_host_restore "$k"; fi
    slurm_host_kill "$k"
    slurm_host_start_slurmd "$k"
    t=$SECONDS
    until [ "$(sinfo -h -n "$lost" -o %T)" = idle ]; do
      [ $((SECONDS - t)) -lt 60 ] || fail "$lost did not come back"
      sleep 0.5
    done
  done
  ;;
*)
  fail "unknown mode '$MODE' (run or node-lost)" ;;
esac
say "PASS ($MODE)"
