#include "devops_model/data/paragraph.h"

namespace dm::data {
namespace {

std::string_view ltrim(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

bool is_blank(std::string_view s) { return s.find_first_not_of(" \t\r") == std::string_view::npos; }

// Returns the fence marker ("```", "~~~~", ...) if the line opens/closes a fence, else "".
std::string_view fence_of(std::string_view line) {
  std::string_view t = ltrim(line);
  if (t.size() < 3 || (t[0] != '`' && t[0] != '~')) return {};
  size_t n = 0;
  while (n < t.size() && t[n] == t[0]) ++n;
  return n >= 3 ? t.substr(0, n) : std::string_view{};
}

bool is_heading(std::string_view line) {
  size_t n = 0;
  while (n < line.size() && line[n] == '#') ++n;
  return n >= 1 && n <= 6 && (n == line.size() || line[n] == ' ');
}

bool is_list_item(std::string_view line) {
  std::string_view t = ltrim(line);
  if (t.size() >= 2 && (t[0] == '-' || t[0] == '*' || t[0] == '+') && t[1] == ' ') return true;
  if (t.rfind("• ", 0) == 0 || t.rfind("· ", 0) == 0) return true;
  size_t d = 0;
  while (d < t.size() && d < 4 && t[d] >= '0' && t[d] <= '9') ++d;
  return d > 0 && d + 1 < t.size() && (t[d] == '.' || t[d] == ')') && t[d + 1] == ' ';
}

bool introduces_list(std::string_view line) {
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
  return (!line.empty() && line.back() == ':') || (line.size() >= 3 && line.substr(line.size() - 3) == "：");
}

struct Para {
  std::string text;
  bool headings_only = true;
};

}  // namespace

std::vector<std::string> split_paragraphs(std::string_view text) {
  std::vector<Para> paras;
  Para cur;
  std::string_view prev_line;  // last non-blank line of `cur`
  bool cur_open = false;       // cur has lines
  bool blank_since = false;    // a blank line since the last line of cur
  auto flush = [&]() {
    if (cur_open) paras.push_back(std::move(cur));
    cur = Para{};
    cur_open = false;
    prev_line = {};
    blank_since = false;
  };
  auto add = [&](std::string_view line, bool heading) {
    if (cur_open) cur.text += blank_since ? "\n\n" : "\n";
    cur.text.append(line);
    if (!heading) cur.headings_only = false;
    cur_open = true;
    prev_line = line;
    blank_since = false;
  };
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = end + 1;
    std::string_view fence = fence_of(line);
    if (!fence.empty()) {
      // Code block: attach to the previous paragraph (or the last one flushed by a blank line).
      if (!cur_open && !paras.empty()) {
        cur = std::move(paras.back());
        paras.pop_back();
        cur_open = true;
      }
      if (cur_open) cur.text += blank_since ? "\n\n" : "\n";
      cur.text.append(line);
      cur.headings_only = false;
      cur_open = true;
      // Copy until the closing fence (same char, at least as long), blank lines included.
      while (pos < text.size()) {
        size_t nl2 = text.find('\n', pos);
        size_t end2 = nl2 == std::string_view::npos ? text.size() : nl2;
        std::string_view l2 = text.substr(pos, end2 - pos);
        if (!l2.empty() && l2.back() == '\r') l2.remove_suffix(1);
        pos = end2 + 1;
        cur.text += '\n';
        cur.text.append(l2);
        std::string_view f2 = fence_of(l2);
        if (!f2.empty() && f2[0] == fence[0] && f2.size() >= fence.size() && is_blank(ltrim(l2).substr(f2.size())))
          break;
      }
      flush();
      continue;
    }
    if (is_blank(line)) {
      if (cur_open && !cur.headings_only) flush();
      else blank_since = true;
      if (!cur_open) blank_since = true;
      continue;
    }
    bool heading = is_heading(line);
    if (heading) {
      if (cur_open && !cur.headings_only) flush();
      add(line, true);
      continue;
    }
    if (is_list_item(line) && cur_open && !cur.headings_only && !is_list_item(prev_line) &&
        !introduces_list(prev_line)) {
      flush();
    } else if (!is_list_item(line) && cur_open && is_list_item(prev_line) && line.size() == ltrim(line).size()) {
      flush();  // unindented text after a list starts a new paragraph
    }
    add(line, false);
  }
  flush();
  std::vector<std::string> out;
  out.reserve(paras.size());
  for (auto& p : paras) {
    // A trailing headings-only paragraph has nothing to merge into; keep it as is.
    while (!p.text.empty() && (p.text.back() == '\n' || p.text.back() == ' ')) p.text.pop_back();
    if (!p.text.empty()) out.push_back(std::move(p.text));
  }
  return out;
}

std::string join_paragraphs(const std::vector<std::string>& paragraphs) {
  std::string out;
  for (size_t i = 0; i < paragraphs.size(); ++i) {
    if (i) out += "\n\n";
    out += paragraphs[i];
  }
  return out;
}

}  // namespace dm::data
