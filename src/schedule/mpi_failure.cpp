// Failures that end the job on every rank, see include/wsi/schedule/failure.hpp.
#include "wsi/schedule/failure.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "comm/mpi_comm.hpp"
#include "wsi/comm/message.hpp"

namespace wsi {
namespace {

constexpr int kTagFailed = 31;
// A rank that heard of another's failure waits this long for the abort that failing rank
// starts, then aborts the job itself (the failing rank may have died before it could).
constexpr double kAbortGrace = 15.0;

}  // namespace

void agree_on(const Comm& comm, const std::string& what, StepResult result, const std::string& message) {
  const std::vector<StepResult> results = all_gather_message(comm, result, "step results");
  const auto first = std::find_if(results.begin(), results.end(), [](StepResult r) { return r != StepResult::ok; });
  if (first == results.end()) return;
  const int failed = static_cast<int>(first - results.begin());
  const std::string text = comm.broadcast(comm.rank() == failed ? message : std::string(), failed);
  if (comm.rank() == failed) throw JobStopped(text, *first);
  throw JobStopped("stopped because rank " + std::to_string(failed) + " failed (" + what + "): " + text, *first);
}

struct FailureWatch::State {
  Comm comm;
  AbortJob abort_job;
  std::atomic<bool> quit{false};
  State(Comm c, AbortJob abort) : comm(std::move(c)), abort_job(std::move(abort)) {}
};

FailureWatch::FailureWatch(const Comm& comm, AbortJob abort_job)
    : state_(std::make_shared<State>(comm.duplicate(), std::move(abort_job))) {
  thread_ = std::thread([state = state_] {
    const MPI_Comm c = state->comm.handle().comm;
    while (!state->quit) {
      int flag = 0;
      MPI_Status status;
      if (MPI_Iprobe(MPI_ANY_SOURCE, kTagFailed, c, &flag, &status) != MPI_SUCCESS) return;
      if (!flag) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      int length = 0;
      MPI_Get_count(&status, MPI_CHAR, &length);
      std::string message(static_cast<size_t>(length), '\0');
      MPI_Recv(message.data(), length, MPI_CHAR, status.MPI_SOURCE, kTagFailed, c, MPI_STATUS_IGNORE);
      spdlog::error("the job stopped because rank {} failed: {}", status.MPI_SOURCE, message);
      spdlog::default_logger()->flush();
      const auto heard = std::chrono::steady_clock::now();
      while (!state->quit && std::chrono::steady_clock::now() - heard < std::chrono::duration<double>(kAbortGrace))
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (!state->quit) state->abort_job();
      return;
    }
  });
}

FailureWatch::~FailureWatch() {
  state_->quit = true;
  if (thread_.joinable()) thread_.join();
}

void FailureWatch::announce(const std::string& message) {
  const MPI_Comm c = state_->comm.handle().comm;
  const int me = state_->comm.rank(), ranks = state_->comm.size();
  std::vector<MPI_Request> requests;
  for (int r = 0; r < ranks; ++r) {
    if (r == me) continue;
    requests.emplace_back();
    MPI_Isend(message.data(), static_cast<int>(message.size()), MPI_CHAR, r, kTagFailed, c, &requests.back());
  }
  // Small messages go out at once; give up after 2 s (a dead peer) and let the abort do the rest.
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    int done = 0;
    MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE);
    if (done || std::chrono::steady_clock::now() - start > std::chrono::seconds(2)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the others log before the abort
}

}  // namespace wsi
