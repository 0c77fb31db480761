// Labelled patch datasets, see wsi/patches/patch_dataset.hpp.
#include "wsi/patches/patch_dataset.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace wsi {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
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

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') fields.back() += '"', ++i;
      else if (c == '"') quoted = false;
      else fields.back() += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r' && c != '\n') {
      fields.back() += c;
    }
  }
  for (auto& field : fields) field = trim(field);
  return fields;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::vector<LabelledPatch> read_patch_csv(const std::string& csv) {
  std::ifstream in(csv);
  if (!in) throw std::invalid_argument("cannot read " + csv);
  const fs::path base = fs::absolute(csv).parent_path();
  std::string line;
  int file_column = -1, label_column = -1, number = 0;
  while (file_column < 0 && std::getline(in, line)) {
    ++number;
    if (trim(line).empty()) continue;
    auto header = split_csv_line(line);
    if (number == 1 && !header[0].empty() && header[0].rfind("\xEF\xBB\xBF", 0) == 0) header[0].erase(0, 3);  // BOM
    for (size_t i = 0; i < header.size(); ++i) {
      const std::string name = lower(header[i]);
      if (name == "file" && file_column < 0) file_column = static_cast<int>(i);
      if (name == "label" && label_column < 0) label_column = static_cast<int>(i);
    }
    if (file_column < 0)
      throw std::invalid_argument(csv + ": the header (line " + std::to_string(number) +
                                  ") names no 'file' column (expected file,label)");
  }
  if (file_column < 0) throw std::invalid_argument(csv + " is empty (expected a header file,label)");
  std::vector<LabelledPatch> patches;
  while (std::getline(in, line)) {
    ++number;
    if (trim(line).empty()) continue;
    const auto fields = split_csv_line(line);
    const auto field = [&](int column) { return column >= 0 && column < int(fields.size()) ? fields[column] : ""; };
    LabelledPatch patch{field(file_column), "", field(label_column)};
    if (patch.file.empty()) throw std::invalid_argument(csv + " line " + std::to_string(number) + ": no file");
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
