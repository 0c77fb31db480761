"""UMAP, ours against umap-learn, side by side on this machine (bench/umap.sh drives it): the
tutorial's parameters (n_neighbors 10, 3 components, manhattan, spread 0.5, min_dist 0.1, seed 2)
on N rows of 512 features drawn around 12 centres (a reproducible stand-in for tile features).
Prints per size: our fit (umap_bench, neighbour search on THREADS threads), umap-learn's first fit
in a fresh process (with numba's compile) and a second fit in the same process (without it),
and the trustworthiness at k = 10 (manhattan; on a 5,000-row subsample above 5,000 rows) of both.
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
    rng = np.random.RandomState(7)
    centres = rng.normal(0, 1, (12, DIM))
    labels = rng.randint(0, 12, n)
    return (centres[labels] + rng.normal(0, 0.6, (n, DIM))).astype(np.float32)


def trust(x, y):
    from sklearn.manifold import trustworthiness
    if len(x) > 5000:
        keep = np.random.RandomState(1).choice(len(x), 5000, replace=False)
        x, y = x[keep], y[keep]
    return trustworthiness(x, y, n_neighbors=10, metric="manhattan")


LEARN = """
import sys, time, numpy as np, umap
x = np.fromfile(sys.argv[1], dtype=np.float32).reshape(-1, %d)
times = []
for _ in range(2):
    t = time.time()
    y = umap.UMAP(n_neighbors=10, n_components=3, metric="manhattan", spread=0.5, min_dist=0.1,
                  random_state=2).fit_transform(x)
    times.append(time.time() - t)
y.astype(np.float32).tofile(sys.argv[2])
print("seconds", times[0], times[1])
""" % DIM

print("| tiles x 512 | ours: fit (s) | umap-learn: first fit, with numba's compile (s) | umap-learn: second fit (s) "
      "| umap-learn second / ours | trustworthiness ours / umap-learn |")
print("|---|---|---|---|---|---|")
for n in sizes:
    x = features(n)
    rows = os.path.join(work, f"rows-{n}.f32")
    x.tofile(rows)
    ours_out, theirs_out = os.path.join(work, f"ours-{n}.f32"), os.path.join(work, f"theirs-{n}.f32")
    ours = subprocess.run([bench, rows, str(n), str(DIM), ours_out, "--threads", threads], capture_output=True,
                          text=True, check=True).stdout.split()
    theirs = subprocess.run(["/usr/bin/python3", "-c", LEARN, rows, theirs_out], capture_output=True, text=True,
                            check=True, env=dict(os.environ, NUMBA_NUM_THREADS=threads)).stdout.split()
    t_ours, t_first, t_second = float(ours[1]), float(theirs[1]), float(theirs[2])
    y_ours = np.fromfile(ours_out, dtype=np.float32).reshape(n, 3)
    y_theirs = np.fromfile(theirs_out, dtype=np.float32).reshape(n, 3)
    print(f"| {n} | {t_ours:.1f} | {t_first:.1f} | {t_second:.1f} | {t_second / t_ours:.2f} | "
          f"{trust(x, y_ours):.4f} / {trust(x, y_theirs):.4f} |", flush=True)
