#include "devops_model/eval/csv.h"

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"

namespace dm {

namespace {

// One record at a time over the whole text; `line` follows physical lines (also inside quotes).
class CsvScanner {
 public:
  CsvScanner(std::string_view text, const std::string& path) : s_(text), path_(path) {
    if (s_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
  }

  bool done() const { return pos_ >= s_.size(); }
  int line() const { return line_; }

  // Reads one record into `fields`; false for a blank line (nothing read).
  bool next(std::vector<std::string>& fields) {
    fields.clear();
    if (at_eol()) {
      skip_eol();
      return false;
    }
    while (true) {
      fields.push_back(field());
      if (done()) return true;
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      skip_eol();  // field() stops only at ',', end of line or end of text
      return true;
    }
  }

 private:
  bool at_eol() const {
    return pos_ < s_.size() && (s_[pos_] == '\n' || (s_[pos_] == '\r' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '\n'));
  }
  void skip_eol() {
    if (s_[pos_] == '\r') ++pos_;
    ++pos_;
    ++line_;
  }

  std::string field() {
    std::string out;
    if (pos_ < s_.size() && s_[pos_] == '"') return quoted();
    while (pos_ < s_.size() && s_[pos_] != ',' && !at_eol()) {
      if (s_[pos_] == '"') fail(ErrorKind::kFormat, path_, ":", line_, ": quote inside an unquoted field");
      out += s_[pos_++];
    }
    return out;
  }

  std::string quoted() {
    const int start_line = line_;
    std::string out;
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= s_.size()) {
        fail(ErrorKind::kFormat, path_, ":", start_line, ": unterminated quoted field");
      }
      char c = s_[pos_++];
      if (c == '"') {
        if (pos_ < s_.size() && s_[pos_] == '"') {
          out += '"';
          ++pos_;
          continue;
        }
        if (pos_ < s_.size() && s_[pos_] != ',' && !at_eol()) {
          fail(ErrorKind::kFormat, path_, ":", line_, ": unexpected text after a closing quote");
        }
        return out;
      }
      if (c == '\n') ++line_;
      out += c;
    }
  }

  std::string_view s_;
  const std::string& path_;
  size_t pos_ = 0;
  int line_ = 1;
};

}  // namespace

CsvTable parse_csv(std::string_view text, const std::string& path) {
  CsvTable t;
  CsvScanner sc(text, path);
  std::vector<std::string> fields;
  bool have_header = false;
  while (!sc.done()) {
    const int line = sc.line();
    if (!sc.next(fields)) continue;
    if (!have_header) {
      t.header = fields;
      have_header = true;
      continue;
    }
    if (fields.size() != t.header.size()) {
      fail(ErrorKind::kFormat, path, ":", line, ": expected ", t.header.size(), " fields (as in the header), got ",
           fields.size());
    }
    t.rows.push_back(std::move(fields));
    t.row_lines.push_back(line);
  }
  if (!have_header) fail(ErrorKind::kFormat, path, ": empty CSV (no header)");
  return t;
}

CsvTable read_csv(const std::string& path) { return parse_csv(read_file(path), path); }

}  // namespace dm
