// Resumable evaluation: each scored question is appended to a JSONL journal as soon as it is known, so an
// interrupted run (Ctrl-C, a crash, a lost machine) continues where it stopped when run again with the
// same settings; questions found in the journal are not scored again.
// File: line 1 {"devops_model_eval_journal": 1, "settings": {...}}, then one question result a line, each
// with the prompt_hash of what was scored (the evaluator scores a question again when it no longer matches).
#pragma once
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>

#include "devops_model/eval/evaluator.h"

namespace dm {

class McqJournal {
 public:
  // Opens `path`, creating it when absent (or when `fresh`). An existing journal must carry the same
  // `settings` (whatever determines the numbers: model, dtype, data, prompt); Error(kInvalidArgument)
  // naming the file otherwise. A torn last line (a write cut short) is dropped; any other bad line is
  // Error(kFormat) with file:line.
  McqJournal(std::string path, const nlohmann::json& settings, bool fresh = false);
  ~McqJournal();
  McqJournal(const McqJournal&) = delete;
  McqJournal& operator=(const McqJournal&) = delete;

  const std::string& path() const { return path_; }
  size_t resumed() const { return done_.size(); }  // results read at open
  // The stored result of this question, or nullptr.
  const McqQuestionResult* find(const std::string& dataset, const std::string& subject, int shots, int index) const;
  // Appends one result and flushes it to the OS.
  void append(const McqQuestionResult& r);
  // Deletes the journal (the run finished and its report is written).
  void remove();

 private:
  using Key = std::tuple<std::string, std::string, int, int>;  // dataset, subject, shots, index
  std::string path_;
  std::FILE* f_ = nullptr;
  std::map<Key, McqQuestionResult> done_;
};

}  // namespace dm
