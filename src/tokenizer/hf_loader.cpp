// Hugging Face formats (spec D.4): tokenizer.json (normaliser, Split regex, byte-level BPE with
// merges, added tokens) and the slow tokenizer's vocab.json + merges.txt.
#include <charconv>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"
#include "devops_model/core/limits.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/tokenizer/unicode.h"
#include "tokenizer_impl.h"

namespace dm {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::array<int, 512>& unicode_to_byte() {
  static const std::array<int, 512> table = [] {
    std::array<int, 512> t;
    t.fill(-1);
    const auto& fwd = byte_to_unicode();
    for (int b = 0; b < 256; ++b) t[fwd[static_cast<size_t>(b)]] = b;
    return t;
  }();
  return table;
}

json parse_json_text(std::string_view text, const std::string& path) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    fail(ErrorKind::kFormat, path, ": invalid JSON: ", e.what());
  }
}

json parse_json_file(const std::string& path) {
  auto file = MappedFile::open(path);
  return parse_json_text(std::string_view(reinterpret_cast<const char*>(file->data()), file->size()), path);
}

int32_t vocab_lookup(const Tokenizer::Impl& im, std::string_view byte_level, const std::string& where) {
  std::string bytes;
  if (!byte_level_decode(byte_level, &bytes)) fail(ErrorKind::kFormat, where, ": '", byte_level, "' is not byte-level");
  auto id = im.bpe.find(bytes);
  if (!id) fail(ErrorKind::kFormat, where, ": '", byte_level, "' is not in the vocabulary");
  return *id;
}

// An id bounded by kMaxVocabSize: the id sizes the id -> token table, so a corrupt 2^40 must not wrap and
// a 1e7 must not allocate; Error(kFormat) naming `where` and the entry.
int32_t checked_id(const json& v, const std::string& where, std::string_view entry) {
  if (!v.is_number_integer()) fail(ErrorKind::kFormat, where, ": id of '", entry, "' is not an integer");
  const bool too_big = v.is_number_unsigned() ? v.get<uint64_t>() >= static_cast<uint64_t>(kMaxVocabSize)
                                              : v.get<int64_t>() >= kMaxVocabSize;
  if (too_big || (!v.is_number_unsigned() && v.get<int64_t>() < 0))
    fail(ErrorKind::kFormat, where, ": id of '", entry, "' (", v.dump(), ") is out of range [0, ", kMaxVocabSize, ")");
  return static_cast<int32_t>(v.get<int64_t>());
}

void add_vocab(Tokenizer::Impl& im, const json& vocab, const std::string& where) {
  if (!vocab.is_object()) fail(ErrorKind::kFormat, where, ": vocab must be an object");
  std::string bytes;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const int32_t id = checked_id(it.value(), where, it.key());
    if (!byte_level_decode(it.key(), &bytes)) fail(ErrorKind::kFormat, where, ": '", it.key(), "' is not byte-level");
    im.bpe.add_token(bytes, id);
  }
  im.bpe.finalize();
}

// tokenizer.json's added_tokens: [{"id": N, "content": "...", "special": bool}, ...].
void add_added_tokens(Tokenizer::Impl& im, const json& list, const std::string& path) {
  if (!list.is_array()) fail(ErrorKind::kFormat, path, ": added_tokens must be a list");
  for (size_t i = 0; i < list.size(); ++i) {
    const json& t = list[i];
    const std::string where = str_cat(path, ": added_tokens[", i, "]");
    if (!t.is_object() || !t.contains("content") || !t["content"].is_string() || !t.contains("id"))
      fail(ErrorKind::kFormat, where, ": expected {\"id\": N, \"content\": \"...\"}");
    const std::string& content = t["content"].get_ref<const std::string&>();
    const json& special = t.contains("special") ? t["special"] : json(true);
    if (!special.is_boolean()) fail(ErrorKind::kFormat, where, ": special must be true or false");
    im.add_token(content, checked_id(t["id"], where, content), special.get<bool>());
  }
}

