#include "devops_model/data/doc_io.h"

#include <zstd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"

namespace dm::data {
namespace {

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

class FileSource : public ByteSource {
 public:
  explicit FileSource(const std::string& path) : path_(path) {
    f_ = std::fopen(path.c_str(), "rb");
    if (!f_) fail(ErrorKind::kIo, path, ": cannot open for reading: ", std::strerror(errno));
  }
  ~FileSource() override { std::fclose(f_); }
  size_t read(char* buf, size_t n) override {
    size_t got = std::fread(buf, 1, n, f_);
    if (got == 0 && std::ferror(f_)) fail(ErrorKind::kIo, path_, ": read error");
    return got;
  }

 private:
  std::string path_;
  FILE* f_ = nullptr;
};

class ZstdSource : public ByteSource {
 public:
  explicit ZstdSource(const std::string& path) : file_(path), path_(path), in_(ZSTD_DStreamInSize()) {
    ctx_ = ZSTD_createDCtx();
  }
  ~ZstdSource() override { ZSTD_freeDCtx(ctx_); }
  size_t read(char* buf, size_t n) override {
    ZSTD_outBuffer out{buf, n, 0};
    while (out.pos == 0) {
      if (inb_.pos == inb_.size) {
        size_t got = file_.read(in_.data(), in_.size());
        if (got == 0) {
          if (last_ret_ != 0) fail(ErrorKind::kFormat, path_, ": truncated zstd stream");
          return 0;
        }
        inb_ = ZSTD_inBuffer{in_.data(), got, 0};
      }
      size_t ret = ZSTD_decompressStream(ctx_, &out, &inb_);
      if (ZSTD_isError(ret)) fail(ErrorKind::kFormat, path_, ": zstd: ", ZSTD_getErrorName(ret));
      last_ret_ = ret;
    }
    return out.pos;
  }

 private:
  FileSource file_;
  std::string path_;
  std::vector<char> in_;
  ZSTD_inBuffer inb_{nullptr, 0, 0};
  ZSTD_DCtx* ctx_;
  size_t last_ret_ = 0;
};

}  // namespace

const char* bad_input_name(BadInput kind) {
  switch (kind) {
    case BadInput::kInvalidJson: return "invalid_json";
    case BadInput::kInvalidUtf8: return "invalid_utf8";
    case BadInput::kMissingField: return "missing_field";
    case BadInput::kHugeLine: return "huge_line";
    default: return "?";
  }
}

void BadInputStats::add(BadInput kind, const std::string& file, int64_t line) {
  counts[static_cast<size_t>(kind)]++;
  if (examples.size() < kMaxExamples) examples.push_back(str_cat(file, ":", line, ": ", bad_input_name(kind)));
}

void BadInputStats::warn(const std::string& message) {
  if (warnings.size() < kMaxExamples) warnings.push_back(message);
}

void BadInputStats::merge(const BadInputStats& o) {
  for (size_t i = 0; i < counts.size(); ++i) counts[i] += o.counts[i];
  for (const auto& e : o.examples) {
    if (examples.size() >= kMaxExamples) break;
    examples.push_back(e);
  }
  for (const auto& w : o.warnings) warn(w);
}

int64_t BadInputStats::total() const {
  int64_t t = 0;
  for (auto c : counts) t += c;
  return t;
}

std::unique_ptr<ByteSource> ByteSource::open(const std::string& path) {
  if (ends_with(path, ".zst")) return std::make_unique<ZstdSource>(path);
  return std::make_unique<FileSource>(path);
}

bool valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* e = p + s.size();
  while (p < e) {
    unsigned c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) n = 1, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) n = 2, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) n = 3, cp = c & 0x07;
    else return false;
    if (e - p <= n) return false;
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    static const uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += n + 1;
  }
  return true;
}

