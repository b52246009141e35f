#include "devops_model/data/rules.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <vector>

#include "devops_model/data/text_util.h"

namespace dm::data {
namespace {

bool is_fence(std::u32string_view line) {
  size_t i = 0;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  return line.size() - i >= 3 && ((line[i] == '`' && line[i + 1] == '`' && line[i + 2] == '`') ||
                                  (line[i] == '~' && line[i + 1] == '~' && line[i + 2] == '~'));
}

bool is_bullet(char32_t c) {
  switch (c) {
    case '-':
    case '*':
    case '+':
    case 0x2022:
    case 0x25CF:
    case 0x25CB:
    case 0x25A0:
    case 0x25A1:
    case 0x25AA:
    case 0x25AB:
    case 0x203B:
    case 0x00B7:
    case 0x27A2:
    case 0x25BA:
    case 0x25B6:
    case 0x25C6:
    case 0x25C7:
    case 0x2605:
    case 0x2606: return true;
    default: return false;
  }
}

bool ends_with_ellipsis(std::u32string_view l) {
  size_t n = l.size();
  if (n >= 1 && l[n - 1] == 0x2026) return true;
  if (n >= 3 && l[n - 1] == '.' && l[n - 2] == '.' && l[n - 3] == '.') return true;
  return n >= 3 && l[n - 1] == 0x3002 && l[n - 2] == 0x3002 && l[n - 3] == 0x3002;
}

int64_t count_occurrences(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return 0;
  int64_t c = 0;
  for (size_t p = hay.find(needle); p != std::string_view::npos; p = hay.find(needle, p + needle.size())) ++c;
  return c;
}

int64_t utf8_len(std::string_view s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Chars inside URLs and HTML tags/entities (ASCII scanning over the UTF-8 prose).
void scan_markup(std::string_view s, int64_t* url_chars, int64_t* html_chars) {
  auto stop = [](unsigned char c) {
    return c <= ' ' || c >= 0x80 || c == '"' || c == '\'' || c == '<' || c == '>' || c == ')' || c == ']';
  };
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if ((c == 'h' && (s.compare(i, 7, "http://") == 0 || s.compare(i, 8, "https://") == 0)) ||
        (c == 'w' && s.compare(i, 4, "www.") == 0)) {
      size_t j = i;
      while (j < s.size() && !stop(static_cast<unsigned char>(s[j]))) ++j;
      *url_chars += static_cast<int64_t>(j - i);
      i = j;
    } else if (c == '<' && i + 1 < s.size() &&
               (std::isalpha(static_cast<unsigned char>(s[i + 1])) || s[i + 1] == '/' || s[i + 1] == '!')) {
      size_t j = s.find('>', i);
      if (j != std::string_view::npos && j - i < 200 && s.substr(i, j - i).find('\n') == std::string_view::npos) {
        *html_chars += utf8_len(s.substr(i, j + 1 - i));
        i = j + 1;
      } else {
        ++i;
      }
    } else if (c == '&') {
      size_t j = i + 1;
      if (j < s.size() && s[j] == '#') ++j;
      size_t k = j;
      while (k < s.size() && k - j < 10 && std::isalnum(static_cast<unsigned char>(s[k]))) ++k;
      if (k > j && k < s.size() && s[k] == ';') {
        *html_chars += static_cast<int64_t>(k + 1 - i);
        i = k + 1;
      } else {
        ++i;
      }
    } else {
      ++i;
    }
  }
}

// Open-addressing hash table of 64-bit keys (already well mixed) -> (count, first position), 16 bytes a
// slot (counts and positions index tokens, which fit 32 bits), reused
// per thread: the n-gram statistics insert ~10 keys per character and std::unordered_map's node
// allocations dominated the profile.
class FlatCounter {
 public:
  void reset(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap <<= 1;
    if (keys_.size() < cap || keys_.size() > 8 * cap) {
      keys_.assign(cap, 0);
      vals_.assign(cap, {});
    } else {
      std::fill(keys_.begin(), keys_.end(), 0);
    }
    mask_ = keys_.size() - 1;
  }
  // Returns the slot's (count, first) after counting one more occurrence at `pos`.
  std::pair<uint32_t, uint32_t>& add(uint64_t key, uint32_t pos) {
    if (key == 0) key = 1;
    size_t i = key & mask_;
    while (keys_[i] != 0 && keys_[i] != key) i = (i + 1) & mask_;
    if (keys_[i] == 0) keys_[i] = key, vals_[i] = {0, pos};
    vals_[i].first++;
    return vals_[i];
  }
  template <typename Fn>
  void for_each(Fn fn) const {
    for (size_t i = 0; i < keys_.size(); ++i) {
      if (keys_[i]) fn(vals_[i]);
    }
  }

