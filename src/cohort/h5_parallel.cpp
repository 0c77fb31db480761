// Parallel-HDF5 property lists, see h5_parallel.hpp.
#include "cohort/h5_parallel.hpp"

#include "comm/mpi_comm.hpp"

namespace wsi::h5 {

Handle mpio_file_access(const Comm& comm, bool collective_reads, const std::string& path) {
  const Where where{path, ""};
  Handle fapl = make(H5Pcreate(H5P_FILE_ACCESS), where, "creating a file access list");
  check(H5Pset_fapl_mpio(fapl.id(), mpi_communicator(comm), MPI_INFO_NULL), where, "selecting MPI-IO");
  check(H5Pset_all_coll_metadata_ops(fapl.id(), collective_reads ? 1 : 0), where,
        "setting collective metadata reads");
  check(H5Pset_coll_metadata_write(fapl.id(), 1), where, "setting collective metadata writes");
  check(H5Pset_libver_bounds(fapl.id(), H5F_LIBVER_EARLIEST, H5F_LIBVER_V110), where, "setting format bounds");
  // V110: the file space strategy (crash_safe_file_creation) needs it; the superblock stays
  // version 2, which a killed file opens with (no h5clear).
  // Metadata should reach the disk at our flushes: HDF5 writes dirty metadata early past
  // dirty_bytes_threshold (default 256 KiB) or when the cache must evict: both raised. (A
  // collective compressed write may still write part of a chunk index early; the file space
  // strategy keeps every chunk either index points to intact.)
  H5AC_cache_config_t cache;
  cache.version = H5AC__CURR_CACHE_CONFIG_VERSION;
  check(H5Pget_mdc_config(fapl.id(), &cache), where, "reading the metadata cache settings");
  cache.set_initial_size = true;
  cache.initial_size = size_t{32} << 20;
  cache.min_size = size_t{32} << 20;
  cache.max_size = size_t{128} << 20;
  cache.dirty_bytes_threshold = size_t{32} << 20;
  check(H5Pset_mdc_config(fapl.id(), &cache), where, "setting the metadata cache");
  return fapl;
}

Handle serial_file_access(const std::string& path) {
  const Where where{path, ""};
  Handle fapl = make(H5Pcreate(H5P_FILE_ACCESS), where, "creating a file access list");
  check(H5Pset_fapl_sec2(fapl.id()), where, "selecting the sec2 driver");
  check(H5Pset_file_locking(fapl.id(), 1, 1), where, "setting file locking");
  return fapl;
}

Handle crash_safe_file_creation(const std::string& path) {
  Handle fcpl = make(H5Pcreate(H5P_FILE_CREATE), {path, "/"}, "creating a file creation property list");
  check(H5Pset_file_space_strategy(fcpl.id(), H5F_FSPACE_STRATEGY_NONE, 0, 1), {path, "/"},
        "setting the file space strategy");
  return fcpl;
}

Handle mpio_transfer(bool collective, const std::string& path) {
  const Where where{path, ""};
  Handle dxpl = make(H5Pcreate(H5P_DATASET_XFER), where, "creating a transfer list");
  check(H5Pset_dxpl_mpio(dxpl.id(), collective ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT), where,
        "setting the MPI-IO transfer mode");
  return dxpl;
}

bool was_collective(hid_t dxpl) {
  H5D_mpio_actual_io_mode_t mode = H5D_MPIO_NO_COLLECTIVE;
  if (H5Pget_mpio_actual_io_mode(dxpl, &mode) < 0) return false;
  return mode != H5D_MPIO_NO_COLLECTIVE;
}

}  // namespace wsi::h5
