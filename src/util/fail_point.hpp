// The WSI_TEST_FAIL=RANK:PHASE test hook (its phases: src/run/test_hooks.hpp), here so that
// every stage folder above util can offer a failure point (planning's is in src/plan/), and
// test_pause for the pauses documented there.
#pragma once
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

namespace wsi {

// Throws when WSI_TEST_FAIL names this rank and phase.
inline void fail_point(int rank, const char* phase) {
  const char* wanted = std::getenv("WSI_TEST_FAIL");
  if (wanted && std::string(wanted) == std::to_string(rank) + ":" + phase)
    throw std::runtime_error(std::string("test hook: failure injected at ") + phase);
}

// The seconds the environment variable `name` says (0 when unset).
inline double test_seconds(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::atof(value) : 0.0;
}

// Sleeps as many seconds as the environment variable `name` says (none when unset).
inline void test_pause(const char* name) {
  const double seconds = test_seconds(name);
  if (seconds > 0) std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

}  // namespace wsi
