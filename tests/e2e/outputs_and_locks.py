"""Where commands write, who may write a cohort file, and which numbers they take (issue 22):
1. A link planted at each final output name of render, export (GeoJSON, CLAM), patches, synth
   and run (the progress file) is replaced by a regular file: the link's target is unchanged and
   no partial file is left. A cohort file given as a link is refused (exit 2).
2. While `run` writes a cohort file, a second `run` through another spelling of its path (a
   linked folder, `..`) and an `aggregate` are refused (exit 2, naming the holder's host:pid and
   since when), and so is a `run` through a hard link; while `aggregate` writes it, so is `run`.
3. NaN and infinite numbers are refused with exit 2 and a message naming the option.
4. `render` reads slide pixels (a file kept without thumbnails) only from the manifest given with
   --slides or the job's manifest next to the cohort file, never from /slides/path on its own.
usage: outputs_and_locks.py BIN WORK"""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import environment, run, synth  # noqa: E402

binary, work = sys.argv[1:3]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
synth(binary, work, "--slides", "2", "--size", "2000x1600")
job = os.path.join(work, "job.ini")
cohort = os.path.join(work, "both.h5")  # the null model: classes and features
null_job = ["run", "--job", job, "--model", "null", "--mode", "both", "--threads", "1"]
run([binary] + null_job + ["--output", cohort])
victim = os.path.join(work, "victim.txt")


def victim_unchanged():
    with open(victim, "rb") as f:
        return f.read() == b"not yours\n"


