#!/bin/bash
# Throughput benchmark of wsi-mpi on this machine (not part of the test suite). One command:
#   bench/run.sh [BUILD_DIR]        (default build-perf; needs wsi-mpi and wsi_bench built there)
# Environment: BENCH_DIR (scratch, default a fresh mktemp -d; give one to keep the slides and reuse
# them), BENCH_SIZE (e2e slide WxH; default: sized from the measured ceiling so that the
# 1-rank run takes about 40 s), BENCH_THREADS (default 2), BENCH_BATCH (default 8),
# BENCH_QUIET_WAIT (seconds to wait for a 1-minute load average below 1, default 120).
# Takes about 5-8 minutes on 2 cores, most of it in the model runs.
# Prints a table; raw logs stay in BENCH_DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build-perf}" && pwd)
bin=$build/src/wsi-mpi
bench=$build/bench/wsi_bench
model_bench=$build/bench/model_bench
work=${BENCH_DIR:-$(mktemp -d)}
size=${BENCH_SIZE:-}
threads=${BENCH_THREADS:-2}
batch=${BENCH_BATCH:-8}
mpirun_flags="--bind-to none --oversubscribe"
[ "$(id -u)" = 0 ] && mpirun_flags="$mpirun_flags --allow-run-as-root"
export OMPI_MCA_btl_vader_single_copy_mechanism=none
for f in "$bin" "$bench" "$model_bench"; do [ -x "$f" ] || { echo "missing $f: build with ninja -C $build bench" >&2; exit 2; }; done
mkdir -p "$work"
cd "$work"
for ((i = 0; i < ${BENCH_QUIET_WAIT:-120}; i += 10)); do
  awk '{exit !($1 < 1.0)}' /proc/loadavg && break
  [ $i = 0 ] && echo "waiting for a quiet machine (load average $(cut -d' ' -f1 /proc/loadavg)) ..."
  sleep 10
done
load_start=$(cut -d' ' -f1 /proc/loadavg)
echo "wsi-mpi bench in $work; load average at start: $load_start (2-core machine: < 1 is quiet)"

# Seeded random-init weights in torchvision's key layout (resnet18, 9 Kather classes).
if [ ! -s weights.pth ]; then
  /usr/bin/python3 -c "
import torch, torchvision
torch.manual_seed(0)
torch.save(torchvision.models.resnet18(num_classes=9).state_dict(), 'weights.pth')"
fi
synth() {  # synth DIR WxH
  [ -s "$1/slide_001.svs" ] || "$bin" synth --output "$1" --slides 1 --size "$2" --levels 3 > "$1.synth.log" 2>&1
}
mem_small=12000x9000
mem_large=24000x18000   # 4x the pixels
synth mem1 "$mem_small"
synth mem4 "$mem_large"

# Runs `wsi-mpi run` under /usr/bin/time -v; LOG gets both outputs.
run_job() {  # run_job LOG NRANKS args...
  local log=$1 n=$2; shift 2
  local launcher=()
  [ "$n" -gt 1 ] && launcher=(mpirun -n "$n" $mpirun_flags)
  /usr/bin/time -v "${launcher[@]}" "$bin" run "$@" --overwrite > "$log" 2>&1
}
# Sums of the per-rank table: tiles tiles/s(sum) reading inferring waiting writing, and max seconds.
rank_table() {
  awk '/rank  host +tiles  tiles\/s/ {on=1; next}
       on && /info: +[0-9]+  [^ ]+ +[0-9]/ { sub(/.*info: +/, ""); t+=$3; r+=$4; rd+=$5; inf+=$6; w+=$7; wr+=$8; n++; next }
       on {on=0}
       END { printf "%d %.1f %.1f %.1f %.1f %.1f %d\n", t, r, rd, inf, w, wr, n }' "$1"
}
maxrss_mb() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$1"; }
wall_s() { awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; printf "%.1f", s}' "$1"; }

# The job's own defaults: no --batch-size, the numeric configuration by the rule.
model_args=(--model resnet18-kather100k --weights weights.pth)
native_bf16=0
grep -m1 '^flags' /proc/cpuinfo | grep -qwE 'amx_bf16|avx512_bf16' && native_bf16=1

echo "(a) model-only: PyTorch's best from Python, then ours ..."
bf16_flag=()
[ "$native_bf16" = 1 ] && bf16_flag=(--bf16)
/usr/bin/python3 "$root/bench/pytorch_ceiling.py" --threads "$threads" --seconds 4 "${bf16_flag[@]}" 2>/dev/null | tee pytorch.log
ceiling=$(awk '/^best/ {print $2}' pytorch.log)
ceiling_config=$(awk '/^best/ {$1=""; $2=""; sub(/^  /, ""); print}' pytorch.log)
bf16_ceiling=$(awk '/bfloat16/ && $1 > b {b = $1} END {print b + 0}' pytorch.log)
"$model_bench" --weights weights.pth --batch "$batch" --threads "$threads" --seconds 15 | tee ours.log
ours=$(awk '/tiles\/s$/ {print $(NF-1)}' ours.log)
: > variants.log
for v in "fp32 0 0" "bf16 1 0" "auto -1 1"; do
  set -- $v
  "$model_bench" --weights weights.pth --precision "$1" --channels-last "$2" --autotune "$3" --batch "$batch" \
    --threads "$threads" --seconds 6 2>/dev/null | grep 'tiles/s$' | tee -a variants.log
