// The cohort file's validation layer, see h5_validate.hpp: the layout table and CheckedFile.
#include "cohort/h5_validate.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "cohort/h5_layout.hpp"
#include "util/file_name.hpp"
#include "wsi/cohort/cohort_file.hpp"

namespace wsi::h5 {
namespace {

namespace n = names;

enum class Element { int8, uint8, int32, int64, float32, float16_or_32, float64, string };
// One dimension: a count of the file, a fixed number, or a size bounded by a cap.
enum class Count { fixed, slides, tiles, units, classes, features, map_side, stats_rows, embedding, umap };
struct Extent {
  Count count;
  hsize_t fixed = 0;
};
struct Layout {
  std::string name;
  Element element;
  std::vector<Extent> shape;  // empty: a scalar
  bool required = true;
  size_t min_width = 1, max_width = kMaxStringBytes;  // of a string element, bytes
};

constexpr Extent S{Count::slides}, N{Count::tiles}, U{Count::units}, C{Count::classes}, F{Count::features},
    Side{Count::map_side};
constexpr Extent fixed(hsize_t value) { return {Count::fixed, value}; }

// Every dataset outside /maps and the embeddings groups (docs/cohort-file.md "Layout").
const std::vector<Layout>& layout_table() {
  using E = Element;
  static const std::vector<Layout> table = {
      {n::kJobConfig, E::string, {}},
      {n::kJobFingerprint, E::string, {}},
      {n::kJobClassNames, E::string, {C}},
      {n::kJobFeatureSize, E::int64, {}},
      {n::kJobNumericConfig, E::string, {}, true, n::kNumericConfigBytes, n::kNumericConfigBytes},
      {n::kSlideId, E::string, {S}},
      {n::kSlideKey, E::string, {S}, true, 1, kMaxKeyBytes + 1},
      {n::kSlidePath, E::string, {S}},
      {n::kSlideStatus, E::int8, {S}},
      {n::kSlideError, E::string, {S}, true, n::kErrorBytes, n::kErrorBytes},
      {n::kSlideTileStart, E::int64, {S}},
      {n::kSlideTileCount, E::int64, {S}},
      {n::kSlideWidth, E::int64, {S}},
      {n::kSlideHeight, E::int64, {S}},
      {n::kSlideMpp, E::float64, {S}},
      {n::kSlideObjectivePower, E::float64, {S}},
      {n::kSlideScale, E::float64, {S}},
      {n::kSlideResolutionWidth, E::int64, {S}},
      {n::kSlideResolutionHeight, E::int64, {S}},
      {n::kSlideClassFractions, E::float32, {S, C}, false},
      {n::kTileSlide, E::int32, {N}},
      {n::kTileBounds, E::int32, {N, fixed(4)}},
      {n::kTileProbabilities, E::float32, {N, C}, false},
      {n::kTileFeatures, E::float16_or_32, {N, F}, false},
      {n::kTileUmap, E::float32, {N, {Count::umap}}, false},
      {n::kUmapDone, E::uint8, {S}, false},
      {n::kUnits, E::int64, {U, fixed(3)}},
      {n::kDone, E::uint8, {U}},
      {n::kUnitRank, E::int32, {U}},
      {n::kPlanned, E::int64, {fixed(3)}},
      {n::kEndState, E::int8, {}},
      {n::kStats, E::float64, {{Count::stats_rows}, fixed(static_cast<hsize_t>(n::kStatsColumnCount))}},
  };
  return table;
}

constexpr const char* kEmbeddingGroups[] = {"/slides/embeddings", "/progress/embeddings"};

// The layout of `name`: a table entry, a map or an embedding; a name outside the layout is a
// reader's bug, not the file's.
Layout layout_of(const std::string& name) {
  for (const Layout& entry : layout_table())
    if (entry.name == name) return entry;
  const auto member_of = [&](const std::string& group) {
    return name.size() > group.size() + 1 && name.compare(0, group.size() + 1, group + "/") == 0 &&
           name.find('/', group.size() + 1) == std::string::npos;
  };
  if (member_of(kEmbeddingGroups[0])) return {name, Element::float32, {S, {Count::embedding}}};
  if (member_of(kEmbeddingGroups[1])) return {name, Element::uint8, {S}};
  const std::string maps = std::string(n::kMaps) + "/";
  const size_t slash = name.rfind('/');
  if (name.compare(0, maps.size(), maps) == 0 && slash > maps.size() && slash == name.find('/', maps.size())) {
    const std::string map = name.substr(slash + 1);
    if (map == n::kMapPrediction || map == n::kMapTissue) return {name, Element::uint8, {Side, Side}};
    if (map == n::kMapThumbnail) return {name, Element::uint8, {Side, Side, fixed(3)}};
  }
  throw std::logic_error("cohort file layout has no dataset " + name);
}

std::string type_text(hid_t type) {
  const size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return (H5Tget_sign(type) == H5T_SGN_NONE ? "an unsigned integer of " : "an integer of ") +
             std::to_string(size) + " bytes";
    case H5T_FLOAT: return "a float of " + std::to_string(size) + " bytes";
    case H5T_STRING:
      return H5Tis_variable_str(type) > 0 ? "a variable-length string" : "a string of " + std::to_string(size) + " bytes";
    default: return "an HDF5 type of class " + std::to_string(static_cast<int>(H5Tget_class(type)));
  }
}

std::string element_text(const Layout& layout) {
  switch (layout.element) {
    case Element::int8: return "an integer of 1 bytes";
    case Element::uint8: return "an unsigned integer of 1 bytes";
    case Element::int32: return "an integer of 4 bytes";
    case Element::int64: return "an integer of 8 bytes";
    case Element::float32: return "a float of 4 bytes";
    case Element::float16_or_32: return "a float of 2 or 4 bytes";
    case Element::float64: return "a float of 8 bytes";
    case Element::string:
      return layout.min_width == layout.max_width
                 ? "a fixed-length string of " + std::to_string(layout.min_width) + " bytes"
                 : "a fixed-length string of at most " + std::to_string(layout.max_width) + " bytes";
  }
  return "";
}

bool element_matches(hid_t type, const Layout& layout) {
  const H5T_class_t type_class = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  const auto integer = [&](size_t bytes, bool is_signed) {
    return type_class == H5T_INTEGER && size == bytes && (H5Tget_sign(type) == H5T_SGN_2) == is_signed;
  };
  switch (layout.element) {
    case Element::int8: return integer(1, true);
    case Element::uint8: return integer(1, false);
    case Element::int32: return integer(4, true);
    case Element::int64: return integer(8, true);
    case Element::float32: return type_class == H5T_FLOAT && size == 4;
    case Element::float16_or_32: return type_class == H5T_FLOAT && (size == 2 || size == 4);
    case Element::float64: return type_class == H5T_FLOAT && size == 8;
    case Element::string:
      return type_class == H5T_STRING && H5Tis_variable_str(type) == 0 && size >= layout.min_width &&
             size <= layout.max_width;
  }
  return false;
}

std::string dims_text(const std::vector<hsize_t>& dims) {
  std::string text = "[";
  for (size_t i = 0; i < dims.size(); ++i) text += (i ? ", " : "") + std::to_string(dims[i]);
  return text + "]";
}

// Why a dataset's storage is refused, or "": its data in other files (external storage, a
// virtual dataset), or more chunks than a read can walk in seconds.
std::string storage_refusal(hid_t dataset, const std::vector<hsize_t>& dims, const Where& where) {
  Handle dcpl = make(H5Dget_create_plist(dataset), where, "getting a dataset's creation list");
  if (H5Pget_external_count(dcpl.id()) != 0) return " keeps its data in another file";
  const H5D_layout_t layout = H5Pget_layout(dcpl.id());
  if (layout == H5D_VIRTUAL || layout < 0) return " is a virtual dataset";
  if (layout != H5D_CHUNKED) return "";
  std::vector<hsize_t> chunk(dims.size());
  if (H5Pget_chunk(dcpl.id(), static_cast<int>(chunk.size()), chunk.data()) != static_cast<int>(dims.size()))
    return " has chunks of another rank";
  double chunks = 1;
  for (size_t i = 0; i < dims.size(); ++i) chunks *= std::ceil(double(dims[i]) / double(std::max<hsize_t>(chunk[i], 1)));
  if (chunks > double(kMaxChunks))
    return " has more than the " + std::to_string(kMaxChunks) + " chunks a reader walks";
  return "";
}

// out = a * b; false when that overflows.
bool multiply(uint64_t a, uint64_t b, uint64_t& out) { return !__builtin_mul_overflow(a, b, &out); }

}  // namespace

