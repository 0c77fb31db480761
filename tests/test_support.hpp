// Helpers shared by the unit tests: paths to ../shared/data, scratch folders, running the
// Python reference scripts (Debian's /usr/bin/python3 with torch, h5py, openslide, cv2).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace wsi::test {

inline std::string shared_data(const std::string& relative) {
  return std::string(WSI_SHARED_DATA) + "/" + relative;
}

inline std::string python_script(const std::string& name) {
  return std::string(WSI_TESTS_DIR) + "/python/" + name;
}

// A fresh, empty folder under the system temp dir, unique to this test name.
inline std::filesystem::path scratch_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("wsi-tests-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Runs a shell command; throws with its output when it fails. Returns stdout+stderr.
inline std::string run_command(const std::string& command) {
  auto log = std::filesystem::temp_directory_path() / "wsi-tests-command.log";
  int status = std::system((command + " > '" + log.string() + "' 2>&1").c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
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
