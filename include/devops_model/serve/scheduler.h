// Scheduling for the server, separate from any transport (it knows nothing of HTTP):
//  - N slots, each with its own KV cache; a request takes the free slot whose cache shares the longest
//    prefix with its prompt (the previous turn of the same conversation), so only new tokens are computed;
//  - a bounded FIFO of requests waiting for a slot; past the bound a request is refused at once
//    (Error kCapacity, which the transport maps to 503);
//  - continuous batching: the running slots' steps (prefills and decode tokens) are gathered by a
//    ForwardBatcher and run as one Model::forward_batch, so N concurrent replies cost about one;
//  - cancellation: the job's text callback returning false (client gone) ends the job at that token and
//    frees its slot.
// The Model is shared read-only; each slot owns its cache. Thread-safe: call acquire/run from any thread.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "devops_model/generate/chat_format.h"
#include "devops_model/generate/generation_params.h"
#include "devops_model/generate/token_logprobs.h"
#include "devops_model/model/model.h"
#include "devops_model/serve/forward_batcher.h"
#include "devops_model/tokenizer/tokenizer.h"

namespace dm {

class Grammar;
class TokenTable;

struct SchedulerOptions {
  int slots = 1;       // requests generating at once
  int max_queue = 32;  // requests allowed to wait for a slot; more are refused
};

// One generation: the prompt ids, sampling settings (params.max_new_tokens is the length limit, params.seed
// the RNG seed), the family's stop rules and extra stop strings (OpenAI `stop`).
// With a grammar, every token is drawn from the tokens the grammar allows next (the stop ids only where
// the grammar can end); the job ends with finish "stop" as soon as nothing but an end can follow.
// With logprobs >= 0, JobResult::logprobs holds each token's log-probability under the distribution it
// was drawn from (token_logprobs.h) and the `logprobs` most likely alternatives (0..kMaxTopLogprobs).
struct Job {
  std::vector<int32_t> prompt;
  GenerationParams params;
  StopRules rules;
  std::vector<std::string> stop;
  std::shared_ptr<const Grammar> grammar;  // constrained decoding; null = none
  int logprobs = -1;                       // -1 off; else how many top alternatives (0..20) to report per token
};

enum class FinishReason { kStop, kLength, kCancelled };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled"

struct JobResult {
  std::string text;  // the reply: generated text up to the first stop, special tokens skipped, not stripped
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int reused_tokens = 0;  // prompt tokens taken from the slot's cache
  FinishReason finish = FinishReason::kLength;
  // With Job::logprobs >= 0: one entry per token whose text reached `text` (or, at a stop string, whose
  // text was cut by it), in order. Tokens whose whole text a stop string dropped are not listed.
  std::vector<TokenLogprob> logprobs;
};

struct SchedulerStats {
  int slots = 0, busy = 0, waiting = 0;
  long long completed = 0, cancelled = 0, refused = 0;
  size_t kv_bytes_used = 0, kv_bytes_reserved = 0;  // the slots' KV caches: positions held, allocated
};

class Scheduler {
 public:
  Scheduler(const Model& model, const Tokenizer& tok, SchedulerOptions opts);
  ~Scheduler();

  // Holds one slot until destroyed.
  class Lease {
   public:
    ~Lease();
    int slot() const { return slot_; }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

   private:
    friend class Scheduler;
    Lease(Scheduler& s, int slot) : s_(s), slot_(slot) {}
    Scheduler& s_;
    int slot_;
  };

  // Waits (FIFO) for a free slot, preferring the one whose cache shares the longest prefix with `prompt`.
  // Error(kCapacity) at once when max_queue requests already wait. `abandoned` is polled while waiting
  // (e.g. the client went away): when it returns true the request leaves the queue and nullptr is returned.
  std::unique_ptr<Lease> acquire(std::span<const int32_t> prompt, const std::function<bool()>& abandoned = {});

  // Runs `job` on the leased slot. on_text receives the reply as it is produced (complete UTF-8, held
  // back while it could be the start of a stop string); returning false cancels the job. Error(kCapacity)
  // when the prompt does not fit the context.
  JobResult run(Lease& lease, const Job& job, const std::function<bool(std::string_view)>& on_text = {});
  // The same, with each piece's tokens: on_piece(text, logprobs) gets the logprobs of the tokens whose
  // text the piece releases (tokens held back with their text, by an incomplete UTF-8 character or a
  // possible stop string, come with the piece that releases them; at the end, tokens with no text of
  // their own come with an empty piece). logprobs is empty when Job::logprobs < 0.
  using PieceCallback = std::function<bool(std::string_view text, std::span<const TokenLogprob> logprobs)>;
  JobResult run_pieces(Lease& lease, const Job& job, const PieceCallback& on_piece);

  SchedulerStats stats() const;
  ForwardBatcher::Stats batch_stats() const { return batcher_.stats(); }
  // Runs other compute on the generation thread (ForwardBatcher::run): one OpenMP team in the process.
  void run_compute(const std::function<void()>& job) { batcher_.run(job); }
  int context_length() const { return model_.config().context_length(); }

 private:
  struct Slot;
  void release(int slot);
  // The vocabulary trie for grammar jobs ending with `eos_ids`, built on first use and shared.
  std::shared_ptr<const TokenTable> token_table(std::vector<int32_t> eos_ids);

  const Model& model_;
  const Tokenizer& tok_;
  SchedulerOptions opts_;
  std::vector<std::unique_ptr<Slot>> slots_;
  mutable std::mutex mu_;
  std::condition_variable slot_freed_;
  std::deque<uint64_t> waiting_;  // tickets of queued requests, FIFO
  uint64_t next_wait_ticket_ = 0, use_clock_ = 0;
  SchedulerStats stats_;
  ForwardBatcher batcher_;
  std::mutex tables_mu_;
  std::vector<std::pair<std::vector<int32_t>, std::shared_ptr<const TokenTable>>> tables_;
};

}  // namespace dm
