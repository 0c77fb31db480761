// Planning, data-flow steps 1 and 2: what a job's slides are made of, before any tile is read.
// src/plan/ is planning's one home, in three parts that follow the data:
// - one slide (wsi/plan/slide_plan.hpp): its metadata, tissue mask and filtered tile grid;
// - the cohort over ranks (src/plan/cohort_planning.*): each rank plans its share of the slides
//   on its CPU workers, keeps their masks and thumbnails in local scratch, and the plans are
//   gathered in manifest order;
// - the cohort file (this header): created from the gathered plans, or an existing file's plan
//   taken back for a resume. Creating the file is kept apart from planning the slides, so that
//   the file can later grow as slides are planned.
// What comes out is a JobState, which the stages of src/run/ carry on from.
#pragma once
#include <cstdint>
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
  std::vector<SlidePlan> plans;  // rows and map shapes; tiles are read from the file per unit
  std::vector<WorkUnit> units;
  std::vector<uint8_t> done;
  std::vector<RankStats> previous_stats;
  int64_t classes = 0;
  bool resumed = false;
  std::string numeric_config;  // the file's /job/numeric_config: "" until a run decided it
};

// The job's fingerprint with the SHA-256 of its manifest, model and weights files.
std::string job_fingerprint(const Job& job);

// A new file (collective): the cohort planned over the ranks on `pool`, the file created with
// every slide's mask and thumbnail and the job's numeric configuration (JSON; "" for `wsi-mpi
// plan`) written before it is renamed into place. The returned plans hold no tiles (the file
// has them). Adds this rank's planning seconds to `stats`.
JobState plan_and_create(const Job& job, const ModelDescription& model, const std::vector<ManifestEntry>& manifest,
                         const std::string& fingerprint, const std::string& numeric_config, const Comm& comm,
                         WorkerPool& pool, RankStats& stats);

// An existing file of the same job: its plan, done flags and statistics; no slide is opened.
// Throws JobRefused when the file holds another job or cannot be resumed.
JobState resume_state(const Job& job, const std::vector<ManifestEntry>& manifest, const std::string& fingerprint);

}  // namespace wsi
