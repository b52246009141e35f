#include "test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

namespace dm::test {

CmdResult run_cmd(const std::string& cmd) {
  CmdResult r;
  std::string err_file = temp_dir("cmd") + "/stderr";
  std::string full = cmd + " 2>" + err_file;
  FILE* p = ::popen(full.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  std::ifstream in(err_file);
  std::stringstream ss;
  ss << in.rdbuf();
  r.err = ss.str();
  std::filesystem::remove_all(std::filesystem::path(err_file).parent_path());
  return r;
}

namespace {
// Every temp dir a test process made, removed when it exits (also after a failed assertion).
struct TempDirs {
  std::mutex mu;
  std::vector<std::string> dirs;
  ~TempDirs() {
    std::error_code ec;
    for (const std::string& d : dirs) std::filesystem::remove_all(d, ec);
  }
};
TempDirs& temp_dirs() {
  static TempDirs t;
  return t;
}
}  // namespace

std::string temp_dir(const std::string& tag) {
  std::string tmpl = (std::filesystem::temp_directory_path() / ("dm_test_" + tag + "_XXXXXX")).string();
  char* d = ::mkdtemp(tmpl.data());
  if (!d) return std::string();
  TempDirs& t = temp_dirs();
  std::lock_guard<std::mutex> lk(t.mu);
  t.dirs.emplace_back(d);
  return t.dirs.back();
}

std::string long_context_copy(const std::string& name, int positions) {
  namespace fs = std::filesystem;
  const std::string src = fixture(name);
  const std::string dst = temp_dir("ctx-" + name);
  for (const auto& e : fs::directory_iterator(src)) {
    if (e.path().filename() == "config.json") continue;
    fs::create_symlink(e.path(), fs::path(dst) / e.path().filename());
  }
  nlohmann::json config = nlohmann::json::parse(std::ifstream(src + "/config.json"));
  config["max_position_embeddings"] = positions;
  std::ofstream(dst + "/config.json") << config.dump(2);
  return dst;
}

}  // namespace dm::test
