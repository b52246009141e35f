#include "devops_model/eval/preset.h"

#include <gtest/gtest.h>

#include "devops_model/core/error.h"

namespace dm {
namespace {

McqDataset fake(DatasetLayout layout, const std::string& dir, std::vector<std::pair<std::string, int>> subjects) {
  McqDataset d;
  d.layout = layout;
  d.dir = d.name = dir;
  for (auto& [name, n] : subjects) {
    McqSubject s;
    s.name = name;
    s.questions.resize(n);
    d.subjects.push_back(s);
  }
  return d;
}

std::vector<McqDataset> seed_like(int cs_count) {
  return {fake(DatasetLayout::kCeval, "ceval",
               {{"college_programming", 37}, {"computer_architecture", 21}, {"computer_network", 19}, {"law", 5}}),
          fake(DatasetLayout::kCmmlu, "cmmlu",
               {{"computer_science", cs_count}, {"computer_security", 171}, {"machine_learning", 122}, {"arts", 3}})};
}

TEST(Preset, Devops574SelectsSixSubjectsInSeedOrder) {
  auto out = apply_preset("devops-574", seed_like(204));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].name, "cmmlu");
  ASSERT_EQ(out[0].subjects.size(), 3u);
  EXPECT_EQ(out[0].subjects[2].name, "machine_learning");
  EXPECT_EQ(out[1].name, "ceval");
  ASSERT_EQ(out[1].subjects.size(), 3u);
  size_t total = 0;
  for (const auto& d : out) {
    for (const auto& s : d.subjects) total += s.questions.size();
  }
  EXPECT_EQ(total, 574u);
}

TEST(Preset, RefusesWrongCountsOrMissingSubjects) {
  try {
    apply_preset("devops-574", seed_like(203));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("computer_science"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("expected 204"), std::string::npos);
  }
  auto only_cmmlu = seed_like(204);
  only_cmmlu.erase(only_cmmlu.begin());
  EXPECT_THROW(apply_preset("devops-574", only_cmmlu), Error);
  EXPECT_THROW(apply_preset("nope", seed_like(204)), Error);
}

}  // namespace
}  // namespace dm
