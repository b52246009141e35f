// Runs scripts/openai-node-test.sh: the official `openai` npm client (v4, installed into <build>/npm by
// the script or scripts/install-deps.sh) drives `devops-model serve` on tiny-qwen2 (a copy with a
// 4096-position config, room for a tool prompt; + tiny-bert as the embedding model): models, chat and
// completions (streamed and not), embeddings (float, base64, the client's default), typed errors, tools,
// response_format and logprobs. Skipped where node or npm is missing or the registry cannot be reached.
#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"

namespace dm {
namespace {

TEST(ServeOpenAINode, OfficialClientEndToEnd) {
  // <build>/npm, beside <build>/src/devops-model.
  const std::filesystem::path build = std::filesystem::path(test::cli()).parent_path().parent_path();
  const auto r = test::run_cmd(std::string(DM_SOURCE_DIR) + "/scripts/openai-node-test.sh " + test::cli() + " " +
                               test::long_context_copy("tiny-qwen2") + " " + test::fixture("tiny-bert") + " " +
                               (build / "npm").string() + " 2>&1");
  if (r.status == 77) GTEST_SKIP() << r.out;
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  std::printf("%s", r.out.c_str());  // which cases passed and which skipped, in the test's log
}

}  // namespace
}  // namespace dm
