// With the real tokenizers of the tiny fixtures (tokenizer.json for Qwen2/3, qwen.tiktoken for Qwen1):
// prefix reuse vs the naive full-prompt path, base and ChatML prompts, and the eval CLI end to end.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "devops_model/core/mapped_file.h"
#include "devops_model/core/progress.h"
#include "devops_model/eval/evaluator.h"
#include "devops_model/eval/model_scoring_lm.h"
#include "devops_model/generate/chat_format.h"
#include "devops_model/model/model.h"
#include "devops_model/tokenizer/tokenizer.h"
#include "test_util.h"

namespace dm {
namespace {

const std::string kData = std::string(DM_SOURCE_DIR) + "/tests/eval/data/";

McqReport run_eval(const Model& m, const Tokenizer& t, bool reuse, const PromptStyle& st) {
  Progress::set_quiet(true);
  ModelScoringLm lm(m, t);
  McqEvalOptions o;
  o.style = st;
  o.shots = {0, 1};
  o.prefix_reuse = reuse;
  o.progress = false;
  return evaluate_mcq(lm, {load_mcq_dataset(kData + "cmmlu"), load_mcq_dataset(kData + "ceval")}, o);
}

void check(const std::string& name) {
  auto m = Model::load(test::fixture(name));
  auto t = Tokenizer::from_dir(test::fixture(name));
  for (bool chat : {false, true}) {
    for (auto conv : {PromptConvention::kDevopsEval, PromptConvention::kCeval}) {
      PromptStyle st;
      st.chat = chat;
      st.convention = conv;
      McqReport a = run_eval(*m, *t, true, st), b = run_eval(*m, *t, false, st);
      ASSERT_EQ(a.questions.size(), 16u);
      ASSERT_EQ(b.questions.size(), 16u);
      EXPECT_GT(a.prefix_reused, 0) << name;
      float worst = 0;
      for (size_t i = 0; i < a.questions.size(); ++i) {
        EXPECT_EQ(a.questions[i].pred, b.questions[i].pred) << name << " " << i;
        for (int k = 0; k < 4; ++k)
          worst = std::max(worst, std::fabs(a.questions[i].logits[k] - b.questions[i].logits[k]));
      }
      EXPECT_LE(worst, 1e-4f) << name << " chat " << chat;
    }
  }
}

TEST(TokenizerEval, PrefixReuseMatchesFullForwardQwen2) { check("tiny-qwen2"); }
TEST(TokenizerEval, PrefixReuseMatchesFullForwardQwen1) { check("tiny-qwen1"); }

TEST(TokenizerEval, SplitPointTokenisesLikeTheFullPrompt) {
  // The evaluator reuses the prefix only when encode(prefix) + encode(question) == encode(full); with
  // the real BPE that holds at the newline split for every test question.
  auto t = Tokenizer::from_dir(test::fixture("tiny-qwen2"));
  McqDataset ds = load_mcq_dataset(kData + "ceval");
  PromptStyle st;
  for (const auto& q : ds.subjects[0].questions) {
    SplitPrompt p = render_prompt(st, "计算机网络", std::span(ds.subjects[0].dev).first(2), q);
    auto a = t->encode(p.prefix), b = t->encode(p.question), full = t->encode(p.full());
    a.insert(a.end(), b.begin(), b.end());
    EXPECT_EQ(a, full);
  }
}

// --chat renders ChatML as one string encoded with specials allowed; for Qwen1 that must give the ids
// of Qwen1's make_context (role, "\n" and content encoded separately), which the seed's chat models saw.
TEST(TokenizerEval, ChatPromptIdsMatchQwen1MakeContext) {
  auto t = Tokenizer::from_dir(test::fixture("tiny-qwen1"));
  McqDataset ds = load_mcq_dataset(kData + "ceval");
  PromptStyle chat, plain;
  chat.chat = true;
  for (const auto& q : ds.subjects[0].questions) {
    const auto shots = std::span(ds.subjects[0].dev).first(1);
    const std::string user = render_prompt(plain, "计算机网络", shots, q).full();
    ChatPrompt ref = make_context_qwen1(*t, user, {}, kEvalSystemPrompt, 1 << 20);
    EXPECT_EQ(t->encode(render_prompt(chat, "计算机网络", shots, q).full(), true), ref.tokens);
  }
}

TEST(TokenizerEval, CliEndToEnd) {
  std::string dir = test::temp_dir("eval_cli");
  std::string json = dir + "/r.json", svg = dir + "/r.svg";
  auto r = test::run_cmd(test::cli() + " eval --quiet --model " + test::fixture("tiny-qwen2") + " --data " + kData +
                         "cmmlu --data " + kData + "ceval --shots 0,1 --json " + json + " --svg " + svg);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("| 模型 | 0-shot | 1-shot |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| cmmlu | computer_science | test |"), std::string::npos) << r.out;
  auto j = nlohmann::json::parse(read_file(json));
  ASSERT_EQ(j["questions"].size(), 16u);
  const auto& q0 = j["questions"][0];
  EXPECT_EQ(q0["dataset"], "cmmlu");
  EXPECT_EQ(q0["subject"], "computer_science");
  EXPECT_EQ(q0["index"], 0);
  EXPECT_EQ(q0["shots"], 0);
  EXPECT_EQ(q0["gold"], "B");
  EXPECT_EQ(q0["logits"].size(), 4u);
  // pred is the argmax of the four logits (first wins ties).
  for (const auto& q : j["questions"]) {
    int best = 0;
    for (int k = 1; k < 4; ++k) {
      if (q["logits"][k].get<double>() > q["logits"][best].get<double>()) best = k;
    }
    EXPECT_EQ(q["pred"], std::string(1, static_cast<char>('A' + best)));
  }
  EXPECT_EQ(j["overall"][0]["total"], 8);
  EXPECT_TRUE(std::filesystem::exists(svg));

