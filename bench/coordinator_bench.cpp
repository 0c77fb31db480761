// How many work units per second the coordinator serves: every rank asks for units and does no
// work, so the coordinator thread on rank 0 is the only limit. Run under mpirun:
//   mpirun -n 8 --oversubscribe --bind-to none build/bench/coordinator_bench [UNITS]
// Prints units/s and what that means for a thousand ranks (bench/run.sh section (f)).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#include "wsi/schedule/coordinator.hpp"

using namespace wsi;

int main(int argc, char** argv) {
  MpiSession mpi(&argc, &argv);
  const Comm world = Comm::world();
  const int64_t count = argc > 1 ? std::atoll(argv[1]) : 100000;
  std::vector<WorkUnit> units;
  std::vector<int64_t> todo;
  for (int64_t u = 0; u < count; ++u) units.push_back({u / 64, u * 16, 16}), todo.push_back(u);
  const Comm coordination = world.duplicate();
  world.barrier();
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<Coordinator> coordinator;
  if (world.rank() == 0)
    coordinator = std::make_unique<Coordinator>(coordination, units, todo, true, 3600.0, [] { MpiSession::abort(1); });
  WorkChannel channel(coordination);
  int64_t mine = 0, open = -1;
  bool waiting = false;
  for (;;) {
    if (!waiting) channel.request(open), waiting = true;
    auto event = channel.poll();
    if (!event) {
      std::this_thread::yield();
      continue;
    }
    if (event->kind == WorkEvent::epoch) {
      channel.epoch_done();
      if (event->final) break;
      continue;
    }
    waiting = false;
    if (event->kind == WorkEvent::unit) ++mine, open = units[event->unit_index].slide;
  }
  channel.goodbye();
  if (coordinator) coordinator->finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t served = world.all_reduce_sum(mine);
  if (world.rank() == 0) {
    const double rate = served / seconds;
    std::printf("coordinator: %lld units to %d ranks in %.2f s = %.0f units/s\n", static_cast<long long>(served),
                world.size(), seconds, rate);
    // A GPU rank takes a 256-tile unit every 256 / 3000 s at 3000 tiles/s (ResNet18 on an H100
    // with enough readers): 1000 such ranks ask for about 1000 * 3000 / 256 units per second.
    const double needed = 1000.0 * 3000.0 / 256.0;
    std::printf("1000 GPU ranks at 3000 tiles/s with 256-tile units ask for %.0f units/s: %s (headroom %.1fx)\n",
                needed, rate >= needed ? "served" : "NOT served; raise --unit-tiles", rate / needed);
  }
  return 0;
}
