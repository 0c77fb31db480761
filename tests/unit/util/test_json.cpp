// The JSON reader's limits (size, depth) and messages, and the writer's text: key order kept,
// non-finite numbers as null, bytes that are not UTF-8 replaced.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <string>

#include "test_support.hpp"
#include "util/json.hpp"

namespace {

std::string nested(int levels) { return std::string(levels, '[') + std::string(levels, ']'); }

}  // namespace

TEST_CASE("JSON reader: types kept, limits and messages", "[json]") {
  const wsi::Json root = wsi::parse_json(R"({"n": 3, "x": 0.5, "s": "3", "a": [1, "b"]})", "t.json");
  CHECK(root.at("n").is_number_integer());
  CHECK(root.at("x").get<double>() == 0.5);
  CHECK(root.at("s").is_string());
  CHECK(root.at("a").size() == 2);

  CHECK_NOTHROW(wsi::parse_json(nested(wsi::kMaxJsonDepth), "t.json"));
  CHECK_THROWS_WITH(wsi::parse_json(nested(wsi::kMaxJsonDepth + 1), "t.json"),
                    Catch::Contains("t.json") && Catch::Contains("nested deeper than 64"));
  CHECK_THROWS_WITH(wsi::parse_json(R"({"a": [1, 2)", "t.json"),
                    Catch::Contains("t.json: not valid JSON"));
  CHECK_THROWS_WITH(wsi::parse_json(std::string(wsi::kMaxJsonBytes + 1, ' '), "big.json"),
                    Catch::Contains("big.json") && Catch::Contains("more than the"));
  // A string full of brackets is no nesting.
  CHECK_NOTHROW(wsi::parse_json("\"" + std::string(1000, '[') + "\"", "t.json"));
}

TEST_CASE("JSON reader: files", "[json]") {
  const auto dir = wsi::test::scratch_dir("json");
  std::ofstream(dir / "ok.json") << R"({"state": "running"})";
  CHECK(wsi::parse_json_file((dir / "ok.json").string()).at("state") == "running");
  CHECK_THROWS_WITH(wsi::parse_json_file((dir / "missing.json").string()),
                    Catch::Contains("missing.json") && Catch::Contains("cannot be read"));
}

TEST_CASE("JSON writer: order, numbers and bytes", "[json]") {
  wsi::Json value = {{"z", 1}, {"a", NAN}, {"m", "x\"\n"}};
  CHECK(wsi::json_text(value) == R"({"z":1,"a":null,"m":"x\"\n"})");
  CHECK(wsi::json_text(std::string("a\xff")) == "\"a\xef\xbf\xbd\"");  // U+FFFD, no throw
}
