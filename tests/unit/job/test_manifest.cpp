// The manifest reader: CSV with header slide_id,path[,mask] (paths relative to the CSV, quotes,
// extra columns, blank lines), a single slide file, keys safe as names and unique, duplicates,
// and the usage errors, each naming the file or the line.
#include <catch2/catch.hpp>

#include <fstream>

#include "test_support.hpp"
#include "util/file_name.hpp"
#include "wsi/job/manifest.hpp"

using namespace wsi;
namespace fs = std::filesystem;

TEST_CASE("manifest CSV: paths relative to the CSV, quotes, masks, extra columns", "[job]") {
  const fs::path dir = test::scratch_dir("manifest-csv");
  fs::create_directories(dir / "sub");
  std::ofstream(dir / "sub" / "m.csv") << "site, slide_id ,path,mask\r\n"
                                       << "A,s1,a.svs,\r\n"
                                       << "\n"
                                       << "B,\"s,2\",\"../b c.svs\",masks/b.png\n"
                                       << "C,s3,/abs/c.tif\n";
  const auto entries = read_manifest((dir / "sub" / "m.csv").string());
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].id == "s1");
  CHECK(entries[0].path == (dir / "sub" / "a.svs").string());
  CHECK(entries[0].mask.empty());
  CHECK(entries[1].id == "s,2");
  CHECK(entries[1].path == (dir / "b c.svs").string());
  CHECK(entries[1].mask == (dir / "sub" / "masks" / "b.png").string());
  CHECK(entries[2].path == "/abs/c.tif");
  CHECK(entries[2].mask.empty());  // a line shorter than the header
  CHECK(entries[0].key == "s1");
  CHECK(entries[1].key == "s_2");
}

TEST_CASE("manifest: one slide file is a manifest of one, named by its stem", "[job]") {
  const fs::path dir = test::scratch_dir("manifest-one");
  std::ofstream(dir / "TCGA-01.svs") << "x";
  const auto entries = read_manifest((dir / "TCGA-01.svs").string());
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].id == "TCGA-01");
  CHECK(entries[0].path == (dir / "TCGA-01.svs").string());
  CHECK(entries[0].key == "TCGA-01");
}

TEST_CASE("manifest keys: safe names, unique even when ids sanitise alike, and duplicates found", "[job]") {
  CHECK(sanitise_key("a/b c") == "a_b_c");
  CHECK(sanitise_key("..") == "_..");
  CHECK(sanitise_key("") == "_");
  CHECK(sanitise_key("ok-1.2_x") == "ok-1.2_x");
  const fs::path dir = test::scratch_dir("manifest-keys");
  std::ofstream(dir / "m.csv") << "slide_id,path\na b,1.svs\na_b,2.svs\na b,3.svs\nc,4.svs\n";
  const auto entries = read_manifest((dir / "m.csv").string());
  REQUIRE(entries.size() == 4);
  CHECK(entries[0].key == "a_b");
  CHECK(entries[1].key == "a_b_2");
  CHECK(entries[2].key == "a_b_3");
  CHECK(entries[3].key == "c");
  CHECK(duplicate_of(entries) == std::vector<long>{-1, -1, 0, -1});
  // The longest ids accepted still give keys that are plain file names, duplicates too.
  const std::string longest(kMaxSlideIdBytes, '.');
  std::ofstream(dir / "long.csv") << "slide_id,path\n" << longest << ",1.svs\n" << longest << ",2.svs\n";
  for (const ManifestEntry& entry : read_manifest((dir / "long.csv").string())) CHECK(is_plain_file_name(entry.key));
}

TEST_CASE("manifest errors are usage errors naming the file or line", "[job]") {
  const fs::path dir = test::scratch_dir("manifest-errors");
  const auto path = [&](const char* name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  // (text, message fragment): every case must throw std::invalid_argument with both the
  // fragment and the file's name.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "is empty"},
      {"id,file\na,b.svs\n", "needs a header with slide_id,path"},
      {"slide_id,path\n\n  \n", "lists no slides"},
      {"slide_id,path\na,a.svs\n,b.svs\n", "line 3"},
      {"slide_id,path\na,\n", "has no slide_id or path"},
      {"slide_id,path\na,a.svs\n" + std::string(kMaxSlideIdBytes + 1, 'x') + ",b.svs\n", "line 3: slide_id of 201 bytes"},
  };
  int n = 0;
  for (const auto& [text, message] : cases) {
    const std::string file = path(("case" + std::to_string(n++) + ".csv").c_str(), text);
    INFO(file << ": " << message);
    CHECK_THROWS_AS(read_manifest(file), std::invalid_argument);
    CHECK_THROWS_WITH(read_manifest(file), Catch::Contains(message) && Catch::Contains(file));
  }
  CHECK_THROWS_WITH(read_manifest((dir / "missing.csv").string()), Catch::Contains("missing.csv") &&
                                                                       Catch::Contains("does not exist"));
}
