#include "devops_model/generate/tool_calls.h"

#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"
#include "devops_model/generate/json_schema_grammar.h"
#include "devops_model/tokenizer/unicode.h"

namespace dm {

using Json = nlohmann::ordered_json;

namespace {

constexpr std::string_view kOpen = "<tool_call>";
constexpr std::string_view kClose = "</tool_call>";

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The body of a <tool_call> block as a call, if it is one.
bool call_from_json(std::string_view inner, ParsedToolCall& call) {
  Json j;
  try {
    j = Json::parse(inner);
  } catch (const Json::exception&) {
    return false;
  }
  if (!j.is_object()) return false;
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get<std::string>().empty()) return false;
  call.name = name->get<std::string>();
  auto args = j.find("arguments");
  if (args == j.end() || args->is_null()) {
    call.arguments = "{}";
  } else if (args->is_string()) {
    call.arguments = args->get<std::string>();
  } else {
    call.arguments = python_json_dumps(args->dump());
  }
  return true;
}

// Length of the longest suffix of `s` that is a proper prefix of `tag`.
size_t partial_tag_suffix(std::string_view s, std::string_view tag) {
  for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n)
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  return 0;
}

std::string_view strip(std::string_view s) { return python_strip(s); }

// A forced call's body cut short: "\n{\"name\": \"NAME\", \"arguments\": ARGS..." as the grammar writes
// it. ARGS ends where its brackets balance (string-aware) or, unfinished, at the end of the text.
bool cut_off_call(std::string_view body, ParsedToolCall& call) {
  constexpr std::string_view kHead = "\n{\"name\": \"", kArgs = "\", \"arguments\": ";
  if (body.substr(0, kHead.size()) != kHead) return false;
  body.remove_prefix(kHead.size());
  const size_t name_end = body.find(kArgs);
  if (name_end == std::string_view::npos || name_end == 0) return false;
  call.name = std::string(body.substr(0, name_end));
  std::string_view args = body.substr(name_end + kArgs.size());
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const char c = args[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if ((c == '}' || c == ']') && --depth == 0) {
      args = args.substr(0, i + 1);
      break;
    }
  }
  call.arguments = std::string(python_rstrip(args));
  return true;
}

ParsedReply parse_react(std::string_view reply) {
  // A leading newline lets an Action / Final Answer on the first line match Qwen's "\n..." searches.
  const std::string r = "\n" + std::string(reply);
  constexpr std::string_view kAction = "\nAction:", kInput = "\nAction Input:", kObs = "\nObservation:";
  const size_t i = r.find(kAction), j = r.find(kInput);
  ParsedReply out;
  if (i != std::string::npos && j != std::string::npos && i < j) {
    std::string resp = r;
    size_t k = resp.find(kObs);
    if (k == std::string::npos || k < j) resp = std::string(python_rstrip(resp)) + std::string(kObs);
    k = resp.find(kObs);
    const std::string name(strip(std::string_view(resp).substr(i + kAction.size(), j - i - kAction.size())));
    const size_t args_at = j + kInput.size();
    const std::string args(k > args_at ? strip(std::string_view(resp).substr(args_at, k - args_at)) : "");
    if (!name.empty()) {
      std::string_view before = std::string_view(resp).substr(0, i);
      const size_t t = before.find("Thought: ");
      if (t != std::string_view::npos) before.remove_prefix(t + std::string_view("Thought: ").size());
      out.content = std::string(strip(before));
      out.has_content = !out.content.empty();
      out.calls.push_back({name, args});
      return out;
    }
  }
  constexpr std::string_view kFinal = "\nFinal Answer: ";
  const size_t z = r.rfind(kFinal);
  out.content = z != std::string::npos ? r.substr(z + kFinal.size()) : std::string(reply);
  return out;
}

}  // namespace

void ToolReplyStream::release(std::string_view text, std::vector<Event>& out) {
  if (strip_leading_) {
    while (!text.empty() && is_ws(text.front())) text.remove_prefix(1);
  }
  if (text.empty()) return;
  size_t body = text.size();
  while (body > 0 && is_ws(text[body - 1])) --body;
  if (body == 0) {
    ws_ += text;
    return;
  }
  out.push_back({false, ws_ + std::string(text.substr(0, body)), {}});
  ws_ = std::string(text.substr(body));
  strip_leading_ = false;
}

void ToolReplyStream::close_call(std::string_view inner, std::vector<Event>& out) {
  ParsedToolCall call;
  if (call_from_json(inner, call)) {
    ws_.clear();
    strip_leading_ = true;
    out.push_back({true, "", std::move(call)});
  } else {
    release(str_cat(kOpen, inner, kClose), out);
  }
}

std::vector<ToolReplyStream::Event> ToolReplyStream::push(std::string_view piece) {
  std::vector<Event> out;
  if (format_ == ToolFormat::kReact) {
    all_ += piece;
    return out;
  }
  pending_ += piece;
  while (true) {
    if (in_call_) {
      const size_t close = pending_.find(kClose);
      if (close == std::string::npos) break;
      const std::string inner = pending_.substr(0, close);
      pending_.erase(0, close + kClose.size());
      in_call_ = false;
      close_call(inner, out);
    } else {
      const size_t open = pending_.find(kOpen);
      if (open == std::string::npos) {
        const size_t keep = partial_tag_suffix(pending_, kOpen);
        release(std::string_view(pending_).substr(0, pending_.size() - keep), out);
        pending_.erase(0, pending_.size() - keep);
        break;
      }
      release(std::string_view(pending_).substr(0, open), out);
      pending_.erase(0, open + kOpen.size());
      in_call_ = true;
    }
  }
  // Adjacent text events (a rejected block next to plain text) go out as one.
  std::vector<Event> merged;
  for (auto& e : out) {
    if (!e.is_call && !merged.empty() && !merged.back().is_call) {
      merged.back().text += e.text;
    } else {
      merged.push_back(std::move(e));
    }
  }
  return merged;
}

