// Scheduler jobs with a grammar (constrained decoding) and with logprobs, on the tiny fixture models: sampled
// output under a JSON schema always parses and matches it, over many seeds; logprobs are the log-softmax
// of the distribution the token was drawn from (greedy: the chosen token is the top-1, and the first
// token's values equal an independent log-softmax of the model's logits).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "devops_model/generate/chat_session.h"
#include "devops_model/generate/grammar.h"
#include "devops_model/generate/json_schema_grammar.h"
#include "devops_model/serve/scheduler.h"
#include "test_util.h"

namespace dm {
namespace {

using nlohmann::json;

struct Tiny {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tok;
  explicit Tiny(const std::string& name) {
    const std::string dir = test::fixture(name);
    model = Model::load(dir);
    tok = Tokenizer::from_dir(dir);
  }
  // Token ids as the scheduler renders them: complete UTF-8, invalid bytes as U+FFFD.
  std::string text_of(std::span<const int32_t> ids) const {
    StreamDecoder d(*tok);
    std::string s;
    for (int32_t id : ids) s += d.push(id);
    return s + d.flush();
  }
  Job job(const std::string& prompt, bool sample, uint64_t seed, int max_tokens) const {
    Job j;
    j.prompt = tok->encode(prompt);
    j.params = generation_params_from_dir(model->dir());
    j.params.do_sample = sample;
    j.params.temperature = 1.0;
    j.params.top_p = 1.0;
    j.params.top_k = 0;
    j.params.repetition_penalty = 1.0;
    j.params.seed = seed;
    j.params.max_new_tokens = max_tokens;
    j.rules = stop_rules(*tok, j.params);
    return j;
  }
};

constexpr const char* kSchema = R"({
  "type": "object",
  "properties": {
    "ok": {"type": "boolean"},
    "n": {"type": "integer"},
    "tag": {"enum": ["red", "green", null]},
    "name": {"type": "string", "maxLength": 6},
    "xs": {"type": "array", "items": {"type": "number"}, "maxItems": 2}
  },
  "required": ["ok", "n", "tag"]
})";

// What kSchema accepts, checked directly on the parsed value.
void expect_matches_schema(const json& v, const std::string& text) {
  ASSERT_TRUE(v.is_object()) << text;
  for (const char* key : {"ok", "n", "tag"}) EXPECT_TRUE(v.contains(key)) << text;
  for (auto& [k, x] : v.items()) {
    if (k == "ok") {
      EXPECT_TRUE(x.is_boolean()) << text;
    } else if (k == "n") {
      EXPECT_TRUE(x.is_number_integer()) << text;
    } else if (k == "tag") {
      EXPECT_TRUE(x == "red" || x == "green" || x.is_null()) << text;
    } else if (k == "name") {
      ASSERT_TRUE(x.is_string()) << text;
    } else if (k == "xs") {
      ASSERT_TRUE(x.is_array()) << text;
      EXPECT_LE(x.size(), 2u) << text;
      for (const auto& e : x) EXPECT_TRUE(e.is_number()) << text;
    } else {
      ADD_FAILURE() << "unexpected key " << k << " in " << text;
    }
  }
}

TEST(SchedulerGrammar, SampledOutputAlwaysMatchesTheSchema) {
  for (const char* name : {"tiny-qwen2", "tiny-qwen1"}) {
    Tiny t(name);
    Scheduler s(*t.model, *t.tok, {1, 4});
    auto grammar = std::make_shared<const Grammar>(json_schema_grammar(kSchema));
    int stopped = 0;
    const int kSeeds = 40;
    for (int seed = 0; seed < kSeeds; ++seed) {
      Job j = t.job("JSON please:", /*sample=*/true, static_cast<uint64_t>(seed), 100);
      j.grammar = grammar;
      auto lease = s.acquire(j.prompt);
      std::string streamed;
      JobResult r = s.run(*lease, j, [&](std::string_view piece) {
        streamed += piece;
        return true;
      });
      EXPECT_EQ(streamed, r.text);
      if (r.finish == FinishReason::kLength) continue;  // a long string or number ran out of tokens
      ++stopped;
      EXPECT_EQ(r.finish, FinishReason::kStop) << r.text;
      json v;
      ASSERT_NO_THROW(v = json::parse(r.text)) << name << " seed " << seed << ": " << r.text;
      expect_matches_schema(v, r.text);
    }
    EXPECT_GE(stopped, kSeeds * 3 / 4) << name;  // most replies complete within 100 tokens
  }
}

