#include "devops_model/eval/dataset.h"

#include <gtest/gtest.h>

#include "devops_model/core/error.h"

namespace dm {
namespace {

const std::string kData = std::string(DM_SOURCE_DIR) + "/tests/eval/data/";

TEST(Dataset, CmmluLayoutByteExact) {
  McqDataset ds = load_mcq_dataset(kData + "cmmlu");
  EXPECT_EQ(ds.layout, DatasetLayout::kCmmlu);
  EXPECT_EQ(ds.name, "cmmlu");
  ASSERT_EQ(ds.subjects.size(), 2u);
  const McqSubject& cs = ds.subjects[0];
  EXPECT_EQ(cs.name, "computer_science");
  EXPECT_EQ(cs.zh_name, "计算机科学");
  EXPECT_EQ(cs.split, "test");
  ASSERT_EQ(cs.dev.size(), 3u);
  // Kangxi radicals U+2F64 U+2F00 kept (no NFKC), trailing space of "ARP " kept.
  EXPECT_EQ(cs.dev[0].question, "\xE2\xBD\xA4\xE2\xBC\x80个字节最多能编出（ ）不同的码");
  EXPECT_EQ(cs.dev[1].question, "TCP和UDP,哪个面向连接？");
  EXPECT_EQ(cs.dev[2].options[0], "ARP ");
  ASSERT_EQ(cs.questions.size(), 3u);
  EXPECT_EQ(cs.questions[1].question, "他说\"你好\"是什么意思");
  EXPECT_EQ(cs.questions[2].options[0], "Linux ");
  EXPECT_EQ(cs.questions[2].options[3], "PowerPoint, Keynote");
  EXPECT_EQ(cs.questions[2].answer, 'A');  // "a" upper-cased as the seed's harness does
  EXPECT_EQ(cs.questions[2].index, 2);
  EXPECT_EQ(cs.questions[2].line, 4);
  EXPECT_EQ(ds.subjects[1].questions[1].answer, 'C');  // " C " stripped
  EXPECT_EQ(ds.subjects[1].zh_name, "机器学习");
}

TEST(Dataset, CevalLayoutCrlfEmbeddedNewlinesBom) {
  McqDataset ds = load_mcq_dataset(kData + "ceval/");
  EXPECT_EQ(ds.layout, DatasetLayout::kCeval);
  EXPECT_EQ(ds.name, "ceval");
  ASSERT_EQ(ds.subjects.size(), 1u);
  const McqSubject& s = ds.subjects[0];
  EXPECT_EQ(s.name, "computer_network");
  EXPECT_EQ(s.zh_name, "计算机网络");
  EXPECT_EQ(s.split, "val");
  ASSERT_EQ(s.questions.size(), 3u);
  EXPECT_EQ(s.questions[0].question, "下列代码输出什么？\nprint(1)\n");
  EXPECT_EQ(s.questions[0].options[2], "a\nb");
  EXPECT_EQ(s.questions[1].line, 6);  // the first row spans lines 2-5
  EXPECT_EQ(s.questions[2].question, "OSI模型共有几层,请选择");
  EXPECT_EQ(s.questions[2].answer, 'C');
  ASSERT_EQ(s.dev.size(), 2u);
  EXPECT_EQ(s.dev[1].answer, 'B');
}

TEST(Dataset, DevopsEvalLayout) {
  McqDataset ds = load_mcq_dataset(kData + "devops");
  EXPECT_EQ(ds.layout, DatasetLayout::kDevopsEval);
  ASSERT_EQ(ds.subjects.size(), 1u);
  EXPECT_EQ(ds.subjects[0].name, "UnitTesting");
  EXPECT_EQ(ds.subjects[0].zh_name, "UnitTesting");
  EXPECT_EQ(ds.subjects[0].questions.size(), 2u);
  EXPECT_EQ(ds.subjects[0].dev.size(), 1u);
}

TEST(Dataset, SubjectFilter) {
  McqDataset ds = load_mcq_dataset(kData + "cmmlu", {"machine_learning", "nope"});
  ASSERT_EQ(ds.subjects.size(), 1u);
  EXPECT_EQ(ds.subjects[0].name, "machine_learning");
}

TEST(Dataset, ErrorsNameFileAndLine) {
  auto msg = [](const std::string& f) -> std::string {
    try {
      read_mcq_csv(kData + "bad/" + f);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(msg("bad_quote.csv"), kData + "bad/bad_quote.csv:3: unexpected text after a closing quote");
  EXPECT_EQ(msg("short_row.csv"), kData + "bad/short_row.csv:4: expected 7 fields (as in the header), got 5");
  EXPECT_EQ(msg("bad_answer.csv"), kData + "bad/bad_answer.csv:2: answer 'E' is not one of A, B, C, D");
  EXPECT_EQ(msg("unterminated.csv"), kData + "bad/unterminated.csv:3: unterminated quoted field");
  EXPECT_THROW(load_mcq_dataset(kData + "bad"), Error);
  EXPECT_THROW(load_mcq_dataset(kData + "missing"), Error);
}

TEST(Dataset, ChineseNamesAndFallback) {
  EXPECT_EQ(subject_zh_name("computer_security", DatasetLayout::kCmmlu), "计算机安全");
  EXPECT_EQ(subject_zh_name("college_programming", DatasetLayout::kCeval), "大学编程");
  EXPECT_EQ(subject_zh_name("computer_architecture", DatasetLayout::kCeval), "计算机组成");
  // Names in both tables follow the layout: C-Eval's high_school_physics is 高中物理, CMMLU's 高中物理学.
  EXPECT_EQ(subject_zh_name("high_school_physics", DatasetLayout::kCeval), "高中物理");
  EXPECT_EQ(subject_zh_name("high_school_physics", DatasetLayout::kCmmlu), "高中物理学");
  EXPECT_EQ(subject_zh_name("my_own_set", DatasetLayout::kDevopsEval), "my own set");
}

}  // namespace
}  // namespace dm
