// Evaluation reports: a Markdown table shaped like the seed's README (model x {0-shot, 5-shot}, micro
// accuracy in percent, two decimals) plus a per-subject table, JSON with every question, and an SVG
// bar chart of per-subject accuracy.
#pragma once
#include <string>

#include "devops_model/eval/evaluator.h"

namespace dm {

struct McqRunInfo {
  std::string model;       // model name shown in tables (e.g. the checkpoint folder name)
  std::string convention;  // prompt convention name
  bool chat = false;
  std::string system;
};

std::string mcq_markdown(const McqReport& r, const McqRunInfo& info);
// {"model", "convention", "chat", "system", "questions": [{"dataset","subject","index","shots","pred",
//  "gold","logits":[a,b,c,d]}], "subjects": [{"dataset","subject","split","shots","correct","total",
//  "accuracy"}], "overall": [{"shots","correct","total","micro","macro","seconds","questions_per_s"}]}
std::string mcq_json(const McqReport& r, const McqRunInfo& info);
std::string mcq_svg(const McqReport& r, const McqRunInfo& info);

}  // namespace dm
