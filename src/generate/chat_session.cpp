#include "devops_model/generate/chat_session.h"

#include <algorithm>

#include "devops_model/core/error.h"
#include "devops_model/generate/grammar_matcher.h"
#include "devops_model/generate/token_table.h"

namespace dm {

namespace {

// Qwen-7B-Chat's own prompt and reply format (the family's file decides who uses it).
bool is_qwen1(const Model& m) { return family_info(m.config()).chat_format == ChatFormat::kQwen1; }

// Qwen2/3 have no history window of their own: drop the oldest turns until prompt + 1 token fits.
ChatPrompt chatml_prompt_within(const Model& model, const Tokenizer& tok, std::string_view system,
                                std::vector<ChatTurn> history, std::string_view query, const ChatTemplateInfo& style,
                                bool enable_thinking) {
  const int limit = model.config().context_length();
  const bool close_thinking = style.thinking_switch && !enable_thinking;
  while (true) {
    ChatPrompt p =
        encode_chatml(tok, chat_messages(system, history, query), system, style.strips_reasoning, close_thinking);
    if (static_cast<int>(p.tokens.size()) < limit || history.empty()) return p;
    history.erase(history.begin());
  }
}

}  // namespace

void check_tokenizer_fits(const Model& model, const Tokenizer& tok) {
  const int32_t rows = model.config().vocab_size;
  const int32_t id = tok.max_file_id();
  if (id < rows) return;
  const std::string where = model.dir().empty() ? std::string("the model") : model.dir();
  fail(ErrorKind::kFormat, tok.source(), ": token id ", id, " ('", tok.token_bytes(id), "') is past the ", rows,
       " embedding rows of ", where, " (config vocab_size ", rows, ")");
}

void check_model_inputs(const Model& model, const Tokenizer& tok, const GenerationParams& params) {
  check_tokenizer_fits(model, tok);
  check_generation_params(params, model.config().vocab_size);
}

ChatTemplateInfo chat_style(const Model& model) {
  ChatTemplateInfo style;
  if (!is_qwen1(model) && !model.dir().empty()) style = chat_template_from_dir(model.dir());
  if (!style.found) style.default_system = family_info(model.config()).default_system_prompt;
  return style;
}

std::string default_system_prompt(const Model& model) { return chat_style(model).default_system; }

ChatPrompt build_chat_prompt(const Model& model, const Tokenizer& tok, const GenerationParams& params,
                             const std::vector<ChatMessage>& messages, const ChatTemplateInfo& style,
                             bool enable_thinking) {
  std::string system(style.default_system);
  std::vector<ChatTurn> history;
  std::string pending_user;
  bool have_user = false;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "system") {
      if (i != 0) fail(ErrorKind::kInvalidArgument, "messages[", i, "]: a system message must come first");
      system = m.content;
    } else if (m.role == "user") {
      if (have_user) history.push_back({pending_user, ""});  // two user turns in a row: empty reply between
      pending_user = m.content;
      have_user = true;
    } else if (m.role == "assistant") {
      if (!have_user)
        fail(ErrorKind::kInvalidArgument, "messages[", i, "]: an assistant message must follow a user message");
      history.push_back({pending_user, m.content});
      have_user = false;
    } else {
      fail(ErrorKind::kInvalidArgument, "messages[", i, "].role: unknown role \"", m.role,
           "\" (expected system, user or assistant)");
    }
  }
  if (!have_user) fail(ErrorKind::kInvalidArgument, "messages: the last message must be the user's");
  if (is_qwen1(model))
    return make_context_qwen1(tok, pending_user, history, system, params.max_window_size, params.chat_format);
  return chatml_prompt_within(model, tok, system, history, pending_user, style, enable_thinking);
}

ChatSession::ChatSession(const Model& model, const Tokenizer& tok, GenerationParams params, std::string system)
    : model_(model), tok_(tok), sampler_(params), system_(std::move(system)) {
  check_model_inputs(model, tok, params);
  style_ = chat_style(model);
  if (system_.empty()) system_ = style_.default_system;
  cache_ = model_.new_cache();
}

ChatSession::~ChatSession() = default;

