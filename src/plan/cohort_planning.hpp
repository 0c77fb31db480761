// Private to src/plan/: where a rank keeps what planning saw of its slides (the tissue mask and
// thumbnail) until the cohort file takes them (CohortPlanner, wsi/plan/job_plan.hpp).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "util/worker_pool.hpp"
#include "wsi/comm/comm.hpp"
#include "wsi/job/job.hpp"
#include "wsi/job/manifest.hpp"
#include "wsi/plan/slide_plan.hpp"

namespace wsi {

// Planning keeps each slide's mask and thumbnail here (node-local, $TMPDIR) until the file
// takes them: memory stays flat in the look-ahead. PNG level 1: fast, and masks shrink ~100x.
// The folder is mkdtemp's (a fresh name, mode 0700): nobody else can have put anything in it.
class PlanScratch {
 public:
  explicit PlanScratch(int rank);
  ~PlanScratch();
  PlanScratch(const PlanScratch&) = delete;
  PlanScratch& operator=(const PlanScratch&) = delete;

  void put(size_t slide, const PlannedImages& images) const;  // thread-safe: one file per slide
  // The slide's images, removed from the scratch; the thumbnail only when `thumbnail`.
  PlannedImages take(size_t slide, bool thumbnail) const;

 private:
  std::string name(size_t slide, const char* what) const;
  std::filesystem::path dir_;
};

// Collective, before the file is made or grows: a rank whose file-size limit (ulimit -f) is below
// `bytes` would fail in the middle of a collective write, where HDF5 1.10 cannot tell the other
// ranks; so every rank stops here, with a message naming the limit to raise.
void check_file_size_limit(const std::string& output, uint64_t bytes, const Comm& comm);

}  // namespace wsi
