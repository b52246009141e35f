// The BERT encoder against tiny-bert's PyTorch goldens: last_hidden_state and mean-pooled sentence
// embeddings within 1e-4, unpadded batched encoding of the tokenizer's ids, every matmul ISA, and the
// checkpoint name variants (bert. prefix, LayerNorm.gamma/beta) with CLS pooling + Normalize.
#include "devops_model/model/bert_encoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/tokenizer/wordpiece.h"
#include "kernels/matmul_isa.h"
#include "test_util.h"

namespace dm {
namespace {
namespace fs = std::filesystem;

const std::string kBert = test::fixture("tiny-bert");

struct Golden {
  std::shared_ptr<SafetensorsFile> f = SafetensorsFile::open(kBert + "/golden.safetensors");
  std::vector<int32_t> ids = test::golden_ids(*f, "input_ids"), mask = test::golden_ids(*f, "attention_mask");
  std::vector<float> hidden = test::golden_f32(*f, "last_hidden_state"),
                     emb = test::golden_f32(*f, "sentence_embedding");
  int64_t B = f->get("input_ids").dim(0), L = f->get("input_ids").dim(1);
};

float max_abs_diff(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

TEST(BertEncoder, GoldenHiddenStatesAndEmbeddingsEveryIsa) {
  Golden g;
  BertEncoder enc = BertEncoder::load_dir(kBert);
  EXPECT_EQ(enc.config().hidden_size, 32);
  EXPECT_EQ(enc.pooling().mode, BertPooling::kMean);
  const Isa saved = active_isa();
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (static_cast<int>(isa) > static_cast<int>(best_isa())) continue;
    set_active_isa(isa);
    Tensor h = enc.forward(g.ids.data(), g.mask.data(), g.B, g.L);
    ASSERT_EQ(h.shape(), (Shape{g.B, g.L, 32}));
    EXPECT_LE(max_abs_diff(h.f32(), g.hidden.data(), g.hidden.size()), 1e-4f) << isa_name(isa);
    Tensor e = enc.pool(h, g.mask.data(), g.B, g.L);
    EXPECT_LE(max_abs_diff(e.f32(), g.emb.data(), g.emb.size()), 1e-4f) << isa_name(isa);
  }
  set_active_isa(saved);
}

TEST(BertEncoder, BatchedUnpaddedEncodingMatchesGolden) {
  Golden g;
  BertEncoder enc = BertEncoder::load_dir(kBert);
  auto tok = WordPieceTokenizer::load_dir(kBert);
  auto texts = nlohmann::json::parse(read_file(kBert + "/golden_tokens.json"))["texts"];
  std::vector<std::vector<int32_t>> seqs;
  for (const auto& t : texts) seqs.push_back(tok.encode(t.get<std::string>()));
  ASSERT_EQ(static_cast<int64_t>(seqs.size()), g.B);
  // The golden input is the same texts padded to 64; mask lengths must agree.
  for (int64_t b = 0; b < g.B; ++b) {
    int64_t n = 0;
    for (int64_t t = 0; t < g.L; ++t) n += g.mask[b * g.L + t];
    ASSERT_EQ(n, static_cast<int64_t>(seqs[b].size()));
  }
  for (int64_t bs : {1, 3, 32}) {
    Tensor e = enc.encode(seqs, bs);
    ASSERT_EQ(e.shape(), (Shape{g.B, 32}));
    EXPECT_LE(max_abs_diff(e.f32(), g.emb.data(), g.emb.size()), 1e-4f) << "batch " << bs;
  }
  std::vector<int32_t> long_ids(65, 5), long_mask(65, 1);
  EXPECT_THROW(enc.forward(long_ids.data(), long_mask.data(), 1, 65), Error);
  long_ids[3] = 355;
  EXPECT_THROW(enc.forward(long_ids.data(), long_mask.data(), 1, 5), Error);
}

// A copy of tiny-bert saved as BertFor* would be: "bert." prefix, gamma/beta, CLS pooling + Normalize.
TEST(BertEncoder, PrefixedNamesClsPoolingNormalize) {
  Golden g;
  fs::path d = test::temp_dir("bert_variant");
  auto src = SafetensorsFile::open(kBert + "/model.safetensors");
  std::vector<std::pair<std::string, TensorView>> ts;
  for (const auto& n : src->names()) {
    std::string m = "bert." + n;
    if (m.size() > 16 && m.compare(m.size() - 16, 16, "LayerNorm.weight") == 0) m.replace(m.size() - 6, 6, "gamma");
    if (m.size() > 14 && m.compare(m.size() - 14, 14, "LayerNorm.bias") == 0) m.replace(m.size() - 4, 4, "beta");
    ts.emplace_back(m, src->get(n));
  }
  write_safetensors((d / "model.safetensors").string(), ts);
  fs::copy_file(kBert + "/config.json", d / "config.json");
  fs::create_directories(d / "1_Pooling");
  write_file_atomic(
      (d / "1_Pooling/config.json").string(),
      R"({"word_embedding_dimension": 32, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false})");
  write_file_atomic((d / "modules.json").string(),
                    R"([{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
                        {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
                        {"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}])");
  BertEncoder enc = BertEncoder::load_dir(d.string());
  EXPECT_EQ(enc.pooling().mode, BertPooling::kCls);
  EXPECT_TRUE(enc.pooling().normalize);
  Tensor e = enc.pool(enc.forward(g.ids.data(), g.mask.data(), g.B, g.L), g.mask.data(), g.B, g.L);
  for (int64_t b = 0; b < g.B; ++b) {
    const float* cls = g.hidden.data() + b * g.L * 32;
    double norm = 0;
    for (int c = 0; c < 32; ++c) norm += static_cast<double>(cls[c]) * cls[c];
    for (int c = 0; c < 32; ++c) EXPECT_NEAR(e.f32()[b * 32 + c], cls[c] / std::sqrt(norm), 1e-4);
  }
  // A missing tensor is reported by name.
  std::erase_if(ts, [](const auto& t) { return t.first == "bert.encoder.layer.1.output.dense.bias"; });
  write_safetensors((d / "model.safetensors").string(), ts);
  try {
    BertEncoder::load_dir(d.string());
    ADD_FAILURE() << "expected an error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("missing tensor"), std::string::npos) << err.what();
  }
  fs::remove_all(d);
}

}  // namespace
}  // namespace dm
