#include "devops_model/generate/chat_format.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/json_file.h"
#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/formats/gguf.h"
#include "devops_model/model/model.h"
#include "devops_model/tokenizer/unicode.h"

namespace dm {
namespace {

int32_t required_id(const Tokenizer& tok, std::string_view name) {
  auto id = tok.token_id(name);
  if (!id) fail(ErrorKind::kInvalidArgument, "tokenizer has no ", name, " token (needed for ChatML)");
  return *id;
}

void append(std::vector<int32_t>& dst, const std::vector<int32_t>& src) {
  dst.insert(dst.end(), src.begin(), src.end());
}

}  // namespace

ChatPrompt make_context_qwen1(const Tokenizer& tok, std::string_view query, const std::vector<ChatTurn>& history,
                              std::string_view system, int max_window_size, std::string_view chat_format) {
  if (chat_format == "raw") return {std::string(query), tok.encode(query, true)};
  if (chat_format != "chatml") fail(ErrorKind::kInvalidArgument, "unknown chat_format '", chat_format, "'");
  const int32_t im_start = required_id(tok, "<|im_start|>");
  const int32_t im_end = required_id(tok, "<|im_end|>");
  const std::vector<int32_t> nl = tok.encode("\n", false);
  // [im_start] role \n content [im_end], each part tokenised on its own with specials as plain text.
  auto block = [&](std::string_view role, std::string_view content) {
    std::vector<int32_t> t{im_start};
    append(t, tok.encode(role, false));
    append(t, nl);
    append(t, tok.encode(content, false));
    t.push_back(im_end);
    return t;
  };
  auto block_text = [](std::string_view role, std::string_view content) {
    return str_cat("<|im_start|>", role, "\n", content, "<|im_end|>");
  };
  const std::vector<int32_t> system_tokens = block("system", system);
  std::vector<int32_t> context;  // kept history turns, oldest first
  std::string history_text;
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    std::vector<int32_t> turn = nl;
    append(turn, block("user", it->query));
    append(turn, nl);
    append(turn, block("assistant", it->reply));
    // The current query is not counted: only system + history must stay under the window.
    if (system_tokens.size() + turn.size() + context.size() >= static_cast<size_t>(max_window_size)) break;
    append(turn, context);
    context = std::move(turn);
    history_text = str_cat("\n", block_text("user", it->query), "\n", block_text("assistant", it->reply), history_text);
  }
  ChatPrompt p;
  p.raw_text = block_text("system", system) + history_text +
               str_cat("\n", block_text("user", query), "\n<|im_start|>assistant\n");
  p.tokens = system_tokens;
  append(p.tokens, context);
  append(p.tokens, nl);
  append(p.tokens, block("user", query));
  append(p.tokens, nl);
  p.tokens.push_back(im_start);
  append(p.tokens, tok.encode("assistant", false));
  append(p.tokens, nl);
  return p;
}

std::string render_chatml(const std::vector<ChatMessage>& messages, std::string_view default_system,
                          bool add_generation_prompt, bool strip_reasoning, bool close_thinking) {
  std::string out;
  auto block = [&](std::string_view role, std::string_view content) {
    out += str_cat("<|im_start|>", role, "\n", content, "<|im_end|>\n");
  };
  const bool has_system = !messages.empty() && messages[0].role == "system";
  if (!has_system && !default_system.empty()) block("system", default_system);
  size_t last_user = 0;
  for (size_t i = 0; i < messages.size(); ++i)
    if (messages[i].role == "user") last_user = i;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    std::string_view content = m.content;
    const size_t think_end = content.rfind("</think>");
    if (strip_reasoning && m.role == "assistant" && i < last_user && think_end != std::string_view::npos) {
      content.remove_prefix(think_end + std::string_view("</think>").size());
      while (!content.empty() && content.front() == '\n') content.remove_prefix(1);
    }
    block(m.role, content);
  }
  if (add_generation_prompt)
    out += close_thinking ? "<|im_start|>assistant\n<think>\n\n</think>\n\n" : "<|im_start|>assistant\n";
  return out;
}

ChatPrompt encode_chatml(const Tokenizer& tok, const std::vector<ChatMessage>& messages,
                         std::string_view default_system, bool strip_reasoning, bool close_thinking) {
  ChatPrompt p;
  p.raw_text = render_chatml(messages, default_system, true, strip_reasoning, close_thinking);
  p.tokens = tok.encode(p.raw_text, true);
  return p;
}

std::vector<ChatMessage> chat_messages(std::string_view system, const std::vector<ChatTurn>& history,
                                       std::string_view query) {
  std::vector<ChatMessage> m;
  if (!system.empty()) m.push_back({"system", std::string(system)});
  for (const auto& t : history) {
    m.push_back({"user", t.query});
    m.push_back({"assistant", t.reply});
  }
  m.push_back({"user", std::string(query)});
  return m;
}