TEST(SchedulerGrammar, GreedyAndSampledReplyIsOneOfTheAlternativesAndEndsThere) {
  Tiny t("tiny-qwen2");
  Scheduler s(*t.model, *t.tok, {1, 4});
  auto grammar = std::make_shared<const Grammar>(Grammar::parse(R"(root ::= "yes" | "no" | "maybe later")"));
  std::set<std::string> seen;
  for (int seed = 0; seed < 20; ++seed) {
    Job j = t.job("Answer:", seed > 0, static_cast<uint64_t>(seed), 50);
    j.grammar = grammar;
    j.rules.stop_ids.clear();  // as with ignore_eos: the grammar alone ends the reply
    auto lease = s.acquire(j.prompt);
    JobResult r = s.run(*lease, j);
    EXPECT_TRUE(r.text == "yes" || r.text == "no" || r.text == "maybe later") << r.text;
    EXPECT_EQ(r.finish, FinishReason::kStop);
    EXPECT_LE(r.completion_tokens, 11);
    seen.insert(r.text);
  }
  EXPECT_GE(seen.size(), 2u);  // sampling reaches more than one alternative
}

// log-softmax in double of the model's logits for the prompt, computed here without the scheduler.
std::vector<double> first_token_logprobs(const Tiny& t, const std::vector<int32_t>& prompt) {
  auto cache = t.model->new_cache();
  std::vector<float> logits;
  t.model->forward(prompt, *cache, logits);
  double mx = -INFINITY;
  for (float x : logits) mx = std::max(mx, static_cast<double>(x));
  double z = 0;
  for (float x : logits) z += std::exp(static_cast<double>(x) - mx);
  std::vector<double> out;
  for (float x : logits) out.push_back(static_cast<double>(x) - mx - std::log(z));
  return out;
}

TEST(SchedulerLogprobs, GreedyChosenIsTopOneAndValuesAreTheLogSoftmax) {
  for (const char* name : {"tiny-qwen2", "tiny-qwen1"}) {
    Tiny t(name);
    Scheduler s(*t.model, *t.tok, {1, 4});
    Job j = t.job("The build failed because", /*sample=*/false, 0, 12);
    j.rules.stop_ids.clear();
    j.logprobs = 5;
    auto lease = s.acquire(j.prompt);
    std::string streamed;
    std::vector<TokenLogprob> streamed_lp;
    JobResult r = s.run_pieces(*lease, j, [&](std::string_view text, std::span<const TokenLogprob> lp) {
      streamed += text;
      streamed_lp.insert(streamed_lp.end(), lp.begin(), lp.end());
      return true;
    });
    ASSERT_EQ(r.logprobs.size(), 12u) << name;
    EXPECT_EQ(r.completion_tokens, 12);
    EXPECT_EQ(streamed, r.text);
    ASSERT_EQ(streamed_lp.size(), r.logprobs.size());
    std::vector<int32_t> ids;
    for (size_t i = 0; i < r.logprobs.size(); ++i) {
      const TokenLogprob& lp = r.logprobs[i];
      EXPECT_EQ(streamed_lp[i].id, lp.id);
      ids.push_back(lp.id);
      ASSERT_EQ(lp.top.size(), 5u);
      EXPECT_EQ(lp.top[0].first, lp.id) << name << " token " << i;
      EXPECT_FLOAT_EQ(lp.top[0].second, lp.logprob);
      double mass = 0;
      for (size_t k = 0; k < lp.top.size(); ++k) {
        mass += std::exp(lp.top[k].second);
        EXPECT_LE(lp.top[k].second, 0.0f);
        if (k > 0) {
          EXPECT_LE(lp.top[k].second, lp.top[k - 1].second);
        }
      }
      EXPECT_LE(mass, 1.0 + 1e-5);
    }
    // The reply's text is the tokens' text.
    EXPECT_EQ(t.text_of(ids), r.text);
    // The first token against an independent log-softmax of the logits.
    const std::vector<double> want = first_token_logprobs(t, j.prompt);
    EXPECT_NEAR(r.logprobs[0].logprob, want[static_cast<size_t>(r.logprobs[0].id)], 1e-4);
    for (const auto& [id, v] : r.logprobs[0].top) EXPECT_NEAR(v, want[static_cast<size_t>(id)], 1e-4);
    const double best = *std::max_element(want.begin(), want.end());
    EXPECT_NEAR(r.logprobs[0].logprob, best, 1e-4);
  }
}