CohortFileRefused::CohortFileRefused(const std::string& path, const std::string& what)
    : std::invalid_argument("'" + path + "' is not a consistent wsi-mpi cohort file: " + what) {}

uint64_t max_read_bytes() {
  static const uint64_t bytes = [] {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    const uint64_t memory = pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : uint64_t{8} << 30;
    return std::min<uint64_t>(memory / 8, uint64_t{4} << 30);
  }();
  return bytes;
}

CheckedFile::CheckedFile(hid_t file, std::string path) : file_(file), path_(std::move(path)) {
  check_format(file_, path_);
  counts_.slides = dims(n::kSlideKey).at(0);
  counts_.tiles = dims(n::kTileSlide).at(0);
  counts_.units = dims(n::kUnits).at(0);
  counts_.classes = dims(n::kJobClassNames).at(0);
  if (counts_.classes > kMaxClasses)
    refuse(n::kJobClassNames + std::string(" lists ") + std::to_string(counts_.classes) + " classes, more than the " +
           std::to_string(kMaxClasses) + " a reader accepts");
  const int64_t feature_size = all<int64_t>(n::kJobFeatureSize, H5T_NATIVE_INT64).at(0);
  if (feature_size < 0 || static_cast<hsize_t>(feature_size) > kMaxFeatureSize)
    refuse(n::kJobFeatureSize + std::string(" is ") + std::to_string(feature_size) + ", outside 0.." +
           std::to_string(kMaxFeatureSize) + " (the feature sizes a reader accepts)");
  counts_.features = static_cast<hsize_t>(feature_size);
  counted_ = true;
}

