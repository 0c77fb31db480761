// Patch mode inputs: the two forms (CSV file,label and a folder of class folders) and reading
// patches as RGB (the Kather TIFFs are reference data: [data]).
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>

#include <opencv2/imgcodecs.hpp>

#include "test_support.hpp"
#include "wsi/patches/patch_dataset.hpp"

namespace {

namespace fs = std::filesystem;

// A tiny solid RGB image written as PNG (OpenCV writes BGR).
void write_png(const fs::path& path, int width, int height, cv::Vec3b rgb) {
  fs::create_directories(path.parent_path());
  cv::Mat bgr(height, width, CV_8UC3, cv::Scalar(rgb[2], rgb[1], rgb[0]));
  REQUIRE(cv::imwrite(path.string(), bgr));
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

}  // namespace
TEST_CASE("patch CSV: file,label relative to the CSV, extra columns, quotes, absolute paths", "[patches]") {
  const auto dir = wsi::test::scratch_dir("patches-csv");
  write_png(dir / "png" / "a.png", 4, 4, {255, 0, 0});
  write_text(dir / "list.csv",
             "file,extra,label\r\n"
             "png/a.png,1,TUM\r\n"
             "\r\n"
             "\"png/b, c.png\",2,\"NO\"\"RM\"\r\n"
             + (dir / "png" / "a.png").string() + ",3,\r\n");
  const auto patches = wsi::read_patch_dataset((dir / "list.csv").string());
  REQUIRE(patches.size() == 3);
  CHECK(patches[0].file == "png/a.png");
  CHECK(patches[0].path == (dir / "png" / "a.png").string());
  CHECK(patches[0].label == "TUM");
  CHECK(patches[1].file == "png/b, c.png");
  CHECK(patches[1].label == "NO\"RM");
  CHECK(patches[2].path == (dir / "png" / "a.png").string());
  CHECK(patches[2].label.empty());

  write_text(dir / "bad.csv", "path,label\nx.png,A\n");
  CHECK_THROWS_WITH(wsi::read_patch_csv((dir / "bad.csv").string()), Catch::Contains("'file'"));
  write_text(dir / "empty.csv", "");
  CHECK_THROWS(wsi::read_patch_csv((dir / "empty.csv").string()));
  CHECK_THROWS(wsi::read_patch_csv((dir / "missing.csv").string()));
}

TEST_CASE("patch folder: class = parent folder, sorted, images only", "[patches]") {
  const auto dir = wsi::test::scratch_dir("patches-folder");
  write_png(dir / "TUM" / "b.png", 3, 2, {0, 0, 255});
  write_png(dir / "TUM" / "a.PNG", 3, 2, {0, 0, 255});
  write_png(dir / "ADI" / "z.png", 3, 2, {10, 20, 30});
  write_png(dir / "loose.png", 3, 2, {0, 0, 0});          // not in a class folder: ignored
  write_text(dir / "ADI" / "notes.txt", "not an image");  // not an image: ignored
  write_png(dir / ".hidden" / "x.png", 3, 2, {0, 0, 0});  // hidden: ignored
  const auto patches = wsi::read_patch_dataset(dir.string());
  REQUIRE(patches.size() == 3);
  CHECK(patches[0].file == "ADI/z.png");
  CHECK(patches[0].label == "ADI");
  CHECK(patches[1].file == "TUM/a.PNG");
  CHECK(patches[2].file == "TUM/b.png");
  CHECK(patches[2].label == "TUM");
  CHECK(patches[2].path == (dir / "TUM" / "b.png").string());

  // Read as RGB.
  const cv::Mat rgb = wsi::read_patch_rgb(patches[0].path);
  REQUIRE(rgb.type() == CV_8UC3);
  CHECK(rgb.cols == 3);
  CHECK(rgb.rows == 2);
  CHECK(rgb.at<cv::Vec3b>(0, 0) == cv::Vec3b(10, 20, 30));
  CHECK_THROWS_WITH(wsi::read_patch_rgb((dir / "ADI" / "notes.txt").string()), Catch::Contains("notes.txt"));
  CHECK_THROWS_WITH(wsi::read_patch_rgb((dir / "none.png").string()), Catch::Contains("none.png"));
}

TEST_CASE("Kather single-strip PackBits TIFFs read as 224x224 RGB", "[patches][data]") {
  for (const char* name : {"kather1.tif", "kather2.tif"}) {
    const cv::Mat rgb = wsi::read_patch_rgb(wsi::test::shared_data(std::string("tiatoolbox-kather-samples/") + name));
    CHECK(rgb.type() == CV_8UC3);
    CHECK(rgb.cols == 224);
    CHECK(rgb.rows == 224);
    cv::Scalar mean, stddev;
    cv::meanStdDev(rgb, mean, stddev);
    CHECK(stddev[0] > 5);  // tissue, not a blank image
  }
}
