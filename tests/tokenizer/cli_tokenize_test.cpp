// Runs the built CLI: `devops-model tokenize` in its three input modes, checked against goldens.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "devops_model/core/mapped_file.h"

namespace {
using nlohmann::json;
const std::string kFix = DM_FIXTURES_DIR;

struct CliRun {
  int rc;
  std::string out;
};

CliRun run_cli(const std::string& args) {
  const std::string cmd = std::string(DM_CLI_PATH) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string ids_text(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? " " : "") + std::to_string(ids[i]);
  return s + "\n";
}

TEST(CliTokenize, TextFileAndJsonlMatchGoldens) {
  const json cases = json::parse(dm::read_file(kFix + "/qwen-tokenizer/golden_encodings.json"));
  const auto dir = "/tmp/dm_cli_tok_" + std::to_string(::getpid());
  std::string jsonl;
  std::string expected_jsonl;
  for (const auto& c : cases) {
    jsonl += json{{"text", c["text"]}}.dump() + "\n";
    expected_jsonl += json{{"ids", c["hf_ids"]}}.dump() + "\n";
  }
  dm::write_file_atomic(dir + ".jsonl", jsonl);
  CliRun r = run_cli("tokenize --model " + kFix + "/qwen-tokenizer --jsonl " + dir + ".jsonl");
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, expected_jsonl);

  // --file with the tiktoken path: the multi-line YAML case.
  for (const auto& c : cases) {
    const std::string text = c["text"];
    if (text.find('\n') == std::string::npos || text.size() < 40) continue;
    dm::write_file_atomic(dir + ".txt", text);
    r = run_cli("tokenize --tokenizer " + kFix + "/qwen-tokenizer/qwen.tiktoken --file " + dir + ".txt");
    EXPECT_EQ(r.rc, 0);
    EXPECT_EQ(r.out, ids_text(c["tiktoken_ids"].get<std::vector<int32_t>>()));
    break;
  }
  std::remove((dir + ".jsonl").c_str());
  std::remove((dir + ".txt").c_str());
}

TEST(CliTokenize, JsonPiecesAndNoSpecial) {
  CliRun r = run_cli("tokenize --tokenizer " + kFix + "/tiny-tokenizer/tokenizer.json --json --text 'hi<|im_end|>'");
  ASSERT_EQ(r.rc, 0) << r.out;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["ids"].back(), 509);
  EXPECT_EQ(j["pieces"].back(), "<|im_end|>");
  r = run_cli("tokenize --tokenizer " + kFix + "/tiny-tokenizer/tokenizer.json --no-special --text '<|im_end|>'");
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out.find("509"), std::string::npos) << r.out;
}

TEST(CliTokenize, BadJsonlLineNamesFileAndLine) {
  const auto path = "/tmp/dm_cli_bad_" + std::to_string(::getpid()) + ".jsonl";
  dm::write_file_atomic(path, "{\"text\": \"ok\"}\n{\"text\": 3}\n");
  CliRun r = run_cli("tokenize --tokenizer " + kFix + "/tiny-tokenizer/qwen.tiktoken --jsonl " + path);
  EXPECT_EQ(r.rc, 4);  // kFormat
  EXPECT_NE(r.out.find(path + ":2:"), std::string::npos) << r.out;
  std::remove(path.c_str());
}

}  // namespace
