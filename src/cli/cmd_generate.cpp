// devops-model generate: prefill + KV-cache decode from token ids (text prompts: see `chat`), greedy,
// optionally under a grammar (--json-schema / --grammar).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/generation_args.h"
#include "cli/grammar_args.h"
#include "cli/model_args.h"
#include "devops_model/core/error.h"
#include "devops_model/generate/generator.h"
#include "devops_model/generate/grammar_matcher.h"
#include "devops_model/generate/token_table.h"
#include "devops_model/tokenizer/tokenizer.h"

namespace dm::cli {
namespace {

struct Args {
  ModelArgs model;
  GrammarArgs grammar;
  std::string ids;
  int max_new_tokens = 32;
  bool greedy = false, json = false;
  std::vector<int> stop;
};

Registrar reg{{"generate", "generate tokens after a prompt of token ids",
               [](CLI::App& app) {
  auto a = std::make_shared<Args>();
  a->model.add(app);
  app.add_option("--ids", a->ids, "prompt: comma-separated token ids")->required();
  app.add_option("--max-new-tokens", a->max_new_tokens, "tokens to generate")->check(CLI::Range(1, kMaxNewTokensFlag));
  app.add_flag("--greedy", a->greedy, "argmax decoding (the default for id prompts)");
  app.add_option("--stop", a->stop, "stop token ids (default: config.json eos_token_id)")->delimiter(',');
  app.add_flag("--json", a->json, "print {\"ids\": [...]}");
  a->grammar.add(app);
  return [a]() {
    std::vector<int32_t> prompt = parse_ids(a->ids, "--ids");
    auto grammar = a->grammar.load();
    auto model = a->model.load();
    auto cache = model->new_cache();
    GenerateRequest req;
    req.max_new_tokens = a->max_new_tokens;
    for (int s : a->stop.empty() ? model->config().eos_token_ids : a->stop) req.stop_ids.push_back(s);
    // Under a grammar: the argmax of the tokens it allows; the end once nothing else may follow.
    std::unique_ptr<Tokenizer> tok;
    std::unique_ptr<TokenTable> table;
    std::unique_ptr<GrammarMatcher> matcher;
    std::vector<float> masked;
    if (grammar) {
      tok = Tokenizer::from_dir(a->model.dir);
      std::vector<int32_t> eos;
      for (int32_t id : req.stop_ids)
        if (id >= 0 && id < tok->vocab_size()) eos.push_back(id);
      table = std::make_unique<TokenTable>(TokenTable::from_tokenizer(*tok, eos));
      matcher = std::make_unique<GrammarMatcher>(*grammar);
      req.choose = [&](std::span<const float> logits, std::span<const int32_t>) {
        masked.assign(logits.begin(), logits.end());
        if (matcher->mask_logits(masked, *table) == 0)
          fail(ErrorKind::kUnsupported, "no token of the vocabulary continues the grammar here");
        const int32_t id = argmax(masked);
        matcher->accept_token(id, *table);
        return id;
      };
      req.on_token = [&](int32_t) { return !matcher->must_end(); };
    }
    GenerateResult r = generate(*model, *cache, prompt, req);
    if (matcher && r.reason == StopReason::kCancelled) r.reason = StopReason::kStopToken;  // the grammar ended
    if (a->json) {
      nlohmann::json j;
      j["ids"] = r.tokens;
      j["stop_reason"] = stop_reason_name(r.reason);
      std::printf("%s\n", j.dump().c_str());
    } else {
      for (size_t i = 0; i < r.tokens.size(); ++i) std::printf(i ? ",%d" : "%d", r.tokens[i]);
      std::printf("\n");
    }
    return 0;
  };
               }}};

}  // namespace
}  // namespace dm::cli
