// Private to src/cohort/: a CohortFile's state on a rank and the row-range writes shared by
// its writer (h5_cohort_write.cpp) and its growth (h5_cohort_grow.cpp). Thread-safety: none.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "cohort/h5_handle.hpp"
#include "cohort/h5_parallel.hpp"
#include "wsi/cohort/cohort_file.hpp"

namespace wsi {

struct CohortFile::Impl {
  std::string path;
  std::optional<Comm> comm;
  h5::ParallelFileOpen parallel;  // counted until everything below is closed
  h5::Handle file;  // declared first: closed last
  h5::Handle collective, independent;
  h5::Handle status, error, error_type, fractions, probabilities, features, done, unit_rank, state, stats, bounds;
  h5::Handle tile_slide, units_table, planned_counts;
  std::vector<std::string> keys;
  PlannedCounts planned;
  // slides: of the manifest; tiles, units: planned (rows past them are not the file's yet)
  hsize_t slides = 0, tiles = 0, units = 0, stats_rows = 0, classes = 0, feature_size = 0;
  bool features_float16 = false;

  h5::Where at(const std::string& object) const { return {path, object}; }
  void close_all() {
    for (h5::Handle* h : {&status, &error, &error_type, &fractions, &probabilities, &features, &done, &unit_rank, &state,
                      &stats, &bounds, &tile_slide, &units_table, &planned_counts, &collective, &independent})
      h->reset();
  }
};

namespace h5 {

struct Range {
  hsize_t first, count;
};

// Sorted, non-overlapping row ranges; adjacent ones merged. Throws for a range past `limit` or
// overlapping another (naming `what`).
std::vector<Range> normalise(std::vector<Range> ranges, hsize_t limit, const std::string& path, const char* what);
// Collective write of `ranges` (whole rows of `columns` values) from a packed buffer; a rank
// with no ranges selects none but still calls H5Dwrite.
void write_ranges(hid_t dataset, hid_t mem_type, const std::vector<Range>& ranges, hsize_t columns, const void* data,
                  hid_t dxpl, const Where& where);

}  // namespace h5
}  // namespace wsi
