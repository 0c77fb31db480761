// CohortFile::append_slides: the file grows by the slides planned since it last grew
// (docs/cohort-file.md "How it is written", step 2).
#include <algorithm>
#include <stdexcept>

#include "cohort/h5_cohort_impl.hpp"
#include "cohort/h5_layout.hpp"
#include "wsi/cohort/cohort_file.hpp"

namespace wsi {

using h5::Handle;
using h5::Range;
namespace n = h5::names;

namespace {

// The same on every rank, so every rank throws alike before any collective call.
PlannedCounts check_append(const PlannedSlides& a, const PlannedCounts& before, hsize_t slides, const std::string& path) {
  const auto fail = [&](const std::string& what) {
    throw std::logic_error("cohort file '" + path + "': slides appended out of order: " + what);
  };
  const auto count = static_cast<int64_t>(a.rows.size());
  if (a.first != before.slides || a.maps.size() != a.rows.size() || before.slides + count > static_cast<int64_t>(slides))
    fail("slides " + std::to_string(a.first) + " + " + std::to_string(count) + " after " +
         std::to_string(before.slides) + " planned");
  PlannedCounts after{before.slides + count, before.tiles, before.units + static_cast<int64_t>(a.units.size())};
  for (const SlideRow& row : a.rows) {
    if (row.tile_start != after.tiles || row.tile_count < 0) fail("slide '" + row.id + "' does not continue the tiles");
    after.tiles += row.tile_count;
  }
  for (const WorkUnit& unit : a.units) {
    if (unit.slide < a.first || unit.slide >= after.slides) fail("a unit of another slide");
    const SlideRow& row = a.rows[static_cast<size_t>(unit.slide - a.first)];
    if (unit.tile_count < 0 || unit.first_tile < row.tile_start ||
        unit.first_tile + unit.tile_count > row.tile_start + row.tile_count)
      fail("a unit outside its slide's tiles");
  }
  return after;
}

}  // namespace

void CohortFile::append_slides(const PlannedSlides& a, const std::function<void(CohortFile&)>& fill,
                               const std::function<void()>& before_record) {
  Impl& m = *impl_;
  const PlannedCounts before = m.planned;
  const PlannedCounts after = check_append(a, before, m.slides, m.path);
  std::vector<Range> tile_ranges;
  std::vector<int32_t> tile_slide;
  std::vector<int32_t> bounds;
  for (const TileTable& t : a.tiles) {
    if (t.first < before.tiles || t.slide.size() != t.bounds.size())
      throw std::logic_error("cohort file '" + m.path + "': tile rows outside the slides appended");
    tile_ranges.push_back({static_cast<hsize_t>(t.first), t.slide.size()});
  }
  const std::vector<Range> tiles_merged = h5::normalise(tile_ranges, after.tiles, m.path, "tile rows");
  std::vector<const TileTable*> sorted;
  for (const TileTable& t : a.tiles) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto* x, auto* y) { return x->first < y->first; });
  for (const TileTable* t : sorted) {
    tile_slide.insert(tile_slide.end(), t->slide.begin(), t->slide.end());
    for (const TileBounds& b : t->bounds) bounds.insert(bounds.end(), {b.x0, b.y0, b.x1, b.y1});
  }
  // Every table grows first (collective), then the slides' maps are made.
  for (Handle* table : {&m.tile_slide, &m.bounds, &m.probabilities, &m.features})
    if (*table) h5::grow_rows(table->id(), after.tiles, m.at("/tiles"));
  for (Handle* table : {&m.units_table, &m.done, &m.unit_rank}) h5::grow_rows(table->id(), after.units, m.at("/progress"));
  for (size_t i = 0; i < a.rows.size(); ++i)
    if (has_maps(a.maps[i])) h5::create_slide_maps(m.file.id(), m.keys.at(a.first + i), a.maps[i], m.path);
  const hid_t x = m.collective.id();
  h5::write_ranges(m.tile_slide.id(), H5T_NATIVE_INT32, tiles_merged, 1, tile_slide.data(), x, m.at(n::kTileSlide));
  h5::write_ranges(m.bounds.id(), H5T_NATIVE_INT32, tiles_merged, 4, bounds.data(), x, m.at(n::kTileBounds));
  // Rank 0 writes the units (collectively: the others select nothing) and the slide rows.
  std::vector<Range> unit_range;
  if (m.comm->rank() == 0 && !a.units.empty())
    unit_range.push_back({static_cast<hsize_t>(before.units), a.units.size()});
  std::vector<int64_t> units;
  for (const WorkUnit& u : a.units) units.insert(units.end(), {u.slide, u.first_tile, u.tile_count});
  const std::vector<uint8_t> not_done(a.units.size(), 0);
  const std::vector<int32_t> no_rank(a.units.size(), -1);
  h5::write_ranges(m.units_table.id(), H5T_NATIVE_INT64, unit_range, 3, units.data(), x, m.at(n::kUnits));
  h5::write_ranges(m.done.id(), H5T_NATIVE_UINT8, unit_range, 1, not_done.data(), x, m.at(n::kDone));
  h5::write_ranges(m.unit_rank.id(), H5T_NATIVE_INT32, unit_range, 1, no_rank.data(), x, m.at(n::kUnitRank));
  if (m.comm->rank() == 0) h5::write_slide_rows(m.file.id(), a.rows, static_cast<hsize_t>(a.first), m.independent.id(), m.path);
  m.tiles = static_cast<hsize_t>(after.tiles), m.units = static_cast<hsize_t>(after.units);
  if (fill) fill(*this);
  flush();
  if (before_record) before_record();
  // Only now, with everything above on disk, are the slides the file's.
  if (m.comm->rank() == 0) {
    const int64_t counts[3] = {after.slides, after.tiles, after.units};
    h5::write_all(m.planned_counts.id(), H5T_NATIVE_INT64, counts, m.independent.id(), m.at(n::kPlanned));
  }
  flush();
  m.planned = after;
}

}  // namespace wsi