std::vector<std::string> CheckedFile::check_layout() const {
  for (const Layout& entry : layout_table())
    if (entry.required || has(entry.name)) open(entry.name);
  if ((counts_.features > 0) != has(n::kTileFeatures))
    refuse(n::kJobFeatureSize + std::string(" is ") + std::to_string(counts_.features) + " but /tiles/features " +
           (counts_.features > 0 ? "is missing" : "exists"));
  if (counts_.classes == 0 && has(n::kTileProbabilities)) refuse("/tiles/probabilities without class names");
  std::vector<std::string> keys = strings(n::kSlideKey);
  std::set<std::string> unique;
  for (const std::string& key : keys)
    if (!is_plain_file_name(key) || !unique.insert(key).second)
      refuse("/slides/key '" + key + "' is not a unique plain file name");
  // A slide's maps are the file's once it is planned: a killed extension may leave others half made.
  const auto planned = static_cast<size_t>(planned_counts(*this).slides);
  for (size_t i = 0; i < planned; ++i) {
    const std::string group = std::string(n::kMaps) + "/" + keys[i] + "/";
    if (!has(group.substr(0, group.size() - 1))) continue;
    open(group + n::kMapPrediction);
    open(group + n::kMapTissue);
    if (has(group + n::kMapThumbnail)) open(group + n::kMapThumbnail);
  }
  check_embeddings();
  return keys;
}

