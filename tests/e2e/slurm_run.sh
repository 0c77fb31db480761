#!/usr/bin/env bash
# wsi-mpi under a real single-node Slurm cluster that this test starts itself
# (tests/e2e/slurm_cluster.sh), through the real slurm/wsi-mpi.sbatch, unchanged: the test
# gives it the binary and the job through WSI_MPI and its first argument, and sizes the job
# with sbatch options (which win over the script's #SBATCH lines).
#
#   slurm_run.sh run     WSI_MPI_BINARY WORKDIR   # sbatch -n 2, wait, file complete and equal
#                                                 # to an `mpirun -n 1` run of the same job
#   slurm_run.sh preempt WSI_MPI_BINARY WORKDIR   # USR1 mid-run, twice: the script requeues
#                                                 # itself; a third time: the requeue cap
#                                                 # holds; scancel: not requeued; resubmit:
#                                                 # the final file equals an uninterrupted
#                                                 # run's
#
# Fails (never skips) when Slurm or munge cannot start.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEST=slurm_run
# shellcheck source=slurm_job.sh
source "$HERE/slurm_job.sh" "$@"
slurm_cluster_start
say "cluster up ($SLURM_CONF)"

# sbatch of the real script: 2 ranks of 1 core on this 2-core node, logs in WORK.
OVERCOMMIT=()
[ "$(nproc)" -ge 2 ] || OVERCOMMIT=(--overcommit)   # 2 ranks even on a 1-core machine
submit() {   # submit JOB.ini [WSI_MAX_REQUEUES] -> prints the job id
  (cd "$WORK" && WSI_MPI=$BIN WSI_MAX_REQUEUES=${2:-10} sbatch --parsable --job-name="wsi-$MODE" -N 1 -n 2 \
     --ntasks-per-node=2 --cpus-per-task=1 --time=10:00 "${OVERCOMMIT[@]}" \
     --output="$LOG" --error="$WORK/slurm.err" "$SBATCH_SCRIPT" "$1") ||
    fail "sbatch refused the job"
}

check_complete() {   # check_complete FILE.h5: inspect --json says complete, every slide done
  "$BIN" inspect "$1" --json > "$WORK/inspect.json" || fail "wsi-mpi inspect $1 failed"
  $PY - "$WORK/inspect.json" <<'EOF' || fail "the cohort file is not complete"
import json, sys
j = json.load(open(sys.argv[1]))
t = j["totals"]
ok = (j["end_state"] == "complete" and t["slides_done"] == t["slides"] > 0 and
      t["slides_failed"] == 0 and t["units_done"] == t["units_total"] and
      t["tiles_done"] == t["tiles_total"] > 0 and
      all(s["status"] == "done" for s in j["slides"]))
print("slurm_run: inspect:", j["end_state"], t)
sys.exit(0 if ok else 1)
EOF
}

progress() {   # progress FILE.h5.progress.json -> "state units_done units_total" (or "none 0 0")
  $PY - "$1" <<'EOF'
import json, sys
try:
    j = json.load(open(sys.argv[1]))
    print(j["state"], j["units_done"], j["units_total"])
except Exception:
    print("none 0 0")
EOF
}

case "$MODE" in
run)
  synth_cohort --slides 3 --size 3000x2500
  job=$(submit "$WORK/cohort/job.ini")
  say "submitted job $job"
  wait_done "$job" 180
  say "job $job COMPLETED"
  grep -q "wsi-mpi exited 0" "$LOG" || { show_log; fail "the batch script did not report exit 0"; }
  check_complete "$WORK/cohort/cohort.h5"
  reference "$WORK/cohort/job.ini" "$WORK/reference.h5"
  say "reference run done"
  $PY "$HERE/slurm_compare.py" "$WORK/cohort/cohort.h5" "$WORK/reference.h5" --ranks 2 ||
    fail "the Slurm cohort file differs from the mpirun -n 1 one"
  ;;

