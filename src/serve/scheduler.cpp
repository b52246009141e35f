#include "devops_model/serve/scheduler.h"

#include <algorithm>
#include <chrono>

#include "devops_model/core/error.h"
#include "devops_model/generate/generator.h"
#include "devops_model/generate/grammar_matcher.h"
#include "devops_model/generate/sampler.h"
#include "devops_model/generate/token_table.h"
#include "devops_model/serve/stop_strings.h"

namespace dm {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "?";
}

struct Scheduler::Slot {
  std::unique_ptr<KVCache> cache;
  bool busy = false;
  uint64_t last_used = 0;
};

Scheduler::Scheduler(const Model& model, const Tokenizer& tok, SchedulerOptions opts)
    : model_(model), tok_(tok), opts_(opts), batcher_(model) {
  if (opts_.slots < 1) fail(ErrorKind::kInvalidArgument, "scheduler: slots must be >= 1 (got ", opts_.slots, ")");
  if (opts_.max_queue < 0) fail(ErrorKind::kInvalidArgument, "scheduler: max_queue must be >= 0");
  for (int i = 0; i < opts_.slots; ++i) {
    auto s = std::make_unique<Slot>();
    s->cache = model_.new_cache(model_.config().context_length());
    slots_.push_back(std::move(s));
  }
  stats_.slots = opts_.slots;
}

Scheduler::~Scheduler() = default;

Scheduler::Lease::~Lease() { s_.release(slot_); }

std::unique_ptr<Scheduler::Lease> Scheduler::acquire(std::span<const int32_t> prompt,
                                                     const std::function<bool()>& abandoned) {
  std::unique_lock<std::mutex> lk(mu_);
  auto free_slot = [&]() -> int {
    int best = -1, best_prefix = -1;
    for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
      const Slot& s = *slots_[static_cast<size_t>(i)];
      if (s.busy) continue;
      int p = s.cache->common_prefix(prompt);
      // Longest shared prefix; on a tie the least recently used slot, keeping other conversations' caches.
      if (p > best_prefix || (p == best_prefix && s.last_used < slots_[static_cast<size_t>(best)]->last_used)) {
        best = i;
        best_prefix = p;
      }
    }
    return best;
  };
  int slot = waiting_.empty() ? free_slot() : -1;
  if (slot < 0) {
    if (static_cast<int>(waiting_.size()) >= opts_.max_queue) {
      ++stats_.refused;
      fail(ErrorKind::kCapacity, "server busy: ", slots_.size(), " slots in use and ", waiting_.size(),
           " requests waiting; retry later");
    }
    const uint64_t ticket = next_wait_ticket_++;
    waiting_.push_back(ticket);
    while (true) {
      if (waiting_.front() == ticket && (slot = free_slot()) >= 0) break;
      slot_freed_.wait_for(lk, std::chrono::milliseconds(100));
      if (abandoned && abandoned()) {
        waiting_.erase(std::find(waiting_.begin(), waiting_.end(), ticket));
        ++stats_.cancelled;
        slot_freed_.notify_all();  // the next in line may be able to go now
        return nullptr;
      }
    }
    waiting_.pop_front();
    slot_freed_.notify_all();  // another slot may be free for the next in line
  }
  Slot& s = *slots_[static_cast<size_t>(slot)];
  s.busy = true;
  s.last_used = ++use_clock_;
  return std::unique_ptr<Lease>(new Lease(*this, slot));
}

void Scheduler::release(int slot) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    slots_[static_cast<size_t>(slot)]->busy = false;
  }
  slot_freed_.notify_all();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  SchedulerStats s = stats_;
  s.busy = static_cast<int>(std::count_if(slots_.begin(), slots_.end(), [](const auto& x) { return x->busy; }));
  s.waiting = static_cast<int>(waiting_.size());
  for (const auto& slot : slots_) {
    s.kv_bytes_used += slot->cache->bytes_in_use_relaxed();
    s.kv_bytes_reserved += slot->cache->bytes_reserved_relaxed();
  }
  return s;
}

std::shared_ptr<const TokenTable> Scheduler::token_table(std::vector<int32_t> eos_ids) {
  // Ids past the tokenizer (a model's padding rows) have no bytes and cannot be in the table.
  std::erase_if(eos_ids, [&](int32_t id) { return id < 0 || id >= tok_.vocab_size(); });
  std::sort(eos_ids.begin(), eos_ids.end());
  eos_ids.erase(std::unique(eos_ids.begin(), eos_ids.end()), eos_ids.end());
  std::lock_guard<std::mutex> lk(tables_mu_);  // held while building: concurrent first users wait for one build
  for (const auto& [ids, table] : tables_)
    if (ids == eos_ids) return table;
  auto table = std::make_shared<const TokenTable>(TokenTable::from_tokenizer(tok_, eos_ids));
  tables_.emplace_back(std::move(eos_ids), table);
  return table;
}

