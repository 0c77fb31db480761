// Serial, read-only readers of a cohort file (inspect, render, export, resume checks). The
// default sec2 driver: they work in a process that never initialised MPI.
#include <algorithm>
#include <set>
#include <stdexcept>

#include "cohort/h5_layout.hpp"
#include "cohort/h5_parallel.hpp"
#include "util/file_name.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/cohort/slide_embeddings.hpp"

namespace wsi {
namespace {

using h5::Handle;
using h5::Where;
namespace n = h5::names;

[[noreturn]] void inconsistent(const std::string& path, const std::string& what) {
  throw std::runtime_error("'" + path + "' is not a consistent wsi-mpi cohort file: " + what);
}

struct Reader {
  std::string path;
  Handle file;

  // Elements of a dataset, refused past kMaxElements (a forged size must not become an
  // allocation of terabytes).
  static constexpr hsize_t kMaxElements = hsize_t{1} << 31;
  hsize_t elements(const Handle& dataset, const std::string& name) const {
    hsize_t size = 1;
    for (hsize_t d : h5::dims_of(dataset.id(), path, name)) {
      if (d != 0 && size > kMaxElements / d) inconsistent(path, name + " is larger than any cohort file's");
      size *= d;
    }
    return size;
  }

  explicit Reader(const std::string& p) : path(p) {
    h5::quiet_errors();
    Handle fapl = h5::serial_file_access(path);
    file = h5::make(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.id()), {path, "/"}, "opening the file");
    h5::check_format(file.id(), path);
  }

  bool has(const std::string& name) const { return h5::exists(file.id(), name); }
  [[noreturn]] void fail(const std::string& what) const { inconsistent(path, what); }
  Handle open(const std::string& name) const { return h5::open_dataset(file.id(), name, path); }
  std::vector<hsize_t> dims(const std::string& name) const {
    Handle dataset = open(name);
    return h5::dims_of(dataset.id(), path, name);
  }

  template <class T>
  std::vector<T> all(const std::string& name, hid_t mem_type) const {
    Handle dataset = open(name);
    const hsize_t size = elements(dataset, name);
    std::vector<T> out(size);
    h5::read_all(dataset.id(), mem_type, out.data(), {path, name});
    return out;
  }

  template <class T>
  std::vector<T> rows(const std::string& name, hid_t mem_type, int64_t first, int64_t count) const {
    Handle dataset = open(name);
    const std::vector<hsize_t> d = h5::dims_of(dataset.id(), path, name);
    if (first < 0 || count < 0) throw std::out_of_range("cohort file '" + path + "': negative rows of " + name);
    hsize_t columns = 1;
    for (size_t i = 1; i < d.size(); ++i) columns *= d[i];
    std::vector<T> out(static_cast<size_t>(count) * columns);
    h5::read_rows(dataset.id(), mem_type, first, count, out.data(), {path, name});
    return out;
  }

