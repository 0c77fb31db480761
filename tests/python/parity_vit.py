"""Vision-transformer encoders whose TorchScript returns tokens [B, T, D], against PyTorch on tiles
of a real slide (CMU-1-Small-Region.svs, tiles limited by a mask file to a few):

  parity_vit.py BIN SLIDE WORK

- torchvision's vit_b_16 (random weights, traced with Debian's torch, ImageNet mean/std in its
  wsi_model.json): pooling cls, mean (of the patch tokens) and cls+mean (--pooling) within 1e-4
  relative per tile; bf16 within 0.05;
- a vit_b_16 with 4 register tokens after the class token (prefix_tokens 5, cls+mean, as
  Virchow2), a 256-px vit_b_16 read as 256-px tiles at 0.5 mpp, and vit_l_16 (cls+mean);
- `wsi-mpi export --format clam` of the ViT features reads back with h5py and torch.load.
The Python side reads the pixels itself (tiatoolbox_reference.Slide.read_bounds, the
DeepFeatureExtractor's pad 0) and pools the tokens of the eager module in numpy."""
import os
import subprocess
import sys

import cv2
import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiatoolbox_reference as tia  # noqa: E402
from vit_tokens import IMAGENET_MEAN, IMAGENET_STD, make_encoder  # noqa: E402

TOLERANCE = 1e-4
BF16_TOLERANCE = 0.05


def pooled(tokens, pooling, prefix):
    cls, mean = tokens[:, 0], tokens[:, prefix:].mean(1)
    return {"cls": cls, "mean": mean, "cls+mean": np.concatenate([cls, mean], 1)}[pooling]


def reference_tokens(encoder, slide, bounds, size):
    patches = [slide.read_bounds(b, 0.5, "mpp", "resolution", 0) for b in bounds]
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        return np.concatenate([encoder((tia.to_tensor(patches[i:i + 4]) - mean) / std).numpy()
                               for i in range(0, len(patches), 4)])


def run(binary, manifest, model, output, *extra):
    command = [binary, "run", "--slides", manifest, "--model", model, "--output", output, "--overwrite",
               "--mode", "features", "--threads", "2", "--batch-size", "4", "--channels-last", "off", *extra]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr}")
    with h5py.File(output, "r") as f:
        assert f["slides/status"][0] == 1, f["slides/error"][0]
        return f["tiles/bounds"][:], f["tiles/features"][:]


def check(actual, expected, what, tolerance=TOLERANCE):
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    assert np.abs(expected - expected.mean(0)).max() > 1e-3 * np.abs(expected).max(), f"{what}: degenerate reference"
    rel = (np.abs(actual - expected).max(1) / np.abs(expected).max(1)).max()
    print(f"{what}: {actual.shape[0]} tiles x {actual.shape[1]}: max per-tile |C++ - PyTorch| / max|PyTorch| = {rel:.2e}")
    assert rel < tolerance, (what, rel)
    return rel


def small_manifest(work, slide_path, slide):
    """The slide with a mask file keeping a 3 x 3 block of tiles' worth of tissue."""
    width, height = slide.dims[0]
    mask = np.zeros((height // 10, width // 10), np.uint8)
    mask[40:66, 40:66] = 255
    cv2.imwrite(os.path.join(work, "mask.png"), mask)
    manifest = os.path.join(work, "manifest.csv")
    with open(manifest, "w") as m:
        m.write(f"slide_id,path,mask\ncmu1,{slide_path},{os.path.join(work, 'mask.png')}\n")
    return manifest


def check_export(binary, output, features):
    out = os.path.join(os.path.dirname(output), "export")
    subprocess.run([binary, "export", output, "--format", "clam", "--output", out], check=True, capture_output=True)
    with h5py.File(os.path.join(out, "h5_files", "cmu1.h5"), "r") as h:
        np.testing.assert_array_equal(h["features"][:], features)
        assert h["coords"].shape == (len(features), 2)
    tensor = torch.load(os.path.join(out, "pt_files", "cmu1.pt"))
    np.testing.assert_array_equal(tensor.numpy(), features)
    print(f"export clam: h5_files/cmu1.h5 and pt_files/cmu1.pt hold the {features.shape} ViT features")


def main():
    binary, slide_path, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    slide = tia.Slide(slide_path)
    manifest = small_manifest(work, slide_path, slide)

    base = os.path.join(work, "vit_b_16.pt")
    encoder = make_encoder(base, "vit_b_16")
    tokens = None
    for pooling in ("cls", "mean", "cls+mean"):
        output = os.path.join(work, f"vit_b_{pooling}.h5")
        bounds, features = run(binary, manifest, base, output, "--pooling", pooling)
        if tokens is None:
            assert 2 <= len(bounds) <= 16, len(bounds)
            tokens = reference_tokens(encoder, slide, bounds, 224)
            assert tokens.shape[1:] == (197, 768), tokens.shape
        check(features, pooled(tokens, pooling, 1), f"vit_b_16 {pooling}")
        if pooling == "cls":
            check_export(binary, output, features)
    _, half = run(binary, manifest, base, os.path.join(work, "vit_b_bf16.h5"), "--precision", "bf16")
    check(half, pooled(tokens, "cls", 1), "vit_b_16 cls, bf16", BF16_TOLERANCE)
    os.remove(base)

    registers = os.path.join(work, "vit_b_16_registers.pt")
    encoder = make_encoder(registers, "vit_b_16", registers=4, pooling="cls+mean")
    bounds, features = run(binary, manifest, registers, os.path.join(work, "vit_b_registers.h5"))
    reg_tokens = reference_tokens(encoder, slide, bounds, 224)
    assert reg_tokens.shape[1] == 201, reg_tokens.shape
    check(features, pooled(reg_tokens, "cls+mean", 5), "vit_b_16 + 4 registers, cls+mean over the patch tokens")
    wrong = pooled(reg_tokens, "cls+mean", 1)  # the registers counted as patch tokens
    assert np.abs(features - wrong).max() > 1e-3 * np.abs(wrong).max(), "prefix_tokens made no difference"
    os.remove(registers)

    big = os.path.join(work, "vit_b_16_256.pt")
    encoder = make_encoder(big, "vit_b_16", size=256)
    bounds, features = run(binary, manifest, big, os.path.join(work, "vit_b_256.h5"), "--patch", "256", "--stride", "256")
    assert (bounds[:, 2] - bounds[:, 0] == 256).all()
    check(features, pooled(reference_tokens(encoder, slide, bounds, 256), "cls", 1), "vit_b_16 at 256 px")
    os.remove(big)

    large = os.path.join(work, "vit_l_16.pt")
    encoder = make_encoder(large, "vit_l_16", pooling="cls+mean")
    bounds, features = run(binary, manifest, large, os.path.join(work, "vit_l.h5"))
    check(features, pooled(reference_tokens(encoder, slide, bounds, 224), "cls+mean", 1), "vit_l_16 cls+mean")
    assert features.shape[1] == 2048, features.shape
    os.remove(large)
    print("parity_vit OK")


if __name__ == "__main__":
    main()
