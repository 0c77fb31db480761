"""Parity of `wsi-mpi patches` with PyTorch and with metrics computed here.

  parity_patches.py BIN DATA WORK

Writes WORK/labels.csv over the 32 CRC-VAL-HE-7K PNGs (DATA/crc-val-he-7k-32patches), the two
Kather-100K TIFFs (single-strip PackBits, DATA/tiatoolbox-kather-samples), a 256x256 patch with a
label that is no model class (resized, left out of the accuracy) and an unlabelled 1000x1000
tile (resized). Reads the pixels itself (cv2, RGB), runs a seeded TIAToolbox CNNModel(resnet18,
9 Kather classes) in PyTorch and `wsi-mpi patches` on the same weights, and requires:
probabilities within 1e-4, the reference argmax to vary, and the printed accuracy and
confusion.csv to equal those computed here from the C++ predictions."""
import csv
import os
import re
import subprocess
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiatoolbox_reference as tia  # noqa: E402


def read_rgb(path, size=224):
    image = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    if image.shape[:2] != (size, size):
        shrink = image.shape[0] > size or image.shape[1] > size
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return image


def main():
    binary, data, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    crc = os.path.join(data, "crc-val-he-7k-32patches")
    kather = os.path.join(data, "tiatoolbox-kather-samples")
    rows = []
    with open(os.path.join(crc, "labels.csv")) as f:
        rows += [(os.path.join(crc, r["file"]), r["label"]) for r in csv.DictReader(f)]
    with open(os.path.join(kather, "labels.csv")) as f:
        rows += [(os.path.join(kather, r["file"]), r["label"]) for r in csv.DictReader(f)]
    rows += [(os.path.join(kather, "source_image.png"), "OTHER"),
             (os.path.join(kather, "TCGA-HE-7130-01Z-00-DX1.png"), "")]
    assert len(rows) == 36 and sum(p.endswith(".tif") for p, _ in rows) == 2
    labels_csv = os.path.join(work, "labels.csv")
    with open(labels_csv, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label"])
        writer.writerows(rows)

    patches = [read_rgb(path) for path, _ in rows]
    model = tia.seeded_model("resnet18", len(tia.KATHER), patches)
    weights = os.path.join(work, "weights.pth")
    tia.save_state_dict(model, weights)
    expected = tia.infer(model, patches)
    reference_classes = set(expected.argmax(1).tolist())
    print(f"reference argmax over {len(patches)} patches: {sorted(reference_classes)}")
    assert len(reference_classes) > 1, "the seeded model predicts a single class: the test would be weak"

    out = os.path.join(work, "out")
    result = subprocess.run([binary, "patches", "--input", labels_csv, "--model", "resnet18-kather100k",
                             "--weights", weights, "--output", out, "--batch-size", "8", "--threads", "2"],
                            capture_output=True, text=True)
    printed = result.stdout + result.stderr
    print(printed)
    assert result.returncode == 0, f"exit {result.returncode}"
    assert "OTHER" in printed and "left out of the accuracy" in printed, "no warning naming the foreign label"
    assert "resized to the model's input 224x224" in printed, "no log line about resizing"

    with open(os.path.join(out, "predictions.csv")) as f:
        table = list(csv.reader(f))
    assert table[0] == ["file", "label", "prediction"] + tia.KATHER, table[0]
    body = table[1:]
    assert [r[0] for r in body] == [p for p, _ in rows], "files differ from the input's"
    assert [r[1] for r in body] == [label for _, label in rows], "labels differ"
    probabilities = np.array([[float(v) for v in r[3:]] for r in body])
    difference = np.abs(probabilities - expected).max()
    print(f"max |C++ - PyTorch| probability: {difference:.3g}")
    assert difference < 1e-4, difference
    predicted = [tia.KATHER.index(r[2]) for r in body]
    assert predicted == probabilities.argmax(1).tolist(), "prediction column is not the argmax"

    # Metrics from the C++ predictions, as the TIAToolbox tutorial computes them.
    n = len(tia.KATHER)
    counts = np.zeros((n, n))
    for (_, label), p in zip(rows, predicted):
        if label in tia.KATHER:
            counts[tia.KATHER.index(label), p] += 1
    accuracy = np.trace(counts) / counts.sum()
    with np.errstate(invalid="ignore"):
        confusion = counts / counts.sum(1, keepdims=True)
    match = re.search(r"^accuracy: ([0-9.]+) \((\d+) of (\d+)\)", result.stdout, re.M)
    assert match, "no accuracy line on stdout"
    assert abs(float(match.group(1)) - accuracy) < 1e-6, (match.group(1), accuracy)
    assert int(match.group(3)) == 34 and int(match.group(2)) == int(np.trace(counts))
    with open(os.path.join(out, "confusion.csv")) as f:
        written = list(csv.reader(f))
    assert written[0] == ["label"] + tia.KATHER, written[0]
    assert [r[0] for r in written[1:]] == tia.KATHER
    values = np.array([[float(v) for v in r[1:]] for r in written[1:]])
    assert np.isnan(values[0]).all(), "BACK has no samples: its row must be NaN"
    np.testing.assert_allclose(values, confusion, rtol=0, atol=1e-12, equal_nan=True)
    print(f"accuracy {accuracy:.6f} and confusion matrix agree")


if __name__ == "__main__":
    main()
