// The INI job reader (`--job FILE.ini`, src/cli/options.cpp): the command line wins over the
// file, relative paths in the file are taken relative to it ("model" only when such a file
// exists: else it is a built-in name), unknown keys and unreadable files are refused; and the
// model options read from it, with their usage errors as a table.
#include <catch2/catch.hpp>

#include <array>
#include <fstream>

#include "cli/options.hpp"
#include "test_support.hpp"

using namespace wsi;
using namespace wsi::cli;
namespace fs = std::filesystem;

namespace {

po::options_description job_options() {
  po::options_description o("test");
  o.add_options()
      ("job", po::value<std::string>(), "INI job file")
      ("slides", po::value<std::string>(), "manifest")
      ("output", po::value<std::string>(), "cohort file")
      ("patch", po::value<int>()->default_value(224), "patch size")
      ("resolution", po::value<double>()->default_value(0.5), "mpp");
  add_model_options(o);
  return o;
}

// Parses `args` (argv[0] added) with the path keys of `wsi-mpi run`.
po::variables_map parse(std::vector<std::string> args) {
  args.insert(args.begin(), "wsi-mpi");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parse_with_job_file(static_cast<int>(argv.size()), argv.data(), job_options(),
                             {"slides", "output", "model", "weights"});
}

}  // namespace

TEST_CASE("INI job file: values, paths relative to the file, the command line wins", "[cli][job]") {
  const fs::path dir = test::scratch_dir("ini-job");
  fs::create_directories(dir / "jobs" / "models");
  std::ofstream(dir / "jobs" / "models" / "mine.pt") << "x";
  std::ofstream(dir / "jobs" / "job.ini") << "# a job\n"
                                          << "slides = data/manifest.csv\n"
                                          << "output = /abs/out.h5\n"
                                          << "model = models/mine.pt\n"
                                          << "weights = ../w.pth\n"
                                          << "patch = 256\n"
                                          << "classes = a,b, c\n";
  const std::string job = (dir / "jobs" / "job.ini").string();
  const auto vm = parse({"--job", job, "--patch", "512"});
  CHECK(vm["slides"].as<std::string>() == (dir / "jobs" / "data" / "manifest.csv").string());
  CHECK(vm["output"].as<std::string>() == "/abs/out.h5");
  CHECK(vm["model"].as<std::string>() == (dir / "jobs" / "models" / "mine.pt").string());
  CHECK(vm["weights"].as<std::string>() == (dir / "w.pth").string());
  CHECK(vm["patch"].as<int>() == 512);  // the command line wins
  CHECK(vm["resolution"].as<double>() == 0.5);
  const ModelOptions model = model_options_from(vm);
  CHECK(model.classes == std::vector<std::string>{"a", "b", "c"});

  // A model that is no file next to the job is a built-in name, kept as it is.
  std::ofstream(dir / "jobs" / "builtin.ini") << "model = resnet50-kather100k\n";
  CHECK(parse({"--job", (dir / "jobs" / "builtin.ini").string()})["model"].as<std::string>() ==
        "resnet50-kather100k");
  // Without a job file: the command line alone, defaults.
  CHECK(parse({"--slides", "m.csv"})["slides"].as<std::string>() == "m.csv");
  CHECK(parse({})["model"].as<std::string>() == "resnet18-kather100k");
}

TEST_CASE("INI job file: unreadable files and unknown keys are refused", "[cli][job]") {
  const fs::path dir = test::scratch_dir("ini-errors");
  CHECK_THROWS_WITH(parse({"--job", (dir / "none.ini").string()}),
                    Catch::Contains("--job: cannot read") && Catch::Contains("none.ini"));
  std::ofstream(dir / "unknown.ini") << "slides = a.csv\ncolour = blue\n";
  CHECK_THROWS_AS(parse({"--job", (dir / "unknown.ini").string()}), po::error);
  std::ofstream(dir / "bad.ini") << "patch = many\n";
  CHECK_THROWS_AS(parse({"--job", (dir / "bad.ini").string()}), po::error);
}

TEST_CASE("model options: each bad value is a usage error naming the option", "[cli]") {
  // (argument, value, message fragment)
  const std::vector<std::array<std::string, 3>> cases = {
      {"--device", "tpu", "--device: unknown device 'tpu'"},
      {"--precision", "fp8", "--precision: unknown precision 'fp8'"},
      {"--channels-last", "sideways", "--channels-last: unknown value 'sideways'"},
      {"--threads", "-2", "--threads must not be negative"},
      {"--precision", "fp16", "--precision fp16 needs --device cuda"},
      {"--mean", "0.5,0.5", "--mean takes three values"},
      {"--std", "0.2,0.2,0.2,0.2", "--std takes three values"},
  };
  for (const auto& [option, value, message] : cases) {
    INFO(option << " " << value);
    CHECK_THROWS_WITH(model_options_from(parse({option, value})), Catch::Contains(message));
  }
  const ModelOptions fine = model_options_from(parse({"--mean", "0.1,0.2,0.3", "--channels-last", "on"}));
  CHECK(fine.mean == std::vector<double>{0.1, 0.2, 0.3});
  CHECK(fine.channels_last == 1);
  CHECK(split_list(" a, b ,c ") == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("numbers that are NaN or infinite are refused, on the command line and in the job file", "[cli][job]") {
  for (const char* value : {"nan", "NaN", "inf", "-inf", "infinity"}) {
    INFO(value);
    CHECK_THROWS_WITH(parse({"--resolution", value}), Catch::Contains("--resolution: must be a finite number"));
  }
  const fs::path dir = test::scratch_dir("ini-nan");
  std::ofstream(dir / "nan.ini") << "resolution = nan\n";
  CHECK_THROWS_WITH(parse({"--job", (dir / "nan.ini").string()}),
                    Catch::Contains("--resolution: must be a finite number"));
  CHECK_THROWS_WITH(model_options_from(parse({"--mean", "nan,0.5,0.5"})),
                    Catch::Contains("--mean: 'nan' is not a finite number"));
  CHECK(parse({"--resolution", "0.25"})["resolution"].as<double>() == 0.25);
}
