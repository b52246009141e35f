// Hostile model directories (issue 16, items 1-4): copies of the fixture models with one field of
// config.json, tokenizer.json or generation_config.json corrupted, or NaN/Inf written into one tensor, run
// through the CLI. Each must exit with the documented code (4 malformed file, 2 bad flag) and an error
// naming the file and the key, never exit 0 with garbage, 1 (std::bad_alloc) or 70 (a failed check).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "devops_model/formats/tensor_source.h"
#include "test_util.h"

namespace dm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kGen = "generate --model {dir} --ids 1,2,3 --max-new-tokens 2";
constexpr const char* kChat = "chat --model {dir} --prompt hi --max-new-tokens 2 --greedy";
constexpr const char* kTok = "tokenize --model {dir} --text hi";

struct JsonCase {
  std::string fixture;  // tiny-qwen2, tiny-qwen1
  std::string file;     // edited file, named in the error
  std::function<void(json&)> edit;
  std::string cmd;                  // {dir}: the corrupt copy
  int want_exit;                    // documented exit code
  std::vector<std::string> stderr;  // must appear in stderr (besides the file name)
};

// A writable copy of a fixture directory (or, `only` given, of that one file in it).
std::string copy_fixture(const std::string& name, const std::string& tag, const std::string& only = "") {
  const std::string dir = test::temp_dir(tag) + "/" + name;
  if (only.empty()) {
    fs::copy(test::fixture(name), dir, fs::copy_options::recursive);
  } else {
    fs::create_directories(dir);
    fs::copy(test::fixture(name + "/" + only), dir + "/" + only);
  }
  for (const auto& e : fs::recursive_directory_iterator(dir))
    fs::permissions(e.path(), fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::add);
  return dir;
}

void edit_json(const std::string& path, const std::function<void(json&)>& edit) {
  json j;
  {
    std::ifstream in(path);
    j = json::parse(in);
  }
  edit(j);
  std::ofstream(path) << j.dump(1);
}

std::string expand(std::string cmd, const std::string& dir) {
  cmd.replace(cmd.find("{dir}"), 5, dir);
  return test::cli() + " " + cmd;
}

// Sets `key` of the top-level object to a raw JSON value ("4294967808", "1e12", "-5").
std::function<void(json&)> set(const std::string& key, const std::string& raw) {
  return [key, raw](json& j) { j[key] = json::parse(raw); };
}

std::vector<JsonCase> config_cases() {
  const std::string q2 = "tiny-qwen2", q1 = "tiny-qwen1", cfg = "config.json";
  return {
      {q2, cfg, set("vocab_size", "4294967808"), kGen, 4, {"vocab_size"}},
      {q2, cfg, set("hidden_size", "4294967392"), kGen, 4, {"hidden_size"}},     // 2^32 + 96
      {q2, cfg, set("hidden_size", "1099511627776"), kGen, 4, {"hidden_size"}},  // 2^40
      {q2, cfg, set("hidden_size", "18446744073709551615"), kGen, 4, {"hidden_size"}},
      {q2, cfg, set("num_hidden_layers", "2147483647"), kGen, 4, {"num_hidden_layers"}},
      {q2, cfg, set("num_hidden_layers", "1000"), kGen, 4, {"num_hidden_layers"}},  // in range, no tensors
      {q2, cfg, set("intermediate_size", "2147483648"), kGen, 4, {"intermediate_size"}},
      {q2, cfg, set("num_attention_heads", "-4"), kGen, 4, {"num_attention_heads"}},
      {q2, cfg, set("num_key_value_heads", "0"), kGen, 4, {"num_key_value_heads"}},
      {q2, cfg, set("head_dim", "65536"), kGen, 4, {"head_dim"}},
      {q2, cfg, set("max_position_embeddings", "0"), kGen, 4, {"max_position_embeddings"}},
      {q2, cfg, set("max_position_embeddings", "1099511627776"), kGen, 4, {"max_position_embeddings"}},
      {q2, cfg, set("vocab_size", "1.5"), kGen, 4, {"vocab_size"}},
      {q2, cfg, set("vocab_size", "4096"), kGen, 4, {"embed_tokens"}},  // in range: the tensor disagrees
      {q2, cfg, set("eos_token_id", "1000000"), kGen, 4, {"eos_token_id"}},
      {q2, cfg, set("eos_token_id", "-5"), kGen, 4, {"eos_token_id"}},
      {q2, cfg, set("eos_token_id", "[509, 4294967808]"), kGen, 4, {"eos_token_id"}},
      {q2, cfg, set("bos_token_id", "512"), kGen, 4, {"bos_token_id"}},
      {q2, cfg, set("rms_norm_eps", "1e300"), kGen, 4, {"rms_norm_eps"}},
      {q2, cfg, set("vocab_size", "4294967808"), kChat, 4, {"vocab_size"}},
      {q1, cfg, set("vocab_size", "4294967808"), kGen, 4, {"vocab_size"}},
      {q1, cfg, set("num_hidden_layers", "2147483647"), kGen, 4, {"num_hidden_layers"}},
      {q1, cfg, set("hidden_size", "1099511627776"), kGen, 4, {"hidden_size"}},
      {q1, cfg, set("kv_channels", "8589934592"), kGen, 4, {"kv_channels"}},
      {q1, cfg, set("seq_length", "0"), kGen, 4, {"seq_length"}},
      {q1, cfg, set("rotary_pct", "1e300"), kGen, 4, {"rotary_pct"}},
      {q1, cfg, set("max_position_embeddings", "0"), kChat, 4, {"max_position_embeddings"}},
  };
}

