// Names, types and small helpers of the cohort file, see h5_layout.hpp.
#include "cohort/h5_layout.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <opencv2/core/cvdef.h>

#include "wsi/cohort/cohort_file.hpp"

namespace wsi::h5 {

Handle string_type(size_t size) {
  Handle type(H5Tcopy(H5T_C_S1));
  const Where where{"", "string type"};
  check(type.id(), where, "copying the string type");
  check(H5Tset_size(type.id(), std::max<size_t>(size, 1)), where, "sizing a string type");
  check(H5Tset_strpad(type.id(), H5T_STR_NULLPAD), where, "setting string padding");
  check(H5Tset_cset(type.id(), H5T_CSET_UTF8), where, "setting string encoding");
  return type;
}

Handle float16_type() {
  // As h5py does (h5t.pyx): IEEE F32LE with binary16's fields, 2 bytes, exponent bias 15.
  const Where where{"", "float16 type"};
  Handle type = make(H5Tcopy(H5T_IEEE_F32LE), where, "copying the float type");
  check(H5Tset_fields(type.id(), 15, 10, 5, 0, 10), where, "setting float16 fields");
  check(H5Tset_size(type.id(), 2), where, "sizing the float16 type");
  check(H5Tset_ebias(type.id(), 15), where, "setting the float16 exponent bias");
  return type;
}

uint16_t float_to_half(float value) { return cv::float16_t(value).bits(); }

size_t string_width(const std::vector<std::string>& values) {
  size_t longest = 0;
  for (const auto& value : values) longest = std::max(longest, value.size());
  return longest + 1;
}

std::string truncate_utf8(const std::string& value, size_t max_bytes) {
  if (value.size() <= max_bytes) return value;
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(value[end]) & 0xC0u) == 0x80u) --end;  // continuation byte
  return value.substr(0, end);
}

std::vector<char> pack_strings(const std::vector<std::string>& values, size_t width) {
  std::vector<char> out(values.size() * width, '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    const std::string cut = truncate_utf8(values[i], width);
    std::memcpy(out.data() + i * width, cut.data(), cut.size());
  }
  return out;
}

std::vector<std::string> unpack_strings(const std::vector<char>& data, size_t width) {
  std::vector<std::string> out;
  if (width == 0) return out;
  for (size_t i = 0; i + width <= data.size(); i += width) {
    const char* begin = data.data() + i;
    out.emplace_back(begin, strnlen(begin, width));
  }
  return out;
}

Handle simple_space(const std::vector<hsize_t>& dims) {
  if (dims.empty()) return make(H5Screate(H5S_SCALAR), {"", "dataspace"}, "creating a scalar dataspace");
  return make(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), {"", "dataspace"},
              "creating a dataspace");
}

namespace {

// Every dataset: storage allocated at creation, no object times. `compressed`: chunked (at
// most kMapChunk a side), deflated and filled with zeros at allocation (a never-written map
// reads as 0); else contiguous, fill values never written.
Handle create_allocated(hid_t file, const std::string& name, hid_t type, const std::vector<hsize_t>& dims,
                        const std::string& path, bool compressed) {
  const Where where{path, name};
  Handle dcpl = make(H5Pcreate(H5P_DATASET_CREATE), where, "creating a dataset property list");
  if (compressed) {
    std::vector<hsize_t> chunk;
    for (hsize_t d : dims) chunk.push_back(std::max<hsize_t>(1, std::min(d, kMapChunk)));
    check(H5Pset_chunk(dcpl.id(), static_cast<int>(chunk.size()), chunk.data()), where, "setting the chunk size");
    check(H5Pset_deflate(dcpl.id(), kMapDeflateLevel), where, "setting deflate");
  } else {
    check(H5Pset_layout(dcpl.id(), H5D_CONTIGUOUS), where, "setting contiguous layout");
  }
  check(H5Pset_alloc_time(dcpl.id(), H5D_ALLOC_TIME_EARLY), where, "setting early allocation");
  check(H5Pset_fill_time(dcpl.id(), compressed ? H5D_FILL_TIME_ALLOC : H5D_FILL_TIME_NEVER), where,
        "setting the fill time");
  check(H5Pset_obj_track_times(dcpl.id(), 0), where, "switching object times off");
  Handle space = simple_space(dims);
  return make(H5Dcreate2(file, name.c_str(), type, space.id(), H5P_DEFAULT, dcpl.id(), H5P_DEFAULT), where,
              "creating a dataset");
}

}  // namespace