TEST(SchedulerLogprobs, SampledValuesAreOverTheWarpedDistribution) {
  Tiny t("tiny-qwen2");
  Scheduler s(*t.model, *t.tok, {1, 4});
  Job j = t.job("kubectl get", /*sample=*/true, 7, 10);
  j.params.top_k = 4;
  j.params.temperature = 0.7;
  j.rules.stop_ids.clear();
  j.logprobs = kMaxTopLogprobs;
  auto lease = s.acquire(j.prompt);
  JobResult r = s.run(*lease, j);
  ASSERT_EQ(r.logprobs.size(), 10u);
  for (const TokenLogprob& lp : r.logprobs) {
    // top-k 4: only four tokens can be drawn (more only on exact ties), and they hold all the mass.
    EXPECT_GE(lp.top.size(), 1u);
    EXPECT_LE(lp.top.size(), 5u);
    double mass = 0;
    bool chosen_listed = false;
    for (const auto& [id, v] : lp.top) {
      mass += std::exp(v);
      chosen_listed |= id == lp.id && v == lp.logprob;
    }
    EXPECT_NEAR(mass, 1.0, 1e-4);
    EXPECT_TRUE(chosen_listed);
  }
}

TEST(SchedulerLogprobs, UnderAGrammarOnlyAllowedTokensAreListed) {
  Tiny t("tiny-qwen2");
  Scheduler s(*t.model, *t.tok, {1, 4});
  Job j = t.job("Answer:", /*sample=*/false, 0, 20);
  j.grammar = std::make_shared<const Grammar>(Grammar::parse(R"(root ::= "yes" | "no")"));
  j.logprobs = kMaxTopLogprobs;
  auto lease = s.acquire(j.prompt);
  JobResult r = s.run(*lease, j);
  ASSERT_TRUE(r.text == "yes" || r.text == "no") << r.text;
  ASSERT_FALSE(r.logprobs.empty());
  double mass = 0;
  for (const auto& [id, v] : r.logprobs[0].top) {
    const std::string bytes = t.tok->token_bytes(id);
    EXPECT_TRUE(std::string("yes").starts_with(bytes) || std::string("no").starts_with(bytes)) << bytes;
    mass += std::exp(v);
  }
  EXPECT_NEAR(mass, 1.0, 1e-4);  // a handful of tokens are allowed, all listed
  EXPECT_EQ(r.logprobs[0].top[0].first, r.logprobs[0].id);
}

TEST(SchedulerLogprobs, TheStopTokenIsNotListed) {
  Tiny t("tiny-qwen2");
  Scheduler s(*t.model, *t.tok, {1, 4});
  // After "yes" the grammar may end (an end-of-text token) or go on: sampled, some replies take the end.
  auto grammar = std::make_shared<const Grammar>(Grammar::parse(R"(root ::= "yes" " please"?)"));
  int ended_by_eos = 0;
  for (int seed = 0; seed < 30; ++seed) {
    Job j = t.job("Answer:", /*sample=*/true, static_cast<uint64_t>(seed), 20);
    j.grammar = grammar;
    j.logprobs = 2;
    auto lease = s.acquire(j.prompt);
    JobResult r = s.run(*lease, j);
    EXPECT_EQ(r.finish, FinishReason::kStop);
    EXPECT_EQ(r.logprobs.size(), static_cast<size_t>(r.completion_tokens)) << r.text;
    std::vector<int32_t> ids;
    for (const auto& lp : r.logprobs) ids.push_back(lp.id);
    EXPECT_EQ(t.text_of(ids), r.text);
    ended_by_eos += r.text == "yes";
  }
  EXPECT_GE(ended_by_eos, 1);
}

TEST(SchedulerLogprobs, StopStringTokensGoWithTheReleasingPiece) {
  Tiny t("tiny-qwen2");
  Scheduler s(*t.model, *t.tok, {1, 4});
  // Find the greedy reply first, then stop on a piece of it.
  Job j = t.job("The build failed because", /*sample=*/false, 0, 12);
  j.rules.stop_ids.clear();
  j.logprobs = 0;
  std::string full;
  {
    auto lease = s.acquire(j.prompt);
    full = s.run(*lease, j).text;
  }
  ASSERT_GE(full.size(), 6u);
  j.stop = {full.substr(full.size() / 2, 3)};
  auto lease = s.acquire(j.prompt);
  std::vector<TokenLogprob> streamed;
  JobResult r = s.run_pieces(*lease, j, [&](std::string_view, std::span<const TokenLogprob> lp) {
    streamed.insert(streamed.end(), lp.begin(), lp.end());
    return true;
  });
  EXPECT_EQ(r.finish, FinishReason::kStop);
  EXPECT_LT(r.text.size(), full.size());
  ASSERT_EQ(streamed.size(), r.logprobs.size());
  std::vector<int32_t> ids;
  for (const auto& lp : r.logprobs) {
    EXPECT_TRUE(lp.top.empty());
    ids.push_back(lp.id);
  }
  // The listed tokens spell the reply, possibly with the part of the last one the stop string cut.
  const std::string spelled = t.text_of(ids);
  EXPECT_TRUE(spelled.starts_with(r.text)) << spelled << " vs " << r.text;
  EXPECT_LE(r.logprobs.size(), static_cast<size_t>(r.completion_tokens));
}

}  // namespace
}  // namespace dm
