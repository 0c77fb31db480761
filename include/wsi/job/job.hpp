// A job: everything `wsi-mpi run` was asked to do, resolved from the command line and the INI
// job file; its JSON form (/job/config) and its fingerprint, which decides whether a later run
// may resume the same file.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

#include "wsi/grid/tile_grid.hpp"
#include "wsi/mask/tissue_mask.hpp"
#include "wsi/model/model.hpp"
#include "wsi/units.hpp"

namespace wsi {

enum class JobMode { classify, features, both };
JobMode parse_job_mode(const std::string& text);
std::string to_string(JobMode mode);

// "predictor", "extractor", or "auto": the extractor's for --mode features (DeepFeatureExtractor),
// the predictor's for classify and both (PatchPredictor; both is one forward pass).
TileRule parse_tile_rule(const std::string& text, JobMode mode);
std::string to_string(TileRule rule);

struct Job {
  std::string slides;  // manifest CSV or one slide file
  std::string output;
  bool overwrite = false;
  JobMode mode = JobMode::classify;
  ModelOptions model;
  Resolution resolution{0.5, Units::mpp};
  int patch = 224;
  int stride = 224;
  MaskMethod tissue_mask = MaskMethod::otsu;
  TileRule tile_rule = TileRule::predictor;  // the tile set and the edge padding (0 or 255)
  Resolution overview{4.0, Units::mpp};
  // The thumbnail kept in /maps (for render): coarser than the prediction map by default, so
  // that a real slide's maps stay around 1-2 MB; none when `keep_thumbnail` is false.
  Resolution thumbnail{16.0, Units::mpp};
  bool keep_thumbnail = true;
  double mpp_override = 0.0;
  int64_t unit_tiles = 256;
  double checkpoint_interval = 60.0;
  int batch_size = 0;  // 0: chosen from the device
  int readers = 0;     // 0: from the cores
  int cpu_workers = 0;  // per-slide work (planning, maps) threads per rank; 0: from the cores
  bool features_float16 = false;
  bool retry_failed = false;
  // --autotune: measure the numeric configuration (or take it from the tuning cache) instead of the
  // rule. A run setting like the batch size: a resume runs the configuration the file records.
  bool autotune = false;
  std::string tuning_cache;  // "" = default_tuning_cache_path()

  bool wants_probabilities() const { return mode != JobMode::features; }
  bool wants_features() const { return mode != JobMode::classify; }
  // What a patch reaching past the slide is padded with: TIAToolbox's predictor pads white, its
  // feature extractor black.
  uint8_t patch_padding() const { return tile_rule == TileRule::extractor ? 0 : 255; }
};

// The job cannot run as asked (an option, the model, the output file, a file of another job);
// the message names it.
class JobRefused : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws std::invalid_argument naming the option for values that cannot work.
void validate(const Job& job);

// Canonical JSON of the whole job (stored as /job/config).
std::string to_json(const Job& job);

// What must match for a resume: the manifest's content and every slide/mask/model/weights file's
// SHA-256 are folded in by the caller through `content_hashes`; batch size, threads, readers and
// device are left out on purpose. Returns "key=value" lines, one per compared setting, stored as
// /job/fingerprint, so that a refused resume can say what differs.
std::string fingerprint(const Job& job, const std::vector<std::string>& content_hashes);

}  // namespace wsi
