// BERT WordPiece: golden ids of tiny-bert (HF BertTokenizer) and crafted BasicTokenizer cases whose
// expected output follows from tokenization_bert.py's rules.
#include "devops_model/tokenizer/wordpiece.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"

namespace dm {
namespace {

const std::string kBert = std::string(DM_FIXTURES_DIR) + "/tiny-bert";

TEST(WordPiece, GoldenIdsTinyBert) {
  auto tok = WordPieceTokenizer::load_dir(kBert);
  auto g = nlohmann::json::parse(read_file(kBert + "/golden_tokens.json"));
  const int64_t max_len = g["max_length"];
  ASSERT_EQ(g["texts"].size(), g["ids"].size());
  ASSERT_GE(g["texts"].size(), 5u);
  for (size_t i = 0; i < g["texts"].size(); ++i) {
    const std::string text = g["texts"][i];
    EXPECT_EQ(tok.encode(text, max_len), g["ids"][i].get<std::vector<int32_t>>()) << "text: " << text;
  }
  // tokenizer_config.json's model_max_length (64) is the default truncation.
  EXPECT_EQ(tok.options().model_max_length, 64);
  EXPECT_TRUE(tok.options().do_lower_case);
  EXPECT_EQ(tok.encode(g["texts"].back().get<std::string>()), g["ids"].back().get<std::vector<int32_t>>());
}

TEST(WordPiece, ConfigAndSpecialIds) {
  auto tok = WordPieceTokenizer::load_dir(kBert);
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.unk_id(), 1);
  EXPECT_EQ(tok.cls_id(), 2);
  EXPECT_EQ(tok.sep_id(), 3);
  EXPECT_EQ(tok.vocab_size(), 355);
  EXPECT_THROW(WordPieceTokenizer::load_dir("/nonexistent-bert-dir"), Error);
}

WordPieceTokenizer crafted(bool lower) {
  std::vector<std::string> v = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un",    "##want", "##ed",
                                "want",  "runn",  "##ing", ",",     "!",      "hello", "world"};
  WordPieceOptions o;
  o.do_lower_case = lower;
  return WordPieceTokenizer(v, o);
}

TEST(WordPiece, BasicTokenizerRules) {
  auto t = crafted(true);
  using V = std::vector<std::string>;
  // Lower-case + accent strip, punctuation split, NBSP (Zs) as space, ZWSP (Cf) and NUL dropped.
  EXPECT_EQ(t.basic_tokenize(" \tHéLLo!\u00a0wörld\u200b?\x01"), (V{"hello", "!", "world", "?"}));
  // ASCII symbols count as punctuation; CJK ideographs split; kana and fullwidth letters are not CJK.
  EXPECT_EQ(t.basic_tokenize("$5^x 持续集成カナ"), (V{"$", "5", "^", "x", "持", "续", "集", "成", "カナ"}));
  // Chinese punctuation (category P*) is split off.
  EXPECT_EQ(t.basic_tokenize("部署，测试。"), (V{"部", "署", "，", "测", "试", "。"}));
  // Without lower-casing accents stay, case stays; NFC composes e + U+0301.
  auto c = crafted(false);
  EXPECT_EQ(c.basic_tokenize("Cafe\u0301 OK"), (V{"Caf\u00e9", "OK"}));
  // Python's str.lower: U+0130 -> i + U+0307 (then stripped); word-final capital sigma -> final sigma.
  EXPECT_EQ(t.basic_tokenize("\u0130X \u039f\u0394\u039f\u03a3"), (V{"ix", "\u03bf\u03b4\u03bf\u03c2"}));
  EXPECT_TRUE(t.basic_tokenize(" \r\n\u3000 ").empty());
}

TEST(WordPiece, GreedyLongestMatchAndUnknown) {
  auto t = crafted(true);
  using V = std::vector<std::string>;
  EXPECT_EQ(t.tokenize("unwanted running"), (V{"un", "##want", "##ed", "runn", "##ing"}));
  // An unmatched remainder makes the whole word [UNK]; so does a word over 100 characters.
  EXPECT_EQ(t.tokenize("unwantedx hello"), (V{"[UNK]", "hello"}));
  EXPECT_EQ(t.tokenize(std::string(101, 'a')), (V{"[UNK]"}));
  // Special tokens in the text keep their ids.
  EXPECT_EQ(t.encode("hello[SEP]world"), (std::vector<int32_t>{2, 13, 3, 14, 3}));
  // Truncation keeps [CLS] and [SEP].
  EXPECT_EQ(t.encode("hello world hello", 3), (std::vector<int32_t>{2, 13, 3}));
  EXPECT_EQ(t.encode(""), (std::vector<int32_t>{2, 3}));
  // Invalid UTF-8 becomes U+FFFD, which the cleaner drops.
  EXPECT_EQ(t.tokenize("hello\xff\xfeworld"), (V{"[UNK]"}));
}

}  // namespace
}  // namespace dm
