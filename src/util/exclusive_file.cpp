// New files made beside their final name and renamed into place, see exclusive_file.hpp.
#include "util/exclusive_file.hpp"

#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>

namespace wsi {

namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::runtime_error("cannot " + what + " '" + path + "': " + std::strerror(errno));
}

std::string random_suffix() {
  static constexpr char kLetters[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 generator{std::random_device{}()};
  std::string suffix(8, 'a');
  for (char& c : suffix) c = kLetters[generator() % (sizeof kLetters - 1)];
  return suffix;
}

}  // namespace

void remove_leftover(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail("remove the leftover", path);
}

AtomicOutput::AtomicOutput(std::string target) : target_(std::move(target)) {
  // A name another process made first (a planted link included) is never opened: O_EXCL fails
  // on it, and the next random name is tried.
  for (int attempt = 0; attempt < 16; ++attempt) {
    partial_ = target_ + "." + random_suffix() + ".partial";
    fd_ = ::open(partial_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd_ >= 0) return;
    if (errno != EEXIST) fail("create", partial_);
  }
  fail("create a fresh partial file for", target_);
}

AtomicOutput::~AtomicOutput() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(partial_.c_str());
}

void AtomicOutput::write(std::string_view bytes) {
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write", partial_);
    written += static_cast<size_t>(n);
  }
}

void AtomicOutput::commit() {
  // What a library reopened by name must still be the file made here, not a link put in its place.
  struct stat made, named;
  if (::fstat(fd_, &made) != 0) fail("inspect", partial_);
  if (::lstat(partial_.c_str(), &named) != 0) fail("inspect", partial_);
  if (made.st_dev != named.st_dev || made.st_ino != named.st_ino)
    throw std::runtime_error("'" + partial_ + "' was replaced while it was written; '" + target_ +
                             "' is left as it was");
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("close", partial_);
  if (std::rename(partial_.c_str(), target_.c_str()) != 0) fail("rename into place", partial_);
  committed_ = true;
}

AtomicFolder::AtomicFolder(std::string target) : target_(std::move(target)) {
  // mkdir never follows a link and fails on any name that is there: the folder is this process's.
  for (int attempt = 0; attempt < 16; ++attempt) {
    partial_ = target_ + "." + random_suffix() + ".partial";
    if (::mkdir(partial_.c_str(), 0777) == 0) return;
    if (errno != EEXIST) fail("create", partial_);
  }
  fail("create a fresh partial folder for", target_);
}

AtomicFolder::~AtomicFolder() {
  std::error_code ignored;
  if (!committed_) std::filesystem::remove_all(partial_, ignored);
}

void AtomicFolder::commit() {
  if (::renameat2(AT_FDCWD, partial_.c_str(), AT_FDCWD, target_.c_str(), RENAME_NOREPLACE) == 0) {
    committed_ = true;
    return;
  }
  if (errno != EEXIST) fail("rename into place", partial_);
  // Something is at the target: exchange the two in one step, then remove the old one, which is
  // now at the partial name (remove_all removes links, it does not follow them).
  if (::renameat2(AT_FDCWD, partial_.c_str(), AT_FDCWD, target_.c_str(), RENAME_EXCHANGE) != 0)
    fail("swap into place", partial_);
  committed_ = true;
  std::error_code error;
  std::filesystem::remove_all(partial_, error);
  if (error) throw std::runtime_error("cannot remove the replaced '" + partial_ + "': " + error.message());
}

void write_file_atomically(const std::string& target, std::string_view text) {
  AtomicOutput output(target);
  output.write(text);
  output.commit();
}

}  // namespace wsi
