// A communicator as the rest of the code sees it (ADIOS2's helper::Comm idea): rank, size, the
// few collectives the job needs and tagged byte messages between ranks (which carry what
// message.hpp encodes). It runs on MPI; the unit tests also run it on ranks that are threads of
// one process (src/comm/comm_backend.hpp). mpi.h stays in src/comm/; HDF5's MPI-IO driver gets
// the communicator through src/comm/mpi_comm.hpp. Every MPI call returns its error (MPI_ERRORS_RETURN, set by
// MpiSession and inherited by duplicates), and a failed one throws std::runtime_error naming the
// activity, the rank and MPI's text, which then ends the job like any other error.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace wsi {

class CommBackend;  // src/comm/comm_backend.hpp

// Thread-safety: MPI is initialised with MPI_THREAD_MULTIPLE, but a Comm is used by one thread
// at a time (the coordinator thread has its own duplicate).
class Comm {
 public:
  static Comm world();  // MPI_COMM_WORLD; MPI must be initialised (see MpiSession)
  explicit Comm(std::shared_ptr<CommBackend> backend) : backend_(std::move(backend)) {}
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

  // Point to point (the coordinator's protocol, the failure watch). Tags are the caller's; the
  // messages from one rank with one tag arrive in the order they were sent.
  static constexpr int kAnySource = -1;
  void send(int rank, int tag, const std::string& bytes) const;
  struct Received {
    int source = -1;
    std::string bytes;
  };
  // The next message from `source` (or kAnySource) with `tag` if one has arrived, else nothing.
  std::optional<Received> try_receive(int source, int tag) const;
  // `bytes` to every other rank under `tag`, giving up after `timeout_s` (a peer that died takes
  // nothing); whether every send completed.
  bool send_to_others(int tag, const std::string& bytes, double timeout_s) const;

 private:
  friend const CommBackend& backend_of(const Comm& comm);
  std::shared_ptr<CommBackend> backend_;
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