  // Fixed-length strings (whole dataset; a scalar gives one string).
  std::vector<std::string> strings(const std::string& name) const {
    Handle dataset = open(name);
    Handle type = h5::make(H5Dget_type(dataset.id()), {path, name}, "getting a type");
    const size_t width = H5Tget_size(type.id());
    if (H5Tget_class(type.id()) != H5T_STRING || width == 0 || width > (size_t{1} << 20))
      inconsistent(path, name + " is not a fixed-length string dataset");
    const hsize_t size = elements(dataset, name);
    if (size * width > (hsize_t{1} << 32)) inconsistent(path, name + " is larger than any cohort file's");
    std::vector<char> packed(size * width);
    h5::read_all(dataset.id(), type.id(), packed.data(), {path, name});
    return h5::unpack_strings(packed, width);
  }
  std::string string(const std::string& name) const {
    std::vector<std::string> values = strings(name);
    return values.empty() ? std::string() : values[0];
  }
};

template <class T>
T scalar(const Reader& r, const std::string& name, hid_t mem_type) {
  std::vector<T> values = r.all<T>(name, mem_type);
  return values.empty() ? T{} : values[0];
}

void read_slides(const Reader& r, CohortSummary& s) {
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
  const size_t S = ids.size();
  for (const auto& [name, length] : std::initializer_list<std::pair<const char*, size_t>>{
           {n::kSlideKey, keys.size()}, {n::kSlidePath, paths.size()}, {n::kSlideError, errors.size()},
           {n::kSlideStatus, status.size()}, {n::kSlideTileStart, start.size()}, {n::kSlideTileCount, count.size()},
           {n::kSlideWidth, width.size()}, {n::kSlideHeight, height.size()}, {n::kSlideMpp, mpp.size()},
           {n::kSlideObjectivePower, power.size()}, {n::kSlideScale, scale.size()},
           {n::kSlideResolutionWidth, resolution_width.size()}, {n::kSlideResolutionHeight, resolution_height.size()}})
    if (length != S)
      r.fail(std::string(name) + " has " + std::to_string(length) + " rows for " + std::to_string(S) + " slides");
  if (!fractions.empty() && fractions.size() != S * classes)
    r.fail("/slides/class_fractions is not slides x classes");
  for (size_t i = 0; i < ids.size(); ++i) {
    SlideRow row;
    row.id = ids[i], row.key = keys[i], row.path = paths[i], row.error = errors[i];
    row.status = static_cast<SlideStatus>(status[i]);
    row.tile_start = start[i], row.tile_count = count[i], row.width = width[i], row.height = height[i];
    row.mpp = mpp[i], row.objective_power = power[i], row.scale = scale[i];
    row.resolution_width = resolution_width[i], row.resolution_height = resolution_height[i];
    if (fractions.size() == ids.size() * classes && classes > 0)
      row.class_fractions.assign(fractions.begin() + i * classes, fractions.begin() + (i + 1) * classes);
    s.slides.push_back(std::move(row));
  }
}

MapShape map_shape(const Reader& r, const std::string& key) {
  MapShape shape;
  const std::string group = std::string(n::kMaps) + "/" + key;
  if (key.empty() || !r.has(group)) return shape;
  const auto prediction = r.dims(group + "/prediction"), tissue = r.dims(group + "/tissue");
  shape.height = static_cast<int64_t>(prediction.at(0));
  shape.width = static_cast<int64_t>(prediction.at(1));
  if (r.has(group + "/thumbnail")) {
    const auto thumbnail = r.dims(group + "/thumbnail");
    shape.thumbnail_height = static_cast<int64_t>(thumbnail.at(0));
    shape.thumbnail_width = static_cast<int64_t>(thumbnail.at(1));
  }
  shape.mask_height = static_cast<int64_t>(tissue.at(0));
  shape.mask_width = static_cast<int64_t>(tissue.at(1));
  return shape;
}

void read_progress(const Reader& r, CohortSummary& s) {
  const auto unit_dims = r.dims(n::kUnits);
  if (unit_dims.size() != 2 || unit_dims[1] != 3) r.fail("/progress/units is not U x 3");
  if (r.dims(n::kStats).size() != 2 || r.dims(n::kStats)[1] != n::kStatsColumnCount)
    r.fail("/stats/ranks does not have " + std::to_string(n::kStatsColumnCount) + " columns");
  const auto units = r.all<int64_t>(n::kUnits, H5T_NATIVE_INT64);
  for (size_t i = 0; i + 3 <= units.size(); i += 3) s.units.push_back({units[i], units[i + 1], units[i + 2]});
  s.done = r.all<uint8_t>(n::kDone, H5T_NATIVE_UINT8);
  s.unit_rank = r.all<int32_t>(n::kUnitRank, H5T_NATIVE_INT32);
  s.end_state = static_cast<EndState>(scalar<int8_t>(r, n::kEndState, H5T_NATIVE_INT8));
  const auto stats = r.all<double>(n::kStats, H5T_NATIVE_DOUBLE);
  for (size_t i = 0; i + n::kStatsColumnCount <= stats.size(); i += n::kStatsColumnCount) {
    RankStats& row = s.stats.emplace_back();
    for (size_t c = 0; c < std::size(kStatsColumns); ++c) row.*kStatsColumns[c].field = stats[i + c];
  }
}

// Every index, count and width the readers will trust, checked against the datasets.
void check_consistent(const Reader& r, const CohortSummary& s) {
  const auto S = static_cast<int64_t>(s.slides.size()), N = s.tile_count;
  const auto C = static_cast<hsize_t>(s.class_names.size());
  const auto expect_dims = [&](const char* name, std::vector<hsize_t> want) {
    if (r.dims(name) != want) r.fail(std::string(name) + " does not have the shape the rest of the file implies");
  };
  expect_dims(n::kTileSlide, {static_cast<hsize_t>(N)});
  expect_dims(n::kTileBounds, {static_cast<hsize_t>(N), 4});
  if (s.has_probabilities) {
    if (C == 0) r.fail("/tiles/probabilities without class names");
    expect_dims(n::kTileProbabilities, {static_cast<hsize_t>(N), C});
  }
  if (s.feature_size < 0 || (s.feature_size > 0) != r.has(n::kTileFeatures))
    r.fail("/job/feature_size does not match /tiles/features");
  if (s.feature_size > 0)
    expect_dims(n::kTileFeatures, {static_cast<hsize_t>(N), static_cast<hsize_t>(s.feature_size)});
  for (const SlideRow& row : s.slides) {
    if (static_cast<int>(row.status) < 0 || static_cast<int>(row.status) > 2)
      r.fail("slide '" + row.id + "' has status " + std::to_string(static_cast<int>(row.status)));
    if (row.tile_start < 0 || row.tile_count < 0 || row.tile_start > N || row.tile_count > N - row.tile_start)
      r.fail("slide '" + row.id + "' has tiles [" + std::to_string(row.tile_start) + ", +" +
             std::to_string(row.tile_count) + ") outside the " + std::to_string(N) + " rows of /tiles");
  }
  for (size_t u = 0; u < s.units.size(); ++u) {
    const WorkUnit& unit = s.units[u];
    if (unit.slide < 0 || unit.slide >= S) r.fail("unit " + std::to_string(u) + " names slide " + std::to_string(unit.slide));
    const SlideRow& row = s.slides[unit.slide];
    if (unit.tile_count < 0 || unit.first_tile < row.tile_start || unit.first_tile > row.tile_start + row.tile_count ||
        unit.tile_count > row.tile_start + row.tile_count - unit.first_tile)
      r.fail("unit " + std::to_string(u) + " lies outside the tiles of its slide");
  }
  if (s.done.size() != s.units.size() || s.unit_rank.size() != s.units.size())
    r.fail("/progress/done or /progress/rank does not have one row per unit");
}

}  // namespace

