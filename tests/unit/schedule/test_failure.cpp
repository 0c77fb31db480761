// agree_on over ranks that are threads of this process (unit/comm/in_process_comm.hpp): when
// every rank succeeded nobody throws; when one failed, every rank throws JobStopped with that
// rank's result, the failing rank its own message and the others one that names it.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "unit/comm/in_process_comm.hpp"
#include "wsi/schedule/failure.hpp"

using namespace wsi;

namespace {

struct Heard {
  bool stopped = false;
  StepResult result = StepResult::ok;
  std::string message;
};

// Every rank of 3 agrees on a step in which `failing` (-1: none) failed with `result`.
std::vector<Heard> agree(int failing, StepResult result) {
  return test::run_ranks<Heard>(3, [&](const Comm& comm) {
    Heard heard;
    try {
      const bool mine = comm.rank() == failing;
      agree_on(comm, "opening the model", mine ? result : StepResult::ok, mine ? "no such file" : "");
    } catch (const JobStopped& e) {
      heard = {true, e.result(), e.what()};
    }
    return heard;
  });
}

}  // namespace

TEST_CASE("agree_on: nobody stops when every rank succeeded", "[schedule]") {
  for (const Heard& heard : agree(-1, StepResult::ok)) CHECK_FALSE(heard.stopped);
}

TEST_CASE("agree_on: one rank's failure stops every rank, each saying why", "[schedule]") {
  const std::vector<Heard> heard = agree(1, StepResult::refused);
  for (const Heard& rank : heard) {
    CHECK(rank.stopped);
    CHECK(rank.result == StepResult::refused);
  }
  CHECK(heard[1].message == "no such file");
  CHECK(heard[0].message == "stopped because rank 1 failed (opening the model): no such file");
  CHECK(heard[2].message == heard[0].message);
}
