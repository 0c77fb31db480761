// Job validation, JSON and fingerprint, see include/wsi/job/job.hpp.
#include "wsi/job/job.hpp"

#include <cmath>
#include <stdexcept>

#include "util/enum_names.hpp"
#include "util/json.hpp"

namespace wsi {

namespace {

constexpr EnumName<JobMode> kJobModeNames[] = {
    {JobMode::classify, "classify"}, {JobMode::features, "features"}, {JobMode::both, "both"}};

}  // namespace

JobMode parse_job_mode(const std::string& text) { return parse_enum(kJobModeNames, text, "--mode: unknown mode"); }

constexpr EnumName<TileRule> kTileRuleNames[] = {{TileRule::predictor, "predictor"}, {TileRule::extractor, "extractor"}};

TileRule parse_tile_rule(const std::string& text, JobMode mode) {
  if (text == "auto") return mode == JobMode::features ? TileRule::extractor : TileRule::predictor;
  return parse_enum(kTileRuleNames, text, "--tile-rule: unknown rule");
}

std::string to_string(TileRule rule) { return enum_name(kTileRuleNames, rule); }

std::string to_string(JobMode mode) { return enum_name(kJobModeNames, mode); }

void validate(const Job& job) {
  const auto fail = [](const std::string& message) { throw std::invalid_argument(message); };
  // Written so that NaN fails them too; infinities are no setting either.
  const auto positive = [](double v) { return std::isfinite(v) && v > 0; };
  const auto positive_resolution = [&](const Resolution& r) {
    return positive(r.value) || (r.units == Units::level && r.value == 0);
  };
  if (job.slides.empty()) fail("--slides is required (a manifest CSV or one slide file)");
  if (job.output.empty()) fail("--output is required (the cohort file to write)");
  if (job.patch <= 0) fail("--patch must be positive, got " + std::to_string(job.patch));
  if (job.stride <= 0) fail("--stride must be positive, got " + std::to_string(job.stride));
  if (!positive_resolution(job.resolution)) fail("--resolution must be positive");
  if (!positive_resolution(job.overview)) fail("--overview-resolution must be positive");
  if (job.keep_thumbnail && !positive_resolution(job.thumbnail)) fail("--thumbnail-resolution must be positive");
  if (job.cpu_workers < 0) fail("--cpu-workers must not be negative");
  if (job.unit_tiles <= 0) fail("--unit-tiles must be positive");
  if (!positive(job.checkpoint_interval)) fail("--checkpoint-interval must be positive");
  if (job.batch_size < 0) fail("--batch-size must not be negative");
  if (job.readers < 0) fail("--readers must not be negative");
  if (job.model.threads < 0) fail("--threads must not be negative");
  if (!(job.mpp_override == 0 || positive(job.mpp_override))) fail("--mpp-override must be positive (0: none)");
  if (job.model.precision == Precision::fp16 && job.model.device == "cpu")
    fail("--precision fp16 needs --device cuda: LibTorch has no fp16 convolution on the CPU (use bf16)");
  if (!job.model.mean.empty() && job.model.mean.size() != 3) fail("--mean takes three values R,G,B");
  if (!job.model.std.empty() && job.model.std.size() != 3) fail("--std takes three values R,G,B");
  for (const double v : job.model.mean)
    if (!std::isfinite(v)) fail("--mean takes finite numbers");
  for (const double v : job.model.std)
    if (!positive(v)) fail("--std takes positive numbers");
}

namespace {

Json resolution_json(const Resolution& r) { return {{"value", r.value}, {"units", to_string(r.units)}}; }

}  // namespace

std::string to_json(const Job& job) {
  const Json model = {{"model", job.model.model},
                      {"weights", job.model.weights},
                      {"classes", job.model.classes},
                      {"output", job.model.output},
                      {"mean", job.model.mean},
                      {"std", job.model.std},
                      {"pooling", job.model.pooling},
                      {"prefix_tokens", job.model.prefix_tokens},
                      {"device", job.model.device},
                      {"precision", to_string(job.model.precision)},
                      {"channels_last", job.model.channels_last < 0 ? "auto" : job.model.channels_last ? "on" : "off"},
                      {"deterministic", job.model.deterministic},
                      {"threads", job.model.threads}};
  return json_text({{"slides", job.slides},
                    {"output", job.output},
                    {"mode", to_string(job.mode)},
                    {"model", model},
                    {"resolution", resolution_json(job.resolution)},
                    {"patch", job.patch},
                    {"stride", job.stride},
                    {"tissue_mask", to_string(job.tissue_mask)},
                    {"tile_rule", to_string(job.tile_rule)},
                    {"overview", resolution_json(job.overview)},
                    {"thumbnail", job.keep_thumbnail ? resolution_json(job.thumbnail) : Json(nullptr)},
                    {"mpp_override", job.mpp_override},
                    {"unit_tiles", job.unit_tiles},
                    {"checkpoint_interval", job.checkpoint_interval},
                    {"batch_size", job.batch_size},
                    {"readers", job.readers},
                    {"cpu_workers", job.cpu_workers},
                    {"feature_dtype", job.features_float16 ? "float16" : "float32"},
                    {"retry_failed", job.retry_failed},
                    {"autotune", job.autotune},
                    {"tuning_cache", job.tuning_cache},
                    {"software_version", WSI_MPI_VERSION}});
}

std::string fingerprint(const Job& job, const std::vector<std::string>& content_hashes) {
  const auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
    return out;
  };
  const auto join_numbers = [](const std::vector<double>& v) {
    std::string out;
    for (double d : v) out += (out.empty() ? "" : ",") + std::to_string(d);
    return out;
  };
  std::vector<std::string> items = {
      "mode=" + to_string(job.mode),
      "model=" + job.model.model,
      "classes=" + join(job.model.classes),
      "model_output=" + job.model.output,
      "mean=" + join_numbers(job.model.mean),
      "std=" + join_numbers(job.model.std),
      "pooling=" + job.model.pooling + " prefix_tokens=" + std::to_string(job.model.prefix_tokens),
      "precision=" + to_string(job.model.precision),
      "resolution=" + to_string(job.resolution),
      "patch=" + std::to_string(job.patch),
      "stride=" + std::to_string(job.stride),
      "tissue_mask=" + to_string(job.tissue_mask),
      "tile_rule=" + to_string(job.tile_rule),
      "overview=" + to_string(job.overview),
      "thumbnail=" + (job.keep_thumbnail ? to_string(job.thumbnail) : std::string("none")),
      "mpp_override=" + std::to_string(job.mpp_override),
      "unit_tiles=" + std::to_string(job.unit_tiles),
      "feature_dtype=" + std::string(job.features_float16 ? "float16" : "float32"),
  };
  items.insert(items.end(), content_hashes.begin(), content_hashes.end());
  std::string text;
  for (const auto& item : items) text += item + "\n";
  return text;
}

}  // namespace wsi
