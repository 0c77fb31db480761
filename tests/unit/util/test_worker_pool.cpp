// The CPU worker pool behind planning and maps (src/util/worker_pool.hpp).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "util/worker_pool.hpp"

TEST_CASE("worker pool: results, exceptions and a destructor that finishes the queue", "[util]") {
  std::atomic<int> ran{0};
  {
    wsi::WorkerPool pool(2);
    CHECK(pool.size() == 2);
    auto square = pool.submit([] { return 7 * 7; });
    auto failing = pool.submit([]() -> int { throw std::runtime_error("slide x: broken"); });
    CHECK(square.get() == 49);
    CHECK_THROWS_WITH(failing.get(), "slide x: broken");
    for (int i = 0; i < 50; ++i)
      pool.submit([&ran] {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        ++ran;
      });
  }  // the destructor runs every queued task before joining
  CHECK(ran == 50);
  wsi::WorkerPool at_least_one(0);
  CHECK(at_least_one.size() == 1);
  CHECK(at_least_one.submit([] { return std::string("ok"); }).get() == "ok");
}