  // --preset devops-574 refuses the tiny folders (counts differ): exit code 2 (invalid argument).
  auto p = test::run_cmd(test::cli() + " eval --quiet --model " + test::fixture("tiny-qwen2") + " --data " + kData +
                         "cmmlu --data " + kData + "ceval --preset devops-574");
  EXPECT_EQ(p.status, 2);
  EXPECT_NE(p.err.find("computer_science"), std::string::npos) << p.err;
  // A malformed CSV: exit code 4 with file and line.
  auto bad =
      test::run_cmd(test::cli() + " eval --quiet --model " + test::fixture("tiny-qwen2") + " --data " + kData + "bad");
  EXPECT_NE(bad.status, 0);
  std::filesystem::remove_all(dir);
}

// An interrupted run leaves its journal; the next run with the same settings takes every question from
// it and writes the same report; --fresh ignores it; success removes it.
TEST(TokenizerEval, CliResumesFromTheJournal) {
  const std::string dir = test::temp_dir("eval_resume");
  const std::string base = test::cli() + " eval --quiet --model " + test::fixture("tiny-qwen2") + " --data " + kData +
                           "cmmlu --data " + kData + "ceval --shots 0,1 --json " + dir + "/r.json";
  // The run is "interrupted" after scoring: its SVG cannot be written (no such directory).
  auto cut = test::run_cmd(base + " --svg " + dir + "/missing/r.svg");
  ASSERT_NE(cut.status, 0);
  ASSERT_TRUE(std::filesystem::exists(dir + "/r.json.partial.jsonl"));
  const std::string first = read_file(dir + "/r.json");
  auto resumed = test::run_cmd(base);
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resuming: 16 questions already scored"), std::string::npos) << resumed.err;
  EXPECT_NE(resumed.err.find("from the journal 16"), std::string::npos) << resumed.err;
  auto a = nlohmann::json::parse(first), b = nlohmann::json::parse(read_file(dir + "/r.json"));
  EXPECT_EQ(a["questions"], b["questions"]);
  EXPECT_EQ(a["overall"][0]["correct"], b["overall"][0]["correct"]);
  EXPECT_FALSE(std::filesystem::exists(dir + "/r.json.partial.jsonl"));  // done: journal removed
  // Other settings (here --chat) with a journal left behind: refused, unless --fresh.
  ASSERT_NE(test::run_cmd(base + " --svg " + dir + "/missing/r.svg").status, 0);
  auto other = test::run_cmd(base + " --chat");
  EXPECT_EQ(other.status, 2);
  EXPECT_NE(other.err.find("--fresh"), std::string::npos) << other.err;
  auto fresh = test::run_cmd(base + " --chat --fresh");
  EXPECT_EQ(fresh.status, 0) << fresh.err;
  EXPECT_NE(fresh.err.find("from the journal 0"), std::string::npos) << fresh.err;
}

// A model replaced at the same path (here one weight byte changed) does not reuse the journal of the
// old one: the journal's settings carry a fingerprint of the model's files.
TEST(TokenizerEval, CliRefusesTheJournalOfAReplacedModel) {
  namespace fs = std::filesystem;
  const std::string dir = test::temp_dir("eval_model_changed");
  const std::string model = dir + "/model";
  fs::copy(test::fixture("tiny-qwen2"), model, fs::copy_options::recursive);
  for (const auto& e : fs::recursive_directory_iterator(model))
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  fs::permissions(model, fs::perms::owner_write, fs::perm_options::add);  // fixtures are read-only
  const std::string base =
      test::cli() + " eval --quiet --model " + model + " --data " + kData + "cmmlu --json " + dir + "/r.json";
  ASSERT_NE(test::run_cmd(base + " --svg " + dir + "/missing/r.svg").status, 0);  // interrupted: journal kept
  ASSERT_TRUE(fs::exists(dir + "/r.json.partial.jsonl"));
  std::string weights = read_file(model + "/model-00002-of-00002.safetensors");
  weights.back() = static_cast<char>(weights.back() ^ 0x01);  // the last byte of the last tensor
  write_file_atomic(model + "/model-00002-of-00002.safetensors", weights);
  auto changed = test::run_cmd(base);
  EXPECT_EQ(changed.status, 2) << changed.err;
  EXPECT_NE(changed.err.find("model's files changed"), std::string::npos) << changed.err;
  auto fresh = test::run_cmd(base + " --fresh");
  EXPECT_EQ(fresh.status, 0) << fresh.err;
  fs::remove_all(dir);
}

TEST(TokenizerEval, PplCli) {
  std::string dir = test::temp_dir("ppl_cli");
  write_file_atomic(dir + "/t.txt", "持续集成是一种软件开发实践。持续交付让软件随时可以发布。Continuous integration.");
  auto r = test::run_cmd(test::cli() + " ppl --quiet --model " + test::fixture("tiny-qwen2") + " --file " + dir +
                         "/t.txt --window 16 --stride 8");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("ppl "), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dm
