// qwen.tiktoken: "base64(token) rank" per line (spec B.1); Qwen1's 208 special tokens take the ids
// after the last rank (B.4), and Qwen1 NFC-normalises the whole text before anything else (B.5).
#include <charconv>

#include "devops_model/core/error.h"
#include "devops_model/core/limits.h"
#include "devops_model/core/mapped_file.h"
#include "tokenizer_impl.h"

namespace dm {
namespace {

int base64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool base64_decode(std::string_view in, std::string* out) {
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  size_t i = 0;
  for (; i < in.size() && in[i] != '='; ++i) {
    const int v = base64_value(static_cast<unsigned char>(in[i]));
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  for (; i < in.size(); ++i) {
    if (in[i] != '=') return false;
  }
  return !out->empty();
}

}  // namespace

std::unique_ptr<Tokenizer::Impl> load_tiktoken(const std::string& path) {
  auto file = MappedFile::open(path);
  std::string_view text(reinterpret_cast<const char*>(file->data()), file->size());
  auto impl = std::make_unique<Tokenizer::Impl>(BpeModel::Mode::kTiktoken);
  std::string bytes;
  size_t line_no = 0;
  int32_t max_rank = -1;
  while (!text.empty()) {
    ++line_no;
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) continue;
    const size_t sp = line.find(' ');
    int32_t rank = -1;
    if (sp == std::string_view::npos) fail(ErrorKind::kFormat, path, ":", line_no, ": expected 'base64 rank'");
    std::string_view num = line.substr(sp + 1);
    auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), rank);
    // The rank is an id: bounded so that a corrupt line cannot size the id table (208 specials follow).
    if (ec != std::errc() || ptr != num.data() + num.size() || rank < 0 || rank >= kMaxVocabSize - 208) {
      fail(ErrorKind::kFormat, path, ":", line_no, ": bad rank '", num, "'");
    }
    if (!base64_decode(line.substr(0, sp), &bytes)) {
      fail(ErrorKind::kFormat, path, ":", line_no, ": bad base64 token '", line.substr(0, sp), "'");
    }
    if (impl->bpe.has_id(rank)) fail(ErrorKind::kFormat, path, ":", line_no, ": rank ", rank, " repeated");
    impl->bpe.add_token(bytes, rank);
    max_rank = std::max(max_rank, rank);
  }
  if (max_rank < 0) fail(ErrorKind::kFormat, path, ": no tokens");
  impl->bpe.finalize();
  impl->pre = std::make_unique<Pretokenizer>();
  impl->nfc = true;
  impl->nfc_before_added = true;
  impl->file_max_id = max_rank;
  int32_t id = max_rank + 1;
  for (const char* s : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) impl->add_token(s, id++, true);
  for (int i = 0; i < 205; ++i) impl->add_token(str_cat("<|extra_", i, "|>"), id++, true);
  return impl;
}

}  // namespace dm
