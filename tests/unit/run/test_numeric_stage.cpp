// The job's numeric configuration stage on one rank (e2e.mpi_ranks, e2e.kill_resume and
// e2e.tuning run it on several): a recorded configuration wins over the options and is never
// re-decided, a new job takes the rule or the tuning cache, and a rank that cannot run the
// configuration, or a recorded one that does not parse, stops the job as refused.
#include <catch2/catch.hpp>

#include "run/numeric_stage.hpp"
#include "test_support.hpp"
#include "wsi/schedule/failure.hpp"

namespace {

using wsi::test::world;

// A model with nothing to compute: what the stage asked of it, and an instruction set of its own.
class FakeModel final : public wsi::Model {
 public:
  const wsi::ModelDescription& description() const override { return description_; }
  wsi::BatchResult run(const uint8_t*, int, bool, bool) override { return {}; }
  wsi::NumericConfig rule_configuration(const wsi::ModelOptions& options) override {
    ++rule_calls;
    wsi::NumericConfig c = Model::rule_configuration(options);
    c.cpu_isa = "fake_isa";
    return c;
  }
  wsi::NumericConfig measured_configuration(const wsi::ModelOptions& options) override {
    ++measure_calls;
    wsi::NumericConfig c = rule_configuration(options);
    c.decided_by = "measured", c.batch_size = 32, c.measured_tiles_per_second = 100;
    return c;
  }
  void use_configuration(const wsi::NumericConfig& config) override {
    if (config.cpu_isa != "fake_isa") throw std::invalid_argument("this CPU has fake_isa");
    configuration_ = config;
  }
  int rule_calls = 0, measure_calls = 0;

 private:
  wsi::ModelDescription description_;
};

wsi::Job job_with(int batch_size) {
  wsi::Job job;
  job.output = "unit.h5";
  job.batch_size = batch_size;
  return job;
}

wsi::StepResult stopped_with(const std::function<void()>& step, std::string& message) {
  try {
    step();
  } catch (const wsi::JobStopped& e) {
    message = e.what();
    return e.result();
  }
  return wsi::StepResult::ok;
}

}  // namespace

TEST_CASE("the numeric stage takes the rule for a new job and the recorded configuration on a resume", "[run]") {
  const wsi::run::ThreadPlan threads;
  FakeModel model;
  const wsi::NumericConfig ruled = wsi::run::agree_numeric_config(job_with(0), model, "", "", threads, world());
  CHECK(ruled.decided_by == "rule");
  CHECK(ruled.batch_size == 8);
  CHECK(model.rule_calls == 1);
  CHECK(wsi::to_json(model.configuration()) == wsi::to_json(ruled));

  // A resume asked for another batch size: the recorded one runs, nothing is decided again.
  wsi::NumericConfig recorded = ruled;
  recorded.decided_by = "measured", recorded.batch_size = 16, recorded.optimized = true;
  wsi::test::LogCapture log;
  const wsi::NumericConfig resumed =
      wsi::run::agree_numeric_config(job_with(4), model, wsi::to_json(recorded), "", threads, world());
  CHECK(wsi::to_json(resumed) == wsi::to_json(recorded));
  CHECK(model.rule_calls == 1);
  CHECK_THAT(log.text(), Catch::Contains("runs batches of 16") && Catch::Contains("as the file records"));
}

TEST_CASE("the numeric stage measures once with --autotune and reuses the tuning cache", "[run]") {
  const auto dir = wsi::test::scratch_dir("numeric-stage-cache");
  wsi::Job job = job_with(0);
  job.autotune = true;
  job.tuning_cache = (dir / "tuning.json").string();
  FakeModel model;
  const wsi::run::ThreadPlan threads;
  const wsi::NumericConfig measured = wsi::run::agree_numeric_config(job, model, "", "model=fake\n", threads, world());
  CHECK(measured.decided_by == "measured");
  CHECK(model.measure_calls == 1);
  const wsi::NumericConfig cached = wsi::run::agree_numeric_config(job, model, "", "model=fake\n", threads, world());
  CHECK(model.measure_calls == 1);  // read, not measured
  CHECK(cached.decided_by == "tuning cache");
  CHECK(cached.batch_size == 32);
  // Another model (its fingerprint lines) is another key: measured again.
  wsi::run::agree_numeric_config(job, model, "", "model=other\n", threads, world());
  CHECK(model.measure_calls == 2);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a configuration this rank cannot run, or one that does not parse, refuses the job", "[run]") {
  const wsi::run::ThreadPlan threads;
  FakeModel model;
  wsi::NumericConfig other = wsi::run::agree_numeric_config(job_with(0), model, "", "", threads, world());
  other.cpu_isa = "avx512_core_amx";
  std::string message;
  CHECK(stopped_with([&] { wsi::run::agree_numeric_config(job_with(0), model, wsi::to_json(other), "", threads,
                                                          world()); }, message) == wsi::StepResult::refused);
  CHECK_THAT(message, Catch::Contains("rank 0") && Catch::Contains("cannot run the job's numeric configuration") &&
                          Catch::Contains("this CPU has fake_isa"));
  CHECK(stopped_with([&] { wsi::run::agree_numeric_config(job_with(0), model, "{\"batch_size\": 8}", "", threads,
                                                          world()); }, message) == wsi::StepResult::refused);
  CHECK_THAT(message, Catch::Contains("unit.h5: /job/numeric_config"));
}
