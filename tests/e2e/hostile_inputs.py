"""Hostile or broken files a user hands over, or that sit in a shared folder, as data
(tests/cases/hostile_inputs.csv): each row builds a file from its description, runs a command
of the real binary on it, and requires the exit status and a message fragment -- never a signal.
A link planted where the job writes a side file must leave the link's target unchanged.
usage: hostile_inputs.py BIN WORK CSV [NAME...]   (names: only those rows)"""
import csv
import os
import shutil
import struct
import subprocess
import sys
import zipfile

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import environment, run, synth  # noqa: E402

binary, work, table = sys.argv[1], sys.argv[2], sys.argv[3]
only = set(sys.argv[4:])
shutil.rmtree(work, ignore_errors=True)
synth(binary, work, "--slides", "2", "--size", "3000x2200")
job = os.path.join(work, "job.ini")
CLASSES = ",".join("abcdefghi")
# A finished cohort file with classes and features (the null model gives both), for the h5 rows.
base_cohort = os.path.join(work, "base.h5")
run([binary, "run", "--job", job, "--output", base_cohort, "--model", "null", "--mode", "both"])


def torch_zip(path, pickle_bytes, records):
    """A file laid out as torch.save writes it: archive/data.pkl, archive/data/<key>, version."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        z.writestr("archive/version", "3\n")
        for key, data in records.items():
            z.writestr(f"archive/data/{key}", data)


def state_dict_pickle(numel, size, stride):
    """{'w': tensor} as torch.save pickles it, with the view (size, stride) and numel given."""
    # ('storage', torch.FloatStorage, '0', 'cpu', numel) as the persistent id, then
    # torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict()), in opcodes.
    ops = bytearray(b"\x80\x02")
    ops += b"ccollections\nOrderedDict\n)R"                        # OrderedDict()
    ops += b"X\x01\x00\x00\x00w"                                   # key 'w'
    ops += b"ctorch._utils\n_rebuild_tensor_v2\n("                 # callable, MARK
    ops += b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu"
    ops += b"J" + struct.pack("<i", numel) + b"tQ"                  # persistent id tuple, BINPERSID
    ops += b"K\x00"                                                # storage offset 0
    ops += b"J" + struct.pack("<i", size) + b"\x85"                # size (n,)
    ops += b"J" + struct.pack("<i", stride) + b"\x85"              # stride (s,)
    ops += b"\x89ccollections\nOrderedDict\n)Rt"                   # False, OrderedDict(), TUPLE
    ops += b"Rs."                                                  # REDUCE, SETITEM, STOP
    return bytes(ops)


def build(spec, name):
    kind, _, rest = spec.partition(" ")
    params = dict(p.split("=", 1) for p in rest.split() if "=" in p)
    folder = os.path.join(work, name)
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, "input")
    cohort = os.path.join(folder, "cohort.h5")
    if kind == "pth":
        torch_zip(target, state_dict_pickle(int(params["numel"]), int(params["size"]), int(params["stride"])),
                  {"0": b"\x00" * int(params["bytes"])})
    elif kind == "pickle":
        if "deep" in params:
            data = b"\x80\x02N" + b"\x85" * int(params["deep"]) + b"."
        elif "wrap" in rest:
            data = b"\x80\x02\x8d" + b"\xff" * 8 + b"."
        else:  # a list that holds itself, handed to a rebuild function as its arguments
            g = b"ctorch._tensor\n_rebuild_from_type_v2\n"
            data = b"\x80\x02]\x94" + g + b"aNah\x00a" + g + b"h\x00R."
        torch_zip(target, data, {})
    elif kind == "torchscript":
        subprocess.run(["/usr/bin/python3", "-c", f"""
