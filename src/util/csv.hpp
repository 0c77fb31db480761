// One CSV reader for the manifest and the patch list: RFC 4180 quoting (a
// quoted field may hold commas, "" for a quote and line breaks), LF or CRLF line ends, a UTF-8
// byte-order mark skipped, blank lines skipped, fields trimmed of spaces and tabs, and errors
// that name the file and the line. csv_field is the writing side.
#pragma once
#include <fstream>
#include <istream>
#include <string>
#include <vector>

namespace wsi {

class CsvReader {
 public:
  // Throws std::invalid_argument naming `path` when it cannot be read.
  explicit CsvReader(const std::string& path);
  // Text from elsewhere; `source` names it in errors.
  CsvReader(std::istream& in, std::string source);

  // The next record that is not a blank line; false at the end. Throws (fail) on a quoted field
  // that is never closed.
  bool next(std::vector<std::string>& fields);
  // "SOURCE line N", N the line where the last record started.
  std::string where() const;
  // Throws std::invalid_argument "SOURCE line N: why".
  [[noreturn]] void fail(const std::string& why) const;

 private:
  bool read_record(std::vector<std::string>& fields);

  std::ifstream file_;
  std::istream& in_;
  std::string source_;
  int line_ = 0, next_line_ = 1;
};

// The columns of a header record by name: ASCII case-insensitive, the first of equal names.
class CsvHeader {
 public:
  explicit CsvHeader(const std::vector<std::string>& names);
  int column(const std::string& name) const;  // -1 when there is no such column
  // The field of column `name` in `fields`; "" when there is no such column or the record is short.
  std::string field(const std::vector<std::string>& fields, const std::string& name) const;

 private:
  std::vector<std::string> names_;  // lower case
};

// `text` as one CSV field: double-quoted (quotes doubled) when it holds a comma, quote or line break.
std::string csv_field(const std::string& text);

}  // namespace wsi
