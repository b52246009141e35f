// The evaluator over a fake language model whose logits depend on every cached token, its position
// and the dynamic-NTK alpha fixed at prefill: any mistake in prefix reuse changes the numbers.
#include "devops_model/eval/evaluator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/core/progress.h"
#include "devops_model/eval/report.h"
#include "eval/journal.h"
#include "test_util.h"

namespace dm {
namespace {

const std::string kData = std::string(DM_SOURCE_DIR) + "/tests/eval/data/";

class FakeLm : public ScoringLm {
 public:
  bool merge_after_newline = false;  // BPE-like merge across "\n" + next byte (breaks every split)
  bool letters_split = false;        // "A" encodes to two tokens
  int ntk_threshold = 1 << 30;       // prefills longer than this use alpha 2
  int runs = 0, tokens_run = 0;

  std::vector<int32_t> encode(std::string_view t) const override {
    std::vector<int32_t> ids;
    for (size_t i = 0; i < t.size(); ++i) {
      if (t.substr(i, 12) == "<|im_start|>") {
        ids.push_back(256);
        i += 11;
      } else if (t.substr(i, 10) == "<|im_end|>") {
        ids.push_back(257);
        i += 9;
      } else if (merge_after_newline && t[i] == '\n' && i + 1 < t.size()) {
        ids.push_back(300 + static_cast<unsigned char>(t[++i]));
      } else {
        ids.push_back(static_cast<unsigned char>(t[i]));
        if (letters_split && t[i] >= 'A' && t[i] <= 'D') ids.push_back(0);
      }
    }
    return ids;
  }
  void reserve(int tokens) override { capacity_ = tokens; }
  void run(int keep, std::span<const int32_t> ids, std::vector<float>& logits) override {
    ASSERT_LE(keep, static_cast<int>(cache_.size()));
    cache_.resize(keep);
    if (keep == 0) alpha_ = ntk_alpha_for(static_cast<int>(ids.size()));
    cache_.insert(cache_.end(), ids.begin(), ids.end());
    ASSERT_LE(static_cast<int>(cache_.size()), capacity_);
    ++runs;
    tokens_run += static_cast<int>(ids.size());
    logits.assign(600, 0.0f);
    for (int v = 0; v < 600; ++v) {
      double acc = 0;
      for (size_t p = 0; p < cache_.size(); ++p) acc += std::sin(0.37 * cache_[p] + 0.11 * p + 0.05 * v);
      logits[v] = static_cast<float>(acc * alpha_);
    }
  }
  double ntk_alpha_for(int len) const override { return len > ntk_threshold ? 2.0 : 1.0; }

