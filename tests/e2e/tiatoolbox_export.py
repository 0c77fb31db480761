"""`wsi-mpi export --format tiatoolbox-zarr | annotation-store` (issue 26) on a synthetic cohort
run with --mode both, read back as a TIAToolbox 2.x user reads them:
1. Zarr stores (zarr-python): per done slide <stem>.zarr with coordinates, predictions,
   probabilities and features equal to /tiles of the cohort file, no attributes, format 2.
2. Annotation stores (sqlite3, zlib, shapely's WKB reader; what SQLiteStore does to read): the
   metadata rows, one level-0 rectangle per tile (bounds x /slides/scale), keys "0".."N-1",
   properties equal to the file's, an R*Tree box query returning exactly the tiles it touches;
   --slide exports one slide under its usual name; a features-only file gives coordinates and
   features, and no annotation store (exit 2).
3. Outputs are replaced as a whole, never written through a link planted at their names, and no
   partial file or folder is left.
4. With the reference data ($WSI_TEST_DATA, else ../shared/data): the stores of a run on
   CMU-1-Small-Region against TIAToolbox 2.0.1's (tiatoolbox-2.0.1-outputs/): the .zarray fields
   but the codec, the coordinates, sqlite_master, the metadata rows and the rectangles; skipped
   with the reason when the data is absent.
usage: tiatoolbox_export.py BIN WORK"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import zlib

import h5py
import numpy as np
import zarr
from shapely import wkb

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.dirname(here))
from common import environment, run, synth  # noqa: E402
from with_data import data_dir  # noqa: E402

binary, work = sys.argv[1:3]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)


def cohort_rows(path):
    """Per done slide: (stem, scale, bounds, probabilities, features), and the class names."""
    out = []
    with h5py.File(path, "r") as f:
        names = list(f["/job/class_names"].asstr()[()])
        s = f["/slides"]
        for path_, status, start, count, scale in zip(s["path"].asstr()[()], s["status"][()], s["tile_start"][()],
                                                      s["tile_count"][()], s["scale"][()]):
            if status != 1:
                continue
            rows = slice(int(start), int(start + count))
            features = f["/tiles/features"][rows].astype(np.float32) if "/tiles/features" in f else None
            out.append((os.path.splitext(os.path.basename(path_))[0], float(scale), f["/tiles/bounds"][rows],
                        f["/tiles/probabilities"][rows] if "/tiles/probabilities" in f else None, features))
    return out, names


def export(cohort, fmt, out):
    run([binary, "export", cohort, "--format", fmt, "--output", out])


def check_zarr(store, bounds, probabilities, features):
    group = zarr.open_group(store, mode="r")
    expected = ["coordinates", "predictions", "probabilities"] + (["features"] if features is not None else [])
    assert sorted(group.array_keys()) == sorted(expected), list(group.array_keys())
    assert dict(group.attrs) == {} and all(dict(group[k].attrs) == {} for k in expected)
    assert group["coordinates"].dtype == np.int64 and group["coordinates"].shape == (len(bounds), 4)
    assert np.array_equal(group["coordinates"][:], bounds.astype(np.int64))
    assert group["predictions"].dtype == np.uint8
    assert np.array_equal(group["predictions"][:], probabilities.argmax(1))
    assert group["probabilities"].dtype == np.float32
    assert np.array_equal(group["probabilities"][:], probabilities)
    if features is not None:
        assert group["features"].dtype == np.float32 and np.array_equal(group["features"][:], features)
    for name in expected:
        with open(os.path.join(store, name, ".zarray")) as f:
            meta = json.load(f)
        assert meta["zarr_format"] == 2 and meta["compressor"] is None and meta["order"] == "C", meta


def read_store(path):
    """What SQLiteStore does to read: rows by id with zlib-inflated WKB geometries."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    meta = {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM metadata")}
    rows = [(key, objtype, cx, cy, wkb.loads(zlib.decompress(g)), json.loads(p), area)
            for key, objtype, cx, cy, g, p, area in
            con.execute("SELECT key, objtype, cx, cy, geometry, properties, area FROM annotations ORDER BY id")]
    return con, meta, rows


