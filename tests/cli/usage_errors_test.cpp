// Every malformed command line exits 2 (README: bad argument) with CLI11's message on stderr, never CLI11's
// own 104-109 codes; --help exits 0. Table-driven over every subcommand (and the nested ones of `data` and
// `tokenizer`); a test checks the table covers every subcommand `devops-model --help` lists.
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace dm {
namespace {

struct UsageCase {
  std::string sub;                 // "chat", "data clean", ...
  std::vector<std::string> lines;  // arguments after `sub`, each a usage error
};

// Each line is wrong in one way only where possible (required options given), so the error is the one meant.
std::vector<UsageCase> usage_cases() {
  const std::string m = " -m " + test::fixture("tiny-qwen2");
  const std::string bad_flag = " --no-such-flag";
  return {
      {"bench",
       {bad_flag, m + " --prompt-tokens 0", m + " --decode-tokens x", m + " --dtype f8", m + " --threads -1",
        m + " extra"}},
      {"chat",
       {bad_flag, m + " --top-p 2", m + " --temperature -1", m + " --top-k -1", m + " --top-k x",
        m + " --repetition-penalty 0", m + " --max-new-tokens 0", m + " --max-new-tokens -1",
        m + " --max-new-tokens 1e12", m + " --seed x", "--prompt hi", m + " --prompt"}},
      {"convert",
       {bad_flag, " --out /tmp/x --dtype f8", " --out /tmp/x --seed x", " --random", " --to-gguf o.gguf",
        " --random --to-gguf o.gguf --out /tmp/x", " --model m --to-gguf o.gguf --outtype q9_k"}},
      {"data", {bad_flag, " no-such-subcommand"}},
      {"data clean", {bad_flag, " --input a --output b --alpha x", " --input a --output b --seed x", " --output b"}},
      {"data score", {bad_flag, " --input a --output b --scorer s --alpha x", " --input a --output b"}},
      {"data sample", {bad_flag, " --input a --output b --n x", " --input a --output b --seed -1", " --input a"}},
      {"data train-scorer",
       {bad_flag, " --labels a --output b --featuriser bogus", " --labels a --output b --batch 0",
        " --labels a --output b --folds x", " --labels a"}},
      {"data dedup", {bad_flag, " --input a --output b --threads x", " --input a"}},
      {"demo", {bad_flag, " --fresh --resume", " extra"}},
      {"embed",
       {bad_flag, " --model a --jsonl b --out c --batch 0", " --model a --jsonl b --out c --max-length -1",
        " --model a --jsonl b"}},
      {"eval", {bad_flag, m + " --data d --limit -1", m + " --data d --threads x", m}},
      {"generate",
       {bad_flag, m + " --ids 1 --max-new-tokens 0", m + " --ids 1 --max-new-tokens -1", m + " --ids 1 --stop x",
        m + " --ids 1 --dtype f8", m}},
      {"logits", {bad_flag, m + " --ids 1 --out o --threads -1", m + " --ids 1 --out o --dtype f8", m + " --ids 1"}},
      {"ppl", {bad_flag, m + " --file f --window x", m + " --file f --stride x", m}},
      {"quantize",
       {bad_flag, " in.gguf out.gguf", " in.gguf", " in.gguf out.gguf Q4_K_M --threads x",
        " " + std::string(DM_FIXTURES_DIR) + "/tiny-gguf/model-f32.gguf /tmp/x.gguf Q9_K"}},
      {"serve", {bad_flag, m + " --port 70000", m + " --port x", m + " --parallel 0", m + " --queue -1", " --port 1"}},
      {"tokenize",
       {bad_flag, " --model a --tokenizer b --text t", " --model a --text t --file f", " --text t", " --model a"}},
      {"tokenizer", {bad_flag, " no-such-subcommand"}},
      {"tokenizer train",
       {bad_flag, " --corpus c --out o --vocab-size x", " --corpus c --out o --min-frequency x", " --corpus c"}},
      {"tokenizer extend", {bad_flag, " --base b --corpus c --out o --add x", " --base b --corpus c"}},
      {"train", {bad_flag, " --max_steps x", " --learning_rate x", " --threads -1", " a.yaml b.yaml"}},
      {"version", {bad_flag, " extra"}},
  };
}

// Subcommand names listed by `devops-model --help` (lines under "SUBCOMMANDS:" / "Subcommands:").
std::set<std::string> listed_subcommands() {
  auto r = test::run_cmd(test::cli() + " --help");
  EXPECT_EQ(r.status, 0) << r.err;
  std::set<std::string> out;
  std::istringstream in(r.out);
  std::string line;
  bool in_list = false;
  while (std::getline(in, line)) {
    std::string low = line;
    for (char& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (low.rfind("subcommands:", 0) == 0) {
      in_list = true;
      continue;
    }
    if (!in_list || line.empty() || line[0] != ' ') continue;
    std::istringstream words(line);
    std::string name;
    words >> name;
    out.insert(name);
  }
  return out;
}

TEST(CliUsage, TableCoversEverySubcommand) {
  const std::set<std::string> listed = listed_subcommands();
  ASSERT_GE(listed.size(), 10u);
  std::set<std::string> covered;
  for (const auto& c : usage_cases()) covered.insert(c.sub.substr(0, c.sub.find(' ')));
  for (const auto& s : listed) EXPECT_TRUE(covered.count(s)) << "no usage-error cases for subcommand " << s;
}

TEST(CliUsage, EveryUsageErrorExits2WithAMessage) {
  int tried = 0;
  for (const auto& c : usage_cases()) {
    ASSERT_GE(c.lines.size(), 2u) << c.sub << ": want at least an unknown flag and a bad value";
    for (const auto& args : c.lines) {
      auto r = test::run_cmd(test::cli() + " " + c.sub + args + " </dev/null");
      EXPECT_EQ(r.status, 2) << c.sub << args << "\nstderr: " << r.err;
      EXPECT_FALSE(r.err.empty()) << c.sub << args;
      EXPECT_TRUE(r.out.empty()) << c.sub << args << ": " << r.out;
      ++tried;
    }
  }
  RecordProperty("command_lines", tried);
}

TEST(CliUsage, OutOfRangeValueIsNamed) {
  auto r = test::run_cmd(test::cli() + " chat -m " + test::fixture("tiny-qwen2") + " --top-p 2");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--top-p"), std::string::npos) << r.err;
}

TEST(CliUsage, NoSubcommandExits2) {
  auto r = test::run_cmd(test::cli());
  EXPECT_EQ(r.status, 2);
  EXPECT_FALSE(r.err.empty());
}

TEST(CliUsage, HelpExits0) {
  auto top = test::run_cmd(test::cli() + " --help");
  EXPECT_EQ(top.status, 0) << top.err;
  for (const auto& c : usage_cases()) {
    auto r = test::run_cmd(test::cli() + " " + c.sub + " --help");
    EXPECT_EQ(r.status, 0) << c.sub << ": " << r.err;
    EXPECT_NE(r.out.find("--help"), std::string::npos) << c.sub;
  }
}

}  // namespace
}  // namespace dm
