// Private: the thin HDF5 layer under the cohort file (HighFive's idea, written small).
// - Handle owns one hid_t and closes it with the matching H5*close (found by H5Iget_type).
// - check() turns a negative HDF5 return into std::runtime_error naming the file, the object
//   and the innermost message of HDF5's error stack.
// - quiet_errors() switches off HDF5's automatic printing of its error stack (we throw instead).
// Only src/cohort/h5_*.cpp include this header (and hdf5.h).
// Thread-safety: none; HDF5 calls come from one thread per rank.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <string>

namespace wsi::h5 {

class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(other.id_) { other.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t id() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }
  // Closes now; logs (never throws) when HDF5 refuses. While this process has a file open with
  // MPI-IO (see ParallelFileOpen), objects are left open while an exception unwinds: closing
  // one may be collective, and the other ranks may never get there.
  void reset() noexcept;
  // Closes now and throws when HDF5 refuses (for the file, where a failed close matters).
  void close(const std::string& file, const std::string& object);

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Where an HDF5 call happened, for error messages.
struct Where {
  std::string file;
  std::string object;
};

// Throws std::runtime_error("HDF5 <action> failed (file '...', object '...'): <innermost>").
[[noreturn]] void fail(const Where& where, const std::string& action);

inline hid_t check(hid_t result, const Where& where, const char* action) {
  if (result < 0) fail(where, action);
  return result;
}
inline Handle make(hid_t result, const Where& where, const char* action) {
  return Handle(check(result, where, action));
}

// Counts a file open with MPI-IO for as long as it lives (held next to the file's Handle).
struct ParallelFileOpen {
  ParallelFileOpen();
  ~ParallelFileOpen();
  ParallelFileOpen(const ParallelFileOpen&) = delete;
  ParallelFileOpen& operator=(const ParallelFileOpen&) = delete;
};

// Switches off HDF5's automatic error printing for the calling thread (idempotent, cheap).
void quiet_errors();

}  // namespace wsi::h5
