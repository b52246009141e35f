// RFC 4180 CSV reader for question files (CMMLU, C-Eval, DevOps-Eval). Fields are kept byte-exact:
// no trimming, no Unicode normalisation (options carry trailing spaces and Kangxi radicals).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace dm {

struct CsvTable {
  std::vector<std::string> header;             // first record
  std::vector<std::vector<std::string>> rows;  // every later record, each with header.size() fields
  std::vector<int> row_lines;                  // 1-based physical line where each row starts
};

// Parses CSV text. Records end at LF or CRLF; quoted fields may hold commas, quotes ("") and line
// breaks (kept as written). A UTF-8 BOM at the start is dropped; blank lines are skipped.
// `path` only names the source in errors: Error(kFormat) "path:line: ..." for an unterminated quote,
// text after a closing quote, a quote inside an unquoted field, or a row whose field count differs
// from the header's.
CsvTable parse_csv(std::string_view text, const std::string& path);

// Reads and parses a file (Error(kIo) naming the path when unreadable).
CsvTable read_csv(const std::string& path);

}  // namespace dm
