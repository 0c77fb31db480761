"""The known-layout test: the demo model on a synthetic slide read at an mpp other than the
slide's own must put every class where the slide's ground truth has it. A swapped x/y, an
off-by-one scale or a wrong level would misplace the regions.
usage: known_layout.py BIN WORK"""
import os
import shutil
import sys

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import class_at, read_layout, run, slides, synth, uniform_truth  # noqa: E402

binary, work = sys.argv[1:3]
shutil.rmtree(work, ignore_errors=True)
WIDTH, HEIGHT = 9000, 6500
# Slide at 0.25 mpp, 4 levels; patches read at 0.3 mpp: level 0, shrunk by 0.833 (cubic).
synth(binary, work, "--slides", "1", "--size", f"{WIDTH}x{HEIGHT}", "--mpp", "0.25", "--levels", "4", "--seed", "7")
cohort = os.path.join(work, "cohort.h5")
run([binary, "run", "--job", os.path.join(work, "job.ini"), "--resolution", "0.3", "--threads", "2", "--overwrite"])
rows = slides(cohort)
assert len(rows) == 1 and rows[0]["status"] == 1, rows
with h5py.File(cohort, "r") as f:
    prediction = f[f"/maps/{f['/slides/key'].asstr()[0]}/prediction"][()]
# Overview 4 mpp of a 0.25 mpp slide, read at level 3: round(round(9000 / 8) * 0.5) = 562
# (562.5 rounds half to even), round(round(6500 / 8) * 0.5) = round(406.5) = 406.
assert prediction.shape == (406, 562), prediction.shape

layout = read_layout(os.path.join(work, "layouts", "slide_001.csv"))
margin = 224 * 0.3 / 0.25  # level-0 px of one patch
truth, cx, cy = uniform_truth(layout, WIDTH, HEIGHT, 562, 406, margin)
compared = truth != -2
agrees = prediction == truth + 1
tissue = compared & (truth >= 0)
fraction = agrees[compared].mean()
tissue_fraction = agrees[tissue].mean()
print(f"compared {compared.sum()} pixels ({tissue.sum()} tissue): {fraction:.4f} agree, tissue {tissue_fraction:.4f}")
assert tissue.sum() > 5000
assert fraction > 0.98 and tissue_fraction > 0.98

# The same comparison with x and y swapped must fail: the check can see a transposed map.
swapped = class_at(layout, cy * WIDTH / HEIGHT, cx * HEIGHT / WIDTH)
swapped_tissue = compared & (swapped >= 0)
swapped_fraction = (prediction == swapped + 1)[swapped_tissue].mean()
print(f"transposed: tissue {swapped_fraction:.4f} agree")
assert swapped_fraction < 0.5
print("known_layout OK")
