// Where the unit tests write: tests/scratch/pid-<pid> in the build tree, one folder per process,
// because ctest runs test cases as parallel processes (and two builds never share a tree).
// catch_main.cpp removes the folder after a passing run and keeps it after a failing one.
#pragma once

#include <filesystem>
#include <string>

#include <unistd.h>

namespace wsi::test {

inline std::filesystem::path scratch_root() {
  return std::filesystem::path(WSI_TEST_SCRATCH) / ("pid-" + std::to_string(getpid()));
}

}  // namespace wsi::test
