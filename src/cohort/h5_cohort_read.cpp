// Serial, read-only readers of a cohort file (inspect, render, export, resume checks). The
// default sec2 driver: they work in a process that never initialised MPI.
#include <algorithm>
#include <stdexcept>

#include "cohort/h5_layout.hpp"
#include "cohort/h5_parallel.hpp"
#include "cohort/h5_validate.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/cohort/slide_embeddings.hpp"

namespace wsi {
namespace {

using h5::Handle;
using h5::Where;
namespace n = h5::names;

// A cohort file opened read-only, its format and counts checked; every read goes through `checked`.
struct Reader {
  Handle file;
  h5::CheckedFile checked;
  explicit Reader(const std::string& path) : file(open_read_only(path)), checked(file.id(), path) {}

  static Handle open_read_only(const std::string& path) {
    h5::quiet_errors();
    Handle fapl = h5::serial_file_access(path);
    return h5::make(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.id()), {path, "/"}, "opening the file");
  }
};

void read_slides(const h5::CheckedFile& r, CohortSummary& s) {
  // Each dataset's shape is checked on opening: S rows (S x C for the fractions).
  const auto ids = r.strings(n::kSlideId), keys = r.strings(n::kSlideKey), paths = r.strings(n::kSlidePath),
             errors = r.strings(n::kSlideError);
  const auto status = r.all<int8_t>(n::kSlideStatus, H5T_NATIVE_INT8);
  const auto start = r.all<int64_t>(n::kSlideTileStart, H5T_NATIVE_INT64);
  const auto count = r.all<int64_t>(n::kSlideTileCount, H5T_NATIVE_INT64);
  const auto width = r.all<int64_t>(n::kSlideWidth, H5T_NATIVE_INT64);
  const auto height = r.all<int64_t>(n::kSlideHeight, H5T_NATIVE_INT64);
  const auto mpp = r.all<double>(n::kSlideMpp, H5T_NATIVE_DOUBLE);
  const auto power = r.all<double>(n::kSlideObjectivePower, H5T_NATIVE_DOUBLE);
  const auto scale = r.all<double>(n::kSlideScale, H5T_NATIVE_DOUBLE);
  const auto resolution_width = r.all<int64_t>(n::kSlideResolutionWidth, H5T_NATIVE_INT64);
  const auto resolution_height = r.all<int64_t>(n::kSlideResolutionHeight, H5T_NATIVE_INT64);
  std::vector<float> fractions;
  const size_t classes = s.class_names.size();
  if (r.has(n::kSlideClassFractions)) fractions = r.all<float>(n::kSlideClassFractions, H5T_NATIVE_FLOAT);
  for (size_t i = 0; i < ids.size(); ++i) {
    SlideRow row;
    row.id = ids[i], row.key = keys[i], row.path = paths[i], row.error = errors[i];
    row.status = static_cast<SlideStatus>(status[i]);
    row.tile_start = start[i], row.tile_count = count[i], row.width = width[i], row.height = height[i];
    row.mpp = mpp[i], row.objective_power = power[i], row.scale = scale[i];
    row.resolution_width = resolution_width[i], row.resolution_height = resolution_height[i];
    if (!fractions.empty())
      row.class_fractions.assign(fractions.begin() + i * classes, fractions.begin() + (i + 1) * classes);
    s.slides.push_back(std::move(row));
  }
}

MapShape map_shape(const h5::CheckedFile& r, const std::string& key) {
  MapShape shape;
  const std::string group = std::string(n::kMaps) + "/" + key + "/";
  if (key.empty() || !r.has(group.substr(0, group.size() - 1))) return shape;
  const auto prediction = r.dims(group + n::kMapPrediction), tissue = r.dims(group + n::kMapTissue);
  shape.height = static_cast<int64_t>(prediction[0]);
  shape.width = static_cast<int64_t>(prediction[1]);
  if (r.has(group + n::kMapThumbnail)) {
    const auto thumbnail = r.dims(group + n::kMapThumbnail);  // H x W x 3
    shape.thumbnail_height = static_cast<int64_t>(thumbnail[0]);
    shape.thumbnail_width = static_cast<int64_t>(thumbnail[1]);
  }
  shape.mask_height = static_cast<int64_t>(tissue[0]);
  shape.mask_width = static_cast<int64_t>(tissue[1]);
  return shape;
}

void read_progress(const h5::CheckedFile& r, CohortSummary& s) {
  const auto units = r.all<int64_t>(n::kUnits, H5T_NATIVE_INT64);  // U x 3
  for (size_t i = 0; i + 3 <= units.size(); i += 3) s.units.push_back({units[i], units[i + 1], units[i + 2]});
  s.done = r.all<uint8_t>(n::kDone, H5T_NATIVE_UINT8);
  s.unit_rank = r.all<int32_t>(n::kUnitRank, H5T_NATIVE_INT32);
  s.end_state = static_cast<EndState>(r.all<int8_t>(n::kEndState, H5T_NATIVE_INT8).at(0));
  const auto stats = r.all<double>(n::kStats, H5T_NATIVE_DOUBLE);  // ranks x kStatsColumnCount
  for (size_t i = 0; i + n::kStatsColumnCount <= stats.size(); i += n::kStatsColumnCount) {
    RankStats& row = s.stats.emplace_back();
    for (size_t c = 0; c < std::size(kStatsColumns); ++c) row.*kStatsColumns[c].field = stats[i + c];
  }
}

}  // namespace

