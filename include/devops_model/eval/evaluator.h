// Multiple-choice evaluation by option logits: the answer is the argmax, over the token ids of "A",
// "B", "C", "D", of the next-token logits at the last prompt position (first wins ties) — the seed's
// method. The k-shot prefix of a subject is run once and its KV cache reused for every question.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "devops_model/eval/dataset.h"
#include "devops_model/eval/prompt.h"
#include "devops_model/eval/scoring_lm.h"

namespace dm {

class McqJournal;

struct McqQuestionResult {
  std::string dataset, subject;
  int index = 0;  // row order in the file
  int shots = 0;
  char pred = 0, gold = 0;
  std::array<float, 4> logits{};
  // What was scored: a hash of the prompt's token ids and the gold letter. A journal entry whose hash
  // differs from the question's now (its text, options, shots or answer changed) is scored again.
  uint64_t prompt_hash = 0;
};

struct McqSubjectResult {
  std::string dataset, subject, split;
  int shots = 0;
  int correct = 0, total = 0;
  double accuracy() const { return total ? static_cast<double>(correct) / total : 0.0; }
};

struct McqOverall {
  int shots = 0;
  int correct = 0, total = 0;
  double micro = 0;  // correct / total over all questions (the seed's number)
  double macro = 0;  // mean of the per-subject accuracies
  double seconds = 0;
};

struct McqReport {
  std::vector<McqQuestionResult> questions;
  std::vector<McqSubjectResult> subjects;
  std::vector<McqOverall> overall;  // one per shot count, in the order asked
  int64_t prefix_reused = 0;        // questions run after a cached prefix
  int64_t full_forward = 0;         // questions run from scratch (fallbacks or reuse off)
  int64_t resumed = 0;              // questions taken from the journal, not scored again
  int64_t stale = 0;                // journal entries whose question changed since: scored again
};

struct McqEvalOptions {
  PromptStyle style;
  std::vector<int> shots = {0};
  int limit = 0;                  // > 0: only the first N questions of each subject
  bool prefix_reuse = true;       // false: every question is a fresh full forward (the naive path)
  bool progress = true;           // progress bar on stderr
  McqJournal* journal = nullptr;  // resume from it and record every newly scored question into it
};

// Token ids of "A".."D": Error(kUnsupported) when a letter does not encode to exactly one token.
std::array<int32_t, 4> option_token_ids(const ScoringLm& lm);

// First index of the largest of four values.
int argmax4(const std::array<float, 4>& v);

// Evaluates every subject of every dataset for each shot count. Error(kInvalidArgument) when a subject
// has fewer dev rows than the shots asked.
McqReport evaluate_mcq(ScoringLm& lm, const std::vector<McqDataset>& data, const McqEvalOptions& opts);

// Fills subjects' accuracy summary (micro and macro) for each shot count from report.subjects.
void summarize_mcq(McqReport& report, const std::vector<int>& shots);

}  // namespace dm
