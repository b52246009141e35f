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
