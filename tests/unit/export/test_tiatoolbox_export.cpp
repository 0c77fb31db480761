// The TIAToolbox exports (wsi/export/tiatoolbox_export.hpp): the WKB of a tile's rectangle, the
// SQLite annotation store read back through SQLite's C library (schema, metadata, rows, R*Tree
// box query, zlib geometry), the Zarr store's arrays, and the stems slides are exported under.
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <zlib.h>

#include <cstring>
#include <iterator>

#include "test_support.hpp"
#include "util/json.hpp"
#include "wsi/export/tiatoolbox_export.hpp"

using namespace wsi;
namespace fs = std::filesystem;

namespace {

// The rows of a query, each column as text (blobs as their bytes).
std::vector<std::vector<std::string>> query(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* statement = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr) == SQLITE_OK);
  std::vector<std::vector<std::string>> rows;
  while (sqlite3_step(statement) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int c = 0; c < sqlite3_column_count(statement); ++c) {
      const auto* bytes = static_cast<const char*>(sqlite3_column_blob(statement, c));
      row.emplace_back(bytes ? bytes : "", static_cast<size_t>(sqlite3_column_bytes(statement, c)));
    }
    rows.push_back(row);
  }
  sqlite3_finalize(statement);
  return rows;
}

std::string inflated(const std::string& compressed) {
  std::string out(4096, '\0');
  uLongf size = out.size();
  REQUIRE(uncompress(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(compressed.data()),
                     compressed.size()) == Z_OK);
  out.resize(size);
  return out;
}

SlideTileRows three_tiles() {
  SlideTileRows rows;
  rows.tiles = {{0, 0, 224, 224}, {224, 0, 448, 224}, {0, 224, 224, 448}};
  rows.classes = 2;
  rows.probabilities = {0.25f, 0.75f, 0.9f, 0.1f, 0.5f, 0.5f};
  return rows;
}

}  // namespace

TEST_CASE("annotation store: WKB of a rectangle", "[export]") {
  const std::string wkb = rectangle_wkb(1, 2, 3, 4);
  REQUIRE(wkb.size() == 93);
  CHECK(wkb.substr(0, 13) == std::string("\x01\x03\0\0\0\x01\0\0\0\x05\0\0\0", 13));
  double points[10];
  std::memcpy(points, wkb.data() + 13, sizeof points);
  CHECK(std::vector<double>(points, points + 10) == std::vector<double>{1, 2, 1, 4, 3, 4, 3, 2, 1, 2});
}

TEST_CASE("annotation store: SQLiteStore's tables, one rectangle per tile in level-0 pixels", "[export]") {
  const fs::path dir = test::scratch_dir("annotation-store");
  const std::string path = (dir / "s.db").string();
  write_annotation_store(path, three_tiles(), {"tumour", "stroma"}, 2.0);
  write_annotation_store(path, three_tiles(), {"tumour", "stroma"}, 2.0);  // an existing store is replaced
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  CHECK(query(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") ==
        std::vector<std::vector<std::string>>{{"annotations"}, {"metadata"}, {"rtree"}, {"rtree_node"},
                                              {"rtree_parent"}, {"rtree_rowid"}});
  CHECK(query(db, "SELECT key, value FROM metadata ORDER BY rowid") ==
        std::vector<std::vector<std::string>>{{"version", "\"1.0.1\""}, {"compression", "\"zlib\""},
                                              {"compression_level", "9"}});
  const auto rows =
      query(db, "SELECT id, key, objtype, cx, cy, geometry, properties, area FROM annotations ORDER BY id");
  REQUIRE(rows.size() == 3);
  CHECK(rows[1][0] == "2");
  CHECK(rows[1][1] == "1");
  CHECK(rows[1][2] == "Polygon");
  CHECK(std::stod(rows[1][3]) == 672.0);
  CHECK(std::stod(rows[1][4]) == 224.0);
  CHECK(inflated(rows[1][5]) == rectangle_wkb(448, 0, 896, 448));
  CHECK(parse_json(rows[1][6], "properties") == Json{{"prob_tumour", 0.9f}, {"prob_stroma", 0.1f}, {"type", "tumour"}});
  CHECK(rows[1][6].find("\"prob_tumour\":0.8999999761581421,") == 1);  // float32 as a double, compact
  CHECK(std::stod(rows[1][7]) == 448.0 * 448.0);
  // The R*Tree answers a box query with exactly the tiles it touches (level-0 pixels).
  CHECK(query(db, "SELECT key FROM annotations JOIN rtree USING (id) WHERE max_x >= 500 AND min_x <= 600 "
                  "AND max_y >= 10 AND min_y <= 20 ORDER BY id") == std::vector<std::vector<std::string>>{{"1"}});
  CHECK(query(db, "SELECT count(*) FROM rtree WHERE max_y >= 100 AND min_y <= 500 AND max_x >= 0 AND min_x <= 10") ==
        std::vector<std::vector<std::string>>{{"2"}});
  sqlite3_close(db);
  CHECK_THROWS_AS(write_annotation_store(path, three_tiles(), {"one"}, 1.0), std::invalid_argument);
}

TEST_CASE("tiatoolbox zarr: the arrays a store gets, predictions in the smallest type", "[export]") {
  const fs::path dir = test::scratch_dir("tiatoolbox-zarr");
  SlideTileRows rows = three_tiles();
  rows.feature_size = 2;
  rows.features = {1, 2, 3, 4, 5, 6};
  write_tiatoolbox_zarr((dir / "s.zarr").string(), rows);
  for (const char* name : {"coordinates", "predictions", "probabilities", "features"})
    CHECK(fs::exists(dir / "s.zarr" / name / ".zarray"));
  std::ifstream in(dir / "s.zarr" / "predictions" / "0", std::ios::binary);
  CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == std::string("\x01\x00\x00", 3));
  rows.classes = 0, rows.probabilities.clear();  // features only: coordinates and features
  write_tiatoolbox_zarr((dir / "s.zarr").string(), rows);
  CHECK_FALSE(fs::exists(dir / "s.zarr" / "predictions"));
  CHECK(fs::exists(dir / "s.zarr" / "features" / "0.0"));
}

TEST_CASE("tiatoolbox exports: slides are named by their file's stem, repeats numbered", "[export]") {
  std::vector<SlideRow> slides(4);
  slides[0].path = "/a/CMU-1.svs", slides[1].path = "/b/CMU-1.svs", slides[2].path = "/c/x y.ome.tiff";
  slides[3].path = "/d/.hidden.svs";
  CHECK(tiatoolbox_stems(slides) == std::vector<std::string>{"CMU-1", "CMU-1_2", "x_y.ome", "_.hidden"});
}
