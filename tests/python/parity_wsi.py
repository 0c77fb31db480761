"""Parity of `wsi-mpi run` with TIAToolbox's conventions on a real slide.

  parity_wsi.py tiles         BIN SLIDE WORK [options]   tile set == Python mask + grid + filter
  parity_wsi.py probabilities BIN SLIDE WORK [options]   probabilities == PyTorch on pixels read here

options: --resolution R --units U --mpp-override X
The Python side reads the pixels itself (openslide-python + OpenCV, TIAToolbox's read_bounds rule)
and runs the same architecture and weights in PyTorch."""
import argparse
import os
import subprocess
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiatoolbox_reference as tia  # noqa: E402


def run_wsi_mpi(args, weights, output):
    command = [args.binary, "run", "--slides", args.slide, "--model", "resnet18-kather100k", "--weights", weights,
               "--output", output, "--overwrite", "--resolution", str(args.resolution), "--units", args.units,
               "--threads", "2", "--batch-size", "8"]
    if args.mpp_override:
        command += ["--mpp-override", str(args.mpp_override)]
    subprocess.run(command, check=True)
    with h5py.File(output, "r") as f:
        assert f["slides/status"][0] == 1, f["slides/error"][0]
        key = f["slides/key"][0].decode()
        maps = {name: f[f"maps/{key}/{name}"][()] for name in ("prediction", "tissue")}
        assert all(f[f"maps/{key}/{name}"].compression == "gzip" for name in maps)
        return f["tiles/bounds"][:], f["tiles/probabilities"][:], maps


def check_maps(slide, args, bounds, probabilities, maps, wsi_shape):
    """The compressed maps, read back with h5py, against TIAToolbox's rules computed here."""
    np.testing.assert_array_equal(maps["tissue"], tia.tissue_mask(slide))
    canvas = slide.slide_dimensions(4.0, "mpp")
    expected = tia.merge_predictions(bounds, probabilities, wsi_shape, canvas)
    np.testing.assert_array_equal(maps["prediction"], expected)
    print(f"maps identical: tissue {maps['tissue'].shape}, prediction {expected.shape} "
          f"({np.count_nonzero(expected)} pixels with a class)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("check", choices=["tiles", "probabilities"])
    parser.add_argument("binary")
    parser.add_argument("slide")
    parser.add_argument("work")
    parser.add_argument("--resolution", type=float, default=0.5)
    parser.add_argument("--units", default="mpp")
    parser.add_argument("--mpp-override", type=float, default=None)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    slide = tia.Slide(args.slide, args.mpp_override)
    expected, wsi_shape = tia.tiles(slide, args.resolution, args.units, 224, 224)
    level, _ = slide.optimal_level(args.resolution, args.units)
    print(f"slide at resolution {wsi_shape}, read at level {level} of {len(slide.dims)}, "
          f"Python keeps {len(expected)} tiles")
    assert len(expected) > 0
    patches = None
    if args.check == "probabilities":
        patches = [slide.read_bounds(b, args.resolution, args.units, "resolution", 255) for b in expected]
    model = tia.seeded_model("resnet18", len(tia.KATHER), patches or [np.zeros((224, 224, 3), np.uint8)] * 2)
    weights = os.path.join(args.work, "weights.pth")
    tia.save_state_dict(model, weights)
    bounds, probabilities, maps = run_wsi_mpi(args, weights, os.path.join(args.work, "out.h5"))

    if args.check == "tiles":
        np.testing.assert_array_equal(bounds, expected)
        print("tile sets identical")
        check_maps(slide, args, bounds, probabilities, maps, wsi_shape)
        return

    # Pixels read here from the bounds wsi-mpi reports (equal to the Python tile set, which the
    # "tiles" check asserts separately).
    patches = [slide.read_bounds(b, args.resolution, args.units, "resolution", 255) for b in bounds]
    reference = tia.infer(model, patches)
    classes = np.unique(reference.argmax(1))
    print(f"reference argmax classes: {classes}, max prob {reference.max():.3f}")
    assert len(classes) >= 2, "degenerate reference: every patch has the same class"
    assert reference.max() < 0.999, "degenerate reference: softmax is one-hot"
    diff = np.abs(probabilities - reference).max()
    print(f"max |C++ - PyTorch| = {diff:.2e}")
    assert diff < 1e-4, diff


if __name__ == "__main__":
    main()
