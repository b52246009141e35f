// Streaming document readers and writers for corpus cleaning: JSONL, JSONL.zst and plain text in,
// JSONL(.zst) out. Memory is bounded by the longest accepted line, never by the file size.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dm::data {

// One document: `id` and `source` travel with the text to the output.
struct Document {
  std::string id;
  std::string source;
  std::string text;
};

// Kinds of bad input; each is counted and the run goes on (unless strict).
enum class BadInput { kInvalidJson = 0, kInvalidUtf8, kMissingField, kHugeLine, kCount };
const char* bad_input_name(BadInput kind);

// Counts per kind plus the first few locations ("file:line: kind").
struct BadInputStats {
  std::array<int64_t, static_cast<size_t>(BadInput::kCount)> counts{};
  std::vector<std::string> examples;
  std::vector<std::string> warnings;  // file-level notes (an empty input file), first kMaxExamples
  static constexpr size_t kMaxExamples = 20;
  void add(BadInput kind, const std::string& file, int64_t line);
  void warn(const std::string& message);
  void merge(const BadInputStats& other);
  int64_t total() const;
};

struct ReaderOptions {
  std::string text_field = "text";
  std::string id_field = "id";
  std::string source_field = "source";
  // Longer lines (or plain-text files) are "huge": counted and skipped. The document rules hold ~25 bytes
  // per input byte of a line (code points, tokens, n-gram tables), so this bounds memory per thread.
  size_t max_line_bytes = size_t{16} << 20;
  bool strict = false;                       // throw Error(kFormat) at the first bad input
};

// Byte stream over a plain or zstd-compressed file (chosen by the ".zst" suffix).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to n bytes; returns 0 at end of stream. Throws Error(kFormat) on corrupt zstd.
  virtual size_t read(char* buf, size_t n) = 0;
  static std::unique_ptr<ByteSource> open(const std::string& path);
};

// One JSONL line as read, before parsing (parsing can then run on all cores).
struct RawLine {
  int64_t line_no = 0;
  std::string text;
  bool huge = false;  // longer than max_line_bytes: text is empty
};

// Parses one JSONL line into *doc (id "stem:line" and source `stem` when absent). Returns false and sets
// *bad on bad input. Thread-safe; counts nothing.
bool parse_doc_line(const RawLine& line, const ReaderOptions& opts, const std::string& stem, Document* doc,
                    BadInput* bad);

// Reads documents one at a time. Format from the suffix: .jsonl/.json/.jsonl.zst/.json.zst are JSONL
// (one object per line, text in `text_field`, optional id/source fields); anything else is plain text,
// one document per file (id = file name). Missing ids become "file:line"; missing source = file stem.
class DocReader {
 public:
  DocReader(const std::string& path, ReaderOptions opts);
  ~DocReader();
  // Next good document; false at end of file. Bad lines are counted in bad() and skipped.
  bool next(Document* doc);
  // JSONL only: up to `max` non-blank raw lines, in file order; false when none was left. The caller
  // parses them (parse_doc_line) and reports bad ones with count_bad, in line order.
  bool next_lines(std::vector<RawLine>* out, size_t max);
  bool is_jsonl() const { return jsonl_; }
  const std::string& stem() const { return stem_; }
  // Counts a bad input at `line` (Error(kFormat) naming file:line when strict).
  void count_bad(BadInput kind, int64_t line);
  const BadInputStats& bad() const { return bad_; }
  uint64_t bytes_read() const { return bytes_read_; }
  int64_t line_number() const { return line_no_; }  // 1-based line of the last document returned

 private:
  bool read_line(std::string* line, bool* huge);
  std::string path_, stem_;
  ReaderOptions opts_;
  std::unique_ptr<ByteSource> src_;
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false, jsonl_ = true, text_done_ = false;
  int64_t line_no_ = 0;
  uint64_t bytes_read_ = 0;
  BadInputStats bad_;
  void report(BadInput kind);
  void warn_empty();
};

// Writes {"id","source","text"} JSONL lines, zstd-compressed if the path ends in ".zst". Data goes to
// "<path>.tmp" and is renamed over `path` by close(), so a crash never leaves a half file under `path`.
class DocWriter {
 public:
  explicit DocWriter(const std::string& path, int zstd_level = 3);
  ~DocWriter();  // abandons (deletes) the temp file if close() was not called
  void write(const Document& doc);
  void write_raw_line(const std::string& json_line);  // one JSON object, no trailing newline
  void close();
  uint64_t bytes_written() const { return bytes_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint64_t bytes_ = 0;
};

// True iff `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(const std::string& s);

// File stem without directories and data suffixes (.jsonl.zst, .txt, ...).
std::string file_stem(const std::string& path);

}  // namespace dm::data
