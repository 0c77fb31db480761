// CSV reading, see csv.hpp.
#include "util/csv.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace wsi {
namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

void skip_byte_order_mark(std::istream& in) {
  char mark[3] = {};
  in.read(mark, 3);
  if (in.gcount() == 3 && std::string(mark, 3) == "\xEF\xBB\xBF") return;
  in.clear();
  in.seekg(0);
}

}  // namespace

CsvReader::CsvReader(const std::string& path) : file_(path, std::ios::binary), in_(file_), source_(path) {
  if (!file_) throw std::invalid_argument(path + ": cannot be read");
  skip_byte_order_mark(in_);
}

CsvReader::CsvReader(std::istream& in, std::string source) : in_(in), source_(std::move(source)) {
  skip_byte_order_mark(in_);
}

bool CsvReader::next(std::vector<std::string>& fields) {
  while (read_record(fields)) {
    if (fields.size() > 1 || !fields[0].empty()) return true;
  }
  return false;
}

// One record: fields split at commas outside quotes, up to a line break outside quotes.
bool CsvReader::read_record(std::vector<std::string>& fields) {
  fields.assign(1, "");
  line_ = next_line_;
  bool quoted = false, any = false, field_start = true;
  for (int c; (c = in_.get()) != std::char_traits<char>::eof();) {
    any = true;
    if (c == '\n') ++next_line_;
    if (quoted) {
      if (c != '"') fields.back() += static_cast<char>(c);
      else if (in_.peek() == '"') fields.back() += static_cast<char>(in_.get());
      else quoted = false;
      continue;
    }
    if (c == '\n') break;
    if (c == '\r') continue;  // CRLF, or a stray CR
    if (c == ',') fields.emplace_back(), field_start = true;
    else if (c == '"' && field_start) quoted = true, field_start = false;
    else if (c != ' ' && c != '\t') fields.back() += static_cast<char>(c), field_start = false;
    else fields.back() += static_cast<char>(c);  // spaces before a quote do not end field_start
  }
  if (quoted) fail("a quoted field is not closed");
  for (auto& field : fields) field = trim(field);
  return any;
}

std::string CsvReader::where() const { return source_ + " line " + std::to_string(line_); }

void CsvReader::fail(const std::string& why) const { throw std::invalid_argument(where() + ": " + why); }

CsvHeader::CsvHeader(const std::vector<std::string>& names) {
  for (const auto& name : names) names_.push_back(lower(name));
}

int CsvHeader::column(const std::string& name) const {
  const auto it = std::find(names_.begin(), names_.end(), lower(name));
  return it == names_.end() ? -1 : static_cast<int>(it - names_.begin());
}

std::string CsvHeader::field(const std::vector<std::string>& fields, const std::string& name) const {
  const int i = column(name);
  return i >= 0 && i < static_cast<int>(fields.size()) ? fields[static_cast<size_t>(i)] : "";
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace wsi
