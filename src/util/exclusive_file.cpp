// Exclusive creation of the job's side files, see exclusive_file.hpp.
#include "util/exclusive_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace wsi {

namespace {
[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::runtime_error("cannot " + what + " '" + path + "': " + std::strerror(errno));
}
}  // namespace

void remove_leftover(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail("remove the leftover", path);
}

int create_exclusive(const std::string& path) {
  remove_leftover(path);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) fail("create", path);
  return fd;
}

void write_file_atomically(const std::string& path, const std::string& target, const std::string& text) {
  const int fd = create_exclusive(path);
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      ::close(fd);
      errno = error;
      fail("write", path);
    }
    written += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) fail("close", path);
  if (std::rename(path.c_str(), target.c_str()) != 0) fail("rename into place", path);
}

}  // namespace wsi
