// CohortFile::create: the file with the job, every slide's row and empty, extendible tile and unit
// tables as OUT.partial; the slides planned so far appended; then renamed (docs/cohort-file.md).
// Every rank makes the same object-creating calls; rank 0 alone writes the initial content with
// an independent transfer. Also the per-slide pieces that CohortFile::append_slides shares.
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
  const auto planned = static_cast<int64_t>(plan.maps.size());
  require(plan.maps.size() <= plan.slides.size(), path, "at most one MapShape per slide");
  require(plan.tile_bounds.size() == plan.tile_slide.size(), path, "as many tile bounds as tile slides");
  require(plan.stats_ranks >= 1, path, "stats_ranks >= 1");
  require(plan.feature_size >= 0, path, "feature_size >= 0");
  require(plan.numeric_config.size() < n::kNumericConfigBytes, path, "numeric configuration within its dataset");
  std::set<std::string> keys;
  for (int64_t i = 0; i < slides; ++i) {
    const SlideRow& row = plan.slides[i];
    require(row.tile_start >= 0 && row.tile_count >= 0 && row.tile_start + row.tile_count <= tiles, path,
            "tiles of slide '" + row.id + "' inside /tiles");
    if (i >= planned || !has_maps(plan.maps[i])) continue;
    require(!row.key.empty() && row.key.find('/') == std::string::npos && row.key != "." && row.key != "..", path,
            "slide key '" + row.key + "' usable as a group name");
    require(keys.insert(row.key).second, path, "slide keys unique ('" + row.key + "' twice)");
  }
  for (int32_t slide : plan.tile_slide) require(slide >= 0 && slide < planned, path, "tile slide index in range");
  for (const WorkUnit& unit : plan.units)
    require(unit.slide >= 0 && unit.slide < planned && unit.first_tile >= 0 && unit.tile_count >= 0 &&
                unit.first_tile + unit.tile_count <= tiles,
            path, "unit inside /tiles");
}

