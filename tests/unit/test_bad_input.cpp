// Bad input never stops a cohort: each case of tests/cases/bad_input.csv fails its slide with
// the expected message (in /slides/error), the other slides complete, and the exit status says so.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include <opencv2/imgcodecs.hpp>

#include "test_support.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/model/model.hpp"
#include "wsi/synth/synth_slide.hpp"

using namespace wsi;
namespace fs = std::filesystem;

namespace {

struct BadCase {
  std::string name, status, message;
};

std::vector<BadCase> read_cases() {
  std::ifstream in(std::string(WSI_TESTS_DIR) + "/cases/bad_input.csv");
  std::string line;
  std::getline(in, line);
  std::vector<BadCase> cases;
  while (std::getline(in, line)) {
    const auto a = line.find(','), b = line.find(',', a + 1);
    cases.push_back({line.substr(0, a), line.substr(a + 1, b - a - 1), line.substr(b + 1)});
  }
  return cases;
}

std::string write_slide(const fs::path& dir, const std::string& name, bool tissue) {
  SynthSlideSpec spec;
  spec.width = 2000, spec.height = 1500, spec.levels = 2, spec.seed = 5;
  SynthLayout layout = make_synth_layout(spec);
  if (!tissue) layout.regions.clear();
  const std::string path = (dir / (name + ".svs")).string();
  write_synth_slide(path, spec, layout);
  return path;
}

void copy_prefix(const std::string& from, const std::string& to, size_t bytes) {
  std::ifstream in(from, std::ios::binary);
  std::string data(bytes, '\0');
  in.read(data.data(), static_cast<std::streamsize>(bytes));
  std::ofstream(to, std::ios::binary).write(data.data(), in.gcount());
}

// Writes the case's files into dir and returns its manifest lines (slide_id,path,mask).
std::vector<std::string> make_case(const fs::path& dir, const std::string& name) {
  const std::string good = write_slide(dir, "good", true);
  const std::map<std::string, std::function<std::string()>> makers = {
      {"good", [&] { return good; }},
      {"missing", [&] { return (dir / "missing.svs").string(); }},
      {"empty", [&] { std::ofstream((dir / "empty.svs").string()); return (dir / "empty.svs").string(); }},
      {"not_a_slide", [&] { std::ofstream(dir / "text.svs") << "slide_id,path\n"; return (dir / "text.svs").string(); }},
      {"truncated", [&] {
         copy_prefix(test::shared_data("cmu-1-small-region/CMU-1-Small-Region.svs"), (dir / "trunc.svs").string(), 1500000);
         return (dir / "trunc.svs").string(); }},
      {"smaller_than_patch", [&] { return test::shared_data("cmu-1-tiny-16px/small.svs"); }},
      {"no_tissue", [&] { return write_slide(dir, "blank", false); }},
      {"no_mpp", [&] { return test::shared_data("generic-tiff-boxes-pyramid/small_HE_levels.tiff"); }},
      {"bad_mask", [&] {
         cv::imwrite((dir / "mask.png").string(), cv::Mat(100, 300, CV_8UC1, cv::Scalar(255)));
         return good + "," + (dir / "mask.png").string(); }},
      {"duplicate", [&] { return good; }},
  };
  // The duplicate case repeats the good slide's id; every other case has an id of its own.
  const std::string id = name == "duplicate" ? "good" : name == "good" ? "good_too" : name;
  return {"good," + good, id + "," + makers.at(name)()};
}

struct RunResult {
  int exit_status;
  CohortSummary summary;
};

// `ranks` > 1: under mpirun, with a time limit, so that a hang in a collective fails the test.
std::string launcher(int ranks) {
  if (ranks <= 1) return WSI_BINARY;
  return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none "
         "OMPI_MCA_rmaps_base_oversubscribe=1 timeout 300 mpirun -n " +
         std::to_string(ranks) + " --bind-to none " + WSI_BINARY;
}

RunResult run_cohort(const fs::path& dir, const std::vector<std::string>& lines, int ranks = 1) {
  std::ofstream manifest(dir / "manifest.csv");
  manifest << "slide_id,path,mask\n";
  for (const auto& line : lines) manifest << line << "\n";
  manifest.close();
  write_demo_model((dir / "model.pt").string(), {{"tumour", {150, 62, 150}}, {"stroma", {228, 128, 168}},
                                                 {"lymphocytes", {58, 48, 128}}, {"mucin", {176, 166, 208}}});
  const std::string command = launcher(ranks) + " run --slides " + (dir / "manifest.csv").string() + " --model " +
                              (dir / "model.pt").string() + " --output " + (dir / "out.h5").string() +
                              " --threads 1 --overwrite > " + (dir / "log.txt").string() + " 2>&1";
  const int status = std::system(command.c_str());
  return {WEXITSTATUS(status), read_cohort_summary((dir / "out.h5").string())};
}

const SlideRow& row_of(const CohortSummary& summary, size_t index) {
  REQUIRE(index < summary.slides.size());
  return summary.slides[index];
}

void check_case(const BadCase& c, const SlideRow& row) {
  INFO("case " << c.name << ": status " << int(row.status) << ", error '" << row.error << "'");
  CHECK(row.status == (c.status == "done" ? SlideStatus::done : SlideStatus::failed));
  CHECK_THAT(row.error, Catch::Contains(c.message));
  if (c.status == "failed") CHECK_THAT(row.error, Catch::Contains(c.name == "duplicate" ? "good" : row.path));
}

}  // namespace

