// A communicator as the rest of the code sees it (ADIOS2's helper::Comm idea): rank, size and
// the few collectives the job needs. mpi.h stays in src/comm/, src/schedule/mpi_*.cpp and src/cohort/h5_*.cpp.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace wsi {

struct CommHandle;  // defined in src/comm/mpi_comm.hpp

// Thread-safety: MPI is initialised with MPI_THREAD_MULTIPLE, but a Comm is used by one thread
// at a time (the coordinator thread has its own duplicate).
class Comm {
 public:
  static Comm world();  // MPI_COMM_WORLD; MPI must be initialised (see MpiSession)
  Comm duplicate() const;
  Comm node() const;  // the ranks of this rank's node (MPI_COMM_TYPE_SHARED)
  int rank() const;
  int size() const;
  // The name of the host this rank runs on (MPI_Get_processor_name), for logs and tables.
  static std::string host_name();
  void barrier() const;
  // Every rank's bytes, in rank order, on every rank; any size (sent in rounds of at most
  // `chunk_bytes` per rank, and of INT_MAX bytes in all).
  std::vector<std::string> all_gather(const std::string& bytes, size_t chunk_bytes = size_t{1} << 30) const;
  std::string broadcast(const std::string& bytes, int root) const;
  // broadcast() for a root that may take long (measuring the model on the node's cores): the
  // waiting ranks poll and sleep instead of spinning in MPI, so they leave the cores alone.
  std::string broadcast_quietly(const std::string& bytes, int root) const;
  int64_t all_reduce_max(int64_t value) const;
  int64_t all_reduce_sum(int64_t value) const;
  const CommHandle& handle() const { return *handle_; }

 private:
  explicit Comm(std::shared_ptr<CommHandle> handle) : handle_(std::move(handle)) {}
  std::shared_ptr<CommHandle> handle_;
};

// MPI_Init_thread(MPI_THREAD_MULTIPLE) on construction, MPI_Finalize on destruction.
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  // Ends every rank of the job at once (only the CLI calls this).
  [[noreturn]] static void abort(int status);
};

}  // namespace wsi
