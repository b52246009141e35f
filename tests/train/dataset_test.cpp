// Data preparation: SFT ChatML masking (two-turn conversation), pretraining packing, record layouts,
// bad records with file:line.
#include <gtest/gtest.h>

#include <fstream>

#include "devops_model/core/error.h"
#include "devops_model/train/dataset.h"
#include "test_util.h"

namespace dm {
namespace {

constexpr int32_t kImStart = 1000, kImEnd = 1001, kEot = 1002;

// A byte-level stand-in tokenizer: one id per byte, the three specials recognised when allowed.
std::vector<int32_t> fake_encode(const std::string& s, bool allow_special) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < s.size();) {
    if (allow_special && s.compare(i, 12, "<|im_start|>") == 0) ids.push_back(kImStart), i += 12;
    else if (allow_special && s.compare(i, 10, "<|im_end|>") == 0) ids.push_back(kImEnd), i += 10;
    else if (allow_special && s.compare(i, 15, "<|endoftext|>") == 0) ids.push_back(kEot), i += 13;
    else ids.push_back(static_cast<unsigned char>(s[i++]));
  }
  return ids;
}

std::string decode(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += id == kImStart ? "<|im_start|>" : id == kImEnd ? "<|im_end|>" : std::string(1, char(id));
  return s;
}

TEST(SftMasking, TwoTurnConversationLabelsOnlyRepliesAndTheirImEnd) {
  DataOptions o;
  o.stage = "sft", o.im_end_id = kImEnd, o.cutoff_len = 4096;
  std::vector<Turn> turns = {{"user", "hi"}, {"assistant", "A1"}, {"user", "why"}, {"assistant", "B22"}};
  Example e = chatml_example(turns, fake_encode, o);
  // The exact text of the seed's chatml template (DevOps fork): "\n" after a reply opens the next source.
  EXPECT_EQ(
      decode(e.ids),
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
      "<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nwhy<|im_end|>\n<|im_start|>assistant\nB22<|im_end|>");
  std::string trained;
  std::vector<int32_t> kept;
  for (size_t i = 0; i < e.ids.size(); ++i)
    if (e.labels[i] != -100) {
      EXPECT_EQ(e.labels[i], e.ids[i]);
      kept.push_back(e.ids[i]);
    }
  EXPECT_EQ(decode(kept), "A1<|im_end|>B22<|im_end|>");
  // Exactly 2 + 1 + 3 + 1 labelled tokens.
  EXPECT_EQ(kept.size(), 7u);
}

TEST(SftMasking, RecordLayoutsGiveTheSameTurns) {
  auto a = record_turns((R"({"instruction":"q","input":"x","output":"r","history":[["h","g"]]})"));
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a[2].content, "q\nx");
  auto s = record_turns((R"({"conversations":[{"from":"human","value":"q"},{"from":"gpt","value":"r"}]})"));
  auto m = record_turns((
      R"({"messages":[{"role":"system","content":"S"},{"role":"user","content":"q"},{"role":"assistant","content":"r"}]})"));
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].role, "assistant");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].role, "system");
  EXPECT_THROW(record_turns((R"({"messages":[{"role":"wizard","content":"q"}]})")), Error);
}

TEST(PretrainPacking, DocsPlusEndTokenCutIntoBlocksRemainderDropped) {
  std::vector<std::vector<int32_t>> docs = {{1, 2, 3}, {}, {4, 5}, {6, 7, 8, 9}};
  auto ex = pack_pretrain(docs, kEot, 4, false);
  // stream: 1 2 3 E 4 5 E 6 7 8 9 E  -> [1 2 3 E] [4 5 E 6] [7 8 9 E]
  ASSERT_EQ(ex.size(), 3u);
  EXPECT_EQ(ex[1].ids, (std::vector<int32_t>{4, 5, kEot, 6}));
  auto ex5 = pack_pretrain(docs, kEot, 5, true);  // 12 tokens -> 2 blocks, 2 dropped
  ASSERT_EQ(ex5.size(), 2u);
  EXPECT_EQ(ex5[0].labels[3], -100);  // the seed's collator masks the separator
}

TEST(LoadExamples, BadRecordsReportedWithFileAndLineAndSkipped) {
  const std::string dir = test::temp_dir("train_data");
  const std::string f = dir + "/sft.jsonl";
  std::ofstream(f) << R"({"instruction":"q","output":"r"})"
                      "\n"
                   << "{not json\n"
                   << R"({"instruction":"q"})"
                      "\n"
                   << R"({"input_ids":[5,6,7],"labels":[-100,6,7]})"
                      "\n";
  DataOptions o;
  o.stage = "sft", o.im_end_id = kImEnd;
  std::vector<BadRecord> bad;
  auto ex = load_examples({f}, o, fake_encode, bad);
  EXPECT_EQ(ex.size(), 2u);
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(bad[0].where, f + ":2");
  EXPECT_EQ(bad[1].where, f + ":3");
  EXPECT_NE(bad[1].why.find("output"), std::string::npos);
  o.fail_on_bad_record = true;
  bad.clear();
  EXPECT_THROW(load_examples({f}, o, fake_encode, bad), Error);
}

}  // namespace
}  // namespace dm
