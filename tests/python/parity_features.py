"""Parity of `wsi-mpi run --mode features|both` with PyTorch on a real slide, and the exports.

  parity_features.py torchscript BIN SLIDE WORK   a TorchScript backbone traced here (resnet18 trunk +
                                                 pooling, HistoEncoder's mean/std in wsi_model.json):
                                                 features == PyTorch on pixels read here; float16 file;
                                                 a TorchScript archive from a newer PyTorch is refused
  parity_features.py builtin BIN SLIDE WORK       built-in resnet18 with seeded TIAToolbox-style weights in
                                                 --mode both: probabilities and features == PyTorch
  parity_features.py export BIN SLIDE WORK        `wsi-mpi export --format clam|geojson` of a --mode both
                                                 file read back with h5py, torch.load and json

The Python side reads the pixels itself (tiatoolbox_reference.Slide.read_bounds) and requires, per
tile, max |C++ - PyTorch| / max |PyTorch| < 1e-4 for the features."""
import argparse
import io
import json
import os
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiatoolbox_reference as tia  # noqa: E402

HISTOENCODER_MEAN = [0.662, 0.446, 0.605]
HISTOENCODER_STD = [0.169, 0.190, 0.155]
TOLERANCE = 1e-4


def run(binary, slide, model, output, *extra, check=True):
    command = [binary, "run", "--slides", slide, "--model", model, "--output", output, "--overwrite",
               "--threads", "2", "--batch-size", "8", "--channels-last", "off", *extra]
    result = subprocess.run(command, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr}")
    return result


def read_cohort(path):
    with h5py.File(path, "r") as f:
        assert f["slides/status"][0] == 1, f["slides/error"][0]
        out = {"bounds": f["tiles/bounds"][:], "features": f["tiles/features"][:],
               "feature_size": int(f["job/feature_size"][()])}
        if "tiles/probabilities" in f:
            out["probabilities"] = f["tiles/probabilities"][:]
        return out


def read_patches(slide, bounds, resolution=(0.5, "mpp"), pad=255):
    """The predictor pads 255 outside the slide, the feature extractor 0."""
    return [slide.read_bounds(b, *resolution, "resolution", pad) for b in bounds]


def relative_error_per_tile(actual, expected):
    """max |a - b| / max |b| of each row."""
    return np.abs(actual - expected).max(1) / np.abs(expected).max(1)


def check_features(actual, expected, what):
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    spread = np.abs(expected - expected.mean(0)).max()
    print(f"{what}: {expected.shape[0]} tiles x {expected.shape[1]}, max |b| {np.abs(expected).max():.3g}, "
          f"spread between tiles {spread:.3g}")
    assert spread > 1e-3 * np.abs(expected).max(), "degenerate reference: every tile has the same features"
    rel = relative_error_per_tile(actual, expected)
    print(f"{what}: max per-tile |C++ - PyTorch| / max|PyTorch| = {rel.max():.2e}")
    assert rel.max() < TOLERANCE, rel.max()


