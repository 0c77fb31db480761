// CohortFile::create: the whole file at its final size as OUT.partial, then renamed (docs/design.md
// "Data flow" step 2). Every rank makes the same object-creating calls; rank 0 alone writes the
// initial content with an independent transfer.
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "cohort/h5_layout.hpp"
#include "util/exclusive_file.hpp"
#include "cohort/h5_parallel.hpp"
#include "util/process_clock.hpp"
#include "wsi/cohort/cohort_file.hpp"

namespace wsi {

namespace {

using h5::Handle;
using h5::Where;
namespace n = h5::names;

void require(bool ok, const std::string& path, const std::string& what) {
  if (!ok) throw std::invalid_argument("cohort file '" + path + "': bad plan: " + what);
}

// Same plan on every rank, so every rank throws alike (before any collective call).
void validate(const CohortPlan& plan, const std::string& path) {
  const auto slides = static_cast<int64_t>(plan.slides.size());
  const auto tiles = static_cast<int64_t>(plan.tile_slide.size());
  require(plan.maps.size() == plan.slides.size(), path, "one MapShape per slide");
  require(plan.tile_bounds.size() == plan.tile_slide.size(), path, "as many tile bounds as tile slides");
  require(plan.stats_ranks >= 1, path, "stats_ranks >= 1");
  require(plan.feature_size >= 0, path, "feature_size >= 0");
  require(plan.numeric_config.size() < n::kNumericConfigBytes, path, "numeric configuration within its dataset");
  std::set<std::string> keys;
  for (int64_t i = 0; i < slides; ++i) {
    const SlideRow& row = plan.slides[i];
    require(row.tile_start >= 0 && row.tile_count >= 0 && row.tile_start + row.tile_count <= tiles, path,
            "tiles of slide '" + row.id + "' inside /tiles");
    if (!has_maps(plan.maps[i])) continue;
    require(!row.key.empty() && row.key.find('/') == std::string::npos && row.key != "." && row.key != "..", path,
            "slide key '" + row.key + "' usable as a group name");
    require(keys.insert(row.key).second, path, "slide keys unique ('" + row.key + "' twice)");
  }
  for (int32_t slide : plan.tile_slide) require(slide >= 0 && slide < slides, path, "tile slide index in range");
  for (const WorkUnit& unit : plan.units)
    require(unit.slide >= 0 && unit.slide < slides && unit.first_tile >= 0 && unit.tile_count >= 0 &&
                unit.first_tile + unit.tile_count <= tiles,
            path, "unit inside /tiles");
}

// Every dataset the initial content goes to, created (and kept open) on every rank.
struct Created {
  Handle config, fingerprint, class_names, feature_size, numeric_config;
  Handle id, key, spath, status, error, tile_start, tile_count, width, height, mpp, power, scale, fractions;
  Handle resolution_width, resolution_height;
  Handle tile_slide, tile_bounds, units, done, unit_rank, state, stats;
  Handle key_type, id_type, path_type, class_type, config_type, fingerprint_type, error_type, numeric_config_type;
};

void create_job(hid_t file, const CohortPlan& plan, const std::string& path, Created& c) {
  c.config_type = h5::string_type(plan.job_json.size() + 1);
  c.fingerprint_type = h5::string_type(plan.fingerprint.size() + 1);
  c.class_type = h5::string_type(h5::string_width(plan.class_names));
  c.config = h5::create_dataset(file, n::kJobConfig, c.config_type.id(), {}, path);
  c.fingerprint = h5::create_dataset(file, n::kJobFingerprint, c.fingerprint_type.id(), {}, path);
  c.class_names = h5::create_dataset(file, n::kJobClassNames, c.class_type.id(), {plan.class_names.size()}, path);
  c.feature_size = h5::create_dataset(file, n::kJobFeatureSize, H5T_STD_I64LE, {}, path);
  c.numeric_config_type = h5::string_type(n::kNumericConfigBytes);
  c.numeric_config = h5::create_dataset(file, n::kJobNumericConfig, c.numeric_config_type.id(), {}, path);
}

void create_slides(hid_t file, const CohortPlan& plan, const std::string& path, Created& c) {
  std::vector<std::string> ids, keys, paths;
  for (const SlideRow& row : plan.slides) ids.push_back(row.id), keys.push_back(row.key), paths.push_back(row.path);
  const hsize_t s = plan.slides.size();
  c.id_type = h5::string_type(h5::string_width(ids));
  c.key_type = h5::string_type(h5::string_width(keys));
  c.path_type = h5::string_type(h5::string_width(paths));
  c.error_type = h5::string_type(n::kErrorBytes);
  c.id = h5::create_dataset(file, n::kSlideId, c.id_type.id(), {s}, path);
  c.key = h5::create_dataset(file, n::kSlideKey, c.key_type.id(), {s}, path);
  c.spath = h5::create_dataset(file, n::kSlidePath, c.path_type.id(), {s}, path);
  c.status = h5::create_dataset(file, n::kSlideStatus, H5T_STD_I8LE, {s}, path);
  c.error = h5::create_dataset(file, n::kSlideError, c.error_type.id(), {s}, path);
  c.tile_start = h5::create_dataset(file, n::kSlideTileStart, H5T_STD_I64LE, {s}, path);
  c.tile_count = h5::create_dataset(file, n::kSlideTileCount, H5T_STD_I64LE, {s}, path);
  c.width = h5::create_dataset(file, n::kSlideWidth, H5T_STD_I64LE, {s}, path);
  c.height = h5::create_dataset(file, n::kSlideHeight, H5T_STD_I64LE, {s}, path);
  c.mpp = h5::create_dataset(file, n::kSlideMpp, H5T_IEEE_F64LE, {s}, path);
  c.power = h5::create_dataset(file, n::kSlideObjectivePower, H5T_IEEE_F64LE, {s}, path);
  c.scale = h5::create_dataset(file, n::kSlideScale, H5T_IEEE_F64LE, {s}, path);
  c.resolution_width = h5::create_dataset(file, n::kSlideResolutionWidth, H5T_STD_I64LE, {s}, path);
  c.resolution_height = h5::create_dataset(file, n::kSlideResolutionHeight, H5T_STD_I64LE, {s}, path);
  if (!plan.class_names.empty())
    c.fractions =
        h5::create_dataset(file, n::kSlideClassFractions, H5T_IEEE_F32LE, {s, plan.class_names.size()}, path);
}

void create_tiles(hid_t file, const CohortPlan& plan, const std::string& path, Created& c) {
  const hsize_t tiles = plan.tile_slide.size(), classes = plan.class_names.size();
  c.tile_slide = h5::create_dataset(file, n::kTileSlide, H5T_STD_I32LE, {tiles}, path);
  c.tile_bounds = h5::create_dataset(file, n::kTileBounds, H5T_STD_I32LE, {tiles, 4}, path);
  if (plan.probabilities && classes > 0)
    h5::create_dataset(file, n::kTileProbabilities, H5T_IEEE_F32LE, {tiles, classes}, path);
  if (plan.feature_size > 0) {
    Handle half = h5::float16_type();
    const hid_t type = plan.features_float16 ? half.id() : H5T_IEEE_F32LE;
    h5::create_dataset(file, n::kTileFeatures, type, {tiles, static_cast<hsize_t>(plan.feature_size)}, path);
  }
}

// The slow part with thousands of slides: 1 group + 2 or 3 datasets per slide, made
// collectively. No thumbnail dataset when the job keeps none.
void create_maps(hid_t file, const CohortPlan& plan, const std::string& path) {
  size_t heap = 0;
  for (const SlideRow& row : plan.slides) heap += row.key.size() + 8;
  Handle maps = h5::create_group(file, n::kMaps, path, heap);
  const auto dim = [](int64_t v) { return static_cast<hsize_t>(v); };
  for (size_t i = 0; i < plan.slides.size(); ++i) {
    const MapShape& shape = plan.maps[i];
    if (!has_maps(shape)) continue;
    const std::string group = std::string(n::kMaps) + "/" + plan.slides[i].key + "/";
    h5::create_group(file, group, path, 64);
    h5::create_map_dataset(file, group + n::kMapPrediction, {dim(shape.height), dim(shape.width)}, path);
    if (shape.thumbnail_height > 0 && shape.thumbnail_width > 0)
      h5::create_map_dataset(file, group + n::kMapThumbnail, {dim(shape.thumbnail_height), dim(shape.thumbnail_width), 3},
                             path);
    h5::create_map_dataset(file, group + n::kMapTissue, {dim(shape.mask_height), dim(shape.mask_width)}, path);
  }
}

void create_progress(hid_t file, const CohortPlan& plan, const std::string& path, Created& c) {
  const hsize_t units = plan.units.size();
  c.units = h5::create_dataset(file, n::kUnits, H5T_STD_I64LE, {units, 3}, path);
  c.done = h5::create_dataset(file, n::kDone, H5T_STD_U8LE, {units}, path);
  c.unit_rank = h5::create_dataset(file, n::kUnitRank, H5T_STD_I32LE, {units}, path);
  c.state = h5::create_dataset(file, n::kEndState, H5T_STD_I8LE, {}, path);
  c.stats = h5::create_dataset(file, n::kStats, H5T_IEEE_F64LE,
                               {static_cast<hsize_t>(plan.stats_ranks), static_cast<hsize_t>(n::kStatsColumnCount)}, path);
  std::vector<std::string> columns;
  for (const StatsColumn& column : kStatsColumns) columns.emplace_back(column.name);
  h5::write_strings_attribute(c.stats.id(), n::kAttrColumns, columns, {path, n::kStats});
}

void create_objects(hid_t file, const CohortPlan& plan, const std::string& path, Created& c) {
  for (const char* group : {"/job", "/slides", "/tiles", "/progress", "/stats"}) h5::create_group(file, group, path);
  create_job(file, plan, path, c);
  create_slides(file, plan, path, c);
  create_tiles(file, plan, path, c);
  create_progress(file, plan, path, c);
  create_maps(file, plan, path);
  const Where root{path, "/"};
  h5::write_string_attribute(file, n::kAttrFormat, kCohortFormat, root);
  h5::write_int_attribute(file, n::kAttrFormatVersion, kCohortFormatVersion, root);
  h5::write_string_attribute(file, n::kAttrSoftwareVersion, WSI_MPI_VERSION, root);
}

template <class T, class F>
std::vector<T> column(const std::vector<SlideRow>& rows, F get) {
  std::vector<T> out;
  out.reserve(rows.size());
  for (const SlideRow& row : rows) out.push_back(static_cast<T>(get(row)));
  return out;
}

void write_slides(const CohortPlan& plan, const Created& c, hid_t dxpl, const std::string& path) {
  const auto& rows = plan.slides;
  auto strings = [&](const Handle& dataset, const Handle& type, auto get, const char* name) {
    std::vector<std::string> values = column<std::string>(rows, get);
    std::vector<char> packed = h5::pack_strings(values, H5Tget_size(type.id()));
    h5::write_all(dataset.id(), type.id(), packed.data(), dxpl, {path, name});
  };
  strings(c.id, c.id_type, [](const SlideRow& r) { return r.id; }, n::kSlideId);
  strings(c.key, c.key_type, [](const SlideRow& r) { return r.key; }, n::kSlideKey);
  strings(c.spath, c.path_type, [](const SlideRow& r) { return r.path; }, n::kSlidePath);
  strings(c.error, c.error_type, [](const SlideRow& r) { return h5::truncate_utf8(r.error, n::kErrorBytes - 1); },
          n::kSlideError);
  auto numbers = [&](const Handle& dataset, hid_t type, const auto& values, const char* name) {
    h5::write_all(dataset.id(), type, values.data(), dxpl, {path, name});
  };
  numbers(c.status, H5T_NATIVE_INT8, column<int8_t>(rows, [](const SlideRow& r) { return r.status; }), n::kSlideStatus);
  numbers(c.tile_start, H5T_NATIVE_INT64, column<int64_t>(rows, [](auto& r) { return r.tile_start; }),
          n::kSlideTileStart);
  numbers(c.tile_count, H5T_NATIVE_INT64, column<int64_t>(rows, [](auto& r) { return r.tile_count; }),
          n::kSlideTileCount);
  numbers(c.width, H5T_NATIVE_INT64, column<int64_t>(rows, [](auto& r) { return r.width; }), n::kSlideWidth);
  numbers(c.height, H5T_NATIVE_INT64, column<int64_t>(rows, [](auto& r) { return r.height; }), n::kSlideHeight);
  numbers(c.mpp, H5T_NATIVE_DOUBLE, column<double>(rows, [](auto& r) { return r.mpp; }), n::kSlideMpp);
  numbers(c.power, H5T_NATIVE_DOUBLE, column<double>(rows, [](auto& r) { return r.objective_power; }),
          n::kSlideObjectivePower);
  numbers(c.scale, H5T_NATIVE_DOUBLE, column<double>(rows, [](auto& r) { return r.scale; }), n::kSlideScale);
  numbers(c.resolution_width, H5T_NATIVE_INT64, column<int64_t>(rows, [](auto& r) { return r.resolution_width; }),
          n::kSlideResolutionWidth);
  numbers(c.resolution_height, H5T_NATIVE_INT64, column<int64_t>(rows, [](auto& r) { return r.resolution_height; }),
          n::kSlideResolutionHeight);
  if (!c.fractions) return;
  const size_t classes = plan.class_names.size();
  std::vector<float> fractions(rows.size() * classes, 0.0f);
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].class_fractions.size() == classes)
      std::copy(rows[i].class_fractions.begin(), rows[i].class_fractions.end(), fractions.begin() + i * classes);
  numbers(c.fractions, H5T_NATIVE_FLOAT, fractions, n::kSlideClassFractions);
}

