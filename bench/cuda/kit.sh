#!/usr/bin/env bash
# Packs, on this Debian machine, what bench/cuda/build.sh needs on a GPU machine that has
# LibTorch (its Python's) and g++ but none of Debian's libraries: the headers the model stage
# includes from boost, spdlog and fmt, and Debian's spdlog and fmt shared libraries.
#   bench/cuda/kit.sh [DIR]        (default: .gpu in the repository, which git ignores)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:-$root/.gpu}
rm -rf "$out"
mkdir -p "$out/include" "$out/lib"
defs=(-DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL -DSPDLOG_SHARED_LIB -DFMT_SHARED -DBOOST_BIND_GLOBAL_PLACEHOLDERS)
{
  g++ -std=gnu++17 "${defs[@]}" -M -I "$root/include" -I "$root/src" "$root/src/model/model_description.cpp"
  echo '#include <spdlog/spdlog.h>' | g++ -std=gnu++17 "${defs[@]}" -x c++ -M -
} | tr ' \\' '\n\n' | grep -E '^/usr/include/(boost|spdlog|fmt|nlohmann)/' | sort -u | sed 's|^/usr/include/||' |
  (cd /usr/include && xargs cp --parents -t "$out/include")
for lib in libspdlog.so.1.10 libfmt.so.9; do cp -L "/usr/lib/x86_64-linux-gnu/$lib" "$out/lib/"; done
echo "kit in $out: $(du -sh "$out" | cut -f1)"
