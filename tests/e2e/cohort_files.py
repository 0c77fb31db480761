"""Crafted cohort files, as data (tests/cases/cohort_files.csv): each row changes one real cohort
file (made once here with synth + run) through h5py, runs a command of the binary on the result
and requires the exit status and a message fragment -- never a signal, never a sanitizer report,
never longer than 60 s -- on each number of ranks of its `ranks` column (2: under mpirun; the
MPI commands run, aggregate and umap only).
Changes (';' between several): attr NAME array|strings; set DATASET INDEX|*|- VALUE;
replace DATASET DTYPE SHAPE (made when absent; h5py dtype, e.g. i8, f4, S16; SHAPE 'scalar' or AxB..., each a
number, S N U C F (+k) or dK, the old K-th dimension); chunked DATASET DTYPE SHAPE [CHUNK]
(never written; chunks 4096 a side unless given); external DATASET (its data in a raw file);
vlen DATASET; delete NAME; group NAME; softlink NAME TARGET; extlink NAME;
embeddings NAME ROWS FLAGS (ROWS 0: no rows dataset); manifest ID_BYTES (writes {file}).
usage: cohort_files.py BIN WORK CSV [--one-rank] [NAME...]   (names: only those rows; --one-rank:
the single-rank runs only, as the sanitizer build runs the table: it checks memory, which the
2-rank runs of the same readers do not add to)"""
import csv
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import environment, mpirun, run, synth  # noqa: E402

binary, work, table = sys.argv[1], sys.argv[2], sys.argv[3]
one_rank = "--one-rank" in sys.argv[4:]
only = set(a for a in sys.argv[4:] if a != "--one-rank")
shutil.rmtree(work, ignore_errors=True)
synth(binary, work, "--slides", "2", "--size", "1600x1200")
job = os.path.join(work, "job.ini")
base = os.path.join(work, "base.h5")  # classes and features (the null model gives both)
run([binary, "run", "--job", job, "--output", base, "--model", "null", "--mode", "both", "--threads", "1"])
with h5py.File(base, "r") as f:
    COUNTS = {"S": len(f["/slides/key"]), "N": len(f["/tiles/slide"]), "U": len(f["/progress/units"]),
              "C": len(f["/job/class_names"]), "F": int(f["/job/feature_size"][()])}
MPI_COMMANDS = ("run", "aggregate", "umap")


def extent(token, old):
    if token.startswith("d"):
        return old[int(token[1:])]
    name, _, plus = token.partition("+")
    return (COUNTS[name] if name in COUNTS else int(name)) + int(plus or 0)


def shape_of(text, old=()):
    return () if text == "scalar" else tuple(extent(t, old) for t in text.split("x"))


def value_of(text, dtype):
    if dtype.kind == "S":
        return text.encode()
    return float(text) if dtype.kind == "f" else extent(text, ())


