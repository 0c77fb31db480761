// Failures that end the job on every rank, see include/wsi/schedule/failure.hpp.
#include "wsi/schedule/failure.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

#include <spdlog/spdlog.h>

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
    try {
      while (!state->quit) {
        const auto message = state->comm.try_receive(Comm::kAnySource, kTagFailed);
        if (!message) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          continue;
        }
        spdlog::error("the job stopped because rank {} failed: {}", message->source,
                      decode_message<std::string>(message->bytes, "failure message"));
        spdlog::default_logger()->flush();
        break;
      }
    } catch (const std::exception& e) {  // MPI itself failed: nobody can tell this rank any more
      spdlog::error("the failure watch stopped: {}", e.what());
      spdlog::default_logger()->flush();
    }
    // Heard of a failure, or MPI broke: the failing rank aborts the job; if it died before it
    // could, this rank does after the grace period.
    const auto heard = std::chrono::steady_clock::now();
    while (!state->quit && std::chrono::steady_clock::now() - heard < std::chrono::duration<double>(kAbortGrace))
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!state->quit) state->abort_job();
  });
}

FailureWatch::~FailureWatch() {
  state_->quit = true;
  if (thread_.joinable()) thread_.join();
}

void FailureWatch::announce(const std::string& message) {
  // Small messages go out at once; give up after 2 s (a dead peer) and let the abort do the rest.
  try {
    state_->comm.send_to_others(kTagFailed, encode_message(message), 2.0);
  } catch (const std::exception& e) {
    spdlog::error("could not tell the other ranks: {}", e.what());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the others log before the abort
}

}  // namespace wsi