def command(args, env=None):
    result = subprocess.run([binary] + args, env=environment(env), capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout + result.stderr


def outputs_replace_links(name, args, outputs):
    """Plants a link to the victim at each of `outputs`, runs `args`: exit 0, each output a new
    regular file, the victim unchanged, no partial file left beside them."""
    with open(victim, "w") as f:
        f.write("not yours\n")
    for path in outputs:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(victim, path)
    status, text = command(args)
    assert status == 0, (name, text[-2000:])
    assert victim_unchanged(), f"{name}: the link's target was written"
    for path in outputs:
        assert os.path.isfile(path) and not os.path.islink(path), f"{name}: {path} is not a new regular file"
        partials = [f for f in os.listdir(os.path.dirname(path)) if f.endswith(".partial")]
        assert not partials, (name, partials)
    print(f"{name}: links at {len(outputs)} output names replaced, their target unchanged")


# 1. Links at the final output names.
render_dir = os.path.join(work, "render")
outputs_replace_links("render", ["render", cohort, "--output", render_dir],
                      [os.path.join(render_dir, f"slide_001.{kind}.png") for kind in ("overlay", "features")])
geojson_dir = os.path.join(work, "geojson")
outputs_replace_links("export geojson", ["export", cohort, "--format", "geojson", "--output", geojson_dir],
                      [os.path.join(geojson_dir, "slide_002.geojson")])
clam_dir = os.path.join(work, "clam")
outputs_replace_links("export clam", ["export", cohort, "--format", "clam", "--output", clam_dir],
                      [os.path.join(clam_dir, "h5_files", "slide_001.h5"),
                       os.path.join(clam_dir, "pt_files", "slide_001.pt")])
patch_dir = os.path.join(work, "patch-input", "tumour")
os.makedirs(patch_dir)
shutil.copy(os.path.join(render_dir, "slide_001.overlay.png"), os.path.join(patch_dir, "a.png"))
patches_out = os.path.join(work, "patches")
outputs_replace_links("patches", ["patches", "--input", os.path.dirname(patch_dir), "--model",
                                  os.path.join(work, "model.pt"), "--threads", "1", "--output", patches_out],
                      [os.path.join(patches_out, "predictions.csv"), os.path.join(patches_out, "confusion.csv")])
synth_out = os.path.join(work, "synth")
outputs_replace_links("synth",
                      ["synth", "--output", synth_out, "--slides", "1", "--size", "1024x1024", "--levels", "1"],
                      [os.path.join(synth_out, name) for name in ("slide_001.svs", "manifest.csv", "job.ini",
                                                                  "model.pt", os.path.join("layouts", "slide_001.csv"))])
progress_out = os.path.join(work, "progress.h5")
outputs_replace_links("run", null_job + ["--output", progress_out], [progress_out + ".progress.json"])
os.symlink(victim, os.path.join(work, "linked.h5"))
status, text = command(null_job + ["--output", os.path.join(work, "linked.h5")])
assert status == 2 and "is a symbolic link" in text and victim_unchanged(), text[-2000:]
print("run: a cohort file given as a link is refused (exit 2)")

# 2. The output lock, through other spellings and names of one file.
lock_dir = os.path.join(work, "lock")
os.makedirs(lock_dir)
os.symlink(lock_dir, os.path.join(work, "alias"))
output = os.path.join(lock_dir, "cohort.h5")
spelled = os.path.join(work, "alias", "..", "lock", "cohort.h5")
through_link = os.path.join(work, "alias", "cohort.h5")
shutil.copy(cohort, output)


def held_by_another(text):
    return "is being written by another job" in text and f"held by {os.uname().nodename}:" in text and " since " in text


def while_running(args, log, ready):
    """Starts `args` (slowed down by the test hooks), waits until `ready()`; returns the process."""
    out = open(log, "w")
    process = subprocess.Popen([binary] + args, env=environment({"WSI_TEST_UNIT_PAUSE": "2"}), stdout=out,
                               stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while not ready():
        assert process.poll() is None and time.time() < deadline, open(log).read()[-2000:]
        time.sleep(0.05)
    return process


# `aggregate` holds the file: `run` on it is refused.
aggregate_log = os.path.join(work, "aggregate.log")
first = while_running(["aggregate", output, "--model", "mean", "--slides-per-write", "1"], aggregate_log,
                      lambda: "done slides left" in open(aggregate_log).read())
status, text = command(null_job + ["--output", through_link])
assert status == 2 and held_by_another(text), text[-2000:]
first.kill()
first.wait()
print("lock: run refused while aggregate writes the file (through a linked folder)")
# `run` holds the file: run through other spellings, aggregate, and run through a hard link are
# refused.
os.remove(output)
first = while_running(null_job + ["--output", output, "--unit-tiles", "4"], os.path.join(work, "run.log"),
                      lambda: os.path.exists(output))
for other in (spelled, through_link):
    status, text = command(null_job + ["--output", other])
    assert status == 2 and held_by_another(text), (other, text[-2000:])
status, text = command(["aggregate", spelled, "--model", "mean"])
assert status == 2 and held_by_another(text), text[-2000:]
hard_link = os.path.join(work, "hard-link.h5")
os.link(output, hard_link)
status, text = command(null_job + ["--output", hard_link])
assert status == 2 and "has 2 names (hard links)" in text, text[-2000:]
first.kill()
first.wait()
print("lock: run and aggregate refused while run writes the file (other spellings, a hard link)")

# 3. NaN and infinities.
for args, option in ((null_job + ["--output", os.path.join(work, "nan.h5"), "--checkpoint-interval", "nan"],
                      "--checkpoint-interval"),
                     (null_job + ["--output", os.path.join(work, "nan.h5"), "--resolution", "inf"], "--resolution"),
                     (["render", cohort, "--output", render_dir, "--alpha", "nan"], "--alpha"),
                     (["synth", "--output", os.path.join(work, "nan"), "--mpp", "inf"], "--mpp")):
    status, text = command(args)
    assert status == 2 and f"{option}: must be a finite number" in text, (args, status, text[-2000:])
assert not os.path.exists(os.path.join(work, "nan.h5"))
print("options: NaN and infinities refused with exit 2, naming the option")

# 4. Which slides render opens.
bare = os.path.join(work, "bare.h5")
run([binary] + null_job + ["--output", bare, "--no-thumbnail"])
elsewhere = os.path.join(work, "elsewhere")
os.makedirs(elsewhere)
shutil.copy(bare, elsewhere)
moved = os.path.join(elsewhere, "bare.h5")  # /slides/path still names readable slides
status, text = command(["render", moved, "--output", os.path.join(work, "render-moved")])
assert status == 1 and "no manifest names its slide file (give --slides MANIFEST)" in text, text[-2000:]
assert "does not open the file's own /slides/path" in text, text[-2000:]
manifest = os.path.join(work, "manifest.csv")
status, text = command(["render", moved, "--slides", manifest, "--output", os.path.join(work, "render-given")])
assert status == 0 and f"(listed in {manifest})" in text, text[-2000:]
status, text = command(["render", bare, "--output", os.path.join(work, "render-next-to")])
assert status == 0 and f"(listed in {manifest})" in text, text[-2000:]
print("render: slide pixels read from the manifest given or next to the file, not from /slides/path")
print("outputs_and_locks OK")
