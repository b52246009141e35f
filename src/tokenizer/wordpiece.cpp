// BERT WordPiece with HF BertTokenizer semantics. Text is handled as code points (Python str); Unicode
// categories, case mapping and decomposition come from utf8proc.
#include "devops_model/tokenizer/wordpiece.h"

#include <utf8proc.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/tokenizer/unicode.h"

namespace dm {
namespace fs = std::filesystem;
namespace {

std::u32string decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size());
  while (left > 0) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) cp = 0xFFFD, n = 1;  // invalid byte: U+FFFD, which the cleaner then drops
    out.push_back(static_cast<char32_t>(cp));
    p += n, left -= n;
  }
  return out;
}

void append_utf8(char32_t c, std::string* out) {
  utf8proc_uint8_t buf[4];
  utf8proc_ssize_t n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(c), buf);
  out->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

std::string to_utf8(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(c, &out);
  return out;
}

utf8proc_category_t category(char32_t c) { return utf8proc_category(static_cast<utf8proc_int32_t>(c)); }

// _is_control: category C* except \t \n \r.
bool is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  auto k = category(c);
  return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CS ||
         k == UTF8PROC_CATEGORY_CO || k == UTF8PROC_CATEGORY_CN;
}

// _is_whitespace: space, \t, \n, \r or category Zs.
bool is_whitespace(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || category(c) == UTF8PROC_CATEGORY_ZS;
}

// _is_punctuation: the ASCII non-alphanumeric ranges (so "$", "^", "`" count) or category P*.
bool is_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  auto k = category(c);
  return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

// _is_chinese_char: the CJK Unified Ideographs blocks (not kana, hangul or CJK punctuation).
bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Python's str.split() separators left after cleaning: ' ' and the line/paragraph separators.
bool is_split_space(char32_t c) { return c == ' ' || c == 0x2028 || c == 0x2029; }

bool is_cased(char32_t c) {
  auto k = category(c);
  return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT;
}
bool is_case_ignorable(char32_t c) {
  auto k = category(c);
  return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
         k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK || c == '\'' || c == '.' || c == ':' || c == 0xB7 ||
         c == 0x2019;
}

// Python str.lower(): simple mappings plus the two SpecialCasing rules that apply without a locale
// (U+0130 -> "i\u0307", and the final sigma).
std::u32string lower(const std::u32string& w) {
  std::u32string out;
  out.reserve(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    char32_t c = w[i];
    if (c == 0x130) {
      out += U"i\u0307";
    } else if (c == 0x3A3) {
      auto before = [&] {
        for (size_t j = i; j-- > 0;) {
          if (!is_case_ignorable(w[j])) return is_cased(w[j]);
        }
        return false;
      };
      auto after = [&] {
        for (size_t j = i + 1; j < w.size(); ++j) {
          if (!is_case_ignorable(w[j])) return is_cased(w[j]);
        }
        return false;
      };
      out.push_back(before() && !after() ? 0x3C2 : 0x3C3);
    } else {
      out.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
    }
  }
  return out;
}

// _run_strip_accents: NFD (full canonical decomposition + canonical ordering), then drop category Mn.
std::u32string strip_accents(const std::u32string& w) {
  std::u32string nfd;
  utf8proc_int32_t buf[32];
  for (char32_t c : w) {
    int boundclass = 0;
    utf8proc_ssize_t n =
        c < 0x80 ? 0
                 : utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buf, 32, UTF8PROC_DECOMPOSE, &boundclass);
    if (n <= 0 || n > 32) {
      nfd.push_back(c);
      continue;
    }
    for (utf8proc_ssize_t i = 0; i < n; ++i) nfd.push_back(static_cast<char32_t>(buf[i]));
  }
  auto ccc = [](char32_t c) { return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class; };
  for (size_t i = 1; i < nfd.size(); ++i) {  // canonical ordering: stable insertion sort of marks by class
    for (size_t j = i; j > 0 && ccc(nfd[j]) != 0 && ccc(nfd[j - 1]) > ccc(nfd[j]); --j) std::swap(nfd[j], nfd[j - 1]);
  }
  std::u32string out;
  out.reserve(nfd.size());
  for (char32_t c : nfd) {
    if (category(c) != UTF8PROC_CATEGORY_MN) out.push_back(c);
  }
  return out;
}

bool ascii_only(const std::u32string& s) {
  return std::all_of(s.begin(), s.end(), [](char32_t c) { return c < 0x80; });
}

