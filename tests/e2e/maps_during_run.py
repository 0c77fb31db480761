"""Maps beside inference, one visit per slide, and the plan made ahead (issue: cohort scale).

1. A slide's maps are in the file while another slide still has units to compute: the job is
   slowed by a per-unit pause, killed (SIGKILL) as soon as its progress file says one slide is
   done, and the file is read: that slide has status done and its final prediction map, the
   other has units not done. The resumed job does not plan again, computes no unit that was
   done, and ends with the file of an uninterrupted run.
2. `wsi-mpi plan` on 2 ranks, then `wsi-mpi run` on 1: the same file as one `run`, no planning.
3. --no-thumbnail keeps no thumbnail (render reads the slide), --thumbnail-resolution sets its size.
usage: maps_during_run.py BIN WORK"""
import os
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import assert_same_results, environment, mpirun, progress, reference_cohort, run  # noqa: E402

binary, work = sys.argv[1], sys.argv[2]
common_args = ["--threads", "1", "--unit-tiles", "4", "--batch-size", "4"]
job, reference = reference_cohort(binary, work, ["--slides", "2", "--size", "5000x3800"], common_args)
with h5py.File(reference, "r") as f:
    keys = [k.decode() for k in f["slides/key"][()]]
    units = f["progress/units"][()]
    assert (f["slides/status"][()] == 1).all()
    assert all(f[f"maps/{k}/prediction"][()].any() for k in keys)
    last_unit_of_first = int(np.flatnonzero(units[:, 0] == 0).max())
print(f"reference: {len(units)} units, slide 0 ends at unit {last_unit_of_first}")


# 1. Maps written while inference goes on; a kill then, and a resume.
live = os.path.join(work, "live.h5")
unit_log = os.path.join(work, "live.units")
with open(live + ".log", "w") as log:
    launcher = subprocess.Popen(
        mpirun(binary, 1, ["run", "--job", job, "--output", live, "--checkpoint-interval", "1"] + common_args),
        env=environment({"WSI_TEST_UNIT_PAUSE": "0.1", "WSI_TEST_UNIT_LOG": unit_log}), stdout=log,
        stderr=subprocess.STDOUT)
deadline = time.time() + 120
seen = {}
while time.time() < deadline and launcher.poll() is None:
    seen = progress(live)
    if seen.get("slides_done", 0) >= 1:
        break
    time.sleep(0.05)
assert launcher.poll() is None, "the job ended before a slide's maps were reported: " + open(live + ".log").read()
subprocess.run(["pkill", "-KILL", "-P", str(launcher.pid), "-x", "wsi-mpi"])
launcher.kill()
launcher.wait()
assert seen["units_done"] < seen["units_total"], seen
with h5py.File(live, "r") as f, h5py.File(reference, "r") as r:
    status = f["slides/status"][()].tolist()
    done = f["progress/done"][()]
    assert status[0] == 1, f"slide 0 not done in the file after its maps were reported: {status}"
    np.testing.assert_array_equal(f[f"maps/{keys[0]}/prediction"][()], r[f"maps/{keys[0]}/prediction"][()])
    np.testing.assert_array_equal(f["slides/class_fractions"][0], r["slides/class_fractions"][0])
    pending = int((done[units[:, 0] == 1] == 0).sum())
    assert status[1] == 0 and pending > 0, (status, pending)
    done_before = set(np.flatnonzero(done).tolist())
print(f"killed with slide 0 done (maps in the file) and {pending} units of slide 1 pending")
os.rename(unit_log + ".0", unit_log + ".killed")
run(mpirun(binary, 1, ["run", "--job", job, "--output", live, "--checkpoint-interval", "1"] + common_args),
    env={"WSI_TEST_UNIT_LOG": unit_log}, log=live + ".resume.log")
resume_log = open(live + ".resume.log").read()
def planned(log):  # the planning progress line and the "planned N tiles" line
    return "planning:" in log or "planning (" in log or "] info: planned " in log


assert not planned(resume_log) and "units left to compute" in resume_log, resume_log
recomputed = {int(line) for line in open(unit_log + ".0")}
assert not recomputed & done_before, sorted(recomputed & done_before)
assert_same_results(reference, live)
print(f"resumed without planning, {len(recomputed)} units computed: identical to the reference")

# 2. The plan made ahead (2 ranks), the run continues from it (1 rank).
ahead = os.path.join(work, "ahead.h5")
run(mpirun(binary, 2, ["plan", "--job", job, "--output", ahead] + common_args), log=ahead + ".plan.log")
with h5py.File(ahead, "r") as f:
    assert not f["progress/done"][()].any() and (f["slides/status"][()] == 0).all()
    assert all(f[f"maps/{k}/tissue"][()].any() for k in keys), "the plan holds the tissue masks"
    assert not f["job/numeric_config"][()].strip(b"\0"), "planning decided a numeric configuration"
run(mpirun(binary, 2, ["plan", "--job", job, "--output", ahead] + common_args), log=ahead + ".plan2.log")
assert "was planned already" in open(ahead + ".plan2.log").read()
run(mpirun(binary, 1, ["run", "--job", job, "--output", ahead] + common_args), log=ahead + ".log")
assert planned(open(ahead + ".plan.log").read()) and not planned(open(ahead + ".log").read())
assert_same_results(reference, ahead)
print("plan on 2 ranks, then run on 1 (which records the numeric configuration): identical to the reference")

# 3. Thumbnail options.
bare = os.path.join(work, "bare.h5")
run(mpirun(binary, 1, ["run", "--job", job, "--output", bare, "--no-thumbnail"] + common_args))
fine = os.path.join(work, "fine.h5")
run(mpirun(binary, 1, ["run", "--job", job, "--output", fine, "--thumbnail-resolution", "4"] + common_args))
with h5py.File(bare, "r") as b, h5py.File(fine, "r") as t, h5py.File(reference, "r") as r:
    for k in keys:
        assert "thumbnail" not in b[f"maps/{k}"]
        np.testing.assert_array_equal(b[f"maps/{k}/prediction"][()], r[f"maps/{k}/prediction"][()])
        assert t[f"maps/{k}/thumbnail"].shape == r[f"maps/{k}/prediction"].shape + (3,)
        assert r[f"maps/{k}/thumbnail"].shape[0] * 4 in range(r[f"maps/{k}/prediction"].shape[0] - 4,
                                                             r[f"maps/{k}/prediction"].shape[0] + 5)
for name, path in (("bare", bare), ("fine", fine)):
    out = os.path.join(work, f"render-{name}")
    run([binary, "render", path, "--output", out])
    assert all(os.path.getsize(os.path.join(out, f"{k}.overlay.png")) > 1000 for k in keys), name
print("--no-thumbnail and --thumbnail-resolution: maps unchanged, render works")
print("maps_during_run OK")
