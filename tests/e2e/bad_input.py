"""Bad input never stops a cohort, as data (tests/cases/bad_input.csv): each row builds a slide
from its description; run alone beside a good slide it fails its own slide with the expected
message (in /slides/error) and the exit status says so (3: some slides failed); all rows in one
cohort between two good slides, on 1 and on 3 ranks, give the same rows, the good slides done and
a log naming every failed slide. Then models
that give NaN or the wrong width (on 1 and 2 ranks: exit 1, the slide failed) and an output
that cannot be written (exit 1, naming it).
Build descriptions: synth [keep=FRACTION] [mask=WxH] [id=ID] (the good synthetic slide, its
first bytes only, a mask PNG of that size, another id), missing, bytes N, text WORDS (';' for
','), tiff size=WxH [mpp=MPP] colour=R;G;B (a flat tiled TIFF, resolution tags only with mpp).
usage: bad_input.py BIN WORK CSV"""
import csv
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import environment, mpirun, slides, synth, write_tiled_tiff  # noqa: E402

binary, work, table = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
# The good slide and the demo model that tells the synthetic classes apart.
synth(binary, os.path.join(work, "synth"), "--slides", "1", "--size", "2000x1500", "--levels", "2", "--seed", "5")
GOOD = os.path.join(work, "synth", "slide_001.svs")
MODEL = os.path.join(work, "synth", "model.pt")
with open(table) as f:
    CASES = list(csv.DictReader(f))
assert len(CASES) >= 10, CASES


def build(case, folder):
    """Writes the case's files into folder; returns its manifest line (id,path[,mask])."""
    kind, _, rest = case["build"].partition(" ")
    params = dict(p.split("=", 1) for p in rest.split() if "=" in p)
    name = case["case"]
    slide_id = params.get("id", "good_too" if name == "good" else name)
    path = os.path.join(folder, name + ".svs")
    line = None
    if kind == "synth":
        path = GOOD
        if "keep" in params:
            data = open(GOOD, "rb").read()
            path = os.path.join(folder, name + ".svs")
            open(path, "wb").write(data[:int(len(data) * float(params["keep"]))])
        if "mask" in params:
            w, h = map(int, params["mask"].split("x"))
            mask = os.path.join(folder, name + ".mask.png")
            cv2.imwrite(mask, np.full((h, w), 255, np.uint8))
            line = f"{slide_id},{path},{mask}"
    elif kind == "missing":
        pass
    elif kind == "bytes":
        open(path, "wb").write(b"\0" * int(rest))
    elif kind == "text":
        open(path, "w").write(rest.replace(";", ",") + "\n")
    elif kind == "tiff":
        w, h = map(int, params["size"].split("x"))
        colour = [int(c) for c in params["colour"].split(";")]
        path = os.path.join(folder, name + ".tif")
        write_tiled_tiff(path, np.full((h, w, 3), colour, np.uint8),
                         mpp=float(params["mpp"]) if "mpp" in params else None)
    else:
        raise ValueError(f"unknown build '{case['build']}'")
    return line or f"{slide_id},{path}"


def run_cohort(folder, lines, ranks=1, model=MODEL, extra=()):
    with open(os.path.join(folder, "manifest.csv"), "w") as f:
        f.write("slide_id,path,mask\n" + "".join(line + "\n" for line in lines))
    out = os.path.join(folder, "out.h5")
    args = ["run", "--slides", os.path.join(folder, "manifest.csv"), "--model", model, "--output", out,
            "--threads", "1", "--overwrite"] + list(extra)
    command = mpirun(binary, ranks, args) if ranks > 1 else [binary] + args
    result = subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout + result.stderr, slides(out)


failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAILED:", what)


def check_row(case, row, where):
    expected = 1 if case["status"] == "done" else 2
    check(row["status"] == expected, f"{where} {case['case']}: status {row['status']}, expected {expected} "
                                     f"(error '{row['error']}')")
    check(case["message"] in row["error"], f"{where} {case['case']}: error '{row['error']}' lacks "
                                           f"'{case['message']}'")
    if case["status"] == "failed":  # the error names the slide (the duplicate: the id it repeats)
        named = "good" if case["case"] == "duplicate" else row["path"]
        check(named in row["error"], f"{where} {case['case']}: error '{row['error']}' does not name {named}")


# Each case alone, after a good slide.
for case in CASES:
    folder = os.path.join(work, "alone-" + case["case"])
    os.makedirs(folder)
    status, text, rows = run_cohort(folder, [f"good,{GOOD}", build(case, folder)])
    check(status == (0 if case["status"] == "done" else 3), f"alone {case['case']}: exit {status}\n{text[-2000:]}")
    check(len(rows) == 2 and rows[0]["status"] == 1, f"alone {case['case']}: the good slide is not done: {rows}")
    if len(rows) == 2:
        check_row(case, rows[1], "alone")
    print(f"alone {case['case']}: exit {status}")

# All cases in one cohort, on 1 and on 3 ranks.
bad = [c for c in CASES if c["case"] != "good"]
for ranks in (1, 3):
    folder = os.path.join(work, f"all-{ranks}")
    os.makedirs(folder)
    # A good slide on either side: the slides failing in planning sit in the middle of the
    # cohort, and the rest (planned after them, beside inference) still finishes.
    lines = [f"good,{GOOD}"] + [build(c, folder) for c in bad] + [f"good_last,{GOOD}"]
    status, text, rows = run_cohort(folder, lines, ranks)
    check(status == 3, f"all on {ranks} ranks: exit {status}\n{text[-2000:]}")
    check(len(rows) == len(lines) and rows[0]["status"] == 1 and rows[-1]["status"] == 1,
          f"all on {ranks} ranks: rows {rows}")
    for case, row in zip(bad, rows[1:]):
        check_row(case, row, f"all on {ranks} ranks:")
    for case in bad:  # the log names every failed slide too
        if case["case"] != "duplicate":
            check(f"slide {case['case']} failed" in text, f"all on {ranks} ranks: the log lacks "
                                                            f"'slide {case['case']} failed'")
    print(f"all on {ranks} ranks: exit {status}")

# Models that give NaN or the wrong width fail the slides, not the job: nothing succeeded, exit 1.
folder = os.path.join(work, "bad-models")
os.makedirs(folder)
subprocess.run(["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "..", "python", "bad_models.py"), folder],
               check=True)
for ranks in (1, 2):  # on 2 ranks: failures met in inference on either rank
    for model, message in (("nan.pt", "NaN"), ("wide.pt", "gives 3 class scores per patch but declares 2")):
        status, text, rows = run_cohort(folder, [f"good,{GOOD}"], ranks, os.path.join(folder, model),
                                        ["--unit-tiles", "8"])
        where = f"{model} on {ranks} ranks"
        check(status == 1, f"{where}: exit {status}\n{text[-2000:]}")
        check(rows[0]["status"] == 2 and message in rows[0]["error"], f"{where}: {rows}")
        print(f"{where}: exit {status}")

# An output in a folder that does not exist: the job is refused before it starts (exit 2), naming it.
result = subprocess.run([binary, "run", "--slides", GOOD, "--model", MODEL, "--output", "/nonexistent/dir/out.h5",
                         "--threads", "2"], env=environment(), capture_output=True, text=True, timeout=300)
check(result.returncode == 2, f"unwritable output: exit {result.returncode}")
check("/nonexistent/dir/out.h5" in result.stderr, f"unwritable output: stderr {result.stderr[-1000:]}")

assert not failures, "\n".join(failures)
print("bad_input OK")