Handle create_dataset(hid_t file, const std::string& name, hid_t type, const std::vector<hsize_t>& dims,
                      const std::string& path) {
  return create_allocated(file, name, type, dims, path, false);
}

Handle create_map_dataset(hid_t file, const std::string& name, const std::vector<hsize_t>& dims,
                          const std::string& path) {
  return create_allocated(file, name, H5T_STD_U8LE, dims, path, true);
}

Handle create_row_dataset(hid_t file, const std::string& name, hid_t type, const std::vector<hsize_t>& dims,
                          const std::string& path) {
  const Where where{path, name};
  Handle dcpl = make(H5Pcreate(H5P_DATASET_CREATE), where, "creating a dataset property list");
  hsize_t row_bytes = H5Tget_size(type);
  for (size_t i = 1; i < dims.size(); ++i) row_bytes *= std::max<hsize_t>(dims[i], 1);
  std::vector<hsize_t> chunk = dims, max_dims = dims;
  chunk[0] = std::max<hsize_t>(1, kRowChunkBytes / std::max<hsize_t>(row_bytes, 1));
  for (size_t i = 1; i < chunk.size(); ++i) chunk[i] = std::max<hsize_t>(chunk[i], 1);
  max_dims[0] = H5S_UNLIMITED;
  check(H5Pset_chunk(dcpl.id(), static_cast<int>(chunk.size()), chunk.data()), where, "setting the chunk size");
  check(H5Pset_alloc_time(dcpl.id(), H5D_ALLOC_TIME_EARLY), where, "setting early allocation");
  check(H5Pset_fill_time(dcpl.id(), H5D_FILL_TIME_NEVER), where, "setting the fill time");
  check(H5Pset_obj_track_times(dcpl.id(), 0), where, "switching object times off");
  Handle space = make(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), max_dims.data()), where,
                      "creating a dataspace");
  return make(H5Dcreate2(file, name.c_str(), type, space.id(), H5P_DEFAULT, dcpl.id(), H5P_DEFAULT), where,
              "creating a dataset");
}

void grow_rows(hid_t dataset, hsize_t rows, const Where& where) {
  std::vector<hsize_t> dims = dims_of(dataset, where.file, where.object);
  if (dims.empty() || dims[0] >= rows) return;
  dims[0] = rows;
  check(H5Dset_extent(dataset, dims.data()), where, "extending");
}

Handle create_group(hid_t file, const std::string& name, const std::string& path, size_t heap_hint) {
  const Where where{path, name};
  Handle gcpl = make(H5Pcreate(H5P_GROUP_CREATE), where, "creating a group property list");
  check(H5Pset_obj_track_times(gcpl.id(), 0), where, "switching object times off");
  if (heap_hint > 0) check(H5Pset_local_heap_size_hint(gcpl.id(), heap_hint), where, "setting a heap size hint");
  return make(H5Gcreate2(file, name.c_str(), H5P_DEFAULT, gcpl.id(), H5P_DEFAULT), where, "creating a group");
}

Handle open_dataset(hid_t file, const std::string& name, const std::string& path) {
  return make(H5Dopen2(file, name.c_str(), H5P_DEFAULT), {path, name}, "opening a dataset");
}

std::vector<TileBounds> to_tile_bounds(const std::vector<int32_t>& values) {
  std::vector<TileBounds> out;
  out.reserve(values.size() / 4);
  for (size_t i = 0; i + 4 <= values.size(); i += 4) out.push_back({values[i], values[i + 1], values[i + 2], values[i + 3]});
  return out;
}

bool exists(hid_t file, const std::string& name) {
  // Check each link from the root down: H5Lexists fails on a missing intermediate group.
  size_t slash = 0;
  while ((slash = name.find('/', slash + 1)) != std::string::npos)
    if (H5Lexists(file, name.substr(0, slash).c_str(), H5P_DEFAULT) <= 0) return false;
  return H5Lexists(file, name.c_str(), H5P_DEFAULT) > 0;
}

std::vector<hsize_t> dims_of(hid_t dataset, const std::string& path, const std::string& name) {
  const Where where{path, name};
  Handle space = make(H5Dget_space(dataset), where, "getting a dataspace");
  const int rank = check(H5Sget_simple_extent_ndims(space.id()), where, "getting a rank");
  std::vector<hsize_t> dims(rank);
  if (rank > 0) check(H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr), where, "getting dimensions");
  return dims;
}

