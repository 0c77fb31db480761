// One writer per cohort file: rank 0 of `run`, `plan` and `aggregate` holds an exclusive flock on
// a lock file for the whole job (the kernel drops it when the process dies, so a crashed job
// never leaves it stuck). The lock is keyed on the file, not on how the path is spelled: the
// lock file is NAME.lock in the cohort file's real folder (symbolic links, `.` and `..` in the
// path resolved), so every spelling of one path meets the same lock, also before the file exists
// (the run creates it by renaming its partial file to NAME, which keeps the folder and name).
// A file with more than one name (hard links) is refused: a job writing it under another name
// would not see the lock. The lock file records "host:pid since <UTC time>" for the message a
// second job gets. The holder removes the lock file as it ends (while still holding it; a job
// that locked a file since removed opens the new one), so a finished job leaves none behind.
// Private to src/run/.
#pragma once
#include <string>

namespace wsi::run {

class OutputLock {
 public:
  // Throws JobRefused when another job holds the lock (naming its host, pid and start), when the
  // file is a symbolic link or has hard links, or when the file system has no working flock
  // (saying so); std::runtime_error (with the errno text) when locking fails otherwise.
  explicit OutputLock(const std::string& output);
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

 private:
  // Opens and locks path_; false when the file was removed meanwhile (try again).
  bool lock_once(const std::string& output);
  std::string path_;
  int fd_ = -1;
};

}  // namespace wsi::run
