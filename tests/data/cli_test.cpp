// The `data` CLI end to end: clean with the default recipe, sample -> train-scorer -> score, and the
// exit code for a missing input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "devops_model/core/mapped_file.h"

namespace fs = std::filesystem;

namespace {
int run(const std::string& args) {
  int rc = std::system((std::string(DM_CLI_PATH) + " " + args + " > /dev/null 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}
std::string corpus(const char* name) { return std::string(DM_SOURCE_DIR) + "/tests/data/corpus/" + name; }
}  // namespace

TEST(DataCli, CleanSampleTrainScore) {
  fs::path d = fs::temp_directory_path() / ("dm_data_cli_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  ASSERT_EQ(run("data clean --input " + corpus("sample.jsonl") + " --output " + (d / "out").string() + " --threads 2"),
            0);
  auto report = nlohmann::json::parse(dm::read_file((d / "out" / "report.json").string()));
  EXPECT_EQ(report["stages"][0]["docs"], 13);
  EXPECT_LT(report["stages"][4]["docs"].get<int>(), 13);
  ASSERT_EQ(run("data sample --input " + corpus("sample.jsonl") + " --n 10 --output " + (d / "s.jsonl").string()), 0);
  std::ifstream in(d / "s.jsonl");
  std::ofstream lab(d / "l.jsonl");
  std::string line;
  int rows = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["label"], "");
    j["label"] = 1;
    lab << j.dump() << "\n";
    ++rows;
  }
  EXPECT_EQ(rows, 10);
  for (int i = 0; i < 8; ++i)
    lab << nlohmann::json{{"text", "首页 | 登录 | 加微信日赚千元 " + std::to_string(i)}, {"label", 0}}.dump() << "\n";
  lab.close();
  ASSERT_EQ(
      run("data train-scorer --labels " + (d / "l.jsonl").string() + " --folds 3 --output " + (d / "sc.json").string()),
      0);
  ASSERT_EQ(run("data score --input " + corpus("sample.jsonl") + " --scorer " + (d / "sc.json").string() +
                " --output " + (d / "scored").string()),
            0);
  EXPECT_TRUE(fs::exists(d / "scored" / "report.json"));
  EXPECT_EQ(run("data clean --input " + (d / "missing.jsonl").string() + " --output " + (d / "x").string()), 3);
  fs::remove_all(d);
}

// Output paths that cannot be created are I/O errors (exit 3), not a generic 1; an empty .zst is a
// warning in the report; an over-long line is counted under the --max-line-mb limit.
TEST(DataCli, OutputErrorsEmptyZstAndLineLimit) {
  fs::path d = fs::temp_directory_path() / ("dm_data_cli_io_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  std::ofstream(d / "afile") << "x";
  const std::string in = " --input " + corpus("sample.jsonl");
  EXPECT_EQ(run("data clean" + in + " --output " + (d / "afile" / "out").string()), 3);
  EXPECT_EQ(run("data dedup" + in + " --output " + (d / "afile" / "out").string()), 3);
  EXPECT_EQ(run("data clean" + in + " --output " + (d / "afile").string()), 3);

  std::ofstream(d / "empty.jsonl.zst").close();
  ASSERT_EQ(run("data clean --input " + (d / "empty.jsonl.zst").string() + " --output " + (d / "e").string()), 0);
  auto report = nlohmann::json::parse(dm::read_file((d / "e" / "report.json").string()));
  ASSERT_EQ(report["warnings"].size(), 1u);
  EXPECT_NE(report["warnings"][0].get<std::string>().find("empty.jsonl.zst: empty file"), std::string::npos);
  EXPECT_NE(dm::read_file((d / "e" / "report.md").string()).find("## Warnings"), std::string::npos);

  {
    std::ofstream f(d / "long.jsonl");
    f << "{\"text\": \"" << std::string((1 << 20) + 10, 'a') << "\"}\n";
    f << "{\"text\": \"kubectl get pods -A 查看所有命名空间的容器组。\"}\n";
  }
  ASSERT_EQ(
      run("data clean --input " + (d / "long.jsonl").string() + " --max-line-mb 1 --output " + (d / "l").string()), 0);
  report = nlohmann::json::parse(dm::read_file((d / "l" / "report.json").string()));
  EXPECT_EQ(report["bad_input"]["huge_line"], 1);
  EXPECT_EQ(report["stages"][0]["docs"], 1);
  EXPECT_EQ(run("data clean" + in + " --max-line-mb 0 --output " + (d / "z").string()), 2);
  fs::remove_all(d);
}
