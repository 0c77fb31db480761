"""`wsi-mpi aggregate` on a synthetic cohort whose tile features come from the demo model
(--model-output features): the mean on 2 ranks against numpy; an attention-MIL slide encoder
(TorchScript, using features and level-0 coords) on 3 ranks against the same module run in
Python; a killed aggregate resumes without computing a slide again and ends with the
uninterrupted embeddings; rank 1 of 2 failing at the start and between two writes ends the job
on every rank with exit 1 and its message (a hang fails on the 120 s guard), and a rerun
finishes with the uninterrupted embeddings; a name made by another model, and a file without features, are refused
(exit 2).
usage: aggregate.py BIN WORK"""
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import environment, mpirun, run, synth  # noqa: E402

binary, work = sys.argv[1:3]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
synth(binary, work, "--slides", "5", "--size", "3000x2400", "--vary-size")
cohort = os.path.join(work, "features.h5")
run([binary, "run", "--job", os.path.join(work, "job.ini"), "--mode", "features", "--model-output", "features",
     "--output", cohort, "--threads", "1"])


class AttentionMIL(nn.Module):
    """Gated-attention pooling (CLAM / ABMIL style) with the tile positions as two extra inputs."""

    def __init__(self, dim, hidden=16, out=6):
        super().__init__()
        self.attention = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.project = nn.Linear(dim + 2, out)

    def forward(self, features: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        a = torch.softmax(self.attention(features).squeeze(1), 0)
        x = torch.cat([features, coords.to(torch.float32) / 10000.0], 1)
        return (a.unsqueeze(1) * self.project(x)).sum(0)


def tiles(f, s):
    start, count = int(f["slides/tile_start"][s]), int(f["slides/tile_count"][s])
    bounds = f["tiles/bounds"][start:start + count].astype(np.float64)
    coords = np.ceil(bounds[:, :2] * float(f["slides/scale"][s])).astype(np.int64)  # CLAM's coords
    return f["tiles/features"][start:start + count], coords


def embeddings(name):
    with h5py.File(cohort, "r") as f:
        return f[f"slides/embeddings/{name}"][:], f[f"progress/embeddings/{name}"][:]


# The mean, on 2 ranks.
run(mpirun(binary, 2, ["aggregate", cohort]))
mean, done = embeddings("mean")
with h5py.File(cohort, "r") as f:
    slides = len(f["slides/key"])
    dim = int(f["job/feature_size"][()])
    assert (done == 1).all() and mean.shape == (slides, dim), (done, mean.shape)
    for s in range(slides):
        features, _ = tiles(f, s)
        np.testing.assert_allclose(mean[s], features.astype(np.float64).mean(0), rtol=1e-6, atol=1e-7)
print(f"mean: {slides} slides x {dim}, equal to numpy's")

# An attention-MIL slide encoder, on 3 ranks.
torch.manual_seed(0)
mil = AttentionMIL(dim).eval()
encoder = os.path.join(work, "abmil.pt")
torch.jit.script(mil).save(encoder)
run(mpirun(binary, 3, ["aggregate", cohort, "--model", encoder, "--output-name", "abmil"]))
got, done = embeddings("abmil")
assert (done == 1).all() and got.shape == (slides, 6), got.shape
with h5py.File(cohort, "r") as f, torch.inference_mode():
    for s in range(slides):
        features, coords = tiles(f, s)
        expected = mil(torch.from_numpy(features), torch.from_numpy(coords)).numpy()
        np.testing.assert_allclose(got[s], expected, rtol=1e-5, atol=1e-6)
print(f"attention MIL: {slides} slides x 6, equal to PyTorch's on the same features and coords")

# Killed mid-way, then resumed: no slide computed twice, the uninterrupted result.
units = os.path.join(work, "slides-computed")
env = environment({"WSI_TEST_UNIT_PAUSE": "1.0", "WSI_TEST_UNIT_LOG": units})
command = [binary, "aggregate", cohort, "--output-name", "resumed", "--slides-per-write", "1"]
process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
deadline = time.time() + 60
while time.time() < deadline and (not os.path.exists(units + ".0") or len(open(units + ".0").read().split()) < 3):
    time.sleep(0.1)
process.send_signal(signal.SIGKILL)
process.wait()
_, done_before = embeddings("resumed")
before = set(np.flatnonzero(done_before))
assert 0 < len(before) < slides, f"kill at the wrong moment: {len(before)} of {slides} done"
logged = len(open(units + ".0").read().split())
run([binary, "aggregate", cohort, "--output-name", "resumed"], env={"WSI_TEST_UNIT_LOG": units})
again = {int(x) for x in open(units + ".0").read().split()[logged:]}
resumed, done = embeddings("resumed")
assert (done == 1).all(), done
assert not before & again, f"slides {sorted(before & again)} computed again"
np.testing.assert_array_equal(resumed, mean)
print(f"resume: {len(before)} slides done before the kill, {len(again)} after, none twice; equal to the mean")

# Rank 1 of 2 fails: at the start (before any collective step), then after computing its first
# slides, before their write. Every rank ends, exit 1, naming rank 1; a rerun finishes the job.
for phase in ("aggregate-start", "aggregate-write"):
    name = "failed-" + phase
    command = mpirun(binary, 2, ["aggregate", cohort, "--output-name", name, "--slides-per-write", "1"])
    result = subprocess.run(command, env=environment({"WSI_TEST_FAIL": "1:" + phase}), capture_output=True,
                            text=True, timeout=120)
    text = result.stdout + result.stderr
    assert result.returncode == 1, (phase, result.returncode, text[-2000:])
    assert "failure injected at " + phase in text and "rank 1" in text, (phase, text[-2000:])
    run(mpirun(binary, 2, ["aggregate", cohort, "--output-name", name]))
    again, done = embeddings(name)
    assert (done == 1).all(), (phase, done)
    np.testing.assert_array_equal(again, mean)
    print(f"rank 1 failing at {phase}: exit 1 on every rank, naming it; the rerun equals the mean")

# Refusals.
for args, what in ((["--model", encoder, "--output-name", "mean"], "made by mean"),
                   (["--model", "no-such-encoder.pt"], "neither")):
    result = subprocess.run([binary, "aggregate", cohort] + args, env=environment(), capture_output=True, text=True)
    assert result.returncode == 2 and what in result.stderr, (args, result.returncode, result.stderr)
classify = os.path.join(work, "classify.h5")
run([binary, "run", "--job", os.path.join(work, "job.ini"), "--output", classify, "--threads", "1"])
result = subprocess.run([binary, "aggregate", classify], env=environment(), capture_output=True, text=True)
assert result.returncode == 2 and "no tile features" in result.stderr, (result.returncode, result.stderr)
print("aggregate OK")
