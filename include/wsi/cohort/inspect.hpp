// `wsi-mpi inspect`: what a cohort file says about its job, per slide and in total, as text for
// people and as one JSON object for scripts. Built from a CohortSummary (read_cohort_summary);
// no HDF5 here.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "wsi/cohort/cohort_file.hpp"

namespace wsi {

struct ClassShare {
  std::string name;
  double fraction = 0;
};

struct SlideInspection {
  std::string id, key;
  std::string status;  // "pending", "done", "failed"
  std::string error;   // empty unless failed
  int64_t tile_count = 0;
  int64_t units_done = 0, units_total = 0;
  std::vector<ClassShare> top_classes;  // done slides only: largest fractions first, zeros left out
};

struct CohortInspection {
  std::string path;
  int format_version = 0;
  std::string software_version;
  // From /job/config ("unknown" where the JSON lacks them).
  std::string mode, model, resolution;  // resolution as "0.5 mpp"
  std::vector<std::string> class_names;
  // /job/numeric_config: one line (describe()), or why there is none; its JSON ("" when none).
  std::string numerics, numerics_json;
  std::string end_state;  // "running" (running, or stopped before finishing), "complete", "incomplete"
  std::vector<SlideInspection> slides;
  int64_t slides_done = 0, slides_failed = 0, slides_pending = 0;
  int64_t slides_planned = 0;  // the file grows as slides are planned (/progress/planned)
  int64_t units_done = 0, units_total = 0;
  int64_t tiles_done = 0;   // sum of tile_count over done units
  int64_t tiles_total = 0;  // tiles of the planned slides
  bool resumable = false;   // end state not complete, and some units not done or some slides not planned
  int ranks = 0;                // rows of /stats/ranks
  double seconds_total = 0;     // longest rank's total seconds (0 until the run finalised)
};

// top_classes: how many classes to list per done slide.
CohortInspection inspect_cohort(const CohortSummary& summary, const std::string& path, size_t top_classes = 3);
std::string inspection_text(const CohortInspection& inspection);
std::string inspection_json(const CohortInspection& inspection);  // one object, no trailing newline

}  // namespace wsi
