// The tokenizer built from a GGUF file's metadata (tiny-gguf's Qwen2 and Qwen1 files, whose vocabulary
// is tiny-tokenizer's) encodes tiny-tokenizer's golden texts as their golden ids, knows the specials, and
// bad tokenizer metadata is a clear error naming the file and key.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/formats/gguf.h"
#include "devops_model/tokenizer/tokenizer.h"
#include "devops_model/tokenizer/unicode.h"
#include "test_util.h"

namespace dm {
namespace {

using json = nlohmann::json;

TEST(GgufTokenizer, GoldenIdsFromQwen2AndQwen1Files) {
  const json cases = json::parse(read_file(test::fixture("tiny-tokenizer/golden_encodings.json")));
  ASSERT_GT(cases.size(), 20u);
  for (const char* file :
       {"tiny-gguf/model-f32.gguf", "tiny-gguf/model-q4_k_m.gguf", "tiny-gguf/model-qwen1-f16.gguf"}) {
    SCOPED_TRACE(file);
    auto tok = Tokenizer::from_dir(test::fixture(file));  // a GGUF model path, as --model gives it
    EXPECT_EQ(tok->token_id("<|endoftext|>"), 507);
    EXPECT_EQ(tok->token_id("<|im_start|>"), 508);
    EXPECT_EQ(tok->token_id("<|im_end|>"), 509);
    EXPECT_TRUE(tok->is_special(509));
    for (const auto& c : cases) {
      const std::string text = c["text"];
      std::vector<int32_t> want;
      for (const auto& id : c["ids"]) want.push_back(id.get<int32_t>());
      EXPECT_EQ(tok->encode(text), want) << text;
      EXPECT_EQ(tok->decode(want), nfc_normalize(text));
    }
  }
  // Padding rows (token type UNUSED) decode to nothing.
  auto tok = Tokenizer::from_file(test::fixture("tiny-gguf/model-f32.gguf"));
  EXPECT_EQ(tok->decode(std::vector<int32_t>{510, 511}), "");
}

// A GGUF file with only tokenizer metadata.
std::string write_tok(const std::string& name, GgufMetadata md) {
  const std::string path = test::temp_dir("gguf_tok") + "/" + name;
  GgufWriter w(path, md, {});
  w.commit();
  return path;
}

// tiny-gguf's tokenizer metadata (the 256 byte tokens, merges, specials), to break one key at a time.
GgufMetadata base_md() {
  auto g = GgufFile::open(test::fixture("tiny-gguf/model-f32.gguf"));
  GgufMetadata md;
  for (const auto& [key, v] : g->metadata().entries)
    if (key.starts_with("tokenizer.ggml.") || key == "general.architecture") md.set(key, v);
  return md;
}

void expect_error(const std::string& path, const std::string& needle) {
  try {
    Tokenizer::from_file(path);
    FAIL() << "accepted " << path;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind() == ErrorKind::kFormat || e.kind() == ErrorKind::kUnsupported, true) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what() << " lacks " << needle;
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(GgufTokenizer, SmallVocabularyAndBadMetadata) {
  auto ok = Tokenizer::from_file(write_tok("ok.gguf", base_md()));
  EXPECT_EQ(ok->encode("<|endoftext|>"), (std::vector<int32_t>{507}));
  GgufMetadata md = base_md();
  md.set("tokenizer.ggml.token_type", gguf_i32s({1, 1, 1}));
  expect_error(write_tok("types.gguf", md), "tokenizer.ggml.token_type has 3 entries but tokenizer.ggml.tokens 512");
  md = base_md();
  md.set("tokenizer.ggml.model", gguf_string("llama"));
  expect_error(write_tok("model.gguf", md), "tokenizer.ggml.model \"llama\"");
  md = base_md();
  md.set("tokenizer.ggml.pre", gguf_string("llama3"));
  expect_error(write_tok("pre.gguf", md), "tokenizer.ggml.pre \"llama3\"");
  md = base_md();
  md.set("tokenizer.ggml.merges", gguf_strings({"a zzzz"}));
  expect_error(write_tok("merge.gguf", md), "tokenizer.ggml.merges[0]");
  md = base_md();
  std::vector<int32_t> types(512, 1);
  types[2] = 9;
  md.set("tokenizer.ggml.token_type", gguf_i32s(types));
  expect_error(write_tok("type9.gguf", md), "token_type[2] = 9");
  md = base_md();
  md.set("tokenizer.ggml.tokens", gguf_i32s({1, 2}));
  expect_error(write_tok("tokens.gguf", md), "tokenizer.ggml.tokens");
}

}  // namespace
}  // namespace dm
