// ChatSession: the seed's `resp, history = model.chat(tokenizer, query, history)` as a C++ object.
// Builds the family's prompt (Qwen1 make_context; ChatML for Qwen2/3), generates with Hugging Face
// sampling until a stop id / stop word / max_new_tokens / the context limit, strips the reply and
// appends (query, reply) to the history. The KV cache is kept between turns, so each turn only
// computes the tokens that are new since the last one.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "devops_model/generate/chat_format.h"
#include "devops_model/generate/generation_params.h"
#include "devops_model/generate/generator.h"
#include "devops_model/generate/sampler.h"
#include "devops_model/model/model.h"
#include "devops_model/tokenizer/tokenizer.h"

namespace dm {

class Grammar;
class TokenTable;

// Where a model meets its tokenizer and generation settings: every tokenizer id must be an embedding row
// and every generation_config id (eos, pad, stop words) a vocabulary row. Error(kFormat) naming the
// tokenizer file and entry, or the generation_config.json field, before anything runs.
void check_tokenizer_fits(const Model& model, const Tokenizer& tok);
void check_model_inputs(const Model& model, const Tokenizer& tok, const GenerationParams& params);

class ChatSession {
 public:
  // `system` empty: the family's default system prompt ("You are a helpful assistant.", or the model's
  // chat_template default for Qwen2.5-style templates).
  ChatSession(const Model& model, const Tokenizer& tok, GenerationParams params, std::string system = "");
  ~ChatSession();

  // One turn. on_text receives the reply as it is generated (complete UTF-8 only); return false from it
  // to stop the reply early (the partial reply is kept). Returns the stripped reply.
  std::string chat(std::string_view query, const std::function<bool(std::string_view)>& on_text = {});

  const std::vector<ChatTurn>& history() const { return history_; }
  void set_history(std::vector<ChatTurn> h) { history_ = std::move(h); }
  void reset() { history_.clear(); }
  const std::string& system() const { return system_; }
  void set_system(std::string s);
  // Qwen3's enable_thinking: false asks for answers without a thinking block. Returns false when the
  // model's chat template has no such switch (nothing changes then).
  bool set_thinking(bool on);
  const ChatTemplateInfo& style() const { return style_; }
  GenerationParams& params() { return sampler_.params(); }
  // Constrained decoding: every reply is sampled under `grammar` (GBNF, or json_schema_grammar) and ends
  // as soon as the grammar allows nothing but an end. Null: free text again.
  void set_grammar(std::shared_ptr<const Grammar> grammar) { grammar_ = std::move(grammar); }
  void reseed(uint64_t seed) { sampler_.reseed(seed); }

  // About the last turn: the exact context the model saw, the generated ids (stop token excluded),
  // and why it stopped.
  const std::vector<int32_t>& last_prompt_ids() const { return last_prompt_ids_; }
  const std::vector<int32_t>& last_reply_ids() const { return last_reply_ids_; }
  StopReason last_stop_reason() const { return last_stop_; }
  int last_reused_tokens() const { return last_reused_; }

  // The prompt for `query` after the current history (exposed for tests and the server).
  ChatPrompt build_prompt(std::string_view query) const;

 private:
  const Model& model_;
  const Tokenizer& tok_;
  Sampler sampler_;
  ChatTemplateInfo style_;
  bool thinking_ = true;
  std::string system_;
  std::vector<ChatTurn> history_;
  std::unique_ptr<KVCache> cache_;
  std::shared_ptr<const Grammar> grammar_;
  std::unique_ptr<TokenTable> table_;  // built on the first constrained reply
  std::vector<int32_t> last_prompt_ids_, last_reply_ids_;
  StopReason last_stop_ = StopReason::kMaxTokens;
  int last_reused_ = 0;
};

// The family's prompt for a list of OpenAI-style messages (system/user/assistant; the last must be the
// user's). Qwen1: make_context over (user, assistant) pairs; Qwen2/3: ChatML. Error(kInvalidArgument)
// for an unknown role or a conversation that does not end with a user message.
// enable_thinking false closes an empty think block where the template has that switch (Qwen3).
ChatPrompt build_chat_prompt(const Model& model, const Tokenizer& tok, const GenerationParams& params,
                             const std::vector<ChatMessage>& messages, const ChatTemplateInfo& style,
                             bool enable_thinking = true);

// How the model's conversations are rendered: its own chat_template when it has one (default system
// text, Qwen3's reasoning stripping), else the family's defaults (Qwen1/Qwen2 "You are a helpful
// assistant.", Qwen3 no system block).
ChatTemplateInfo chat_style(const Model& model);
// The system prompt a model uses when none is given (chat_style(model).default_system).
std::string default_system_prompt(const Model& model);

}  // namespace dm
