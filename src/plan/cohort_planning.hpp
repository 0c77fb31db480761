// Private to src/plan/: the cohort planned over the ranks (see wsi/plan/job_plan.hpp). Each rank
// plans slides rank, rank + size, ... on its CPU workers and keeps what planning saw of them (the
// tissue mask and thumbnail) in a PlanScratch until the cohort file takes them.
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
// exists: memory stays flat in the number of slides. PNG level 1: fast, and masks shrink ~100x.
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

// Collective: every slide's plan, in manifest order with its tiles numbered, on every rank. The
// slides this rank planned leave their images in `scratch`. Duplicate slide ids fail.
std::vector<SlidePlan> plan_cohort(const Job& job, const std::vector<ManifestEntry>& manifest, const Comm& comm,
                                   WorkerPool& pool, const PlanScratch& scratch);

}  // namespace wsi
