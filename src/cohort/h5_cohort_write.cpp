// CohortFile: open an existing cohort file in parallel, grow it as slides are planned, and write
// raw data in place (docs/cohort-file.md "How it is written").
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <map>
#include <optional>
#include <stdexcept>

#include "cohort/h5_cohort_impl.hpp"
#include "cohort/h5_layout.hpp"
#include "cohort/h5_parallel.hpp"
#include "cohort/h5_validate.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/comm/message.hpp"

namespace wsi {

using h5::Handle;
using h5::Where;
namespace n = h5::names;
using h5::normalise;
using h5::Range;
using h5::write_ranges;

namespace {

hsize_t rows_of(const Handle& dataset, const std::string& path, const char* name) {
  return dataset ? h5::dims_of(dataset.id(), path, name).at(0) : 0;
}

}  // namespace

CohortFile::CohortFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CohortFile::CohortFile(CohortFile&&) noexcept = default;
CohortFile& CohortFile::operator=(CohortFile&& other) noexcept {
  if (this != &other) {
    try {
      if (impl_) close();
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
    }
    impl_ = std::move(other.impl_);
  }
  return *this;
}

CohortFile::~CohortFile() {
  if (!impl_) return;
  if (std::uncaught_exceptions() > 0) {  // no collective close while unwinding: the job aborts
    (void)impl_.release();
    return;
  }
  try {
    close();
  } catch (const std::exception& e) {
    try {
      spdlog::error("{}", e.what());
    } catch (...) {
    }
  }
}

void CohortFile::close() {
  if (!impl_ || !impl_->file) return;
  impl_->close_all();
  impl_->file.close(impl_->path, "/");
}

CohortFile CohortFile::open(const std::string& path, const Comm& comm) {
  h5::quiet_errors();
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->comm = comm;
  Handle fapl = h5::mpio_file_access(comm, false, path);
  impl->file = h5::make(H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.id()), {path, "/"}, "opening the file");
  const h5::CheckedFile checked(impl->file.id(), path);  // every dataset opened through it
  const h5::Counts& counts = checked.counts();
  const auto open_if = [&](const char* name) { return checked.has(name) ? checked.open(name) : Handle(); };
  impl->collective = h5::mpio_transfer(true, path);
  impl->independent = h5::mpio_transfer(false, path);
  impl->status = checked.open(n::kSlideStatus);
  impl->error = checked.open(n::kSlideError);
  impl->error_type = h5::make(H5Dget_type(impl->error.id()), impl->at(n::kSlideError), "getting a type");
  impl->fractions = open_if(n::kSlideClassFractions);
  impl->probabilities = open_if(n::kTileProbabilities);
  impl->features = open_if(n::kTileFeatures);
  impl->done = checked.open(n::kDone);
  impl->unit_rank = checked.open(n::kUnitRank);
  impl->state = checked.open(n::kEndState);
  impl->stats = checked.open(n::kStats);
  impl->bounds = checked.open(n::kTileBounds);
  impl->tile_slide = checked.open(n::kTileSlide);
  impl->units_table = checked.open(n::kUnits);
  impl->planned_counts = checked.open(n::kPlanned);
  impl->keys = checked.strings(n::kSlideKey);
  impl->planned = h5::planned_counts(checked);
  impl->slides = counts.slides;
  impl->tiles = static_cast<hsize_t>(impl->planned.tiles);
  impl->units = static_cast<hsize_t>(impl->planned.units);
  impl->stats_rows = rows_of(impl->stats, path, n::kStats);
  impl->classes = counts.classes;
  impl->feature_size = counts.features;
  if (impl->features) {
    Handle type = h5::make(H5Dget_type(impl->features.id()), impl->at(n::kTileFeatures), "getting a type");
    impl->features_float16 = H5Tget_size(type.id()) == 2;
  }
  return CohortFile(std::move(impl));
}