std::optional<size_t> find_slide(const CohortSummary& summary, const std::string& id_or_key) {
  for (auto field : {&SlideRow::id, &SlideRow::key})
    for (size_t i = 0; i < summary.slides.size(); ++i)
      if (summary.slides[i].*field == id_or_key) return i;
  return std::nullopt;
}

CohortSummary read_cohort_summary(const std::string& path) {
  Reader r(path);
  CohortSummary s;
  const Where root{path, "/"};
  s.format = h5::read_string_attribute(r.file.id(), n::kAttrFormat, root);
  s.format_version = h5::read_int_attribute(r.file.id(), n::kAttrFormatVersion, root);
  s.software_version = h5::read_string_attribute(r.file.id(), n::kAttrSoftwareVersion, root);
  s.job_json = r.string(n::kJobConfig);
  s.fingerprint = r.string(n::kJobFingerprint);
  s.numeric_config = r.string(n::kJobNumericConfig);
  s.class_names = r.strings(n::kJobClassNames);
  s.feature_size = scalar<int64_t>(r, n::kJobFeatureSize, H5T_NATIVE_INT64);
  read_slides(r, s);
  std::set<std::string> keys;
  for (const SlideRow& row : s.slides)
    if (!is_plain_file_name(row.key) || !keys.insert(row.key).second)
      r.fail("/slides/key '" + row.key + "' is not a unique plain file name");
  for (const SlideRow& row : s.slides) s.maps.push_back(map_shape(r, row.key));
  read_progress(r, s);
  const auto tile_dims = r.dims(n::kTileSlide);
  if (tile_dims.size() != 1) r.fail("/tiles/slide is not one-dimensional");
  s.tile_count = static_cast<int64_t>(tile_dims[0]);
  s.has_probabilities = r.has(n::kTileProbabilities);
  if (r.has(n::kTileFeatures)) {
    Handle features = r.open(n::kTileFeatures);
    Handle type = h5::make(H5Dget_type(features.id()), {path, n::kTileFeatures}, "getting a type");
    s.features_float16 = H5Tget_size(type.id()) == 2;
  }
  check_consistent(r, s);
  return s;
}

