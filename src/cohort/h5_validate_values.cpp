// The cohort file's validation layer (h5_validate.hpp), values: the root attributes and every
// index, count and size the readers trust.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>

#include "cohort/h5_layout.hpp"
#include "cohort/h5_validate.hpp"

namespace wsi::h5 {
namespace {

namespace n = names;
constexpr double kMinScale = 1.0 / (1 << 20);

// The attribute `name` of `object`, opened when it is a scalar of class `type_class`; else
// refused. An empty handle when there is none.
Handle scalar_attribute(hid_t object, const char* name, H5T_class_t type_class, const char* what, const Where& where) {
  if (H5Aexists(object, name) <= 0) return {};
  Handle attribute = make(H5Aopen(object, name, H5P_DEFAULT), where, "opening an attribute");
  Handle type = make(H5Aget_type(attribute.id()), where, "getting an attribute type");
  Handle space = make(H5Aget_space(attribute.id()), where, "getting an attribute dataspace");
  const bool fits = type_class == H5T_STRING ? H5Tis_variable_str(type.id()) > 0 || H5Tget_size(type.id()) <= kMaxStringBytes
                                             : H5Tget_size(type.id()) <= 8;
  if (H5Tget_class(type.id()) != type_class || !fits || H5Sget_simple_extent_type(space.id()) != H5S_SCALAR)
    throw CohortFileRefused(where.file, "attribute '" + std::string(name) + "' of " + where.object + " is not " + what);
  return attribute;
}

}  // namespace

std::string read_string_attribute(hid_t object, const char* name, const Where& where) {
  Handle attribute = scalar_attribute(object, name, H5T_STRING, "a scalar string", where);
  if (!attribute) return {};
  Handle type = make(H5Aget_type(attribute.id()), where, "getting an attribute type");
  if (H5Tis_variable_str(type.id()) > 0) {
    char* text = nullptr;
    Handle mem = make(H5Tcopy(H5T_C_S1), where, "copying the string type");
    check(H5Tset_size(mem.id(), H5T_VARIABLE), where, "sizing a string type");
    check(H5Tset_cset(mem.id(), H5Tget_cset(type.id())), where, "setting string encoding");
    check(H5Aread(attribute.id(), mem.id(), &text), where, "reading an attribute");
    std::string value = text ? std::string(text, strnlen(text, kMaxStringBytes)) : "";
    H5free_memory(text);
    return value;
  }
  const size_t size = H5Tget_size(type.id());
  std::vector<char> data(size, '\0');
  check(H5Aread(attribute.id(), type.id(), data.data()), where, "reading an attribute");
  return std::string(data.data(), strnlen(data.data(), size));
}

int read_int_attribute(hid_t object, const char* name, const Where& where) {
  Handle attribute = scalar_attribute(object, name, H5T_INTEGER, "a scalar integer", where);
  if (!attribute) return 0;
  int64_t value = 0;
  check(H5Aread(attribute.id(), H5T_NATIVE_INT64, &value), where, "reading an attribute");
  return static_cast<int>(std::clamp<int64_t>(value, INT_MIN, INT_MAX));
}

void check_format(hid_t file, const std::string& path) {
  const Where root{path, "/"};
  const std::string format = read_string_attribute(file, n::kAttrFormat, root);
  if (format != kCohortFormat)
    throw std::invalid_argument("'" + path + "' is not a wsi-mpi cohort file (format attribute '" + format +
                                "', expected '" + kCohortFormat + "')");
  const int version = read_int_attribute(file, n::kAttrFormatVersion, root);
  if (version != kCohortFormatVersion)
    throw std::invalid_argument("'" + path + "' is cohort format version " + std::to_string(version) +
                                "; this wsi-mpi reads version " + std::to_string(kCohortFormatVersion));
}

PlannedCounts planned_counts(const CheckedFile& file) {
  const auto values = file.all<int64_t>(n::kPlanned, H5T_NATIVE_INT64);
  const PlannedCounts planned{values.at(0), values.at(1), values.at(2)};
  const Counts& c = file.counts();
  if (planned.slides < 0 || planned.tiles < 0 || planned.units < 0 || uint64_t(planned.slides) > c.slides ||
      uint64_t(planned.tiles) > c.tiles || uint64_t(planned.units) > c.units)
    file.refuse(std::string(n::kPlanned) + " says " + std::to_string(planned.slides) + " slides, " +
                std::to_string(planned.tiles) + " tiles and " + std::to_string(planned.units) +
                " units are planned, more than the file holds (" + std::to_string(c.slides) + ", " +
                std::to_string(c.tiles) + ", " + std::to_string(c.units) + ")");
  return planned;
}

void keep_planned(const PlannedCounts& planned, CohortSummary& s) {
  const auto units = static_cast<size_t>(planned.units);
  s.units.resize(std::min(s.units.size(), units));
  s.done.resize(std::min(s.done.size(), units));
  s.unit_rank.resize(std::min(s.unit_rank.size(), units));
  s.planned_slides = planned.slides;
  s.tile_count = planned.tiles;
  for (size_t i = static_cast<size_t>(planned.slides); i < s.slides.size(); ++i) {
    SlideRow& row = s.slides[i];
    SlideRow unplanned;
    unplanned.id = row.id, unplanned.key = row.key, unplanned.path = row.path;
    unplanned.tile_start = planned.tiles;
    row = std::move(unplanned);
    if (i < s.maps.size()) s.maps[i] = MapShape{};
  }
}

// long: one check after another, each with its own message
void check_consistent(const CheckedFile& file, const CohortSummary& s) {
  const auto S = static_cast<int64_t>(s.slides.size()), N = s.tile_count;
  const auto in = [](auto value, auto low, auto high) { return value >= low && value <= high; };
  int64_t next_tile = 0;  // the planned slides' tiles follow each other in slide order
  for (const SlideRow& row : s.slides) {
    const std::string slide = "slide '" + row.id + "'";
    if (&row - s.slides.data() < s.planned_slides) {
      if (row.tile_start != next_tile)
        file.refuse(slide + " starts at tile " + std::to_string(row.tile_start) + ", not " + std::to_string(next_tile) +
                    " where the slide before it ends");
      if (row.tile_count >= 0 && row.tile_count <= N - next_tile) next_tile += row.tile_count;
    }
    if (!in(static_cast<int>(row.status), 0, 2))
      file.refuse(slide + " has status " + std::to_string(static_cast<int>(row.status)));
    if (row.tile_start < 0 || row.tile_count < 0 || row.tile_start > N || row.tile_count > N - row.tile_start)
      file.refuse(slide + " has tiles [" + std::to_string(row.tile_start) + ", +" + std::to_string(row.tile_count) +
                  ") outside the " + std::to_string(N) + " rows of /tiles");
    if (row.tile_count == 0) continue;  // failed in planning: nothing below is used
    // Sizes become pixel counts and int coordinates (maps, pictures): 1..INT_MAX, scale > 0.
    for (const auto& [value, name] : std::initializer_list<std::pair<int64_t, const char*>>{
             {row.width, n::kSlideWidth}, {row.height, n::kSlideHeight},
             {row.resolution_width, n::kSlideResolutionWidth}, {row.resolution_height, n::kSlideResolutionHeight}})
      if (!in(value, int64_t{1}, int64_t{INT_MAX}))
        file.refuse(slide + " has tiles and " + name + " " + std::to_string(value) + ", outside 1.." +
                    std::to_string(INT_MAX));
    // Level-0 coordinates are tile bounds (int32) times the scale: kept well inside int64.
    if (!(row.scale >= kMinScale && row.scale <= 1 / kMinScale && std::isfinite(row.mpp) &&
          std::isfinite(row.objective_power)))
      file.refuse(slide + " has tiles and a scale outside 2^-20..2^20, or an mpp or objective power that is not finite");
  }
  if (next_tile != N)
    file.refuse("the planned slides hold " + std::to_string(next_tile) + " tiles, " + std::string(n::kPlanned) +
                " says " + std::to_string(N));
  // The resume merges a map one row of C float sums at a time: each row must fit one read.
  const uint64_t classes = s.has_probabilities ? s.class_names.size() : 0;
  for (size_t i = 0; i < s.maps.size(); ++i)
    if (uint64_t(s.maps[i].width) * classes * sizeof(float) > max_read_bytes())
      file.refuse("the prediction map of slide '" + s.slides[i].id + "' is too wide for " + std::to_string(classes) +
                  " classes on this machine (a row of sums over an eighth of its memory)");
  for (size_t u = 0; u < s.units.size(); ++u) {
    const WorkUnit& unit = s.units[u];
    if (unit.slide < 0 || unit.slide >= std::min(S, s.planned_slides))
      file.refuse("unit " + std::to_string(u) + " names slide " + std::to_string(unit.slide) + " of the " +
                  std::to_string(s.planned_slides) + " planned");
    const SlideRow& row = s.slides[unit.slide];
    if (unit.tile_count < 0 || unit.first_tile < row.tile_start || unit.first_tile > row.tile_start + row.tile_count ||
        unit.tile_count > row.tile_start + row.tile_count - unit.first_tile)
      file.refuse("unit " + std::to_string(u) + " lies outside the tiles of its slide");
  }
  if (!in(static_cast<int>(s.end_state), 0, 2))
    file.refuse(std::string(n::kEndState) + " is " + std::to_string(static_cast<int>(s.end_state)));
}

}  // namespace wsi::h5