namespace {

// File and memory selections of rows [first, first + rows).
std::pair<Handle, Handle> row_selection(hid_t dataset, hsize_t first, hsize_t rows, const Where& where) {
  Handle file_space = make(H5Dget_space(dataset), where, "getting a dataspace");
  const int rank = check(H5Sget_simple_extent_ndims(file_space.id()), where, "getting a rank");
  std::vector<hsize_t> dims(rank);
  check(H5Sget_simple_extent_dims(file_space.id(), dims.data(), nullptr), where, "getting dimensions");
  if (rank == 0 || first + rows > dims[0])
    throw std::runtime_error("cohort file '" + where.file + "': rows [" + std::to_string(first) + ", " +
                             std::to_string(first + rows) + ") outside " + where.object);
  std::vector<hsize_t> start(rank, 0), count = dims;
  start[0] = first;
  count[0] = rows;
  Handle mem_space = simple_space(count);
  if (rows == 0) {
    check(H5Sselect_none(file_space.id()), where, "selecting nothing");
    check(H5Sselect_none(mem_space.id()), where, "selecting nothing");
  } else {
    check(H5Sselect_hyperslab(file_space.id(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr), where,
          "selecting rows");
  }
  return {std::move(file_space), std::move(mem_space)};
}

}  // namespace

void write_rows(hid_t dataset, hid_t mem_type, hsize_t first, hsize_t rows, const void* data, hid_t dxpl,
                const Where& where) {
  auto [file_space, mem_space] = row_selection(dataset, first, rows, where);
  static const char dummy = 0;
  check(H5Dwrite(dataset, mem_type, mem_space.id(), file_space.id(), dxpl, data ? data : &dummy), where,
        "writing");
}

void read_rows(hid_t dataset, hid_t mem_type, hsize_t first, hsize_t rows, void* data, const Where& where) {
  auto [file_space, mem_space] = row_selection(dataset, first, rows, where);
  if (rows == 0) return;
  check(H5Dread(dataset, mem_type, mem_space.id(), file_space.id(), H5P_DEFAULT, data), where, "reading");
}

void write_all(hid_t dataset, hid_t mem_type, const void* data, hid_t dxpl, const Where& where) {
  static const char dummy = 0;
  check(H5Dwrite(dataset, mem_type, H5S_ALL, H5S_ALL, dxpl, data ? data : &dummy), where, "writing");
}

void write_all_or_nothing(hid_t dataset, hid_t mem_type, const void* data, hid_t dxpl, const Where& where) {
  if (data) return write_all(dataset, mem_type, data, dxpl, where);
  Handle file_space = make(H5Dget_space(dataset), where, "getting a dataspace");
  Handle mem_space = simple_space({1});
  check(H5Sselect_none(file_space.id()), where, "selecting nothing");
  check(H5Sselect_none(mem_space.id()), where, "selecting nothing");
  static const char dummy = 0;
  check(H5Dwrite(dataset, mem_type, mem_space.id(), file_space.id(), dxpl, &dummy), where, "writing (collective)");
}

void read_all(hid_t dataset, hid_t mem_type, void* data, const Where& where) {
  static char dummy = 0;
  check(H5Dread(dataset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data ? data : &dummy), where, "reading");
}

void write_string_attribute(hid_t object, const char* name, const std::string& value, const Where& where) {
  Handle type = string_type(value.size() + 1);
  Handle space = simple_space({});
  Handle attribute = make(H5Acreate2(object, name, type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT), where,
                          "creating an attribute");
  std::vector<char> data = pack_strings({value}, value.size() + 1);
  check(H5Awrite(attribute.id(), type.id(), data.data()), where, "writing an attribute");
}

void write_strings_attribute(hid_t object, const char* name, const std::vector<std::string>& values,
                             const Where& where) {
  const size_t width = string_width(values);
  Handle type = string_type(width);
  Handle space = simple_space({values.size()});
  Handle attribute = make(H5Acreate2(object, name, type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT), where,
                          "creating an attribute");
  std::vector<char> data = pack_strings(values, width);
  check(H5Awrite(attribute.id(), type.id(), data.data()), where, "writing an attribute");
}

void write_int_attribute(hid_t object, const char* name, int value, const Where& where) {
  Handle space = simple_space({});
  Handle attribute = make(H5Acreate2(object, name, H5T_STD_I32LE, space.id(), H5P_DEFAULT, H5P_DEFAULT), where,
                          "creating an attribute");
  check(H5Awrite(attribute.id(), H5T_NATIVE_INT, &value), where, "writing an attribute");
}

}  // namespace wsi::h5
