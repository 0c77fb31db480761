// Zarr format 2 arrays (src/util/zarr_v2.hpp): the .zarray fields, whole-row chunks no larger
// than kZarrChunkBytes, chunk files named by the spec and padded to the full chunk shape.
#include <catch2/catch.hpp>

#include <iterator>

#include "test_support.hpp"
#include "util/json.hpp"
#include "util/zarr_v2.hpp"

using namespace wsi;
namespace fs = std::filesystem;

namespace {
std::string bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
}  // namespace

TEST_CASE("zarr: .zarray fields, chunk names and contents", "[util][zarr]") {
  const fs::path dir = test::scratch_dir("zarr-small");
  const std::vector<int64_t> coordinates{0, 0, 224, 224, 224, 0, 448, 224, 0, 224, 224, 448};
  const std::vector<uint8_t> predictions{2, 0, 1};
  write_zarr_group(dir.string(), {{"coordinates", "<i8", {3, 4}, coordinates.data()},
                                  {"predictions", "|u1", {3}, predictions.data()}});
  CHECK(parse_json(bytes_of(dir / ".zgroup"), "zgroup") == Json{{"zarr_format", 2}});
  const Json meta = parse_json(bytes_of(dir / "coordinates" / ".zarray"), ".zarray");
  CHECK(meta.at("shape") == Json{3, 4});
  CHECK(meta.at("chunks") == Json{3, 4});
  CHECK(meta.at("dtype") == "<i8");
  CHECK(meta.at("compressor").is_null());
  CHECK(meta.at("filters").is_null());
  CHECK(meta.at("order") == "C");
  CHECK(meta.at("fill_value") == 0);
  CHECK(meta.at("zarr_format") == 2);
  CHECK(bytes_of(dir / "coordinates" / "0.0") ==
        std::string(reinterpret_cast<const char*>(coordinates.data()), coordinates.size() * 8));
  CHECK(bytes_of(dir / "predictions" / "0") == std::string("\x02\x00\x01", 3));
  CHECK(parse_json(bytes_of(dir / "predictions" / ".zarray"), ".zarray").at("chunks") == Json{3});
  CHECK_THROWS_AS(zarr_item_size("<f8"), std::invalid_argument);
  CHECK_THROWS_AS(write_zarr_group(dir.string(), {{"../out", "|u1", {3}, predictions.data()}}), std::invalid_argument);
}

TEST_CASE("zarr: large arrays are cut into whole-row chunks, the last one padded", "[util][zarr]") {
  const int64_t width = 1024, rows = 2 * (int64_t(kZarrChunkBytes) / (width * 4)) + 5;  // 2 full chunks + 5 rows
  std::vector<float> features(static_cast<size_t>(rows * width));
  for (size_t i = 0; i < features.size(); ++i) features[i] = static_cast<float>(i % 977);
  const ZarrArray array{"features", "<f4", {rows, width}, features.data()};
  const int64_t chunk_rows = zarr_chunk_rows(array);
  CHECK(chunk_rows == int64_t(kZarrChunkBytes) / (width * 4));
  const fs::path dir = test::scratch_dir("zarr-large");
  write_zarr_group(dir.string(), {array});
  CHECK(parse_json(bytes_of(dir / "features" / ".zarray"), ".zarray").at("fill_value") == 0.0);
  const std::string last = bytes_of(dir / "features" / "2.0");
  REQUIRE(last.size() == kZarrChunkBytes);  // full chunk shape
  CHECK(std::memcmp(last.data(), features.data() + 2 * chunk_rows * width, 5 * width * 4) == 0);
  CHECK(last.find_first_not_of('\0', 5 * width * 4) == std::string::npos);
  CHECK_FALSE(fs::exists(dir / "features" / "3.0"));
  // An empty array: shape 0, one-row chunks, no chunk file.
  const ZarrArray empty{"none", "<f4", {0, 7}, nullptr};
  CHECK(zarr_chunk_rows(empty) == 1);
}