void write_initial(const CohortPlan& plan, const Created& c, const std::string& path) {
  Handle dxpl = h5::mpio_transfer(false, path);
  const hid_t x = dxpl.id();
  std::vector<char> text = h5::pack_strings({plan.job_json}, plan.job_json.size() + 1);
  h5::write_all(c.config.id(), c.config_type.id(), text.data(), x, {path, n::kJobConfig});
  text = h5::pack_strings({plan.fingerprint}, plan.fingerprint.size() + 1);
  h5::write_all(c.fingerprint.id(), c.fingerprint_type.id(), text.data(), x, {path, n::kJobFingerprint});
  text = h5::pack_strings(plan.class_names, H5Tget_size(c.class_type.id()));
  h5::write_all(c.class_names.id(), c.class_type.id(), text.data(), x, {path, n::kJobClassNames});
  h5::write_all(c.feature_size.id(), H5T_NATIVE_INT64, &plan.feature_size, x, {path, n::kJobFeatureSize});
  text = h5::pack_strings({plan.numeric_config}, n::kNumericConfigBytes);
  h5::write_all(c.numeric_config.id(), c.numeric_config_type.id(), text.data(), x, {path, n::kJobNumericConfig});
  write_slides(plan, c, x, path);

  h5::write_all(c.tile_slide.id(), H5T_NATIVE_INT32, plan.tile_slide.data(), x, {path, n::kTileSlide});
  std::vector<int32_t> bounds;
  bounds.reserve(plan.tile_bounds.size() * 4);
  for (const TileBounds& b : plan.tile_bounds) bounds.insert(bounds.end(), {b.x0, b.y0, b.x1, b.y1});
  h5::write_all(c.tile_bounds.id(), H5T_NATIVE_INT32, bounds.data(), x, {path, n::kTileBounds});

  std::vector<int64_t> units;
  units.reserve(plan.units.size() * 3);
  for (const WorkUnit& u : plan.units) units.insert(units.end(), {u.slide, u.first_tile, u.tile_count});
  h5::write_all(c.units.id(), H5T_NATIVE_INT64, units.data(), x, {path, n::kUnits});
  std::vector<uint8_t> done(plan.units.size(), 0);
  h5::write_all(c.done.id(), H5T_NATIVE_UINT8, done.data(), x, {path, n::kDone});
  std::vector<int32_t> ranks(plan.units.size(), -1);
  h5::write_all(c.unit_rank.id(), H5T_NATIVE_INT32, ranks.data(), x, {path, n::kUnitRank});
  const auto state = static_cast<int8_t>(EndState::running);
  h5::write_all(c.state.id(), H5T_NATIVE_INT8, &state, x, {path, n::kEndState});
  std::vector<double> stats(static_cast<size_t>(plan.stats_ranks) * n::kStatsColumnCount, 0.0);
  h5::write_all(c.stats.id(), H5T_NATIVE_DOUBLE, stats.data(), x, {path, n::kStats});
}

