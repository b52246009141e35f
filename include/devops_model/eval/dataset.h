// Multiple-choice question sets on disk: CMMLU, C-Eval and DevOps-Eval folders, recognised by layout.
//   CMMLU:       dev/<subject>.csv, test/<subject>.csv, header ",Question,A,B,C,D,Answer"; scored split: test.
//   C-Eval:      dev/<subject>_dev.csv, val/<subject>_val.csv (test/ has no answers); scored split: val.
//   DevOps-Eval: dev/<subject>.csv, test/<subject>.csv, header "id,question,A,B,C,D,answer,explanation".
#pragma once
#include <array>
#include <string>
#include <vector>

namespace dm {

enum class DatasetLayout { kCmmlu, kCeval, kDevopsEval };
const char* layout_name(DatasetLayout l);  // "cmmlu", "ceval", "devops-eval"

struct McqQuestion {
  int index = 0;  // row order in its file (0-based)
  int line = 0;   // 1-based line where the row starts (for messages)
  std::string question;
  std::array<std::string, 4> options;  // A, B, C, D, byte-exact
  char answer = 0;                     // 'A'..'D' (0 when the file has no answer column)
};

struct McqSubject {
  std::string name;     // file stem without the split suffix, e.g. "computer_science"
  std::string zh_name;  // Chinese name for prompts (subject_zh_name)
  std::string split;    // scored split: "test" or "val"
  std::vector<McqQuestion> dev;
  std::vector<McqQuestion> questions;  // the scored split
};

struct McqDataset {
  std::string name;  // folder basename
  std::string dir;
  DatasetLayout layout = DatasetLayout::kCmmlu;
  std::vector<McqSubject> subjects;  // sorted by name
};

// Reads one question CSV. Columns found by header name (question/Question, A-D, answer/Answer);
// require_answer: Error(kFormat) "path:line: ..." when the answer is not one of A-D (after trimming
// spaces and upper-casing, as the seed's harness did).
std::vector<McqQuestion> read_mcq_csv(const std::string& path, bool require_answer = true);

// Recognises the layout of `dir` and loads its subjects (only those in `only`, when non-empty; a name
// in `only` that the folder lacks is not an error here). Error(kFormat/kIo) naming the folder when it
// fits no layout.
McqDataset load_mcq_dataset(const std::string& dir, const std::vector<std::string>& only = {});

// Chinese subject name: CMMLU's name_en2zh and C-Eval's subject_mapping tables (the first one that
// knows the name, CMMLU first for the cmmlu layout, C-Eval first otherwise); fallback: the English
// name with '_' replaced by ' '.
std::string subject_zh_name(const std::string& subject, DatasetLayout layout);

}  // namespace dm