done

# The e2e slide: about 60 s at the ceiling (synthetic layouts are about 37 % tissue tiles).
if [ -z "$size" ]; then
  size=$(awk -v c="$ceiling" 'BEGIN { tiles = c * 60 / 0.37; w = sqrt(tiles * 224 * 224 * 4 / 3);
    w = int(w / 1000 + 1) * 1000; if (w < 4000) w = 4000; printf "%dx%d", w, int(w * 3 / 4 / 1000 + 1) * 1000 }')
fi
mkdir -p slides
e2e=slides/$size
synth "$e2e" "$size"
echo "(b) end to end, 1 rank, slide $size ..."
run_job e2e1.log 1 --slides $e2e/manifest.csv "${model_args[@]}" --threads "$threads" --output e2e1.h5
read -r e_tiles e_rate e_read e_inf e_wait e_write _ < <(rank_table e2e1.log)
e_wall=$(wall_s e2e1.log)
e_first=$(sed -nE 's/.*first batch inferred ([0-9.]+) s after.*/\1/p' e2e1.log | head -1)
e_choice=$(sed -nE 's/.*numeric configuration: (.*)/\1/p' e2e1.log | head -1)
e_plan=$(awk '/rank  host +tiles/ {on=1; next} on && /info: +[0-9]+  [^ ]+ +[0-9]/ {sub(/.*info: +/, ""); print $9; exit}' e2e1.log)
if [ "$native_bf16" = 1 ]; then
  echo "(b) end to end, --precision auto ..."
  run_job e2e1auto.log 1 --slides $e2e/manifest.csv "${model_args[@]}" --precision auto --threads "$threads" --output e2e1auto.h5
  read -r a_tiles a_rate _ < <(rank_table e2e1auto.log)
  a_wall=$(wall_s e2e1auto.log)
  a_choice=$(sed -nE 's/.*numeric configuration: (.*)/\1/p' e2e1auto.log | head -1)
fi

echo "(c) null model and naive reader ..."
run_job null1.log 1 --slides $e2e/manifest.csv --model null --threads 1 --readers 1 --output null1.h5
read -r n_tiles n_rate n_read _ _ n_write _ < <(rank_table null1.log)
"$bench" read --slide $e2e/slide_001.svs --batch "$batch" --readers 1 --seconds 12 | tee read.log
"$bench" read --slide $e2e/slide_001.svs --batch "$batch" --readers 2 --seconds 6 | tee -a read.log

echo "(d) 2 ranks ..."
run_job e2e2.log 2 --slides $e2e/manifest.csv "${model_args[@]}" --output e2e2.h5
read -r t_tiles t_rate t_read t_inf t_wait t_write t_n < <(rank_table e2e2.log)
t_wall=$(wall_s e2e2.log)

echo "(e) peak memory ..."
run_job mem1.log 1 --slides mem1/manifest.csv --model null --threads 1 --readers 1 --output mem1.h5
run_job mem4.log 1 --slides mem4/manifest.csv --model null --threads 1 --readers 1 --output mem4.h5
read -r m1_tiles _ < <(rank_table mem1.log)
read -r m4_tiles _ < <(rank_table mem4.log)
echo "(h) transformers: the BLAS, ViT-B/16 and ViT-L/16 ..."
"$model_bench" --matmul 1 --threads "$threads" | tee matmul.log
/usr/bin/python3 "$root/bench/vit_models.py" "$work" > /dev/null 2>&1
: > vit.log
for arch in vit_b_16 vit_l_16; do
  "$model_bench" --model "$work/$arch.pt" --batch 4 --threads "$threads" --channels-last 0 --seconds 20 \
    2>/dev/null | grep 'tiles/s$' | tee -a vit.log
done
echo "(g) coordinator ..."
mpirun --allow-run-as-root --oversubscribe --bind-to none -n 8 "$build/bench/coordinator_bench" 100000 | tee coordinator.log
load_end=$(cut -d' ' -f1 /proc/loadavg)

planned=$(sed -n 1p read.log | sed -E 's/.*planned ([0-9.]+).*/\1/')
naive=$(sed -n 1p read.log | sed -E 's/.*naive ([0-9.]+).*/\1/')
planned2=$(sed -n 3p read.log | sed -E 's/.*planned ([0-9.]+).*/\1/')
r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')

