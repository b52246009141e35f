// LoRA targets: PEFT's matching rules in each family's own module names, the tensor names and shapes a
// PEFT adapter of that model has, and the target_modules written back to adapter_config.json.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/json_file.h"
#include "devops_model/core/error.h"
#include "devops_model/formats/safetensors.h"
#include "devops_model/model/model.h"
#include "devops_model/train/checkpoint.h"
#include "devops_model/train/train_model.h"
#include "test_util.h"

namespace dm {
namespace {

std::unique_ptr<TrainModel> train_model(const std::string& fixture) {
  auto m = Model::load(test::fixture(fixture));
  return TrainModel::from_model(*m);
}

std::vector<std::string> lora_names(TrainModel& tm) {
  std::vector<std::string> out;
  for (Param& p : tm.lora_params()) out.push_back(p.name);
  return out;
}

LoraConfig targets(std::vector<std::string> t) {
  LoraConfig c;
  c.rank = 4;
  c.targets = std::move(t);
  return c;
}

TEST(LoraTargets, Qwen1UsesItsOwnModulesWithOneAdapterOnTheFusedCAttn) {
  auto tm = train_model("tiny-qwen1");
  const ModelConfig& c = tm->config();
  tm->enable_lora(targets({"c_attn"}), 1);
  ASSERT_EQ(tm->lora_params().size(), 2u * static_cast<size_t>(c.num_layers));  // one A and one B a layer
  const Param& a = tm->lora_params()[0];
  const Param& b = tm->lora_params()[1];
  EXPECT_EQ(a.name, "transformer.h.0.attn.c_attn.lora_A.weight");
  EXPECT_EQ(b.name, "transformer.h.0.attn.c_attn.lora_B.weight");
  EXPECT_EQ(a.value.shape(), (Shape{4, c.hidden_size}));
  EXPECT_EQ(b.value.shape(), (Shape{c.q_dim() + 2 * c.kv_dim(), 4}));  // rows of q | k | v, as c_attn.weight
  EXPECT_EQ(tm->lora_target_modules(), (std::vector<std::string>{"c_attn"}));
}

TEST(LoraTargets, Qwen1CProjMeansBothUnlessQualified) {
  auto both = train_model("tiny-qwen1");
  both->enable_lora(targets({"c_proj"}), 1);
  const auto names = lora_names(*both);
  EXPECT_NE(std::find(names.begin(), names.end(), "transformer.h.0.attn.c_proj.lora_A.weight"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "transformer.h.0.mlp.c_proj.lora_A.weight"), names.end());
  EXPECT_EQ(both->lora_target_modules(), (std::vector<std::string>{"c_proj"}));

  auto attn_only = train_model("tiny-qwen1");
  attn_only->enable_lora(targets({"attn.c_proj", "w1", "w2"}), 1);
  for (const std::string& n : lora_names(*attn_only)) EXPECT_EQ(n.find("mlp.c_proj"), std::string::npos) << n;
  // "c_proj" would also catch mlp.c_proj when PEFT reloads the adapter: the qualified name is written.
  EXPECT_EQ(attn_only->lora_target_modules(), (std::vector<std::string>{"attn.c_proj", "w2", "w1"}));
}

TEST(LoraTargets, Qwen2NamesAndAll) {
  auto tm = train_model("tiny-qwen2");
  tm->enable_lora(targets({"v_proj", "q_proj"}), 1);
  EXPECT_EQ(lora_names(*tm)[0], "model.layers.0.self_attn.q_proj.lora_A.weight");
  EXPECT_EQ(tm->lora_target_modules(), (std::vector<std::string>{"q_proj", "v_proj"}));
  auto all = train_model("tiny-qwen2");
  all->enable_lora(targets({"all"}), 1);
  EXPECT_EQ(all->lora_params().size(), 2u * 7u * static_cast<size_t>(all->config().num_layers));
  EXPECT_EQ(all->lora_target_modules(),
            (std::vector<std::string>{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}));
}

TEST(LoraTargets, RegexFormSelectsByFullModuleNameAndLayer) {
  auto tm = train_model("tiny-qwen1");
  LoraConfig c = targets({});
  c.targets_regex = R"(transformer\.h\.1\.mlp\.w[12])";  // layer 1 only
  tm->enable_lora(c, 1);
  EXPECT_EQ(lora_names(*tm),
            (std::vector<std::string>{"transformer.h.1.mlp.w2.lora_A.weight", "transformer.h.1.mlp.w2.lora_B.weight",
                                      "transformer.h.1.mlp.w1.lora_A.weight", "transformer.h.1.mlp.w1.lora_B.weight"}));
  // The regex goes back into adapter_config.json as it came (a list could not say "layer 1 only").
  const std::string dir = test::temp_dir("lora_regex_adapter");
  write_lora_adapter(*tm, dir, "base");
  EXPECT_EQ(read_json_file(dir + "/adapter_config.json")["target_modules"], c.targets_regex);
}

TEST(LoraTargets, UnknownTargetListsTheModelsModules) {
  auto tm = train_model("tiny-qwen1");
  try {
    tm->enable_lora(targets({"q_proj"}), 1);
    FAIL() << "q_proj accepted on a Qwen1 model";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'q_proj'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("c_attn, c_proj, w2, w1"), std::string::npos) << msg;
  }
  EXPECT_THROW(tm->enable_lora(targets({}), 1), Error);  // nothing selected
}

TEST(LoraTargets, Qwen1AdapterFilesUsePeftNames) {
  auto tm = train_model("tiny-qwen1");
  tm->enable_lora(targets({"c_attn", "w1"}), 1);
  const std::string dir = test::temp_dir("lora_qwen1_adapter");
  write_lora_adapter(*tm, dir, "base");
  const nlohmann::json cfg = read_json_file(dir + "/adapter_config.json");
  EXPECT_EQ(cfg["target_modules"], (nlohmann::json{"c_attn", "w1"}));
  auto f = SafetensorsFile::open(dir + "/adapter_model.safetensors");
  EXPECT_TRUE(f->has("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight"));
  EXPECT_TRUE(f->has("base_model.model.transformer.h.1.mlp.w1.lora_A.weight"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dm