JobResult Scheduler::run(Lease& lease, const Job& job, const std::function<bool(std::string_view)>& on_text) {
  if (!on_text) return run_pieces(lease, job, {});
  return run_pieces(lease, job, [&](std::string_view text, std::span<const TokenLogprob>) {
    return text.empty() || on_text(text);
  });
}

JobResult Scheduler::run_pieces(Lease& lease, const Job& job, const PieceCallback& on_piece) {
  if (job.logprobs > kMaxTopLogprobs)
    fail(ErrorKind::kInvalidArgument, "scheduler: logprobs must be -1..", kMaxTopLogprobs, " (got ", job.logprobs, ")");
  KVCache& cache = *slots_[static_cast<size_t>(lease.slot())]->cache;
  Sampler sampler(job.params);
  StreamDecoder decoder(tok_, /*skip_special=*/true);
  std::vector<std::string> stops = job.stop;
  for (const auto& seq : job.rules.stop_sequences) stops.push_back(tok_.decode(seq));  // Qwen1 "Human:" etc.
  StopStringFilter filter(std::move(stops));
  std::shared_ptr<const TokenTable> table;
  std::unique_ptr<GrammarMatcher> matcher;
  if (job.grammar) {
    table = token_table(job.rules.stop_ids);
    matcher = std::make_unique<GrammarMatcher>(*job.grammar);
  }
  const bool want_logprobs = job.logprobs >= 0;
  JobResult res;
  bool cancelled = false;
  bool grammar_ended = false;  // nothing but an end could follow the last token
  bool grammar_stuck = false;  // no token of the vocabulary continues the grammar: the last choice is void
  std::vector<TokenLogprob> unreleased;  // logprobs of tokens whose text is still held back
  auto emit = [&](const std::string& piece, bool final) {
    if (cancelled || (piece.empty() && !(final && !unreleased.empty()))) return;
    res.text += piece;
    res.logprobs.insert(res.logprobs.end(), unreleased.begin(), unreleased.end());
    const bool ok = !on_piece || on_piece(piece, unreleased);
    unreleased.clear();
    if (!ok) cancelled = true;
  };
  GenerateRequest req;
  req.max_new_tokens = job.params.max_new_tokens;
  req.stop_ids = job.rules.stop_ids;
  std::vector<float> scores;
  req.choose = [&](std::span<const float> logits, std::span<const int32_t> seq) -> int32_t {
    if (!matcher && !want_logprobs) return sampler.sample(logits, seq);
    scores.assign(logits.begin(), logits.end());
    if (matcher && matcher->mask_logits(scores, *table) == 0) {
      grammar_stuck = true;
      return job.rules.stop_ids.empty() ? argmax(logits) : job.rules.stop_ids.front();
    }
    choice_scores(scores, seq, sampler.params());
    const int32_t id = sampler.choose(scores);
    if (matcher) matcher->accept_token(id, *table);
    const auto& stop_ids = job.rules.stop_ids;  // a stop token ends the reply and is not one of its tokens
    if (want_logprobs && std::find(stop_ids.begin(), stop_ids.end(), id) == stop_ids.end())
      unreleased.push_back(token_logprob(scores, id, job.logprobs));
    return id;
  };
  req.on_token = [&](int32_t id) {
    if (grammar_stuck) return false;
    emit(filter.push(decoder.push(id)), false);
    grammar_ended = matcher && matcher->must_end();
    return !cancelled && !filter.stopped() && !grammar_ended;
  };
  req.forward = [&](std::span<const int32_t> ids, KVCache& c, std::vector<float>& logits) {
    batcher_.forward(ids, c, logits);
  };
  struct Active {  // counts this job as generating while generate() runs, exceptions included
    ForwardBatcher& b;
    explicit Active(ForwardBatcher& x) : b(x) { b.add_active(1); }
    ~Active() { b.add_active(-1); }
  };
  GenerateResult r;
  {
    Active active(batcher_);
    r = generate(model_, cache, job.prompt, req);
  }
  if (!cancelled && !filter.stopped()) emit(filter.push(decoder.flush()) + filter.finish(), true);
  res.prompt_tokens = r.prompt_tokens;
  res.completion_tokens = static_cast<int>(r.tokens.size());
  if (grammar_stuck && r.reason == StopReason::kCancelled) --res.completion_tokens;  // the void choice
  res.reused_tokens = r.reused_tokens;
  if (cancelled) {
    res.finish = FinishReason::kCancelled;
  } else if (filter.stopped() || grammar_ended || grammar_stuck || r.reason == StopReason::kStopToken) {
    res.finish = FinishReason::kStop;
  } else {
    res.finish = FinishReason::kLength;
  }
  std::lock_guard<std::mutex> lk(mu_);
  ++(cancelled ? stats_.cancelled : stats_.completed);
  return res;
}

}  // namespace dm