std::vector<ToolReplyStream::Event> ToolReplyStream::finish(bool cut_off) {
  std::vector<Event> out;
  if (format_ == ToolFormat::kReact) {
    const ParsedReply p = parse_react(all_);
    all_.clear();
    if (p.has_content && !p.content.empty()) out.push_back({false, p.content, {}});
    for (const auto& c : p.calls) out.push_back({true, "", c});
    return out;
  }
  ParsedToolCall partial;
  if (cut_off && in_call_ && cut_off_call(pending_, partial)) {
    ws_.clear();
    out.push_back({true, "", std::move(partial)});
    pending_.clear();
    in_call_ = false;
    return out;
  }
  std::string rest = in_call_ ? str_cat(kOpen, pending_) : pending_;
  pending_.clear();
  in_call_ = false;
  release(rest, out);
  if (!ws_.empty()) out.push_back({false, ws_, {}});  // trailing whitespace with no call after it
  ws_.clear();
  if (out.size() == 2 && !out[0].is_call && !out[1].is_call) {
    out[0].text += out[1].text;
    out.pop_back();
  }
  return out;
}

ParsedReply parse_tool_reply(ToolFormat format, std::string_view text, bool cut_off) {
  if (format == ToolFormat::kReact) return parse_react(text);
  ToolReplyStream s(format);
  ParsedReply r;
  r.content.clear();
  auto take = [&](std::vector<ToolReplyStream::Event> events) {
    for (auto& e : events) {
      if (e.is_call) {
        r.calls.push_back(std::move(e.call));
      } else {
        r.content += e.text;
      }
    }
  };
  take(s.push(text));
  take(s.finish(cut_off));
  r.has_content = r.calls.empty() || !r.content.empty();
  return r;
}

namespace {

// `gbnf` (json_schema_to_gbnf output: one "name ::= body" per line) with every rule name prefixed.
std::string prefix_rules(const std::string& gbnf, const std::string& prefix) {
  std::string out;
  auto ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; };
  for (size_t i = 0; i < gbnf.size();) {
    const char c = gbnf[i];
    if (c == '"' || c == '[') {  // a literal or a class: copied as is, escapes included
      const char end = c == '"' ? '"' : ']';
      size_t j = i + 1;
      while (j < gbnf.size() && gbnf[j] != end) j += gbnf[j] == '\\' ? 2 : 1;
      out.append(gbnf, i, j + 1 - i);
      i = j + 1;
    } else if (c == '{') {  // a repetition count
      const size_t j = gbnf.find('}', i);
      out.append(gbnf, i, j + 1 - i);
      i = j + 1;
    } else if (ident(c)) {
      size_t j = i;
      while (j < gbnf.size() && ident(gbnf[j])) ++j;
      out += prefix;
      out.append(gbnf, i, j - i);
      i = j;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

std::string gbnf_text(std::string_view s) {  // a GBNF literal (names are [A-Za-z0-9_-]: nothing to escape but \n)
  std::string out = "\"";
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

std::string forced_tool_call_gbnf(ToolFormat format, const std::vector<ToolSpec>& allowed, bool parallel) {
  if (allowed.empty()) fail(ErrorKind::kInvalidArgument, "forced tool call: no tools");
  std::string rules, alts;
  for (size_t i = 0; i < allowed.size(); ++i) {
    const ToolSpec& t = allowed[i];
    for (char c : t.name)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
        fail(ErrorKind::kInvalidArgument, "tool name '", t.name, "': only letters, digits, _ and - are allowed");
    std::string schema_gbnf;
    try {
      schema_gbnf = json_schema_to_gbnf(t.parameters.empty() ? R"({"type": "object", "additionalProperties": false})"
                                                             : std::string_view(t.parameters));
    } catch (const Error& e) {
      fail(ErrorKind::kInvalidArgument, "tool ", t.name, ": ", e.what());
    }
    const std::string prefix = str_cat("t", i, "-");
    rules += prefix_rules(schema_gbnf, prefix);
    const std::string& shown = format == ToolFormat::kReact && !t.name_for_model.empty() ? t.name_for_model : t.name;
    const std::string head =
        format == ToolFormat::kXml ? str_cat(shown, "\", \"arguments\": ") : str_cat(shown, "\nAction Input: ");
    alts += str_cat(i ? " | " : "", gbnf_text(head), " ", prefix, "root");
  }
  std::string top;
  if (format == ToolFormat::kXml) {
    top = str_cat("root ::= call", parallel ? " (\"\\n\" call)*" : "", "\n",
                  "call ::= \"<tool_call>\\n{\\\"name\\\": \\\"\" fn \"}\\n</tool_call>\"\n");
  } else {
    top = "root ::= \"Thought: \" [^\\n]{0,256} \"\\nAction: \" fn\n";
  }
  return str_cat(top, "fn ::= ", alts, "\n", rules);
}

}  // namespace dm
