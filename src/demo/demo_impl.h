// Private parts of the demo (src/demo): the run context and one function per stage.
#pragma once
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "devops_model/demo/demo.h"

namespace dm::demo {

struct Ctx {
  DemoOptions opt;
  DemoSizes sz;
  std::string work;  // work directory
  std::function<void(std::string_view)> out;

  template <typename... A>
  void say(const char* fmt, A... a) const {
    char buf[4096];
    std::snprintf(buf, sizeof buf, fmt, a...);
    out(buf);
  }
  // A finished stage's marker (its result, e.g. a checkpoint path), "" when the stage has not finished.
  std::string marker(const std::string& stage) const;
  void set_marker(const std::string& stage, const std::string& value) const;
};

// 1. data clean + data dedup of data_dir/raw; returns the folder of cleaned documents.
std::string stage_clean(const Ctx& c);
// 2a. byte-level BPE on the cleaned documents; returns the tokenizer folder.
std::string stage_tokenizer(const Ctx& c, const std::string& docs_dir);
// 2b. from-scratch pretraining; returns the final checkpoint.
std::string stage_pretrain(const Ctx& c, const std::string& docs_dir, const std::string& tok_dir);
// 2c. SFT of `base` on data_dir/sft; returns the final checkpoint.
std::string stage_sft(const Ctx& c, const std::string& base);
// 3. MCQ accuracy of each (name, checkpoint), 0- and 5-shot; prints the seed-shaped table.
void stage_eval(const Ctx& c, const std::vector<std::pair<std::string, std::string>>& models);
// 4. The seed's three-turn chat with `model`; prints the transcript.
void stage_chat(const Ctx& c, const std::string& model);

// Cleaned documents (every *.jsonl / *.jsonl.zst of dir, sorted by name), at most max_docs (0 = all).
std::vector<std::string> read_docs(const std::string& dir, size_t max_docs);

}  // namespace dm::demo
