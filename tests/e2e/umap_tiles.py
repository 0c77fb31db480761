"""`wsi-mpi umap` on a synthetic cohort whose tile features come from the demo model
(--model-output features): per-slide and cohort scope give the same /tiles/umap bits on 1 and
2 ranks; rank 0 failing in the cohort fit ends both ranks (exit 1); a rerun after rank 1 failed
between two writes, and one after slides' flags were cleared
(what a kill leaves), finish only what is missing and end with the uninterrupted bits; bad options
and a rerun with other parameters are refused (exit 2); render draws <key>.umap.png and refuses a
forged /tiles/umap. Then quality
against umap-learn itself (/usr/bin/python3, the tutorial's parameters, on the same features): per
slide and cohort-wide, trustworthiness at k = 10 (manhattan on the features) at least umap-learn's
minus 0.01, and the 10-NN overlap with umap-learn's embedding within 0.1 of the overlap of two
umap-learn runs with different seeds. Exit 77 (skipped) after the own checks when umap-learn is
missing.
usage: umap_tiles.py BIN WORK (not umap.py: that name would hide umap-learn's module)"""
import os
import shutil
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import mpirun, run, synth  # noqa: E402

binary, work = sys.argv[1:3]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
synth(binary, work, "--slides", "3", "--size", "6000x4800", "--vary-size")
features = os.path.join(work, "features.h5")
run([binary, "run", "--job", os.path.join(work, "job.ini"), "--mode", "features", "--model-output", "features",
     "--output", features, "--threads", "1"])
with h5py.File(features, "r") as f:
    x = f["/tiles/features"][()]
    starts, counts = f["/slides/tile_start"][()], f["/slides/tile_count"][()]
    keys = f["/slides/key"].asstr()[()]
print(f"{len(x)} tiles of {x.shape[1]} features, slides of {counts.tolist()} tiles")


def copy(name):
    path = os.path.join(work, name)
    shutil.copyfile(features, path)
    return path


def umap_rows(path):
    with h5py.File(path, "r") as f:
        return f["/tiles/umap"][()], f["/progress/umap"][()], dict(f["/tiles/umap"].attrs)


def umap(path, ranks, *args, expect=0, env=None):
    log = path + f".umap-{ranks}.log"
    started = time.time()
    run(mpirun(binary, ranks, ["umap", path] + list(args)), expect=expect, env=env, log=log)
    print(f"umap {' '.join(args)} on {ranks} rank(s): {time.time() - started:.1f} s")
    return open(log).read()


# Rank invariance, both scopes (the cohort sample smaller than the cohort: the transform runs).
results = {}
for scope, extra in (("slide", []), ("cohort", ["--sample-size", "400"])):
    one, two = copy(f"{scope}-1.h5"), copy(f"{scope}-2.h5")
    umap(one, 1, "--scope", scope, *extra)
    umap(two, 2, "--scope", scope, *extra, "--slides-per-write", "1")
    a, done, attrs = umap_rows(one)
    b, _, _ = umap_rows(two)
    assert a.shape == (len(x), 3) and a.dtype == np.float32, a.shape
    assert done.tolist() == [1, 1, 1], done
    assert attrs["scope"].decode() == scope, attrs
    assert np.isfinite(a).all() and np.abs(a).sum(1).min() > 0
    assert np.array_equal(a, b), f"scope {scope}: 1 and 2 ranks differ"
    results[scope] = a
print("1 and 2 ranks: the same bits, both scopes")

# Rank 1 fails between two writes: exit 1 everywhere; the rerun finishes with the same bits.
failed = copy("failed.h5")
log = umap(failed, 2, "--slides-per-write", "1", expect=1, env={"WSI_TEST_FAIL": "1:umap-write"})
assert "failure injected at umap-write" in log, log[-2000:]
log = umap(copy("fit-failed.h5"), 2, "--scope", "cohort", "--sample-size", "400", expect=1,
           env={"WSI_TEST_FAIL": "0:umap-fit"})
assert "failure injected at umap-fit" in log and "stopped because rank 0 failed" in log, log[-2000:]
umap(failed, 2)
assert np.array_equal(umap_rows(failed)[0], results["slide"])
# Flags cleared (what a kill between a write and its flags leaves): only those slides again.
with h5py.File(failed, "r+") as f:
    for s in (0, 2):
        f["/tiles/umap"][starts[s]:starts[s] + counts[s]] = 0
        f["/progress/umap"][s] = 0
