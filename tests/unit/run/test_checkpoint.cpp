// The progress file a checkpoint leaves beside the output (src/run/checkpoint.hpp): units and
// tiles done as the done flags say, slides from the plan, replaced whole; a folder it cannot
// write to costs a warning, never the job.
#include <catch2/catch.hpp>

#include <filesystem>

#include "run/checkpoint.hpp"
#include "test_support.hpp"
#include "util/json.hpp"

using namespace wsi;
namespace fs = std::filesystem;

namespace {

// Two slides; units of 16, 16 and 5 tiles, the first and the last done.
JobState two_slides_half_done() {
  JobState state;
  state.plans.resize(2);
  state.units = {{0, 0, 16}, {0, 16, 16}, {1, 32, 5}};
  state.done = {1, 0, 1};
  return state;
}

}  // namespace

TEST_CASE("progress file: what the done flags say, replaced at each checkpoint", "[run]") {
  const fs::path dir = test::scratch_dir("progress-file");
  const std::string output = (dir / "out.h5").string();
  JobState state = two_slides_half_done();
  run::write_progress_file(output, state, 1, "running");
  Json progress = parse_json_file(output + ".progress.json");
  CHECK(progress["state"] == "running");
  CHECK(progress["units_done"] == 2);
  CHECK(progress["units_total"] == 3);
  CHECK(progress["tiles_done"] == 21);
  CHECK(progress["tiles_total"] == 37);
  CHECK(progress["slides_done"] == 1);
  CHECK(progress["slides_total"] == 2);
  CHECK(progress["updated_unix"].get<int64_t>() > 0);

  state.done[1] = 1;
  run::write_progress_file(output, state, 2, "complete");
  progress = parse_json_file(output + ".progress.json");
  CHECK(progress["state"] == "complete");
  CHECK(progress["tiles_done"] == 37);
  CHECK(progress["slides_done"] == 2);
  int files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++files;
  CHECK(files == 1);  // no temporary left beside it
}

TEST_CASE("progress file: an unwritable place is a warning, not a failure", "[run]") {
  test::LogCapture log;
  const std::string output = (test::scratch_dir("progress-file-nowhere") / "no-such-folder" / "out.h5").string();
  CHECK_NOTHROW(run::write_progress_file(output, two_slides_half_done(), 0, "running"));
  CHECK_THAT(log.text(), Catch::Contains("warning: progress file not updated"));
  CHECK_FALSE(fs::exists(output + ".progress.json"));
}
