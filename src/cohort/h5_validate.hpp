// Private: the one validation layer every reader of a cohort file goes through (inspect, render,
// export, aggregate and the resume of run; docs/cohort-file.md "What a reader checks"). A cohort
// file is untrusted input: before anything is allocated or indexed, each object a reader uses is
// looked up in the layout table (h5_validate.cpp) and checked -- a dataset behind hard links, its
// element type (class, size, sign), rank and shape against the file's counts -- and every read
// is held to max_read_bytes(). Attributes are read only as scalars of the right class. A file
// that does not hold together throws CohortFileRefused. Thread-safety: none.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "cohort/h5_handle.hpp"
#include "wsi/cohort/cohort_file.hpp"

namespace wsi::h5 {

// "'<path>' is not a consistent wsi-mpi cohort file: <what>". An invalid_argument: every command
// refuses such a file with exit status 2, like other bad input.
class CohortFileRefused : public std::invalid_argument {
 public:
  CohortFileRefused(const std::string& path, const std::string& what);
};

// What a reader accepts; the writer stays below each.
inline constexpr hsize_t kMaxClasses = 4096;
inline constexpr hsize_t kMaxFeatureSize = 65536;            // D of /tiles/features, E of embeddings
inline constexpr hsize_t kMaxUmapComponents = 64;            // columns of /tiles/umap
inline constexpr hsize_t kMaxMapPixels = hsize_t{1} << 30;   // per map, as planning caps them
inline constexpr hsize_t kMaxMapSide = hsize_t{1} << 20;
inline constexpr hsize_t kMaxStatsRanks = hsize_t{1} << 20;
inline constexpr hsize_t kMaxEmbeddings = 4096;              // members of /slides/embeddings
inline constexpr hsize_t kMaxChunks = hsize_t{1} << 20;      // per dataset (maps: 256 x 256 each)
inline constexpr size_t kMaxStringBytes = size_t{1} << 20;   // one string element or attribute
inline constexpr size_t kMaxKeyBytes = 255;                  // /slides/key: a plain file name
// Bytes one read may allocate: an eighth of this machine's memory, at most 4 GiB.
uint64_t max_read_bytes();

// The counts a file's shapes are expressed in: S slides (/slides/key), N tiles (/tiles/slide),
// U units (/progress/units), C classes (/job/class_names), F features (/job/feature_size).
struct Counts {
  hsize_t slides = 0, tiles = 0, units = 0, classes = 0, features = 0;
};

// A cohort file open for reading or for writing in place (serial or MPI-IO), checked as it is
// used. Does not own the file.
class CheckedFile {
 public:
  // Checks the root's format attributes and reads the counts (each from a checked dataset).
  CheckedFile(hid_t file, std::string path);
  const std::string& path() const { return path_; }
  const Counts& counts() const { return counts_; }
  [[noreturn]] void refuse(const std::string& what) const;

  // Whether `name` exists; a link on the way that is not a hard link is refused.
  bool has(const std::string& name) const;
  // The dataset `name` (an entry of the layout table, /maps/<key>/<map> or
  // /{slides,progress}/embeddings/<name>), checked against the layout; refused when missing.
  Handle open(const std::string& name) const;
  std::vector<hsize_t> dims(const std::string& name) const;
  // Every object of the layout table, the /maps/<key> of each key and every embedding; returns
  // the slide keys, each a unique plain file name.
  std::vector<std::string> check_layout() const;

  // Whole datasets and row ranges [first, first + count), held to max_read_bytes().
  template <class T>
  std::vector<T> all(const std::string& name, hid_t mem_type) const {
    Handle dataset = open(name);
    std::vector<T> out(read_elements(dataset, name, sizeof(T), nullptr, 0));
    read_all(dataset, name, mem_type, out.data());
    return out;
  }
  template <class T>
  std::vector<T> rows(const std::string& name, hid_t mem_type, int64_t first, int64_t count) const {
    return rows<T>(open(name), name, mem_type, first, count);
  }
  // Of a dataset this file opened (a collective open, kept by a parallel reader).
  template <class T>
  std::vector<T> rows(const Handle& dataset, const std::string& name, hid_t mem_type, int64_t first,
                      int64_t count) const {
    std::vector<T> out(read_elements(dataset, name, sizeof(T), &first, count));
    read_rows(dataset, name, mem_type, first, count, out.data());
    return out;
  }
  std::vector<std::string> strings(const std::string& name) const;
  std::string string(const std::string& name) const;  // a scalar string dataset

 private:
  // Elements of the whole dataset (first null) or of rows [*first, *first + count), refused
  // when out of range or past max_read_bytes().
  size_t read_elements(const Handle& dataset, const std::string& name, size_t element_bytes, const int64_t* first,
                       int64_t count) const;
  void read_all(const Handle& dataset, const std::string& name, hid_t mem_type, void* data) const;
  void read_rows(const Handle& dataset, const std::string& name, hid_t mem_type, int64_t first, int64_t count,
                 void* data) const;
  void check_embeddings() const;

  hid_t file_;
  std::string path_;
  Counts counts_;
  bool counted_ = false;  // false while the constructor reads the counts
};

// Attributes: "" / 0 when absent; refused unless a scalar of the right class (a string of at most
// kMaxStringBytes; an integer of at most 8 bytes).
std::string read_string_attribute(hid_t object, const char* name, const Where& where);
int read_int_attribute(hid_t object, const char* name, const Where& where);
// Throws std::invalid_argument, naming the file, unless its root says format kCohortFormat,
// version kCohortFormatVersion.
void check_format(hid_t file, const std::string& path);

// /progress/planned, refused unless within the file's counts (the tables may hold more rows:
// a killed extension).
PlannedCounts planned_counts(const CheckedFile& file);
// The summary cut to the planned part: units past it dropped, slides past it read as pending,
// without tiles or maps.
void keep_planned(const PlannedCounts& planned, CohortSummary& summary);

// Every value a reader trusts as an index, a count or a size, checked against the rest of the file.
void check_consistent(const CheckedFile& file, const CohortSummary& summary);

}  // namespace wsi::h5