namespace {

// The text of a literal "<|im_start|>system\n...<|im_end|>" block in the template source (the newline
// written as the escape \n or as itself), if its content is plain text rather than an expression.
std::string literal_system_block(std::string_view t) {
  for (std::string_view head : {"<|im_start|>system\\n", "<|im_start|>system\n"}) {
    for (size_t at = t.find(head); at != std::string_view::npos; at = t.find(head, at + 1)) {
      const size_t begin = at + head.size(), end = t.find("<|im_end|>", begin);
      if (end == std::string_view::npos) continue;
      const std::string_view text = t.substr(begin, end - begin);
      if (!text.empty() && text.find_first_of("'\"{}+") == std::string_view::npos) return std::string(text);
    }
  }
  return "";
}

}  // namespace

ChatTemplateInfo inspect_chat_template(std::string_view t) {
  ChatTemplateInfo info;
  info.found = true;
  auto has = [&](std::string_view s) { return t.find(s) != std::string_view::npos; };
  const bool role = has("message['role']") || has("message[\"role\"]") || has("message.role");
  const bool content = has("message['content']") || has("message[\"content\"]") || has("message.content");
  info.is_chatml = has("<|im_start|>") && has("<|im_end|>") && role && content;
  info.default_system = literal_system_block(t);
  info.strips_reasoning = has("</think>");
  info.thinking_switch = has("enable_thinking");
  return info;
}

ChatTemplateInfo chat_template_from_dir(const std::string& dir) {
  if (is_gguf_file(dir)) {  // a GGUF model file carries its template in the metadata
    const auto t = GgufFile::open(dir)->metadata().get_string_opt("tokenizer.chat_template");
    return t ? inspect_chat_template(*t) : ChatTemplateInfo{};
  }
  const auto path = std::filesystem::path(dir) / "tokenizer_config.json";
  if (!std::filesystem::exists(path)) return {};
  nlohmann::json j = read_json_file(path.string());
  if (!j.is_object() || !j.contains("chat_template") || !j["chat_template"].is_string()) return {};
  return inspect_chat_template(j["chat_template"].get<std::string>());
}

bool StopRules::is_stop_id(int32_t id) const {
  return std::find(stop_ids.begin(), stop_ids.end(), id) != stop_ids.end();
}

bool StopRules::should_stop(std::span<const int32_t> generated) const {
  if (generated.empty()) return false;
  if (is_stop_id(generated.back())) return true;
  for (const auto& s : stop_sequences) {
    if (s.size() <= generated.size() &&
        std::equal(s.begin(), s.end(), generated.end() - static_cast<ptrdiff_t>(s.size()))) {
      return true;
    }
  }
  return false;
}

StopRules stop_rules(const Tokenizer& tok, const GenerationParams& params) {
  StopRules r;
  auto add_id = [&](int32_t id) {
    if (!r.is_stop_id(id)) r.stop_ids.push_back(id);
  };
  for (int32_t id : params.eos_token_ids) add_id(id);
  std::vector<std::vector<int32_t>> words = params.stop_words_ids;
  if (params.chat_format == "raw") words.push_back(tok.encode("Human:", false));  // Qwen1 get_stop_words_ids("raw")
  for (const auto& w : words) {
    if (w.size() == 1) {
      add_id(w[0]);
    } else if (w.size() > 1) {
      r.stop_sequences.push_back(w);
    }
  }
  if (params.chat_format == "chatml") {
    for (const char* name : {"<|im_end|>", "<|im_start|>", "<|endoftext|>"}) {
      if (auto id = tok.token_id(name)) add_id(*id);
    }
  }
  return r;
}

std::string clean_reply(const Tokenizer& tok, std::span<const int32_t> generated, const StopRules& rules) {
  size_t end = generated.size();
  for (size_t i = 0; i < generated.size(); ++i) {
    if (rules.is_stop_id(generated[i])) {
      end = i;
      break;
    }
  }
  for (const auto& s : rules.stop_sequences) {
    auto it = std::search(generated.begin(), generated.begin() + static_cast<ptrdiff_t>(end), s.begin(), s.end());
    end = std::min(end, static_cast<size_t>(it - generated.begin()));
  }
  const std::string text = utf8_replace_invalid(tok.decode(generated.subspan(0, end)));
  return std::string(python_strip(text));
}

std::string decode_chatml_qwen1(const Tokenizer& tok, std::span<const int32_t> generated) {
  const int32_t im_start = required_id(tok, "<|im_start|>");
  const int32_t im_end = required_id(tok, "<|im_end|>");
  size_t idx = 0;  // Python's loop variable: ends on the last index when nothing matches
  for (size_t i = 0; i < generated.size(); ++i) {
    idx = i;
    if (generated[i] == im_start || generated[i] == im_end) break;
  }
  const std::string text = utf8_replace_invalid(tok.decode(generated.subspan(0, idx)));
  return std::string(python_strip(text));
}

}  // namespace dm
