"""The real binary on a synthetic slide (synth, run --mode features with the built-in resnet18
and seeded TIAToolbox-style weights, render): the PCA colour picture (<key>.features.png) must
separate the slide's known class regions, and --pca cohort over a one-slide cohort gives the
same picture.
usage: feature_picture.py BIN WORK"""
import os
import shutil
import subprocess
import sys

import cv2
import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import read_layout, run, slides, synth, uniform_truth  # noqa: E402

binary, work = sys.argv[1:3]
shutil.rmtree(work, ignore_errors=True)
WIDTH, HEIGHT = 5000, 3600
synth(binary, work, "--slides", "1", "--size", f"{WIDTH}x{HEIGHT}", "--mpp", "0.5", "--seed", "11")
# Seeded resnet18 weights (random backbone, BatchNorm statistics spread).
weights = os.path.join(work, "resnet18.pth")
python_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")
subprocess.run(["/usr/bin/python3", "-c", f"""
import sys; sys.path.insert(0, {python_dir!r})
import torch, tiatoolbox_reference as t, parity_features as p
torch.manual_seed(5)
t.save_state_dict(p.randomise_batchnorm(t.CNNModel('resnet18', 9)), {weights!r})
"""], check=True)
cohort = os.path.join(work, "features.h5")
run([binary, "run", "--slides", os.path.join(work, "manifest.csv"), "--model", "resnet18-kather100k",
     "--weights", weights, "--mode", "features", "--output", cohort, "--threads", "2", "--batch-size", "16"])
rows = slides(cohort)
assert len(rows) == 1 and rows[0]["status"] == 1, rows
with h5py.File(cohort, "r") as f:
    assert "/tiles/probabilities" not in f
    assert f["/tiles/features"].shape[1] == 512, f["/tiles/features"].shape
    key = f["/slides/key"].asstr()[0]
    map_height, map_width = f[f"/maps/{key}/prediction"].shape

out = os.path.join(work, "render")
run([binary, "render", cohort, "--output", out])
assert not os.path.exists(os.path.join(out, key + ".overlay.png"))  # no probabilities: no overlay
picture = cv2.imread(os.path.join(out, key + ".features.png"), cv2.IMREAD_COLOR)
assert picture is not None
# Without a prediction panel the picture is the map scaled by a whole factor to >= 512 px.
scale = max(1, -(-512 // max(map_width, map_height)))
assert picture.shape[:2] == (map_height * scale, map_width * scale), (picture.shape, map_width, map_height)

# Overview pixels whose ground truth is one class over a whole patch around them.
layout = read_layout(os.path.join(work, "layouts", "slide_001.csv"))
truth, _, _ = uniform_truth(layout, WIDTH, HEIGHT, map_width, map_height, 224)
centres = picture[scale // 2::scale, scale // 2::scale].astype(float)[:map_height, :map_width]
means = {}
for k in sorted(set(truth[truth >= 0].tolist())):
    pixels = centres[truth == k]
    print(f"class {k}: BGR {pixels.mean(0).round(1).tolist()} from {len(pixels)} px")
    assert len(pixels) > 50, (k, len(pixels))
    means[k] = pixels.mean(0)
assert len(means) >= 3, means
closest = min(np.linalg.norm(means[a] - means[b]) for a in means for b in means if a < b)
print(f"closest pair of class colours: {closest:.1f}")
assert closest > 40.0

# --pca cohort over a one-slide cohort: same basis and range, the same picture.
cohort_out = os.path.join(work, "render-cohort")
run([binary, "render", cohort, "--pca", "cohort", "--output", cohort_out])
same = cv2.imread(os.path.join(cohort_out, key + ".features.png"), cv2.IMREAD_COLOR)
assert same is not None and same.shape == picture.shape
assert np.abs(same.astype(int) - picture.astype(int)).max() <= 1
print("feature_picture OK")
