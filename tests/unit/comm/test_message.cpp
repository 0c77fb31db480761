// Typed messages between ranks (wsi/comm/message.hpp): round trips of what the ranks exchange,
// and a hostile or damaged message refused without reading past its end or allocating its claims;
// gathered over ranks that are threads of this process (unit/comm/in_process_comm.hpp), in rank
// order, and tagged messages in each sender's order.
#include <catch2/catch.hpp>

#include <limits>
#include <map>
#include <string>
#include <vector>

#include "wsi/cohort/cohort_file.hpp"
#include "wsi/comm/message.hpp"
#include "wsi/plan/slide_plan.hpp"
#include "unit/comm/in_process_comm.hpp"

namespace {

wsi::SlidePlan sample_plan() {
  wsi::SlidePlan plan;
  plan.row.id = "slide \xc3\xa9";
  plan.row.key = "slide__";
  plan.row.path = "/data/a.svs";
  plan.row.status = wsi::SlideStatus::failed;
  plan.row.error = std::string("with a \0 inside", 15);
  plan.row.tile_start = 7, plan.row.tile_count = 2, plan.row.width = 4000, plan.row.height = 3000;
  plan.row.mpp = 0.2527, plan.row.objective_power = 20, plan.row.scale = 1.9786;
  plan.row.resolution_width = 2021, plan.row.resolution_height = 1516;
  plan.mask_path = "/tmp/mask.png";
  plan.maps = {1, 2, 3, 4, 5, 6};
  plan.tiles = {{0, 0, 224, 224}, {224, 0, 448, 224}};
  return plan;
}

}  // namespace

TEST_CASE("messages: slide plans, failures and statistics round-trip", "[comm][message]") {
  const std::vector<wsi::SlidePlan> plans = {sample_plan(), wsi::SlidePlan{}};
  const auto back = wsi::decode_message<std::vector<wsi::SlidePlan>>(wsi::encode_message(plans), "plans");
  REQUIRE(back.size() == 2);
  const wsi::SlidePlan& p = back[0];
  CHECK(p.row.id == plans[0].row.id);
  CHECK(p.row.error == plans[0].row.error);
  CHECK(p.row.status == wsi::SlideStatus::failed);
  CHECK(p.row.scale == plans[0].row.scale);
  CHECK(p.row.resolution_height == 1516);
  CHECK(p.mask_path == "/tmp/mask.png");
  CHECK(p.maps.mask_width == 6);
  CHECK(p.tiles == plans[0].tiles);
  CHECK(back[1].tiles.empty());

  const std::map<int64_t, std::string> failures = {{3, "cannot open"}, {-1, ""}};
  CHECK(wsi::decode_message<std::map<int64_t, std::string>>(wsi::encode_message(failures), "failures") == failures);
  const wsi::RankStats stats{1, 2, 3, 4, 5, 6, 7, 8};
  const auto stats_back = wsi::decode_message<wsi::RankStats>(wsi::encode_message(stats), "stats");
  CHECK(stats_back.seconds_maps == 8);
  CHECK(stats_back.tiles == 1);
}

TEST_CASE("messages: truncated, overlong or lying messages are refused", "[comm][message]") {
  const std::string good = wsi::encode_message(std::vector<wsi::SlidePlan>{sample_plan()});
  for (size_t cut : {size_t{0}, size_t{3}, size_t{8}, good.size() / 2, good.size() - 1})
    CHECK_THROWS_WITH(wsi::decode_message<std::vector<wsi::SlidePlan>>(good.substr(0, cut), "slide plans"),
                      "truncated message: slide plans");
  CHECK_THROWS_WITH(wsi::decode_message<std::vector<wsi::SlidePlan>>(good + "x", "slide plans"),
                    "message with trailing bytes: slide plans");
  // A length that claims more than the message holds throws before anything is allocated.
  wsi::MessageWriter w;
  w << std::numeric_limits<uint64_t>::max();
  const std::string lying = w.take();
  CHECK_THROWS_WITH(wsi::decode_message<std::string>(lying, "text"), "truncated message: text");
  CHECK_THROWS_WITH(wsi::decode_message<std::vector<wsi::TileBounds>>(lying, "tiles"), "truncated message: tiles");
  CHECK_THROWS_WITH((wsi::decode_message<std::vector<std::string>>(lying, "names")), "truncated message: names");
}

TEST_CASE("typed messages gathered from in-process ranks come in rank order, decoded as sent", "[comm]") {
  const auto gathered = wsi::test::run_ranks<std::vector<wsi::SlidePlan>>(3, [](const wsi::Comm& comm) {
    wsi::SlidePlan plan = sample_plan();
    plan.row.id = "slide of rank " + std::to_string(comm.rank());
    plan.tiles.resize(comm.rank());  // 0, 1, 2 tiles: messages of different lengths
    return wsi::all_gather_message(comm, plan, "slide plans");
  });
  for (const auto& plans : gathered) {
    REQUIRE(plans.size() == 3);
    for (size_t r = 0; r < plans.size(); ++r) {
      CHECK(plans[r].row.id == "slide of rank " + std::to_string(r));
      CHECK(plans[r].tiles.size() == r);
      CHECK(plans[r].row.error == sample_plan().row.error);
    }
  }
  const auto concatenated = wsi::test::run_ranks<std::vector<int64_t>>(3, [](const wsi::Comm& comm) {
    return wsi::all_gather_concat(comm, std::vector<int64_t>(comm.rank(), comm.rank()), "values");
  });
  for (const auto& values : concatenated) CHECK(values == std::vector<int64_t>{1, 2, 2});
}

TEST_CASE("tagged messages between in-process ranks keep each sender's order per tag", "[comm]") {
  const auto received = wsi::test::run_ranks<std::vector<std::string>>(2, [](const wsi::Comm& comm) {
    std::vector<std::string> got;
    if (comm.rank() == 1) {
      for (const char* text : {"first", "second", "third"}) comm.send(0, 5, text);
      comm.send(0, 6, "other tag");
    }
    comm.barrier();
    if (comm.rank() == 0) {
      got.push_back(comm.try_receive(wsi::Comm::kAnySource, 6).value().bytes);  // another tag does not block
      while (auto message = comm.try_receive(1, 5)) got.push_back(message->bytes);
    }
    return got;
  });
  CHECK(received[0] == std::vector<std::string>{"other tag", "first", "second", "third"});
  CHECK(received[1].empty());
}