def check_store(path, scale, bounds, probabilities, names):
    con, meta, rows = read_store(path)
    assert meta == {"version": "1.0.1", "compression": "zlib", "compression_level": 9}, meta
    assert len(rows) == len(bounds)
    level0 = bounds.astype(np.float64) * scale
    for i, (key, objtype, cx, cy, polygon, properties, area) in enumerate(rows):
        x0, y0, x1, y1 = level0[i]
        assert key == str(i) and objtype == "Polygon"
        assert list(polygon.exterior.coords) == [(x0, y0), (x0, y1), (x1, y1), (x1, y0), (x0, y0)], polygon
        assert np.isclose(cx, polygon.centroid.x, rtol=1e-12) and np.isclose(cy, polygon.centroid.y, rtol=1e-12)
        assert np.isclose(area, polygon.area, rtol=1e-12)
        p = probabilities[i]
        expected = {f"prob_{n}": float(v) for n, v in zip(names, p)}
        expected["type"] = names[int(p.argmax())]
        assert properties == expected and list(properties) == list(expected), (properties, expected)
    # A box around the middle of the slide's tiles: the R*Tree (float32 boxes, rounded outwards)
    # answers with the tiles whose rectangles touch it.
    qx0, qy0 = level0[:, 0].mean(), level0[:, 1].mean()
    qx1, qy1 = qx0 + 300, qy0 + 200
    touching = {str(i) for i, (x0, y0, x1, y1) in enumerate(level0)
                if x1 >= qx0 and x0 <= qx1 and y1 >= qy0 and y0 <= qy1}
    found = {k for (k,) in con.execute(
        "SELECT key FROM annotations JOIN rtree USING (id) "
        "WHERE max_x >= ? AND min_x <= ? AND max_y >= ? AND min_y <= ?",
        (qx0, qx1, qy0, qy1))}
    assert found == touching and touching, (found, touching)
    con.close()


# 1 + 2: a synthetic cohort with probabilities and features (the null model gives both).
synth(binary, work, "--slides", "2", "--size", "2400x1800")
cohort = os.path.join(work, "both.h5")
run([binary, "run", "--job", os.path.join(work, "job.ini"), "--model", "null", "--classes", "tumour,stroma,fat",
     "--mode", "both", "--threads", "2", "--output", cohort])
slides, names = cohort_rows(cohort)
assert len(slides) == 2, slides
zarr_dir, db_dir = os.path.join(work, "zarr"), os.path.join(work, "db")
export(cohort, "tiatoolbox-zarr", zarr_dir)
export(cohort, "annotation-store", db_dir)
for stem, scale, bounds, probabilities, features in slides:
    check_zarr(os.path.join(zarr_dir, stem + ".zarr"), bounds, probabilities, features)
    check_store(os.path.join(db_dir, stem + ".db"), scale, bounds, probabilities, names)
print(f"zarr + annotation store: {len(slides)} slides, {sum(len(s[2]) for s in slides)} tiles checked")
# --slide: that slide alone, under the name a whole export gives it.
with h5py.File(cohort, "r") as f:
    second_id = f["/slides/id"].asstr()[1]
run([binary, "export", cohort, "--format", "annotation-store", "--slide", second_id, "--output", os.path.join(work, "one")])
assert os.listdir(os.path.join(work, "one")) == [slides[1][0] + ".db"], os.listdir(os.path.join(work, "one"))

# A features-only file (its own tiles: DeepFeatureExtractor's tile rule): the Zarr store holds
# what DeepFeatureExtractor writes, coordinates and features; an annotation store, which needs
# classes, is refused naming the file.
features_only = os.path.join(work, "features.h5")
run([binary, "run", "--job", os.path.join(work, "job.ini"), "--model", "null", "--mode", "features",
     "--threads", "2", "--output", features_only])
export(features_only, "tiatoolbox-zarr", os.path.join(work, "features-zarr"))
for stem, _, bounds, _, features in cohort_rows(features_only)[0]:
    group = zarr.open_group(os.path.join(work, "features-zarr", stem + ".zarr"), mode="r")
    assert sorted(group.array_keys()) == ["coordinates", "features"], list(group.array_keys())
    assert np.array_equal(group["coordinates"][:], bounds) and np.array_equal(group["features"][:], features)
refused = subprocess.run([binary, "export", features_only, "--format", "annotation-store", "--output",
                          os.path.join(work, "features-db")], env=environment(), capture_output=True, text=True)
assert refused.returncode == 2 and "has no class probabilities" in refused.stderr and features_only in refused.stderr, \
    (refused.returncode, refused.stderr)
print("features only: coordinates + features store; annotation store refused")

# 3: a second export replaces each store as a whole (a file put into the old store is gone) and
# replaces links planted at the final names without writing through them.
victim = os.path.join(work, "victim")
os.makedirs(victim)
with open(os.path.join(victim, "kept"), "w") as f:
    f.write("not yours\n")
first, second = slides[0][0], slides[1][0]
with open(os.path.join(zarr_dir, first + ".zarr", "stale"), "w") as f:
    f.write("old\n")
shutil.rmtree(os.path.join(zarr_dir, second + ".zarr"))
os.symlink(victim, os.path.join(zarr_dir, second + ".zarr"))
os.remove(os.path.join(db_dir, second + ".db"))
os.symlink(os.path.join(victim, "kept"), os.path.join(db_dir, second + ".db"))
export(cohort, "tiatoolbox-zarr", zarr_dir)
export(cohort, "annotation-store", db_dir)
assert not os.path.exists(os.path.join(zarr_dir, first + ".zarr", "stale"))
for path in (os.path.join(zarr_dir, second + ".zarr"), os.path.join(db_dir, second + ".db")):
    assert not os.path.islink(path), path
