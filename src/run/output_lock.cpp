// The output lock, see output_lock.hpp.
#include "run/output_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <stdexcept>

#include "wsi/run/job_runner.hpp"

namespace wsi::run {
namespace {

namespace fs = std::filesystem;

// NAME.lock in the real folder of `output`; refuses a link or a file with several names.
std::string lock_file_for(const std::string& output) {
  const fs::path given(output);
  if (!given.has_filename()) throw JobRefused("the output '" + output + "' names no file");
  std::error_code error;
  const fs::path folder = fs::canonical(given.parent_path().empty() ? fs::path(".") : given.parent_path(), error);
  if (error) throw JobRefused("the folder of the output '" + output + "' cannot be resolved: " + error.message());
  struct stat status;
  if (::lstat(output.c_str(), &status) == 0) {
    if (S_ISLNK(status.st_mode))
      throw JobRefused("the output '" + output +
                       "' is a symbolic link: it is written in place, give the file's own path");
    if (!S_ISREG(status.st_mode)) throw JobRefused("the output '" + output + "' is not a regular file");
    if (status.st_nlink > 1)
      throw JobRefused("the output '" + output + "' has " + std::to_string(status.st_nlink) +
                       " names (hard links): a job writing it under another name would not see this job's lock; "
                       "remove the other names, or write a copy");
  }
  return (folder / given.filename()).string() + ".lock";
}

bool no_working_flock(int error) {
  return error == ENOLCK || error == EOPNOTSUPP || error == ENOTSUP || error == ENOSYS || error == EINVAL;
}

std::string holder_record() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  char since[32] = {};
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  std::strftime(since, sizeof since, "%Y-%m-%d %H:%M:%S UTC", &utc);
  return std::string(host) + ":" + std::to_string(::getpid()) + " since " + since;
}

// Whether `fd` is still the file at `path`: the holder removes the lock file when it ends, so a
// job that locked the removed file must open the new one and try again.
bool still_linked(int fd, const std::string& path) {
  struct stat held, named;
  return ::fstat(fd, &held) == 0 && ::stat(path.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
         held.st_ino == named.st_ino;
}

}  // namespace

OutputLock::OutputLock(const std::string& output) : path_(lock_file_for(output)) {
  while (!lock_once(output)) {
  }
  // The flock is what counts: a failed write only leaves the holder's description out.
  const std::string holder = holder_record();
  if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, holder.data(), holder.size(), 0);
}

bool OutputLock::lock_once(const std::string& output) {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error("cannot open the lock file '" + path_ + "': " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    char text[512] = {};
    const ssize_t n = error == EWOULDBLOCK ? ::pread(fd_, text, sizeof text - 1, 0) : 0;
    ::close(fd_);
    fd_ = -1;
    const std::string holder = n > 0 ? std::string(text, static_cast<size_t>(n)) : "a job not yet named in it";
    if (error == EWOULDBLOCK)
      throw JobRefused(output + " is being written by another job (lock " + path_ + " held by " + holder +
                       "); wait for it to end, or write another output");
    if (no_working_flock(error))
      throw JobRefused("the file system of '" + path_ + "' has no working flock (" + std::strerror(error) +
                       "): no other job could be kept from writing " + output +
                       " at the same time; write the output where locks work (Lustre: mounted with -o flock)");
    throw std::runtime_error("could not lock '" + path_ + "' (" + std::strerror(error) + ")");
  }
  if (still_linked(fd_, path_)) return true;
  ::close(fd_);
  fd_ = -1;
  return false;
}

OutputLock::~OutputLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still holding it, so no job ends up holding a removed file
  ::close(fd_);
}

}  // namespace wsi::run
