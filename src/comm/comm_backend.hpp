// Private to src/comm/ and the unit tests' fake: what a wsi::Comm runs on. MPI is one backend
// (mpi_comm.cpp); tests/unit/comm/in_process_comm.* is the other, ranks as threads of one
// process, so that the protocols over Comm (the coordinator, agree_on, the message encoding
// between ranks) are tested without mpirun too. The members mean what Comm's do; a backend
// throws std::runtime_error when a call fails.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wsi/comm/comm.hpp"

namespace wsi {

class CommBackend {
 public:
  virtual ~CommBackend() = default;
  virtual std::shared_ptr<CommBackend> duplicate() const = 0;
  virtual std::shared_ptr<CommBackend> node() const = 0;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual void barrier() const = 0;
  virtual std::vector<std::string> all_gather(const std::string& bytes, size_t chunk_bytes) const = 0;
  virtual std::string broadcast(const std::string& bytes, int root) const = 0;
  virtual std::string broadcast_quietly(const std::string& bytes, int root) const = 0;
  virtual int64_t all_reduce_max(int64_t value) const = 0;
  virtual int64_t all_reduce_sum(int64_t value) const = 0;
  virtual void send(int rank, int tag, const std::string& bytes) const = 0;
  virtual std::optional<Comm::Received> try_receive(int source, int tag) const = 0;
  virtual bool send_to_others(int tag, const std::string& bytes, double timeout_s) const = 0;
};

// The backend `comm` runs on.
const CommBackend& backend_of(const Comm& comm);

}  // namespace wsi
