"""The layers of src/ and include/wsi/ depend one way (docs/design.md, "Data flow and where it
lives"): a module may include its own headers and those of modules of a lower layer, never of its
own layer or above. MPI stays behind Comm: no file outside src/comm/ includes mpi.h or calls an
MPI function, and only the parallel HDF5 driver (src/cohort/h5_parallel.*) reaches the raw
communicator through src/comm/mpi_comm.hpp. Prints every include or call that breaks this.
usage: layers.py ROOT"""
import pathlib
import re
import sys

# Lowest first. Modules of one layer do not include each other.
LAYERS = [
    ["util"],
    ["units", "comm"],
    ["slide", "model", "grid", "patches", "synth", "embed"],
    ["mask", "maps", "cohort", "batch"],
    ["job"],
    ["schedule", "render"],
    ["plan", "export"],
    ["run"],
    ["cli"],
]
LAYER = {module: i for i, modules in enumerate(LAYERS) for module in modules}
# Outside src/comm/, the only files that may see the raw MPI communicator.
RAW_COMMUNICATOR = {"src/cohort/h5_parallel.cpp", "src/cohort/h5_parallel.hpp"}
MPI_CALL = re.compile(r"\bMPI_[A-Z][a-z_]*\s*\(")


def module_of(path):
    """src/<m>/..., include/wsi/<m>/... or an include written as "<m>/..." / "wsi/<m>/..."."""
    parts = pathlib.PurePosixPath(path).parts
    if parts[:2] == ("include", "wsi"):
        parts = parts[2:]
    elif parts[:1] in (("src",), ("wsi",)):
        parts = parts[1:]
    if len(parts) == 1 and parts[0].startswith("units."):
        return "units"
    return parts[0] if len(parts) > 1 else None


def main(root):
    root = pathlib.Path(root)
    bad = []
    files = sorted(list(root.glob("src/**/*.[ch]pp")) + list(root.glob("include/wsi/**/*.hpp")))
    for path in files:
        here = module_of(path.relative_to(root).as_posix())
        if here is None:
            continue
        if here not in LAYER:
            bad.append(f"{path.relative_to(root)}: module '{here}' has no layer in tests/style/layers.py")
            continue
        relative = path.relative_to(root).as_posix()
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if here != "comm":
                if re.match(r"\s*#include <mpi\.h>", line) or MPI_CALL.search(line.split("//")[0]):
                    bad.append(f"{relative}:{number}: MPI used outside src/comm/ (use Comm)")
                if '#include "comm/mpi_comm.hpp"' in line and relative not in RAW_COMMUNICATOR:
                    bad.append(f"{relative}:{number}: the raw communicator outside src/comm/ and the HDF5 driver")
            match = re.match(r'\s*#include "([^"]+)"', line)
            if not match:
                continue
            there = module_of(match.group(1))
            if there is None or there == here:
                continue
            if there not in LAYER or LAYER[there] >= LAYER[here]:
                bad.append(f"{path.relative_to(root)}:{number}: {here} (layer {LAYER[here]}) includes "
                           f"{match.group(1)} ({there}, layer {LAYER.get(there, '?')})")
    for line in bad:
        print(line)
    print(f"layers: {len(files)} files, {len(bad)} includes against the layering")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
