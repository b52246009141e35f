// Hugging Face formats (spec D.4): tokenizer.json (normaliser, Split regex, byte-level BPE with
// merges, added tokens) and the slow tokenizer's vocab.json + merges.txt.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"
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

json parse_json_file(const std::string& path) {
  auto file = MappedFile::open(path);
  try {
    return json::parse(file->data(), file->data() + file->size());
  } catch (const json::exception& e) {
    fail(ErrorKind::kFormat, path, ": invalid JSON: ", e.what());
  }
}

int32_t vocab_lookup(const Tokenizer::Impl& im, std::string_view byte_level, const std::string& where) {
  std::string bytes;
  if (!byte_level_decode(byte_level, &bytes)) fail(ErrorKind::kFormat, where, ": '", byte_level, "' is not byte-level");
  auto id = im.bpe.find(bytes);
  if (!id) fail(ErrorKind::kFormat, where, ": '", byte_level, "' is not in the vocabulary");
  return *id;
}

void add_vocab(Tokenizer::Impl& im, const json& vocab, const std::string& where) {
  if (!vocab.is_object()) fail(ErrorKind::kFormat, where, ": vocab must be an object");
  std::string bytes;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer()) fail(ErrorKind::kFormat, where, ": id of '", it.key(), "' is not an integer");
    if (!byte_level_decode(it.key(), &bytes)) fail(ErrorKind::kFormat, where, ": '", it.key(), "' is not byte-level");
    im.bpe.add_token(bytes, it.value().get<int32_t>());
  }
  im.bpe.finalize();
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
  const json j = parse_json_file(path);
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
  for (const auto& m : model["merges"]) {
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos) fail(ErrorKind::kFormat, where, "[", rank, "]: expected 'A B'");
      add_merge(*impl, std::string_view(s).substr(0, sp), std::string_view(s).substr(sp + 1), rank, where);
    } else if (m.is_array() && m.size() == 2) {
      add_merge(*impl, m[0].get<std::string>(), m[1].get<std::string>(), rank, where);
    } else {
      fail(ErrorKind::kFormat, where, "[", rank, "]: expected 'A B' or [A, B]");
    }
    ++rank;
  }
  set_normalizer(*impl, field("normalizer"), path);
  set_pre_tokenizer(*impl, field("pre_tokenizer"), path);
  if (j.contains("added_tokens")) {
    for (const auto& t : j["added_tokens"]) {
      impl->add_token(t.at("content").get<std::string>(), t.at("id").get<int32_t>(), t.value("special", true));
    }
  }
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
    const json a = parse_json_file((dir / "added_tokens.json").string());
    for (auto it = a.begin(); it != a.end(); ++it) impl->add_token(it.key(), it.value().get<int32_t>(), true);
  } else if (fs::exists(dir / "tokenizer_config.json")) {
    const json c = parse_json_file((dir / "tokenizer_config.json").string());
    if (c.contains("added_tokens_decoder")) {
      for (auto it = c["added_tokens_decoder"].begin(); it != c["added_tokens_decoder"].end(); ++it) {
        impl->add_token(it.value().at("content").get<std::string>(), std::stoi(it.key()),
                        it.value().value("special", true));
      }
    }
  }
  if (impl->added.empty()) {
    int32_t id = impl->bpe.max_id() + 1;
    for (const char* s : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) impl->add_token(s, id++, true);
  }
  return impl;
}

}  // namespace dm
