// chat / generate with --json-schema FILE and --grammar FILE: sampled replies of a tiny random model parse
// and match the schema; errors name the file (and line and column for GBNF).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace dm {
namespace {

using nlohmann::json;

std::string write(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// Short prompts: the fixture's context is 128 tokens of a 512-token (mostly single-byte) vocabulary.
const std::string kChat = " chat --model " + test::fixture("tiny-qwen2") + " --system J --prompt hi --json ";

TEST(CliGrammar, ChatRepliesFollowTheJsonSchema) {
  const std::string dir = test::temp_dir("cli_grammar");
  const std::string schema = write(dir, "s.json", R"({"type": "object", "properties": {
      "ok": {"type": "boolean"}, "level": {"enum": ["info", "warn"]}}, "required": ["ok", "level"]})");
  int complete = 0;
  for (int seed = 0; seed < 6; ++seed) {
    const auto r = test::run_cmd(test::cli() + kChat + "--temperature 1 --top-p 1 --max-new-tokens 90 --seed " +
                                 std::to_string(seed) + " --json-schema " + schema);
    ASSERT_EQ(r.status, 0) << r.err;
    const json out = json::parse(r.out);
    const std::string reply = out["reply"];
    if (out["stop_reason"] != "stop") {  // pretty-printing whitespace can run a random model out of tokens
      EXPECT_EQ(reply.front(), '{') << reply;
      continue;
    }
    ++complete;
    json v;
    ASSERT_NO_THROW(v = json::parse(reply)) << reply;
    EXPECT_TRUE(v["ok"].is_boolean()) << reply;
    EXPECT_TRUE(v["level"] == "info" || v["level"] == "warn") << reply;
    EXPECT_EQ(v.size(), 2u) << reply;
  }
  EXPECT_GE(complete, 4);
}

TEST(CliGrammar, GbnfForChatAndGenerate) {
  const std::string dir = test::temp_dir("cli_grammar");
  const std::string g = write(dir, "yn.gbnf", "# yes or no\nroot ::= \"yes\" | \"no\"\n");
  const auto r = test::run_cmd(test::cli() + kChat + "--seed 3 --grammar " + g);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string reply = json::parse(r.out)["reply"];
  EXPECT_TRUE(reply == "yes" || reply == "no") << reply;
  const auto gen = test::run_cmd(test::cli() + " generate --model " + test::fixture("tiny-qwen2") +
                                 " --ids 1,2,3 --max-new-tokens 20 --json --grammar " + g);
  ASSERT_EQ(gen.status, 0) << gen.err;
  const json out = json::parse(gen.out);
  EXPECT_EQ(out["stop_reason"], "stop");
  EXPECT_GE(out["ids"].size(), 1u);
  EXPECT_LE(out["ids"].size(), 3u);
}

TEST(CliGrammar, ErrorsNameTheFileAndLine) {
  const std::string dir = test::temp_dir("cli_grammar");
  const std::string bad_gbnf = write(dir, "bad.gbnf", "root ::= item+\nitem ::= [a-z\n");
  auto r = test::run_cmd(test::cli() + kChat + "--grammar " + bad_gbnf);
  EXPECT_EQ(r.status, 4) << r.err;
  EXPECT_NE(r.err.find(bad_gbnf + ":2:"), std::string::npos) << r.err;
  const std::string undefined = write(dir, "undef.gbnf", "root ::= missing\n");
  r = test::run_cmd(test::cli() + kChat + "--grammar " + undefined);
  EXPECT_EQ(r.status, 4) << r.err;
  EXPECT_NE(r.err.find(undefined + ":1:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("missing"), std::string::npos) << r.err;
  const std::string pattern = write(dir, "p.json", R"({"type": "string", "pattern": "^a"})");
  r = test::run_cmd(test::cli() + kChat + "--json-schema " + pattern);
  EXPECT_EQ(r.status, 4) << r.err;
  EXPECT_NE(r.err.find(pattern + ": "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("pattern"), std::string::npos) << r.err;
  const std::string not_json = write(dir, "n.json", "{type: object");
  r = test::run_cmd(test::cli() + kChat + "--json-schema " + not_json);
  EXPECT_EQ(r.status, 4) << r.err;
  EXPECT_NE(r.err.find(not_json), std::string::npos) << r.err;
  r = test::run_cmd(test::cli() + kChat + "--json-schema " + dir + "/absent.json");
  EXPECT_EQ(r.status, 3) << r.err;
  EXPECT_NE(r.err.find("absent.json"), std::string::npos) << r.err;
  r = test::run_cmd(test::cli() + kChat + "--json-schema " + pattern + " --grammar " + bad_gbnf);
  EXPECT_EQ(r.status, 2) << r.err;  // one or the other
}

}  // namespace
}  // namespace dm
