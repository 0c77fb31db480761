// The features file CLAM and TRIDENT read (`wsi-mpi export --format clam`, see
// wsi/export/export.hpp): plain serial HDF5, written to PATH.partial and renamed.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace wsi {

// The attributes of the CLAM/TRIDENT `coords` dataset.
struct ClamAttributes {
  int64_t patch_size = 0;         // patch side at the requested resolution (the model's input), px
  int64_t patch_level = 0;        // 0: coords and patch_size_level0 are level-0 pixels
  int64_t patch_size_level0 = 0;  // ceil(patch_size * scale): the level-0 side each patch covers
  double level0_magnification = 0;  // /slides/objective_power
  double target_magnification = 0;   // objective_power / scale: the magnification patches are read at
  int64_t level0_width = 0, level0_height = 0;
};

// Writes a CLAM features file (plain serial HDF5): `features` rows x cols float32, `coords`
// rows x 2 int64 with ClamAttributes on it. Replaces an existing file.
void write_clam_h5(const std::string& path, const float* features, int64_t rows, int64_t cols,
                   const std::vector<std::array<int64_t, 2>>& coords, const ClamAttributes& attributes);

}  // namespace wsi