// _clean_text + _tokenize_chinese_chars + NFC + whitespace split + per-word lower/strip/punctuation split.
std::vector<std::u32string> basic(std::string_view text, const WordPieceOptions& o) {
  std::u32string cleaned;
  for (char32_t c : decode(text)) {
    if (c == 0 || c == 0xFFFD || is_control(c)) continue;
    if (is_whitespace(c)) {
      cleaned.push_back(' ');
    } else if (o.tokenize_chinese_chars && is_cjk(c)) {
      cleaned.push_back(' '), cleaned.push_back(c), cleaned.push_back(' ');
    } else {
      cleaned.push_back(c);
    }
  }
  if (!ascii_only(cleaned)) cleaned = decode(nfc_normalize(to_utf8(cleaned)));
  const bool strip = o.strip_accents == 1 || (o.strip_accents == -1 && o.do_lower_case);
  std::vector<std::u32string> out;
  for (size_t i = 0; i < cleaned.size();) {
    while (i < cleaned.size() && is_split_space(cleaned[i])) ++i;
    size_t j = i;
    while (j < cleaned.size() && !is_split_space(cleaned[j])) ++j;
    if (j == i) break;
    std::u32string w = cleaned.substr(i, j - i);
    i = j;
    if (o.do_lower_case) w = lower(w);
    if (strip && !ascii_only(w)) w = strip_accents(w);
    std::u32string cur;
    for (char32_t c : w) {  // _run_split_on_punc
      if (is_punctuation(c)) {
        if (!cur.empty()) out.push_back(std::move(cur)), cur.clear();
        out.push_back(std::u32string(1, c));
      } else {
        cur.push_back(c);
      }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
  }
  return out;
}

// A special token in tokenizer_config.json: a string or an AddedToken object {"content": ...}.
void read_token(const nlohmann::json& j, const char* key, std::string* out) {
  if (!j.contains(key)) return;
  const auto& v = j[key];
  if (v.is_string()) *out = v.get<std::string>();
  else if (v.is_object() && v.contains("content") && v["content"].is_string()) *out = v["content"].get<std::string>();
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions opts)
    : vocab_(std::move(vocab)), opts_(std::move(opts)) {
  ids_.reserve(vocab_.size());
  for (size_t i = 0; i < vocab_.size(); ++i) ids_[vocab_[i]] = static_cast<int32_t>(i);  // later lines win (HF)
  unk_id_ = token_id(opts_.unk_token);
  cls_id_ = token_id(opts_.cls_token);
  sep_id_ = token_id(opts_.sep_token);
  pad_id_ = token_id(opts_.pad_token);
  if (unk_id_ < 0 || cls_id_ < 0 || sep_id_ < 0)
    fail(ErrorKind::kFormat, "WordPiece vocabulary lacks ", opts_.unk_token, ", ", opts_.cls_token, " or ",
         opts_.sep_token);
  if (pad_id_ < 0) pad_id_ = 0;
}

WordPieceTokenizer WordPieceTokenizer::load_dir(const std::string& dir) {
  fs::path vp = fs::path(dir) / "vocab.txt";
  std::ifstream in(vp, std::ios::binary);
  if (!in) fail(ErrorKind::kIo, vp.string(), ": cannot open (a BERT model directory needs vocab.txt)");
  std::vector<std::string> vocab;
  std::string line;
  while (std::getline(in, line)) vocab.push_back(line);  // HF strips only the "\n"
  if (vocab.empty()) fail(ErrorKind::kFormat, vp.string(), ": empty vocabulary");
  WordPieceOptions o;
  fs::path cp = fs::path(dir) / "tokenizer_config.json";
  if (fs::exists(cp)) {
    auto j = nlohmann::json::parse(read_file(cp.string()), nullptr, false);
    if (j.is_discarded() || !j.is_object()) fail(ErrorKind::kFormat, cp.string(), ": invalid JSON");
    if (j.contains("do_lower_case") && j["do_lower_case"].is_boolean()) o.do_lower_case = j["do_lower_case"];
    if (j.contains("strip_accents") && j["strip_accents"].is_boolean()) o.strip_accents = j["strip_accents"] ? 1 : 0;
    if (j.contains("tokenize_chinese_chars") && j["tokenize_chinese_chars"].is_boolean())
      o.tokenize_chinese_chars = j["tokenize_chinese_chars"];
    // HF writes 1e30 for "no limit": keep the default then.
    if (j.contains("model_max_length") && j["model_max_length"].is_number()) {
      double m = j["model_max_length"];
      if (m >= 2 && m <= 1e6) o.model_max_length = static_cast<int64_t>(m);
    }
    read_token(j, "unk_token", &o.unk_token);
    read_token(j, "cls_token", &o.cls_token);
    read_token(j, "sep_token", &o.sep_token);
    read_token(j, "pad_token", &o.pad_token);
    read_token(j, "mask_token", &o.mask_token);
  }
  // sentence-transformers' own truncation length wins when the model ships it.
  fs::path sp = fs::path(dir) / "sentence_bert_config.json";
  if (fs::exists(sp)) {
    auto j = nlohmann::json::parse(read_file(sp.string()), nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("max_seq_length") && j["max_seq_length"].is_number_integer())
      o.model_max_length = std::max<int64_t>(2, j["max_seq_length"].get<int64_t>());
  }
  try {
    return WordPieceTokenizer(std::move(vocab), std::move(o));
  } catch (const Error& e) {
    fail(ErrorKind::kFormat, vp.string(), ": ", e.what());
  }
}

int32_t WordPieceTokenizer::token_id(std::string_view token) const {
  auto it = ids_.find(std::string(token));
  return it == ids_.end() ? -1 : it->second;
}

std::vector<std::string> WordPieceTokenizer::basic_tokenize(std::string_view text) const {
  std::vector<std::string> out;
  for (const auto& w : basic(text, opts_)) out.push_back(to_utf8(w));
  return out;
}

// Greedy longest-match-first; any unmatched remainder makes the whole word [UNK].
void WordPieceTokenizer::wordpiece(const std::u32string& word, std::vector<int32_t>* ids) const {
  if (static_cast<int64_t>(word.size()) > opts_.max_input_chars_per_word) {
    ids->push_back(unk_id_);
    return;
  }
  std::string utf8;
  std::vector<size_t> off;  // byte offset of each code point, plus the end
  for (char32_t c : word) off.push_back(utf8.size()), append_utf8(c, &utf8);
  off.push_back(utf8.size());
  const size_t first = ids->size();
  std::string cand;
  for (size_t start = 0; start < word.size();) {
    int32_t found = -1;
    size_t end = word.size();
    for (; end > start; --end) {
      cand.assign(start > 0 ? "##" : "");
      cand.append(utf8, off[start], off[end] - off[start]);
      auto it = ids_.find(cand);
      if (it != ids_.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {
      ids->resize(first);
      ids->push_back(unk_id_);
      return;
    }
    ids->push_back(found);
    start = end;
  }
}

std::vector<std::string> WordPieceTokenizer::tokenize(std::string_view text) const {
  std::vector<int32_t> ids;
  encode_plain(text, &ids);
  std::vector<std::string> out;
  for (int32_t id : ids) out.push_back(vocab_[static_cast<size_t>(id)]);
  return out;
}

// Splits out the special tokens' surface strings (HF's added-token trie), word-pieces the rest.
void WordPieceTokenizer::encode_plain(std::string_view text, std::vector<int32_t>* ids) const {
  const std::string* specials[] = {&opts_.unk_token, &opts_.cls_token, &opts_.sep_token, &opts_.pad_token,
                                   &opts_.mask_token};
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t best = std::string_view::npos, len = 0;
    int32_t id = -1;
    for (const std::string* s : specials) {
      int32_t sid = s->empty() ? -1 : token_id(*s);
      if (sid < 0) continue;
      size_t f = text.find(*s, pos);
      if (f < best || (f == best && s->size() > len)) best = f, len = s->size(), id = sid;
    }
    for (const auto& w : basic(text.substr(pos, best == std::string_view::npos ? text.npos : best - pos), opts_))
      wordpiece(w, ids);
    if (best == std::string_view::npos) break;
    ids->push_back(id);
    pos = best + len;
  }
}

std::vector<int32_t> WordPieceTokenizer::encode(std::string_view text, int64_t max_length) const {
  if (max_length <= 0) max_length = opts_.model_max_length;
  std::vector<int32_t> ids{cls_id_};
  encode_plain(text, &ids);
  const size_t keep = static_cast<size_t>(std::max<int64_t>(max_length - 1, 1));
  if (ids.size() > keep) ids.resize(keep);
  ids.push_back(sep_id_);
  return ids;
}

}  // namespace dm
