// Labelled patch datasets, see wsi/patches/patch_dataset.hpp.
#include "wsi/patches/patch_dataset.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "util/csv.hpp"

namespace wsi {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

bool hidden(const fs::path& path) {
  const std::string name = path.filename().string();
  return !name.empty() && name[0] == '.';
}

}  // namespace

bool is_patch_image(const std::string& path) {
  const std::string ext = lower(fs::path(path).extension().string());
  return ext == ".png" || ext == ".tif" || ext == ".tiff" || ext == ".jpg" || ext == ".jpeg";
}

std::vector<LabelledPatch> read_patch_folder(const std::string& dir) {
  std::vector<LabelledPatch> patches;
  std::error_code error;
  fs::directory_iterator classes(dir, error);
  if (error) throw std::invalid_argument("cannot read folder " + dir + ": " + error.message());
  for (const auto& entry : classes) {
    if (hidden(entry.path()) || !entry.is_directory()) continue;
    const std::string label = entry.path().filename().string();
    fs::directory_iterator files(entry.path(), error);
    if (error) throw std::invalid_argument("cannot read folder " + entry.path().string() + ": " + error.message());
    for (const auto& file : files) {
      if (hidden(file.path()) || file.is_directory() || !is_patch_image(file.path().string())) continue;
      patches.push_back({(fs::path(label) / file.path().filename()).string(), file.path().string(), label});
    }
  }
  std::sort(patches.begin(), patches.end(),
            [](const LabelledPatch& a, const LabelledPatch& b) { return a.file < b.file; });
  return patches;
}

std::vector<LabelledPatch> read_patch_csv(const std::string& csv) {
  CsvReader reader(csv);
  const fs::path base = fs::absolute(csv).parent_path();
  std::vector<std::string> fields;
  if (!reader.next(fields)) throw std::invalid_argument(csv + " is empty (expected a header file,label)");
  const CsvHeader header(fields);
  if (header.column("file") < 0)
    throw std::invalid_argument(reader.where() + ": the header names no 'file' column (expected file,label)");
  std::vector<LabelledPatch> patches;
  while (reader.next(fields)) {
    LabelledPatch patch{header.field(fields, "file"), "", header.field(fields, "label")};
    if (patch.file.empty()) reader.fail("no file");
    const fs::path path(patch.file);
    patch.path = (path.is_absolute() ? path : base / path).lexically_normal().string();
    patches.push_back(std::move(patch));
  }
  return patches;
}

std::vector<LabelledPatch> read_patch_dataset(const std::string& input) {
  if (fs::is_directory(input)) return read_patch_folder(input);
  return read_patch_csv(input);
}

cv::Mat read_patch_rgb(const std::string& path) {
  if (!fs::is_regular_file(path)) throw std::runtime_error("no such image " + path);
  cv::Mat bgr;
  try {
    bgr = cv::imread(path, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw std::runtime_error("cannot read image " + path + ": " + e.what());
  }
  if (bgr.empty())
    throw std::runtime_error("cannot decode image " + path);
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

}  // namespace wsi
