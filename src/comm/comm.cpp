// wsi::Comm, see include/wsi/comm/comm.hpp: every call goes to the backend it runs on
// (src/comm/comm_backend.hpp).
#include "comm/comm_backend.hpp"

namespace wsi {

const CommBackend& backend_of(const Comm& comm) { return *comm.backend_; }

Comm Comm::duplicate() const { return Comm(backend_->duplicate()); }
Comm Comm::node() const { return Comm(backend_->node()); }
int Comm::rank() const { return backend_->rank(); }
int Comm::size() const { return backend_->size(); }
void Comm::barrier() const { backend_->barrier(); }

std::vector<std::string> Comm::all_gather(const std::string& bytes, size_t chunk_bytes) const {
  return backend_->all_gather(bytes, chunk_bytes);
}

std::string Comm::broadcast(const std::string& bytes, int root) const { return backend_->broadcast(bytes, root); }

std::string Comm::broadcast_quietly(const std::string& bytes, int root) const {
  return backend_->broadcast_quietly(bytes, root);
}

int64_t Comm::all_reduce_max(int64_t value) const { return backend_->all_reduce_max(value); }
int64_t Comm::all_reduce_sum(int64_t value) const { return backend_->all_reduce_sum(value); }
void Comm::send(int rank, int tag, const std::string& bytes) const { backend_->send(rank, tag, bytes); }

std::optional<Comm::Received> Comm::try_receive(int source, int tag) const {
  return backend_->try_receive(source, tag);
}

bool Comm::send_to_others(int tag, const std::string& bytes, double timeout_s) const {
  return backend_->send_to_others(tag, bytes, timeout_s);
}

}  // namespace wsi