SlideMaps read_slide_maps(const std::string& path, const std::string& key) {
  Reader r(path);
  const auto keys = r.strings(n::kSlideKey);
  if (key.empty() || std::find(keys.begin(), keys.end(), key) == keys.end())
    throw std::invalid_argument("cohort file '" + path + "' has no slide with key '" + key + "'");
  SlideMaps maps;
  maps.shape = map_shape(r, key);
  if (!has_maps(maps.shape)) return maps;
  const std::string group = std::string(n::kMaps) + "/" + key;
  maps.prediction = r.all<uint8_t>(group + "/prediction", H5T_NATIVE_UINT8);
  if (maps.shape.thumbnail_height > 0) maps.thumbnail = r.all<uint8_t>(group + "/thumbnail", H5T_NATIVE_UINT8);
  maps.tissue = r.all<uint8_t>(group + "/tissue", H5T_NATIVE_UINT8);
  return maps;
}

std::vector<TileBounds> read_tile_bounds(const std::string& path, int64_t first, int64_t count) {
  Reader r(path);
  return h5::to_tile_bounds(r.rows<int32_t>(n::kTileBounds, H5T_NATIVE_INT32, first, count));
}

std::vector<int32_t> read_tile_slides(const std::string& path, int64_t first, int64_t count) {
  return Reader(path).rows<int32_t>(n::kTileSlide, H5T_NATIVE_INT32, first, count);
}

std::vector<float> read_tile_probabilities(const std::string& path, int64_t first, int64_t count) {
  Reader r(path);
  if (!r.has(n::kTileProbabilities))
    throw std::runtime_error("cohort file '" + path + "' has no tile probabilities (features-only job)");
  return r.rows<float>(n::kTileProbabilities, H5T_NATIVE_FLOAT, first, count);
}

std::vector<float> read_tile_features(const std::string& path, int64_t first, int64_t count) {
  Reader r(path);
  if (!r.has(n::kTileFeatures)) throw std::runtime_error("cohort file '" + path + "' has no tile features");
  return r.rows<float>(n::kTileFeatures, H5T_NATIVE_FLOAT, first, count);  // float16 widened by HDF5
}

}  // namespace wsi

namespace wsi {

std::vector<float> read_slide_embeddings(const std::string& path, const std::string& name, int64_t& size) {
  Reader r(path);
  const std::string dataset = "/slides/embeddings/" + name;
  if (name.find('/') != std::string::npos || !r.has(dataset))
    throw std::runtime_error("cohort file '" + path + "' has no slide embeddings '" + name + "'");
  const auto dims = r.dims(dataset);
  if (dims.size() != 2) r.fail(dataset + " is not S x E");
  size = static_cast<int64_t>(dims[1]);
  return r.all<float>(dataset, H5T_NATIVE_FLOAT);
}

}  // namespace wsi
