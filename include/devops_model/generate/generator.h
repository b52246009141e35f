// The generation loop: prefill the prompt in one pass, then decode one token at a time through the KV
// cache until a stop id, max_new_tokens, the context limit, or the caller says stop.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "devops_model/model/model.h"

namespace dm {

enum class StopReason { kStopToken, kMaxTokens, kContextFull, kCancelled };
const char* stop_reason_name(StopReason r);

struct GenerateRequest {
  int max_new_tokens = 512;
  std::vector<int32_t> stop_ids;  // generation ends when one of these is produced (it is not returned)
  // Picks the next token from the last position's logits and the sequence so far (prompt + output).
  // Default: greedy argmax (first index wins ties).
  std::function<int32_t(std::span<const float> logits, std::span<const int32_t> sequence)> choose;
  // Called with every produced (non-stop) token; return false to cancel (client gone, Ctrl-C).
  std::function<bool(int32_t)> on_token;
  // How a step runs the model. Default: model.forward(ids, cache, logits). The server substitutes a
  // batcher that runs the steps of many conversations in one Model::forward_batch.
  std::function<void(std::span<const int32_t> ids, KVCache& cache, std::vector<float>& logits)> forward;
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // produced tokens, stop token excluded
  StopReason reason = StopReason::kMaxTokens;
  int32_t stop_token = -1;
  int prompt_tokens = 0;
  int reused_tokens = 0;  // prompt positions taken from the cache instead of recomputed
};

int32_t argmax(std::span<const float> logits);

// Runs the prompt through `cache`. Whatever prefix of `prompt` the cache already holds (a previous turn
// of the same conversation, a shared few-shot prefix) is reused and only the rest is computed (Qwen1
// dynamic NTK: only while the alpha of the full prompt equals the cached one, else it starts over).
GenerateResult generate(const Model& model, KVCache& cache, std::span<const int32_t> prompt,
                        const GenerateRequest& req);

}  // namespace dm