 private:
  std::vector<int32_t> cache_;
  int capacity_ = 0;
  double alpha_ = 1;
};

std::vector<McqDataset> data() { return {load_mcq_dataset(kData + "cmmlu"), load_mcq_dataset(kData + "ceval")}; }

McqReport run(FakeLm& lm, bool reuse, PromptStyle style = {}) {
  Progress::set_quiet(true);
  McqEvalOptions o;
  o.style = style;
  o.shots = {0, 1};
  o.prefix_reuse = reuse;
  o.progress = false;
  return evaluate_mcq(lm, data(), o);
}

void expect_same(const McqReport& a, const McqReport& b) {
  ASSERT_EQ(a.questions.size(), b.questions.size());
  for (size_t i = 0; i < a.questions.size(); ++i) {
    EXPECT_EQ(a.questions[i].pred, b.questions[i].pred);
    for (int k = 0; k < 4; ++k) EXPECT_EQ(a.questions[i].logits[k], b.questions[i].logits[k]) << i;
  }
}

TEST(Evaluator, PrefixReuseEqualsFullForward) {
  for (bool chat : {false, true}) {
    for (auto conv : {PromptConvention::kDevopsEval, PromptConvention::kCmmlu, PromptConvention::kCeval}) {
      PromptStyle st;
      st.chat = chat;
      st.convention = conv;
      FakeLm a, b;
      McqReport reused = run(a, true, st), naive = run(b, false, st);
      expect_same(reused, naive);
      // 3 + 2 + 3 questions per shot count, two shot counts.
      EXPECT_EQ(reused.prefix_reused, 16);
      EXPECT_EQ(reused.full_forward, 0);
      EXPECT_EQ(naive.full_forward, 16);
      EXPECT_LT(a.tokens_run, b.tokens_run);
    }
  }
}

TEST(Evaluator, FallsBackWhenTokensMergeAcrossTheSplit) {
  FakeLm a, b;
  a.merge_after_newline = b.merge_after_newline = true;
  McqReport reused = run(a, true), naive = run(b, false);
  expect_same(reused, naive);
  EXPECT_EQ(reused.prefix_reused, 0);
  EXPECT_EQ(reused.full_forward, 16);
}

TEST(Evaluator, FallsBackWhenNtkAlphaDiffers) {
  FakeLm a, b;
  // The 0-shot devops-eval header alone is 111 bytes; every full prompt is longer than 200.
  a.ntk_threshold = b.ntk_threshold = 200;
  McqReport reused = run(a, true), naive = run(b, false);
  expect_same(reused, naive);
  EXPECT_GT(reused.full_forward, 0);
}

TEST(Evaluator, ScoresArgmaxOfOptionLogitsAndCounts) {
  FakeLm lm;
  McqReport r = run(lm, true);
  ASSERT_EQ(r.overall.size(), 2u);
  for (const auto& q : r.questions) {
    EXPECT_EQ(q.pred, 'A' + argmax4(q.logits));
    EXPECT_TRUE(q.gold >= 'A' && q.gold <= 'D');
  }
  int correct = 0;
  for (const auto& q : r.questions) correct += (q.shots == 0 && q.pred == q.gold);
  EXPECT_EQ(r.overall[0].correct, correct);
  EXPECT_EQ(r.overall[0].total, 8);
  // Index is the row order in the file; the dataset is the folder name.
  EXPECT_EQ(r.questions[0].dataset, "cmmlu");
  EXPECT_EQ(r.questions[0].subject, "computer_science");
  EXPECT_EQ(r.questions[2].index, 2);
}

TEST(Evaluator, MicroAndMacro) {
  McqReport r;
  r.subjects = {{"d", "a", "test", 0, 3, 4}, {"d", "b", "test", 0, 0, 1}, {"d", "a", "test", 5, 1, 4}};
  summarize_mcq(r, {0, 5});
  EXPECT_DOUBLE_EQ(r.overall[0].micro, 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(r.overall[0].macro, (0.75 + 0.0) / 2);
  EXPECT_DOUBLE_EQ(r.overall[1].micro, 0.25);
  // The seed's DevOps-Model-14B-Chat zero-shot: 425/574 -> "74.04".
  McqReport seed;
  seed.subjects = {{"x", "all", "test", 0, 425, 574}};
  summarize_mcq(seed, {0});
  EXPECT_NE(
      mcq_markdown(seed, {"DevOps-Model-14B-Chat", "devops-eval", false, ""}).find("| DevOps-Model-14B-Chat | 74.04 |"),
      std::string::npos);
}

TEST(Evaluator, ArgmaxFirstWinsTies) {
  EXPECT_EQ(argmax4({1, 3, 3, 2}), 1);
  EXPECT_EQ(argmax4({5, 5, 5, 5}), 0);
  EXPECT_EQ(argmax4({-2, -1, -3, -1}), 1);
}

TEST(Evaluator, Errors) {
  FakeLm lm;
  lm.letters_split = true;
  EXPECT_THROW(option_token_ids(lm), Error);
  FakeLm ok;
  McqEvalOptions o;
  o.shots = {5};  // the test folders have at most 3 dev rows
  o.progress = false;
  EXPECT_THROW(evaluate_mcq(ok, data(), o), Error);
}

TEST(Evaluator, LimitAndReports) {
  FakeLm lm;
  McqEvalOptions o;
  o.shots = {0};
  o.limit = 1;
  o.progress = false;
  McqReport r = evaluate_mcq(lm, data(), o);
  EXPECT_EQ(r.questions.size(), 3u);
  McqRunInfo info{"tiny", "devops-eval", false, ""};
  auto j = mcq_json(r, info);
  EXPECT_NE(j.find("\"questions\""), std::string::npos);
  EXPECT_NE(j.find("\"logits\""), std::string::npos);
  auto svg = mcq_svg(r, info);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("computer_network"), std::string::npos);
  auto md = mcq_markdown(r, info);
  EXPECT_NE(md.find("| ceval | computer_network | val |"), std::string::npos);
}

// Resume: a run that stopped part-way continues from its journal and ends with the same report as a
// run that never stopped, scoring only the questions the journal lacks.
TEST(EvalJournal, InterruptedRunResumesToTheSameReport) {
  const std::string dir = test::temp_dir("eval_journal");
  const nlohmann::json settings = {{"model", "fake"}};
  FakeLm full_lm;
  McqReport want;
  {
    McqJournal j(dir + "/a.partial.jsonl", settings);
    Progress::set_quiet(true);
    McqEvalOptions o;
    o.shots = {0, 1};
    o.progress = false;
    o.journal = &j;
    want = evaluate_mcq(full_lm, data(), o);
  }
  // The interrupted run: header + the first 5 results, and a torn sixth line.
  std::ifstream in(dir + "/a.partial.jsonl");
  std::string line, partial;
  for (int i = 0; i < 6 && std::getline(in, line); ++i) partial += line + "\n";
  std::getline(in, line);
  partial += line.substr(0, line.size() / 2);
  write_file_atomic(dir + "/b.partial.jsonl", partial);

  FakeLm lm;
  McqJournal j(dir + "/b.partial.jsonl", settings);
  EXPECT_EQ(j.resumed(), 5u);
  McqEvalOptions o;
  o.shots = {0, 1};
  o.progress = false;
  o.journal = &j;
  McqReport got = evaluate_mcq(lm, data(), o);
  expect_same(got, want);
  EXPECT_EQ(got.resumed, 5);
  EXPECT_EQ(got.prefix_reused + got.full_forward, 16 - 5);
  EXPECT_LT(lm.runs, full_lm.runs);
  ASSERT_EQ(got.overall.size(), want.overall.size());
  for (size_t i = 0; i < got.overall.size(); ++i) EXPECT_EQ(got.overall[i].correct, want.overall[i].correct);
  // Every question is in the journal now: a third run scores nothing.
  McqJournal again(dir + "/b.partial.jsonl", settings);
  EXPECT_EQ(again.resumed(), 16u);
}

// A journaled question whose text, options or answer changed since is scored again (issue: resume
// reused stale scores); the rest still come from the journal, and the report equals a fresh run's.
TEST(EvalJournal, ChangedQuestionsAreScoredAgain) {
  const std::string dir = test::temp_dir("eval_journal_stale");
  const nlohmann::json settings = {{"model", "fake"}};
  Progress::set_quiet(true);
  auto evaluate = [&](const std::vector<McqDataset>& d, McqJournal* j) {
    FakeLm lm;
    McqEvalOptions o;
    o.shots = {0, 1};
    o.progress = false;
    o.journal = j;
    return evaluate_mcq(lm, d, o);
  };
  {
    McqJournal j(dir + "/j.partial.jsonl", settings);
    evaluate(data(), &j);  // all 16 journaled
  }
  std::vector<McqDataset> edited = data();
  edited[0].subjects[0].questions[0].question += "?";     // text: 0- and 1-shot prompts change
  edited[1].subjects[0].questions[1].options[2] += " x";  // an option
  edited[1].subjects[0].questions[0].answer =             // the answer alone
      edited[1].subjects[0].questions[0].answer == 'A' ? 'B' : 'A';
  McqJournal j(dir + "/j.partial.jsonl", settings);
  ASSERT_EQ(j.resumed(), 16u);
  const McqReport got = evaluate(edited, &j);
  EXPECT_EQ(got.stale, 6);  // three questions, each at 0 and 1 shots
  EXPECT_EQ(got.resumed, 16 - 6);
  const McqReport want = evaluate(edited, nullptr);
  expect_same(got, want);
  for (size_t i = 0; i < got.questions.size(); ++i) EXPECT_EQ(got.questions[i].gold, want.questions[i].gold) << i;
  // The re-scored results were journaled: a third run takes all 16 from the journal.
  McqJournal again(dir + "/j.partial.jsonl", settings);
  const McqReport third = evaluate(edited, &again);
  EXPECT_EQ(third.resumed, 16);
  EXPECT_EQ(third.stale, 0);
}

TEST(EvalJournal, OtherSettingsOrBadLinesAreRefused) {
  const std::string dir = test::temp_dir("eval_journal_bad");
  { McqJournal j(dir + "/j.jsonl", {{"model", "a"}}); }
  try {
    McqJournal j(dir + "/j.jsonl", {{"model", "b"}});
    FAIL() << "journal of other settings accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("--fresh"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(R"(model: "a" -> "b")"), std::string::npos) << e.what();
  }
  McqJournal fresh(dir + "/j.jsonl", {{"model", "b"}}, /*fresh=*/true);  // starts over
  EXPECT_EQ(fresh.resumed(), 0u);
  write_file_atomic(dir + "/bad.jsonl", "{\"devops_model_eval_journal\": 1, \"settings\": {}}\n{\"dataset\": 3}\n");
  try {
    McqJournal j(dir + "/bad.jsonl", nlohmann::json::object());
    FAIL() << "bad record accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFormat);
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dm
