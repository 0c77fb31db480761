#!/bin/bash
# Cohort-scale benchmark: is per-slide work off the critical path (planning beside inference, maps
# beside inference), how soon is the first tile inferred, how big is the file, and how much
# memory does a rank hold per slide?
# Not part of the test suite. One command:
#   bench/cohort.sh [BUILD_DIR]          (default build-perf; needs wsi-mpi, wsi_bench, model_bench)
# Environment: BENCH_DIR (scratch, default a fresh mktemp -d; give one to keep and reuse slides),
# BENCH_BIG_COPIES (copies of the 60000x40000 0.25-mpp slide, default 6), BENCH_MODEL_COPIES
# (copies for the resnet18 run, default 1: a CPU model needs minutes per copy), BENCH_SMALL
# (small slides for the planning/maps run, default 2000), BENCH_MEMORY (slide counts of the
# memory runs, default "2000 20000"), BENCH_THREADS (default 2).
# Small slides are copies of CMU-1-Small-Region.svs from $WSI_TEST_DATA or ../shared/data when
# present, else a synthetic 2220x2967 slide. Prints a table; logs stay in BENCH_DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build-perf}" && pwd)
bin=$build/src/wsi-mpi
work=${BENCH_DIR:-$(mktemp -d)}
big_copies=${BENCH_BIG_COPIES:-6}
model_copies=${BENCH_MODEL_COPIES:-1}
small=${BENCH_SMALL:-2000}
memory_counts=${BENCH_MEMORY:-2000 20000}
threads=${BENCH_THREADS:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1
for f in "$bin" "$build/bench/wsi_bench" "$build/bench/model_bench"; do
  [ -x "$f" ] || { echo "missing $f: build with ninja -C $build bench" >&2; exit 2; }
done
mkdir -p "$work"
cd "$work"
load_start=$(cut -d' ' -f1 /proc/loadavg)

manifest() {  # manifest FILE SLIDE COPIES
  { echo "slide_id,path"; for ((i = 1; i <= $3; i++)); do printf 'copy_%05d,%s\n' "$i" "$2"; done; } > "$1"
}
run_job() {  # run_job LOG NRANKS args...: /usr/bin/time -v around (mpirun) wsi-mpi run
  local log=$1 n=$2; shift 2
  local launcher=()
  [ "$n" -gt 1 ] && launcher=(mpirun -n "$n" --bind-to none)
  /usr/bin/time -v "${launcher[@]}" "$bin" run "$@" --overwrite > "$log" 2>&1
}
table_tiles() { awk '/rank  host +tiles/ {on=1; next} on && /info: +[0-9]+  [^ ]+ +[0-9]/ {sub(/.*info: +/, ""); t+=$3} END {print t+0}' "$1"; }
table_col() {  # table_col LOG COLUMN (3 reading .. 8 planning, 9 maps): the largest over ranks
  awk -v c="$2" '/rank  host +tiles/ {on=1; next} on && /info: +[0-9]+  [^ ]+ +[0-9]/ {sub(/.*info: +/, ""); if ($(c + 1) > m) m=$(c + 1)} END {printf "%.1f", m}' "$1"
}
wall_s() { awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; printf "%.1f", s}' "$1"; }
maxrss_mb() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$1"; }
first_tile_run() {  # first_tile_run LOG NRANKS OUT args...: like run_job, and prints the seconds from
  # the launch to the first moment OUT.progress.json shows a tile done, watched from outside
  local log=$1 n=$2 out=$3; shift 3
  rm -f "$out" "$out.progress.json"
  local t0 first=""
  t0=$(date +%s.%N)
  run_job "$log" "$n" --output "$out" "$@" &
  local job=$!
  while kill -0 "$job" 2> /dev/null; do
    if [ -z "$first" ] && grep -qE '"tiles_done":[1-9]' "$out.progress.json" 2> /dev/null; then
      first=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    fi
    sleep 0.1
  done
  wait "$job"
  echo "${first:-never}"
}
after_s() { sed -nE 's/.*; ([0-9.]+) s after the last tile.*/\1/p' "$1"; }
r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

echo "wsi-mpi cohort bench in $work; load average at start: $load_start"
[ -s big/slide_001.svs ] || "$bin" synth --output big --slides 1 --size 60000x40000 --mpp 0.25 > big.synth.log 2>&1
manifest big.csv "$work/big/slide_001.svs" "$big_copies"
manifest model.csv "$work/big/slide_001.svs" "$model_copies"

echo "(1) null model, $big_copies x 60000x40000, 1 rank, 1 reader ..."
b_first=$(first_tile_run big-null.log 1 big-null.h5 --slides big.csv --model null --threads 1 --readers 1)
b_tiles=$(table_tiles big-null.log); b_wall=$(wall_s big-null.log)
"$build/bench/wsi_bench" read --slide big/slide_001.svs --readers 1 --seconds 10 > big-read.log
reader=$(sed -n 1p big-read.log | sed -E 's/.*planned ([0-9.]+).*/\1/')
b_rate=$(r "$b_tiles" "$b_wall")
echo "(1b) the same, planned ahead (\`wsi-mpi plan\`), then run ..."
/usr/bin/time -v "$bin" plan --slides big.csv --model null --threads 1 --output big-ahead.h5 --overwrite > big-plan.log 2>&1
/usr/bin/time -v "$bin" run --slides big.csv --model null --threads 1 --readers 1 --output big-ahead.h5 \
  > big-ahead.log 2>&1
a_wall=$(wall_s big-ahead.log); a_rate=$(r "$(table_tiles big-ahead.log)" "$a_wall")

echo "(1c) the same slide with a scanner's pyramid (6 levels, down to downsample 32) ..."
[ -s big6/slide_001.svs ] || "$bin" synth --output big6 --slides 1 --size 60000x40000 --mpp 0.25 --levels 6 \
  > big6.synth.log 2>&1
manifest big6.csv "$work/big6/slide_001.svs" "$big_copies"
run_job big6-null.log 1 --slides big6.csv --model null --threads 1 --readers 1 --output big6-null.h5
"$build/bench/wsi_bench" read --slide big6/slide_001.svs --readers 1 --seconds 10 > big6-read.log
reader6=$(sed -n 1p big6-read.log | sed -E 's/.*planned ([0-9.]+).*/\1/')
w6_wall=$(wall_s big6-null.log); w6_rate=$(r "$(table_tiles big6-null.log)" "$w6_wall")

echo "(2) seeded resnet18, $model_copies x 60000x40000, 1 rank, $threads threads ..."
[ -s weights.pth ] || /usr/bin/python3 -c "
import torch, torchvision
torch.manual_seed(0)
torch.save(torchvision.models.resnet18(num_classes=9).state_dict(), 'weights.pth')"
"$build/bench/model_bench" --weights weights.pth --batch 8 --threads "$threads" --seconds 15 > ceiling.log
ceiling=$(awk '{print $(NF-1)}' ceiling.log)
run_job big-model.log 1 --slides model.csv --model resnet18-kather100k --weights weights.pth --batch-size 8 \
  --threads "$threads" --output big-model.h5
m_tiles=$(table_tiles big-model.log); m_wall=$(wall_s big-model.log)
m_rate=$(r "$m_tiles" "$m_wall")

echo "(3) $small small slides, 2 ranks, null model ..."
cmu=""
for d in "${WSI_TEST_DATA:-}" "$root/../shared/data"; do
  [ -n "$d" ] && [ -s "$d/cmu-1-small-region/CMU-1-Small-Region.svs" ] && { cmu="$d/cmu-1-small-region/CMU-1-Small-Region.svs"; break; }
done
if [ -z "$cmu" ]; then
  [ -s small/slide_001.svs ] || "$bin" synth --output small --slides 1 --size 2220x2967 > small.synth.log 2>&1
  cmu="$work/small/slide_001.svs"
fi
manifest small.csv "$cmu" "$small"
echo "(3a) planning alone (\`wsi-mpi plan\`), then tiles alone (\`run\` of the planned file) ..."
/usr/bin/time -v mpirun -n 2 --bind-to none "$bin" plan --slides small.csv --model null --threads 1 \
  --output small-ahead.h5 --overwrite > small-plan.log 2>&1
/usr/bin/time -v mpirun -n 2 --bind-to none "$bin" run --slides small.csv --model null --threads 1 --readers 1 \
  --output small-ahead.h5 > small-tiles.log 2>&1
p_wall=$(wall_s small-plan.log); t_wall=$(wall_s small-tiles.log)
echo "(3b) both at once: a fresh run ..."
s_first=$(first_tile_run small.log 2 small.h5 --slides small.csv --model null --threads 1 --readers 1)
s_wall=$(wall_s small.log); s_after=$(after_s small.log)
s_max=$(awk -v a="$p_wall" -v b="$t_wall" 'BEGIN { print (a > b ? a : b) }')

echo "(4) peak memory, 1 rank, null model, slides of 1000x800 px: $memory_counts slides ..."
[ -s tiny/slide_001.svs ] || "$bin" synth --output tiny --slides 1 --size 1000x800 > tiny.synth.log 2>&1
memory_rows=""
prev_n="" prev_rss=""
for n in $memory_counts; do
  manifest "tiny$n.csv" "$work/tiny/slide_001.svs" "$n"
  run_job "mem$n.log" 1 --slides "tiny$n.csv" --model null --threads 1 --readers 1 --output "mem$n.h5"
  rss=$(maxrss_mb "mem$n.log")
  memory_rows+="| peak RSS, $n slides ($(wall_s "mem$n.log") s; file $(( $(stat -c %s "mem$n.h5") / n )) bytes per slide) | $rss MB |"$'\n'
  if [ -n "$prev_n" ]; then
    memory_rows+="| memory per slide between $prev_n and $n slides | $(awk -v a="$prev_rss" -v b="$rss" -v m="$prev_n" -v n="$n" 'BEGIN { printf "%.1f", (b - a) * 1024 / (n - m) }') KB |"$'\n'
  fi
  prev_n=$n prev_rss=$rss
done
load_end=$(cut -d' ' -f1 /proc/loadavg)
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
flags=$(grep -m1 -o -w -E 'avx512f|avx512_bf16|amx_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')

echo
echo "## wsi-mpi at cohort scale ($(date -u +%Y-%m-%d), $cpu, $(nproc) cores${flags:+, $flags}; load $load_start at start, $load_end at end)"
echo
echo "| measure | value |"
echo "|---|---|"
echo "| (1) null model, $big_copies x 60000x40000 0.25 mpp ($b_tiles tiles), 1 rank, 1 reader: whole job | $b_rate tiles/s ($b_wall s) |"
echo "| (1) the reader alone on that slide (\`wsi_bench read\`, 1 thread) | $reader tiles/s; whole job / reader = **$(r "$b_rate" "$reader")** |"
echo "| (1) seconds from the launch to the first tile done (progress file) / planning (rank table) / maps / after the last tile | $b_first / $(table_col big-null.log 8) / $(table_col big-null.log 9) / $(after_s big-null.log) |"
echo "| (1b) planned ahead (\`wsi-mpi plan\`: $(wall_s big-plan.log) s), then \`wsi-mpi run\`: whole run | $a_rate tiles/s ($a_wall s); run / reader = **$(r "$a_rate" "$reader")** |"
echo "| (1c) the same slide written with 6 levels (downsamples 1 to 32, as a scanner's pyramid goes down): whole job / the reader alone ($reader6 tiles/s) | $w6_rate tiles/s ($w6_wall s): **$(r "$w6_rate" "$reader6")**; planning $(table_col big6-null.log 8) s |"
echo "| (2) seeded resnet18 fp32, $model_copies x the same slide ($m_tiles tiles), $threads threads: whole job | $m_rate tiles/s ($m_wall s) |"
echo "| (2) model-only ceiling (\`model_bench\`, batch 8, $threads threads) | $ceiling tiles/s; whole job / ceiling = **$(r "$m_rate" "$ceiling")** |"
echo "| (3) $small x $(basename "$cmu"), 2 ranks, null model: planning alone / tiles alone (s) | $p_wall / $t_wall |"
echo "| (3) both at once: seconds to the first tile done (progress file) / whole run / after the last tile | **$s_first** / $s_wall / $s_after; whole / max(planning, tiles) = **$(r "$s_wall" "$s_max")** |"
echo "| (3) seconds making maps, largest rank (on the CPU workers, beside inference) | $(table_col small.log 9) |"
echo "| file bytes per slide: $big_copies big slides / $small small slides | $(( $(stat -c %s big-null.h5) / big_copies )) / $(( $(stat -c %s small.h5) / small )) |"
printf '%s' "$memory_rows"