std::string file_stem(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  for (const char* suf : {".zst", ".jsonl", ".json", ".txt", ".md"}) {
    if (ends_with(name, suf)) name.resize(name.size() - std::strlen(suf));
  }
  return name;
}

DocReader::DocReader(const std::string& path, ReaderOptions opts)
    : path_(path), stem_(file_stem(path)), opts_(std::move(opts)), src_(ByteSource::open(path)) {
  std::string p = ends_with(path, ".zst") ? path.substr(0, path.size() - 4) : path;
  jsonl_ = ends_with(p, ".jsonl") || ends_with(p, ".json");
}

DocReader::~DocReader() = default;

void DocReader::report(BadInput kind) { count_bad(kind, line_no_); }

void DocReader::warn_empty() {
  // An empty .zst is not even a zstd frame (a truncated download, a failed upstream job): say so.
  if (ends_with(path_, ".zst"))
    bad_.warn(str_cat(path_, ": empty file (0 bytes, no zstd frame): read as zero documents"));
  else bad_.warn(str_cat(path_, ": empty file: zero documents"));
}

void DocReader::count_bad(BadInput kind, int64_t line) {
  if (opts_.strict) fail(ErrorKind::kFormat, path_, ":", line, ": ", bad_input_name(kind));
  bad_.add(kind, path_, line);
}

