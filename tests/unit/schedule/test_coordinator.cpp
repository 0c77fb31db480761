// The coordinator on one rank: rank 0 runs the Coordinator thread and talks to it through its own
// WorkChannel, as every rank does. Which units it hands out and in what order, a failed slide's
// units left out, the final epoch, and a signal's stopping epoch (and its log line). The [.mpi]
// case runs under `mpirun -n 2` (ctest unit.mpi_ranks): every unit once over both ranks.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "wsi/comm/message.hpp"
#include "wsi/schedule/coordinator.hpp"

using namespace wsi;

namespace {

struct Served {
  std::vector<int64_t> units;  // in the order they came
  int epochs = 0;              // every epoch, the final one included
  bool stopped = false;        // the final epoch was a stopping one
};

// Slides 0, 1, 2 with 2, 3 and 1 units of 16 tiles.
std::vector<WorkUnit> three_slides() {
  return {{0, 0, 16}, {0, 16, 16}, {1, 32, 16}, {1, 48, 16}, {1, 64, 16}, {2, 80, 16}};
}

// Plays the one rank until the final epoch: asks for a unit with the slide of the last one open
// (`first_open` before any), acknowledges every epoch, and calls `on_unit` for each unit.
Served drive(const std::vector<WorkUnit>& units, const std::vector<int64_t>& todo, int64_t first_open,
             const std::function<void(int64_t, WorkChannel&)>& on_unit = {}) {
  const Comm coordination = test::world().duplicate();
  std::atomic<bool> aborted{false};  // the coordinator would end the job: it failed
  std::optional<Coordinator> coordinator;
  if (coordination.rank() == 0) coordinator.emplace(coordination, units, todo, 3600.0, [&aborted] { aborted = true; });
  WorkChannel channel(coordination);
  Served served;
  int64_t open = first_open;
  bool waiting = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);  // a hang fails, it does not block ctest
    REQUIRE_FALSE(aborted);
    if (!waiting) channel.request(open), waiting = true;
    const auto event = channel.poll();
    if (!event) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      continue;
    }
    if (event->kind == WorkEvent::epoch) {
      ++served.epochs;
      channel.epoch_done();
      if (event->final) {
        served.stopped = event->stop;
        break;
      }
      continue;
    }
    waiting = false;
    if (event->kind == WorkEvent::unit) {
      served.units.push_back(event->unit_index);
      open = units.at(event->unit_index).slide;
      if (on_unit) on_unit(event->unit_index, channel);
    }
  }
  channel.goodbye();
  if (coordinator) coordinator->finish();
  return served;
}

}  // namespace

TEST_CASE("coordinator: every unit to do once, the open slide's first, then a final epoch", "[schedule]") {
  // Unit 1 is done already. Slide 2 is open: its unit comes first, then slides in order.
  const Served served = drive(three_slides(), {0, 2, 3, 4, 5}, 2);
  CHECK(served.units == std::vector<int64_t>{5, 0, 2, 3, 4});
  CHECK(served.epochs >= 1);
  CHECK_FALSE(served.stopped);
  // Nothing to do: no unit, the final epoch at once.
  const Served none = drive(three_slides(), {}, -1);
  CHECK(none.units.empty());
  CHECK(none.epochs == 1);
  CHECK_FALSE(none.stopped);
}

TEST_CASE("coordinator: the units left of a failed slide are not handed out", "[schedule]") {
  const Served served = drive(three_slides(), {0, 1, 2, 3, 4, 5}, -1, [](int64_t unit, WorkChannel& channel) {
    if (unit != 2) return;
    channel.report_failed_slide(1);
    // The next request must reach the coordinator after the report (it reads requests first).
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  });
  CHECK(served.units == std::vector<int64_t>{0, 1, 2, 5});
  CHECK_FALSE(served.stopped);
}

TEST_CASE("coordinator: a signal ends the run with a final, stopping epoch, and says so", "[schedule]") {
  test::LogCapture log;
  const Served served = drive(three_slides(), {0, 1, 2, 3, 4, 5}, -1, [](int64_t unit, WorkChannel& channel) {
    if (unit != 0) return;
    channel.report_signal();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  });
  CHECK(served.stopped);
  CHECK(served.units.size() < 6);
  CHECK_THAT(log.text(), Catch::Contains("warning: stop requested (signal on rank 0): checkpointing, then exit 75"));
}

TEST_CASE("coordinator: over several ranks every unit to do goes to exactly one rank", "[.mpi]") {
  const Comm& world = test::world();
  REQUIRE(world.size() > 1);
  const std::vector<int64_t> todo = {0, 1, 2, 3, 4, 5};
  const Served served = drive(three_slides(), todo, -1, [](int64_t, WorkChannel&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // every rank gets a share
  });
  CHECK_FALSE(served.stopped);
  std::vector<int64_t> all = all_gather_concat(world, served.units, "units");
  std::sort(all.begin(), all.end());
  CHECK(all == todo);
}
