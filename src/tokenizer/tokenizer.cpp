// dm::Tokenizer: special/added-token splitting, NFC, pre-tokenisation and BPE; decode; StreamDecoder.
#include "devops_model/tokenizer/tokenizer.h"

#include <algorithm>
#include <filesystem>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/tokenizer/unicode.h"
#include "tokenizer_impl.h"

namespace dm {
namespace fs = std::filesystem;

void Tokenizer::Impl::add_token(std::string text, int32_t id, bool special) {
  if (added_by_text.count(text)) return;  // first definition wins
  added_by_text.emplace(text, added.size());
  added_by_id.emplace(id, added.size());
  added.push_back({std::move(text), id, special});
}

void Tokenizer::Impl::finalize() {
  for (auto& v : added_by_first_byte) v.clear();
  int32_t max_id = bpe.max_id();
  for (size_t i = 0; i < added.size(); ++i) {
    max_id = std::max(max_id, added[i].id);
    if (added[i].text.empty()) continue;
    added_by_first_byte[static_cast<unsigned char>(added[i].text[0])].push_back(i);
  }
  for (auto& v : added_by_first_byte) {
    std::stable_sort(v.begin(), v.end(),
                     [&](size_t a, size_t b) { return added[a].text.size() > added[b].text.size(); });
  }
  vocab_size = max_id + 1;
  if (file_max_id < 0) file_max_id = max_id;
}

bool Tokenizer::Impl::find_added(std::string_view text, size_t from, bool allow_special, Match* m) const {
  for (size_t i = from; i < text.size(); ++i) {
    const auto& cands = added_by_first_byte[static_cast<unsigned char>(text[i])];
    for (size_t idx : cands) {
      const AddedToken& t = added[idx];
      if (t.special && !allow_special) continue;
      if (text.compare(i, t.text.size(), t.text) == 0) {
        *m = {i, idx};
        return true;
      }
    }
  }
  return false;
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::from_dir(const std::string& dir) {
  const fs::path d(dir);
  if (fs::is_regular_file(d)) return from_file(dir);  // a GGUF model file carries its tokenizer
  if (!fs::is_directory(d)) fail(ErrorKind::kIo, dir, ": not a directory");
  for (const char* name : {"tokenizer.json", "qwen.tiktoken", "vocab.json"}) {
    if (fs::exists(d / name)) return from_file((d / name).string());
  }
  fail(ErrorKind::kIo, dir, ": no tokenizer.json, qwen.tiktoken or vocab.json + merges.txt");
}

std::unique_ptr<Tokenizer> Tokenizer::from_file(const std::string& path) {
  if (fs::is_directory(path)) return from_dir(path);
  auto file = MappedFile::open(path);
  // Sniff the contents: JSON with a "model" is tokenizer.json, other JSON is vocab.json, the rest tiktoken.
  std::string_view head(reinterpret_cast<const char*>(file->data()), std::min<size_t>(file->size(), 4096));
  const size_t first = head.find_first_not_of(" \t\r\n");
  std::unique_ptr<Impl> impl;
  try {
    if (head.starts_with("GGUF")) {
      impl = load_gguf_tokenizer(path);
    } else if (first != std::string_view::npos && head[first] == '{') {
      const bool is_vocab =
          fs::path(path).filename() == "vocab.json" || (head.find("\"model\"") == std::string_view::npos &&
                                                        head.find("\"added_tokens\"") == std::string_view::npos &&
                                                        head.find("\"normalizer\"") == std::string_view::npos);
      impl = is_vocab ? load_vocab_json(path) : load_tokenizer_json(path);
    } else {
      impl = load_tiktoken(path);
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {  // nlohmann type errors, stoi: a malformed file
    fail(ErrorKind::kFormat, path, ": ", e.what());
  }
  impl->source = path;
  impl->finalize();
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

std::unique_ptr<Tokenizer> Tokenizer::from_tokenizer_json_text(std::string_view text, const std::string& source) {
  std::unique_ptr<Impl> impl;
  try {
    impl = load_tokenizer_json_text(text, source);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {  // nlohmann type errors: a malformed file
    fail(ErrorKind::kFormat, source, ": ", e.what());
  }
  impl->source = source;
  impl->finalize();
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

const std::string& Tokenizer::source() const { return impl_->source; }
int32_t Tokenizer::max_file_id() const { return impl_->file_max_id; }

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool allow_special) const {
  const Impl& im = *impl_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  std::string whole;
  if (im.nfc && im.nfc_before_added) {
    whole = nfc_normalize(text);
    text = whole;
  }
  auto ordinary = [&](std::string_view seg) {
    if (seg.empty()) return;
    std::string normalized;
    if (im.nfc && !im.nfc_before_added) {
      normalized = nfc_normalize(seg);
      seg = normalized;
    }
    im.pre->split(seg, [&](std::string_view piece) { im.bpe.encode_piece(piece, out); });
  };
  size_t pos = 0;
  Impl::Match m;
  while (!im.added.empty() && im.find_added(text, pos, allow_special, &m)) {
    ordinary(text.substr(pos, m.pos - pos));
    out.push_back(im.added[m.index].id);
    pos = m.pos + im.added[m.index].text.size();
  }
  ordinary(text.substr(pos));
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  for (int32_t id : ids) {
    auto it = impl_->added_by_id.find(id);
    if (it != impl_->added_by_id.end()) {
      const AddedToken& t = impl_->added[it->second];
      if (!(skip_special && t.special)) out += t.text;
    } else if (impl_->bpe.has_id(id)) {
      out += impl_->bpe.bytes(id);
    }
    // Else an id without a token (a model's padded embedding rows: Qwen has 151936 rows for ~151.7k
    // tokens): nothing, as Hugging Face tokenizers' decode skips ids it does not know.
  }
  return out;
}

std::optional<int32_t> Tokenizer::token_id(std::string_view token) const {
  auto it = impl_->added_by_text.find(std::string(token));
  if (it != impl_->added_by_text.end()) return impl_->added[it->second].id;
  return impl_->bpe.find(token);
}

std::string Tokenizer::token_bytes(int32_t id) const {
  const int32_t one[1] = {id};
  return decode(one, false);
}

bool Tokenizer::is_special(int32_t id) const {
  auto it = impl_->added_by_id.find(id);
  return it != impl_->added_by_id.end() && impl_->added[it->second].special;
}

int32_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

StreamDecoder::StreamDecoder(const Tokenizer& tok, bool skip_special) : tok_(tok), skip_special_(skip_special) {}

std::string StreamDecoder::push(int32_t id) {
  if (skip_special_ && tok_.is_special(id)) return {};
  pending_ += tok_.token_bytes(id);
  const size_t n = utf8_complete_prefix(pending_);
  std::string out = utf8_replace_invalid(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = utf8_replace_invalid(pending_);
  pending_.clear();
  return out;
}

}  // namespace dm