assert sorted(os.listdir(victim)) == ["kept"] and open(os.path.join(victim, "kept")).read() == "not yours\n"
for stem, scale, bounds, probabilities, features in slides:
    check_zarr(os.path.join(zarr_dir, stem + ".zarr"), bounds, probabilities, features)
    check_store(os.path.join(db_dir, stem + ".db"), scale, bounds, probabilities, names)
left = [n for d in (zarr_dir, db_dir) for n in os.listdir(d) if "partial" in n]
assert not left, left
print("replaced as a whole, planted links replaced, no partial outputs left")

# After `wsi-mpi umap`, each tile's properties also hold its UMAP colour, as render draws it: the
# first three columns of /tiles/umap, each min-max normalised over the slide to 0..255.
run([binary, "umap", cohort])
umap_dir = os.path.join(work, "db-umap")
export(cohort, "annotation-store", umap_dir)
with h5py.File(cohort, "r") as f:
    starts, counts = f["/slides/tile_start"][()], f["/slides/tile_count"][()]
    umap_rows = [f["/tiles/umap"][int(a):int(a + n), :3].astype(np.float64) for a, n in zip(starts, counts)]
for (stem, *_), rows in zip(slides, umap_rows):
    low, high = rows.min(axis=0), rows.max(axis=0)
    want = np.clip(np.round(255 * (rows - low) / (high - low)), 0, 255)
    got = np.array([p["umap_rgb"] for *_, p, _ in read_store(os.path.join(umap_dir, stem + ".db"))[2]])
    assert got.shape == want.shape and np.abs(got - want).max() <= 1, (got[:3], want[:3])
print("annotation store after umap: every tile's umap_rgb is its colour in <key>.umap.png")

# 4: against TIAToolbox 2.0.1's own files for CMU-1-Small-Region (82 tiles of 224 px at 0.5 mpp).
data = data_dir()
reference = os.path.join(data, "tiatoolbox-2.0.1-outputs")
slide = os.path.join(data, "cmu-1-small-region", "CMU-1-Small-Region.svs")
if not (os.path.isdir(reference) and os.path.exists(slide)):
    print(f"SKIPPED (reference part): tiatoolbox-2.0.1-outputs or CMU-1-Small-Region.svs not found in {data} "
          "(set WSI_TEST_DATA to the folder of the reference slides; see README.md)")
    sys.exit(0)
real = os.path.join(work, "cmu1.h5")
run([binary, "run", "--slides", slide, "--model", "null", "--classes", "BACK,NORM,DEB,TUM,ADI,MUC,MUS,STR,LYM",
     "--mode", "both", "--resolution", "0.5", "--units", "mpp", "--threads", "2", "--output", real])
export(real, "tiatoolbox-zarr", zarr_dir)
export(real, "annotation-store", db_dir)
ours, theirs = os.path.join(zarr_dir, "CMU-1-Small-Region.zarr"), os.path.join(reference, "CMU-1-Small-Region.zarr")
for name in ("coordinates", "predictions", "probabilities"):
    mine, ref = (json.load(open(os.path.join(s, name, ".zarray"))) for s in (ours, theirs))
    for key in ("dtype", "fill_value", "filters", "order", "zarr_format"):
        assert mine[key] == ref[key], (name, key, mine[key], ref[key])
    assert mine["shape"][0] == ref["shape"][0] and len(mine["shape"]) == len(ref["shape"]), (name, mine, ref)
ref_features = json.load(open(os.path.join(reference, "CMU-1-Small-Region.features.zarr", "features", ".zarray")))
mine_features = json.load(open(os.path.join(ours, "features", ".zarray")))
assert all(mine_features[k] == ref_features[k] for k in ("dtype", "fill_value", "filters", "order", "zarr_format"))
assert json.load(open(os.path.join(ours, ".zgroup"))) == json.load(open(os.path.join(theirs, ".zgroup")))
assert np.array_equal(zarr.open(ours, mode="r")["coordinates"][:], zarr.open(theirs, mode="r")["coordinates"][:])
con, meta, rows = read_store(os.path.join(db_dir, "CMU-1-Small-Region.db"))
ref_con, ref_meta, ref_rows = read_store(os.path.join(reference, "CMU-1-Small-Region.db"))
schema = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid"
assert list(con.execute(schema)) == list(ref_con.execute(schema))
assert list(con.execute("SELECT * FROM metadata")) == list(ref_con.execute("SELECT * FROM metadata"))
assert len(rows) == len(ref_rows)
for mine, ref in zip(rows, ref_rows):
    assert mine[:2] == ref[:2] and mine[4].equals_exact(ref[4], 0) and list(mine[5]) == list(ref[5]), (mine, ref)
    assert np.allclose(mine[2:4], ref[2:4], rtol=1e-12) and np.isclose(mine[6], ref[6], rtol=1e-12)
print(f"reference: .zarray fields, coordinates, sqlite_master, metadata and {len(rows)} rectangles "
      "match TIAToolbox 2.0.1's")
