#include "devops_model/eval/preset.h"

#include "devops_model/core/error.h"

namespace dm {

const std::vector<PresetSubject>& preset_subjects(const std::string& name) {
  static const std::vector<PresetSubject> k574 = {
      {DatasetLayout::kCmmlu, "computer_science", 204},     {DatasetLayout::kCmmlu, "computer_security", 171},
      {DatasetLayout::kCmmlu, "machine_learning", 122},     {DatasetLayout::kCeval, "college_programming", 37},
      {DatasetLayout::kCeval, "computer_architecture", 21}, {DatasetLayout::kCeval, "computer_network", 19},
  };
  if (name == "devops-574") return k574;
  fail(ErrorKind::kInvalidArgument, "unknown preset '", name, "' (known: devops-574)");
}

std::vector<McqDataset> apply_preset(const std::string& name, std::vector<McqDataset> data) {
  const auto& want = preset_subjects(name);
  std::vector<McqDataset> out;
  for (const auto& w : want) {
    const McqSubject* found = nullptr;
    const McqDataset* from = nullptr;
    for (const auto& ds : data) {
      if (ds.layout != w.layout) continue;
      for (const auto& s : ds.subjects) {
        if (s.name != w.subject) continue;
        if (found) {
          fail(ErrorKind::kInvalidArgument, "preset ", name, ": ", layout_name(w.layout), " subject ", w.subject,
               " found twice (", from->dir, " and ", ds.dir, ")");
        }
        found = &s;
        from = &ds;
      }
    }
    if (!found) {
      fail(ErrorKind::kInvalidArgument, "preset ", name, ": no ", layout_name(w.layout), "-layout --data folder has ",
           w.subject);
    }
    if (static_cast<int>(found->questions.size()) != w.count) {
      fail(ErrorKind::kInvalidArgument, "preset ", name, ": ", from->dir, " ", w.subject, " (", found->split, ") has ",
           found->questions.size(), " questions, expected ", w.count);
    }
    if (out.empty() || out.back().dir != from->dir) {
      McqDataset d = *from;
      d.subjects.clear();
      out.push_back(std::move(d));
    }
    out.back().subjects.push_back(*found);
  }
  return out;
}

}  // namespace dm
