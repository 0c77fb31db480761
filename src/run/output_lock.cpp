// The output lock, see output_lock.hpp.
#include "run/output_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "wsi/run/job_runner.hpp"

namespace wsi::run {

OutputLock::OutputLock(const std::string& output) {
  const std::string path = output + ".lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw std::runtime_error("cannot open the lock file '" + path + "': " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char holder[256] = {};
    const ssize_t n = ::pread(fd_, holder, sizeof holder - 1, 0);
    ::close(fd_);
    fd_ = -1;
    throw JobRefused(output + " is being written by another job (" +
                     (n > 0 ? std::string(holder, static_cast<size_t>(n)) : std::string("holder unknown")) +
                     ", lock " + path + "); wait for it to end, or write another output");
  }
  char host[128] = {};
  ::gethostname(host, sizeof host - 1);
  const std::string holder = "host " + std::string(host) + ", pid " + std::to_string(::getpid());
  // The flock is what counts: a failed write only leaves the holder's description out.
  if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, holder.data(), holder.size(), 0);
}

OutputLock::~OutputLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock; the file stays, unlocked
}

}  // namespace wsi::run
