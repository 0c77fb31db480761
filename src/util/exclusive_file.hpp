// New files are never written at their final name: each is made beside it under a fresh name
// (FINAL.<random>.partial) with O_CREAT | O_EXCL | O_NOFOLLOW and renamed into place once
// complete, so that a link planted at either name cannot make a command write another file, and
// a killed command leaves no half file under the final name. (Files extended in place, the
// cohort file of a resume or of `aggregate`, are checked by the output lock, src/run/output_lock.hpp.)
#pragma once
#include <string>
#include <string_view>

namespace wsi {

// Removes `path` if it is there (a link is removed, not followed). Throws naming the file.
void remove_leftover(const std::string& path);

// One new file on its way to `target`. The constructor creates the fresh partial file (mode
// 0666 less the umask); commit() closes it and renames it over `target`; a partial file never
// committed is removed by the destructor. Writers that need a path (libraries that open files
// themselves) may reopen path() with truncation: it is this process's fresh file, and commit()
// refuses to rename unless path() still is the file made here.
class AtomicOutput {
 public:
  explicit AtomicOutput(std::string target);
  ~AtomicOutput();
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  const std::string& path() const { return partial_; }
  const std::string& target() const { return target_; }
  int fd() const { return fd_; }
  void write(std::string_view bytes);
  void commit();

 private:
  std::string target_, partial_;
  int fd_ = -1;
  bool committed_ = false;
};

// One new folder on its way to `target` (a store of several files, such as a Zarr store): the
// constructor makes a fresh empty folder beside it (FINAL.<random>.partial, mode 0777 less the
// umask), which the caller fills; commit() renames it to `target`. Whatever is at `target`
// (an older folder, a file or a link, never followed) is swapped out in one rename and then
// removed, so readers see the old store or the new one, never a mix. A folder never committed
// is removed by the destructor.
class AtomicFolder {
 public:
  explicit AtomicFolder(std::string target);
  ~AtomicFolder();
  AtomicFolder(const AtomicFolder&) = delete;
  AtomicFolder& operator=(const AtomicFolder&) = delete;

  const std::string& path() const { return partial_; }
  void commit();

 private:
  std::string target_, partial_;
  bool committed_ = false;
};

// `text` as a new file at `target`, through AtomicOutput. Throws naming the file.
void write_file_atomically(const std::string& target, std::string_view text);

}  // namespace wsi
