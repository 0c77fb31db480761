"""Checks a cohort file written by tests/unit/cohort/test_cohort_file.cpp with h5py alone: every dataset's
dtype and shape as documented in docs/cohort-file.md, strings decode, float16 features read as
float16 and equal numpy's own float32 -> float16 rounding.

usage: cohort_check.py FILE.h5 full FEATURES.f32   (the file after a full test run)
       cohort_check.py FILE.h5 fresh               (the file right after create(), no writes)
       cohort_check.py FILE.h5 empty               (zero tiles, float32 features)
"""
import sys

import h5py
import numpy as np


def expect(cond, what):
    if not cond:
        raise SystemExit("FAILED: " + what)


def check_dtype(f, name, dtype, shape, compressed=False, grows=False):
    d = f[name]
    expect(d.dtype == np.dtype(dtype), f"{name} dtype {d.dtype} != {dtype}")
    expect(d.shape == shape, f"{name} shape {d.shape} != {shape}")
    if grows:
        expect(d.chunks is not None and d.compression is None and d.maxshape[0] is None
               and d.maxshape[1:] == shape[1:], f"{name} chunked, uncompressed, unlimited rows")
    elif compressed:
        expect(d.compression == "gzip" and d.chunks is not None, f"{name} chunked and deflated")
    else:
        expect(d.chunks is None and d.compression is None, f"{name} contiguous, uncompressed")


def check_layout(f, S, N, U, C, D, f16, maps):
    expect(f.attrs["format"] == b"wsi-mpi cohort", "format attribute")
    expect(int(f.attrs["format_version"]) == 5, "format_version attribute")
    expect(len(f.attrs["software_version"]) > 0, "software_version attribute")
    for name in ["/slides/id", "/slides/key", "/slides/path", "/slides/error"]:
        expect(f[name].dtype.kind == "S" and f[name].shape == (S,), name + " fixed-length strings")
    expect(f["/slides/error"].dtype.itemsize == 512, "error 512 bytes")
    check_dtype(f, "/slides/status", "i1", (S,))
    for name in ["tile_start", "tile_count", "width", "height", "width_at_resolution", "height_at_resolution"]:
        check_dtype(f, "/slides/" + name, "i8", (S,))
    for name in ["mpp", "objective_power", "scale"]:
        check_dtype(f, "/slides/" + name, "f8", (S,))
    if C:
        check_dtype(f, "/slides/class_fractions", "f4", (S, C))
        check_dtype(f, "/tiles/probabilities", "f4", (N, C), grows=True)
    check_dtype(f, "/tiles/slide", "i4", (N,), grows=True)
    check_dtype(f, "/tiles/bounds", "i4", (N, 4), grows=True)
    if D:
        check_dtype(f, "/tiles/features", "f2" if f16 else "f4", (N, D), grows=True)
    else:
        expect("/tiles/features" not in f, "no features dataset")
    check_dtype(f, "/progress/units", "i8", (U, 3), grows=True)
    check_dtype(f, "/progress/done", "u1", (U,), grows=True)
    check_dtype(f, "/progress/rank", "i4", (U,), grows=True)
    check_dtype(f, "/progress/planned", "i8", (3,))
    expect(f["/progress/planned"][()].tolist() == [S, N, U], f"planned {f['/progress/planned'][()]}")
    check_dtype(f, "/progress/state", "i1", ())
    check_dtype(f, "/stats/ranks", "f8", (f["/stats/ranks"].shape[0], 13))
    cols = [c.decode() for c in f["/stats/ranks"].attrs["columns"]]
    expect(cols == ["tiles", "seconds_total", "seconds_reading", "seconds_inferring", "seconds_waiting",
                    "seconds_writing", "seconds_planning", "seconds_maps", "channels_last", "optimized",
                    "precision", "batch_size", "probe_tiles_per_second"], f"stats columns {cols}")
    expect(f["/job/config"].shape == () and f["/job/config"].dtype.kind == "S", "job config scalar string")
    expect(f["/job/fingerprint"].shape == (), "fingerprint scalar")
    expect(f["/job/numeric_config"].shape == () and f["/job/numeric_config"].dtype == "S4096", "numeric config S4096")
    check_dtype(f, "/job/feature_size", "i8", ())
    expect(f["/job/class_names"].shape == (C,), "class names")
    keys = [k.decode() for k in f["/slides/key"][()]]
    for key, (h, w, th, tw, mh, mw) in zip(keys, maps):
        if h == 0 and w == 0 and mh == 0 and mw == 0:
            expect(key not in f["/maps"], f"no maps for {key}")
            continue
        check_dtype(f, f"/maps/{key}/prediction", "u1", (h, w), compressed=True)
        if th:
            check_dtype(f, f"/maps/{key}/thumbnail", "u1", (th, tw, 3), compressed=True)
        else:
            expect("thumbnail" not in f[f"/maps/{key}"], f"no thumbnail for {key}")
        check_dtype(f, f"/maps/{key}/tissue", "u1", (mh, mw), compressed=True)


