// `inspect`: the summary of a partly done, partly failed cohort (in memory), as text and as JSON
// read back by Python's json (tests/python/inspect_json_check.py). (The real binary's inspect: tests/e2e/render_cli.py.)
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "test_support.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/model/model.hpp"
#include "wsi/cohort/inspect.hpp"

namespace fs = std::filesystem;

TEST_CASE("inspect: a partly done cohort with a failed slide is resumable", "[cohort]") {
  wsi::CohortSummary s;
  s.format = wsi::kCohortFormat;
  s.format_version = 1;
  s.software_version = "9.9.9";
  s.job_json = R"({"mode": "classify", "model": {"model": "resnet18-kather100k", "threads": 2},
                   "resolution": {"value": 0.5, "units": "mpp"}})";
  s.class_names = {"BACK", "TUM", "STR"};
  wsi::NumericConfig numerics;
  numerics.optimized = true;
  numerics.cpu_isa = "avx2";
  numerics.cpu_model = "AMD EPYC 7B13";
  numerics.libtorch = "1.13.0";
  s.numeric_config = wsi::to_json(numerics);
  auto row = [](const std::string& id, wsi::SlideStatus status, int64_t start, int64_t count) {
    wsi::SlideRow r;
    r.id = id;
    r.key = id;
    r.status = status;
    r.tile_start = start;
    r.tile_count = count;
    return r;
  };
  s.slides = {row("alpha", wsi::SlideStatus::done, 0, 10), row("beta", wsi::SlideStatus::failed, 10, 0),
              row("gamma", wsi::SlideStatus::pending, 10, 7)};
  s.planned_slides = 3;
  s.slides[0].class_fractions = {0.1f, 0.6f, 0.3f};
  s.slides[1].error = "cannot open: not a slide";
  s.units = {{0, 0, 6}, {0, 6, 4}, {2, 10, 4}, {2, 14, 3}};
  s.done = {1, 1, 1, 0};
  s.end_state = wsi::EndState::running;
  s.tile_count = 17;

  const wsi::CohortInspection c = wsi::inspect_cohort(s, "x.h5", 2);
  CHECK(c.mode == "classify");
  CHECK(c.model == "resnet18-kather100k");
  CHECK(c.resolution == "0.5 mpp");
  CHECK(c.slides_done == 1);
  CHECK(c.slides_failed == 1);
  CHECK(c.slides_pending == 1);
  CHECK(c.units_done == 3);
  CHECK(c.units_total == 4);
  CHECK(c.tiles_done == 14);
  CHECK(c.tiles_total == 17);
  CHECK(c.resumable);
  REQUIRE(c.slides.size() == 3);
  REQUIRE(c.slides[0].top_classes.size() == 2);
  CHECK(c.slides[0].top_classes[0].name == "TUM");
  CHECK(c.slides[0].top_classes[1].name == "STR");
  CHECK(c.slides[1].error == "cannot open: not a slide");
  CHECK(c.slides[2].units_done == 1);
  CHECK(c.slides[2].units_total == 2);

  const std::string text = wsi::inspection_text(c);
  for (const char* part : {"alpha", "beta", "gamma", "done", "failed", "pending", "cannot open: not a slide",
                           "resnet18-kather100k", "TUM 60.0%", "3 of 4 done", "14 of 17 done", "resumable:  yes",
                           "numerics:     fp32 NCHW optimize_for_inference, batch 8 (rule, avx2) on AMD EPYC 7B13, "
                           "LibTorch 1.13.0"})
    CHECK(text.find(part) != std::string::npos);

  // Complete: not resumable, even with a unit left (e.g. a slide that failed mid-run).
  s.end_state = wsi::EndState::complete;
  CHECK_FALSE(wsi::inspect_cohort(s, "x.h5").resumable);
  s.end_state = wsi::EndState::incomplete;
  CHECK(wsi::inspect_cohort(s, "x.h5").resumable);
  s.done = {1, 1, 1, 1};
  CHECK_FALSE(wsi::inspect_cohort(s, "x.h5").resumable);
  // Unreadable job JSON: "unknown", no throw; a configuration not decided yet or unreadable says so.
  s.job_json = "{not json";
  CHECK(wsi::inspect_cohort(s, "x.h5").mode == "unknown");
  s.numeric_config.clear();
  CHECK_THAT(wsi::inspect_cohort(s, "x.h5").numerics, Catch::Contains("not decided yet"));
  s.numeric_config = "{\"batch_size\": 0}";
  CHECK_THAT(wsi::inspect_cohort(s, "x.h5").numerics, Catch::StartsWith("unreadable: /job/numeric_config"));

  // The JSON form parses, with the same counts.
  const fs::path dir = wsi::test::scratch_dir("inspect-json");
  std::ofstream(dir / "inspect.json") << wsi::inspection_json(c);
  CHECK(wsi::test::run_python("inspect_json_check.py", (dir / "inspect.json").string()).find("ok") !=
        std::string::npos);
}
