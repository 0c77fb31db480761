"""A thousand small slides over 16 ranks with the null model (its outputs are the slide index
and the tile row): every unit done exactly once, every row holding its own (slide, row), no hang.
usage: null_many.py BIN WORK"""
import os
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import mpirun, run, synth  # noqa: E402

binary, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
synth(binary, work, "--slides", "1000", "--size", "700x600", "--levels", "1")
out = os.path.join(work, "null.h5")
unit_log = os.path.join(work, "units")
run(mpirun(binary, 16, ["run", "--slides", os.path.join(work, "manifest.csv"), "--model", "null", "--output", out,
                        "--threads", "1", "--readers", "1", "--unit-tiles", "4", "--checkpoint-interval", "2"]),
    env={"WSI_TEST_UNIT_LOG": unit_log}, log=out + ".log")
computed = []
for r in range(16):
    computed += [int(line) for line in open(f"{unit_log}.{r}")]
with h5py.File(out, "r") as f:
    units = f["progress/units"][:]
    assert sorted(computed) == list(range(len(units))), "a unit ran twice or never"
    assert f["progress/done"][:].all()
    assert (f["slides/status"][:] == 1).all()
    rows = f["tiles/probabilities"][:]
    slide_of_row = f["tiles/slide"][:]
    assert np.array_equal(rows[:, 0], slide_of_row.astype(np.float32)), "a row landed in another slide's place"
    assert np.array_equal(rows[:, 1], np.arange(len(rows), dtype=np.float32)), "a row landed in another row"
    ranks_used = np.unique(f["progress/rank"][:])
print(f"{len(units)} units, {len(rows)} rows over {len(ranks_used)} ranks: all in place")