// tokenizer_config.json's added_tokens_decoder: {"151643": {"content": "...", "special": bool}, ...}.
void add_added_tokens_decoder(Tokenizer::Impl& im, const json& dec, const std::string& path) {
  const std::string where = path + ": added_tokens_decoder";
  if (!dec.is_object()) fail(ErrorKind::kFormat, where, ": must be an object");
  for (auto it = dec.begin(); it != dec.end(); ++it) {
    const std::string& key = it.key();
    int64_t id = -1;
    auto [p, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
    if (ec != std::errc() || p != key.data() + key.size() || id < 0 || id >= kMaxVocabSize)
      fail(ErrorKind::kFormat, where, ": key \"", key, "\" is not a token id in [0, ", kMaxVocabSize, ")");
    const json& t = it.value();
    if (!t.is_object() || !t.contains("content") || !t["content"].is_string())
      fail(ErrorKind::kFormat, where, "[\"", key, "\"]: expected {\"content\": \"...\"}");
    const json& special = t.contains("special") ? t["special"] : json(true);
    if (!special.is_boolean()) fail(ErrorKind::kFormat, where, "[\"", key, "\"]: special must be true or false");
    im.add_token(t["content"].get<std::string>(), static_cast<int32_t>(id), special.get<bool>());
  }
}

void set_normalizer(Tokenizer::Impl& im, const json& n, const std::string& path) {
  im.nfc = false;
  if (n.is_null()) return;
  const std::string type = n.value("type", "");
  if (type == "NFC") {
    im.nfc = true;
  } else if (type == "Sequence") {
    for (const auto& sub : n.value("normalizers", json::array())) set_normalizer(im, sub, path);
  } else {
    fail(ErrorKind::kUnsupported, path, ": normalizer type '", type, "' (only NFC is supported)");
  }
}

// Finds the Split regex in pre_tokenizer (possibly inside a Sequence).
void set_pre_tokenizer(Tokenizer::Impl& im, const json& p, const std::string& path) {
  std::string pattern;
  bool byte_level_regex = false;
  std::vector<json> items;
  if (p.is_object() && p.value("type", "") == "Sequence") {
    for (const auto& s : p.value("pretokenizers", json::array())) items.push_back(s);
  } else if (p.is_object()) {
    items.push_back(p);
  }
  for (const auto& s : items) {
    const std::string type = s.value("type", "");
    if (type == "Split") {
      if (!s.contains("pattern") || !s["pattern"].contains("Regex")) {
        fail(ErrorKind::kUnsupported, path, ": pre_tokenizer Split without a Regex pattern");
      }
      if (s.value("behavior", "Isolated") != "Isolated" || s.value("invert", false)) {
        fail(ErrorKind::kUnsupported, path, ": pre_tokenizer Split must be Isolated, not inverted");
      }
      pattern = s["pattern"]["Regex"].get<std::string>();
    } else if (type == "ByteLevel") {
      byte_level_regex = s.value("use_regex", true);
    } else {
      fail(ErrorKind::kUnsupported, path, ": pre_tokenizer type '", type, "'");
    }
  }
  if (pattern.empty() && byte_level_regex) pattern = kGpt2Regex;
  if (pattern.empty()) fail(ErrorKind::kUnsupported, path, ": no pre-tokenisation regex");
  im.pre = std::make_unique<Pretokenizer>(pattern);
}

}  // namespace

const std::array<uint32_t, 256>& byte_to_unicode() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[b] = printable ? b : next++;
    }
    return t;
  }();
  return table;
}

