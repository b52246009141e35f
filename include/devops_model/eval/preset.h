// Named question selections. devops-574: the seed's DevOps evaluation — CMMLU test computer_science
// (204), computer_security (171), machine_learning (122) and C-Eval val college_programming (37),
// computer_architecture (21), computer_network (19).
#pragma once
#include <string>
#include <vector>

#include "devops_model/eval/dataset.h"

namespace dm {

struct PresetSubject {
  DatasetLayout layout;
  std::string subject;
  int count;
};

// Error(kInvalidArgument) for an unknown preset name.
const std::vector<PresetSubject>& preset_subjects(const std::string& name);

// Keeps only the preset's subjects (in the preset's order) and checks that each is present exactly
// once with its expected question count: Error(kInvalidArgument) naming what is missing or differs.
std::vector<McqDataset> apply_preset(const std::string& name, std::vector<McqDataset> data);

}  // namespace dm