// Runs `step` on rank 0 only; every rank then throws rank 0's error, if any (no rank is left
// waiting in a collective call).
template <class F>
void on_rank0(const Comm& comm, F step) {
  std::string error;
  if (comm.rank() == 0) {
    try {
      step();
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "unknown error";
    }
  }
  error = comm.broadcast(error, 0);
  if (!error.empty()) throw std::runtime_error(error);
}

}  // namespace

uint64_t cohort_file_bytes_bound(const CohortPlan& plan) {
  const uint64_t tiles = plan.tile_slide.size(), classes = plan.class_names.size();
  const uint64_t feature_bytes = static_cast<uint64_t>(plan.feature_size) * (plan.features_float16 ? 2 : 4);
  uint64_t bytes = plan.job_json.size() + plan.fingerprint.size() + (uint64_t{1} << 20);  // metadata
  bytes += tiles * (4 + 16 + (plan.probabilities ? classes * 4 : 0) + feature_bytes);
  bytes += plan.units.size() * (24 + 1 + 4) + static_cast<uint64_t>(plan.stats_ranks) * 64;
  for (size_t i = 0; i < plan.slides.size(); ++i) {
    const SlideRow& row = plan.slides[i];
    const MapShape& m = plan.maps[i];
    bytes += row.id.size() + row.key.size() + row.path.size() + n::kErrorBytes + 128 + classes * 4;
    bytes += static_cast<uint64_t>(m.height * m.width + 3 * m.thumbnail_height * m.thumbnail_width +
                                   m.mask_height * m.mask_width) + 4096;
  }
  return bytes;
}