import torch
m = torch.jit.script(torch.nn.Identity())
torch.jit.save(m, {target!r}, _extra_files={{"wsi_model.json": "[" * {int(params['depth'])}}})
"""], check=True)
    elif kind in ("progress", "h5"):
        shutil.copy(base_cohort, cohort)
        if kind == "progress":
            with open(cohort + ".progress.json", "w") as f:
                f.write('{"state": ' + "[" * int(params["depth"]))
        else:
            _, dataset, index, value = spec.split(" ")
            with h5py.File(cohort, "r+") as f:
                d = f[dataset]
                if index == "-":
                    d[()] = int(value)
                elif d.dtype.kind == "S":
                    d[int(index)] = value.encode()
                elif d.ndim == 2:
                    d[int(index), 0] = int(value)
                else:
                    d[int(index)] = int(value)
    elif kind == "link":
        shutil.copy(base_cohort, cohort)
        os.makedirs(os.path.join(folder, "export"), exist_ok=True)
        with open(os.path.join(folder, "victim.txt"), "w") as f:
            f.write("not yours\n")
    elif kind == "slide":
        synth(binary, folder, "--slides", "1", "--size", "2000x1500", "--mpp", params["mpp"])
        target = os.path.join(folder, "slide_001.svs")
    elif kind == "tiff":
        target = os.path.join(folder, "huge-tiles.tif")
        write_tiff_with_tile(target, int(params["tile"]))
    return folder, target, cohort


def write_tiff_with_tile(path, tile):
    """A little-endian, tiled, uncompressed RGB TIFF of 1024 x 768 px whose tile header says
    tile x tile px; its one tile holds a few bytes only."""
    entries = [(256, 4, 1, 1024), (257, 4, 1, 768), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 2),
               (277, 3, 1, 3), (284, 3, 1, 1), (322, 4, 1, tile), (323, 4, 1, tile), (324, 4, 1, 0),
               (325, 4, 1, 16)]
    header = 8
    ifd_size = 2 + 12 * len(entries) + 4
    data_offset = header + ifd_size
    with open(path, "wb") as f:
        f.write(b"II*\x00" + struct.pack("<I", header))
        f.write(struct.pack("<H", len(entries)))
        for tag, kind, count, value in entries:
            if tag == 324:
                value = data_offset
            f.write(struct.pack("<HHII", tag, kind, count, value) if kind == 4 else
                    struct.pack("<HHIHH", tag, kind, count, value, 0))
        f.write(struct.pack("<I", 0))
        f.write(b"\x80" * 16)


with open(table) as f:
    rows = list(csv.DictReader(f))
assert len(rows) >= 15
failures = []
for row in rows:
    if only and row["name"] not in only:
        continue
    folder, target, cohort = build(row["build"], row["name"])
    out = os.path.join(folder, "out.h5")
    link = None
    if row["build"].startswith("link "):
        link = row["build"].split(" ", 1)[1].format(out=out, work=folder)
        os.symlink(os.path.join(folder, "victim.txt"), link)
    command = row["command"].format(job=job, out=out, file=target, cohort=cohort, work=folder, classes=CLASSES)
    result = subprocess.run([binary] + command.split(), env=environment(), capture_output=True, text=True,
                            timeout=300)
    text = result.stdout + result.stderr
    problems = []
    if result.returncode < 0:
        problems.append(f"killed by signal {-result.returncode}")
    elif result.returncode != int(row["exit"]):
        problems.append(f"exit {result.returncode}, expected {row['exit']}")
    if "ERROR: AddressSanitizer" in text or "runtime error:" in text:
        problems.append("a sanitizer reported an error")
    if row["message"] and row["message"] not in text:
        problems.append(f"no '{row['message']}' in the output")
    if link is not None and open(os.path.join(folder, "victim.txt")).read() != "not yours\n":
        problems.append("the link's target was overwritten")
    if problems:
        failures.append(f"{row['name']}: {'; '.join(problems)}\n{text[-1500:]}")
    print(f"{row['name']}: {'FAILED ' + '; '.join(problems) if problems else 'ok'} (exit {result.returncode})")
assert not failures, "\n\n".join(failures)
print("hostile_inputs OK")
