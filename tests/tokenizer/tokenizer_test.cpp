// Golden encodings of the real Qwen vocabulary and the tiny one, through every file format.
#include "devops_model/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/tokenizer/unicode.h"

namespace dm {
namespace {
using nlohmann::json;

const std::string kFix = DM_FIXTURES_DIR;

json load_json(const std::string& path) { return json::parse(read_file(path)); }

// The real vocabulary is 5 MB of JSON: load each format once for the whole binary.
const Tokenizer& qwen_hf() {
  static auto t = Tokenizer::from_file(kFix + "/qwen-tokenizer/tokenizer.json");
  return *t;
}
const Tokenizer& qwen_tiktoken() {
  static auto t = Tokenizer::from_file(kFix + "/qwen-tokenizer/qwen.tiktoken");
  return *t;
}

std::vector<int32_t> ids_of(const json& a) { return a.get<std::vector<int32_t>>(); }

TEST(QwenTokenizer, GoldenHfIdsViaTokenizerJson) {
  const json cases = load_json(kFix + "/qwen-tokenizer/golden_encodings.json");
  ASSERT_GT(cases.size(), 50u);
  for (const auto& c : cases) {
    const std::string text = c["text"];
    EXPECT_EQ(qwen_hf().encode(text), ids_of(c["hf_ids"])) << "text: " << text;
  }
}

TEST(QwenTokenizer, GoldenTiktokenIdsWithQwen1Specials) {
  const json cases = load_json(kFix + "/qwen-tokenizer/golden_encodings.json");
  for (const auto& c : cases) {
    const std::string text = c["text"];
    EXPECT_EQ(qwen_tiktoken().encode(text), ids_of(c["tiktoken_ids"])) << "text: " << text;
  }
}

TEST(QwenTokenizer, Qwen1SpecialTokenIds) {
  const json specials = load_json(kFix + "/qwen-tokenizer/qwen1_special_tokens.json");
  ASSERT_EQ(specials.size(), 208u);
  for (auto it = specials.begin(); it != specials.end(); ++it) {
    EXPECT_EQ(qwen_tiktoken().token_id(it.key()), it.value().get<int32_t>()) << it.key();
    EXPECT_TRUE(qwen_tiktoken().is_special(it.value().get<int32_t>()));
  }
  EXPECT_EQ(qwen_tiktoken().vocab_size(), 151851);
  EXPECT_EQ(qwen_hf().token_id("<|im_end|>"), 151645);
}

// Spec B.5: specials are plain text when not allowed.
TEST(QwenTokenizer, SpecialsOnlyWhenAllowed) {
  const std::string text = "print(\"<|endoftext|>\")";
  const std::vector<int32_t> plain = {1350, 9639, 91, 8691, 723, 427, 91, 82598};
  const std::vector<int32_t> special = {1350, 445, 151643, 899};
  for (const Tokenizer* t : {&qwen_tiktoken(), &qwen_hf()}) {
    EXPECT_EQ(t->encode(text, false), plain);
    EXPECT_EQ(t->encode(text, true), special);
  }
}

TEST(QwenTokenizer, RoundTripIsNfcOfInput) {
  const json cases = load_json(kFix + "/qwen-tokenizer/golden_encodings.json");
  for (const auto& c : cases) {
    const std::string text = c["text"];
    EXPECT_EQ(qwen_hf().decode(qwen_hf().encode(text)), nfc_normalize(text));
    EXPECT_EQ(qwen_tiktoken().decode(qwen_tiktoken().encode(text)), nfc_normalize(text));
  }
  // "Å" (A + combining ring) normalises to U+00C5.
  EXPECT_EQ(qwen_hf().decode(qwen_hf().encode("A\xCC\x8A")), "\xC3\x85");
}

TEST(QwenTokenizer, DecodeBytesAndSkipSpecial) {
  // Spec B.6: 51461 = bytes 20 E6 A0, 117 = B9.
  const std::vector<int32_t> a = {51461};
  EXPECT_EQ(qwen_tiktoken().decode(a), std::string(" \xE6\xA0"));
  const std::vector<int32_t> b = {151644, 51461, 117, 151645};
  EXPECT_EQ(qwen_tiktoken().decode(b, true), " 根");
  EXPECT_EQ(qwen_tiktoken().decode(b, false), "<|im_start|> 根<|im_end|>");
  // Ids without a token (151935: a padding row of Qwen's 151936-row embedding) decode to nothing, as in
  // Hugging Face tokenizers: a sampled padding id must not end a reply with an error.
  const std::vector<int32_t> padded = {51461, 151935, 999999, 117};
  EXPECT_EQ(qwen_tiktoken().decode(padded), " 根");
  EXPECT_EQ(qwen_hf().decode(padded), " 根");
}

TEST(QwenTokenizer, LongRunsDoNotBlowUp) {
  // Long whitespace, letter and CJK runs go through the heap-based merge; the result must still be
  // what the flat merge gives on the same content split into short pieces (all tokens of one run
  // repeat), and decode must round-trip.
  for (const std::string unit : {" ", "a", "啊", "\n", "ab1"}) {
    std::string text;
    for (int i = 0; i < 20000; ++i) text += unit;
    const auto ids = qwen_tiktoken().encode(text);
    EXPECT_EQ(qwen_tiktoken().decode(ids), text);
    EXPECT_EQ(qwen_hf().encode(text), ids);
  }
}

TEST(QwenTokenizer, InvalidUtf8RoundTrips) {
  const std::string text = "ok\xFF\xFEx\xE6\xA0 end\xC3";
  EXPECT_EQ(qwen_tiktoken().decode(qwen_tiktoken().encode(text)), text);
  EXPECT_EQ(qwen_hf().decode(qwen_hf().encode(text)), text);
}

TEST(QwenTokenizer, WhitespaceIsUnicodeWhiteSpace) {
  // U+180E and U+FEFF are not White_Space (PCRE2's UCP \s would take U+180E, JavaScript's U+FEFF),
  // so "a \u180Ex" splits as "a" | " \u180E" | "x" (Python regex), not "a" | " " | "\u180Ex".
  for (const std::string odd : {"\xE1\xA0\x8E", "\xEF\xBB\xBF"}) {
    std::vector<int32_t> want = qwen_hf().encode("a");
    for (const std::string& piece : {" " + odd, std::string("x")}) {
      const auto ids = qwen_hf().encode(piece);
      want.insert(want.end(), ids.begin(), ids.end());
    }
    EXPECT_EQ(qwen_hf().encode("a " + odd + "x"), want);
    EXPECT_EQ(qwen_tiktoken().encode("a " + odd + "x"), want);
  }
  // U+3000 and U+00A0 are White_Space: "x\u3000\u3000y" = "x" | "\u3000" | "\u3000y".
  std::vector<int32_t> want = qwen_hf().encode("x");
  for (const std::string piece : {"\xE3\x80\x80", "\xE3\x80\x80y"}) {
    const auto ids = qwen_hf().encode(piece);
    want.insert(want.end(), ids.begin(), ids.end());
  }
  EXPECT_EQ(qwen_hf().encode("x\xE3\x80\x80\xE3\x80\x80y"), want);
}

TEST(QwenTokenizer, LoadTimeIsReasonable) {
  for (const char* name : {"qwen.tiktoken", "tokenizer.json"}) {
    const auto t0 = std::chrono::steady_clock::now();
    auto tok = Tokenizer::from_file(kFix + "/qwen-tokenizer/" + name);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    RecordProperty(std::string("load_seconds_") + name, std::to_string(s));
    std::printf("load %s: %.3f s\n", name, s);
    EXPECT_EQ(tok->vocab_size() >= 151646, true);
  }
}

TEST(TinyTokenizer, GoldenIdsAllFormats) {
  const json cases = load_json(kFix + "/tiny-tokenizer/golden_encodings.json");
  ASSERT_GT(cases.size(), 20u);
  auto hf = Tokenizer::from_file(kFix + "/tiny-tokenizer/tokenizer.json");
  auto tk = Tokenizer::from_file(kFix + "/tiny-tokenizer/qwen.tiktoken");
  auto dir = Tokenizer::from_dir(kFix + "/tiny-tokenizer");
  EXPECT_EQ(tk->token_id("<|endoftext|>"), 507);
  EXPECT_EQ(tk->token_id("<|im_start|>"), 508);
  EXPECT_EQ(tk->token_id("<|im_end|>"), 509);
  EXPECT_EQ(tk->token_id("<|extra_0|>"), 510);
  EXPECT_EQ(hf->vocab_size(), 510);
  for (const auto& c : cases) {
    const std::string text = c["text"];
    const auto want = ids_of(c["ids"]);
    EXPECT_EQ(hf->encode(text), want) << "tokenizer.json: " << text;
    EXPECT_EQ(tk->encode(text), want) << "qwen.tiktoken: " << text;
    EXPECT_EQ(dir->encode(text), want) << "from_dir: " << text;
    EXPECT_EQ(hf->decode(want), nfc_normalize(text));
  }
}

TEST(Tokenizer, BadFilesGiveTypedErrors) {
  EXPECT_THROW(Tokenizer::from_file("/nonexistent/qwen.tiktoken"), Error);
  EXPECT_THROW(Tokenizer::from_dir(kFix + "/tiny-bert"), Error);
  try {
    Tokenizer::from_file(kFix + "/tiny-qwen2/config.json");  // JSON, but not a tokenizer
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dm
