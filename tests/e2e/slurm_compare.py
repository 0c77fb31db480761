"""Compares a cohort file written under Slurm with a reference run of the same job.

    /usr/bin/python3 slurm_compare.py SLURM.h5 REFERENCE.h5 [--ranks N]

Every dataset must be equal bit for bit, except those that say how the run went rather than
what it computed: /progress/rank (who computed each unit), /stats/* (timings, one row per
rank) and, in /job/config, the output path. Also checks that the Slurm file is complete:
every unit done, every slide done. With --ranks N, the (last) run had N ranks (/stats/ranks has
a row per rank: srun really ran N ranks into the one file); with --all-ranks-computed too,
every rank 0..N-1 computed at least one unit.
"""
import argparse
import json
import sys

import h5py
import numpy as np

HOW_THE_RUN_WENT = ("progress/rank", "stats/")


def datasets(f):
    names = []
    f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return sorted(names)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("slurm")
    p.add_argument("reference")
    p.add_argument("--ranks", type=int, default=0)
    p.add_argument("--all-ranks-computed", action="store_true")
    a = p.parse_args()
    problems = []
    with h5py.File(a.slurm, "r") as s, h5py.File(a.reference, "r") as r:
        ns, nr = datasets(s), datasets(r)
        if ns != nr:
            problems.append(f"dataset names differ: only in slurm {sorted(set(ns) - set(nr))}, "
                            f"only in reference {sorted(set(nr) - set(ns))}")
        compared = 0
        for n in nr:
            if n not in s or n.startswith(HOW_THE_RUN_WENT):
                continue
            x, y = s[n][()], r[n][()]
            if n == "job/config":
                cx, cy = json.loads(x), json.loads(y)
                cx.pop("output", None)
                cy.pop("output", None)
                if cx != cy:
                    problems.append(f"job/config differs beyond the output path:\n  {cx}\n  {cy}")
            elif isinstance(x, np.ndarray):
                if x.shape != y.shape or x.dtype != y.dtype or not np.array_equal(x, y):
                    diff = "" if x.shape != y.shape else f", {int(np.sum(x != y))} values differ"
                    problems.append(f"{n} differs ({x.shape} {x.dtype} vs {y.shape} {y.dtype}{diff})")
            elif x != y:
                problems.append(f"{n} differs: {x!r} vs {y!r}")
            compared += 1
        done = s["progress/done"][:]
        status = s["slides/status"][:]
        if not np.all(done == 1):
            problems.append(f"{int(np.sum(done != 1))} of {done.size} units not done")
        if not np.all(status == 1):
            problems.append(f"slide status not all done: {status.tolist()}")
        if "tiles/probabilities" not in s:
            problems.append("no /tiles/probabilities")
        ranks = sorted(set(s["progress/rank"][:].tolist()))
        if a.ranks and s["stats/ranks"].shape[0] != a.ranks:
            problems.append(f"/stats/ranks has {s['stats/ranks'].shape[0]} rows, expected {a.ranks}")
        if a.all_ranks_computed and ranks != list(range(a.ranks)):
            problems.append(f"units were computed by ranks {ranks}, expected 0..{a.ranks - 1}")
        print(f"slurm_compare: {compared} datasets compared, {done.size} units, "
              f"{s['tiles/slide'].shape[0]} tiles, {status.size} slides, computed by ranks {ranks}")
    if problems:
        for m in problems:
            print("slurm_compare: FAIL:", m, file=sys.stderr)
        return 1
    print("slurm_compare: identical to the reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
