// Cost of the grammar mask over the real Qwen vocabulary (~151k tokens), one thread:
//   BM_GrammarMask/<grammar>/<position>/cached: mask_logits again at the same state (the matcher keeps
//     the last masks: inside a string the state repeats from one token to the next);
//   .../walk: the trie walk with the automaton's states already built (a state met before, mask dropped);
//   .../cold: the first walk from a fresh matcher (every automaton state met is built on the way);
//   BM_GrammarMaskSequence/<grammar>: mask + accept for every token of a real document, fresh matcher
//     each iteration: the per-token overhead a generation pays (time per item = per token).
// Fixtures: $DM_FIXTURES_DIR, else ../shared/fixtures beside the sources.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "devops_model/generate/grammar_matcher.h"
#include "devops_model/generate/json_schema_grammar.h"
#include "devops_model/generate/token_table.h"
#include "devops_model/tokenizer/tokenizer.h"

namespace {

std::string fixtures_dir() {
  if (const char* env = std::getenv("DM_FIXTURES_DIR")) return env;
  return (std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "shared" / "fixtures").string();
}

struct Vocab {
  std::unique_ptr<dm::Tokenizer> tok;
  std::unique_ptr<dm::TokenTable> table;
};

const Vocab& vocab() {
  static const Vocab v = [] {
    Vocab r;
    r.tok = dm::Tokenizer::from_file(fixtures_dir() + "/qwen-tokenizer/tokenizer.json");
    r.table = std::make_unique<dm::TokenTable>(
        dm::TokenTable::from_tokenizer(*r.tok, {*r.tok->token_id("<|im_end|>"), *r.tok->token_id("<|endoftext|>")}));
    return r;
  }();
  return v;
}

const char* kSchema = R"({"type": "object", "properties": {
  "service": {"type": "string"}, "replicas": {"type": "integer"}, "cpu": {"type": "number"},
  "env": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"},
          "value": {"type": "string"}}, "required": ["name", "value"]}},
  "strategy": {"enum": ["RollingUpdate", "Recreate"]}},
  "required": ["service", "replicas", "env", "strategy"]})";

const char* kDocument = R"({"service": "payments-api", "replicas": 3, "cpu": 0.75, "env": [
  {"name": "LOG_LEVEL", "value": "info"}, {"name": "DB_URL", "value": "postgres://db.internal:5432/pay"},
  {"name": "说明", "value": "支付服务，灰度发布"}], "strategy": "RollingUpdate"})";

dm::Grammar grammar(const std::string& which) {
  return which == "json_object" ? dm::json_object_grammar() : dm::json_schema_grammar(kSchema);
}

enum class Mode { kCached, kWalk, kCold };

void BM_GrammarMask(benchmark::State& state, const std::string& which, const std::string& prefix, Mode mode) {
  const Vocab& v = vocab();
  const dm::Grammar g = grammar(which);
  std::vector<float> logits(static_cast<size_t>(v.table->size()), 0.0f);
  auto m = std::make_unique<dm::GrammarMatcher>(g);
  if (!m->accept_bytes(prefix)) state.SkipWithError("prefix rejected");
  size_t allowed = m->mask_logits(logits, *v.table);
  for (auto _ : state) {
    if (mode == Mode::kWalk) m->clear_mask_cache();
    if (mode == Mode::kCold) {
      state.PauseTiming();
      m = std::make_unique<dm::GrammarMatcher>(g);
      m->accept_bytes(prefix);
      state.ResumeTiming();
    }
    allowed = m->mask_logits(logits, *v.table);
    benchmark::DoNotOptimize(logits.data());
  }
  state.counters["allowed"] = static_cast<double>(allowed);
  state.counters["states"] = static_cast<double>(m->cached_states());
  state.counters["trie_nodes"] = static_cast<double>(v.table->nodes().size() - 1);
}

void BM_GrammarMaskSequence(benchmark::State& state, const std::string& which) {
  const Vocab& v = vocab();
  const dm::Grammar g = grammar(which);
  const std::vector<int32_t> ids = v.tok->encode(kDocument, false);
  std::vector<float> logits(static_cast<size_t>(v.table->size()), 0.0f);
  for (auto _ : state) {
    dm::GrammarMatcher m(g);
    for (int32_t id : ids) {
      m.mask_logits(logits, *v.table);
      if (!m.accept_token(id, *v.table)) state.SkipWithError("document rejected");
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(ids.size()));
  state.counters["tokens"] = static_cast<double>(ids.size());
}

const int kRegistered = [] {
  struct Position {
    const char* name;
    const char* json_object;
    const char* schema;
  };
  const Position positions[] = {
      {"start", "", ""},
      {"in_string", R"({"service": "pay)", R"({"service": "pay)"},
      {"in_number", R"({"replicas": 12)", R"({"service": "x", "replicas": 12)"},
  };
  for (const char* which : {"json_object", "schema"}) {
    for (const Position& p : positions) {
      const std::string prefix = std::string(which) == "json_object" ? p.json_object : p.schema;
      for (const auto& [mode, label] :
           {std::pair{Mode::kCached, "cached"}, {Mode::kWalk, "walk"}, {Mode::kCold, "cold"}}) {
        const std::string name = std::string("BM_GrammarMask/") + which + "/" + p.name + "/" + label;
        benchmark::RegisterBenchmark(name.c_str(), BM_GrammarMask, std::string(which), prefix, mode)
            ->Unit(benchmark::kMicrosecond);
      }
    }
    benchmark::RegisterBenchmark((std::string("BM_GrammarMaskSequence/") + which).c_str(), BM_GrammarMaskSequence,
                                 std::string(which))
        ->Unit(benchmark::kMillisecond);
  }
  return 0;
}();

}  // namespace
