"""One rank's failure ends the job on every rank (issue: never hang, never crash).

For 2 and 3 ranks and every phase (start, planning, epoch, grow, maps, finalize) the test hook
WSI_TEST_FAIL=RANK:PHASE makes the last rank throw there. Each run must end within 60 s with
exit status 1, the failing rank's own message and the others' "stopped because rank N failed",
and a healthy rerun of the same command must finish with the file of an uninterrupted run.
A real MPI error on one rank (a send to a rank that does not exist) takes the same path: exit 1,
the rank's "MPI failed ..." message, the others naming it. A rank that dies of SIGSEGV ends the
job on every rank within 30 s, saying which rank died. Then the failures seen by users: MPMD command lines where rank 1 cannot load its model or has a
bad option (exit 2 everywhere, both messages), rank 1 under `ulimit -f` (exit 1, before the file
is made), and a second job on an output another job holds (exit 2, naming host and pid).
usage: fault_injection.py BIN WORK"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import assert_same_results, environment, mpirun, reference_cohort, run  # noqa: E402

binary, work = sys.argv[1], sys.argv[2]
args = ["--threads", "1", "--unit-tiles", "8", "--checkpoint-interval", "0.5"]
job, reference = reference_cohort(binary, work, ["--slides", "3", "--size", "4000x3000"], args)


def attempt(name, command, env=None):
    """Runs `command`; returns (exit status, seconds, merged output)."""
    log = os.path.join(work, name + ".log")
    start = time.time()
    with open(log, "w") as out:
        status = subprocess.run(command, env=environment(env), stdout=out, stderr=subprocess.STDOUT,
                                timeout=120).returncode
    return status, time.time() - start, open(log).read()


def expect(name, status, seconds, text, want_status, failing, cause, others):
    assert status == want_status, f"{name}: exit {status}, expected {want_status}\n{text[-3000:]}"
    assert seconds < 60, f"{name}: took {seconds:.0f} s"
    own = [line for line in text.splitlines()
           if cause in line and line.endswith(f"(rank {failing})") and "stopped because" not in line]
    assert own, f"{name}: no message of the failing rank\n{text[-3000:]}"
    told = text.count(f"stopped because rank {failing} failed")
    assert told >= others, f"{name}: {told} of {others} other ranks said why they stopped\n{text[-3000:]}"


def rerun_equals_reference(name, output, ranks):
    run(mpirun(binary, ranks, ["run", "--job", job, "--output", output] + args), log=output + ".rerun.log")
    assert_same_results(reference, output)


for ranks in (2, 3):
    failing = ranks - 1
    for phase in ("start", "planning", "epoch", "grow", "maps", "finalize"):
        name = f"fail-{ranks}-{phase}"
        output = os.path.join(work, name + ".h5")
        status, seconds, text = attempt(name, mpirun(binary, ranks, ["run", "--job", job, "--output", output] + args),
                                        {"WSI_TEST_FAIL": f"{failing}:{phase}"})
        expect(name, status, seconds, text, 1, failing, f"failure injected at {phase}", ranks - 1)
        rerun_equals_reference(name, output, ranks)
        print(f"{name}: exit 1 after {seconds:.1f} s, every rank said why; the rerun equals the reference")



def ranks_left(output):
    """Processes still running whose command line names `output` (ranks that outlived mpirun)."""
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if output.encode() in f.read():
                    left.append(int(pid))
        except OSError:
            pass
    return left


# MPI errors return to our code (MPI_ERRORS_RETURN) and end the job like any other error.
for phase in ("start", "epoch", "grow"):
    name = f"mpi-error-{phase}"
    output = os.path.join(work, name + ".h5")
    status, seconds, text = attempt(name, mpirun(binary, 2, ["run", "--job", job, "--output", output] + args),
                                    {"WSI_TEST_FAIL": f"1:{phase}:mpi"})
    expect(name, status, seconds, text, 1, 1, "MPI failed sending a message on rank 1", 1)
    assert not ranks_left(output), f"{name}: ranks outlived mpirun"
    rerun_equals_reference(name, output, 2)
    print(f"{name}: exit 1 after {seconds:.1f} s with MPI's error named on rank 1; the rerun equals the reference")

# A rank that dies of a fatal signal: every rank ends within 30 s, none outlives the launcher.
name = "signal"
output = os.path.join(work, name + ".h5")
status, seconds, text = attempt(name, mpirun(binary, 2, ["run", "--job", job, "--output", output] + args),
                                {"WSI_TEST_FAIL": "1:epoch:signal"})
assert status != 0 and seconds < 30, f"{name}: exit {status} after {seconds:.0f} s\n{text[-3000:]}"
assert "rank 1 died of a fatal signal" in text, f"{name}: the dying rank did not say so\n{text[-3000:]}"
assert not ranks_left(output), f"{name}: ranks outlived mpirun"
rerun_equals_reference(name, output, 2)
print(f"{name}: rank 1 died of SIGSEGV; every rank ended after {seconds:.1f} s (exit {status}); "
      "the rerun equals the reference")

# MPMD: rank 1 cannot load its model / has a bad option: exit 2 on every rank, before any file.
for name, extra, cause in (("mpmd-model", ["--model", os.path.join(work, "missing.pt")], "missing.pt"),
                           ("mpmd-option", ["--patch", "-5"], "--patch must be positive, got -5")):
    output = os.path.join(work, name + ".h5")
    base = ["run", "--job", job, "--output", output] + args
    command = ["mpirun", "-n", "1", "--bind-to", "none", binary] + base + [":", "-n", "1", binary] + base + extra
    status, seconds, text = attempt(name, command)
    expect(name, status, seconds, text, 2, 1, cause, 1)
    assert not os.path.exists(output), f"{name}: a file was made"
    rerun_equals_reference(name, output, 2)
    print(f"{name}: exit 2 on every rank after {seconds:.1f} s, both messages; the rerun equals the reference")

# A file-size limit on rank 1 only: the job stops before the file is made.
name = "ulimit"
output = os.path.join(work, name + ".h5")
base = ["run", "--job", job, "--output", output] + args
command = (["mpirun", "-n", "1", "--bind-to", "none", binary] + base +
           [":", "-n", "1", "bash", "-c", 'ulimit -f 64; exec "$0" "$@"', binary] + base)
status, seconds, text = attempt(name, command)
expect(name, status, seconds, text, 1, 1, "raise the limit", 1)
rerun_equals_reference(name, output, 2)
print(f"{name}: exit 1 after {seconds:.1f} s naming the limit; the rerun equals the reference")

# One job per output: a second job is refused while the first holds the lock; the first finishes.
name = "lock"
output = os.path.join(work, name + ".h5")
first = subprocess.Popen(mpirun(binary, 1, ["run", "--job", job, "--output", output] + args),
                         env=environment({"WSI_TEST_UNIT_PAUSE": "0.2"}), stdout=subprocess.DEVNULL,
                         stderr=subprocess.STDOUT)
deadline = time.time() + 60
while not os.path.exists(output + ".progress.json") and time.time() < deadline:
    time.sleep(0.1)
status, seconds, text = attempt(name, mpirun(binary, 1, ["run", "--job", job, "--output", output] + args))
assert status == 2 and "is being written by another job (lock" in text and " since " in text, text[-2000:]
assert first.wait(timeout=300) == 0
assert_same_results(reference, output)
assert not os.path.exists(output + ".lock"), "the finished job left its lock file"
print("lock: a second job on the same output is refused (exit 2, host and pid named); the first completes "
      "and leaves no lock file")
# Under a Slurm requeue (SLURM_RESTART_COUNT > 0) --overwrite is applied once: the run resumes.
name = "requeue-overwrite"
status, seconds, text = attempt(name, mpirun(binary, 1, ["run", "--job", job, "--output", output, "--overwrite"] + args),
                                {"SLURM_RESTART_COUNT": "1"})
assert status == 0 and "--overwrite ignored" in text and "0 of" in text and "units left to compute" in text, text
assert_same_results(reference, output)
print("requeue-overwrite: a requeued run with --overwrite resumed the finished file instead of starting over")
print("fault_injection OK")
