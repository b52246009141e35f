// Runs scripts/browser-test.sh: headless Chromium loads the web page served by `devops-model serve`,
// types a question and waits for the streamed answer; the screenshot is left in the build dir
// (build/artifacts/serve-chat-page.png). Skipped where chromium or node is missing.
#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"

namespace dm {
namespace {

TEST(ServeBrowser, PageStreamsAnAnswer) {
  // <build>/artifacts/serve-chat-page.png, beside <build>/src/devops-model.
  const std::filesystem::path build = std::filesystem::path(test::cli()).parent_path().parent_path();
  const std::string shot = (build / "artifacts" / "serve-chat-page.png").string();
  const auto r = test::run_cmd(std::string(DM_SOURCE_DIR) + "/scripts/browser-test.sh " + test::cli() + " " +
                               test::fixture("tiny-qwen2") + " " + shot + " 2>&1");
  if (r.status == 77) GTEST_SKIP() << r.out;
  EXPECT_EQ(r.status, 0) << r.out << r.err;
}

}  // namespace
}  // namespace dm