std::vector<JsonCase> tokenizer_cases() {
  const std::string q2 = "tiny-qwen2", tj = "tokenizer.json";
  auto vocab_id = [](const std::string& raw) {
    return [raw](json& j) { j["model"]["vocab"]["!"] = json::parse(raw); };
  };
  auto added_id = [](size_t i, const std::string& raw) {
    return [i, raw](json& j) { j["added_tokens"][i]["id"] = json::parse(raw); };
  };
  return {
      {q2, tj, vocab_id("10000000"), kTok, 4, {"model.vocab", "'!'"}},  // 1e7: memory grew with it
      {q2, tj, vocab_id("30000000"), kTok, 4, {"model.vocab", "'!'"}},
      {q2, tj, vocab_id("-1"), kTok, 4, {"model.vocab", "'!'"}},  // was an internal check, exit 70
      {q2, tj, vocab_id("1e7"), kTok, 4, {"model.vocab", "'!'"}},
      {q2, tj, vocab_id("\"0\""), kTok, 4, {"model.vocab", "'!'"}},
      {q2, tj, added_id(0, "1099511627776"), kTok, 4, {"added_tokens[0]"}},  // 2^40 wrapped to 0
      {q2, tj, added_id(1, "-5"), kTok, 4, {"added_tokens[1]"}},
      {q2, tj, added_id(2, "\"x\""), kTok, 4, {"added_tokens[2]"}},
      {q2, tj, [](json& j) { j["added_tokens"][0].erase("content"); }, kTok, 4, {"added_tokens[0]"}},
      {q2, tj, [](json& j) { j["model"]["merges"] = 5; }, kTok, 4, {"model.merges"}},
      {q2,
       tj,
       [](json& j) {
    j["model"]["merges"][0] = json::array({1, 2});
       },
       kTok,
       4,
       {"model.merges"}},
      // Inside the bound but past the model's 512 embedding rows: refused where model and tokenizer meet.
      {q2, tj, added_id(2, "600"), kChat, 4, {"600", "embedding rows"}},
      {q2, tj, vocab_id("100000"), kChat, 4, {"100000", "embedding rows"}},
      };
}

std::vector<JsonCase> generation_cases() {
  const std::string q2 = "tiny-qwen2", q1 = "tiny-qwen1", gc = "generation_config.json";
  return {
      {q2, gc, set("max_new_tokens", "-1"), kChat, 4, {"max_new_tokens"}},
      {q2, gc, set("max_new_tokens", "0"), kChat, 4, {"max_new_tokens"}},
      {q2, gc, set("max_new_tokens", "1e12"), kChat, 4, {"max_new_tokens"}},
      {q2, gc, set("max_new_tokens", "1000000000000"), kChat, 4, {"max_new_tokens"}},
      {q2, gc, set("eos_token_id", "1000000"), kChat, 4, {"eos_token_id"}},
      {q2, gc, set("eos_token_id", "-5"), kChat, 4, {"eos_token_id"}},
      {q2, gc, set("eos_token_id", "[509, 600]"), kChat, 4, {"eos_token_id"}},  // past the model's rows
      {q2, gc, set("pad_token_id", "-1"), kChat, 4, {"pad_token_id"}},
      {q2, gc, set("top_k", "-1"), kChat, 4, {"top_k"}},
      {q2, gc, set("top_k", "1.5"), kChat, 4, {"top_k"}},
      {q2, gc, set("temperature", "\"hot\""), kChat, 4, {"temperature"}},
      {q2, gc, set("do_sample", "1"), kChat, 4, {"do_sample"}},
      {q1, gc, set("max_window_size", "0"), kChat, 4, {"max_window_size"}},
      {q1, gc, set("max_window_size", "4294967808"), kChat, 4, {"max_window_size"}},
      {q1, gc, set("stop_words_ids", "[[509], [-1]]"), kChat, 4, {"stop_words_ids[1]"}},
      {q1, gc, set("stop_words_ids", "5"), kChat, 4, {"stop_words_ids"}},
      {q1, gc, set("chat_format", "\"xml\""), kChat, 4, {"chat_format"}},
      {q1, gc, set("max_new_tokens", "1e12"), kChat, 4, {"max_new_tokens"}},
  };
}

