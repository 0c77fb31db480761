"""UMAP, ours against umap-learn, side by side on this machine (bench/umap.sh drives it): the
tutorial's parameters (n_neighbors 10, 3 components, manhattan, spread 0.5, min_dist 0.1, seed 2)
on N rows of 512 features on 12 curved 6-dimensional sheets (a reproducible stand-in for tile
features).
Prints per size: our fit (umap_bench, neighbour search on THREADS threads), umap-learn's first fit
in a fresh process (with numba's compile, seed 2) and a second fit in the same process (without
it, seed 3), the trustworthiness at k = 10 (manhattan; on a 5,000-row subsample above 5,000 rows)
of ours and umap-learn's seed 2, and how much each tile's 10 nearest neighbours in our embedding
overlap those in umap-learn's (seed 2), beside the overlap of umap-learn's two seeds.
usage: umap.py UMAP_BENCH WORK THREADS N [N ...]"""
import os
import subprocess
import sys
import time

import numpy as np

bench, work, threads = sys.argv[1], sys.argv[2], sys.argv[3]
sizes = [int(n) for n in sys.argv[4:]]
DIM = 512


def features(n):
    """12 clusters, each a curved 6-dimensional sheet in the 512 dimensions, plus a little noise:
    like tile features, near rows are near for a reason, so neighbourhoods can be compared."""
    rng = np.random.RandomState(7)
    centres = rng.normal(0, 1, (12, DIM))
    labels = rng.randint(0, 12, n)
    sheets = rng.normal(0, 1 / np.sqrt(6), (12, 6, DIM))
    latent = rng.normal(0, 1, (n, 6))
    curved = np.tanh(np.einsum("nk,nkd->nd", latent, sheets[labels]))
    return (centres[labels] + curved + rng.normal(0, 0.05, (n, DIM))).astype(np.float32)


def trust(x, y):
    from sklearn.manifold import trustworthiness
    if len(x) > 5000:
        keep = np.random.RandomState(1).choice(len(x), 5000, replace=False)
        x, y = x[keep], y[keep]
    return trustworthiness(x, y, n_neighbors=10, metric="manhattan")


def overlap(p, q):
    """Mean share of each row's 10 nearest neighbours in embedding p that are among them in q."""
    from sklearn.neighbors import NearestNeighbors
    a, b = (NearestNeighbors(n_neighbors=11).fit(e).kneighbors(e, return_distance=False)[:, 1:] for e in (p, q))
    return np.mean([len(set(a[i]) & set(b[i])) / 10 for i in range(len(a))])


LEARN = """
import sys, time, numpy as np, umap
x = np.fromfile(sys.argv[1], dtype=np.float32).reshape(-1, %d)
times = []
for seed, out in ((2, sys.argv[2]), (3, sys.argv[3])):
    t = time.time()
    y = umap.UMAP(n_neighbors=10, n_components=3, metric="manhattan", spread=0.5, min_dist=0.1,
                  random_state=seed).fit_transform(x)
    times.append(time.time() - t)
    y.astype(np.float32).tofile(out)
print("seconds", times[0], times[1])
""" % DIM

print("| tiles x 512 | ours: fit (s) | umap-learn: first fit, with numba's compile (s) | umap-learn: second fit (s) "
      "| umap-learn second / ours | trustworthiness ours / umap-learn | 10-NN overlap ours-umap-learn / umap-learn seeds 2-3 |")
print("|---|---|---|---|---|---|---|")
for n in sizes:
    x = features(n)
    rows = os.path.join(work, f"rows-{n}.f32")
    x.tofile(rows)
    ours_out, theirs_out, seed3_out = (os.path.join(work, f"{who}-{n}.f32") for who in ("ours", "theirs", "seed3"))
    ours = subprocess.run([bench, rows, str(n), str(DIM), ours_out, "--threads", threads], capture_output=True,
                          text=True, check=True).stdout.split()
    theirs = subprocess.run(["/usr/bin/python3", "-c", LEARN, rows, theirs_out, seed3_out], capture_output=True, text=True,
                            check=True, env=dict(os.environ, NUMBA_NUM_THREADS=threads)).stdout.split()
    t_ours, t_first, t_second = float(ours[1]), float(theirs[1]), float(theirs[2])
    y_ours = np.fromfile(ours_out, dtype=np.float32).reshape(n, 3)
    y_theirs, y_seed3 = (np.fromfile(f, dtype=np.float32).reshape(n, 3) for f in (theirs_out, seed3_out))
    print(f"| {n} | {t_ours:.1f} | {t_first:.1f} | {t_second:.1f} | {t_second / t_ours:.2f} | "
          f"{trust(x, y_ours):.4f} / {trust(x, y_theirs):.4f} | "
          f"{overlap(y_ours, y_theirs):.3f} / {overlap(y_theirs, y_seed3):.3f} |", flush=True)
