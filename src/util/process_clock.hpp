// Elapsed seconds for the log and the run statistics: since a steady-clock point, and since this
// process started (the kernel's start time in /proc/self/stat: start-up figures that include what
// happens before main, MPI_Init and library loading).
#pragma once
#include <chrono>

namespace wsi {

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// 0 when /proc cannot tell.
double seconds_since_process_start();

}  // namespace wsi
