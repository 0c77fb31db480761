// The cohort file created with nothing planned, or an existing file's plan taken back; see
// wsi/plan/job_plan.hpp.
#include "wsi/plan/job_plan.hpp"

#include <chrono>
#include <filesystem>
#include <map>

#include <spdlog/spdlog.h>

#include "plan/cohort_planning.hpp"
#include "util/process_clock.hpp"
#include "util/sha256.hpp"
#include "wsi/schedule/failure.hpp"

namespace wsi {
namespace {

namespace fs = std::filesystem;

CohortPlan make_cohort_plan(const Job& job, const ModelDescription& model, const std::vector<ManifestEntry>& manifest,
                            const std::string& fingerprint, const Comm& comm) {
  CohortPlan cohort;
  cohort.job_json = to_json(job);
  cohort.fingerprint = fingerprint;
  cohort.class_names = job.wants_probabilities() ? model.class_names : std::vector<std::string>{};
  cohort.probabilities = job.wants_probabilities();
  cohort.feature_size = job.wants_features() ? model.feature_size : 0;
  cohort.features_float16 = job.features_float16;
  for (const ManifestEntry& entry : manifest) {
    SlideRow& row = cohort.slides.emplace_back();
    row.id = entry.id, row.key = entry.key, row.path = entry.path;
  }
  cohort.stats_ranks = comm.size();
  return cohort;
}

// "key=value" lines that differ between two fingerprints, for a refused resume.
std::string fingerprint_difference(const std::string& stored, const std::string& current) {
  const auto lines = [](const std::string& text) {
    std::map<std::string, std::string> values;
    size_t start = 0;
    for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
      const std::string line = text.substr(start, end - start);
      const auto eq = line.find('=');
      values[line.substr(0, eq)] = eq == std::string::npos ? "" : line.substr(eq + 1);
    }
    return values;
  };
  const auto a = lines(stored), b = lines(current);
  std::string diff;
  for (const auto& [key, value] : b) {
    const auto it = a.find(key);
    const std::string old = it == a.end() ? "(none)" : it->second;
    if (old != value) diff += (diff.empty() ? "" : "; ") + key + ": " + old + " -> " + value;
  }
  for (const auto& [key, value] : a)
    if (!b.count(key)) diff += (diff.empty() ? "" : "; ") + key + ": " + value + " -> (none)";
  return diff;
}

}  // namespace

std::string job_fingerprint(const Job& job) {
  std::vector<std::string> hashes;
  if (fs::path(job.slides).extension() == ".csv")
    hashes.push_back("manifest_sha256=" + sha256_file_hex(job.slides));
  else
    hashes.push_back("slide=" + fs::absolute(job.slides).lexically_normal().string());
  if (fs::is_regular_file(job.model.model)) hashes.push_back("model_sha256=" + sha256_file_hex(job.model.model));
  if (!job.model.weights.empty()) hashes.push_back("weights_sha256=" + sha256_file_hex(job.model.weights));
  return fingerprint(job, hashes);
}

JobState create_cohort_file(const Job& job, const ModelDescription& model, const std::vector<ManifestEntry>& manifest,
                            const std::string& fingerprint, const std::string& numeric_config, const Comm& comm) {
  CohortPlan cohort = make_cohort_plan(job, model, manifest, fingerprint, comm);
  cohort.numeric_config = numeric_config;
  check_file_size_limit(job.output, cohort_file_bytes_bound(cohort), comm);
  CohortFile::create(job.output, cohort, comm);
  JobState state;
  for (size_t s = 0; s < manifest.size(); ++s) {
    SlidePlan& plan = state.plans.emplace_back();
    plan.row = cohort.slides[s];
    plan.mask_path = manifest[s].mask;
  }
  state.classes = static_cast<int64_t>(cohort.class_names.size());
  state.tile_feature_bytes = cohort.feature_size * (cohort.features_float16 ? 2 : 4);
  state.numeric_config = numeric_config;
  return state;
}

JobState resume_state(const Job& job, const std::vector<ManifestEntry>& manifest, const std::string& fingerprint) {
  CohortSummary summary;
  try {
    summary = read_cohort_summary(job.output);
  } catch (const std::exception& e) {
    throw JobRefused(job.output + " exists but cannot be resumed (" + e.what() + "): give --overwrite to replace it");
  }
  if (summary.fingerprint != fingerprint)
    throw JobRefused(job.output + " holds a different job (" + fingerprint_difference(summary.fingerprint, fingerprint) +
                     "): give --overwrite to replace it");
  if (summary.slides.size() != manifest.size())
    throw JobRefused(job.output + " was planned for " + std::to_string(summary.slides.size()) + " slides, not " +
                     std::to_string(manifest.size()));
  JobState state;
  state.resumed = true;
  state.units = summary.units;
  state.done = summary.done;
  state.previous_stats = summary.stats;
  state.classes = static_cast<int64_t>(summary.class_names.size());
  state.tile_feature_bytes = summary.feature_size * (summary.features_float16 ? 2 : 4);
  state.numeric_config = summary.numeric_config;
  state.planned_slides = summary.planned_slides;
  for (size_t u = 0; u < state.units.size(); ++u)
    if (state.done[u]) state.tiles_done_at_start += state.units[u].tile_count;
  for (size_t s = 0; s < summary.slides.size(); ++s) {
    SlidePlan plan;
    plan.row = summary.slides[s];
    plan.mask_path = manifest[s].mask;
    plan.maps = summary.maps[s];
    // A slide that failed after planning has tiles and can run again; one that failed in
    // planning has none (its plan would change the file's layout).
    if (job.retry_failed && plan.row.status == SlideStatus::failed && plan.row.tile_count > 0)
      plan.row.status = SlideStatus::pending, plan.row.error.clear();
    state.plans.push_back(std::move(plan));
  }
  return state;
}

}  // namespace wsi
