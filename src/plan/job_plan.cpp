// The cohort file created from the plans, or an existing file's plan taken back; see
// wsi/plan/job_plan.hpp.
#include "wsi/plan/job_plan.hpp"

#include <sys/resource.h>

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

CohortPlan make_cohort_plan(const Job& job, const ModelDescription& model, const std::vector<SlidePlan>& plans,
                            const std::string& fingerprint, const Comm& comm) {
  CohortPlan cohort;
  cohort.job_json = to_json(job);
  cohort.fingerprint = fingerprint;
  cohort.class_names = job.wants_probabilities() ? model.class_names : std::vector<std::string>{};
  cohort.probabilities = job.wants_probabilities();
  cohort.feature_size = job.wants_features() ? model.feature_size : 0;
  cohort.features_float16 = job.features_float16;
  for (size_t s = 0; s < plans.size(); ++s) {
    cohort.slides.push_back(plans[s].row);
    cohort.maps.push_back(plans[s].maps);
    cohort.tile_slide.insert(cohort.tile_slide.end(), plans[s].tiles.size(), static_cast<int32_t>(s));
    cohort.tile_bounds.insert(cohort.tile_bounds.end(), plans[s].tiles.begin(), plans[s].tiles.end());
  }
  cohort.units = make_units(plans, job.unit_tiles);
  cohort.stats_ranks = comm.size();
  return cohort;
}

// Collective: each rank writes the masks and thumbnails of the slides it planned, a few slides
// per round, so that memory holds a few images at a time.
void write_planned_images(CohortFile& file, const std::vector<SlidePlan>& plans, const PlanScratch& scratch,
                          const Comm& comm) {
  constexpr size_t kSlidesPerRound = 8;
  std::vector<size_t> mine;
  for (size_t s = comm.rank(); s < plans.size(); s += comm.size())
    if (plans[s].row.status == SlideStatus::pending && has_maps(plans[s].maps)) mine.push_back(s);
  const int64_t rounds = comm.all_reduce_max(static_cast<int64_t>((mine.size() + kSlidesPerRound - 1) / kSlidesPerRound));
  for (int64_t round = 0; round < rounds; ++round) {
    std::vector<PlannedImages> images;
    std::vector<CohortFile::SlideImages> writes;
    for (size_t k = round * kSlidesPerRound; k < std::min(mine.size(), (round + 1) * kSlidesPerRound); ++k)
      images.push_back(scratch.take(mine[k], plans[mine[k]].maps.thumbnail_height > 0));
    for (size_t k = 0; k < images.size(); ++k)
      writes.push_back({static_cast<int64_t>(mine[round * kSlidesPerRound + k]), nullptr,
                        images[k].thumbnail.empty() ? nullptr : images[k].thumbnail.data, images[k].tissue.data});
    file.write_maps(writes);
  }
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

// Agreed by every rank before the file is made: a rank whose file-size limit (ulimit -f) is
// below what the file may reach would fail in the middle of a collective write, where HDF5 1.10
// cannot tell the other ranks; so the job stops here, saying which rank and what to raise.
void check_file_size_limit(const std::string& output, uint64_t bytes, const Comm& comm) {
  rlimit limit{};
  std::string message;
  if (getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < bytes)
    message = "this rank may write files of at most " + std::to_string(limit.rlim_cur) + " bytes (ulimit -f), and " +
              output + " may grow to " + std::to_string(bytes) + " bytes: raise the limit";
  agree_on(comm, "file size limit", message.empty() ? StepResult::ok : StepResult::failed, message);
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

JobState plan_and_create(const Job& job, const ModelDescription& model, const std::vector<ManifestEntry>& manifest,
                         const std::string& fingerprint, const std::string& numeric_config, const Comm& comm,
                         WorkerPool& pool, RankStats& stats) {
  const auto start = std::chrono::steady_clock::now();
  const PlanScratch scratch(comm.rank());
  std::vector<SlidePlan> plans = plan_cohort(job, manifest, comm, pool, scratch);
  stats.seconds_planning += seconds_since(start);
  CohortPlan cohort = make_cohort_plan(job, model, plans, fingerprint, comm);
  cohort.numeric_config = numeric_config;
  for (SlidePlan& plan : plans) std::vector<TileBounds>().swap(plan.tiles);
  check_file_size_limit(job.output, cohort_file_bytes_bound(cohort), comm);
  CohortFile::create(job.output, cohort, comm,
                     [&](CohortFile& file) { write_planned_images(file, plans, scratch, comm); });
  if (comm.rank() == 0)
    spdlog::info("planned {} tiles in {} units ({:.1f} s)", cohort.tile_bounds.size(), cohort.units.size(),
                 seconds_since(start));
  JobState state;
  state.plans = std::move(plans);
  state.units = cohort.units;
  state.done.assign(cohort.units.size(), 0);
  state.classes = static_cast<int64_t>(cohort.class_names.size());
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
  state.numeric_config = summary.numeric_config;
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
