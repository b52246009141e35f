#include "devops_model/generate/generator.h"

#include <algorithm>

#include "devops_model/core/error.h"

namespace dm {

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::kStopToken: return "stop";
    case StopReason::kMaxTokens: return "length";
    case StopReason::kContextFull: return "context";
    case StopReason::kCancelled: return "cancelled";
  }
  return "?";
}

int32_t argmax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

GenerateResult generate(const Model& model, KVCache& cache, std::span<const int32_t> prompt,
                        const GenerateRequest& req) {
  if (prompt.empty()) fail(ErrorKind::kInvalidArgument, "generate: empty prompt");
  GenerateResult r;
  r.prompt_tokens = static_cast<int>(prompt.size());
  if (static_cast<int>(prompt.size()) > cache.capacity())
    fail(ErrorKind::kCapacity, "prompt of ", prompt.size(), " tokens exceeds the context of ", cache.capacity());
  // Reuse the cached prefix, but always recompute at least the last prompt token (its logits are needed).
  int start = std::min(cache.common_prefix(prompt), static_cast<int>(prompt.size()) - 1);
  if (start > 0 && model.ntk_alpha_for(static_cast<int>(prompt.size())) != cache.ntk_alpha()) start = 0;
  cache.truncate(start);
  r.reused_tokens = start;
  auto forward = [&](std::span<const int32_t> ids, std::vector<float>& logits) {
    if (req.forward) {
      req.forward(ids, cache, logits);
    } else {
      model.forward(ids, cache, logits);
    }
  };
  std::vector<int32_t> seq(prompt.begin(), prompt.end());
  std::vector<float> logits;
  forward(prompt.subspan(static_cast<size_t>(start)), logits);
  for (int step = 0; step < req.max_new_tokens; ++step) {
    int32_t next = req.choose ? req.choose(logits, seq) : argmax(logits);
    if (std::find(req.stop_ids.begin(), req.stop_ids.end(), next) != req.stop_ids.end()) {
      r.reason = StopReason::kStopToken;
      r.stop_token = next;
      return r;
    }
    r.tokens.push_back(next);
    seq.push_back(next);
    if (req.on_token && !req.on_token(next)) {
      r.reason = StopReason::kCancelled;
      return r;
    }
    if (step + 1 == req.max_new_tokens) break;
    if (cache.size() >= cache.capacity()) {
      r.reason = StopReason::kContextFull;
      return r;
    }
    int32_t one[1] = {next};
    forward(one, logits);
  }
  r.reason = StopReason::kMaxTokens;
  return r;
}

}  // namespace dm
