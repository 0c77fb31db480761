// What the benchmarks share: `--name value` options and a stopwatch.
#pragma once
#include <chrono>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>

namespace wsi::bench {

using Clock = std::chrono::steady_clock;
using Options = std::map<std::string, std::string>;

inline double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// argv[first..] as pairs `--name value`.
inline Options parse_options(int argc, char** argv, int first) {
  Options options;
  for (int i = first; i + 1 < argc; i += 2) {
    if (std::strncmp(argv[i], "--", 2) != 0) throw std::invalid_argument(std::string("bad option ") + argv[i]);
    options[argv[i] + 2] = argv[i + 1];
  }
  return options;
}

inline std::string get(const Options& options, const std::string& name, const std::string& fallback) {
  auto it = options.find(name);
  return it == options.end() ? fallback : it->second;
}

}  // namespace wsi::bench
