"""Crash consistency: SIGKILL (from outside, by PID) of one rank or of all ranks at chosen and
random moments -- planning, inference, between an epoch's row writes and its done flags, between
an epoch's (compressed) maps write and its flush, after the last unit, the end -- then resume,
possibly with another rank count, and require the file of an uninterrupted run. On a second
cohort of nine slides, whose planning is slowed down, the file grows while the job runs: kills
while slides are still being planned, between the flush of slides appended to the file and the
record that makes them planned (the killed file must still pass `wsi-mpi inspect`), and in the
last epoch, each on 1 and on 3 ranks. A per-rank log of computed units proves that no unit marked done before the
kill runs again. Everything runs with the defaults a user gets (threads from the cores, the numeric
configuration by the rule), so a resume with another rank count also runs other thread counts.
usage: kill_resume.py BIN WORK"""
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import assert_same_results, environment, mpirun, progress, reference_cohort, run  # noqa: E402

binary, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
common_args = ["--unit-tiles", "8", "--checkpoint-interval", "0.3"]
job, reference = reference_cohort(binary, os.path.join(work, "three"), ["--slides", "3", "--size", "6000x4500",
                                                                      "--vary-size"], common_args)
nine = reference_cohort(binary, os.path.join(work, "nine"), ["--slides", "9", "--size", "3000x2000", "--vary-size",
                                                           "--seed", "5"], common_args)


def worker_pids(launcher):
    out = subprocess.run(["pgrep", "-P", str(launcher.pid), "-x", "wsi-mpi"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def done_flags(path):
    if not os.path.exists(path):
        return set()
    with h5py.File(path, "r") as f:
        return set(np.flatnonzero(f["progress/done"][:]).tolist())


def maps_readable(path):
    """Whatever the kill left: every map chunk decompresses (the flushed index never points to
    space a later write reused)."""
    if os.path.exists(path):
        with h5py.File(path, "r") as f:
            for slide in f["maps"].values():
                for data in slide.values():
                    data[()]


def scenario(name, ranks, target, trigger, resume_ranks, cohort=None):
    job, reference = cohort or (globals()["job"], globals()["reference"])
    out = os.path.join(work, f"{name}.h5")
    log = out + ".log"
    unit_log = os.path.join(work, f"{name}.units")
    # A pause between each epoch's rows and flags stretches the run over several seconds, so
    # that kills land mid-run; the "epoch-pause[:N]" cases kill inside the Nth (default: third).
    # A pause after each unit keeps the job running for several seconds on any machine.
    pausing = str(trigger).startswith("epoch-pause")
    extra = {"WSI_TEST_UNIT_LOG": unit_log, "WSI_TEST_EPOCH_PAUSE": "1.0" if pausing else "0.2",
             "WSI_TEST_UNIT_PAUSE": "0.1"}
    if trigger == "maps-pause":
        extra["WSI_TEST_MAPS_PAUSE"] = "1.0"
    if cohort:  # slides planned one by one beside inference
        extra["WSI_TEST_PLAN_PAUSE"] = "0.4"
        extra["WSI_TEST_EPOCH_PAUSE"] = "0"
    if trigger == "grow-pause":
        extra["WSI_TEST_GROW_PAUSE"] = "1.0"
    with open(log, "w") as out_log:
        launcher = subprocess.Popen(mpirun(binary, ranks, ["run", "--job", job, "--output", out] + common_args),
                                    env=environment(extra), stdout=out_log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline and launcher.poll() is None:
        text = open(log).read()
        if isinstance(trigger, float) and time.time() - launcher_start[0] >= trigger:
            break
        if isinstance(trigger, str) and trigger.startswith("epoch-pause"):
            if text.count("rank 0] warning: test hook: epoch rows written") >= int(trigger.partition(":")[2] or 3):
                break
        if trigger == "maps-pause" and "rank 0] warning: test hook: maps written" in text:
            break
        if trigger == "grow-pause" and text.count("rank 0] warning: test hook: slides appended") >= 2:
            break
        if trigger == "planning" and 2 <= progress(out).get("slides_planned", 0) < 9 and \
                progress(out).get("tiles_done", 0) > 0:
            break
        if trigger == "last-epoch" and "planned 9 slides" in text and progress(out).get("units_done", 0) > 0 and \
                progress(out).get("units_done") == progress(out).get("units_total"):
            break
        if trigger == "maps" and "slides done" not in text and os.path.exists(out + ".progress.json") and \
                all(done_flags_quiet(out)):
            break
        time.sleep(0.02)
    pids = worker_pids(launcher)
    finished_before_kill = launcher.poll() is not None
    for pid in (pids[:1] if target == "one" else pids):
        os.kill(pid, signal.SIGKILL)
    if target == "all":
        launcher.kill()
    launcher.wait()
    done_before = done_flags(out)
    maps_readable(out)
    planned_before = progress(out).get("slides_planned")
    if trigger == "grow-pause":  # a partly grown file, killed inside an extension, is a valid file
        run([binary, "inspect", out], log=log + ".inspect")
    for f in os.listdir(work):
        if f.startswith(f"{name}.units."):
            os.rename(os.path.join(work, f), os.path.join(work, f + ".killed"))
    run(mpirun(binary, resume_ranks, ["run", "--job", job, "--output", out] + common_args),
        env={"WSI_TEST_UNIT_LOG": unit_log}, log=log + ".resume")
    recomputed = set()
    for r in range(resume_ranks):
        path = f"{unit_log}.{r}"
        if os.path.exists(path):
            recomputed |= {int(line) for line in open(path)}
    again = done_before & recomputed
    assert not again, f"{name}: units done before the kill ran again: {sorted(again)}"
    assert_same_results(reference, out)
    print(f"{name}: killed {target} of {ranks} ranks ({planned_before} slides planned)"
          f"{' (it had already finished)' if finished_before_kill else ''}, {len(done_before)} units done before, "
          f"{len(recomputed)} computed on resume with {resume_ranks} ranks: identical to the reference")


launcher_start = [0.0]


def done_flags_quiet(path):
    try:
        with h5py.File(path, "r") as f:
            return f["progress/done"][:]
    except Exception:  # noqa: BLE001 -- being written
        return [False]


_original_popen = subprocess.Popen


class TimedPopen(_original_popen):
    def __init__(self, *args, **kwargs):
        launcher_start[0] = time.time()
        super().__init__(*args, **kwargs)


subprocess.Popen = TimedPopen
rng = random.Random(20261125)
cases = [
    ("planning", 2, "all", 0.4, 2),
    ("epoch-one", 2, "one", "epoch-pause", 3),
    ("second-epoch", 3, "all", "epoch-pause:2", 1),
    ("epoch-all", 3, "all", "epoch-pause", 2),
    ("maps", 2, "all", "maps", 1),
    ("maps-write", 2, "all", "maps-pause", 2),
]
for i in range(3):
    cases.append((f"random{i}", rng.choice([2, 3]), rng.choice(["one", "all"]), round(rng.uniform(1.0, 7.0), 2),
                  rng.choice([1, 2, 3])))
for ranks in (1, 3):
    for trigger in ("planning", "grow-pause", "last-epoch"):
        cases.append((f"{trigger}-{ranks}", ranks, "all", trigger, ranks, nine))
for case in cases:
    scenario(*case)