std::optional<size_t> find_slide(const CohortSummary& summary, const std::string& id_or_key) {
  for (auto field : {&SlideRow::id, &SlideRow::key})
    for (size_t i = 0; i < summary.slides.size(); ++i)
      if (summary.slides[i].*field == id_or_key) return i;
  return std::nullopt;
}

CohortSummary read_cohort_summary(const std::string& path) {
  const Reader reader(path);
  const h5::CheckedFile& r = reader.checked;
  CohortSummary s;
  const Where root{path, "/"};
  s.format = h5::read_string_attribute(reader.file.id(), n::kAttrFormat, root);
  s.format_version = h5::read_int_attribute(reader.file.id(), n::kAttrFormatVersion, root);
  s.software_version = h5::read_string_attribute(reader.file.id(), n::kAttrSoftwareVersion, root);
  const std::vector<std::string> keys = r.check_layout();
  s.job_json = r.string(n::kJobConfig);
  s.fingerprint = r.string(n::kJobFingerprint);
  s.numeric_config = r.string(n::kJobNumericConfig);
  s.class_names = r.strings(n::kJobClassNames);
  s.feature_size = static_cast<int64_t>(r.counts().features);
  read_slides(r, s);
  const PlannedCounts planned = h5::planned_counts(r);
  for (size_t i = 0; i < keys.size(); ++i)
    s.maps.push_back(static_cast<int64_t>(i) < planned.slides ? map_shape(r, keys[i]) : MapShape{});
  read_progress(r, s);
  h5::keep_planned(planned, s);
  s.has_probabilities = r.has(n::kTileProbabilities);
  if (s.feature_size > 0) {
    Handle features = r.open(n::kTileFeatures);
    Handle type = h5::make(H5Dget_type(features.id()), {path, n::kTileFeatures}, "getting a type");
    s.features_float16 = H5Tget_size(type.id()) == 2;
  }
  h5::check_consistent(r, s);
  return s;
}

SlideMaps read_slide_maps(const std::string& path, const std::string& key) {
  const Reader reader(path);
  const h5::CheckedFile& r = reader.checked;
  const auto keys = r.strings(n::kSlideKey);
  const auto found = std::find(keys.begin(), keys.end(), key);
  if (key.empty() || found == keys.end())
    throw std::invalid_argument("cohort file '" + path + "' has no slide with key '" + key + "'");
  SlideMaps maps;
  if (found - keys.begin() >= h5::planned_counts(r).slides) return maps;  // not planned yet
  maps.shape = map_shape(r, key);
  if (!has_maps(maps.shape)) return maps;
  const std::string group = std::string(n::kMaps) + "/" + key + "/";
  maps.prediction = r.all<uint8_t>(group + n::kMapPrediction, H5T_NATIVE_UINT8);
  if (maps.shape.thumbnail_height > 0) maps.thumbnail = r.all<uint8_t>(group + n::kMapThumbnail, H5T_NATIVE_UINT8);
  maps.tissue = r.all<uint8_t>(group + n::kMapTissue, H5T_NATIVE_UINT8);
  return maps;
}

std::vector<TileBounds> read_tile_bounds(const std::string& path, int64_t first, int64_t count) {
  return h5::to_tile_bounds(Reader(path).checked.rows<int32_t>(n::kTileBounds, H5T_NATIVE_INT32, first, count));
}

std::vector<float> read_tile_probabilities(const std::string& path, int64_t first, int64_t count) {
  const Reader reader(path);
  if (!reader.checked.has(n::kTileProbabilities))
    throw std::runtime_error("cohort file '" + path + "' has no tile probabilities (features-only job)");
  return reader.checked.rows<float>(n::kTileProbabilities, H5T_NATIVE_FLOAT, first, count);
}

std::vector<float> read_tile_features(const std::string& path, int64_t first, int64_t count) {
  const Reader reader(path);
  if (!reader.checked.has(n::kTileFeatures)) throw std::runtime_error("cohort file '" + path + "' has no tile features");
  return reader.checked.rows<float>(n::kTileFeatures, H5T_NATIVE_FLOAT, first, count);  // float16 widened by HDF5
}

}  // namespace wsi