void run_json_cases(const std::vector<JsonCase>& cases, const std::string& tag) {
  int passed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const JsonCase& c = cases[i];
    const std::string dir = copy_fixture(c.fixture, tag + std::to_string(i));
    edit_json(dir + "/" + c.file, c.edit);
    const test::CmdResult r = test::run_cmd(expand(c.cmd, dir));
    const std::string what = tag + " case " + std::to_string(i) + " (" + c.fixture + "/" + c.file + "): " + c.cmd;
    bool ok = r.status == c.want_exit && r.err.find(c.file) != std::string::npos;
    EXPECT_EQ(r.status, c.want_exit) << what << "\n" << r.err;
    EXPECT_NE(r.err.find(c.file), std::string::npos) << what << "\n" << r.err;
    for (const std::string& s : c.stderr) {
      EXPECT_NE(r.err.find(s), std::string::npos) << what << ": wants '" << s << "'\n" << r.err;
      ok = ok && r.err.find(s) != std::string::npos;
    }
    passed += ok ? 1 : 0;
  }
  std::printf("%s: %d of %zu corrupt directories refused as documented\n", tag.c_str(), passed, cases.size());
}

TEST(CorruptModelDir, ConfigSizesAreCheckedAs64BitBeforeAllocating) { run_json_cases(config_cases(), "config"); }

TEST(CorruptModelDir, TokenizerIdsFitTheVocabularyAndTheEmbedding) { run_json_cases(tokenizer_cases(), "tokenizer"); }

TEST(CorruptModelDir, GenerationConfigFieldsAreValidated) { run_json_cases(generation_cases(), "generation"); }

TEST(CorruptModelDir, BadGenerationFlagsAreUsageErrors) {
  const std::string m = test::cli() + " chat --model " + test::fixture("tiny-qwen2") + " --prompt hi ";
  const std::string g = test::cli() + " generate --model " + test::fixture("tiny-qwen2") + " --ids 1,2 ";
  for (const std::string& cmd :
       {m + "--max-new-tokens -1", m + "--max-new-tokens 0", m + "--max-new-tokens 1e12",
        m + "--max-new-tokens 1000000000000", m + "--max-new-tokens 99999999", m + "--top-k 99999999",
        m + "--temperature inf", m + "--temperature nan", m + "--repetition-penalty inf", m + "--top-p 0",
        g + "--max-new-tokens 0", g + "--max-new-tokens -1", g + "--max-new-tokens 1e12"}) {
    const test::CmdResult r = test::run_cmd(cmd);
    EXPECT_EQ(r.status, 2) << cmd << "\n" << r.err;
  }
}

