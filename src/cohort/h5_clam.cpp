// The CLAM / TRIDENT features file (see wsi/cohort/clam_file.hpp), written to a fresh partial
// file beside PATH and renamed (util/exclusive_file.hpp), so a killed export leaves no half file.
#include "wsi/cohort/clam_file.hpp"

#include <stdexcept>

#include "cohort/h5_layout.hpp"
#include "util/exclusive_file.hpp"
#include "cohort/h5_parallel.hpp"

namespace wsi {
namespace {

using h5::check;
using h5::Handle;
using h5::make;
using h5::Where;

template <class T>
void write_scalar_attribute(hid_t object, const char* name, hid_t file_type, hid_t mem_type, T value,
                            const Where& where) {
  Handle space = h5::simple_space({});
  Handle attribute = make(H5Acreate2(object, name, file_type, space.id(), H5P_DEFAULT, H5P_DEFAULT), where,
                          "creating an attribute");
  check(H5Awrite(attribute.id(), mem_type, &value), where, "writing an attribute");
}

}  // namespace

void write_clam_h5(const std::string& path, const float* features, int64_t rows, int64_t cols,
                   const std::vector<std::array<int64_t, 2>>& coords, const ClamAttributes& a) {
  if (rows < 0 || cols <= 0 || static_cast<int64_t>(coords.size()) != rows)
    throw std::invalid_argument("CLAM file '" + path + "': " + std::to_string(coords.size()) + " coords for " +
                                std::to_string(rows) + " feature rows");
  h5::quiet_errors();
  AtomicOutput output(path);
  const std::string& partial = output.path();
  {
    Handle fapl = h5::serial_file_access(partial);
    Handle file = make(H5Fcreate(partial.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id()), {partial, "/"},
                       "creating the file");
    const hsize_t n = static_cast<hsize_t>(rows);
    {
      Handle dataset = h5::create_dataset(file.id(), "/features", H5T_IEEE_F32LE, {n, static_cast<hsize_t>(cols)},
                                          partial);
      if (rows > 0) h5::write_all(dataset.id(), H5T_NATIVE_FLOAT, features, H5P_DEFAULT, {partial, "/features"});
    }
    {
      const Where where{partial, "/coords"};
      Handle dataset = h5::create_dataset(file.id(), "/coords", H5T_STD_I64LE, {n, 2}, partial);
      if (rows > 0) h5::write_all(dataset.id(), H5T_NATIVE_INT64, coords.data(), H5P_DEFAULT, where);
      const hid_t d = dataset.id();
      write_scalar_attribute(d, "patch_size", H5T_STD_I64LE, H5T_NATIVE_INT64, a.patch_size, where);
      write_scalar_attribute(d, "patch_level", H5T_STD_I64LE, H5T_NATIVE_INT64, a.patch_level, where);
      write_scalar_attribute(d, "patch_size_level0", H5T_STD_I64LE, H5T_NATIVE_INT64, a.patch_size_level0, where);
      write_scalar_attribute(d, "level0_magnification", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, a.level0_magnification,
                             where);
      write_scalar_attribute(d, "target_magnification", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, a.target_magnification,
                             where);
      write_scalar_attribute(d, "level0_width", H5T_STD_I64LE, H5T_NATIVE_INT64, a.level0_width, where);
      write_scalar_attribute(d, "level0_height", H5T_STD_I64LE, H5T_NATIVE_INT64, a.level0_height, where);
    }
    file.close(partial, "/");
  }
  output.commit();
}

}  // namespace wsi
