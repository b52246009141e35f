// End-to-end: `devops-model demo --quick` on the bundled data (seconds), every stage's output checked;
// then a re-run resumes (every stage skipped) and `--model` runs evaluation + chat on the tuned checkpoint.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "devops_model/core/mapped_file.h"
#include "devops_model/model/model.h"
#include "devops_model/tokenizer/tokenizer.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace dm {
namespace {

size_t count_of(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) ++n;
  return n;
}

std::vector<double> losses(const std::string& log) {
  std::vector<double> v;
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) v.push_back(nlohmann::json::parse(line).at("loss").get<double>());
  return v;
}

class DemoQuick : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    work_ = new std::string(test::temp_dir("demo_quick"));
    run_ = new test::CmdResult(test::run_cmd(test::cli() + " demo --quick --fresh --work " + *work_));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*work_);
    delete work_;
    delete run_;
  }
  static std::string* work_;
  static test::CmdResult* run_;
};
std::string* DemoQuick::work_ = nullptr;
test::CmdResult* DemoQuick::run_ = nullptr;

// "| NAME | 12.5 | 37.5 |": the model's row of the accuracy table, two numeric cells.
bool has_score_row(const std::string& out, const std::string& name) {
  const std::string head = "| " + name + " | ";
  for (size_t at = out.find(head); at != std::string::npos; at = out.find(head, at + 1)) {
    const std::string line = out.substr(at + head.size(), out.find('\n', at) - at - head.size());
    double a = 0, b = 0;
    char sep = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lf %c %lf %c", &a, &sep, &b, &end) == 4 && sep == '|' && end == '|') return true;
  }
  return false;
}

TEST_F(DemoQuick, CleaningRemovesThePlantedJunk) {
  ASSERT_EQ(run_->status, 0) << run_->out << run_->err;
  const auto rep = nlohmann::json::parse(read_file(*work_ + "/clean/report.json"));
  EXPECT_NE(run_->out.find("# Cleaning report"), std::string::npos);
  // Every junk-only source of the bundled corpus is dropped entirely; blog sources mostly survive.
  int junk_sources = 0;
  for (const auto& [name, s] : rep.at("sources").items()) {
    if (name.rfind("junk-", 0) == 0) {
      ++junk_sources;
      EXPECT_GT(s.at("docs_in").get<int64_t>(), 0) << name;
      EXPECT_EQ(s.at("docs_out").get<int64_t>(), 0) << name;
    } else if (name.rfind("blog-", 0) == 0) {
      EXPECT_GT(s.at("docs_out").get<int64_t>() * 10, s.at("docs_in").get<int64_t>() * 8) << name;
    }
  }
  EXPECT_GE(junk_sources, 5);
  // Reposted near-duplicates are found by the dedup stage.
  const size_t at = run_->out.find("near duplicates ");
  ASSERT_NE(at, std::string::npos) << run_->out;
  EXPECT_GT(std::atoi(run_->out.c_str() + at + std::strlen("near duplicates ")), 10);
}

TEST_F(DemoQuick, TrainingLossesFiniteAndDecreasing) {
  ASSERT_EQ(run_->status, 0) << run_->err;
  for (const char* stage : {"pt", "sft"}) {
    const auto v = losses(*work_ + "/" + stage + "/log.jsonl");
    ASSERT_GE(v.size(), 8u) << stage;
    for (double x : v) EXPECT_TRUE(std::isfinite(x)) << stage;
    EXPECT_LT(v.back(), v.front()) << stage;
  }
  // Pretraining starts near ln(vocab) (a uniform guess over a few hundred ids).
  EXPECT_NEAR(losses(*work_ + "/pt/log.jsonl").front(), std::log(448.0), 0.6);
  // Checkpoints carry the trained tokenizer, so eval and chat can load them.
  const std::string ck = read_file(*work_ + "/sft/DONE");
  const std::string dir = ck.substr(0, ck.find('\n'));
  auto tok = Tokenizer::from_dir(dir);
  EXPECT_TRUE(tok->token_id("<|im_end|>").has_value());
  EXPECT_EQ(Model::load(dir)->config().architecture, "Qwen2ForCausalLM");
}

TEST_F(DemoQuick, EvalTableAndThreeTurnTranscript) {
  ASSERT_EQ(run_->status, 0) << run_->err;
  const std::string& o = run_->out;
  EXPECT_NE(o.find("| 模型 | 0-shot | 5-shot |"), std::string::npos) << o;
  EXPECT_TRUE(has_score_row(o, "DemoBase (pt)")) << o;
  EXPECT_TRUE(has_score_row(o, "DemoChat (sft)")) << o;
  const std::string t = read_file(*work_ + "/chat_transcript.txt");
  EXPECT_EQ(count_of(t, "用户："), 3u);
  EXPECT_EQ(count_of(t, "DevOps-Model："), 3u);
  EXPECT_NE(t.find("用户：你是谁\n"), std::string::npos);
  EXPECT_NE(t.find("用户：Java 中 HashMap 和 Hashtable 有什么区别\n"), std::string::npos);
  EXPECT_NE(t.find("用户：线程安全代表什么\n"), std::string::npos);
  EXPECT_NE(o.find(t.substr(0, 20)), std::string::npos);
}

TEST_F(DemoQuick, RerunResumesAndModelModeSkipsTraining) {
  ASSERT_EQ(run_->status, 0) << run_->err;
  const auto again = test::run_cmd(test::cli() + " demo --quick --work " + *work_);
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(count_of(again.out, "(done before"), 4u) << again.out;
  const std::string ck = read_file(*work_ + "/sft/DONE");
  const std::string dir = ck.substr(0, ck.find('\n'));
  const auto m = test::run_cmd(test::cli() + " demo --quick --work " + *work_ + "/m --model " + dir);
  ASSERT_EQ(m.status, 0) << m.err;
  EXPECT_EQ(m.out.find("Cleaning"), std::string::npos);
  EXPECT_NE(m.out.find("| checkpoint-"), std::string::npos) << m.out;
  EXPECT_EQ(count_of(read_file(*work_ + "/m/chat_transcript.txt"), "用户："), 3u);
}

}  // namespace
}  // namespace dm
