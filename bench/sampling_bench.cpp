// Per-token cost of choosing a token as the server does it (Scheduler::run_pieces), over the real Qwen
// vocabulary (151,665 logits), without the model: what constrained decoding and logprobs add to a step.
//   BM_ChooseToken/<sampling>/<extra>: sampling = greedy | sample (Qwen's generation_config: top_k 20,
//     top_p 0.8, temperature 0.7, repetition penalty 1.05); extra = plain | json_schema (the grammar mask
//     and accept, walking a real JSON document token by token) | logprobs20 (log-softmax, top 20) | both.
// Compare with a decode step of the model (bench/README or `devops-model bench`): 0.5B shape, 2 threads,
// about 34 ms.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "devops_model/generate/grammar_matcher.h"
#include "devops_model/generate/json_schema_grammar.h"
#include "devops_model/generate/sampler.h"
#include "devops_model/generate/token_logprobs.h"
#include "devops_model/generate/token_table.h"
#include "devops_model/tokenizer/tokenizer.h"

namespace {

std::string fixtures_dir() {
  if (const char* env = std::getenv("DM_FIXTURES_DIR")) return env;
  return (std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "shared" / "fixtures").string();
}

struct Setup {
  std::unique_ptr<dm::Tokenizer> tok;
  std::unique_ptr<dm::TokenTable> table;
  std::vector<std::vector<float>> logits;  // a few random rows, cycled
  std::vector<int32_t> doc;                // a JSON document the schema accepts, as tokens
};

const char* kSchema = R"({"type": "object", "properties": {
  "service": {"type": "string"}, "replicas": {"type": "integer"}, "cpu": {"type": "number"},
  "env": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"},
          "value": {"type": "string"}}, "required": ["name", "value"]}},
  "strategy": {"enum": ["RollingUpdate", "Recreate"]}},
  "required": ["service", "replicas", "env", "strategy"]})";

const char* kDocument = R"({"service": "payments-api", "replicas": 3, "cpu": 0.75, "env": [
  {"name": "LOG_LEVEL", "value": "info"}, {"name": "DB_URL", "value": "postgres://db.internal:5432/pay"},
  {"name": "说明", "value": "支付服务，灰度发布"}], "strategy": "RollingUpdate"})";

const Setup& setup() {
  static const Setup s = [] {
    Setup r;
    r.tok = dm::Tokenizer::from_file(fixtures_dir() + "/qwen-tokenizer/tokenizer.json");
    r.table = std::make_unique<dm::TokenTable>(
        dm::TokenTable::from_tokenizer(*r.tok, {*r.tok->token_id("<|im_end|>"), *r.tok->token_id("<|endoftext|>")}));
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 3.0f);  // roughly a real model's spread of logits
    for (int i = 0; i < 4; ++i) {
      std::vector<float> row(static_cast<size_t>(r.tok->vocab_size()));
      for (float& x : row) x = normal(rng);
      r.logits.push_back(std::move(row));
    }
    r.doc = r.tok->encode(kDocument, false);
    return r;
  }();
  return s;
}

void BM_ChooseToken(benchmark::State& state, bool sample, bool grammar, int logprobs) {
  const Setup& s = setup();
  dm::GenerationParams p;
  p.do_sample = sample;
  p.temperature = 0.7;
  p.top_k = 20;
  p.top_p = 0.8;
  p.repetition_penalty = 1.05;
  const dm::Grammar g = dm::json_schema_grammar(kSchema);
  std::vector<int32_t> seq(64, 1000);  // a prompt's worth of history for the repetition penalty
  std::vector<float> scores;
  size_t steps = 0;
  for (auto _ : state) {
    dm::Sampler sampler(p);
    std::unique_ptr<dm::GrammarMatcher> m;
    if (grammar) m = std::make_unique<dm::GrammarMatcher>(g);
    for (size_t i = 0; i < s.doc.size(); ++i) {
      const std::vector<float>& logits = s.logits[i % s.logits.size()];
      int32_t id;
      if (!grammar && logprobs < 0) {
        id = sampler.sample(logits, seq);
      } else {
        scores.assign(logits.begin(), logits.end());
        if (m) m->mask_logits(scores, *s.table);
        dm::choice_scores(scores, seq, sampler.params());
        id = sampler.choose(scores);
        if (logprobs >= 0) benchmark::DoNotOptimize(dm::token_logprob(scores, id, logprobs));
      }
      benchmark::DoNotOptimize(id);
      // Follow the document (the random logits' choice would leave it), as a model that writes it would.
      if (m && !m->accept_token(s.doc[i], *s.table)) state.SkipWithError("document rejected");
      ++steps;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(steps));
  state.counters["per_token"] =
      benchmark::Counter(static_cast<double>(steps), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

const int kRegistered = [] {
  for (bool sample : {false, true}) {
    for (const auto& [extra, grammar, logprobs] : {std::tuple{"plain", false, -1}, std::tuple{"json_schema", true, -1},
                                                   std::tuple{"logprobs20", false, 20}, std::tuple{"both", true, 20}}) {
      const std::string name = std::string("BM_ChooseToken/") + (sample ? "sample/" : "greedy/") + extra;
      benchmark::RegisterBenchmark(name.c_str(), BM_ChooseToken, sample, grammar, logprobs)
          ->Unit(benchmark::kMillisecond);
    }
  }
  return 0;
}();

}  // namespace
