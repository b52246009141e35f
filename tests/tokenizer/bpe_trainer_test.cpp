// Byte-level BPE training: a hand-checked merge sequence, the written tokenizer.json through our loader,
// round trips on Chinese DevOps text, determinism.
#include <gtest/gtest.h>

#include <filesystem>

#include "devops_model/core/mapped_file.h"
#include "devops_model/tokenizer/bpe_trainer.h"
#include "devops_model/tokenizer/tokenizer.h"
#include "devops_model/tokenizer/unicode.h"
#include "test_util.h"

namespace dm {
namespace {

using Merges = std::vector<std::pair<int32_t, int32_t>>;

// The textbook example "aaabdaaabac" (one pre-tokenised piece), worked by hand:
//  pairs aa:4 ab:2 bd:1 da:1 ba:1 ac:1                  -> merge (a,a) = 256
//  word  [aa a b d aa a b a c]: (256,a):2 (a,b):2 ...    -> tie at 2, smaller pair (97,98) first: "ab" = 257
//  word  [aa ab d aa ab a c]: (256,257):2, the rest 1    -> "aaab" = 258; then every pair is 1 < min_frequency.
TEST(BpeTrainer, HandCheckedMerges) {
  PieceCounter pc;
  pc.add_text("aaabdaaabac");
  BpeTrainOptions o;
  o.vocab_size = 300;
  o.progress = false;
  const BpeVocab v = train_bpe(pc, o);
  EXPECT_EQ(v.merges, (Merges{{'a', 'a'}, {'a', 'b'}, {256, 257}}));
  ASSERT_EQ(v.tokens.size(), 259u);
  EXPECT_EQ(v.tokens[256], "aa");
  EXPECT_EQ(v.tokens[257], "ab");
  EXPECT_EQ(v.tokens[258], "aaab");

  const std::string dir = test::temp_dir("bpe_hand");
  write_bpe_tokenizer(v, dir);
  auto tok = Tokenizer::from_dir(dir);
  EXPECT_EQ(tok->encode("aaabdaaabac"), (std::vector<int32_t>{258, 'd', 258, 'a', 'c'}));
  EXPECT_EQ(tok->token_id("<|endoftext|>"), 259);
  EXPECT_EQ(tok->token_id("<|im_start|>"), 260);
  EXPECT_EQ(tok->token_id("<|im_end|>"), 261);
  EXPECT_EQ(tok->vocab_size(), 262);
  EXPECT_EQ(tok->encode("<|im_end|>ab"), (std::vector<int32_t>{261, 257}));
  std::filesystem::remove_all(dir);
}

// The Qwen regex splits before counting: merges never cross piece boundaries ("ab ab" -> "ab", " ab").
TEST(BpeTrainer, MergesStayInsidePieces) {
  PieceCounter pc;
  pc.add_text("ab ab ab");
  EXPECT_EQ(pc.counts().at("ab"), 1);
  EXPECT_EQ(pc.counts().at(" ab"), 2);
  BpeTrainOptions o;
  o.vocab_size = 300;
  o.progress = false;
  const BpeVocab v = train_bpe(pc, o);
  // ab:3, " a":2 -> "ab"; then (" ", ab):2 -> " ab"; nothing else reaches 2.
  EXPECT_EQ(v.merges, (Merges{{'a', 'b'}, {' ', 256}}));
}

TEST(BpeTrainer, ChineseCorpusRoundTripsAndIsDeterministic) {
  // The demo's hand-written glossary (about 20 KB of Chinese DevOps definitions).
  const std::string text = read_file(std::string(DM_SOURCE_DIR) + "/demo/gen/glossary.tsv");
  auto train = [&] {
    PieceCounter pc;
    pc.add_text(text);
    BpeTrainOptions o;
    o.vocab_size = 1000;
    o.progress = false;
    return train_bpe(pc, o);
  };
  const BpeVocab v = train();
  EXPECT_GT(v.merges.size(), 100u);
  EXPECT_EQ(bpe_tokenizer_json(v), bpe_tokenizer_json(train()));
  const std::string dir = test::temp_dir("bpe_zh");
  write_bpe_tokenizer(v, dir);
  auto tok = Tokenizer::from_dir(dir);
  for (const std::string& s :
       {text, std::string("Pod 是 Kubernetes 中最小的调度单元。"), std::string("未见过的字：龘𠀀 emoji 🚀\n\tend"),
        std::string("Cafe\xCC\x81 x=1; y = [2, 3]")}) {
    const auto ids = tok->encode(s, false);
    EXPECT_EQ(tok->decode(ids), nfc_normalize(s));
    for (int32_t id : ids) EXPECT_LT(id, static_cast<int32_t>(v.tokens.size()));
  }
  // Merges learn the corpus: its own text needs far fewer tokens than bytes.
  EXPECT_LT(tok->encode(text).size() * 2, text.size());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dm
