// Private: the MPI communicator behind wsi::Comm, for the files that talk MPI or MPI-IO.
#pragma once
#include <mpi.h>

#include "wsi/comm/comm.hpp"

namespace wsi {

struct CommHandle {
  MPI_Comm comm = MPI_COMM_NULL;
  bool owned = false;  // duplicates are freed with the last Comm that holds them
  ~CommHandle();
};

// The MPI communicator behind `comm` (for HDF5's MPI-IO driver).
const CommHandle& handle_of(const Comm& comm);

// Throws std::runtime_error naming the activity and the rank when an MPI call fails.
void check_mpi(int status, const char* activity);

}  // namespace wsi
