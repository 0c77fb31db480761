"""The same job with 1, 2 and 3 ranks on a cohort of very unequal slides, with the defaults a user
gets (threads per rank from the cores: 2, 1 and 1 here; the numeric configuration by the rule):
identical datasets and recorded numeric configuration, one configuration on every rank, every
unit done once, every slide done with its maps, and the largest slide's units computed by at least
two ranks.   usage: mpi_ranks.py BIN WORK"""
import os
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import assert_same_results, mpirun, run, synth  # noqa: E402

binary, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
synth(binary, work, "--slides", "5", "--size", "7000x5000", "--vary-size")
outputs = []
for ranks in (1, 2, 3):
    out = os.path.join(work, f"ranks{ranks}.h5")
    unit_log = os.path.join(work, f"units{ranks}")
    run(mpirun(binary, ranks, ["run", "--job", os.path.join(work, "job.ini"), "--output", out, "--unit-tiles", "16"]),
        env={"WSI_TEST_UNIT_LOG": unit_log}, log=out + ".log")
    computed = []
    for r in range(ranks):
        computed += [int(line) for line in open(f"{unit_log}.{r}")]
    with h5py.File(out, "r") as f:
        units = f["progress/units"][:]
        assert len(computed) == len(units) and sorted(computed) == list(range(len(units))), "a unit ran twice or never"
        assert f["progress/done"][:].all()
        assert (f["slides/status"][:] == 1).all(), f["slides/error"][:]
        for key in f["slides/key"][:]:
            assert f[f"maps/{key.decode()}/prediction"][:].any(), key
        columns = [c.decode() for c in f["stats/ranks"].attrs["columns"]]
        configured = f["stats/ranks"][:, columns.index("channels_last"):]
        assert (configured == configured[0]).all(), f"ranks ran different configurations: {configured}"
        rank_of = f["progress/rank"][:]
        counts = f["slides/tile_count"][:]
        largest = int(np.argmax(counts))
        ranks_on_largest = set(rank_of[units[:, 0] == largest].tolist())
        print(f"{ranks} ranks: {len(units)} units; largest slide ({counts[largest]} tiles) computed by ranks "
              f"{sorted(ranks_on_largest)}")
        if ranks > 1:
            assert len(ranks_on_largest) >= 2, "the largest slide was not shared"
    outputs.append(out)
for other in outputs[1:]:
    names = assert_same_results(outputs[0], other)
print(f"identical over {len(names)} datasets")
