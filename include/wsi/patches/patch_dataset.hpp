// Patch mode's input: labelled patch images, from a folder of class folders or a CSV list.
// No torch here: the command (src/cli/patches_command.cpp) runs the model over them.
#pragma once
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace wsi {

struct LabelledPatch {
  std::string file;   // as the input names it: relative to the folder, or as written in the CSV
  std::string path;   // the file to open
  std::string label;  // "" = unlabelled
};

// True for .png .tif .tiff .jpg .jpeg (any case).
bool is_patch_image(const std::string& path);

// DIR/<class>/<image>: the label is the class folder's name; images sorted by path. Files
// directly in DIR, hidden entries and other extensions are ignored; nested folders are not
// descended into. Throws std::invalid_argument naming the folder when it cannot be read.
std::vector<LabelledPatch> read_patch_folder(const std::string& dir);

// A CSV whose header names a `file` column and optionally a `label` column (other columns are
// ignored; fields may be double-quoted). Relative paths are taken relative to the CSV's folder.
// Rows keep the CSV's order; blank lines are skipped. Throws std::invalid_argument naming the
// file (and line) for an unreadable file, a header without `file`, or a row without a file.
std::vector<LabelledPatch> read_patch_csv(const std::string& csv);

// A folder (read_patch_folder) or anything else as a CSV (read_patch_csv).
std::vector<LabelledPatch> read_patch_dataset(const std::string& input);

// The image as 8-bit RGB (cv::imread, BGR -> RGB; alpha dropped, 16-bit scaled to 8-bit, grey
// expanded). Throws std::runtime_error naming the file when it cannot be decoded.
cv::Mat read_patch_rgb(const std::string& path);

}  // namespace wsi
