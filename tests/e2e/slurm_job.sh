# shellcheck shell=bash disable=SC2034  # MODE, PY, SBATCH_SCRIPT are read by the sourcing test
# What the Slurm end-to-end tests share (slurm_run.sh, slurm_hosts.sh): their arguments, their
# messages, a clean work folder, the batch log, the 1-rank reference run and waiting for a job.
#
#   TEST=slurm_run HERE=<its folder> source "$HERE/slurm_job.sh" "$@"   # MODE BIN WORK
#
# Then MODE, BIN, WORK, LOG, PY and SBATCH_SCRIPT are set and slurm_cluster.sh is sourced.
MODE=${1:?usage: $TEST.sh MODE WSI_MPI_BINARY WORKDIR}
BIN=$(realpath "${2:?wsi-mpi binary}")
WORK=${3:?work directory}
SBATCH_SCRIPT=$HERE/../../slurm/wsi-mpi.sbatch
PY=/usr/bin/python3
T0=$SECONDS

fail() { echo "$TEST: FAIL: $*" >&2; exit 1; }
say() { echo "$TEST: [$((SECONDS - T0)) s] $*"; }

[ -x "$BIN" ] || fail "no wsi-mpi binary at $BIN"
[ -f "$SBATCH_SCRIPT" ] || fail "no $SBATCH_SCRIPT"
rm -rf "$WORK"
mkdir -p "$WORK"
WORK=$(realpath "$WORK")

# The batch script's log, shown when something fails.
LOG=$WORK/slurm.out
show_log() { echo "----- $LOG" >&2; cat "$LOG" "$WORK/slurm.err" >&2 2>/dev/null || true; }

# `mpirun -n 1` of the same job, one thread per rank as the Slurm runs: the reference file.
reference() {   # reference JOB.ini OUT.h5
  mpirun --allow-run-as-root --oversubscribe --bind-to none -n 1 \
    "$BIN" run --job "$1" --threads 1 --output "$2" > "$WORK/reference.log" 2>&1 ||
    { cat "$WORK/reference.log" >&2; fail "the reference run failed"; }
}

synth_cohort() {   # synth_cohort SYNTH-ARGS...: a synthetic cohort, its job file in WORK/cohort
  "$BIN" synth --output "$WORK/cohort" "$@" > "$WORK/synth.log" 2>&1 ||
    { cat "$WORK/synth.log" >&2; fail "synth failed"; }
}

wait_done() {   # wait_done JOBID LIMIT: COMPLETED, exit code 0
  slurm_wait_state "$1" COMPLETED "$2" || { show_log; exit 1; }
  [ "$(slurm_job_field "$1" ExitCode)" = "0:0" ] ||
    { show_log; fail "job $1 completed with ExitCode $(slurm_job_field "$1" ExitCode)"; }
}

# shellcheck source=slurm_cluster.sh
source "$HERE/slurm_cluster.sh"
