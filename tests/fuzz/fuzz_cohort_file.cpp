// libFuzzer target: the cohort-file readers on a real cohort file changed through the HDF5 API as
// the input bytes say -- attributes of other kinds and ranks, datasets of other types, shapes
// (huge ones chunked, never written) and values, objects missing, replaced by groups or links,
// extra embeddings -- then the readers of inspect, render, export, aggregate and the resume
// (read_cohort_summary, read_slide_maps, read_tile_*, the map merge) on the result. Each must
// refuse with an exception or give data whose sizes match its shapes. HDF5's own on-disk
// structures are not changed (out of scope: docs/cohort-file.md, "What a reader checks").
// The seed file is $WSI_FUZZ_COHORT (tests/CMakeLists.txt makes it with synth + run).
#include <fuzzer/FuzzedDataProvider.h>
#include <hdf5.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz_file_input.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/maps/prediction_map.hpp"

namespace {

const std::vector<char>& seed() {
  static const std::vector<char> bytes = [] {
    const char* path = std::getenv("WSI_FUZZ_COHORT");
    if (!path) throw std::runtime_error("set WSI_FUZZ_COHORT to a cohort file");
    std::ifstream in(path, std::ios::binary);
    return std::vector<char>(std::istreambuf_iterator<char>(in), {});
  }();
  return bytes;
}

// The objects a mutation picks from (the seed's slides are slide_001 and slide_002).
const char* const kObjects[] = {
    "/job/config", "/job/fingerprint", "/job/class_names", "/job/feature_size", "/job/numeric_config",
    "/slides/id", "/slides/key", "/slides/path", "/slides/status", "/slides/error", "/slides/tile_start",
    "/slides/tile_count", "/slides/width", "/slides/height", "/slides/mpp", "/slides/objective_power",
    "/slides/scale", "/slides/width_at_resolution", "/slides/height_at_resolution", "/slides/class_fractions",
    "/tiles/slide", "/tiles/bounds", "/tiles/probabilities", "/tiles/features", "/progress/units",
    "/progress/done", "/progress/rank", "/progress/state", "/stats/ranks", "/maps/slide_001/prediction",
    "/maps/slide_001/thumbnail", "/maps/slide_001/tissue", "/maps/slide_002/prediction", "/maps/slide_002",
    "/slides/embeddings/x", "/progress/embeddings/x", "/slides", "/tiles", "/progress"};

hid_t element_type(FuzzedDataProvider& in) {
  static const hid_t numbers[] = {H5T_STD_I8LE, H5T_STD_U8LE, H5T_STD_I32LE, H5T_STD_U32LE, H5T_STD_I64LE,
                                  H5T_IEEE_F32LE, H5T_IEEE_F64LE};
  const int pick = in.ConsumeIntegralInRange<int>(0, 8);
  if (pick < 7) return H5Tcopy(numbers[pick]);
  const hid_t text = H5Tcopy(H5T_C_S1);
  H5Tset_size(text, pick == 7 ? H5T_VARIABLE : in.ConsumeIntegralInRange<size_t>(1, 5000));
  return text;
}

std::vector<hsize_t> shape(FuzzedDataProvider& in) {
  static const hsize_t sizes[] = {0, 1, 2, 3, 4, 5, 9, 13, 64, 4096, 65537, hsize_t{1} << 31, hsize_t{1} << 40};
  std::vector<hsize_t> dims(in.ConsumeIntegralInRange<int>(0, 3));
  for (hsize_t& d : dims) d = sizes[in.ConsumeIntegralInRange<size_t>(0, std::size(sizes) - 1)];
  return dims;
}

// A dataset of another type and shape at `name`, chunked and never written (any size costs
// nothing), or small and filled with the input's bytes.
void replace_dataset(hid_t file, const char* name, FuzzedDataProvider& in) {
  H5Ldelete(file, name, H5P_DEFAULT);
  const hid_t type = element_type(in);
  const std::vector<hsize_t> dims = shape(in);
  hsize_t elements = 1;
  for (hsize_t d : dims) elements = std::min(elements * std::min<hsize_t>(d, 8192), hsize_t{1} << 40);
  const hid_t space = dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(int(dims.size()), dims.data(), nullptr);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  const bool small = elements > 0 && elements <= 4096 && H5Tis_variable_str(type) <= 0;
  if (!small && !dims.empty()) {
    std::vector<hsize_t> chunk;
    for (hsize_t d : dims) chunk.push_back(std::clamp<hsize_t>(d, 1, 64));
    H5Pset_chunk(dcpl, int(chunk.size()), chunk.data());
  }
  const hid_t dataset = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (dataset >= 0 && small) {
    std::vector<uint8_t> data(elements * H5Tget_size(type));
    for (uint8_t& b : data) b = in.ConsumeIntegral<uint8_t>();
    H5Dwrite(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data());
  }
  if (dataset >= 0) H5Dclose(dataset);
  H5Pclose(dcpl), H5Sclose(space), H5Tclose(type);
}

// One element of an existing numeric dataset set to a value of the input (converted by HDF5).
void set_value(hid_t file, const char* name, FuzzedDataProvider& in) {
  const hid_t dataset = H5Dopen2(file, name, H5P_DEFAULT);
  if (dataset < 0) return;
  const hid_t space = H5Dget_space(dataset), type = H5Dget_type(dataset);
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(rank > 0 ? rank : 0), point(dims.size());
  if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  bool empty = false;
  for (size_t i = 0; i < dims.size(); ++i)
    empty |= dims[i] == 0, point[i] = dims[i] ? in.ConsumeIntegralInRange<hsize_t>(0, dims[i] - 1) : 0;
  if (!empty && H5Tget_class(type) != H5T_STRING) {
    if (rank > 0) H5Sselect_elements(space, H5S_SELECT_SET, 1, point.data());
    const hid_t one = H5Screate(H5S_SCALAR);
    const bool as_float = in.ConsumeBool();
    const int64_t integer = in.ConsumeIntegral<int64_t>();
    const double real = in.ConsumeFloatingPoint<double>();
    H5Dwrite(dataset, as_float ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64, one, space, H5P_DEFAULT,
             as_float ? static_cast<const void*>(&real) : static_cast<const void*>(&integer));
    H5Sclose(one);
  }
  H5Tclose(type), H5Sclose(space), H5Dclose(dataset);
}

// The root's format_version or format as another type or rank.
void replace_attribute(hid_t file, FuzzedDataProvider& in) {
  const char* name = in.ConsumeBool() ? "format_version" : "format";
  H5Adelete(file, name);
  if (in.ConsumeBool()) return;  // missing
  const hid_t type = element_type(in);
  const std::vector<hsize_t> dims = shape(in);
  hsize_t elements = 1;
  for (hsize_t d : dims) elements = d < 64 ? elements * d : elements * 64;
  const std::vector<hsize_t> small(dims.size(), 2);
  const hid_t space = dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(int(dims.size()), small.data(), nullptr);
  const hid_t attribute = H5Acreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (attribute >= 0 && H5Tis_variable_str(type) <= 0) {
    std::vector<uint8_t> data(8 * H5Tget_size(type));
    for (uint8_t& b : data) b = in.ConsumeIntegral<uint8_t>();
    if (dims.empty() && H5Tget_class(type) == H5T_INTEGER) data.assign(H5Tget_size(type), 0), data[0] = 4;
    H5Awrite(attribute, type, data.data());
  }
  if (attribute >= 0) H5Aclose(attribute);
  H5Sclose(space), H5Tclose(type);
}

void mutate(hid_t file, FuzzedDataProvider& in) {
  const char* name = kObjects[in.ConsumeIntegralInRange<size_t>(0, std::size(kObjects) - 1)];
  switch (in.ConsumeIntegralInRange<int>(0, 5)) {
    case 0: replace_dataset(file, name, in); break;
    case 1: set_value(file, name, in); break;
    case 2: H5Ldelete(file, name, H5P_DEFAULT); break;
    case 3:
      H5Ldelete(file, name, H5P_DEFAULT);
      H5Lcreate_soft(kObjects[in.ConsumeIntegralInRange<size_t>(0, std::size(kObjects) - 1)], file, name,
                     H5P_DEFAULT, H5P_DEFAULT);
      break;
    case 4: replace_attribute(file, in); break;
    case 5: {
      const hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
      H5Pset_create_intermediate_group(lcpl, 1);
      H5Ldelete(file, name, H5P_DEFAULT);
      const hid_t group = H5Gcreate2(file, name, lcpl, H5P_DEFAULT, H5P_DEFAULT);
      if (group >= 0) H5Gclose(group);
      H5Pclose(lcpl);
      break;
    }
  }
}

void require(bool ok) {
  if (!ok) __builtin_trap();  // a reader gave data that does not match its own shapes
}

// What inspect, render, export, aggregate and the resume read, slide by slide.
void read_everything(const std::string& path) {
  const wsi::CohortSummary summary = wsi::read_cohort_summary(path);
  require(summary.maps.size() == summary.slides.size());
  for (size_t s = 0; s < summary.slides.size(); ++s) {
    const wsi::SlideRow& row = summary.slides[s];
    const wsi::SlideMaps maps = wsi::read_slide_maps(path, row.key);
    const wsi::MapShape& m = maps.shape;
    if (wsi::has_maps(m)) {
      require(maps.prediction.size() == size_t(m.height * m.width) && maps.tissue.size() == size_t(m.mask_height * m.mask_width));
      require(maps.thumbnail.size() == size_t(m.thumbnail_height * m.thumbnail_width * 3));
    }
    const auto bounds = wsi::read_tile_bounds(path, row.tile_start, row.tile_count);
    require(bounds.size() == size_t(row.tile_count));
    if (summary.feature_size > 0)
      require(wsi::read_tile_features(path, row.tile_start, row.tile_count).size() ==
              size_t(row.tile_count * summary.feature_size));
    const int classes = static_cast<int>(summary.class_names.size());
    if (!summary.has_probabilities || classes == 0) continue;
    const auto probabilities = wsi::read_tile_probabilities(path, row.tile_start, row.tile_count);
    require(probabilities.size() == size_t(row.tile_count) * classes);
    if (row.tile_count > 0 && wsi::has_maps(m))  // the resume's map merge
      wsi::merge_predictions(bounds, probabilities.data(), classes, {row.resolution_width, row.resolution_height},
                             {m.width, m.height});
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr), true);
  (void)quiet;
  const std::vector<char>& bytes = seed();
  const std::string path = fuzz_input_file(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), ".h5");
  FuzzedDataProvider in(data, size);
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  if (file < 0) __builtin_trap();
  for (int i = in.ConsumeIntegralInRange<int>(1, 4); i > 0 && in.remaining_bytes() > 0; --i) mutate(file, in);
  H5Fclose(file);
  try {
    read_everything(path);
  } catch (const std::exception&) {
  }
  return 0;
}
