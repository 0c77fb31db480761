// The Comm value type on one rank: messages of any size go in rounds of at most `chunk` bytes.
#include <catch2/catch.hpp>

#include <string>
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