log = umap(failed, 2)
assert "2 of 3 done slides left" in log, log[-2000:]
assert np.array_equal(umap_rows(failed)[0], results["slide"])
print("failed and cleared runs resume to the same bits")

# Refused: bad options, and a rerun with other parameters than /tiles/umap was made with.
bad = copy("bad.h5")
for args in (["--n-components", "0"], ["--metric", "chebyshev"], ["--n-neighbors", "1"],
             ["--scope", "cohort", "--sample-size", "10"], ["--spread", "nan"]):
    run([binary, "umap", bad] + args, expect=2)  # refused before MPI starts
log = umap(failed, 1, "--n-neighbors", "15", expect=2)
assert "was made with" in log, log[-2000:]

# render: <key>.umap.png beside <key>.features.png.
out = os.path.join(work, "render")
run([binary, "render", os.path.join(work, "cohort-1.h5"), "--output", out])
for key in keys:
    assert os.path.getsize(os.path.join(out, key + ".umap.png")) > 0, key
# A forged /tiles/umap (rows that are not the tiles') is refused by render, naming the file.
forged = copy("forged.h5")
with h5py.File(forged, "r+") as f:
    f.create_dataset("/tiles/umap", data=np.zeros((5, 3), np.float32))
    f["/tiles/umap"].attrs["parameters"] = np.bytes_("{}")
    f["/tiles/umap"].attrs["scope"] = np.bytes_("slide")
    f.create_dataset("/progress/umap", data=np.ones(3, np.uint8))
log = os.path.join(work, "forged.log")
assert run([binary, "render", forged, "--output", os.path.join(work, "forged")], expect=None, log=log) != 0
assert "is not a consistent wsi-mpi cohort file: /tiles/umap has shape" in open(log).read(), open(log).read()[-2000:]
print("options refused, pictures drawn, a forged /tiles/umap refused")

try:
    import umap as umap_learn
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import NearestNeighbors
except ImportError as e:
    print(f"skipping the comparison with umap-learn: {e}")
    sys.exit(77)


def reference(seed, fit, rest=None):
    model = umap_learn.UMAP(n_neighbors=10, n_components=3, metric="manhattan", spread=0.5, random_state=seed)
    embedding = model.fit_transform(fit)
    return embedding if rest is None else (embedding, model.transform(rest))


def neighbours(e):
    return NearestNeighbors(n_neighbors=11).fit(e).kneighbors(e, return_distance=False)[:, 1:]


def overlap(p, q):
    a, b = neighbours(p), neighbours(q)
    return np.mean([len(set(a[i]) & set(b[i])) / 10 for i in range(len(a))])


def compare(what, data, ours, ref2, ref3):
    trust = {name: trustworthiness(data, e, n_neighbors=10, metric="manhattan")
             for name, e in (("ours", ours), ("umap-learn", ref2))}
    ours_ref, ref_ref = overlap(ours, ref2), overlap(ref2, ref3)
    print(f"{what}: trustworthiness ours {trust['ours']:.4f}, umap-learn {trust['umap-learn']:.4f}; "
          f"10-NN overlap ours/umap-learn {ours_ref:.3f}, umap-learn seeds 2/3 {ref_ref:.3f}")
    assert trust["ours"] >= trust["umap-learn"] - 0.01, what
    assert ours_ref >= ref_ref - 0.1, what


started = time.time()
big = int(np.argmax(counts))
rows = slice(starts[big], starts[big] + counts[big])
compare(f"slide {keys[big]}", x[rows], results["slide"][rows], reference(2, x[rows]), reference(3, x[rows]))
# Cohort-wide: umap-learn fitted on a sample of 400 tiles too (its own draw), the rest transformed.
with h5py.File(os.path.join(work, "cohort-1.h5"), "r") as f:
    assert '"sample_size":400' in f["/tiles/umap"].attrs["parameters"].decode()
picked = np.zeros(len(x), bool)
picked[np.random.default_rng(0).choice(len(x), 400, replace=False)] = True


def cohort_reference(seed):
    fit, rest = reference(seed, x[picked], x[~picked])
    embedding = np.zeros((len(x), 3), np.float32)
    embedding[picked], embedding[~picked] = fit, rest
    return embedding


compare("cohort", x, results["cohort"], cohort_reference(2), cohort_reference(3))
print(f"umap-learn comparisons: {time.time() - started:.1f} s")
print("umap OK")