// Each member of the two embedding groups checked, and the groups holding the same names.
void CheckedFile::check_embeddings() const {
  std::set<std::string> members[2];
  for (int g = 0; g < 2; ++g) {
    const std::string group = kEmbeddingGroups[g];
    if (!has(group)) continue;
    Handle object = make(H5Oopen(file_, group.c_str(), H5P_DEFAULT), {path_, group}, "opening an object");
    if (H5Iget_type(object.id()) != H5I_GROUP) refuse(group + " is not a group");
    H5G_info_t info;
    check(H5Gget_info(object.id(), &info), {path_, group}, "getting a group's size");
    if (info.nlinks > kMaxEmbeddings)
      refuse(group + " holds " + std::to_string(info.nlinks) + " objects, more than the " +
             std::to_string(kMaxEmbeddings) + " a reader accepts");
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      char name[256] = {};
      const ssize_t length =
          H5Lget_name_by_idx(object.id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
      if (length < 0 || static_cast<size_t>(length) >= sizeof name) refuse(group + " holds a name of over 255 bytes");
      members[g].insert(name);
      open(group + "/" + name);
    }
  }
  if (members[0] != members[1])
    refuse(std::string(kEmbeddingGroups[0]) + " and " + kEmbeddingGroups[1] + " do not hold the same names");
}

void CheckedFile::refuse(const std::string& what) const { throw CohortFileRefused(path_, what); }

bool CheckedFile::has(const std::string& name) const {
  // Link by link from the root: H5Lexists fails on a missing intermediate group, and a soft or
  // external link could lead anywhere (another file).
  for (size_t slash = 0; slash != std::string::npos;) {
    slash = name.find('/', slash + 1);
    const std::string link = name.substr(0, slash);
    if (H5Lexists(file_, link.c_str(), H5P_DEFAULT) <= 0) return false;
    H5L_info_t info;
    if (H5Lget_info(file_, link.c_str(), &info, H5P_DEFAULT) < 0 || info.type != H5L_TYPE_HARD)
      refuse(link + " is not a hard link");
  }
  return true;
}

// long: one check after another, each with its own message
Handle CheckedFile::open(const std::string& name) const {
  const Layout layout = layout_of(name);
  if (!has(name)) refuse(name + " is missing");
  Handle dataset = make(H5Oopen(file_, name.c_str(), H5P_DEFAULT), {path_, name}, "opening an object");
  if (H5Iget_type(dataset.id()) != H5I_DATASET) refuse(name + " is not a dataset");
  Handle type = make(H5Dget_type(dataset.id()), {path_, name}, "getting a type");
  if (!element_matches(type.id(), layout))
    refuse(name + " holds " + type_text(type.id()) + ", not " + element_text(layout));
  Handle space = make(H5Dget_space(dataset.id()), {path_, name}, "getting a dataspace");
  const H5S_class_t space_class = H5Sget_simple_extent_type(space.id());
  if (space_class != (layout.shape.empty() ? H5S_SCALAR : H5S_SIMPLE))
    refuse(name + (layout.shape.empty() ? " is not a scalar" : " is not an array"));
  const std::vector<hsize_t> found = dims_of(dataset.id(), path_, name);
  if (found.size() != layout.shape.size())
    refuse(name + " has " + std::to_string(found.size()) + " dimensions, not " + std::to_string(layout.shape.size()));
  const std::string storage = storage_refusal(dataset.id(), found, {path_, name});
  if (!storage.empty()) refuse(name + storage);
  uint64_t map_pixels = 1;
  for (size_t i = 0; i < found.size(); ++i) {
    const hsize_t d = found[i];
    const auto expect = [&](hsize_t want, const char* what) {
      if (d != want)
        refuse(name + " has shape " + dims_text(found) + ": dimension " + std::to_string(i) + " should be " +
               std::to_string(want) + " (" + what + ")");
    };
    const auto within = [&](hsize_t low, hsize_t high, const char* what) {
      if (d < low || d > high)
        refuse(name + " has shape " + dims_text(found) + ": dimension " + std::to_string(i) + " is outside " +
               std::to_string(low) + ".." + std::to_string(high) + " (" + what + ")");
    };
    const auto counted = [&](hsize_t want, const char* what) {
      if (counted_) expect(want, what);  // else the constructor is reading the counts
    };
    switch (layout.shape[i].count) {
      case Count::fixed: expect(layout.shape[i].fixed, "fixed"); break;
      case Count::slides: counted(counts_.slides, "the slides of /slides/key"); break;
      case Count::tiles: counted(counts_.tiles, "the tiles of /tiles/slide"); break;
      case Count::units: counted(counts_.units, "the units of /progress/units"); break;
      case Count::classes: counted(counts_.classes, "the classes of /job/class_names"); break;
      case Count::features: counted(counts_.features, "/job/feature_size"); break;
      case Count::stats_rows: within(0, kMaxStatsRanks, "ranks"); break;
      case Count::embedding: within(1, kMaxFeatureSize, "the embedding sizes a reader accepts"); break;
      case Count::umap: within(1, kMaxUmapComponents, "the UMAP components a reader accepts"); break;
      case Count::map_side:
        within(1, kMaxMapSide, "the map sides a reader accepts");
        map_pixels *= d;
        if (map_pixels > kMaxMapPixels)
          refuse(name + " has shape " + dims_text(found) + ": more than the " + std::to_string(kMaxMapPixels) +
                 " pixels a map may have");
        break;
    }
  }
  return dataset;
}