void CohortFile::write_tile_rows(const std::vector<TileRows>& rows) {
  Impl& m = *impl_;
  std::vector<TileRows> sorted;
  std::vector<Range> ranges;
  for (const TileRows& r : rows)
    if (r.count > 0) sorted.push_back(r);
  std::sort(sorted.begin(), sorted.end(), [](const TileRows& a, const TileRows& b) { return a.first < b.first; });
  for (const TileRows& r : sorted) {
    if (r.first < 0) throw std::out_of_range("cohort file '" + m.path + "': negative tile row");
    ranges.push_back({static_cast<hsize_t>(r.first), static_cast<hsize_t>(r.count)});
  }
  const std::vector<Range> merged = normalise(ranges, m.tiles, m.path, "tile rows");
  hsize_t total = 0;
  for (const Range& r : merged) total += r.count;

  if (m.probabilities) {
    std::vector<float> packed;
    packed.reserve(total * m.classes);
    for (const TileRows& r : sorted) {
      if (!r.probabilities) throw std::invalid_argument("cohort file '" + m.path + "': tile rows without probabilities");
      packed.insert(packed.end(), r.probabilities, r.probabilities + r.count * m.classes);
    }
    write_ranges(m.probabilities.id(), H5T_NATIVE_FLOAT, merged, m.classes, packed.data(), m.collective.id(),
                 m.at(n::kTileProbabilities));
  }
  if (m.features) {
    for (const TileRows& r : sorted)
      if (!r.features) throw std::invalid_argument("cohort file '" + m.path + "': tile rows without features");
    if (m.features_float16) {
      // Converted here (round to nearest even, as numpy): a conversion inside HDF5 would make
      // HDF5 1.10 drop to independent I/O.
      std::vector<uint16_t> packed;
      packed.reserve(total * m.feature_size);
      for (const TileRows& r : sorted)
        for (int64_t i = 0; i < r.count * static_cast<int64_t>(m.feature_size); ++i)
          packed.push_back(h5::float_to_half(r.features[i]));
      Handle half = h5::float16_type();
      write_ranges(m.features.id(), half.id(), merged, m.feature_size, packed.data(), m.collective.id(),
                   m.at(n::kTileFeatures));
    } else {
      std::vector<float> packed;
      packed.reserve(total * m.feature_size);
      for (const TileRows& r : sorted) packed.insert(packed.end(), r.features, r.features + r.count * m.feature_size);
      write_ranges(m.features.id(), H5T_NATIVE_FLOAT, merged, m.feature_size, packed.data(), m.collective.id(),
                   m.at(n::kTileFeatures));
    }
  }
}

void CohortFile::write_done(const std::vector<int64_t>& units, int rank) {
  Impl& m = *impl_;
  std::vector<int64_t> sorted = units;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<Range> ranges;
  for (int64_t u : sorted) {
    if (u < 0) throw std::out_of_range("cohort file '" + m.path + "': negative unit index");
    ranges.push_back({static_cast<hsize_t>(u), 1});
  }
  const std::vector<Range> merged = normalise(ranges, m.units, m.path, "units");
  const std::vector<int32_t> ranks(sorted.size(), rank);
  const std::vector<uint8_t> ones(sorted.size(), 1);
  // The rank first, then the flag: the flag is what counts.
  write_ranges(m.unit_rank.id(), H5T_NATIVE_INT32, merged, 1, ranks.data(), m.collective.id(), m.at(n::kUnitRank));
  write_ranges(m.done.id(), H5T_NATIVE_UINT8, merged, 1, ones.data(), m.collective.id(), m.at(n::kDone));
}

void CohortFile::flush() {
  h5::check(H5Fflush(impl_->file.id(), H5F_SCOPE_GLOBAL), impl_->at("/"), "flushing");
}

std::vector<float> CohortFile::read_probabilities(int64_t first, int64_t count) const {
  const Impl& m = *impl_;
  if (!m.probabilities) throw std::runtime_error("cohort file '" + m.path + "' has no tile probabilities");
  if (first < 0 || count < 0) throw std::out_of_range("cohort file '" + m.path + "': negative tile rows");
  std::vector<float> out(static_cast<size_t>(count) * m.classes);
  h5::read_rows(m.probabilities.id(), H5T_NATIVE_FLOAT, first, count, out.data(), m.at(n::kTileProbabilities));
  return out;
}

