// The tuning cache: numeric configurations measured by `wsi-mpi run --autotune`, kept in a small JSON
// file per machine (FFTW's "wisdom"), so that later tuned jobs on a matching machine reuse the
// measurement instead of timing again. A job records whatever it ran in its cohort file; the
// cache only saves the measuring.
#pragma once
#include <optional>
#include <string>

#include "wsi/model/model.hpp"

namespace wsi {

// What a measurement depends on. Two keys match only when every field is equal.
struct TuningKey {
  std::string cpu_model;
  std::string cpu_flags;  // cpu_simd_flags()
  std::string device;     // "cpu" | "cuda"
  int threads = 0;        // intra-op threads per rank
  std::string libtorch;
  std::string model_sha256;  // the model's name and files (TorchScript file, weights)
  int input_width = 0, input_height = 0;
  std::string asked;  // the options the candidates come from: precision, channels-last, batch size
  bool operator==(const TuningKey& other) const;
};

// $XDG_CACHE_HOME/wsi-mpi/tuning.json, else $HOME/.cache/wsi-mpi/tuning.json; "" without either.
std::string default_tuning_cache_path();

// The configuration stored under `key` (decided_by "tuning cache"), if any. A missing file is a
// miss; an unreadable, oversized, corrupt or hostile one is ignored with a warning, never thrown.
std::optional<NumericConfig> find_tuned(const std::string& path, const TuningKey& key);

// Adds `key`'s entry or replaces it, keeping the newest kMaxTuningEntries; written beside the
// file under a fresh name and renamed into place. A failure to write only warns.
inline constexpr size_t kMaxTuningEntries = 64;
void store_tuned(const std::string& path, const TuningKey& key, const NumericConfig& config);

}  // namespace wsi
