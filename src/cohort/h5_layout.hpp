// Private: names, types and small helpers shared by the cohort file's writer and readers
// (layout documented in docs/cohort-file.md). Thread-safety: none.
#pragma once
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "cohort/h5_handle.hpp"
#include "wsi/cohort/cohort_file.hpp"

namespace wsi::h5 {

// Dataset and attribute names (docs/cohort-file.md "Layout").
namespace names {
inline constexpr const char* kSlideId = "/slides/id";
inline constexpr const char* kSlideKey = "/slides/key";
inline constexpr const char* kSlidePath = "/slides/path";
inline constexpr const char* kSlideStatus = "/slides/status";
inline constexpr const char* kSlideError = "/slides/error";
inline constexpr const char* kSlideTileStart = "/slides/tile_start";
inline constexpr const char* kSlideTileCount = "/slides/tile_count";
inline constexpr const char* kSlideWidth = "/slides/width";
inline constexpr const char* kSlideHeight = "/slides/height";
inline constexpr const char* kSlideMpp = "/slides/mpp";
inline constexpr const char* kSlideObjectivePower = "/slides/objective_power";
inline constexpr const char* kSlideScale = "/slides/scale";
inline constexpr const char* kSlideResolutionWidth = "/slides/width_at_resolution";
inline constexpr const char* kSlideResolutionHeight = "/slides/height_at_resolution";
inline constexpr const char* kSlideClassFractions = "/slides/class_fractions";
inline constexpr const char* kTileSlide = "/tiles/slide";
inline constexpr const char* kTileBounds = "/tiles/bounds";
inline constexpr const char* kTileProbabilities = "/tiles/probabilities";
inline constexpr const char* kTileFeatures = "/tiles/features";
// `wsi-mpi umap`: the embedding of every tile and a done flag per slide (docs/umap.md).
inline constexpr const char* kTileUmap = "/tiles/umap";
inline constexpr const char* kUmapDone = "/progress/umap";
inline constexpr const char* kMaps = "/maps";
inline constexpr const char* kUnits = "/progress/units";
inline constexpr const char* kDone = "/progress/done";
inline constexpr const char* kUnitRank = "/progress/rank";
inline constexpr const char* kEndState = "/progress/state";
// How far the file has grown: slides planned (a prefix of /slides), tiles and units they hold.
inline constexpr const char* kPlanned = "/progress/planned";
inline constexpr const char* kStats = "/stats/ranks";
inline constexpr const char* kJobConfig = "/job/config";
inline constexpr const char* kJobFingerprint = "/job/fingerprint";
inline constexpr const char* kJobClassNames = "/job/class_names";
inline constexpr const char* kJobFeatureSize = "/job/feature_size";
// The job's numeric configuration (JSON), fixed kNumericConfigBytes, all zero until decided.
inline constexpr const char* kJobNumericConfig = "/job/numeric_config";
inline constexpr size_t kNumericConfigBytes = 4096;
inline constexpr const char* kAttrFormat = "format";
inline constexpr const char* kAttrFormatVersion = "format_version";
inline constexpr const char* kAttrSoftwareVersion = "software_version";
inline constexpr const char* kAttrColumns = "columns";
inline constexpr int kStatsColumnCount = static_cast<int>(std::size(kStatsColumns));
// /maps/<key>/<name>
inline constexpr const char* kMapPrediction = "prediction";
inline constexpr const char* kMapThumbnail = "thumbnail";
inline constexpr const char* kMapTissue = "tissue";
inline constexpr size_t kErrorBytes = 512;  // /slides/error: fixed 512 bytes, null-padded
}  // namespace names

// ---- types ----
// Fixed-length, null-padded UTF-8 string of `size` bytes (h5py reads dtype "S<size>").
Handle string_type(size_t size);
// IEEE binary16 built the way h5py builds it (h5py reads it as numpy float16).
Handle float16_type();
// Round-to-nearest-even float32 -> binary16 bits (what numpy's astype(float16) gives), by OpenCV.
uint16_t float_to_half(float value);

// ---- strings ----
// Longest UTF-8 byte length + 1 (never 0).
size_t string_width(const std::vector<std::string>& values);
// At most max_bytes bytes, cut at a UTF-8 character boundary.
std::string truncate_utf8(const std::string& value, size_t max_bytes);
// Concatenated fixed-width fields, each null-padded (values longer than width are cut).
std::vector<char> pack_strings(const std::vector<std::string>& values, size_t width);
std::vector<std::string> unpack_strings(const std::vector<char>& data, size_t width);

// ---- objects ----
Handle simple_space(const std::vector<hsize_t>& dims);
// Contiguous, allocated early, fill value never written, no object times.
Handle create_dataset(hid_t file, const std::string& name, hid_t type, const std::vector<hsize_t>& dims,
                      const std::string& path);
// Chunked (at most kMapChunk px a side) and deflated, for the maps: allocated early with zeros
// (parallel HDF5 1.10 allocates filtered datasets at creation), so an unwritten map reads as 0.
inline constexpr hsize_t kMapChunk = 256;
inline constexpr unsigned kMapDeflateLevel = 4;
Handle create_map_dataset(hid_t file, const std::string& name, const std::vector<hsize_t>& dims,
                          const std::string& path);
// Chunked (about kRowChunkBytes a chunk), unlimited in rows, storage allocated as it grows,
// fill values never written: the tile and unit tables, which grow as slides are planned.
inline constexpr hsize_t kRowChunkBytes = hsize_t{1} << 20;
Handle create_row_dataset(hid_t file, const std::string& name, hid_t type, const std::vector<hsize_t>& dims,
                          const std::string& path);
// Collective: a row dataset grown to `rows` rows (never shrunk: rows past the file's planned
// ones, left by a killed extension, are rewritten when their slides are planned again).
void grow_rows(hid_t dataset, hsize_t rows, const Where& where);
Handle create_group(hid_t file, const std::string& name, const std::string& path, size_t heap_hint = 0);
Handle open_dataset(hid_t file, const std::string& name, const std::string& path);
bool exists(hid_t file, const std::string& name);  // name is an absolute path of depth <= 2
// Dimensions of a dataset's dataspace.
std::vector<hsize_t> dims_of(hid_t dataset, const std::string& path, const std::string& name);

// ---- raw data ----
// Writes rows [first, first + rows) of a dataset (all remaining dimensions), from `data`
// laid out row-major with memory type `mem_type`. rows may be 0.
void write_rows(hid_t dataset, hid_t mem_type, hsize_t first, hsize_t rows, const void* data, hid_t dxpl,
                const Where& where);
void read_rows(hid_t dataset, hid_t mem_type, hsize_t first, hsize_t rows, void* data, const Where& where);
// /tiles/bounds rows as read (x0, y0, x1, y1 per row, int32) to TileBounds.
std::vector<TileBounds> to_tile_bounds(const std::vector<int32_t>& values);
// Whole dataset.
void write_all(hid_t dataset, hid_t mem_type, const void* data, hid_t dxpl, const Where& where);
// A collective write of the whole dataset from `data`, or of nothing (a rank joining another's
// write) when `data` is null.
void write_all_or_nothing(hid_t dataset, hid_t mem_type, const void* data, hid_t dxpl, const Where& where);
void read_all(hid_t dataset, hid_t mem_type, void* data, const Where& where);

// ---- slides (h5_cohort_create.cpp) ----
// Rows [first, first + rows.size()) of every /slides dataset (strings cut to their width).
void write_slide_rows(hid_t file, const std::vector<SlideRow>& rows, hsize_t first, hid_t dxpl, const std::string& path);
// Collective: /maps/<key> with its datasets (a leftover group of that name is replaced).
void create_slide_maps(hid_t file, const std::string& key, const MapShape& shape, const std::string& path);

// ---- attributes (collective in parallel: every rank writes the same) ----
void write_string_attribute(hid_t object, const char* name, const std::string& value, const Where& where);
void write_strings_attribute(hid_t object, const char* name, const std::vector<std::string>& values,
                             const Where& where);
void write_int_attribute(hid_t object, const char* name, int value, const Where& where);
// (the checked readers are in h5_validate.hpp)

}  // namespace wsi::h5
