// The coordinator: rank 0 runs the Coordinator thread and talks to it through its own
// WorkChannel, as every rank does. On one rank: which units it hands out and in what order, a
// failed slide's units left out, the final epoch, and a signal's stopping epoch (and its log
// line). Over several ranks without mpirun (ranks as threads, unit/comm/in_process_comm.hpp):
// every unit once, each slide's units in order, every rank ending; a failed slide; a rank that
// vanishes. The [.mpi] case runs under `mpirun -n 2` (ctest unit.mpi_ranks): every unit once
// over both ranks.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "unit/comm/in_process_comm.hpp"
#include "wsi/comm/message.hpp"
#include "wsi/schedule/coordinator.hpp"

using namespace wsi;

namespace {

struct Served {
  std::vector<int64_t> units;  // in the order they came
  int epochs = 0;              // every epoch, the final one included
  bool ended = false;          // the final epoch came
  bool stopped = false;        // the final epoch was a stopping one
  bool vanished = false;       // the rank disappeared (on_unit said so)
};

// Slides 0, 1, 2 with 2, 3 and 1 units of 16 tiles.
std::vector<WorkUnit> three_slides() {
  return {{0, 0, 16}, {0, 16, 16}, {1, 32, 16}, {1, 48, 16}, {1, 64, 16}, {2, 80, 16}};
}

// Called with each unit a rank gets; false: the rank disappears there (sends nothing more).
using OnUnit = std::function<bool(int64_t, WorkChannel&)>;

// Plays one rank (rank 0 also runs the Coordinator) until the final epoch, until it vanishes or
// until `patience_s` passed: asks for a unit with the slide of the last one open (`first_open`
// before any) and acknowledges every epoch. No Catch2 assertion here: it also runs on a rank's
// thread (unit/comm/in_process_comm.hpp).
Served drive(const Comm& coordination, const std::vector<WorkUnit>& units, const std::vector<int64_t>& todo,
             int64_t first_open, const OnUnit& on_unit = {}, double patience_s = 60.0) {
  std::atomic<bool> aborted{false};  // the coordinator would end the job: it failed
  std::optional<Coordinator> coordinator;
  if (coordination.rank() == 0) coordinator.emplace(coordination, units, todo, true, 3600.0, [&aborted] { aborted = true; });
  WorkChannel channel(coordination);
  Served served;
  int64_t open = first_open;
  bool waiting = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(patience_s);
  while (!served.ended && !served.vanished && std::chrono::steady_clock::now() < deadline) {
    if (aborted) throw std::runtime_error("the coordinator failed");
    if (!waiting) channel.request(open), waiting = true;
    const auto event = channel.poll();
    if (!event) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      continue;
    }
    if (event->kind == WorkEvent::epoch) {
      ++served.epochs;
      channel.epoch_done();
      served.ended = event->final, served.stopped = event->stop;
      continue;
    }
    waiting = false;
    if (event->kind == WorkEvent::no_work) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (event->kind == WorkEvent::unit) {
      served.units.push_back(event->unit_index);
      open = units.at(event->unit_index).slide;
      served.vanished = on_unit && !on_unit(event->unit_index, channel);
    }
  }
  if (served.ended) {
    channel.goodbye();
    if (coordinator) coordinator->finish();
  }
  return served;  // a coordinator still running (a rank vanished) stops in its destructor
}

// drive() on this process alone (MPI's world of one rank).
Served drive_alone(const std::vector<int64_t>& todo, int64_t first_open, const OnUnit& on_unit = {}) {
  return drive(test::world().duplicate(), three_slides(), todo, first_open, on_unit);
}

// Every rank's units in one list, sorted.
std::vector<int64_t> all_units(const std::vector<Served>& ranks) {
  std::vector<int64_t> all;
  for (const Served& served : ranks) all.insert(all.end(), served.units.begin(), served.units.end());
  std::sort(all.begin(), all.end());
  return all;
}

