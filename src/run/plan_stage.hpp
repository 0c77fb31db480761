// Data-flow steps 1 and 2: plan the cohort on every rank's CPU workers and create the cohort
// file with what planning saw (tissue masks, thumbnails), or take the plan of an existing file.
// Private to src/run/.
#pragma once
#include <string>
#include <vector>

#include "run/run_state.hpp"
#include "util/worker_pool.hpp"
#include "wsi/job/manifest.hpp"
#include "wsi/model/model.hpp"

namespace wsi::run {

// The job's fingerprint with the SHA-256 of its manifest, model and weights files.
std::string job_fingerprint(const Job& job);

// A new file (collective): slide i is planned by rank i mod size on `pool`, its tissue mask and
// thumbnail kept in local scratch; the plans are gathered, the file created with every slide's
// mask and thumbnail and the job's numeric configuration (JSON; "" for `wsi-mpi plan`) written
// before it is renamed into place. The returned plans hold no tiles (the file has them). Adds
// this rank's planning seconds to `stats`.
JobState plan_and_create(const Job& job, const ModelDescription& model, const std::vector<ManifestEntry>& manifest,
                         const std::string& fingerprint, const std::string& numeric_config, const Comm& comm,
                         WorkerPool& pool, RankStats& stats);

// An existing file of the same job: its plan, done flags and statistics; no slide is opened.
// Throws JobRefused when the file holds another job or cannot be resumed.
JobState resume_state(const Job& job, const std::vector<ManifestEntry>& manifest, const std::string& fingerprint);

}  // namespace wsi::run
