// Zarr format 2 stores written as plain folders, see zarr_v2.hpp.
#include "util/zarr_v2.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "util/exclusive_file.hpp"
#include "util/file_name.hpp"
#include "util/json.hpp"

namespace wsi {

// The chunks are the arrays' bytes as they are in memory, and Zarr's "<" types are little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "Zarr chunks are written in the host's byte order");

namespace {

int64_t row_items(const ZarrArray& array) {
  const size_t dims = array.shape.size();
  if (dims == 0 || dims > 2 || array.shape[0] < 0 || (dims == 2 && array.shape[1] < 1))
    throw std::invalid_argument("Zarr array '" + array.name + "': only N or N x M (M >= 1) shapes are written");
  return array.shape.size() == 2 ? array.shape[1] : 1;
}

}  // namespace

size_t zarr_item_size(const std::string& dtype) {
  if (dtype == "|u1") return 1;
  if (dtype == "<u2") return 2;
  if (dtype == "<u4" || dtype == "<f4") return 4;
  if (dtype == "<i8") return 8;
  throw std::invalid_argument("Zarr dtype '" + dtype + "' is not one this writer knows");
}

int64_t zarr_chunk_rows(const ZarrArray& array) {
  const size_t row_bytes = static_cast<size_t>(row_items(array)) * zarr_item_size(array.dtype);
  const auto fit = static_cast<int64_t>(std::max<size_t>(1, kZarrChunkBytes / row_bytes));
  return std::max<int64_t>(1, std::min(fit, array.shape[0]));
}

std::string zarr_array_metadata(const ZarrArray& array) {
  Json chunks = Json::array({zarr_chunk_rows(array)});
  if (array.shape.size() == 2) chunks.push_back(array.shape[1]);
  const bool floating = array.dtype[1] == 'f';
  // Keys sorted and indented as zarr-python writes them, so the files read the same side by side.
  const Json meta = {{"chunks", chunks},
                     {"compressor", nullptr},
                     {"dtype", array.dtype},
                     {"fill_value", floating ? Json(0.0) : Json(0)},
                     {"filters", nullptr},
                     {"order", "C"},
                     {"shape", array.shape},
                     {"zarr_format", 2}};
  return meta.dump(4) + "\n";
}

void write_zarr_group(const std::string& dir, const std::vector<ZarrArray>& arrays) {
  write_file_atomically(dir + "/.zgroup", "{\n    \"zarr_format\": 2\n}\n");
  for (const ZarrArray& array : arrays) {
    if (!is_plain_file_name(array.name))
      throw std::invalid_argument("Zarr array name '" + array.name + "' is no plain file name");
    const std::string folder = dir + "/" + array.name;
    if (::mkdir(folder.c_str(), 0777) != 0)
      throw std::runtime_error("cannot create '" + folder + "': " + std::strerror(errno));
    write_file_atomically(folder + "/.zarray", zarr_array_metadata(array));
    const size_t row_bytes = static_cast<size_t>(row_items(array)) * zarr_item_size(array.dtype);
    const int64_t rows = array.shape[0], chunk_rows = zarr_chunk_rows(array);
    const auto* bytes = static_cast<const char*>(array.data);
    for (int64_t first = 0, index = 0; first < rows; first += chunk_rows, ++index) {
      // Every chunk has the full chunk shape: the last one is padded with the fill value (0).
      std::string chunk(static_cast<size_t>(chunk_rows) * row_bytes, '\0');
      const int64_t count = std::min(chunk_rows, rows - first);
      std::memcpy(chunk.data(), bytes + static_cast<size_t>(first) * row_bytes, static_cast<size_t>(count) * row_bytes);
      const std::string key = std::to_string(index) + (array.shape.size() == 2 ? ".0" : "");
      write_file_atomically(folder + "/" + key, chunk);
    }
  }
}

}  // namespace wsi
