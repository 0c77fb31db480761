// Data-flow step 0, before the first tile: the job's numeric configuration (NumericConfig),
// decided once, recorded in the cohort file and run by every rank. Private to src/run/.
#pragma once
#include <string>

#include "run/run_state.hpp"
#include "wsi/model/model.hpp"
#include "wsi/model/tuning_cache.hpp"

namespace wsi::run {

// Collective. `recorded` is the file's /job/numeric_config on a resume ("" for a new file or one
// planned without a run). The recorded configuration wins; without one rank 0 decides: by the
// rule, or with --autotune from the tuning cache or by measuring (and then stores it there), while
// the other ranks wait without spinning. Every rank then runs it on `model`; a rank that cannot
// (another CPU instruction-set class) makes every rank throw JobStopped with its reason.
NumericConfig agree_numeric_config(const Job& job, Model& model, const std::string& recorded,
                                   const std::string& fingerprint, const ThreadPlan& threads, const Comm& comm);

// The tuning cache key of this job's model on this rank.
TuningKey tuning_key(const Job& job, const Model& model, const std::string& fingerprint, int threads);

}  // namespace wsi::run