std::vector<TileBounds> CohortFile::read_bounds(int64_t first, int64_t count) const {
  const Impl& m = *impl_;
  if (first < 0 || count < 0) throw std::out_of_range("cohort file '" + m.path + "': negative tile rows");
  std::vector<int32_t> values(static_cast<size_t>(count) * 4);
  h5::read_rows(m.bounds.id(), H5T_NATIVE_INT32, first, count, values.data(), m.at(n::kTileBounds));
  return h5::to_tile_bounds(values);
}

const std::string& CohortFile::path() const { return impl_->path; }

const PlannedCounts& CohortFile::planned() const { return impl_->planned; }


void CohortFile::write_maps(const std::vector<SlideImages>& mine) {
  Impl& m = *impl_;
  // Every (slide, image) any rank writes, as slide * 3 + image, in one sorted list on every rank.
  const char* const images[] = {n::kMapPrediction, n::kMapThumbnail, n::kMapTissue};
  std::map<int64_t, const uint8_t*> data;
  std::vector<int64_t> codes;
  for (const SlideImages& s : mine) {
    const uint8_t* parts[] = {s.prediction, s.thumbnail_rgb, s.tissue};
    for (int64_t i = 0; i < 3; ++i)
      if (parts[i]) codes.push_back(s.slide * 3 + i), data[s.slide * 3 + i] = parts[i];
  }
  std::vector<int64_t> all = all_gather_concat(*m.comm, codes, "maps to write");
  std::sort(all.begin(), all.end());
  if (std::adjacent_find(all.begin(), all.end()) != all.end())
    throw std::logic_error("cohort file '" + m.path + "': two ranks write the maps of one slide");
  for (int64_t code : all) {
    const int64_t slide = code / 3;
    if (slide < 0 || static_cast<hsize_t>(slide) >= m.slides)
      throw std::out_of_range("cohort file '" + m.path + "': no slide " + std::to_string(slide));
    const std::string object = std::string(n::kMaps) + "/" + m.keys[slide] + "/" + images[code % 3];
    if (!h5::exists(m.file.id(), object))
      throw std::logic_error("cohort file '" + m.path + "': slide '" + m.keys[slide] + "' has no " + object);
    Handle dataset = h5::open_dataset(m.file.id(), object, m.path);
    const auto it = data.find(code);
    h5::write_all_or_nothing(dataset.id(), H5T_NATIVE_UINT8, it == data.end() ? nullptr : it->second,
                             m.collective.id(), m.at(object));
  }
}

void CohortFile::write_slide_status(int64_t slide, SlideStatus status, const std::string& error,
                                    const std::vector<float>& class_fractions) {
  Impl& m = *impl_;
  if (slide < 0 || static_cast<hsize_t>(slide) >= m.slides)
    throw std::out_of_range("cohort file '" + m.path + "': no slide " + std::to_string(slide));
  const auto row = static_cast<hsize_t>(slide);
  const hid_t x = m.independent.id();
  if (!class_fractions.empty()) {
    if (!m.fractions || class_fractions.size() != m.classes)
      throw std::invalid_argument("cohort file '" + m.path + "': " + std::to_string(class_fractions.size()) +
                                  " class fractions for " + std::to_string(m.classes) + " classes");
    h5::write_rows(m.fractions.id(), H5T_NATIVE_FLOAT, row, 1, class_fractions.data(), x,
                   m.at(n::kSlideClassFractions));
  }
  const size_t width = H5Tget_size(m.error_type.id());
  const std::vector<char> text = h5::pack_strings({h5::truncate_utf8(error, width - 1)}, width);
  h5::write_rows(m.error.id(), m.error_type.id(), row, 1, text.data(), x, m.at(n::kSlideError));
  const auto value = static_cast<int8_t>(status);
  h5::write_rows(m.status.id(), H5T_NATIVE_INT8, row, 1, &value, x, m.at(n::kSlideStatus));
}