void CohortFile::create(const std::string& path, const CohortPlan& plan, const Comm& comm,
                        const std::function<void(CohortFile&)>& fill) {
  h5::quiet_errors();
  validate(plan, path);
  const std::string partial = path + ".partial";
  // A leftover (or a link planted there) is removed, and the file is made exclusively: a link
  // put in its place meanwhile makes the creation fail rather than write through it.
  on_rank0(comm, [&] { remove_leftover(partial); });
  {
    const h5::ParallelFileOpen parallel;
    Handle fapl = h5::mpio_file_access(comm, true, partial);
    Handle fcpl = h5::crash_safe_file_creation(partial);
    Handle file = h5::make(H5Fcreate(partial.c_str(), H5F_ACC_EXCL, fcpl.id(), fapl.id()), {partial, "/"},
                           "creating the file");
    Created created;
    const auto start = std::chrono::steady_clock::now();
    create_objects(file.id(), plan, partial, created);
    const double created_s = seconds_since(start);
    on_rank0(comm, [&] { write_initial(plan, created, partial); });
    const double written_s = seconds_since(start);
    h5::check(H5Fflush(file.id(), H5F_SCOPE_GLOBAL), {partial, "/"}, "flushing");
    created = Created();
    file.close(partial, "/");
    spdlog::debug("cohort file {}: objects created in {:.3f} s, initial content {:.3f} s, flushed and closed {:.3f} s",
                  partial, created_s, written_s - created_s, seconds_since(start) - written_s);
  }
  if (fill) {
    CohortFile file = open(partial, comm);
    fill(file);
    file.flush();
    file.close();
  }
  on_rank0(comm, [&] { std::filesystem::rename(partial, path); });
  comm.barrier();
}

}  // namespace wsi
