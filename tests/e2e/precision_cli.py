"""The command line's --channels-last and --precision reach the model: runs on a real slide
(CMU-1-Small-Region.svs) with seeded weights whose top class varies over its tiles agree with
fp32 (channels-last within 1e-4, bf16 within 0.03, same argmax); unknown values and fp16 on the
CPU are usage errors (exit 2) naming the option. The numeric configuration the rule decided is in
/job/numeric_config and /stats/ranks: the job's batch size when given, 8 otherwise, and with
--precision auto bf16 exactly on a CPU with native bf16 (AMX / AVX-512-BF16), its results then
within bf16's 0.03; nothing measured.
usage: precision_cli.py BIN SLIDE WORK"""
import json
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
auto = [a for a in base if a not in ("--batch-size", "16")]
run(auto + [out("auto"), "--precision", "auto"])


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

def configuration(name):
    with h5py.File(out(name), "r") as f:
        columns = [c.decode() for c in f["/stats/ranks"].attrs["columns"]]
        recorded = json.loads(f["/job/numeric_config"][()].rstrip(b"\0"))
        return dict(zip(columns, f["/stats/ranks"][0])), recorded


def native_bf16():
    with open("/proc/cpuinfo") as cpuinfo:
        flags = next(line for line in cpuinfo if line.startswith("flags")).split()
    return "amx_bf16" in flags or "avx512_bf16" in flags


(fixed, fixed_json), (auto, auto_json) = configuration("fp32"), configuration("auto")
print(f"--batch-size 16: {fixed_json}\n--precision auto: {auto_json}")
assert fixed["batch_size"] == 16 and fixed["precision"] == 0 and fixed["probe_tiles_per_second"] == 0, fixed
assert fixed_json["batch_size"] == 16 and fixed_json["precision"] == "fp32" and fixed_json["decided_by"] == "rule"
assert fixed_json["optimize_for_inference"] and not fixed_json["channels_last"], fixed_json
assert auto["batch_size"] == 8 and auto["probe_tiles_per_second"] == 0, auto
assert auto_json["precision"] == ("bf16" if native_bf16() else "fp32"), auto_json
assert configuration("nhwc")[1]["channels_last"]
limit = 0.03 if auto["precision"] == 1 else 1e-4
diff = float(np.abs(a - probabilities("auto")).max())
print(f"auto ({'bf16' if auto['precision'] == 1 else 'fp32'}): max |difference| {diff:.6f}")
assert diff < limit, diff

for extra, option in ((["--channels-last", "sideways"], "--channels-last"), (["--precision", "fp16"], None)):
    result = subprocess.run(base + [out("bad")] + extra, env=environment(), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2, (extra, result.returncode, result.stderr[-1000:])
    if option:
        assert option in result.stdout + result.stderr, (extra, result.stderr[-1000:])
print("precision_cli OK")
