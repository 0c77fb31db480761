#!/bin/bash
# Start-up and whole-run rate of `wsi-mpi run` against PyTorch's best model-only rate, measured in
# one go on this machine (not part of the test suite). One command:
#   bench/startup.sh [BUILD_DIR]      (default build; needs wsi-mpi built there)
# Cohort: 64 x CMU-1-Small-Region (5,248 tiles) from $WSI_TEST_DATA (else ../shared/data), 1 rank,
# BENCH_THREADS threads (default 2), ResNet-18 with seeded random weights. Three runs:
#   rule       the default: the numeric configuration by rule, nothing timed
#   cold       --autotune with an empty tuning cache (measures, then stores)
#   warm       --autotune again (reads the cache)
# For each: seconds from process start to the model loaded and to the first batch inferred, the
# wall time, and tiles/s over the whole run as a fraction of PyTorch's best fp32 model-only rate
# (best of frozen / optimize_for_inference x NCHW / channels-last x batch 8 / 32, from Python).
# Then BENCH_REPEATS (default 5) short runs (4 slides) each of `rule` and `warm`, for the median
# start-up: one run's start-up varies by a tenth of a second on a shared machine. With
# BENCH_DROP_PAGE_CACHE=1 (root), one more `rule` run after dropping the kernel's page cache, so
# that LibTorch's libraries, the weights and the slides are read from disk again.
# Takes about 7 minutes on 2 cores. Scratch: BENCH_DIR (default a fresh mktemp -d).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
bin=$build/src/wsi-mpi
threads=${BENCH_THREADS:-2}
data=${WSI_TEST_DATA:-$root/../shared/data}
slide=$data/cmu-1-small-region/CMU-1-Small-Region.svs
[ -x "$bin" ] || { echo "missing $bin: build first" >&2; exit 2; }
[ -f "$slide" ] || { echo "missing $slide: set WSI_TEST_DATA" >&2; exit 2; }
work=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work/slides"
cd "$work"
echo "startup bench in $work; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores," \
     "load average $(cut -d' ' -f1 /proc/loadavg)"

echo "slide_id,path" > cohort.csv
for i in $(seq -w 1 64); do
  ln -sf "$slide" "slides/cmu1_$i.svs"
  echo "cmu1_$i,slides/cmu1_$i.svs" >> cohort.csv
done
[ -s weights.pth ] || /usr/bin/python3 -c "
import torch, torchvision
torch.manual_seed(0)
torch.save(torchvision.models.resnet18(num_classes=9).state_dict(), 'weights.pth')"

/usr/bin/python3 "$root/bench/pytorch_ceiling.py" --threads "$threads" --seconds 4 --batches 8,32 2>/dev/null \
  | tee pytorch.log
ceiling=$(awk '/^best/ {print $2}' pytorch.log)

run_one() {  # run_one NAME extra-args...
  local name=$1; shift
  /usr/bin/time -f "%e" -o "$name.wall" "$bin" run --slides cohort.csv --model resnet18-kather100k \
    --weights weights.pth --threads "$threads" --output "$name.h5" --overwrite "$@" > "$name.log" 2>&1
}
rm -rf cache
runs="rule cold warm"
run_one rule
run_one cold --autotune --tuning-cache cache/tuning.json
run_one warm --autotune --tuning-cache cache/tuning.json
if [ "${BENCH_DROP_PAGE_CACHE:-0}" = 1 ]; then
  sync && echo 3 > /proc/sys/vm/drop_caches
  run_one pages_dropped
  runs+=" pages_dropped"
fi

echo
echo "| run | numeric configuration | model loaded (s) | first batch (s) | wall (s) | tiles/s | of PyTorch's best ($ceiling) |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for name in $runs; do
  config=$(sed -nE 's/.*numeric configuration: (.*)/\1/p' "$name.log" | head -1)
  loaded=$(sed -nE 's/.*model loaded ([0-9.]+) s after.*/\1/p' "$name.log" | head -1)
  first=$(sed -nE 's/.*first batch inferred ([0-9.]+) s after.*/\1/p' "$name.log" | head -1)
  tiles=$(/usr/bin/python3 -c "import h5py; print(int(h5py.File('$name.h5')['slides/tile_count'][:].sum()))")
  wall=$(cat "$name.wall")
  rate=$(awk -v t="$tiles" -v w="$wall" 'BEGIN {printf "%.1f", t / w}')
  echo "| $name | $config | $loaded | $first | $wall | $rate | $(awk -v r="$rate" -v c="$ceiling" 'BEGIN {printf "%.2f", r / c}') |"
done

# Start-up alone, repeated: seconds from the model loaded to the first batch, 4 slides a run.
head -5 cohort.csv > short.csv
after_load() {  # after_load LOG
  awk '/model loaded/ {sub(/.*model loaded /, ""); l=$1} /first batch inferred/ {sub(/.*first batch inferred /, ""); f=$1}
       END {printf "%.2f\n", f - l}' "$1"
}
median_range() { sort -n | awk '{v[NR]=$1} END {printf "median %.2f (%.2f to %.2f, %d runs)", (NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2), v[1], v[NR], NR}'; }
: > short_rule.txt; : > short_warm.txt
for i in $(seq 1 "${BENCH_REPEATS:-5}"); do
  "$bin" run --slides short.csv --model resnet18-kather100k --weights weights.pth --threads "$threads" \
    --output short.h5 --overwrite > short.log 2>&1 && after_load short.log >> short_rule.txt
  "$bin" run --slides short.csv --model resnet18-kather100k --weights weights.pth --threads "$threads" \
    --output short.h5 --overwrite --autotune --tuning-cache cache/tuning.json > short.log 2>&1 &&
    after_load short.log >> short_warm.txt
done
echo
echo "| start-up, model loaded to first batch, 4 slides a run | seconds |"
echo "| --- | --- |"
echo "| rule (default) | $(median_range < short_rule.txt) |"
echo "| --autotune, cache present | $(median_range < short_warm.txt) |"
