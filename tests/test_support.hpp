// Helpers shared by the unit tests: the real reference slides ($WSI_TEST_DATA, else
// ../shared/data; tests that need them are tagged [data] and skip without them), scratch folders,
// running the Python reference scripts (Debian's /usr/bin/python3 with torch, h5py, openslide,
// cv2), MPI for the single-rank tests, and a log sink to check spdlog messages.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "scratch.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/comm/comm.hpp"

namespace wsi::test {

// A small plan: slides s1 and s2 of 2 tiles each (classes a and b, `feature_size` features,
// 1000 x 800 px at 0.5 mpp, maps with thumbnails), one unit per slide.
inline CohortPlan two_slide_plan(int64_t feature_size = 0) {
  CohortPlan plan;
  plan.job_json = "{}";
  plan.fingerprint = "f";
  plan.class_names = {"a", "b"};
  plan.feature_size = feature_size;
  for (const char* id : {"s1", "s2"}) {
    SlideRow row;
    row.id = row.key = id;
    row.path = std::string("/data/") + id + ".svs";
    row.tile_start = int64_t(plan.slides.size()) * 2, row.tile_count = 2;
    row.width = 1000, row.height = 800, row.mpp = 0.5, row.objective_power = 20, row.scale = 1;
    row.resolution_width = 1000, row.resolution_height = 800;
    plan.slides.push_back(row);
    plan.maps.push_back({4, 4, 2, 2, 8, 8});
  }
  for (int i = 0; i < 4; ++i) plan.tile_slide.push_back(i / 2), plan.tile_bounds.push_back({i * 224, 0, i * 224 + 224, 224});
  plan.units = {{0, 0, 2}, {1, 2, 2}};
  return plan;
}

// The exit status ctest reads as "skipped" (SKIP_RETURN_CODE of the [data] tests).
constexpr int kSkipExitCode = 77;

// The folder of the real reference slides: $WSI_TEST_DATA when set, else ../shared/data beside
// the source tree.
inline std::string reference_data_dir() {
  const char* env = std::getenv("WSI_TEST_DATA");
  return env && *env ? std::string(env) : std::string(WSI_SHARED_DATA);
}

// The path of a reference file. When it is not there, the test is skipped: the process prints
// why and exits kSkipExitCode (ctest runs one test case per process; only [data] tests call this).
inline std::string shared_data(const std::string& relative) {
  const std::string dir = std::filesystem::path(reference_data_dir()).lexically_normal().string();
  const std::string path = dir + "/" + relative;
  if (!std::filesystem::exists(path)) {
    std::printf("SKIPPED: reference data %s not found in %s (set WSI_TEST_DATA to the folder of the reference "
                "slides; see README.md)\n",
                relative.c_str(), dir.c_str());
    std::fflush(stdout);
    std::_Exit(kSkipExitCode);
  }
  return path;
}

// MPI once per process (ctest runs one test case per process; a run of the whole executable
// runs them all in one): initialised on first use, finalised at exit.
inline const Comm& world() {
  static MpiSession session(nullptr, nullptr);
  static const Comm comm = Comm::world();
  return comm;
}

// While it lives, spdlog's default logger writes "level: message" lines into text() (and
// nowhere else); the previous default logger comes back after.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_);
    sink->set_pattern("%l: %v");
    auto logger = std::make_shared<spdlog::logger>("test-capture", sink);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  std::string text() const { return stream_.str(); }

 private:
  std::ostringstream stream_;
  std::shared_ptr<spdlog::logger> previous_;
};

inline std::string python_script(const std::string& name) {
  return std::string(WSI_TESTS_DIR) + "/python/" + name;
}

// A fresh, empty folder unique to this test name within this process's scratch folder.
inline std::filesystem::path scratch_dir(const std::string& name) {
  auto dir = scratch_root() / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Runs a shell command; throws with its output when it fails. Returns stdout+stderr.
inline std::string run_command(const std::string& command) {
  std::filesystem::create_directories(scratch_root());
  auto log = scratch_root() / "command.log";
  int status = std::system((command + " > '" + log.string() + "' 2>&1").c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  in.close();
  std::filesystem::remove(log);
  if (status != 0) throw std::runtime_error("command failed (" + std::to_string(status) + "): " + command + "\n" + text.str());
  return text.str();
}

inline std::string run_python(const std::string& script, const std::string& args) {
  return run_command(std::string(WSI_TEST_PYTHON) + " " + python_script(script) + " " + args);
}

// A raw little-endian array written by a Python reference script (numpy .tofile()).
template <typename T>
std::vector<T> read_raw(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("cannot read reference file " + path.string());
  std::vector<T> data(size_t(in.tellg()) / sizeof(T));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(data.data()), std::streamsize(data.size() * sizeof(T)));
  return data;
}

// Largest |a[i] - b[i]|; throws when the sizes differ.
inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size())
    throw std::runtime_error("compared arrays differ in size: " + std::to_string(a.size()) + " and " +
                             std::to_string(b.size()));
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, double(std::fabs(a[i] - b[i])));
  return d;
}

}  // namespace wsi::test