// Every dataset the initial content goes to, created (and kept open) on every rank.
struct Created {
  Handle config, fingerprint, class_names, feature_size, numeric_config;
  Handle planned, state, stats;
  Handle class_type, config_type, fingerprint_type, numeric_config_type;
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

void create_slides(hid_t file, const CohortPlan& plan, const std::string& path) {
  std::vector<std::string> ids, keys, paths;
  for (const SlideRow& row : plan.slides) ids.push_back(row.id), keys.push_back(row.key), paths.push_back(row.path);
  const hsize_t s = plan.slides.size();
  const auto strings = [&](const char* name, size_t width) {
    Handle type = h5::string_type(width);
    h5::create_dataset(file, name, type.id(), {s}, path);
  };
  strings(n::kSlideId, h5::string_width(ids));
  strings(n::kSlideKey, h5::string_width(keys));
  strings(n::kSlidePath, h5::string_width(paths));
  strings(n::kSlideError, n::kErrorBytes);
  h5::create_dataset(file, n::kSlideStatus, H5T_STD_I8LE, {s}, path);
  for (const char* name : {n::kSlideTileStart, n::kSlideTileCount, n::kSlideWidth, n::kSlideHeight,
                           n::kSlideResolutionWidth, n::kSlideResolutionHeight})
    h5::create_dataset(file, name, H5T_STD_I64LE, {s}, path);
  for (const char* name : {n::kSlideMpp, n::kSlideObjectivePower, n::kSlideScale})
    h5::create_dataset(file, name, H5T_IEEE_F64LE, {s}, path);
  if (!plan.class_names.empty())
    h5::create_dataset(file, n::kSlideClassFractions, H5T_IEEE_F32LE, {s, plan.class_names.size()}, path);
}

// The tile and unit tables start empty and grow as slides are planned.
void create_tiles(hid_t file, const CohortPlan& plan, const std::string& path) {
  const hsize_t classes = plan.class_names.size();
  h5::create_row_dataset(file, n::kTileSlide, H5T_STD_I32LE, {0}, path);
  h5::create_row_dataset(file, n::kTileBounds, H5T_STD_I32LE, {0, 4}, path);
  if (plan.probabilities && classes > 0)
    h5::create_row_dataset(file, n::kTileProbabilities, H5T_IEEE_F32LE, {0, classes}, path);
  if (plan.feature_size > 0) {
    Handle half = h5::float16_type();
    const hid_t type = plan.features_float16 ? half.id() : H5T_IEEE_F32LE;
    h5::create_row_dataset(file, n::kTileFeatures, type, {0, static_cast<hsize_t>(plan.feature_size)}, path);
  }
}

void create_progress(hid_t file, const CohortPlan& plan, const std::string& path, Created& c) {
  h5::create_row_dataset(file, n::kUnits, H5T_STD_I64LE, {0, 3}, path);
  h5::create_row_dataset(file, n::kDone, H5T_STD_U8LE, {0}, path);
  h5::create_row_dataset(file, n::kUnitRank, H5T_STD_I32LE, {0}, path);
  c.planned = h5::create_dataset(file, n::kPlanned, H5T_STD_I64LE, {3}, path);
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
  create_slides(file, plan, path);
  create_tiles(file, plan, path);
  create_progress(file, plan, path, c);
  size_t heap = 0;  // the /maps group's names, made as slides are planned
  for (const SlideRow& row : plan.slides) heap += row.key.size() + 8;
  h5::create_group(file, n::kMaps, path, heap);
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

void write_initial(const CohortPlan& plan, const Created& c, hid_t file, const std::string& path) {
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
  h5::write_slide_rows(file, plan.slides, 0, x, path);
  const int64_t planned[3] = {0, 0, 0};
  h5::write_all(c.planned.id(), H5T_NATIVE_INT64, planned, x, {path, n::kPlanned});
  const auto state = static_cast<int8_t>(EndState::running);
  h5::write_all(c.state.id(), H5T_NATIVE_INT8, &state, x, {path, n::kEndState});
  std::vector<double> stats(static_cast<size_t>(plan.stats_ranks) * n::kStatsColumnCount, 0.0);
  h5::write_all(c.stats.id(), H5T_NATIVE_DOUBLE, stats.data(), x, {path, n::kStats});
}

// The planned slides of `plan` as an append; rank 0 gives every tile row.
PlannedSlides planned_part(const CohortPlan& plan, const Comm& comm) {
  PlannedSlides part;
  part.rows.assign(plan.slides.begin(), plan.slides.begin() + static_cast<std::ptrdiff_t>(plan.maps.size()));
  part.maps = plan.maps;
  part.units = plan.units;
  if (comm.rank() == 0) part.tiles.push_back({0, plan.tile_slide, plan.tile_bounds});
  return part;
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

namespace h5 {

void write_slide_rows(hid_t file, const std::vector<SlideRow>& rows, hsize_t first, hid_t dxpl, const std::string& path) {
  if (rows.empty()) return;
  const auto strings = [&](const char* name, auto get) {
    Handle dataset = open_dataset(file, name, path);
    Handle type = make(H5Dget_type(dataset.id()), {path, name}, "getting a type");
    const size_t width = H5Tget_size(type.id());
    std::vector<std::string> values = column<std::string>(rows, get);
    for (std::string& value : values) value = truncate_utf8(value, width - 1);
    const std::vector<char> packed = pack_strings(values, width);
    write_rows(dataset.id(), type.id(), first, rows.size(), packed.data(), dxpl, {path, name});
  };
  strings(n::kSlideId, [](const SlideRow& r) { return r.id; });
  strings(n::kSlideKey, [](const SlideRow& r) { return r.key; });
  strings(n::kSlidePath, [](const SlideRow& r) { return r.path; });
  strings(n::kSlideError, [](const SlideRow& r) { return r.error; });
  const auto numbers = [&](const char* name, hid_t type, const auto& values) {
    Handle dataset = open_dataset(file, name, path);
    write_rows(dataset.id(), type, first, rows.size(), values.data(), dxpl, {path, name});
  };
  numbers(n::kSlideStatus, H5T_NATIVE_INT8, column<int8_t>(rows, [](const SlideRow& r) { return r.status; }));
  numbers(n::kSlideTileStart, H5T_NATIVE_INT64, column<int64_t>(rows, [](auto& r) { return r.tile_start; }));
  numbers(n::kSlideTileCount, H5T_NATIVE_INT64, column<int64_t>(rows, [](auto& r) { return r.tile_count; }));
  numbers(n::kSlideWidth, H5T_NATIVE_INT64, column<int64_t>(rows, [](auto& r) { return r.width; }));
  numbers(n::kSlideHeight, H5T_NATIVE_INT64, column<int64_t>(rows, [](auto& r) { return r.height; }));
  numbers(n::kSlideMpp, H5T_NATIVE_DOUBLE, column<double>(rows, [](auto& r) { return r.mpp; }));
  numbers(n::kSlideObjectivePower, H5T_NATIVE_DOUBLE, column<double>(rows, [](auto& r) { return r.objective_power; }));
  numbers(n::kSlideScale, H5T_NATIVE_DOUBLE, column<double>(rows, [](auto& r) { return r.scale; }));
  numbers(n::kSlideResolutionWidth, H5T_NATIVE_INT64, column<int64_t>(rows, [](auto& r) { return r.resolution_width; }));
  numbers(n::kSlideResolutionHeight, H5T_NATIVE_INT64,
          column<int64_t>(rows, [](auto& r) { return r.resolution_height; }));
  if (!exists(file, n::kSlideClassFractions)) return;
  Handle fractions = open_dataset(file, n::kSlideClassFractions, path);
  const size_t classes = dims_of(fractions.id(), path, n::kSlideClassFractions).at(1);
  std::vector<float> values(rows.size() * classes, 0.0f);
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].class_fractions.size() == classes)
      std::copy(rows[i].class_fractions.begin(), rows[i].class_fractions.end(), values.begin() + i * classes);
  write_rows(fractions.id(), H5T_NATIVE_FLOAT, first, rows.size(), values.data(), dxpl, {path, n::kSlideClassFractions});
}

void create_slide_maps(hid_t file, const std::string& key, const MapShape& shape, const std::string& path) {
  const std::string group = std::string(n::kMaps) + "/" + key;
  // Left by a killed extension (the slide was not recorded as planned): made again.
  if (exists(file, group)) check(H5Ldelete(file, group.c_str(), H5P_DEFAULT), {path, group}, "removing a leftover");
  const auto dim = [](int64_t v) { return static_cast<hsize_t>(v); };
  create_group(file, group, path, 64);
  create_map_dataset(file, group + "/" + n::kMapPrediction, {dim(shape.height), dim(shape.width)}, path);
  if (shape.thumbnail_height > 0 && shape.thumbnail_width > 0)
    create_map_dataset(file, group + "/" + n::kMapThumbnail,
                       {dim(shape.thumbnail_height), dim(shape.thumbnail_width), 3}, path);
  create_map_dataset(file, group + "/" + n::kMapTissue, {dim(shape.mask_height), dim(shape.mask_width)}, path);
}

}  // namespace h5

uint64_t slides_bytes_bound(const std::vector<SlideRow>& rows, const std::vector<MapShape>& maps, size_t units,
                            int64_t classes, int64_t feature_bytes) {
  uint64_t bytes = units * (24 + 1 + 4);
  for (size_t i = 0; i < rows.size(); ++i) {
    const SlideRow& row = rows[i];
    const MapShape m = i < maps.size() ? maps[i] : MapShape{};
    bytes += row.id.size() + row.key.size() + row.path.size() + n::kErrorBytes + 128 + classes * 4;
    bytes += static_cast<uint64_t>(row.tile_count) * (4 + 16 + classes * 4 + feature_bytes);
    bytes += static_cast<uint64_t>(m.height * m.width + 3 * m.thumbnail_height * m.thumbnail_width +
                                   m.mask_height * m.mask_width) + 4096;
  }
  return bytes;
}

uint64_t cohort_file_bytes_bound(const CohortPlan& plan) {
  const int64_t classes = plan.probabilities ? static_cast<int64_t>(plan.class_names.size()) : 0;
  uint64_t bytes = plan.job_json.size() + plan.fingerprint.size() + (uint64_t{1} << 20);  // metadata
  bytes += static_cast<uint64_t>(plan.stats_ranks) * 64 + 8 * h5::kRowChunkBytes;  // a chunk of each table
  return bytes + slides_bytes_bound(plan.slides, plan.maps, plan.units.size(), classes,
                                    plan.feature_size * (plan.features_float16 ? 2 : 4));
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
    on_rank0(comm, [&] { write_initial(plan, created, file.id(), partial); });
    const double written_s = seconds_since(start);
    h5::check(H5Fflush(file.id(), H5F_SCOPE_GLOBAL), {partial, "/"}, "flushing");
    created = Created();
    file.close(partial, "/");
    spdlog::debug("cohort file {}: objects created in {:.3f} s, initial content {:.3f} s, flushed and closed {:.3f} s",
                  partial, created_s, written_s - created_s, seconds_since(start) - written_s);
  }
  {
    CohortFile file = open(partial, comm);
    file.append_slides(planned_part(plan, comm), fill);
    file.close();
  }
  on_rank0(comm, [&] { std::filesystem::rename(partial, path); });
  comm.barrier();
}

}  // namespace wsi
