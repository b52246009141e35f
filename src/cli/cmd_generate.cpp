// devops-model generate: prefill + KV-cache decode from token ids (text prompts: see `chat`).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/generation_args.h"
#include "cli/model_args.h"
#include "devops_model/core/error.h"
#include "devops_model/generate/generator.h"

namespace dm::cli {
namespace {

struct Args {
  ModelArgs model;
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
  return [a]() {
    std::vector<int32_t> prompt = parse_ids(a->ids, "--ids");
    auto model = a->model.load();
    auto cache = model->new_cache();
    GenerateRequest req;
    req.max_new_tokens = a->max_new_tokens;
    for (int s : a->stop.empty() ? model->config().eos_token_ids : a->stop) req.stop_ids.push_back(s);
    GenerateResult r = generate(*model, *cache, prompt, req);
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
