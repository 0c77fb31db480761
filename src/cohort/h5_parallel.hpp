// Private: parallel-HDF5 property lists of the cohort file (HighFive's MPIOFileAccess /
// UseCollectiveIO as plain functions). Thread-safety: none.
#pragma once
#include <string>

#include "cohort/h5_handle.hpp"
#include "wsi/comm/comm.hpp"

namespace wsi::h5 {

// MPI-IO driver over `comm` (MPI_INFO_NULL), collective metadata writes, collective metadata
// reads when `collective_reads` (create: every rank makes the same calls; open: off, so one
// rank may open a /maps dataset alone), library bounds EARLIEST..V110 (never "latest": a killed
// file opens again without h5clear).
Handle mpio_file_access(const Comm& comm, bool collective_reads, const std::string& path);
// File creation list: freed file space is never reused. A chunk rewritten (a compressed map
// chunk changes size) goes to new space, so until the next flush the metadata on disk still
// points to intact old chunks: a kill there leaves the last flushed file, not a corrupt one.
Handle crash_safe_file_creation(const std::string& path);
// Default sec2 driver, read-only use; file locking ignored where the file system has none.
Handle serial_file_access(const std::string& path);
// Data transfer list: H5FD_MPIO_COLLECTIVE or H5FD_MPIO_INDEPENDENT.
Handle mpio_transfer(bool collective, const std::string& path);
// Whether the last H5Dwrite with `dxpl` really was collective (H5Pget_mpio_actual_io_mode).
bool was_collective(hid_t dxpl);

}  // namespace wsi::h5