echo
echo "## wsi-mpi throughput ($(date -u +%Y-%m-%d), $cpu, $(nproc) cores; load average $load_start at start, $load_end at end)"
echo "resnet18-kather100k, $threads inference threads; CPU flags: $(grep -m1 '^flags' /proc/cpuinfo | grep -owE 'avx2|avx512f|avx512_bf16|amx_bf16' | tr '\n' ' ')"
echo "e2e slide $size px at 0.5 mpp ($e_tiles tissue tiles at 224 px)"
echo
echo "| measure | value |"
echo "|---|---|"
echo "| (a) ceiling: PyTorch from Python, best fp32 of NCHW/channels-last x frozen/optimize_for_inference x batch 8/16/32 | $ceiling tiles/s ($ceiling_config) |"
[ "$native_bf16" = 1 ] && echo "| (a) PyTorch from Python, best bf16 (this CPU computes bf16 natively) | $bf16_ceiling tiles/s |"
echo "| (a) ours, model-only, as \`wsi-mpi run\` runs it (the rule) | $ours tiles/s = $(r "$ours" "$ceiling") of the ceiling ($(sed -nE 's/.*precision (.*) batch .*/\1/p' ours.log)) |"
while read -r line; do
  echo "| (a) ours: $(echo "$line" | sed -E 's/model resnet18-kather100k device cpu //; s/: ([0-9.]+) tiles\/s/ | \1 tiles\/s/') |"
done < variants.log
echo "| (b) end-to-end \`wsi-mpi run\`, 1 rank, $e_choice | $(r "$e_tiles" "$e_wall") tiles/s wall clock ($e_tiles tiles in $e_wall s) = **$(r "$(r "$e_tiles" "$e_wall")" "$ceiling") of the ceiling** |"
echo "| (b) the same, inference stage only (rank table: tiles / seconds inferring) | $(r "$e_tiles" "$e_inf") tiles/s = $(r "$(r "$e_tiles" "$e_inf")" "$ceiling") of the ceiling |"
echo "| (b) where the wall time goes (s): process start to first batch / planning (per-slide: mask, grid; on the CPU workers, beside the rest) / waiting for reads / inferring / writing / rest (maps, closing) | $e_first / $e_plan / $e_read / $e_inf / $e_write / $(awk -v w="$e_wall" -v p="$e_first" -v a="$e_read" -v b="$e_inf" -v d="$e_write" 'BEGIN { printf "%.1f", w-p-a-b-d }') |"
[ "$native_bf16" = 1 ] && echo "| (b) end-to-end with --precision auto ($a_choice) | $(r "$a_tiles" "$a_wall") tiles/s wall clock = $(r "$(r "$a_tiles" "$a_wall")" "$bf16_ceiling") of PyTorch's best bf16 |"
echo "| (c) null model \`wsi-mpi run --model null\`, 1 reader (rank table) | $n_rate tiles/s (reading-wait $n_read s) |"
echo "| (c) batch reader alone, 1 thread: planned / naive (one openslide_read_region per tile) | $planned / $naive tiles/s = $(r "$planned" "$naive")x |"
echo "| (c) batch reader alone, 2 threads | $planned2 tiles/s |"
echo "| (d) 2 ranks (mpirun -n 2, rank table sum) | $t_rate tiles/s, wall $t_wall s vs $e_wall s; efficiency vs 1 rank $(r "$t_rate" "$e_rate") |"
echo "| (e) peak RSS, model run, 1 rank / per rank of 2 | $(maxrss_mb e2e1.log) / $(maxrss_mb e2e2.log) MB |"
echo "| (e) peak RSS, null model: $mem_small ($m1_tiles tiles) / $mem_large ($m4_tiles tiles) | $(maxrss_mb mem1.log) / $(maxrss_mb mem4.log) MB |"
per_thread=$planned
echo
echo "(f) On a GPU node: at the measured $per_thread tiles/s per reader thread (this CPU), a GPU running"
echo "    ResNet18 at N tiles/s needs N / $per_thread reader threads: $(awk -v p="$per_thread" 'BEGIN{printf "%.0f", 5000/p}') for 5000 tiles/s,"
echo "    $(awk -v p="$per_thread" 'BEGIN{printf "%.0f", 20000/p}') for 20000 tiles/s (GPU rates assumed, not measured here)."
echo
gflops=$(sed -nE 's/.*: ([0-9.]+) GFLOP\/s.*/\1/p' matmul.log)
vit_b=$(awk '/vit_b_16/ {print $(NF-1)}' vit.log)
vit_l=$(awk '/vit_l_16/ {print $(NF-1)}' vit.log)
echo
echo "(h) BLAS behind LibTorch: $(sed -nE 's/.*\(BLAS: ([^,]*),.*/\1/p' matmul.log); matmul 1576x768 @ 768x3072: $gflops GFLOP/s"
echo "    ViT-B/16 (tokens, cls), batch 4, $threads threads: $vit_b tiles/s; ViT-L/16: $vit_l tiles/s;"
echo "    ResNet-18 (ours, above): $ours tiles/s = $(r "$ours" "$vit_b")x ViT-B and $(r "$ours" "$vit_l")x ViT-L."
echo "    One reader thread reads $per_thread tiles/s here: a model slower than that per rank is never"
echo "    starved by one reader; a GPU running ViT-L at N tiles/s needs N / $per_thread reader threads."
echo
echo "(g) $(sed -n 1p coordinator.log)"
echo "    $(sed -n 2p coordinator.log)"
echo "    (8 ranks that ask without computing keep the coordinator busy; with fewer ranks each request"
echo "    waits up to its 1 ms polling sleep, which is nothing next to a unit's seconds of work.)"