void CohortFile::write_numeric_config(const std::string& json) {
  Impl& m = *impl_;
  if (json.size() >= n::kNumericConfigBytes)
    throw std::invalid_argument("cohort file '" + m.path + "': a numeric configuration of " +
                                std::to_string(json.size()) + " bytes does not fit " + n::kJobNumericConfig);
  Handle dataset = h5::open_dataset(m.file.id(), n::kJobNumericConfig, m.path);
  Handle type = h5::string_type(n::kNumericConfigBytes);
  const std::vector<char> text = h5::pack_strings({json}, n::kNumericConfigBytes);
  h5::write_all(dataset.id(), type.id(), text.data(), m.independent.id(), m.at(n::kJobNumericConfig));
}

void CohortFile::write_stats(const std::vector<RankStats>& per_rank) {
  Impl& m = *impl_;
  hsize_t rows = per_rank.size();
  if (rows > m.stats_rows) {
    spdlog::warn("cohort file {}: statistics of {} ranks, room for {}; the rest are dropped", m.path, rows,
                 m.stats_rows);
    rows = m.stats_rows;
  }
  std::vector<double> values;
  for (hsize_t i = 0; i < rows; ++i)
    for (const StatsColumn& column : kStatsColumns) values.push_back(per_rank[i].*column.field);
  h5::write_rows(m.stats.id(), H5T_NATIVE_DOUBLE, 0, rows, values.data(), m.independent.id(), m.at(n::kStats));
}

void CohortFile::write_end_state(EndState state) {
  const auto value = static_cast<int8_t>(state);
  h5::write_all(impl_->state.id(), H5T_NATIVE_INT8, &value, impl_->independent.id(), impl_->at(n::kEndState));
}

namespace h5 {

std::vector<Range> normalise(std::vector<Range> ranges, hsize_t limit, const std::string& path, const char* what) {
  ranges.erase(std::remove_if(ranges.begin(), ranges.end(), [](const Range& r) { return r.count == 0; }),
               ranges.end());
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.first < b.first; });
  std::vector<Range> out;
  for (const Range& r : ranges) {
    if (r.first + r.count > limit)
      throw std::out_of_range("cohort file '" + path + "': " + what + " [" + std::to_string(r.first) + ", " +
                              std::to_string(r.first + r.count) + ") past the end (" + std::to_string(limit) + ")");
    if (!out.empty() && r.first < out.back().first + out.back().count)
      throw std::invalid_argument("cohort file '" + path + "': overlapping " + what);
    if (!out.empty() && r.first == out.back().first + out.back().count)
      out.back().count += r.count;
    else
      out.push_back(r);
  }
  return out;
}

// Collective write of `ranges` (whole rows of `columns` values) from a packed buffer; a rank
// with no ranges selects none but still calls H5Dwrite.
void write_ranges(hid_t dataset, hid_t mem_type, const std::vector<Range>& ranges, hsize_t columns,
                  const void* data, hid_t dxpl, const Where& where) {
  Handle file_space = h5::make(H5Dget_space(dataset), where, "getting a dataspace");
  // A zero-sized dataset (a job with no tiles) has no storage address, and a collective write
  // into it fails even with nothing selected: every rank knows the size, so every rank skips.
  if (H5Sget_simple_extent_npoints(file_space.id()) == 0) return;
  hsize_t total = 0;
  if (ranges.empty()) h5::check(H5Sselect_none(file_space.id()), where, "selecting nothing");
  for (const Range& r : ranges) {
    const hsize_t start[2] = {r.first, 0}, count[2] = {r.count, columns};
    const H5S_seloper_t op = total == 0 ? H5S_SELECT_SET : H5S_SELECT_OR;
    h5::check(H5Sselect_hyperslab(file_space.id(), op, start, nullptr, count, nullptr), where, "selecting rows");
    total += r.count;
  }
  Handle mem_space = h5::simple_space({std::max<hsize_t>(total * columns, 1)});
  if (total == 0) h5::check(H5Sselect_none(mem_space.id()), where, "selecting nothing");
  static const char dummy[8] = {};
  h5::check(H5Dwrite(dataset, mem_type, mem_space.id(), file_space.id(), dxpl, data ? data : dummy), where,
            "writing (collective)");
  if (total > 0 && !h5::was_collective(dxpl))
    spdlog::debug("cohort file {}: {} was written independently", where.file, where.object);
}

}  // namespace h5
}  // namespace wsi
