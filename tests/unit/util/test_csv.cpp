// The CSV reader, as cases: input text -> records (fields joined by '|', records by ';') or an
// error, then header lookup and the writing side.
#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "util/csv.hpp"

namespace {

struct CsvCase {
  const char* name;
  std::string text;
  const char* records;  // or the error's text after "t.csv "
  bool error;
};

const CsvCase kCases[] = {
    {"plain", "a,b\n1,2\n", "a|b;1|2", false},
    {"no final newline", "a,b\n1,2", "a|b;1|2", false},
    {"CRLF", "a,b\r\n1,2\r\n", "a|b;1|2", false},
    {"empty fields", ",x,\n", "|x|", false},
    {"blank lines skipped", "\n  \r\na\n\n\nb\n", "a;b", false},
    {"trimmed", " a ,\tb\t\n", "a|b", false},
    {"quoted comma and quote", "\"a, b\",\"say \"\"hi\"\"\"\n", "a, b|say \"hi\"", false},
    {"quoted line break", "\"two\nlines\",x\nnext\n", "two\nlines|x;next", false},
    {"space before a quote", "a, \"b,c\"\n", "a|b,c", false},
    {"quote inside a field is literal", "ab\"c,d\n", "ab\"c|d", false},
    {"byte-order mark", "\xEF\xBB\xBF" "file,label\n", "file|label", false},
    {"empty input", "", "", false},
    {"unclosed quote", "a\n\"b,c\nd\n", "line 2: a quoted field is not closed", true},
};

std::string read_all(const std::string& text) {
  std::istringstream in(text);
  wsi::CsvReader csv(in, "t.csv");
  std::string out;
  for (std::vector<std::string> fields; csv.next(fields);) {
    std::string record;
    for (size_t i = 0; i < fields.size(); ++i) record += (i ? "|" : "") + fields[i];
    out += (out.empty() ? "" : ";") + record;
  }
  return out;
}

}  // namespace

TEST_CASE("CSV reader: cases", "[csv]") {
  for (const CsvCase& c : kCases) {
    INFO(c.name);
    if (c.error)
      CHECK_THROWS_WITH(read_all(c.text), std::string("t.csv ") + c.records);
    else
      CHECK(read_all(c.text) == c.records);
  }
}

TEST_CASE("CSV reader: lines in errors, header lookup", "[csv]") {
  std::istringstream in("File,label,FILE\n\nx.png,A\n\"multi\nline\"\ny.png\n");
  wsi::CsvReader csv(in, "list.csv");
  std::vector<std::string> fields;
  REQUIRE(csv.next(fields));
  const wsi::CsvHeader header(fields);
  CHECK(header.column("file") == 0);  // case-insensitive, the first of equal names
  CHECK(header.column("label") == 1);
  CHECK(header.column("mask") == -1);
  REQUIRE(csv.next(fields));
  CHECK(csv.where() == "list.csv line 3");
  CHECK(header.field(fields, "label") == "A");
  CHECK(header.field(fields, "mask").empty());
  REQUIRE(csv.next(fields));
  CHECK(csv.where() == "list.csv line 4");
  REQUIRE(csv.next(fields));
  CHECK(header.field(fields, "label").empty());  // a short record
  CHECK_THROWS_WITH(csv.fail("no label"), "list.csv line 6: no label");
  CHECK_FALSE(csv.next(fields));
  CHECK_THROWS_WITH(wsi::CsvReader("/nonexistent/list.csv"), Catch::Contains("/nonexistent/list.csv"));
}

TEST_CASE("CSV field quoting", "[csv]") {
  CHECK(wsi::csv_field("plain") == "plain");
  CHECK(wsi::csv_field("b, c") == "\"b, c\"");
  CHECK(wsi::csv_field("NO\"RM") == "\"NO\"\"RM\"");
  CHECK(wsi::csv_field("two\nlines") == "\"two\nlines\"");
}