preempt)
  # About 3800 tiles in 240 units of 16 tiles, a checkpoint every second, small batches: the
  # Slurm run lasts 15-30 s on 2 cores, long enough to be stopped twice in the middle.
  synth_cohort --slides 8 --size 8000x6000
  JOB=$WORK/cohort/preempt.ini
  grep -v -e '^unit-tiles' -e '^checkpoint-interval' -e '^batch-size' "$WORK/cohort/job.ini" > "$JOB"
  printf 'unit-tiles = 16\ncheckpoint-interval = 1\nbatch-size = 2\n' >> "$JOB"
  say "cohort made"
  reference "$JOB" "$WORK/reference.h5"
  say "uninterrupted reference run done"
  # The runner's test hooks keep the Slurm runs long enough to be stopped four times in the
  # middle however fast the machine is: a pause after every unit caps the job at 2 ranks x 10
  # units/s (each round, from start to stop, takes 1-3 s: 20-60 of the ~230 units), and a short
  # pause in every checkpoint. sbatch passes the environment on.
  export WSI_TEST_UNIT_PAUSE=0.1 WSI_TEST_EPOCH_PAUSE=0.3

  PROGRESS=$WORK/cohort/cohort.h5.progress.json
  last_done=0
  # Waits until the running job has checkpointed units beyond $last_done, then signals it.
  stop_midway() {   # stop_midway ROUND JOBID COMMAND...
    local round=$1 job=$2 t=$SECONDS state units total st
    shift 2
    while :; do
      read -r state units total < <(progress "$PROGRESS")
      if [ "$state" = running ] && [ "$units" -gt "$last_done" ] && [ "$units" -lt "$total" ]; then break; fi
      [ "$state" != complete ] || fail "the job completed before it could be stopped (round $round)"
      [ $((SECONDS - t)) -lt 120 ] || { show_log; fail "no progress within 120 s (round $round)"; }
      st=$(slurm_job_state "$job")
      case "$st" in PENDING|RUNNING|REQUEUED|CONFIGURING|"") ;;
        *) show_log; fail "job $job is $st while waiting for progress (round $round)" ;; esac
      sleep 0.2
    done
    "$@" "$job"
    say "round $round: '$* $job' at $units/$total units done"
  }
  stopped_progress() {   # the progress file says stopped, with units left; sets last_done
    local state total
    read -r state last_done total < <(progress "$PROGRESS")
    [ "$state" = stopped ] || fail "progress says '$state' after the stop, expected 'stopped'"
    [ "$last_done" -lt "$total" ] || fail "all units done before the stop: nothing was interrupted"
  }

  # Job 1, at most 2 requeues. Round 1: `scancel -s USR1 JOBID` signals the job's steps (the
  # srun tasks), not the batch shell. Round 2: `scancel --batch -s USR1` signals only the batch
  # shell, as --signal=B:USR1@300 does before the time limit: the script's trap forwards it to
  # srun. Both times the ranks exit 75 and the script requeues the job.
  job=$(submit "$JOB" 2)
  say "submitted job $job (WSI_MAX_REQUEUES=2)"
  for round in 1 2; do
    if [ "$round" = 1 ]; then stop_midway $round "$job" scancel -s USR1
    else stop_midway $round "$job" scancel --batch -s USR1; fi
    t=$SECONDS
    while [ "$(slurm_job_field "$job" Restarts)" != "$round" ]; do
      [ $((SECONDS - t)) -lt 60 ] ||
        { show_log; scontrol show job "$job" >&2; fail "job $job was not requeued (round $round)"; }
      sleep 0.2
    done
    slurm_wait_state "$job" PENDING 60
    stopped_progress
    say "round $round: requeued (Restarts=$round), $last_done units done"
    # Slurm holds a requeued job back for about 2 minutes (Reason=BeginTime): start it now
    # (slurm_cluster.sh says why it waits a little first).
    slurm_release_requeued "$job"
  done
  # Round 3: the cap. The job stops resumably (75) but does not requeue a third time.
  stop_midway 3 "$job" scancel -s USR1
  slurm_wait_state "$job" FAILED 60
  [ "$(slurm_job_field "$job" Restarts)" = 2 ] || fail "job $job: expected Restarts=2 at the cap"
  [ "$(slurm_job_field "$job" ExitCode)" = "75:0" ] ||
    { show_log; fail "job $job: expected ExitCode 75:0, got $(slurm_job_field "$job" ExitCode)"; }
  [ "$(grep -c "requeueing job $job" "$LOG")" = 2 ] ||
    { show_log; fail "the batch script did not requeue itself exactly twice"; }
  grep -q "not requeued (2 requeues reached WSI_MAX_REQUEUES)" "$LOG" "$WORK/slurm.err" ||
    { show_log; fail "the batch script did not stop at the cap"; }
  stopped_progress
  say "round 3: job $job stopped at the cap (FAILED, exit 75, Restarts=2), $last_done units done"

  # Round 4: a user's `scancel JOBID` (TERM): the ranks checkpoint, the job is not requeued.
  job=$(submit "$JOB")
  say "submitted job $job to resume"
  stop_midway 4 "$job" scancel
  slurm_wait_state "$job" CANCELLED 60
  slurm_wait_steps_gone "$job"
  sleep 1
  [ "$(slurm_job_state "$job")" = CANCELLED ] && [ "$(slurm_job_field "$job" Restarts)" = 0 ] ||
    { show_log; scontrol show job "$job" >&2; fail "a cancelled job was requeued"; }
  stopped_progress
  say "round 4: job $job cancelled and not requeued, $last_done units done"

  # And once more: it resumes and completes (without the pauses: nothing stops this one).
  job=$(WSI_TEST_UNIT_PAUSE=0 WSI_TEST_EPOCH_PAUSE=0 submit "$JOB")
  say "submitted job $job to finish"
  wait_done "$job" 180
  say "job $job COMPLETED"
  grep -qi "resum" "$LOG" || { show_log; fail "the later runs did not resume"; }
  check_complete "$WORK/cohort/cohort.h5"
  $PY "$HERE/slurm_compare.py" "$WORK/cohort/cohort.h5" "$WORK/reference.h5" --ranks 2 \
      --all-ranks-computed || fail "the pre-empted cohort file differs from the uninterrupted one"
  ;;
*)
  fail "unknown mode '$MODE' (run or preempt)" ;;
esac
say "PASS ($MODE)"
