"""--autotune: the numeric configuration measured once per job and recorded. A tuned 3-rank job runs
one configuration on every rank and stores it in the tuning cache; a tuned 2-rank job is
killed in its second epoch and, with the cache cleared, resumed on 3 ranks: it runs the recorded
configuration (nothing measured) and ends with the file a 2-rank tuned job that reads the same
measurement from the cache computes uninterrupted, bit for bit. A file whose recorded
configuration names another CPU instruction set is refused on resume (exit 2) by every rank.
usage: tuning.py BIN WORK"""
import json
import os
import shutil
import sys

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import assert_same_results, mpirun, run, stop_at_epoch, synth  # noqa: E402

binary, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
synth(binary, work, "--slides", "3", "--size", "5000x4000", "--vary-size")
job = os.path.join(work, "job.ini")
cache = os.path.join(work, "cache", "tuning.json")
args = ["--unit-tiles", "8", "--checkpoint-interval", "0.3", "--autotune", "--tuning-cache", cache]


def tuned(ranks, out):
    return mpirun(binary, ranks, ["run", "--job", job, "--output", out] + args)


def recorded(path):
    with h5py.File(path, "r") as f:
        return json.loads(f["job/numeric_config"][()].rstrip(b"\0"))


def one_configuration_per_job(path):
    with h5py.File(path, "r") as f:
        columns = [c.decode() for c in f["stats/ranks"].attrs["columns"]]
        configured = f["stats/ranks"][:, columns.index("channels_last"):]
    assert (configured == configured[0]).all(), f"{path}: ranks ran different configurations: {configured}"


# 1. Measured by rank 0, run by all three, stored in the cache.
first = os.path.join(work, "first.h5")
run(tuned(3, first), log=first + ".log")
log = open(first + ".log").read()
assert "model.pt: measured" in log and "(measured," in log, log[-2000:]
assert recorded(first)["decided_by"] == "measured" and recorded(first)["measured_tiles_per_second"] > 0
one_configuration_per_job(first)
assert os.path.exists(cache), "the measurement was not stored"
print(f"3 ranks, measured once: {recorded(first)['measurement']}")

# 2. Killed in the second epoch; the cache cleared; resumed on 3 ranks with the recorded one.
os.remove(cache)
resumed = os.path.join(work, "resumed.h5")
stop_at_epoch(tuned(2, resumed), resumed + ".log", epochs=2)
decided = recorded(resumed)
saved = cache + ".saved"
shutil.copy(cache, saved)  # the 2-rank job's measurement, for step 3
os.remove(cache)
run(tuned(3, resumed), log=resumed + ".resume.log")
log = open(resumed + ".resume.log").read()
assert "as the file records" in log and ": measured" not in log, log[-2000:]
assert not os.path.exists(cache), "the resume measured again"
assert recorded(resumed) == decided
one_configuration_per_job(resumed)

# 3. The same measurement read from the cache, uninterrupted: the same bits.
shutil.copy(saved, cache)
again = os.path.join(work, "again.h5")
run(tuned(2, again), log=again + ".log")
assert "from the tuning cache" in open(again + ".log").read()
assert recorded(again) == dict(decided, decided_by="tuning cache"), (recorded(again), decided)
with h5py.File(again, "a") as f:  # the one field that says how the configuration was found
    f["job/numeric_config"][()] = json.dumps(decided, separators=(",", ":")).encode().ljust(4096, b"\0")
names = assert_same_results(again, resumed)
print(f"killed in epoch 2, resumed on 3 ranks with the recorded {decided['precision']} "
      f"{'channels-last' if decided['channels_last'] else 'NCHW'}, batch {decided['batch_size']}: "
      f"identical to an uninterrupted run over {len(names)} datasets")

# 4. Recorded for another instruction set: refused on resume, by every rank.
other = dict(decided, cpu_isa="avx2" if decided["cpu_isa"] != "avx2" else "avx512_core")
stopped = os.path.join(work, "other-isa.h5")
stop_at_epoch(tuned(2, stopped), stopped + ".log", epochs=1)
with h5py.File(stopped, "a") as f:
    f["job/numeric_config"][()] = json.dumps(other).encode().ljust(4096, b"\0")
run(tuned(2, stopped), expect=2, log=stopped + ".resume.log")
log = open(stopped + ".resume.log").read()
assert f"decided for CPU instruction set {other['cpu_isa']}" in log, log[-2000:]
assert "rank 1" in log, log[-2000:]
print("a configuration of another instruction set is refused on resume (exit 2)")
