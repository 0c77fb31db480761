// Private: the MPI communicator behind a wsi::Comm, for HDF5's MPI-IO driver (the one user
// outside src/comm/, see tests/style/layers.py).
#pragma once
#include <mpi.h>

#include "wsi/comm/comm.hpp"

namespace wsi {

// Throws std::logic_error when `comm` does not run on MPI (a unit test's in-process ranks).
MPI_Comm mpi_communicator(const Comm& comm);

}  // namespace wsi