std::vector<hsize_t> CheckedFile::dims(const std::string& name) const {
  Handle dataset = open(name);
  return dims_of(dataset.id(), path_, name);
}

size_t CheckedFile::read_elements(const Handle& dataset, const std::string& name, size_t element_bytes,
                                  const int64_t* first, int64_t count) const {
  const std::vector<hsize_t> dims = dims_of(dataset.id(), path_, name);
  uint64_t elements = 1;
  for (size_t i = first ? 1 : 0; i < dims.size(); ++i)
    if (!multiply(elements, dims[i], elements)) refuse(name + " has more elements than fit in 64 bits");
  if (first) {
    if (dims.empty() || *first < 0 || count < 0 || uint64_t(*first) > dims[0] || uint64_t(count) > dims[0] - *first)
      refuse("rows [" + std::to_string(*first) + ", +" + std::to_string(count) + ") lie outside the " +
             std::to_string(dims.empty() ? 0 : dims[0]) + " rows of " + name);
    if (!multiply(elements, uint64_t(count), elements)) refuse(name + " rows overflow 64 bits");
  }
  uint64_t bytes = 0;
  if (!multiply(elements, element_bytes, bytes) || bytes > max_read_bytes())
    refuse("reading " + name + " would take " + (bytes ? std::to_string(bytes) : "more than 2^64") +
           " bytes, more than the " + std::to_string(max_read_bytes()) +
           " one read may take on this machine (an eighth of its memory, at most 4 GiB)");
  return static_cast<size_t>(elements);
}

void CheckedFile::read_all(const Handle& dataset, const std::string& name, hid_t mem_type, void* data) const {
  h5::read_all(dataset.id(), mem_type, data, {path_, name});
}

void CheckedFile::read_rows(const Handle& dataset, const std::string& name, hid_t mem_type, int64_t first,
                            int64_t count, void* data) const {
  h5::read_rows(dataset.id(), mem_type, static_cast<hsize_t>(first), static_cast<hsize_t>(count), data,
                {path_, name});
}

std::vector<std::string> CheckedFile::strings(const std::string& name) const {
  Handle dataset = open(name);
  Handle type = make(H5Dget_type(dataset.id()), {path_, name}, "getting a type");
  const size_t width = H5Tget_size(type.id());
  std::vector<char> packed(read_elements(dataset, name, width, nullptr, 0) * width);
  h5::read_all(dataset.id(), type.id(), packed.data(), {path_, name});
  return unpack_strings(packed, width);
}

std::string CheckedFile::string(const std::string& name) const {
  std::vector<std::string> values = strings(name);
  return values.empty() ? std::string() : values[0];
}

}  // namespace wsi::h5
