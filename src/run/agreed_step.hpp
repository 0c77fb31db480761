// Private to src/run/: the one conversion of a step's exception into the result the ranks agree
// on at an agreed point (start, resume, recording the configuration, aggregate's start).
#pragma once
#include <stdexcept>
#include <string>

#include "wsi/comm/comm.hpp"
#include "wsi/run/job_runner.hpp"
#include "wsi/schedule/failure.hpp"

namespace wsi::run {

// Collective. Runs `step` on this rank; JobRefused and std::invalid_argument (the job cannot run
// as asked) make it refused, any other exception failed; then agree_on(), so that every rank
// throws JobStopped when any rank's step did not succeed.
template <class Step>
void agreed_step(const Comm& comm, const std::string& what, Step step) {
  StepResult result = StepResult::ok;
  std::string message;
  try {
    step();
  } catch (const JobRefused& e) {
    result = StepResult::refused, message = e.what();
  } catch (const std::invalid_argument& e) {
    result = StepResult::refused, message = e.what();
  } catch (const std::exception& e) {
    result = StepResult::failed, message = e.what();
  }
  agree_on(comm, what, result, message);
}

}  // namespace wsi::run