bool ChatSession::set_thinking(bool on) {
  thinking_ = on;
  return style_.thinking_switch;
}

void ChatSession::set_system(std::string s) { system_ = s.empty() ? style_.default_system : std::move(s); }

ChatPrompt ChatSession::build_prompt(std::string_view query) const {
  const GenerationParams& p = sampler_.params();
  if (is_qwen1(model_)) return make_context_qwen1(tok_, query, history_, system_, p.max_window_size, p.chat_format);
  return chatml_prompt_within(model_, tok_, system_, history_, query, style_, thinking_);
}

std::string ChatSession::chat(std::string_view query, const std::function<bool(std::string_view)>& on_text) {
  ChatPrompt prompt = build_prompt(query);
  const GenerationParams& params = sampler_.params();
  StopRules rules = stop_rules(tok_, params);
  StreamDecoder stream(tok_, /*skip_special=*/true);
  std::vector<int32_t> produced;
  GenerateRequest req;
  req.max_new_tokens = params.max_new_tokens;
  req.stop_ids = rules.stop_ids;
  std::unique_ptr<GrammarMatcher> matcher;
  if (grammar_) {
    std::vector<int32_t> eos;  // the stop ids the tokenizer has bytes for (not a model's padding rows)
    for (int32_t id : rules.stop_ids)
      if (id >= 0 && id < tok_.vocab_size()) eos.push_back(id);
    if (!table_ || table_->eos_ids() != eos) table_ = std::make_unique<TokenTable>(TokenTable::from_tokenizer(tok_, eos));
    matcher = std::make_unique<GrammarMatcher>(*grammar_);
  }
  bool grammar_ended = false;  // nothing but an end could follow the last token
  bool grammar_stuck = false;  // no token continues the grammar: the last choice is void
  std::vector<float> scores;
  req.choose = [&](std::span<const float> logits, std::span<const int32_t> seq) -> int32_t {
    if (!matcher) return sampler_.sample(logits, seq);
    scores.assign(logits.begin(), logits.end());
    if (matcher->mask_logits(scores, *table_) == 0) {
      grammar_stuck = true;
      return rules.stop_ids.empty() ? argmax(logits) : rules.stop_ids.front();
    }
    choice_scores(scores, seq, sampler_.params());
    const int32_t id = sampler_.choose(scores);
    matcher->accept_token(id, *table_);
    return id;
  };
  bool stopped_by_sequence = false;
  req.on_token = [&](int32_t id) {
    if (grammar_stuck) return false;
    produced.push_back(id);
    if (rules.should_stop(produced)) {  // a multi-token stop word ("Human:" in raw format)
      stopped_by_sequence = true;
      return false;
    }
    if (on_text) {
      std::string piece = stream.push(id);
      if (!piece.empty() && !on_text(piece)) return false;
    }
    grammar_ended = matcher && matcher->must_end();
    return !grammar_ended;
  };
  GenerateResult r = generate(model_, *cache_, prompt.tokens, req);
  if (grammar_stuck && r.reason == StopReason::kCancelled) r.tokens.pop_back();  // the void choice
  const bool grammar_done = grammar_ended || grammar_stuck;
  if (on_text && (r.reason != StopReason::kCancelled || grammar_done)) {
    std::string tail = stream.flush();
    if (!tail.empty()) on_text(tail);
  }
  last_prompt_ids_ = prompt.tokens;
  last_reply_ids_ = r.tokens;
  last_stop_ = stopped_by_sequence || grammar_done ? StopReason::kStopToken : r.reason;
  last_reused_ = r.reused_tokens;
  std::string reply;
  if (is_qwen1(model_) && params.chat_format == "chatml") {
    // Qwen1's own decoding (spec C.2), fed the stop token too so that it cuts there.
    std::vector<int32_t> gen = r.tokens;
    if (r.stop_token >= 0) gen.push_back(r.stop_token);
    reply = decode_chatml_qwen1(tok_, gen);
  } else {
    reply = clean_reply(tok_, r.tokens, rules);
  }
  history_.push_back({std::string(query), reply});
  return reply;
}

}  // namespace dm
