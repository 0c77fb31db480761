// Planning, data-flow steps 1 and 2: what a job's slides are made of. src/plan/ is planning's one
// home, in three parts that follow the data:
// - one slide (wsi/plan/slide_plan.hpp): its metadata, tissue mask and filtered tile grid;
// - the cohort over ranks (CohortPlanner below, src/plan/cohort_planning.*): each rank plans its
//   share of the slides on its CPU workers beside inference, a bounded number ahead of the file,
//   and at each checkpoint epoch the ranks append the slides that continue the file's planned
//   prefix, in manifest order;
// - the cohort file (this header): created with every slide's row and nothing planned, or an
//   existing file's plan taken back for a resume.
// What comes out is a JobState, which the stages of src/run/ carry on from.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "wsi/cohort/cohort_file.hpp"
#include "wsi/comm/comm.hpp"
#include "wsi/job/job.hpp"
#include "wsi/job/manifest.hpp"
#include "wsi/model/model.hpp"
#include "wsi/plan/slide_plan.hpp"

namespace wsi {

class WorkerPool;  // src/util/worker_pool.hpp: the rank's CPU workers

// A job as planned, and how far earlier runs took it. Inference and checkpoints advance the done
// flags (docs/design.md "Data flow").
struct JobState {
  std::vector<SlidePlan> plans;  // every slide's row and map shape; tiles are read from the file per unit
  int64_t planned_slides = 0;    // plans [0, planned_slides) are planned; the rest hold id, key and path
  std::vector<WorkUnit> units;   // of the planned slides
  std::vector<uint8_t> done;
  int64_t tiles_done_at_start = 0;  // by earlier runs
  std::vector<RankStats> previous_stats;
  int64_t classes = 0;
  int64_t tile_feature_bytes = 0;  // bytes of one tile's features in the file
  bool resumed = false;
  std::string numeric_config;  // the file's /job/numeric_config: "" until a run decided it
};

// The job's fingerprint with the SHA-256 of its manifest, model and weights files.
std::string job_fingerprint(const Job& job);

// A new file (collective): the job, with the numeric configuration (JSON; "" for `wsi-mpi plan`),
// and every slide's row, nothing planned yet; refused when a rank may not write a file that large.
JobState create_cohort_file(const Job& job, const ModelDescription& model, const std::vector<ManifestEntry>& manifest,
                            const std::string& fingerprint, const std::string& numeric_config, const Comm& comm);

// This rank's share of the slides not planned yet (slides rank, rank + size, ... from the
// state's planned ones), planned on the CPU workers at most kLookAhead slides ahead of what the
// file holds, so that memory and scratch stay bounded however large the cohort. Thread-safety:
// one thread (the rank's main thread) calls it.
class CohortPlanner {
 public:
  CohortPlanner(const Job& job, const std::vector<ManifestEntry>& manifest, const JobState& state, const Comm& comm,
                WorkerPool& pool);
  ~CohortPlanner();  // waits for the plans in flight
  CohortPlanner(const CohortPlanner&) = delete;
  CohortPlanner& operator=(const CohortPlanner&) = delete;

  // Every slide is planned and in the file (the same on every rank after each append).
  bool finished() const;
  // A plan finished here since the last append (one the file can take, unless it waits for a
  // slide before it). Non-blocking.
  bool has_ready();
  // Every plan this rank may hold ahead of the file is finished and waiting for an append: its
  // workers plan nothing more until then. Non-blocking.
  bool full();
  // Blocks until every plan this rank has in flight is finished.
  void wait_all();
  // Collective: appends to `file` the slides planned on any rank that continue its planned
  // prefix, with their masks and thumbnails, and adds them to `state` (plans, units, not done).
  // Returns the indices of the new units. `before_record`: see CohortFile::append_slides.
  std::vector<int64_t> append_ready(CohortFile& file, JobState& state, const std::function<void()>& before_record = {});
  // Seconds this rank's workers spent planning so far.
  double seconds() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// An existing file of the same job: its plan, done flags and statistics; no slide is opened.
// Throws JobRefused when the file holds another job or cannot be resumed.
JobState resume_state(const Job& job, const std::vector<ManifestEntry>& manifest, const std::string& fingerprint);

}  // namespace wsi