def check_full(f, features_path):
    maps = [(5, 7, 5, 7, 10, 14), (3, 4, 0, 0, 6, 8), (0, 0, 0, 0, 0, 0)]
    check_layout(f, 3, 10, 3, 3, 8, True, maps)
    ids = f["/slides/id"].asstr()[()].tolist()
    expect(ids == ["slide-a", "slide-\u00e9b", "broken"], f"ids {ids}")
    expect(f["/slides/status"][()].tolist() == [1, 1, 2], "status")
    # /tiles/slide names each tile's slide, as the slides' tile ranges say (a reader's join key).
    owner = [s for s, (start, count) in enumerate(zip(f["/slides/tile_start"][()], f["/slides/tile_count"][()]))
             for _ in range(start, start + count)]
    expect(f["/tiles/slide"][()].tolist() == owner, f"tile slides {f['/tiles/slide'][()].tolist()}")
    err = f["/slides/error"].asstr()[2]
    expect(err.startswith("cannot open") and len(err.encode()) <= 511, "error text")
    expect(f["/job/class_names"].asstr()[()].tolist() == ["tumour", "stroma", "fat"], "class names")
    expect(f["/job/config"].asstr()[()] == '{"mode": "both"}', "job config")
    expect(f["/progress/done"][()].tolist() == [1, 1, 1], "done flags")
    expect(f["/progress/rank"][()].tolist() == [0, 0, 0], "unit ranks")
    expect(int(f["/progress/state"][()]) == 1, "end state complete")
    expect(np.allclose(f["/slides/class_fractions"][0], [0.5, 0.25, 0.25]), "class fractions")
    feats = f["/tiles/features"][()]
    expect(feats.dtype == np.float16, "features read as float16")
    expected = np.fromfile(features_path, dtype=np.float32).reshape(10, 8).astype(np.float16)
    same = (feats.view(np.uint16) == expected.view(np.uint16)) | (np.isnan(feats) & np.isnan(expected))
    expect(same.all(), f"float16 bits equal numpy's rounding:\n{feats}\n{expected}")
    probs = f["/tiles/probabilities"][()]
    expect(np.allclose(probs[:, 0], np.arange(10) / 10.0), "probabilities")
    pred = f["/maps/slide-a/prediction"][()]
    expect(pred[2, 3] == 2 * 7 + 3, "prediction map values")
    expect(f["/maps/slide-a/thumbnail"][0, 1, 2] == 5, "thumbnail values")
    key_b = f["/slides/key"][1].decode()
    expect((f[f"/maps/{key_b}/prediction"][()] == 2).all(), "slide b's prediction map")
    expect((f[f"/maps/{key_b}/tissue"][()] == 1).all(), "slide b's tissue, written in a second call")


def check_fresh(f):
    check_layout(f, 2, 6, 2, 2, 0, False, [(4, 4, 2, 2, 8, 8), (4, 4, 2, 2, 8, 8)])
    expect(not f["/maps/s1/prediction"][()].any(), "an unwritten (compressed) map reads as zeros")
    expect(f["/progress/done"][()].tolist() == [0, 0], "done flags 0")
    expect(f["/progress/rank"][()].tolist() == [-1, -1], "unit ranks -1")
    expect(int(f["/progress/state"][()]) == 0, "end state running")
    expect(not f["/stats/ranks"][()].any(), "stats zero")
    expect(f["/slides/status"][()].tolist() == [0, 0], "status pending")
    expect(f["/tiles/bounds"][5].tolist() == [50, 0, 60, 10], "tile bounds")


def check_empty(f):
    check_layout(f, 1, 0, 0, 0, 4, False, [(2, 2, 2, 2, 2, 2)])
    expect(f["/job/class_names"].shape == (0,), "zero class names")


def main():
    path, mode = sys.argv[1], sys.argv[2]
    with h5py.File(path, "r") as f:
        if mode == "full":
            check_full(f, sys.argv[3])
        elif mode == "fresh":
            check_fresh(f)
        else:
            check_empty(f)
    print("cohort_check OK", mode)


if __name__ == "__main__":
    main()
