#!/usr/bin/env bash
# Builds bench/model_bench with the model stage alone (src/model) against the LibTorch that this
# machine's Python ships (a CUDA build on a GPU machine), with the headers and libraries that
# bench/cuda/kit.sh packed on a Debian machine.
#   bench/cuda/build.sh KIT OUT     -> OUT/model_bench
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
kit=$(realpath "${1:?kit directory (bench/cuda/kit.sh)}")
out=${2:?output directory}
mkdir -p "$out"
out=$(realpath "$out")
torch=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')
abi=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
flags=(-std=gnu++20 -O3 -DNDEBUG -D_GLIBCXX_USE_CXX11_ABI="$abi" -DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL
       -DSPDLOG_SHARED_LIB -DFMT_SHARED -DBOOST_BIND_GLOBAL_PLACEHOLDERS -I"$root/include" -I"$root/src"
       -isystem "$kit/include" -isystem "$torch/include" -isystem "$torch/include/torch/csrc/api/include")
pids=()
for f in src/model/model_description.cpp src/model/numeric_config.cpp src/model/torch_builtin.cpp \
         src/model/torch_model.cpp src/model/torch_tuning.cpp src/model/blas_backend.cpp src/model/torch_state_dict.cpp \
         src/model/pickle_machine.cpp src/util/json.cpp bench/model_bench.cpp; do
  g++ "${flags[@]}" -c "$root/$f" -o "$out/$(basename "$f" .cpp).o" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
cuda=()
[ -e "$torch/lib/libtorch_cuda.so" ] && cuda=(-ltorch_cuda -lc10_cuda)
g++ -o "$out/model_bench" "$out"/*.o -L"$torch/lib" -Wl,--no-as-needed "${cuda[@]}" -ltorch -ltorch_cpu -lc10 \
    -Wl,--as-needed "$kit/lib/libspdlog.so.1.10" "$kit/lib/libfmt.so.9" -Wl,-rpath,"$torch/lib:$kit/lib" -lpthread -ldl
echo "built $out/model_bench against torch $(python3 -c 'import torch; print(torch.__version__)') (C++11 ABI $abi)"
