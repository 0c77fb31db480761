"""Shared by the end-to-end tests: running wsi-mpi under mpirun, making synthetic cohorts, and
comparing cohort files dataset by dataset."""
import os
import shutil
import subprocess

import h5py
import numpy as np

MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_btl_vader_single_copy_mechanism": "none",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
}


def environment(extra=None):
    env = dict(os.environ)
    env.update(MPI_ENV)
    env.update(extra or {})
    return env


def mpirun(binary, ranks, args):
    return ["mpirun", "-n", str(ranks), "--bind-to", "none", binary] + list(args)


def run(command, expect=0, env=None, log=None):
    out = open(log, "w") if log else subprocess.DEVNULL
    result = subprocess.run(command, env=environment(env), stdout=out, stderr=subprocess.STDOUT, timeout=600)
    if expect is not None and result.returncode != expect:
        text = open(log).read()[-3000:] if log else ""
        raise AssertionError(f"{' '.join(command)} exited {result.returncode}, expected {expect}\n{text}")
    return result.returncode


def synth(binary, folder, *args):
    run([binary, "synth", "--output", folder] + list(args))


def reference_cohort(binary, work, synth_args, run_args):
    """A fresh synthetic cohort in `work` and the file of an uninterrupted 1-rank run of it:
    returns (job file, reference file)."""
    shutil.rmtree(work, ignore_errors=True)
    synth(binary, work, *synth_args)
    job = os.path.join(work, "job.ini")
    reference = os.path.join(work, "reference.h5")
    run(mpirun(binary, 1, ["run", "--job", job, "--output", reference] + list(run_args)), log=reference + ".log")
    return job, reference


# Datasets that say what was computed; /progress/rank, /stats and /job/config (which holds the
# output path and thread counts) legitimately differ between runs of the same job.
def result_datasets(path):
    names = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    skip = ("progress/rank", "progress/state", "stats/", "job/config")
    return sorted(n for n in names if not n.startswith(skip))


def assert_same_results(a, b):
    names = result_datasets(a)
    assert names == result_datasets(b), (names, result_datasets(b))
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for name in names:
            x, y = fa[name][()], fb[name][()]
            if not np.array_equal(x, y):
                raise AssertionError(f"{name} differs between {a} and {b}")
    return names
