// One job per output: rank 0 holds OUT.h5.lock for the whole run (an exclusive flock on it,
// which the kernel drops when the process dies, so a crashed job never leaves it stuck; the file
// names the host and pid that hold it, for the message a second job gets). Private to src/run/.
#pragma once
#include <string>

namespace wsi::run {

class OutputLock {
 public:
  // Throws JobRefused naming the host and pid of the job that holds it.
  explicit OutputLock(const std::string& output);
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace wsi::run
