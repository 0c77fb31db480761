// The WSI_TEST_FAIL=RANK:PHASE test hook (its phases: src/run/test_hooks.hpp), here so that
// every stage folder above util can offer a failure point (planning's is in src/plan/).
#pragma once
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace wsi {

// Throws when WSI_TEST_FAIL names this rank and phase.
inline void fail_point(int rank, const char* phase) {
  const char* wanted = std::getenv("WSI_TEST_FAIL");
  if (wanted && std::string(wanted) == std::to_string(rank) + ":" + phase)
    throw std::runtime_error(std::string("test hook: failure injected at ") + phase);
}

}  // namespace wsi