std::string byte_level_encode(std::string_view bytes) {
  std::string out;
  for (unsigned char b : bytes) {
    const uint32_t cp = byte_to_unicode()[b];
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

bool byte_level_decode(std::string_view s, std::string* out) {
  out->clear();
  const auto& inv = unicode_to_byte();
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    if (c < 0x80) {
      cp = c;
      i += 1;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < s.size()) {
      cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
      i += 2;
    } else {
      return false;  // every byte-level character is below U+0800
    }
    if (cp >= inv.size() || inv[cp] < 0) return false;
    out->push_back(static_cast<char>(inv[cp]));
  }
  return true;
}

void add_merge(Tokenizer::Impl& im, std::string_view a, std::string_view b, int32_t rank, const std::string& where) {
  const int32_t ia = vocab_lookup(im, a, where);
  const int32_t ib = vocab_lookup(im, b, where);
  auto merged = im.bpe.find(im.bpe.bytes(ia) + im.bpe.bytes(ib));
  if (!merged) fail(ErrorKind::kFormat, where, ": merge '", a, " ", b, "' yields no vocabulary token");
  im.bpe.add_merge(ia, ib, *merged, rank);
}

std::unique_ptr<Tokenizer::Impl> load_tokenizer_json(const std::string& path) {
  auto file = MappedFile::open(path);
  return load_tokenizer_json_text(std::string_view(reinterpret_cast<const char*>(file->data()), file->size()), path);
}

std::unique_ptr<Tokenizer::Impl> load_tokenizer_json_text(std::string_view text, const std::string& path) {
  const json j = parse_json_text(text, path);
  if (!j.is_object()) fail(ErrorKind::kFormat, path, ": not a JSON object");
  static const json kNull;
  // A reference, never `cond ? j[..] : json()`: that would copy the 151k-entry vocabulary.
  auto field = [&](const char* key) -> const json& { return j.contains(key) ? j[key] : kNull; };
  const json& model = field("model");
  if (!model.is_object() || model.value("type", "BPE") != "BPE") {
    fail(ErrorKind::kUnsupported, path, ": model.type must be BPE");
  }
  if (!model.contains("vocab") || !model.contains("merges"))
    fail(ErrorKind::kFormat, path, ": model lacks vocab/merges");
  auto impl = std::make_unique<Tokenizer::Impl>(BpeModel::Mode::kMerges);
  add_vocab(*impl, model["vocab"], path + ": model.vocab");
  const std::string where = path + ": model.merges";
  int32_t rank = 0;
  if (!model["merges"].is_array()) fail(ErrorKind::kFormat, where, ": must be a list");
  for (const auto& m : model["merges"]) {
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos) fail(ErrorKind::kFormat, where, "[", rank, "]: expected 'A B'");
      add_merge(*impl, std::string_view(s).substr(0, sp), std::string_view(s).substr(sp + 1), rank, where);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      add_merge(*impl, m[0].get<std::string>(), m[1].get<std::string>(), rank, where);
    } else {
      fail(ErrorKind::kFormat, where, "[", rank, "]: expected 'A B' or [A, B]");
    }
    ++rank;
  }
  set_normalizer(*impl, field("normalizer"), path);
  set_pre_tokenizer(*impl, field("pre_tokenizer"), path);
  if (j.contains("added_tokens")) add_added_tokens(*impl, j["added_tokens"], path);
  return impl;
}

std::unique_ptr<Tokenizer::Impl> load_vocab_json(const std::string& vocab_path) {
  const fs::path dir = fs::path(vocab_path).parent_path();
  const std::string merges_path = (dir / "merges.txt").string();
  auto impl = std::make_unique<Tokenizer::Impl>(BpeModel::Mode::kMerges);
  add_vocab(*impl, parse_json_file(vocab_path), vocab_path);
  const std::string merges = read_file(merges_path);
  std::string_view rest(merges);
  int32_t rank = 0;
  size_t line_no = 0;
  while (!rest.empty()) {
    ++line_no;
    const size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.starts_with("#version:"))) continue;
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos) fail(ErrorKind::kFormat, merges_path, ":", line_no, ": expected 'A B'");
    add_merge(*impl, line.substr(0, sp), line.substr(sp + 1), rank++, str_cat(merges_path, ":", line_no));
  }
  impl->pre = std::make_unique<Pretokenizer>();
  impl->nfc = true;  // the slow Qwen2Tokenizer NFC-normalises too
  // Added tokens: added_tokens.json, else tokenizer_config.json's added_tokens_decoder, else Qwen2's three.
  if (fs::exists(dir / "added_tokens.json")) {
    const std::string added_path = (dir / "added_tokens.json").string();
    const json a = parse_json_file(added_path);
    if (!a.is_object()) fail(ErrorKind::kFormat, added_path, ": must be an object");
    for (auto it = a.begin(); it != a.end(); ++it)
      impl->add_token(it.key(), checked_id(it.value(), added_path, it.key()), true);
  } else if (fs::exists(dir / "tokenizer_config.json")) {
    const std::string config_path = (dir / "tokenizer_config.json").string();
    const json c = parse_json_file(config_path);
    if (c.is_object() && c.contains("added_tokens_decoder"))
      add_added_tokens_decoder(*impl, c["added_tokens_decoder"], config_path);
  }
  if (impl->added.empty()) {
    int32_t id = impl->bpe.max_id() + 1;
    for (const char* s : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) impl->add_token(s, id++, true);
  }
  return impl;
}

}  // namespace dm
