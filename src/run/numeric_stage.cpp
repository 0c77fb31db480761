// The job's numeric configuration, see run/numeric_stage.hpp and docs/numerics.md.
#include "run/numeric_stage.hpp"

#include <sstream>

#include <spdlog/spdlog.h>

#include "util/sha256.hpp"
#include "wsi/job/job.hpp"
#include "wsi/run/job_runner.hpp"
#include "wsi/schedule/failure.hpp"

namespace wsi::run {
namespace {

ModelOptions decision_options(const Job& job, const ThreadPlan& threads) {
  ModelOptions options = job.model;
  options.batch_size = job.batch_size;
  options.threads = threads.threads;
  return options;
}

// Rank 0's decision for a job without a recorded configuration.
NumericConfig decide(const Job& job, Model& model, const std::string& fingerprint, const ThreadPlan& threads) {
  const ModelOptions options = decision_options(job, threads);
  if (!job.autotune) return model.rule_configuration(options);
  const std::string cache = job.tuning_cache.empty() ? default_tuning_cache_path() : job.tuning_cache;
  const TuningKey key = tuning_key(job, model, fingerprint, threads.threads);
  if (!cache.empty())
    if (auto stored = find_tuned(cache, key)) {
      spdlog::info("numeric configuration from the tuning cache {}", cache);
      return *stored;
    }
  NumericConfig measured = model.measured_configuration(options);
  if (!cache.empty()) store_tuned(cache, key, measured);
  return measured;
}

// A resume runs what the file records; say so where this run's options ask for something else.
void warn_about_overrides(const Job& job, const NumericConfig& recorded) {
  if (job.batch_size > 0 && job.batch_size != recorded.batch_size)
    spdlog::warn("--batch-size {}: the file's numeric configuration runs batches of {}, so that the results stay "
                 "bit-identical; it is kept", job.batch_size, recorded.batch_size);
  if (job.model.channels_last >= 0 && (job.model.channels_last > 0) != recorded.channels_last)
    spdlog::warn("--channels-last: the file's numeric configuration runs {}; it is kept",
                 recorded.channels_last ? "channels-last" : "NCHW");
  if (job.autotune && recorded.decided_by == "rule")
    spdlog::warn("--autotune: the file's numeric configuration was decided by the rule; it is kept");
}

}  // namespace

TuningKey tuning_key(const Job& job, const Model& model, const std::string& fingerprint, int threads) {
  // What identifies the network and its input: the model lines of the fingerprint (name, files'
  // SHA-256, classes, output, normalisation, pooling).
  Sha256 digest;
  std::istringstream lines(fingerprint);
  for (std::string line; std::getline(lines, line);)
    for (const char* prefix : {"model=", "model_sha256=", "weights_sha256=", "classes=", "model_output=", "mean=",
                               "std=", "pooling="})
      if (line.rfind(prefix, 0) == 0) digest.update(line.data(), line.size()), digest.update("\n", 1);
  const CpuFeatures cpu = cpu_features();
  TuningKey key;
  key.cpu_model = cpu.model;
  key.cpu_flags = cpu_simd_flags(cpu);
  key.device = model.on_gpu() ? "cuda" : "cpu";
  key.threads = threads;
  key.libtorch = libtorch_version();
  key.model_sha256 = digest.hex();
  key.input_width = model.description().input_width;
  key.input_height = model.description().input_height;
  key.asked = "precision=" + to_string(job.model.precision) + " channels_last=" +
              std::to_string(job.model.channels_last) + " batch_size=" + std::to_string(job.batch_size) +
              " deterministic=" + std::to_string(job.model.deterministic);
  return key;
}

NumericConfig agree_numeric_config(const Job& job, Model& model, const std::string& recorded,
                                   const std::string& fingerprint, const ThreadPlan& threads, const Comm& comm) {
  // Rank 0's configuration, or why there is none, goes to every rank as "ok\n<json>" / "error\n<why>".
  std::string decision;
  if (comm.rank() == 0) {
    try {
      const NumericConfig config =
          recorded.empty() ? decide(job, model, fingerprint, threads)
                           : parse_numeric_config(recorded, job.output + ": /job/numeric_config");
      decision = "ok\n" + to_json(config);
    } catch (const std::exception& e) {
      decision = std::string("error\n") + e.what();
    }
  }
  decision = comm.broadcast_quietly(decision, 0);
  const size_t newline = decision.find('\n');
  const bool decided = decision.compare(0, newline, "ok") == 0;
  const std::string body = decision.substr(newline + 1);
  StepResult result = StepResult::ok;
  std::string message;
  NumericConfig config;
  try {
    if (!decided) throw JobRefused(body);
    config = parse_numeric_config(body, "the job's numeric configuration");
    model.use_configuration(config);
  } catch (const std::exception& e) {
    result = StepResult::refused;
    message = decided ? "rank " + std::to_string(comm.rank()) + " (" + Comm::host_name() +
                            ") cannot run the job's numeric configuration " + describe(config) + ": " + e.what()
                      : "numeric configuration: " + body;
  }
  agree_on(comm, "numeric configuration", result, message);
  if (comm.rank() == 0 && !recorded.empty()) warn_about_overrides(job, config);  // once, not per rank
  if (comm.rank() == 0)
    spdlog::info("numeric configuration: {}{}", describe(model.configuration()),
                 recorded.empty() ? "" : ", as the file records");
  return model.configuration();
}

}  // namespace wsi::run
