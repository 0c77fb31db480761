"""`wsi-mpi render` and `wsi-mpi inspect` on a synthetic cohort (synth + run): an overlay per
slide, one slide by id, usage errors (exit 2, naming the id or file), and inspect's text and JSON
against the cohort file read with h5py. (The overlay's pixels, blend and legend: the unit tests in
tests/unit/render/test_overlay.cpp.)
usage: render_cli.py BIN WORK"""
import json
import os
import shutil
import subprocess
import sys

import cv2
import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import environment, run, slides, synth  # noqa: E402

binary, work = sys.argv[1:3]
shutil.rmtree(work, ignore_errors=True)
synth(binary, os.path.join(work, "cohort"), "--slides", "2", "--size", "3000x2000")
run([binary, "run", "--job", os.path.join(work, "cohort", "job.ini"), "--threads", "2"])
cohort = os.path.join(work, "cohort", "cohort.h5")
rows = slides(cohort)
assert [r["status"] for r in rows] == [1, 1], rows
with h5py.File(cohort, "r") as f:
    keys = list(f["/slides/key"].asstr()[()])
    classes = len(f["/job/class_names"])
    units = len(f["/progress/units"])
    tiles = int(f["/slides/tile_count"][()].sum())
    maps = {k: f[f"/maps/{k}/prediction"][()] for k in keys}
assert classes == 4, classes


def command(*args):
    result = subprocess.run([binary] + list(args), env=environment(), capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout + result.stderr


# One overlay per slide: larger than its map (at least 512 px on the long side), with a legend.
status, text = command("render", cohort, "--output", os.path.join(work, "out"))
assert status == 0, text
for key in keys:
    picture = cv2.imread(os.path.join(work, "out", key + ".overlay.png"), cv2.IMREAD_COLOR)
    assert picture is not None, key
    h, w = maps[key].shape
    assert picture.shape[0] >= h and picture.shape[1] >= w and max(picture.shape[:2]) >= 512, (picture.shape, h, w)
    assert len(np.unique(maps[key])) >= 3, "the map shows background and at least two classes"
    assert len(np.unique(picture.reshape(-1, 3), axis=0)) > 10, f"{key}: a flat picture"

# One slide, by id; an unknown id is exit 2 naming it; no --output is exit 2.
status, text = command("render", cohort, "--slide", "slide_002", "--output", os.path.join(work, "one"))
assert status == 0, text
assert os.path.exists(os.path.join(work, "one", "slide_002.overlay.png"))
assert not os.path.exists(os.path.join(work, "one", "slide_001.overlay.png"))
status, text = command("render", cohort, "--slide", "no_such_slide", "--output", os.path.join(work, "none"))
assert status == 2 and "wsi-mpi render: error:" in text and "no_such_slide" in text, (status, text)
status, text = command("render", cohort)
assert status == 2, (status, text)

# inspect: text and JSON.
status, text = command("inspect", cohort)
assert status == 0, text
for part in ("slide_001", "slide_002", "done", "classify", "0.5 mpp", "resumable:  no", f"{units} of {units}",
             "numerics:     fp32 NCHW optimize_for_inference, batch 8 (rule, "):
    assert part in text, (part, text)
status, text = command("inspect", cohort, "--json")
assert status == 0, text
d = json.loads(text)
t = d["totals"]
assert (t["slides"], t["slides_done"], t["slides_failed"], t["slides_pending"]) == (2, 2, 0, 0), t
assert (t["units_done"], t["units_total"], t["tiles_done"], t["tiles_total"]) == (units, units, tiles, tiles), t
assert d["resumable"] is False and d["end_state"] == "complete" and d["format_version"] == 5, d
assert d["job"]["mode"] == "classify" and d["job"]["resolution"] == "0.5 mpp", d["job"]
assert d["job"]["numeric_config"]["decided_by"] == "rule" and d["job"]["numeric_config"]["batch_size"] == 8, d["job"]
assert [s["id"] for s in d["slides"]] == ["slide_001", "slide_002"]
assert all(s["status"] == "done" and s["top_classes"] for s in d["slides"]), d["slides"]

# A missing file and a file that is no cohort: exit 2, naming the file.
missing = os.path.join(work, "missing.h5")
status, text = command("inspect", missing)
assert status == 2 and "missing.h5" in text, (status, text)
other = os.path.join(work, "not-a-cohort.h5")
open(other, "w").write("hello\n")
for args in (["inspect", other, "--json"], ["render", other, "--output", os.path.join(work, "x")]):
    status, text = command(*args)
    assert status == 2 and "not-a-cohort.h5" in text, (args, status, text)
print("render_cli OK")
