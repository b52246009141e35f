// Model families: each family's file is the only place its names live, and its tensor bindings are a
// round trip (what loading splits, saving fuses back byte for byte, under the same names).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "devops_model/core/error.h"
#include "devops_model/formats/checkpoint.h"
#include "devops_model/model/model.h"
#include "devops_model/model/random_init.h"
#include "model/family.h"
#include "test_util.h"

namespace dm {
namespace {

namespace fs = std::filesystem;

// Files under src/ that contain any of `words` (as written in tensor names: followed by '.', '"' or '_').
std::set<std::string> files_naming(const std::vector<std::string>& words) {
  std::set<std::string> out;
  const fs::path src = fs::path(DM_SOURCE_DIR) / "src";
  for (const auto& e : fs::recursive_directory_iterator(src)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path());
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    for (const std::string& w : words)
      if (text.find(w) != std::string::npos) out.insert(fs::relative(e.path(), src).string());
  }
  return out;
}

TEST(Family, Qwen1NamesLiveInOneFile) {
  const std::set<std::string> files =
      files_naming({"c_attn", "c_proj", "transformer.wte", "transformer.ln_f", "mlp.w1", "mlp.w2", "\"w1\"", "\"w2\""});
  EXPECT_EQ(files, (std::set<std::string>{"model/qwen1_family.cpp"}));
}

TEST(Family, Qwen2NamesLiveInOneFileBesidesTheCanonicalSlots) {
  // Qwen2's names are the canonical slot names (weights.h for_each), so they may appear there too.
  const std::set<std::string> files = files_naming({"post_attention_layernorm", "embed_tokens"});
  EXPECT_EQ(files, (std::set<std::string>{"model/qwen2_family.cpp"}));
}

// Load -> family tensors -> the same names, shapes, dtypes and bytes as the checkpoint on disk.
void expect_round_trip(const std::string& fixture) {
  auto m = Model::load(test::fixture(fixture));
  std::vector<Tensor> keep;
  const auto saved = family_checkpoint_tensors(m->config(), m->weights(), keep);
  const CheckpointTensors ckpt = CheckpointTensors::open_dir(test::fixture(fixture));
  std::vector<std::string> names, on_disk = ckpt.names();
  for (const auto& [name, view] : saved) {
    names.push_back(name);
    ASSERT_TRUE(ckpt.has(name)) << fixture << ": " << name;
    const TensorView d = ckpt.get(name);
    EXPECT_EQ(view.shape, d.shape) << name;
    ASSERT_EQ(view.dtype, d.dtype) << name;
    EXPECT_EQ(0, std::memcmp(view.data, d.data, d.nbytes())) << name;
  }
  std::sort(names.begin(), names.end());
  std::sort(on_disk.begin(), on_disk.end());
  EXPECT_EQ(names, on_disk) << fixture;
  // The specs random init writes are the same list.
  std::vector<std::string> spec_names;
  for (const TensorSpec& s : checkpoint_tensor_specs(m->config())) spec_names.push_back(s.name);
  std::sort(spec_names.begin(), spec_names.end());
  EXPECT_EQ(spec_names, on_disk) << fixture;
}

TEST(Family, BindingsRoundTripQwen1Safetensors) { expect_round_trip("tiny-qwen1"); }
TEST(Family, BindingsRoundTripQwen1Bin) { expect_round_trip("tiny-qwen1-bin"); }
TEST(Family, BindingsRoundTripQwen2) { expect_round_trip("tiny-qwen2"); }
TEST(Family, BindingsRoundTripQwen3) { expect_round_trip("tiny-qwen3"); }

TEST(Family, ConfigJsonRoundTrip) {
  for (const char* fixture : {"tiny-qwen1", "tiny-qwen2", "tiny-qwen3"}) {
    const ModelConfig c = read_model_config(test::fixture(std::string(fixture) + "/config.json"));
    const ModelConfig back = parse_model_config(config_to_hf_json(c), "written");
    EXPECT_EQ(back.architecture, c.architecture);
    EXPECT_EQ(back.intermediate_size, c.intermediate_size) << fixture;
    EXPECT_EQ(back.head_dim, c.head_dim) << fixture;
    EXPECT_EQ(back.num_kv_heads, c.num_kv_heads) << fixture;
    EXPECT_EQ(back.rotary_dim, c.rotary_dim) << fixture;
    EXPECT_EQ(back.qkv_bias, c.qkv_bias) << fixture;
    EXPECT_EQ(back.qk_norm, c.qk_norm) << fixture;
    EXPECT_EQ(back.logn_attn, c.logn_attn) << fixture;
    EXPECT_EQ(back.tie_embeddings, c.tie_embeddings) << fixture;
  }
}

TEST(Family, ChatDefaultsComeFromTheFamily) {
  ModelConfig c;
  c.architecture = "QWenLMHeadModel";
  EXPECT_EQ(family_info(c).chat_format, ChatFormat::kQwen1);
  EXPECT_EQ(family_info(c).default_system_prompt, "You are a helpful assistant.");
  c.architecture = "Qwen2ForCausalLM";
  EXPECT_EQ(family_info(c).chat_format, ChatFormat::kChatMl);
  EXPECT_EQ(family_info(c).default_system_prompt, "You are a helpful assistant.");
  c.architecture = "Qwen3ForCausalLM";
  EXPECT_EQ(family_info(c).default_system_prompt, "");
  c.architecture = "LlamaForCausalLM";
  EXPECT_THROW(family_info(c), Error);
}

}  // namespace
}  // namespace dm