TEST_CASE("each bad input fails its slide alone", "[e2e][bad-input]") {
  const auto cases = read_cases();
  REQUIRE(cases.size() >= 10);
  for (const BadCase& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const auto dir = test::scratch_dir("bad-input-" + c.name);
      const RunResult result = run_cohort(dir, make_case(dir, c.name));
      CHECK(result.exit_status == (c.status == "done" ? 0 : 3));
      CHECK(row_of(result.summary, 0).status == SlideStatus::done);
      check_case(c, row_of(result.summary, 1));
    }
  }
}

TEST_CASE("all bad inputs in one cohort, on 1 and on 3 ranks", "[e2e][bad-input]") {
  const auto cases = read_cases();
  const int ranks = GENERATE(1, 3);
  const auto dir = test::scratch_dir("bad-input-all-" + std::to_string(ranks));
  std::vector<std::string> lines = {make_case(dir, "good")[0]};
  for (const BadCase& c : cases)
    if (c.name != "good") lines.push_back(make_case(dir, c.name)[1]);
  const RunResult result = run_cohort(dir, lines, ranks);
  CHECK(result.exit_status == 3);
  CHECK(row_of(result.summary, 0).status == SlideStatus::done);
  size_t next = 1;
  for (const BadCase& c : cases)
    if (c.name != "good") check_case(c, row_of(result.summary, next++));
  // The log names every failed slide too.
  std::ifstream log(dir / "log.txt");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  for (const BadCase& c : cases)
    if (c.name != "good" && c.name != "duplicate") CHECK_THAT(text, Catch::Contains("slide " + c.name + " failed"));
}

TEST_CASE("a model that gives NaN or the wrong width fails the slides, not the job", "[e2e][bad-input]") {
  const int ranks = GENERATE(1, 2);  // on 2 ranks: failures met in inference on either rank
  const auto dir = test::scratch_dir("bad-model-" + std::to_string(ranks));
  const std::string good = write_slide(dir, "good", true);
  test::run_python("bad_models.py", dir.string());
  for (const auto& [model, message] : std::vector<std::pair<std::string, std::string>>{
           {"nan.pt", "NaN"}, {"wide.pt", "gives 3 class scores per patch but declares 2"}}) {
    INFO(model << " on " << ranks << " ranks");
    std::ofstream(dir / "manifest.csv") << "slide_id,path\ngood," << good << "\n";
    const std::string command = launcher(ranks) + " run --slides " + (dir / "manifest.csv").string() +
                                " --model " + (dir / model).string() + " --output " + (dir / "out.h5").string() +
                                " --threads 1 --unit-tiles 8 --overwrite > /dev/null 2>&1";
    const int status = std::system(command.c_str());
    CHECK(WEXITSTATUS(status) == 1);  // nothing succeeded
    const CohortSummary summary = read_cohort_summary((dir / "out.h5").string());
    CHECK(summary.slides[0].status == SlideStatus::failed);
    CHECK_THAT(summary.slides[0].error, Catch::Contains(message));
  }
}

TEST_CASE("an output that cannot be written is a job failure", "[e2e][bad-input]") {
  const auto dir = test::scratch_dir("bad-output");
  const std::string good = write_slide(dir, "good", true);
  write_demo_model((dir / "model.pt").string(), {{"a", {150, 62, 150}}, {"b", {58, 48, 128}}});
  const std::string command = std::string(WSI_BINARY) + " run --slides " + good + " --model " +
                              (dir / "model.pt").string() + " --output /nonexistent/dir/out.h5 --threads 2 2> " +
                              (dir / "err.txt").string();
  const int status = std::system(command.c_str());
  CHECK(WEXITSTATUS(status) == 1);
  std::ifstream err(dir / "err.txt");
  const std::string text((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
  CHECK_THAT(text, Catch::Contains("/nonexistent/dir/out.h5"));
}
