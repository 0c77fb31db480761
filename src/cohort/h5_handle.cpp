// The thin HDF5 layer, see h5_handle.hpp.
#include "cohort/h5_handle.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <exception>
#include <stdexcept>

namespace wsi::h5 {
namespace {

// Files this process has open with the MPI-IO driver (asking HDF5 which driver a file uses is
// itself collective for MPI-IO: H5Fget_access_plist duplicates the communicator).
std::atomic<int> g_parallel_files{0};

herr_t close_id(hid_t id) {
  switch (H5Iget_type(id)) {
    case H5I_FILE: return H5Fclose(id);
    case H5I_GROUP: return H5Gclose(id);
    case H5I_DATASET: return H5Dclose(id);
    case H5I_DATASPACE: return H5Sclose(id);
    case H5I_DATATYPE: return H5Tclose(id);
    case H5I_ATTR: return H5Aclose(id);
    case H5I_GENPROP_LST: return H5Pclose(id);
    default: return H5Idec_ref(id) < 0 ? -1 : 0;
  }
}

struct Innermost {
  std::string function, message;
  bool found = false;
};

// H5E_WALK_UPWARD starts at the function where the error was first detected.
herr_t take_innermost(unsigned /*n*/, const H5E_error2_t* error, void* data) {
  auto* out = static_cast<Innermost*>(data);
  if (!out->found) {
    out->function = error->func_name ? error->func_name : "";
    out->message = error->desc ? error->desc : "";
    out->found = true;
  }
  return 0;
}

std::string innermost_message() {
  Innermost innermost;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_innermost, &innermost);
  H5Eclear2(H5E_DEFAULT);
  if (!innermost.found) return "no message on HDF5's error stack";
  return innermost.message + " (in " + innermost.function + ")";
}

}  // namespace

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    other.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::reset() noexcept {
  if (id_ < 0) return;
  const hid_t id = id_;
  id_ = H5I_INVALID_HID;
  if (H5Iis_valid(id) <= 0) return;
  // Closing a file opened with MPI-IO, or a chunked dataset in one, may be collective: while an
  // exception unwinds (on this rank alone, perhaps), such objects are left open and the job is
  // aborted instead (see wsi/schedule/failure.hpp).
  if (std::uncaught_exceptions() > 0 && g_parallel_files > 0) return;
  if (close_id(id) < 0) {
    try {
      spdlog::warn("HDF5: closing an object failed: {}", innermost_message());
    } catch (...) {
    }
  }
}

void Handle::close(const std::string& file, const std::string& object) {
  if (id_ < 0) return;
  const hid_t id = id_;
  id_ = H5I_INVALID_HID;
  if (close_id(id) < 0) fail({file, object}, "closing");
}

void fail(const Where& where, const std::string& action) {
  std::string text = "HDF5 " + action + " failed (file '" + where.file + "'";
  if (!where.object.empty()) text += ", object '" + where.object + "'";
  throw std::runtime_error(text + "): " + innermost_message());
}

ParallelFileOpen::ParallelFileOpen() { ++g_parallel_files; }
ParallelFileOpen::~ParallelFileOpen() { --g_parallel_files; }

void quiet_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

}  // namespace wsi::h5
