#!/bin/bash
# UMAP speed and quality, ours against umap-learn, side by side (not part of the test suite):
#   bench/umap.sh [BUILD_DIR] [N ...]     (default build-perf; sizes default 5000 50000)
# Needs umap_bench (`ninja -C BUILD_DIR bench`) and Debian's umap-learn and scikit-learn.
# Environment: BENCH_DIR (scratch, default a fresh mktemp -d), BENCH_THREADS (default: the cores).
# Prints a table (docs/umap.md); 50,000 rows take several minutes on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build-perf}" && pwd)
shift || true
sizes=("$@")
((${#sizes[@]})) || sizes=(5000 50000)
bench=$build/bench/umap_bench
[ -x "$bench" ] || { echo "missing $bench: build with ninja -C $build bench" >&2; exit 2; }
work=${BENCH_DIR:-$(mktemp -d)}
threads=${BENCH_THREADS:-$(nproc)}
echo "UMAP, $(date -u +%F), $(lscpu | sed -n 's/^Model name: *//p'), $threads threads, scratch $work"
/usr/bin/python3 "$root/bench/umap.py" "$bench" "$work" "$threads" "${sizes[@]}"
