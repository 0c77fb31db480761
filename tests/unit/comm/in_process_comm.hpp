// A fake Comm for unit tests: N ranks that are threads of this process, talking through queues
// (src/comm/comm_backend.hpp), so that what runs over Comm -- the coordinator's protocol,
// agree_on, messages gathered from every rank -- is tested without mpirun. Point-to-point
// messages keep MPI's order per sender and tag; a collective that a rank never joins throws
// after `timeout_s` on the ranks that did, instead of hanging the test.
#pragma once
#include <exception>
#include <functional>
#include <thread>
#include <vector>

#include "wsi/comm/comm.hpp"

namespace wsi::test {

// The ranks of one in-process world, rank r at index r.
std::vector<Comm> in_process_world(int ranks, double timeout_s = 30.0);

// Runs `rank_main(comm)` of every rank of a fresh in-process world on a thread of its own and
// returns the results in rank order; rethrows the first rank's exception after every thread
// ended. Catch2's assertions belong to the test's thread: rank_main returns what to check.
template <typename Result>
std::vector<Result> run_ranks(int ranks, const std::function<Result(const Comm&)>& rank_main) {
  const std::vector<Comm> world = in_process_world(ranks);
  std::vector<Result> results(ranks);
  std::vector<std::exception_ptr> errors(ranks);
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      try {
        results[r] = rank_main(world[r]);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  for (std::thread& thread : threads) thread.join();
  for (const std::exception_ptr& error : errors)
    if (error) std::rethrow_exception(error);
  return results;
}

}  // namespace wsi::test
