// Seconds since this process started (the kernel's start time in /proc/self/stat): start-up
// figures in the log that include what happens before main (MPI_Init, library loading).
#pragma once

namespace wsi {

// 0 when /proc cannot tell.
double seconds_since_process_start();

}  // namespace wsi