// Writes `bytes` over the start of tensor `name`'s data in the checkpoint file holding it.
void poison_tensor(const std::string& file, const std::string& name, const std::vector<uint8_t>& bytes) {
  size_t offset = 0;
  {
    auto src = open_tensor_source(file);
    const TensorView t = src->get(name);
    ASSERT_NE(src->mapping(), nullptr);
    offset = static_cast<size_t>(static_cast<const uint8_t*>(t.data) - src->mapping()->data());
  }
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Both bytes orders of a bf16 NaN / +Inf, little-endian, repeated over a few elements.
std::vector<uint8_t> repeat(std::vector<uint8_t> one, int n) {
  std::vector<uint8_t> out;
  for (int i = 0; i < n; ++i) out.insert(out.end(), one.begin(), one.end());
  return out;
}

std::vector<uint8_t> nan_of(DType t) {
  if (t == DType::kF32) return {0x00, 0x00, 0xC0, 0x7F};
  if (t == DType::kF16) return {0x00, 0x7E};
  return {0xC0, 0x7F};  // bf16; read as f16 (a Q8_0 block's scale) it is a NaN too
}

struct NanCase {
  std::string fixture, file, tensor;  // file relative to the copy
  std::vector<uint8_t> (*bytes)(DType);
};

TEST(CorruptModelDir, NonFiniteWeightsFailAtRunTimeAndCheckWeightsNamesTheTensor) {
  auto inf_of = [](DType t) -> std::vector<uint8_t> {
    if (t == DType::kF32) return {0x00, 0x00, 0x80, 0x7F};
    if (t == DType::kF16) return {0x00, 0x7C};
    return {0x80, 0x7F};
  };
  const std::vector<NanCase> cases = {
      {"tiny-qwen2", "model-00001-of-00002.safetensors", "model.layers.0.self_attn.q_proj.weight", nan_of},
      {"tiny-qwen2", "", "model.norm.weight", +inf_of},
      {"tiny-qwen1", "model.safetensors", "transformer.h.0.attn.c_attn.weight", nan_of},
      {"tiny-qwen1", "model.safetensors", "lm_head.weight", +inf_of},
      {"tiny-gguf", "model-q8_0.gguf", "blk.0.attn_q.weight", nan_of},  // the block's f16 scale
  };
  int passed = 0, tried = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const NanCase& c = cases[i];
    const std::string dir = copy_fixture(c.fixture, "nan" + std::to_string(i), c.fixture == "tiny-gguf" ? c.file : "");
    std::string file = c.file;
    if (file.empty()) {  // the shard holding it
      for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".safetensors" && e.path().filename() != "golden.safetensors" &&
            open_tensor_source(e.path().string())->has(c.tensor))
          file = e.path().filename().string();
    }
    const DType dt = open_tensor_source(dir + "/" + file)->get(c.tensor).dtype;
    poison_tensor(dir + "/" + file, c.tensor, repeat(c.bytes(dt), dt == DType::kQ8_0 ? 1 : 4));
    const std::string model = c.fixture == "tiny-gguf" ? dir + "/" + file : dir;
    std::vector<std::string> runs = {kGen, kChat, std::string(kGen) + " --check-weights"};
    for (const std::string& cmd : runs) {
      ++tried;
      const test::CmdResult r = test::run_cmd(expand(cmd, model));
      const std::string want = cmd.find("--check-weights") != std::string::npos ? c.tensor : "--check-weights";
      EXPECT_EQ(r.status, 4) << c.fixture << " " << c.tensor << ": " << cmd << "\n" << r.out << r.err;
      EXPECT_NE(r.err.find(want), std::string::npos) << cmd << "\n" << r.err;
      EXPECT_NE(r.err.find(dir), std::string::npos) << cmd << "\n" << r.err;
      passed += r.status == 4 && r.err.find(want) != std::string::npos ? 1 : 0;
    }
  }
  std::printf("non-finite weights: %d of %d runs refused as documented\n", passed, tried);
}

TEST(CorruptModelDir, LogitsTraceNamesTheFirstNonFiniteLayerOutput) {
  const std::string dir = copy_fixture("tiny-qwen2", "nan_trace");
  poison_tensor(dir + "/model-00001-of-00002.safetensors", "model.layers.0.self_attn.q_proj.weight",
                repeat(nan_of(DType::kBF16), 4));
  const std::string out = dir + "/l.safetensors", trace = dir + "/t.safetensors";
  test::CmdResult r = test::run_cmd(expand("logits --model {dir} --ids 1,2,3 --out " + out, dir));
  EXPECT_EQ(r.status, 4) << r.err;
  r = test::run_cmd(expand("logits --model {dir} --ids 1,2,3 --out " + out + " --trace " + trace, dir));
  EXPECT_EQ(r.status, 4) << r.err;
  EXPECT_NE(r.err.find("first non-finite value: layers.0.q "), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(trace));
}

TEST(CorruptModelDir, CheckWeightsPassesCleanModelsOfEveryFormat) {
  for (const std::string& m :
       {test::fixture("tiny-qwen2"), test::fixture("tiny-qwen1"), test::fixture("tiny-qwen1-bin"),
        test::fixture("tiny-gguf/model-q4_k_m.gguf"), test::fixture("tiny-gguf/model-q2_k.gguf")}) {
    const test::CmdResult r = test::run_cmd(expand(std::string(kGen) + " --check-weights", m));
    EXPECT_EQ(r.status, 0) << m << "\n" << r.err;
    EXPECT_NE(r.err.find("no NaN/Inf"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace dm