bool parse_doc_line(const RawLine& l, const ReaderOptions& opts, const std::string& stem, Document* doc,
                    BadInput* bad) {
  if (l.huge) return *bad = BadInput::kHugeLine, false;
  // JSON allows no raw control bytes; the JSON parser would stop at a NUL and silently drop the rest.
  if (l.text.find('\0') != std::string::npos) return *bad = BadInput::kInvalidJson, false;
  if (!valid_utf8(l.text)) return *bad = BadInput::kInvalidUtf8, false;
  auto j = nlohmann::json::parse(l.text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return *bad = BadInput::kInvalidJson, false;
  auto t = j.find(opts.text_field);
  if (t == j.end() || !t->is_string()) return *bad = BadInput::kMissingField, false;
  doc->text = t->get<std::string>();
  auto id = j.find(opts.id_field);
  if (id != j.end() && id->is_string()) doc->id = id->get<std::string>();
  else if (id != j.end() && id->is_number()) doc->id = id->dump();
  else doc->id = str_cat(stem, ":", l.line_no);
  auto src = j.find(opts.source_field);
  doc->source = src != j.end() && src->is_string() ? src->get<std::string>() : stem;
  return true;
}

bool DocReader::next_lines(std::vector<RawLine>* out, size_t max) {
  DM_CHECK(jsonl_, "next_lines reads JSONL files");
  out->clear();
  RawLine l;
  while (out->size() < max && read_line(&l.text, &l.huge)) {
    l.line_no = ++line_no_;
    if (!l.huge && l.text.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank line
    out->push_back(std::move(l));
    l = RawLine{};
  }
  return !out->empty();
}

// Reads one line (without '\n') into *line. A line longer than max_line_bytes is skipped to its end
// and reported through *huge so memory stays bounded.
bool DocReader::read_line(std::string* line, bool* huge) {
  line->clear();
  *huge = false;
  for (;;) {
    size_t nl = buf_.find('\n', pos_);
    size_t end = nl == std::string::npos ? buf_.size() : nl;
    if (!*huge) line->append(buf_, pos_, end - pos_);
    if (line->size() > opts_.max_line_bytes) {
      *huge = true;
      line->clear();
    }
    if (nl != std::string::npos) {
      pos_ = nl + 1;
      return true;
    }
    buf_.clear();
    pos_ = 0;
    if (eof_) return !line->empty() || *huge;
    buf_.resize(size_t{1} << 20);
    size_t got = src_->read(buf_.data(), buf_.size());
    buf_.resize(got);
    bytes_read_ += got;
    if (got == 0) {
      eof_ = true;
      if (bytes_read_ == 0) warn_empty();
      return !line->empty() || *huge;
    }
  }
}

bool DocReader::next(Document* doc) {
  std::string line;
  bool huge = false;
  if (!jsonl_) {
    // Plain text: the whole file is one document.
    if (text_done_) return false;
    text_done_ = true;
    doc->text.clear();
    line_no_ = 1;
    while (read_line(&line, &huge)) {
      if (huge || doc->text.size() + line.size() > opts_.max_line_bytes) {
        report(BadInput::kHugeLine);
        return false;
      }
      doc->text += line;
      doc->text += '\n';
    }
    if (!valid_utf8(doc->text)) {
      report(BadInput::kInvalidUtf8);
      return false;
    }
    doc->id = stem_;
    doc->source = stem_;
    return true;
  }
  std::vector<RawLine> one;
  while (next_lines(&one, 1)) {
    BadInput bad;
    if (parse_doc_line(one[0], opts_, stem_, doc, &bad)) return true;
    count_bad(bad, one[0].line_no);
  }
  return false;
}

struct DocWriter::Impl {
  std::string path, tmp;
  FILE* f = nullptr;
  ZSTD_CCtx* z = nullptr;
  std::vector<char> out;
  bool closed = false;

  void put(const char* data, size_t n, ZSTD_EndDirective mode) {
    if (!z) {
      if (n && std::fwrite(data, 1, n, f) != n) fail(ErrorKind::kIo, tmp, ": write failed");
      return;
    }
    ZSTD_inBuffer in{data, n, 0};
    for (;;) {
      ZSTD_outBuffer ob{out.data(), out.size(), 0};
      size_t rem = ZSTD_compressStream2(z, &ob, &in, mode);
      if (ZSTD_isError(rem)) fail(ErrorKind::kIo, tmp, ": zstd: ", ZSTD_getErrorName(rem));
      if (ob.pos && std::fwrite(out.data(), 1, ob.pos, f) != ob.pos) fail(ErrorKind::kIo, tmp, ": write failed");
      bool done = mode == ZSTD_e_end ? rem == 0 : in.pos == in.size;
      if (done) break;
    }
  }
};

DocWriter::DocWriter(const std::string& path, int zstd_level) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->tmp = path + ".tmp";
  impl_->f = std::fopen(impl_->tmp.c_str(), "wb");
  if (!impl_->f) fail(ErrorKind::kIo, impl_->tmp, ": cannot open for writing: ", std::strerror(errno));
  if (ends_with(path, ".zst")) {
    impl_->z = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(impl_->z, ZSTD_c_compressionLevel, zstd_level);
    impl_->out.resize(ZSTD_CStreamOutSize());
  }
}

DocWriter::~DocWriter() {
  if (impl_->z) ZSTD_freeCCtx(impl_->z);
  if (impl_->f) {
    std::fclose(impl_->f);
    std::remove(impl_->tmp.c_str());
  }
}

void DocWriter::write(const Document& doc) {
  nlohmann::json j = {{"id", doc.id}, {"source", doc.source}, {"text", doc.text}};
  write_raw_line(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void DocWriter::write_raw_line(const std::string& line) {
  DM_CHECK(!impl_->closed);
  impl_->put(line.data(), line.size(), ZSTD_e_continue);
  impl_->put("\n", 1, ZSTD_e_continue);
  bytes_ += line.size() + 1;
}

void DocWriter::close() {
  if (impl_->closed) return;
  impl_->put(nullptr, 0, ZSTD_e_end);
  if (std::fflush(impl_->f) != 0) fail(ErrorKind::kIo, impl_->tmp, ": flush failed");
  std::fclose(impl_->f);
  impl_->f = nullptr;
  impl_->closed = true;
  std::error_code ec;
  std::filesystem::rename(impl_->tmp, impl_->path, ec);
  if (ec) fail(ErrorKind::kIo, impl_->path, ": rename failed: ", ec.message());
}

}  // namespace dm::data
