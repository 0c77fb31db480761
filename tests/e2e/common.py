"""Shared by the end-to-end tests: running wsi-mpi under mpirun, making synthetic cohorts, and
comparing cohort files dataset by dataset."""
import json
import os
import shutil
import signal
import subprocess
import time

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


def stop_at_epoch(command, log, sig=signal.SIGKILL, epochs=1, env=None):
    """Runs `command` with a pause after each epoch's rows, sends `sig` to its wsi-mpi processes
    (by pid: the launcher's children under mpirun) inside the pause of epoch number `epochs`, and
    returns the exit status. A short pause after each unit keeps the job running past the epochs
    asked for however fast the machine (a fast CPU finishes a small cohort in one epoch)."""
    with open(log, "w") as out:
        pauses = {"WSI_TEST_EPOCH_PAUSE": "0.5", "WSI_TEST_UNIT_PAUSE": "0.05"}
        launcher = subprocess.Popen(command, env=environment({**pauses, **(env or {})}),
                                    stdout=out, stderr=subprocess.STDOUT)
    while open(log).read().count("rank 0] warning: test hook: epoch rows written") < epochs:
        assert launcher.poll() is None, open(log).read()[-2000:]
        time.sleep(0.02)
    if command[0] == "mpirun":
        pids = subprocess.run(["pgrep", "-P", str(launcher.pid), "-x", "wsi-mpi"], capture_output=True, text=True)
        for pid in pids.stdout.split():
            os.kill(int(pid), sig)
    else:
        os.kill(launcher.pid, sig)
    return launcher.wait(timeout=120)


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


def progress(path):
    """OUT.progress.json of a cohort file, {} while it is missing or being replaced."""
    try:
        with open(path + ".progress.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def slides(path):
    """The /slides rows of a cohort file: a list of dicts with id, path, status (0 pending,
    1 done, 2 failed) and error."""
    with h5py.File(path, "r") as f:
        s = f["/slides"]
        return [{"id": i, "path": p, "status": int(st), "error": e}
                for i, p, st, e in zip(s["id"].asstr()[()], s["path"].asstr()[()], s["status"][()],
                                       s["error"].asstr()[()])]


def write_tiled_tiff(path, rgb, mpp=None, tile=256):
    """An uncompressed, tiled, little-endian RGB TIFF of the H x W x 3 uint8 array `rgb` (what
    OpenSlide opens as generic-tiff); resolution tags (px/cm) only when `mpp` is given."""
    import struct
    height, width = rgb.shape[:2]
    across, down = -(-width // tile), -(-height // tile)
    padded = np.zeros((down * tile, across * tile, 3), np.uint8)
    padded[:height, :width] = rgb
    tiles = [padded[y * tile:(y + 1) * tile, x * tile:(x + 1) * tile].tobytes()
             for y in range(down) for x in range(across)]
    n = len(tiles)
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, None), (259, 3, 1, 1), (262, 3, 1, 2),
               (277, 3, 1, 3), (284, 3, 1, 1), (322, 4, 1, tile), (323, 4, 1, tile), (324, 4, n, None),
               (325, 4, n, None)]
    if mpp:
        entries += [(282, 5, 1, None), (283, 5, 1, None), (296, 3, 1, 3)]
    entries.sort()
    ifd = 8
    extra = ifd + 2 + 12 * len(entries) + 4  # out-of-line values follow the IFD
    blobs = {258: struct.pack("<3H", 8, 8, 8)}
    if mpp:
        blobs[282] = blobs[283] = struct.pack("<2I", round(10000.0 / mpp * 1000), 1000)
    data_start = extra + sum(len(b) for b in blobs.values()) + 8 * n
    offsets, at = [], data_start
    for t in tiles:
        offsets.append(at)
        at += len(t)
    blobs[324] = struct.pack(f"<{n}I", *offsets)
    blobs[325] = struct.pack(f"<{n}I", *[len(t) for t in tiles])
    out, where = bytearray(), extra
    table = bytearray(struct.pack("<H", len(entries)))
    for tag, kind, count, value in entries:
        if value is None and len(blobs[tag]) > 4:
            table += struct.pack("<HHII", tag, kind, count, where)
            out += blobs[tag]
            where += len(blobs[tag])
        elif value is None:
            table += struct.pack("<HHI", tag, kind, count) + blobs[tag].ljust(4, b"\0")
        elif kind == 3:
            table += struct.pack("<HHIHH", tag, kind, count, value, 0)
        else:
            table += struct.pack("<HHII", tag, kind, count, value)
    table += struct.pack("<I", 0)
    with open(path, "wb") as f:
        f.write(b"II*\x00" + struct.pack("<I", ifd) + table + out)
        assert f.tell() <= data_start
        f.write(b"\0" * (data_start - f.tell()))
        for t in tiles:
            f.write(t)


def read_layout(path):
    """A synthetic slide's ground truth (DIR/layouts/slide_NNN.csv: class,name,x0,y0,x1,y1 in
    level-0 px): a list of (class, x0, y0, x1, y1)."""
    import csv
    with open(path) as f:
        rows = [r for r in csv.reader(f) if r and r[0].lstrip("-").isdigit()]
    return [(int(r[0]), *(float(v) for v in r[2:6])) for r in rows]


def class_at(layout, x, y):
    """The class at level-0 points (arrays x, y): the first region whose ellipse (inside its box)
    holds the point, -1 for background (as SynthLayout::class_at)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    out = np.full(np.broadcast(x, y).shape, -1, np.int64)
    for k, x0, y0, x1, y1 in reversed(layout):  # reversed: earlier regions win
        rx, ry = 0.5 * (x1 - x0), 0.5 * (y1 - y0)
        if rx <= 0 or ry <= 0:
            continue
        inside = ((x - 0.5 * (x0 + x1)) / rx) ** 2 + ((y - 0.5 * (y0 + y1)) / ry) ** 2 <= 1.0
        out[inside] = k
    return out


def uniform_truth(layout, width, height, map_width, map_height, margin):
    """For each map pixel, the class at its centre where the whole box of one patch (`margin`
    level-0 px) around it has that class (or background), else -2: (truth, centre x, centre y)."""
    sx, sy = width / map_width, height / map_height
    cx, cy = np.meshgrid((np.arange(map_width) + 0.5) * sx, (np.arange(map_height) + 0.5) * sy)
    truth = class_at(layout, cx, cy)
    uniform = np.ones_like(truth, bool)
    for dy in (-margin, 0.0, margin):
        for dx in (-margin, 0.0, margin):
            uniform &= class_at(layout, cx + dx, cy + dy) == truth
    return np.where(uniform, truth, -2), cx, cy