def change(f, op, folder):
    kind, *args = op.split()
    if kind == "attr":
        del f.attrs[args[0]]
        f.attrs[args[0]] = np.arange(64, dtype="i4") if args[1] == "array" else np.array([b"wsi-mpi cohort"] * 2)
    elif kind == "set":
        d = f[args[0]]
        value = value_of(args[2], d.dtype)
        if args[1] == "-":
            d[()] = value
        elif args[1] == "*":
            d[...] = value
        elif d.ndim == 2:
            d[extent(args[1], ()), 0] = value
        else:
            d[extent(args[1], ())] = value
    elif kind in ("replace", "chunked"):
        old = f[args[0]].shape if args[0] in f else ()
        shape = shape_of(args[2], old)
        if args[0] in f:  # else a dataset the file may hold, made here
            del f[args[0]]
        if kind == "chunked":
            chunks = shape_of(args[3]) if len(args) > 3 else tuple(min(d, 4096) for d in shape)
            f.create_dataset(args[0], shape=shape, dtype=args[1], chunks=chunks)
        else:
            f.create_dataset(args[0], shape=shape, dtype=args[1])
    elif kind == "vlen":
        values = [v.decode() for v in f[args[0]][()]]
        del f[args[0]]
        f.create_dataset(args[0], data=values, dtype=h5py.string_dtype())
    elif kind == "delete":
        del f[args[0]]
    elif kind == "group":
        del f[args[0]]
        f.create_group(args[0])
    elif kind == "softlink":
        del f[args[0]]
        f[args[0]] = h5py.SoftLink(args[1])
    elif kind == "extlink":
        other = os.path.join(folder, "other.h5")
        with h5py.File(other, "w") as o:
            o.create_dataset("x", data=f[args[0]][()])
        del f[args[0]]
        f[args[0]] = h5py.ExternalLink(other, "/x")
    elif kind == "external":
        data = f[args[0]][()]
        raw = os.path.join(folder, "raw.bin")
        data.tofile(raw)
        del f[args[0]]
        f.create_dataset(args[0], shape=data.shape, dtype=data.dtype, external=[(raw, 0, data.nbytes)])
    elif kind == "embeddings":
        rows, flags = extent(args[1], ()), extent(args[2], ())
        if rows:
            f.create_dataset("/slides/embeddings/" + args[0], shape=(rows, 4), dtype="f4")
        f.create_dataset("/progress/embeddings/" + args[0], shape=(flags,), dtype="u1")
    else:
        raise ValueError(f"unknown change {op!r}")


def build(name, spec):
    folder = os.path.join(work, name)
    os.makedirs(folder)
    cohort = os.path.join(folder, "cohort.h5")
    target = os.path.join(folder, "input")
    shutil.copy(base, cohort)
    if spec.startswith("manifest "):
        with open(target + ".csv", "w") as m:
            m.write("slide_id,path\n" + "x" * int(spec.split()[1]) + "," + os.path.join(work, "slide_001.svs") + "\n")
        return folder, cohort, target + ".csv"
    with h5py.File(cohort, "r+") as f:
        for op in filter(None, (o.strip() for o in spec.split(";"))):
            change(f, op, folder)
    return folder, cohort, target


def check(row, command, label):
    try:
        result = subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return f"{label}: no end within 60 s"
    text = result.stdout + result.stderr
    problems = []
    if result.returncode < 0 or result.returncode > 128:
        problems.append(f"killed by a signal (status {result.returncode})")
    elif result.returncode != int(row["exit"]):
        problems.append(f"exit {result.returncode}, expected {row['exit']}")
    if "ERROR: AddressSanitizer" in text or "runtime error:" in text or "LeakSanitizer" in text:
        problems.append("a sanitizer reported an error")
    if row["message"] and row["message"] not in text:
        problems.append(f"no '{row['message']}' in the output")
    print(f"{label}: {'FAILED ' + '; '.join(problems) if problems else 'ok'} (exit {result.returncode})", flush=True)
    return f"{label}: {'; '.join(problems)}\n{text[-1500:]}" if problems else None


with open(table) as f:
    rows = [r for r in csv.DictReader(f) if not only or r["name"] in only]
failures = []
for row in rows:
    folder, cohort, target = build(row["name"], row["change"])
    args = row["command"].format(job=job, cohort=cohort, work=folder, file=target,
                                 out=os.path.join(folder, "out.h5")).split()
    runs = [(int(n), [binary] + args if n == "1" else mpirun(binary, int(n), args)) for n in row["ranks"].split()
            if n == "1" or not one_rank]
    assert args[0] in MPI_COMMANDS or row["ranks"] == "1", f"{row['name']}: only run and aggregate use ranks"
    for ranks, command in runs:
        if ranks == 2:  # a fresh copy: the 1-rank run may have written
            build(row["name"] + ".2", row["change"])
            command = [c.replace(folder, folder + ".2") for c in command]
        failure = check(row, command, f"{row['name']} ({ranks} rank{'s' if ranks > 1 else ''})")
        if failure:
            failures.append(failure)
assert not failures, "\n\n".join(failures)
print(f"cohort_files OK ({len(rows)} cases)")