 private:
  std::vector<uint64_t> keys_;
  std::vector<std::pair<uint32_t, uint32_t>> vals_;
  size_t mask_ = 0;
};

FlatCounter& thread_counter() {
  thread_local FlatCounter c;
  return c;
}

uint64_t hash_cps(std::u32string_view s) { return hash64(s.data(), s.size() * sizeof(char32_t)); }

std::vector<uint64_t> token_hashes(std::u32string_view cps, const std::vector<std::pair<uint32_t, uint32_t>>& toks) {
  std::vector<uint64_t> h(toks.size());
  for (size_t i = 0; i < toks.size(); ++i) h[i] = hash_cps(cps.substr(toks[i].first, toks[i].second - toks[i].first));
  return h;
}

uint64_t ngram_hash(const std::vector<uint64_t>& th, size_t i, int n) {
  // Token hashes are already mixed: a multiply-add chain and one final mix suffice.
  uint64_t h = 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(n);
  for (int k = 0; k < n; ++k) h = h * 0x100000001b3ULL + th[i + k];
  return mix64(h);
}

int64_t ngram_chars(const std::vector<std::pair<uint32_t, uint32_t>>& toks, size_t i, int n) {
  int64_t c = 0;
  for (int k = 0; k < n; ++k) c += toks[i + k].second - toks[i + k].first;
  return c;
}

}  // namespace

namespace {

double dup_ngram_from_hashes(const std::vector<uint64_t>& th, const std::vector<std::pair<uint32_t, uint32_t>>& toks,
                             int n, int64_t total_chars) {
  if (total_chars <= 0 || toks.size() < static_cast<size_t>(n)) return 0.0;
  FlatCounter& seen = thread_counter();
  seen.reset(toks.size());
  int64_t rep = 0;
  size_t i = 0;
  while (i + n <= toks.size()) {
    if (seen.add(ngram_hash(th, i, n), static_cast<uint32_t>(i)).first > 1) {
      rep += ngram_chars(toks, i, n);
      i += n;
    } else {
      ++i;
    }
  }
  return static_cast<double>(rep) / static_cast<double>(total_chars);
}

double top_ngram_from_hashes(const std::vector<uint64_t>& th, const std::vector<std::pair<uint32_t, uint32_t>>& toks,
                             int n, int64_t total_chars) {
  if (total_chars <= 0 || toks.size() < static_cast<size_t>(n)) return 0.0;
  FlatCounter& counts = thread_counter();
  counts.reset(toks.size());
  for (size_t i = 0; i + n <= toks.size(); ++i) counts.add(ngram_hash(th, i, n), static_cast<uint32_t>(i));
  // Most common, ties to the earliest (Python Counter.most_common keeps insertion order).
  int64_t best = 0;
  uint32_t best_pos = 0;
  counts.for_each([&](const std::pair<uint32_t, uint32_t>& cp) {
    if (cp.first > best || (cp.first == best && cp.second < best_pos)) best = cp.first, best_pos = cp.second;
  });
  if (best <= 1) return 0.0;
  return static_cast<double>(ngram_chars(toks, best_pos, n) * best) / static_cast<double>(total_chars);
}

}  // namespace

double dup_ngram_char_ratio(std::u32string_view cps, const std::vector<std::pair<uint32_t, uint32_t>>& toks, int n,
                            int64_t total_chars) {
  return dup_ngram_from_hashes(token_hashes(cps, toks), toks, n, total_chars);
}

double top_ngram_char_ratio(std::u32string_view cps, const std::vector<std::pair<uint32_t, uint32_t>>& toks, int n,
                            int64_t total_chars) {
  return top_ngram_from_hashes(token_hashes(cps, toks), toks, n, total_chars);
}

TextStats compute_stats(std::string_view text, const StageRules& rules, const Recipe& recipe) {
  TextStats st;
  std::u32string cps = decode_utf8(text);
  st.chars = static_cast<int64_t>(cps.size());
  std::u32string prose;  // prose lines (stripped), '\n'-joined; blank lines kept as "" for paragraphs
  prose.reserve(cps.size());
  thread_local FlatCounter line_seen, para_seen;
  size_t n_lines = static_cast<size_t>(std::count(cps.begin(), cps.end(), U'\n')) + 1;
  line_seen.reset(n_lines);
  para_seen.reset(n_lines);
  int64_t dup_lines = 0, dup_line_chars = 0, paras = 0, dup_paras = 0, dup_para_chars = 0;
  uint64_t para_hash = 0;
  int64_t para_chars = 0;
  auto end_para = [&]() {
    if (para_chars == 0) return;
    ++paras;
    if (para_seen.add(para_hash, 0).first > 1) ++dup_paras, dup_para_chars += para_chars;
    para_hash = 0;
    para_chars = 0;
  };
  bool in_code = false;
  size_t pos = 0;
  while (pos <= cps.size()) {
    size_t nl = cps.find(U'\n', pos);
    if (nl == std::u32string::npos) nl = cps.size();
    std::u32string_view line(cps.data() + pos, nl - pos);
    pos = nl + 1;
    if (is_fence(line)) {
      in_code = !in_code;
      continue;
    }
    if (in_code) continue;
    size_t b = 0, e = line.size();
    while (b < e && is_space(line[b])) ++b;
    while (e > b && is_space(line[e - 1])) --e;
    line = line.substr(b, e - b);
    if (line.empty()) {
      end_para();
      prose.push_back(U'\n');
      continue;
    }
    int64_t nonspace = 0;
    for (char32_t c : line) {
      if (is_space(c)) continue;
      ++nonspace;
      st.cjk += is_cjk(c);
      st.symbols += is_punct_or_symbol(c);
      st.digits += is_digit(c);
      st.mojibake += is_mojibake(c);
    }
    st.prose_chars += nonspace;
    ++st.lines;
    st.short_lines += nonspace < rules.short_line_chars;
    st.bullet_lines += is_bullet(line[0]);
    st.ellipsis_lines += ends_with_ellipsis(line);
    st.punct_end_lines += is_terminal_punct(line.back());
    uint64_t lh = hash_cps(line);
    if (line_seen.add(lh, 0).first > 1) ++dup_lines, dup_line_chars += nonspace;
    para_hash = mix64(para_hash * 31 + lh);
    para_chars += nonspace;
    if (rules.max_boilerplate_line_ratio >= 0 && nonspace <= rules.boilerplate_max_line_chars) {
      std::string l8 = encode_utf8(line);
      for (const auto& phrase : recipe.boilerplate) {
        if (l8.find(phrase) != std::string::npos) {
          ++st.boilerplate_lines;
          break;
        }
      }
    }
    prose.append(line);
    prose.push_back(U'\n');
  }
  end_para();
  double pc = static_cast<double>(std::max<int64_t>(st.prose_chars, 1));
  if (st.lines > 0) {
    st.dup_line_ratio = static_cast<double>(dup_lines) / static_cast<double>(st.lines);
    st.dup_line_char_ratio = static_cast<double>(dup_line_chars) / pc;
  }
  if (paras > 0) {
    st.dup_para_ratio = static_cast<double>(dup_paras) / static_cast<double>(paras);
    st.dup_para_char_ratio = static_cast<double>(dup_para_chars) / pc;
  }
  std::string prose8 = encode_utf8(prose);
  for (const char* m : {"锟斤拷", "烫烫烫", "屯屯屯"}) st.mojibake += 3 * count_occurrences(prose8, m);
  if (rules.max_flagged_char_ratio >= 0) {
    for (const auto& w : recipe.flagged_words) st.flagged_chars += count_occurrences(prose8, w) * utf8_len(w);
  }
  if (rules.max_url_char_ratio >= 0 || rules.max_html_char_ratio >= 0)
    scan_markup(prose8, &st.url_chars, &st.html_chars);
  if (!rules.max_top_ngram_char_ratio.empty() || !rules.max_dup_ngram_char_ratio.empty()) {
    auto toks = tokenize_for_repetition(prose);
    auto th = token_hashes(prose, toks);  // once for every n
    for (const auto& [n, thr] : rules.max_top_ngram_char_ratio) {
      if (thr >= 0) st.top_ngram_char_ratio[n] = top_ngram_from_hashes(th, toks, n, st.prose_chars);
    }
    for (const auto& [n, thr] : rules.max_dup_ngram_char_ratio) {
      if (thr >= 0) st.dup_ngram_char_ratio[n] = dup_ngram_from_hashes(th, toks, n, st.prose_chars);
    }
  }
  return st;
}

std::string first_failed_rule(const TextStats& st, const StageRules& r) {
  if (!r.enabled) return "";
  if (r.min_chars >= 0 && st.chars < r.min_chars) return "min_chars";
  if (r.max_chars >= 0 && st.chars > r.max_chars) return "max_chars";
  double pc = static_cast<double>(st.prose_chars);
  double lines = static_cast<double>(st.lines);
  auto over = [](double thr, double num, double den) { return thr >= 0 && den > 0 && num / den > thr; };
  auto under = [](double thr, double num, double den) { return thr >= 0 && den > 0 && num / den < thr; };
  if (over(r.max_mojibake_ratio, static_cast<double>(st.mojibake), pc)) return "mojibake_ratio";
  if (under(r.min_cjk_ratio, static_cast<double>(st.cjk), pc)) return "cjk_ratio";
  if (over(r.max_symbol_ratio, static_cast<double>(st.symbols), pc)) return "symbol_ratio";
  if (over(r.max_digit_ratio, static_cast<double>(st.digits), pc)) return "digit_ratio";
  if (over(r.max_url_char_ratio, static_cast<double>(st.url_chars), pc)) return "url_ratio";
  if (over(r.max_html_char_ratio, static_cast<double>(st.html_chars), pc)) return "html_ratio";
  if (over(r.max_flagged_char_ratio, static_cast<double>(st.flagged_chars), pc)) return "flagged_words";
  if (over(r.max_boilerplate_line_ratio, static_cast<double>(st.boilerplate_lines), lines)) return "boilerplate";
  if (over(r.max_short_line_ratio, static_cast<double>(st.short_lines), lines)) return "short_lines";
  if (over(r.max_bullet_line_ratio, static_cast<double>(st.bullet_lines), lines)) return "bullet_lines";
  if (over(r.max_ellipsis_line_ratio, static_cast<double>(st.ellipsis_lines), lines)) return "ellipsis_lines";
  if (under(r.min_line_punct_ratio, static_cast<double>(st.punct_end_lines), lines)) return "line_punct";
  if (r.max_dup_line_ratio >= 0 && st.dup_line_ratio > r.max_dup_line_ratio) return "dup_lines";
  if (r.max_dup_line_char_ratio >= 0 && st.dup_line_char_ratio > r.max_dup_line_char_ratio) return "dup_line_chars";
  if (r.max_dup_para_ratio >= 0 && st.dup_para_ratio > r.max_dup_para_ratio) return "dup_paras";
  if (r.max_dup_para_char_ratio >= 0 && st.dup_para_char_ratio > r.max_dup_para_char_ratio) return "dup_para_chars";
  for (const auto& [n, thr] : r.max_top_ngram_char_ratio) {
    auto it = st.top_ngram_char_ratio.find(n);
    if (thr >= 0 && it != st.top_ngram_char_ratio.end() && it->second > thr) return "top_" + std::to_string(n) + "gram";
  }
  for (const auto& [n, thr] : r.max_dup_ngram_char_ratio) {
    auto it = st.dup_ngram_char_ratio.find(n);
    if (thr >= 0 && it != st.dup_ngram_char_ratio.end() && it->second > thr) return "dup_" + std::to_string(n) + "gram";
  }
  return "";
}

std::string check_text(std::string_view text, const StageRules& rules, const Recipe& recipe) {
  if (!rules.enabled) return "";
  return first_failed_rule(compute_stats(text, rules, recipe), rules);
}

}  // namespace dm::data
