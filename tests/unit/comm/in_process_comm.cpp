// The in-process fake Comm, see in_process_comm.hpp.
#include "unit/comm/in_process_comm.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "comm/comm_backend.hpp"
#include "wsi/comm/message.hpp"

namespace wsi::test {
namespace {

// What the ranks of one communicator share.
struct World {
  World(int ranks, double timeout) : size(ranks), timeout_s(timeout), inbox(ranks), slots(ranks), made(ranks) {}

  struct Message {
    int source, tag;
    std::string bytes;
  };
  const int size;
  const double timeout_s;
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::deque<Message>> inbox;  // per receiving rank, in arrival order
  // The collective under way: what each rank brought, how many did, the last one's result.
  std::vector<std::string> slots, gathered;
  int arrived = 0;
  int64_t round = 0;
  // Duplicates: rank r's k-th duplicate is the k-th child world, whichever rank asks first.
  std::vector<std::shared_ptr<World>> children;
  std::vector<size_t> made;
};

class InProcessComm final : public CommBackend {
 public:
  InProcessComm(std::shared_ptr<World> world, int rank) : world_(std::move(world)), rank_(rank) {}

  std::shared_ptr<CommBackend> duplicate() const override {
    std::lock_guard lock(world_->mutex);
    const size_t k = world_->made[rank_]++;
    if (k == world_->children.size()) world_->children.push_back(std::make_shared<World>(world_->size, world_->timeout_s));
    return std::make_shared<InProcessComm>(world_->children[k], rank_);
  }
  std::shared_ptr<CommBackend> node() const override { return duplicate(); }  // one process: one node
  int rank() const override { return rank_; }
  int size() const override { return world_->size; }
  void barrier() const override { all_gather({}, 0); }

  std::vector<std::string> all_gather(const std::string& bytes, size_t) const override {
    World& w = *world_;
    std::unique_lock lock(w.mutex);
    w.slots[rank_] = bytes;
    const int64_t round = w.round;
    if (++w.arrived == w.size) {
      w.gathered = w.slots, w.arrived = 0, ++w.round;
      w.changed.notify_all();
    } else if (!w.changed.wait_for(lock, std::chrono::duration<double>(w.timeout_s),
                                   [&] { return w.round != round; })) {
      throw std::runtime_error("in-process collective: rank " + std::to_string(rank_) + " waited " +
                               std::to_string(w.timeout_s) + " s for ranks that never came");
    }
    return w.gathered;
  }
  std::string broadcast(const std::string& bytes, int root) const override { return all_gather(bytes, 0).at(root); }
  std::string broadcast_quietly(const std::string& bytes, int root) const override { return broadcast(bytes, root); }
  int64_t all_reduce_max(int64_t value) const override {
    const auto all = values(value);
    return *std::max_element(all.begin(), all.end());
  }
  int64_t all_reduce_sum(int64_t value) const override {
    int64_t sum = 0;
    for (const int64_t v : values(value)) sum += v;
    return sum;
  }

  void send(int rank, int tag, const std::string& bytes) const override {
    if (rank < 0 || rank >= world_->size)
      throw std::runtime_error("in-process send to rank " + std::to_string(rank) + " of " + std::to_string(world_->size));
    std::lock_guard lock(world_->mutex);
    world_->inbox[rank].push_back({rank_, tag, bytes});
  }
  std::optional<Comm::Received> try_receive(int source, int tag) const override {
    std::lock_guard lock(world_->mutex);
    auto& inbox = world_->inbox[rank_];
    const auto it = std::find_if(inbox.begin(), inbox.end(), [&](const World::Message& m) {
      return m.tag == tag && (source == Comm::kAnySource || m.source == source);
    });
    if (it == inbox.end()) return std::nullopt;
    Comm::Received received{it->source, std::move(it->bytes)};
    inbox.erase(it);
    return received;
  }
  bool send_to_others(int tag, const std::string& bytes, double) const override {
    for (int r = 0; r < world_->size; ++r)
      if (r != rank_) send(r, tag, bytes);
    return true;
  }

 private:
  std::vector<int64_t> values(int64_t mine) const {
    std::vector<int64_t> out;
    for (const std::string& part : all_gather(encode_message(mine), 0))
      out.push_back(decode_message<int64_t>(part, "in-process reduction"));
    return out;
  }
  std::shared_ptr<World> world_;
  int rank_;
};

}  // namespace

std::vector<Comm> in_process_world(int ranks, double timeout_s) {
  const auto world = std::make_shared<World>(ranks, timeout_s);
  std::vector<Comm> comms;
  for (int r = 0; r < ranks; ++r) comms.emplace_back(std::make_shared<InProcessComm>(world, r));
  return comms;
}

}  // namespace wsi::test
