// `tokenizer extend` pieces: merges learned on top of tiny-qwen2's tokenizer keep every old id, and the
// resized checkpoint gives the fixture model's logits for old-token inputs (new rows = mean of old rows).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "devops_model/core/mapped_file.h"
#include "devops_model/model/model.h"
#include "devops_model/tokenizer/bpe_trainer.h"
#include "devops_model/tokenizer/tokenizer.h"
#include "devops_model/train/checkpoint.h"
#include "test_util.h"

namespace dm {
namespace {

std::vector<float> all_logits(const Model& m, const std::vector<int32_t>& ids) {
  auto cache = m.new_cache();
  std::vector<float> out;
  m.forward(ids, *cache, out, true);
  return out;
}

TEST(ExtendVocab, OldIdsUnchangedAndResizedCheckpointMatches) {
  const std::string base = test::fixture("tiny-qwen2");
  const std::string out = test::temp_dir("extend_vocab");
  PieceCounter pc;
  // A corpus the 512-token fixture vocabulary knows nothing about: repeated Chinese DevOps terms.
  for (int i = 0; i < 20; ++i) pc.add_text("容器编排 容器镜像 持续集成 持续交付 监控告警\n");
  const int32_t kAdd = 12;
  const BpeExtendResult r = extend_bpe_tokenizer(base, pc, kAdd, 512, 2, out + "/tok");
  ASSERT_EQ(r.added, kAdd);
  EXPECT_EQ(r.first_new_id, 512);
  EXPECT_EQ(r.vocab_size, 512 + kAdd);
  resize_vocab_checkpoint(base, r.vocab_size, out);  // copies the base's tokenizer files ...
  std::filesystem::copy_file(out + "/tok/tokenizer.json", out + "/tokenizer.json",
                             std::filesystem::copy_options::overwrite_existing);  // ... replaced as the CLI does

  auto old_tok = Tokenizer::from_dir(base);
  auto new_tok = Tokenizer::from_dir(out);
  EXPECT_EQ(new_tok->vocab_size(), 512 + kAdd);
  for (int32_t id = 0; id < old_tok->vocab_size(); ++id) {
    EXPECT_EQ(new_tok->token_bytes(id), old_tok->token_bytes(id)) << id;
    EXPECT_EQ(new_tok->is_special(id), old_tok->is_special(id)) << id;
  }
  // Text made only of old tokens encodes exactly as before; the corpus text now uses new ids.
  const std::string plain = "hello world, the quick brown fox 123";
  EXPECT_EQ(new_tok->encode(plain), old_tok->encode(plain));
  const auto zh_old = old_tok->encode("容器编排"), zh_new = new_tok->encode("容器编排");
  EXPECT_LT(zh_new.size(), zh_old.size());
  EXPECT_EQ(new_tok->decode(zh_new), "容器编排");
  bool uses_new = false;
  for (int32_t id : zh_new) uses_new |= id >= 512;
  EXPECT_TRUE(uses_new);

  const auto cfg = nlohmann::json::parse(read_file(out + "/config.json"));
  EXPECT_EQ(cfg["vocab_size"], 512 + kAdd);
  auto m_old = Model::load(base), m_new = Model::load(out);
  const std::vector<int32_t> ids = old_tok->encode(plain);
  const auto a = all_logits(*m_old, ids), b = all_logits(*m_new, ids);
  const size_t V0 = 512, V1 = 512 + kAdd;
  ASSERT_EQ(a.size(), ids.size() * V0);
  ASSERT_EQ(b.size(), ids.size() * V1);
  double max_diff = 0;
  for (size_t t = 0; t < ids.size(); ++t)
    for (size_t v = 0; v < V0; ++v) max_diff = std::max(max_diff, std::fabs(double(a[t * V0 + v]) - b[t * V1 + v]));
  EXPECT_LT(max_diff, 1e-3);
  // Tied embeddings: a new token's logit is the hidden state times the mean embedding row = mean of old logits.
  for (size_t t = 0; t < ids.size(); ++t) {
    double mean = 0;
    for (size_t v = 0; v < V0; ++v) mean += b[t * V1 + v] / double(V0);
    EXPECT_NEAR(b[t * V1 + V0], mean, 1e-3);
  }
  std::filesystem::remove_all(out);
}

}  // namespace
}  // namespace dm
