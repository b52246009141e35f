#include "devops_model/eval/dataset.h"

#include <algorithm>
#include <filesystem>

#include "devops_model/core/error.h"
#include "devops_model/eval/csv.h"

namespace dm {

namespace fs = std::filesystem;

const char* layout_name(DatasetLayout l) {
  switch (l) {
    case DatasetLayout::kCmmlu: return "cmmlu";
    case DatasetLayout::kCeval: return "ceval";
    case DatasetLayout::kDevopsEval: return "devops-eval";
  }
  return "?";
}

namespace {

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

int find_column(const std::vector<std::string>& header, const std::string& name) {
  for (size_t i = 0; i < header.size(); ++i) {
    if (lower(header[i]) == name) return static_cast<int>(i);
  }
  return -1;
}

// The seed's harness: answer.strip().upper().
char parse_answer(const std::string& raw) {
  size_t b = raw.find_first_not_of(" \t\r\n");
  size_t e = raw.find_last_not_of(" \t\r\n");
  if (b == std::string::npos || e != b) return 0;
  char c = raw[b];
  if (c >= 'a' && c <= 'd') c = static_cast<char>(c - 'a' + 'A');
  return (c >= 'A' && c <= 'D') ? c : 0;
}

// Stems of the *.csv files in `dir` ending with `suffix` (".csv" or "_dev.csv"), sorted.
std::vector<std::string> csv_stems(const fs::path& dir, const std::string& suffix) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string f = e.path().filename().string();
    if (!e.is_regular_file() || f.size() <= suffix.size()) continue;
    if (f.compare(f.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    out.push_back(f.substr(0, f.size() - suffix.size()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool wanted(const std::vector<std::string>& only, const std::string& name) {
  return only.empty() || std::find(only.begin(), only.end(), name) != only.end();
}

}  // namespace

std::vector<McqQuestion> read_mcq_csv(const std::string& path, bool require_answer) {
  CsvTable t = read_csv(path);
  int qcol = find_column(t.header, "question");
  int acol = find_column(t.header, "answer");
  int opt[4];
  for (int k = 0; k < 4; ++k) opt[k] = find_column(t.header, std::string(1, static_cast<char>('a' + k)));
  if (qcol < 0 || opt[0] < 0 || opt[1] < 0 || opt[2] < 0 || opt[3] < 0) {
    fail(ErrorKind::kFormat, path, ":1: header needs the columns question, A, B, C, D");
  }
  if (require_answer && acol < 0) fail(ErrorKind::kFormat, path, ":1: header has no answer column");
  std::vector<McqQuestion> out;
  out.reserve(t.rows.size());
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto& r = t.rows[i];
    McqQuestion q;
    q.index = static_cast<int>(i);
    q.line = t.row_lines[i];
    q.question = r[qcol];
    for (int k = 0; k < 4; ++k) q.options[k] = r[opt[k]];
    if (acol >= 0) {
      q.answer = parse_answer(r[acol]);
      if (q.answer == 0 && require_answer) {
        fail(ErrorKind::kFormat, path, ":", q.line, ": answer '", r[acol], "' is not one of A, B, C, D");
      }
    }
    out.push_back(std::move(q));
  }
  return out;
}

McqDataset load_mcq_dataset(const std::string& dir, const std::vector<std::string>& only) {
  McqDataset ds;
  ds.dir = dir;
  fs::path root(dir);
  ds.name = root.filename().string();
  if (ds.name.empty()) ds.name = root.parent_path().filename().string();
  std::error_code ec;
  if (!fs::is_directory(root, ec)) fail(ErrorKind::kIo, dir, ": not a directory");

  auto ceval_dev = csv_stems(root / "dev", "_dev.csv");
  if (!ceval_dev.empty() && fs::is_directory(root / "val", ec)) {
    ds.layout = DatasetLayout::kCeval;
    for (const auto& s : csv_stems(root / "val", "_val.csv")) {
      if (!wanted(only, s)) continue;
      McqSubject sub;
      sub.name = s;
      sub.split = "val";
      sub.zh_name = subject_zh_name(s, ds.layout);
      sub.questions = read_mcq_csv((root / "val" / (s + "_val.csv")).string());
      fs::path dev = root / "dev" / (s + "_dev.csv");
      if (fs::exists(dev, ec)) sub.dev = read_mcq_csv(dev.string());
      ds.subjects.push_back(std::move(sub));
    }
    return ds;
  }

  auto tests = csv_stems(root / "test", ".csv");
  if (tests.empty() || !fs::is_directory(root / "dev", ec)) {
    fail(ErrorKind::kFormat, dir,
         ": not a question folder (expected dev/ + test/ with <subject>.csv, as CMMLU and DevOps-Eval, or "
         "dev/<subject>_dev.csv + val/<subject>_val.csv, as C-Eval)");
  }
  // CMMLU's first header cell is empty (a pandas index); DevOps-Eval's is "id".
  CsvTable head = read_csv((root / "test" / (tests[0] + ".csv")).string());
  ds.layout =
      (!head.header.empty() && lower(head.header[0]) == "id") ? DatasetLayout::kDevopsEval : DatasetLayout::kCmmlu;
  for (const auto& s : tests) {
    if (!wanted(only, s)) continue;
    McqSubject sub;
    sub.name = s;
    sub.split = "test";
    sub.zh_name = subject_zh_name(s, ds.layout);
    sub.questions = read_mcq_csv((root / "test" / (s + ".csv")).string());
    fs::path dev = root / "dev" / (s + ".csv");
    if (fs::exists(dev, ec)) sub.dev = read_mcq_csv(dev.string());
    ds.subjects.push_back(std::move(sub));
  }
  return ds;
}

}  // namespace dm
