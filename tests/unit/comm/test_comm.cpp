// The Comm value type: collectives of any size go in rounds of at most `chunk` bytes; tagged
// messages between ranks; an MPI error comes back as our exception. The [.mpi] case runs under
// `mpirun -n 2` (ctest unit.mpi_ranks).
#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "wsi/comm/message.hpp"

using wsi::test::world;

TEST_CASE("messages between ranks of any size go in rounds", "[comm]") {
  const auto& comm = world();
  std::string big(1000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + 3);
  for (const size_t chunk : {size_t{1}, size_t{7}, size_t{999}, size_t{1000}, size_t{1} << 30}) {
    INFO("chunk " << chunk);
    const auto parts = comm.all_gather(big, chunk);
    REQUIRE(parts.size() == static_cast<size_t>(comm.size()));
    CHECK(parts[comm.rank()] == big);
    CHECK(comm.all_gather(std::string(), chunk)[0].empty());
  }
  CHECK(wsi::all_gather_concat(comm, std::vector<int64_t>{5, -6}, "values") == std::vector<int64_t>{5, -6});
  CHECK(wsi::all_gather_concat(comm, std::vector<int64_t>{}, "values").empty());
  CHECK(comm.broadcast(big, 0) == big);
}

namespace {

// Waits (at most 30 s) for a message with `tag` from `source`; no assertion here (it also runs
// on a thread of its own, and Catch2's assertions belong to the test's thread).
std::optional<wsi::Comm::Received> receive_within(const wsi::Comm& comm, int source, int tag) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto message = comm.try_receive(source, tag)) return message;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("tagged messages: to itself, nothing when none came, and MPI errors as exceptions", "[comm]") {
  const auto comm = world().duplicate();
  CHECK_FALSE(comm.try_receive(wsi::Comm::kAnySource, 7).has_value());
  comm.send(comm.rank(), 7, std::string("a\0b", 3));
  const auto message = receive_within(comm, wsi::Comm::kAnySource, 7);
  REQUIRE(message);
  CHECK(message->source == comm.rank());
  CHECK(message->bytes == std::string("a\0b", 3));
  CHECK_FALSE(comm.try_receive(wsi::Comm::kAnySource, 7).has_value());
  // MPI_ERRORS_RETURN: a send to a rank that does not exist is our exception, not an abort.
  CHECK_THROWS_WITH(comm.send(comm.size(), 7, "x"), Catch::Contains("MPI failed sending a message on rank"));
}

TEST_CASE("tagged messages between ranks: to one rank and to every other", "[.mpi]") {
  const auto comm = world().duplicate();
  REQUIRE(comm.size() > 1);
  const int next = (comm.rank() + 1) % comm.size(), previous = (comm.rank() + comm.size() - 1) % comm.size();
  comm.send(next, 3, "from " + std::to_string(comm.rank()));
  const auto message = receive_within(comm, previous, 3);
  REQUIRE(message);
  CHECK(message->source == previous);
  CHECK(message->bytes == "from " + std::to_string(previous));
  // A big message completes only once its receiver takes it (rendezvous): receive beside the send.
  std::vector<std::optional<wsi::Comm::Received>> heard;
  std::thread receiver([&] {
    for (int i = 0; i + 1 < comm.size(); ++i) heard.push_back(receive_within(comm, wsi::Comm::kAnySource, 4));
  });
  const bool sent = comm.send_to_others(4, std::string(100000, static_cast<char>('a' + comm.rank())), 30.0);
  receiver.join();
  CHECK(sent);
  REQUIRE(heard.size() == static_cast<size_t>(comm.size() - 1));
  for (const auto& m : heard) {
    REQUIRE(m);
    CHECK(m->source != comm.rank());
    CHECK(m->bytes == std::string(100000, static_cast<char>('a' + m->source)));
  }
  comm.barrier();
}