// The next event on `channel` within `patience_s`, if any.
std::optional<WorkEvent> next_event(WorkChannel& channel, double patience_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(patience_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto event = channel.poll()) return event;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("coordinator: every unit to do once, the open slide's first, then a final epoch", "[schedule]") {
  // Unit 1 is done already. Slide 2 is open: its unit comes first, then slides in order.
  const Served served = drive_alone({0, 2, 3, 4, 5}, 2);
  CHECK(served.units == std::vector<int64_t>{5, 0, 2, 3, 4});
  CHECK(served.ended);
  CHECK(served.epochs >= 1);
  CHECK_FALSE(served.stopped);
  // Nothing to do: no unit, the final epoch at once.
  const Served none = drive_alone({}, -1);
  CHECK(none.ended);
  CHECK(none.units.empty());
  CHECK(none.epochs == 1);
  CHECK_FALSE(none.stopped);
}

// Slides still being planned: a rank asking for work waits for the next units, hears "no work"
// only once the last slides are planned, and the job ends after them.
TEST_CASE("coordinator: units arrive as slides are planned, and a rank waits for them", "[schedule]") {
  const Comm coordination = test::world().duplicate();
  const std::vector<WorkUnit> units = three_slides();
  Coordinator coordinator(coordination, {units[0], units[1]}, {0, 1}, false, 3600.0, [] {});
  WorkChannel channel(coordination);
  std::vector<int64_t> served;
  for (int i = 0; i < 2; ++i) {
    channel.request(-1);
    const auto event = next_event(channel, 10);
    REQUIRE(event);
    REQUIRE(event->kind == WorkEvent::unit);
    served.push_back(event->unit_index);
  }
  channel.request(0);
  CHECK_FALSE(next_event(channel, 0.3));  // no unit left, but slides are still being planned: no answer yet
  coordinator.add_units({units[2], units[3]}, false);
  for (int i = 0; i < 2; ++i) {
    if (i == 1) channel.request(1);
    const auto event = next_event(channel, 10);
    REQUIRE(event);
    REQUIRE(event->kind == WorkEvent::unit);
    served.push_back(event->unit_index);
  }
  channel.request(1);
  CHECK_FALSE(next_event(channel, 0.3));
  coordinator.add_units({units[4], units[5]}, true);
  for (;;) {
    const auto event = next_event(channel, 10);
    REQUIRE(event);
    if (event->kind == WorkEvent::epoch) {
      channel.epoch_done();
      if (event->final) break;
      continue;
    }
    if (event->kind == WorkEvent::unit) served.push_back(event->unit_index);
    channel.request(1);
  }
  channel.goodbye();
  coordinator.finish();
  CHECK(served == std::vector<int64_t>{0, 1, 2, 3, 4, 5});
}

TEST_CASE("coordinator: planned slides wait for a shared append while every rank has work", "[schedule]") {
  const Comm coordination = test::world().duplicate();
  const std::vector<WorkUnit> units = three_slides();
  Coordinator coordinator(coordination, {units[0], units[1]}, {0, 1}, false, 3600.0, [] {});
  WorkChannel channel(coordination);
  channel.request(-1);
  const auto first = next_event(channel, 10);
  REQUIRE(first);
  REQUIRE(first->kind == WorkEvent::unit);
  // The rank has work: its planned slides wait (2 s), even when it can plan no further.
  channel.request_plans_epoch(false);
  channel.request_plans_epoch(true);
  CHECK_FALSE(next_event(channel, 0.5));
  channel.request(0);
  const auto second = next_event(channel, 10);
  REQUIRE(second);
  REQUIRE(second->kind == WorkEvent::unit);
  channel.request(0);  // no unit left: the rank waits, and the append comes
  const auto epoch = next_event(channel, 10);
  REQUIRE(epoch);
  CHECK(epoch->kind == WorkEvent::epoch);
  CHECK_FALSE(epoch->final);
  channel.epoch_done();
  coordinator.add_units({units[2], units[3], units[4], units[5]}, true);
  for (;;) {
    const auto event = next_event(channel, 10);
    REQUIRE(event);
    if (event->kind == WorkEvent::unit) channel.request(0);
    if (event->kind == WorkEvent::epoch) {
      channel.epoch_done();
      if (event->final) break;
    }
  }
  channel.goodbye();
  coordinator.finish();
}

TEST_CASE("coordinator: the units left of a failed slide are not handed out", "[schedule]") {
  const Served served = drive_alone({0, 1, 2, 3, 4, 5}, -1, [](int64_t unit, WorkChannel& channel) {
    if (unit != 2) return true;
    channel.report_failed_slide(1);
    // The next request must reach the coordinator after the report (it reads requests first).
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return true;
  });
  CHECK(served.units == std::vector<int64_t>{0, 1, 2, 5});
  CHECK(served.ended);
  CHECK_FALSE(served.stopped);
}

TEST_CASE("coordinator: a signal ends the run with a final, stopping epoch, and says so", "[schedule]") {
  test::LogCapture log;
  const Served served = drive_alone({0, 1, 2, 3, 4, 5}, -1, [](int64_t unit, WorkChannel& channel) {
    if (unit != 0) return true;
    channel.report_signal();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return true;
  });
  CHECK(served.ended);
  CHECK(served.stopped);
  CHECK(served.units.size() < 6);
  CHECK_THAT(log.text(), Catch::Contains("warning: stop requested (signal on rank 0): checkpointing, then exit 75"));
}

TEST_CASE("coordinator: over several ranks every unit to do goes to exactly one rank", "[.mpi]") {
  const Comm& world = test::world();
  REQUIRE(world.size() > 1);
  const std::vector<int64_t> todo = {0, 1, 2, 3, 4, 5};
  const Served served = drive(world.duplicate(), three_slides(), todo, -1, [](int64_t, WorkChannel&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // every rank gets a share
    return true;
  });
  CHECK(served.ended);
  CHECK_FALSE(served.stopped);
  std::vector<int64_t> all = all_gather_concat(world, served.units, "units");
  std::sort(all.begin(), all.end());
  CHECK(all == todo);
}

TEST_CASE("coordinator over in-process ranks: every unit once, each slide's in order, every rank ends", "[schedule]") {
  const std::vector<int64_t> todo = {0, 1, 2, 3, 4, 5};
  const auto ranks = test::run_ranks<Served>(3, [&](const Comm& comm) {
    return drive(comm, three_slides(), todo, -1, [](int64_t, WorkChannel&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // every rank gets a share
      return true;
    });
  });
  CHECK(all_units(ranks) == todo);
  for (const Served& served : ranks) {
    CHECK(served.ended);
    CHECK_FALSE(served.stopped);
    for (int64_t slide = 0; slide < 3; ++slide) {  // a rank takes a slide's units front to back
      std::vector<int64_t> of_slide;
      for (const int64_t u : served.units)
        if (three_slides().at(u).slide == slide) of_slide.push_back(u);
      CHECK(std::is_sorted(of_slide.begin(), of_slide.end()));
    }
  }
}

TEST_CASE("coordinator over in-process ranks: a slide reported failed has no more units handed out", "[schedule]") {
  // Slide 1 has 8 units (2..9); the rank that gets its first unit reports it failed at once,
  // while the others take 20 ms a unit: at most a few more of slide 1 can have gone out.
  std::vector<WorkUnit> units = {{0, 0, 16}, {0, 16, 16}};
  for (int64_t k = 0; k < 8; ++k) units.push_back({1, 32 + 16 * k, 16});
  units.push_back({2, 160, 16});
  std::vector<int64_t> todo(units.size());
  for (size_t u = 0; u < todo.size(); ++u) todo[u] = static_cast<int64_t>(u);
  const auto ranks = test::run_ranks<Served>(3, [&](const Comm& comm) {
    return drive(comm, units, todo, -1, [](int64_t unit, WorkChannel& channel) {
      if (unit == 2) channel.report_failed_slide(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      return true;
    });
  });
  const std::vector<int64_t> all = all_units(ranks);
  CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());  // none twice
  for (const int64_t u : {0, 1, 2, 10}) CHECK(std::count(all.begin(), all.end(), u) == 1);
  const auto slide1 = std::count_if(all.begin(), all.end(), [](int64_t u) { return u >= 2 && u <= 9; });
  CHECK(slide1 < 8);  // the rest of slide 1 was never handed out
  for (int64_t u = 2; u < 2 + slide1; ++u) CHECK(std::count(all.begin(), all.end(), u) == 1);  // a prefix, in order
  for (const Served& served : ranks) CHECK(served.ended);
}

TEST_CASE("coordinator over in-process ranks: a rank that vanishes holding a unit keeps the job from ending", "[schedule]") {
  // Rank 2 disappears with its first unit. The others finish the rest, but no final epoch comes:
  // the job is not complete, and the failure watch or the launcher ends it (docs/design.md,
  // "Failures that end the job"). Rank 0's Coordinator, left running, stops in its destructor.
  const std::vector<int64_t> todo = {0, 1, 2, 3, 4, 5};
  const auto ranks = test::run_ranks<Served>(3, [&](const Comm& comm) {
    const bool vanishes = comm.rank() == 2;
    return drive(comm, three_slides(), todo, -1, [vanishes](int64_t, WorkChannel&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // rank 2 surely gets a unit
      return !vanishes;
    }, 1.5);
  });
  REQUIRE(ranks[2].vanished);
  REQUIRE(ranks[2].units.size() == 1);
  CHECK(all_units(ranks) == todo);  // its unit went to nobody else, every other unit once
  for (const Served& served : ranks) CHECK_FALSE(served.ended);
}
