"""Resume rules: a changed job is refused (other weights, other stride) with exit 2 and what
differs; another rank count is accepted, and another batch size runs the recorded one; SIGUSR1 / SIGTERM stop with exit 75;
failed slides are retried only with --retry-failed; a full disk during an epoch is exit 1 and the
file resumes once space is back.   usage: resume_rules.py BIN WORK"""
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import tiatoolbox_reference as tia  # noqa: E402
from common import assert_same_results, environment, mpirun, run, stop_at_epoch, synth  # noqa: E402

binary, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)


# 1. Other weights, other stride: refused, saying what differs.
cohort = os.path.join(work, "weights")
synth(binary, cohort, "--slides", "1", "--size", "1800x1400")
for seed in (0, 1):
    tia.save_state_dict(tia.seeded_model("resnet18", 9, [tia.np.zeros((224, 224, 3), tia.np.uint8)] * 2, seed),
                        os.path.join(cohort, f"w{seed}.pth"))
base = [binary, "run", "--slides", os.path.join(cohort, "manifest.csv"), "--model", "resnet18-kather100k",
        "--output", os.path.join(cohort, "out.h5"), "--threads", "2"]
run(base + ["--weights", os.path.join(cohort, "w0.pth")])
log = os.path.join(cohort, "refused.log")
run(base + ["--weights", os.path.join(cohort, "w1.pth")], expect=2, log=log)
assert "weights_sha256" in open(log).read(), open(log).read()
run(base + ["--weights", os.path.join(cohort, "w0.pth"), "--stride", "200"], expect=2, log=log)
assert "stride: 224 -> 200" in open(log).read(), open(log).read()
run(base + ["--weights", os.path.join(cohort, "w1.pth"), "--overwrite"])
print("changed weights and stride refused (exit 2, naming them); --overwrite replaces")

# 2. Stopped by SIGUSR1 (exit 75), resumed with another rank count and batch size.
cohort = os.path.join(work, "stop")
synth(binary, cohort, "--slides", "3", "--size", "5000x4000")
job = os.path.join(cohort, "job.ini")
args = ["--threads", "1", "--unit-tiles", "8", "--checkpoint-interval", "0.2"]
reference = os.path.join(cohort, "reference.h5")
run(mpirun(binary, 1, ["run", "--job", job, "--output", reference, "--batch-size", "4"] + args))
out = os.path.join(cohort, "stopped.h5")
status = stop_at_epoch(mpirun(binary, 2, ["run", "--job", job, "--output", out, "--batch-size", "4"] + args),
                       out + ".log", signal.SIGUSR1)
assert status == 75, status
with h5py.File(out, "r") as f:
    assert f["progress/state"][()] == 2 and not f["progress/done"][:].all()
assert '"state":"stopped"' in open(out + ".progress.json").read()
inspect = subprocess.run([binary, "inspect", out], capture_output=True, text=True).stdout
assert "resumable: yes" in inspect or "resumable" in inspect, inspect
status = stop_at_epoch([binary, "run", "--job", job, "--output", out, "--batch-size", "8"] + args, out + ".log2",
                       signal.SIGTERM)
assert status == 75, status
run(mpirun(binary, 3, ["run", "--job", job, "--output", out, "--batch-size", "2"] + args), log=out + ".log3")
assert "the file's numeric configuration runs batches of 4" in open(out + ".log3").read()
assert_same_results(reference, out)
print("SIGUSR1 and SIGTERM stop with 75; resumed with 3 ranks, asked for another batch size, ran the recorded "
      "one: identical")

# 3. A slide that fails during inference stays failed on resume unless --retry-failed.
slide = os.path.join(cohort, "slide_003.svs")
shutil.copy(slide, slide + ".saved")
out = os.path.join(cohort, "retry.h5")
status = stop_at_epoch([binary, "run", "--job", job, "--output", out, "--batch-size", "4"] + args, out + ".log",
                       signal.SIGUSR1)
assert status == 75, status
with open(slide, "wb") as f:
    f.write(b"damaged")
run([binary, "run", "--job", job, "--output", out] + args, expect=3)
shutil.copy(slide + ".saved", slide)
run([binary, "run", "--job", job, "--output", out] + args, expect=3)
with h5py.File(out, "r") as f:
    assert f["slides/status"][2] == 2 and b"slide_003" in f["slides/error"][2], f["slides/error"][2]
run([binary, "run", "--job", job, "--output", out, "--retry-failed"] + args, expect=0)
assert_same_results(reference, out)
print("a slide failed in inference stays failed on resume, and --retry-failed completes it")

# 4. A full disk during an epoch: exit 1, and the file resumes once there is space again.
disk = os.path.join(work, "disk")
os.makedirs(disk)
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", disk], check=True)
launcher = None
try:
    out = os.path.join(disk, "cohort.h5")
    log = os.path.join(work, "disk.log")
    with open(log, "w") as out_log:
        launcher = subprocess.Popen([binary, "run", "--job", job, "--output", out, "--batch-size", "4"] + args,
                                    env=environment({"WSI_TEST_EPOCH_PAUSE": "0.3"}), stdout=out_log,
                                    stderr=subprocess.STDOUT)
    while "test hook: epoch rows written" not in open(log).read():
        assert launcher.poll() is None, open(log).read()[-2000:]
        time.sleep(0.02)
    # Fill what is left of the disk (unbuffered: nothing left to write, and fail, on close).
    with open(os.path.join(disk, "filler"), "wb", buffering=0) as filler:
        try:
            while filler.write(b"\0" * 65536):
                pass
        except OSError:
            pass
    status = launcher.wait(timeout=120)
    assert status == 1, (status, open(log).read()[-2000:])
    assert "No space left" in open(log).read() or "write" in open(log).read(), open(log).read()[-2000:]
    os.remove(os.path.join(disk, "filler"))
    run([binary, "run", "--job", job, "--output", out, "--batch-size", "4"] + args, log=log + ".resume")
    assert_same_results(reference, out)
finally:
    if launcher is not None and launcher.poll() is None:  # a failed check: the tmpfs is not busy
        launcher.kill()
        launcher.wait()
    subprocess.run(["umount", disk])
print("a full disk stops the job with exit 1; the file resumes once space is back")
