// Zarr format 2 stores (https://zarr-specs.readthedocs.io/en/latest/v2/v2.0.html) as plain
// folders: `.zgroup` at the root, per array a folder with `.zarray` and its chunk files. Chunks
// are stored uncompressed ("compressor": null), which every Zarr reader (zarr-python 2 and 3)
// decodes without a codec library; docs/design.md says why.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace wsi {

// One array of 1 or 2 dimensions, row-major, little-endian (the host's order: x86-64, aarch64).
struct ZarrArray {
  std::string name;            // folder name under the group, a plain file name
  std::string dtype;           // Zarr's type string: "<i8", "<f4", "|u1", "<u2", "<u4"
  std::vector<int64_t> shape;  // {N} or {N, M}
  const void* data = nullptr;  // N x M items of item_size() bytes
};

// Bytes per item of a dtype string; throws std::invalid_argument for one not listed above.
size_t zarr_item_size(const std::string& dtype);

// At most this many bytes per chunk: chunks are whole rows (chunks = {rows, M}), as many as fit,
// at least one; a store of a usual slide (10^4..10^5 tiles) has one chunk for every array but
// the features, whose chunks a reader can fetch a few at a time.
inline constexpr size_t kZarrChunkBytes = size_t{8} << 20;
int64_t zarr_chunk_rows(const ZarrArray& array);

// The `.zarray` text of an array (chunks from zarr_chunk_rows, fill_value 0, order "C").
std::string zarr_array_metadata(const ZarrArray& array);

// Writes `.zgroup` and every array into `dir`, an empty folder this process made (the caller
// renames it into place). Throws std::runtime_error naming the file that failed.
void write_zarr_group(const std::string& dir, const std::vector<ZarrArray>& arrays);

}  // namespace wsi