def randomise_batchnorm(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def traced_backbone(path):
    """resnet18 trunk + global average pooling, traced with Debian's torch, self-described."""
    torch.manual_seed(1)
    resnet = torchvision.models.resnet18(weights=None)
    trunk = randomise_batchnorm(nn.Sequential(*list(resnet.children())[:-1], nn.Flatten(1)))
    traced = torch.jit.trace(trunk, torch.zeros(1, 3, 224, 224))
    description = {"feature_size": 512, "output": "features", "input_size": [224, 224],
                   "mean": HISTOENCODER_MEAN, "std": HISTOENCODER_STD}
    torch.jit.save(traced, path, _extra_files={"wsi_model.json": json.dumps(description)})
    return trunk


def newer_archive(path, out):
    """The same archive with its format version raised to 99, as a PyTorch newer than the LibTorch
    in use might write it."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith("/version"):
                data = b"99\n"
            dst.writestr(item, data)


def backbone_features(trunk, patches):
    mean = torch.tensor(HISTOENCODER_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(HISTOENCODER_STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        return np.concatenate([trunk((tia.to_tensor(patches[i:i + 16]) - mean) / std).numpy()
                               for i in range(0, len(patches), 16)])


def check_tile_rules(args, trunk, model_path, resolution):
    """--mode features follows DeepFeatureExtractor (its tile set, edge tiles padded 0);
    --tile-rule predictor switches to PatchPredictor's set and padding 255."""
    slide = tia.Slide(args.slide)
    extra = ["--resolution", str(resolution[0]), "--units", resolution[1]]
    for rule, pad, flags in (("extractor", 0, []), ("predictor", 255, ["--tile-rule", "predictor"])):
        output = os.path.join(args.work, f"features-{rule}.h5")
        run(args.binary, args.slide, model_path, output, "--mode", "features", *extra, *flags)
        got = read_cohort(output)
        assert got["feature_size"] == 512 and "probabilities" not in got
        expected_tiles, shape = tia.tiles(slide, *resolution, 224, 224, rule=rule)
        np.testing.assert_array_equal(got["bounds"], expected_tiles)
        edge = int(((expected_tiles[:, 2] > shape[0]) | (expected_tiles[:, 3] > shape[1])).sum())
        print(f"{rule} rule: {len(expected_tiles)} tiles ({edge} reach past the slide), the same set as TIAToolbox's")
        reference = backbone_features(trunk, read_patches(slide, got["bounds"], resolution, pad))
        check_features(got["features"], reference, f"TorchScript backbone, {rule} rule")
    predictor, _ = tia.tiles(slide, *resolution, 224, 224, rule="predictor")
    extractor, _ = tia.tiles(slide, *resolution, 224, 224, rule="extractor")
    print(f"tile sets: predictor {len(predictor)}, extractor {len(extractor)}")
    if args.sets_differ:  # a slide where the two rules are known to keep different tiles
        assert predictor.shape != extractor.shape or (predictor != extractor).any()
    return read_cohort(os.path.join(args.work, "features-extractor.h5"))


def check_torchscript(args):
    model_path = os.path.join(args.work, "backbone.pt")
    trunk = traced_backbone(model_path)
    got = check_tile_rules(args, trunk, model_path, (args.resolution, args.units))
    assert got["features"].dtype == np.float32

    out16 = os.path.join(args.work, "features16.h5")
    run(args.binary, args.slide, model_path, out16, "--mode", "features", "--feature-dtype", "float16",
        "--resolution", str(args.resolution), "--units", args.units)
    half = read_cohort(out16)["features"]
    assert half.dtype == np.float16, half.dtype
    # float16 = the float32 features rounded to nearest even (numpy's astype), same batches.
    np.testing.assert_array_equal(half, got["features"].astype(np.float16))
    print("float16 file: dtype float16, equal to the float32 features rounded by numpy")

    newer = os.path.join(args.work, "backbone-newer.pt")
    newer_archive(model_path, newer)
    result = run(args.binary, args.slide, newer, os.path.join(args.work, "newer.h5"), "--mode", "features",
                 check=False)
    print(f"newer TorchScript: exit {result.returncode}: {result.stderr.strip().splitlines()[-1:]}")
    assert result.returncode != 0
    assert "newer than this LibTorch" in result.stderr, result.stderr


def seeded_builtin(args, slide):
    """Seeded TIAToolbox-style resnet18 Kather weights whose softmax is spread over several classes
    on this slide's tiles (tiatoolbox_reference.seeded_model)."""
    bounds, _ = tia.tiles(slide, 0.5, "mpp", 224, 224)
    patches = read_patches(slide, bounds)
    model = tia.seeded_model("resnet18", len(tia.KATHER), patches)
    weights = os.path.join(args.work, "weights.pth")
    tia.save_state_dict(model, weights)
    return model, weights, bounds, patches


def run_both(args, slide):
    model, weights, bounds, patches = seeded_builtin(args, slide)
    output = os.path.join(args.work, "both.h5")
    run(args.binary, args.slide, "resnet18-kather100k", output, "--weights", weights, "--mode", "both")
    return model, output, bounds, patches


def check_builtin(args):
    slide = tia.Slide(args.slide)
    model, output, bounds, patches = run_both(args, slide)
    got = read_cohort(output)
    np.testing.assert_array_equal(got["bounds"], bounds)
    assert got["feature_size"] == 512
    with torch.inference_mode():
        features = np.concatenate([model.features(tia.to_tensor(patches[i:i + 16])).numpy()
                                   for i in range(0, len(patches), 16)])
    probabilities = tia.infer(model, patches)
    assert len(np.unique(probabilities.argmax(1))) >= 2, "degenerate reference: one class everywhere"
    check_features(got["features"], features, "built-in resnet18 features")
    diff = np.abs(got["probabilities"] - probabilities).max()
    print(f"built-in resnet18 probabilities (same pass): max |C++ - PyTorch| = {diff:.2e}")
    assert diff < TOLERANCE, diff


def level0_boxes(bounds, scale):
    """The documented rule: top-left ceil(x0 * scale), side ceil(patch * scale), float64."""
    tl = np.ceil(bounds[:, :2].astype(np.float64) * scale).astype(np.int64)
    size = np.ceil((bounds[:, 2:] - bounds[:, :2]).astype(np.float64) * scale).astype(np.int64)
    return tl, size


def check_export(args):
    slide = tia.Slide(args.slide)
    _, output, _, _ = run_both(args, slide)
    export_dir = os.path.join(args.work, "export")
    for fmt in ("clam", "geojson"):
        subprocess.run([args.binary, "export", output, "--format", fmt, "--output", export_dir], check=True)
    with h5py.File(output, "r") as f:
        key = f["slides/key"].asstr()[0]
        start, count = int(f["slides/tile_start"][0]), int(f["slides/tile_count"][0])
        features = f["tiles/features"][start:start + count]
        probabilities = f["tiles/probabilities"][start:start + count]
        bounds = f["tiles/bounds"][start:start + count]
        scale = float(f["slides/scale"][0])
        width, height = int(f["slides/width"][0]), int(f["slides/height"][0])
        power = float(f["slides/objective_power"][0])
        classes = list(f["job/class_names"].asstr()[()])
    tl, size = level0_boxes(bounds, scale)

    # The documented coords are the level-0 top-left TIAToolbox's read_bounds reads from.
    baseline = np.array([slide.bounds_to_baseline(b, 0.5, "mpp") for b in bounds])
    np.testing.assert_array_equal(tl, baseline[:, :2])
    np.testing.assert_array_equal(size, baseline[:, 2:] - baseline[:, :2])

    with h5py.File(os.path.join(export_dir, "h5_files", key + ".h5"), "r") as h:
        assert h["features"].dtype == np.float32 and h["features"].shape == features.shape
        np.testing.assert_array_equal(h["features"][:], features)
        coords = h["coords"]
        assert coords.dtype == np.int64 and coords.shape == (count, 2)
        np.testing.assert_array_equal(coords[:], tl)
        attrs = dict(coords.attrs)
        expected = {"patch_size": 224, "patch_level": 0, "patch_size_level0": int(size[0, 0]),
                    "level0_magnification": power, "target_magnification": power / scale,
                    "level0_width": width, "level0_height": height}
        for name, value in expected.items():
            assert name in attrs, f"coords attribute {name} missing"
            assert np.isclose(attrs[name], value, rtol=1e-12), (name, attrs[name], value)
    print(f"h5_files/{key}.h5: {count} x {features.shape[1]} features equal, coords == ceil(bounds * {scale:.6f}), "
          f"attributes {sorted(attrs)}")

    tensor = torch.load(os.path.join(export_dir, "pt_files", key + ".pt"))
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float32, type(tensor)
    np.testing.assert_array_equal(tensor.numpy(), features)
    print(f"pt_files/{key}.pt: torch.load gives a {tuple(tensor.shape)} float32 tensor equal to the file's rows")

    with open(os.path.join(export_dir, key + ".geojson")) as g:
        collection = json.load(g)
    assert collection["type"] == "FeatureCollection"
    items = collection["features"]
    assert len(items) == count, (len(items), count)
    for i, item in enumerate(items):
        assert item["type"] == "Feature" and item["geometry"]["type"] == "Polygon"
        x0, y0 = tl[i]
        x1, y1 = tl[i] + size[i]
        assert item["geometry"]["coordinates"] == [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]], i
        props = item["properties"]
        assert props["objectType"] == "detection"
        assert props["classification"]["name"] == classes[int(probabilities[i].argmax())]
        assert props["tile"] == start + i
        np.testing.assert_allclose([props["probabilities"][c] for c in classes], probabilities[i], rtol=1e-7, atol=0)
    print(f"{key}.geojson: {len(items)} detections, polygons == level-0 boxes, classes == argmax")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("check", choices=["torchscript", "builtin", "export"])
    parser.add_argument("binary")
    parser.add_argument("slide")
    parser.add_argument("work")
    parser.add_argument("--resolution", type=float, default=0.5)
    parser.add_argument("--units", default="mpp")
    parser.add_argument("--sets-differ", action="store_true", help="the two tile rules must keep different tiles")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    torch.set_num_threads(2)
    {"torchscript": check_torchscript, "builtin": check_builtin, "export": check_export}[args.check](args)


if __name__ == "__main__":
    main()
