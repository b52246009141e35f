// The one decoder block seen from both executors: the trace hook names every intermediate value in order,
// the final norm times lm_head is the logits, and training's forward (TrainModel) produces the same layer
// outputs and loss as inference's (Model) on the same weights, for every family.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "devops_model/kernels/matmul.h"
#include "devops_model/model/model.h"
#include "devops_model/train/train_model.h"
#include "test_util.h"

namespace dm {
namespace {

struct Recorded {
  std::vector<std::string> names;                    // "layer/name" in call order
  std::map<std::string, std::vector<float>> values;  // last value of each
};

TraceFn recorder(Recorded& r) {
  return [&r](const TraceEvent& e) {
    const std::string key = std::to_string(e.layer) + "/" + e.name;
    r.names.push_back(key);
    r.values[key].assign(e.data, e.data + e.rows * e.cols);
  };
}

std::unique_ptr<Model> load_f32(const std::string& fixture) {
  LoadOptions o;
  o.weights = LoadOptions::WeightDType::kF32;
  return Model::load(test::fixture(fixture), o);
}

TEST(DecoderBlock, TraceNamesEveryValueInOrder) {
  auto m = load_f32("tiny-qwen3");
  Recorded r;
  m->set_trace(recorder(r));
  std::vector<float> logits;
  auto cache = m->new_cache();
  const std::vector<int32_t> ids = {1, 5, 9, 2};
  m->forward(ids, *cache, logits, /*all_positions=*/true);
  const std::vector<std::string> layer0 = {
      "attn_norm",     "q",        "k",    "v",  "q_rope",  "k_rope",  "attn_out", "attn_proj",
      "attn_residual", "ffn_norm", "gate", "up", "ffn_act", "ffn_out", "layer_out"};
  ASSERT_EQ(r.names.size(), 1 + layer0.size() * m->config().num_layers + 2);
  EXPECT_EQ(r.names.front(), "-1/embed");
  for (size_t i = 0; i < layer0.size(); ++i) EXPECT_EQ(r.names[1 + i], "0/" + layer0[i]);
  EXPECT_EQ(r.names[r.names.size() - 2], "-1/final_norm");
  EXPECT_EQ(r.names.back(), "-1/logits");
  EXPECT_EQ(r.values["-1/logits"], logits);
  // The final norm's rows through lm_head give the logits.
  const auto& h = r.values["-1/final_norm"];
  std::vector<float> head(logits.size());
  matmul(h.data(), static_cast<int64_t>(ids.size()), m->weights().lm_head, TensorView{}, head.data());
  EXPECT_EQ(head, logits);
  // The last layer's output is what the final norm normalised (no other step in between).
  const auto& x = r.values[std::to_string(m->config().num_layers - 1) + "/layer_out"];
  const int64_t C = m->config().hidden_size;
  double ss = 0;
  for (int64_t c = 0; c < C; ++c) ss += double(x[c]) * x[c];
  const double rstd = 1.0 / std::sqrt(ss / C + m->config().rms_norm_eps);
  const float w0 = m->weights().final_norm.to_f32()[0];
  EXPECT_NEAR(h[0], w0 * x[0] * rstd, 1e-5 * (1 + std::abs(h[0])));
}

// Inference and training run the same block: layer outputs and the loss agree.
void expect_same_forward(const std::string& fixture) {
  auto m = load_f32(fixture);
  const ModelConfig& c = m->config();
  // 12 tokens: under tiny-qwen1's seq_length (24), so its inference-only logn and NTK stay inactive.
  std::vector<int32_t> ids;
  for (int i = 0; i < 12; ++i) ids.push_back((i * 37 + 11) % c.vocab_size);
  Recorded inf, tr;
  m->set_trace(recorder(inf));
  std::vector<float> logits;
  auto cache = m->new_cache();
  m->forward(ids, *cache, logits, /*all_positions=*/true);
  TrainModel tm(c, m->weights());
  tm.set_trace(recorder(tr));
  const double loss = tm.loss_only(ids.data(), ids.data(), 1, static_cast<int64_t>(ids.size()));
  for (int l = 0; l < c.num_layers; ++l)
    for (const char* name : {"attn_norm", "q_rope", "attn_out", "ffn_act", "layer_out"}) {
      const std::string key = std::to_string(l) + "/" + name;
      const auto &a = inf.values.at(key), &b = tr.values.at(key);
      ASSERT_EQ(a.size(), b.size()) << key;
      for (size_t i = 0; i < a.size(); ++i)
        ASSERT_NEAR(a[i], b[i], 1e-5 * (1 + std::abs(a[i]))) << fixture << " " << key << " " << i;
    }
  // Mean next-token cross-entropy from inference's logits = training's loss.
  const int64_t V = c.vocab_size;
  double sum = 0;
  for (size_t t = 0; t + 1 < ids.size(); ++t) {
    const float* row = logits.data() + t * V;
    double mx = row[0], z = 0;
    for (int64_t v = 1; v < V; ++v) mx = std::max(mx, double(row[v]));
    for (int64_t v = 0; v < V; ++v) z += std::exp(double(row[v]) - mx);
    sum += mx + std::log(z) - row[ids[t + 1]];
  }
  EXPECT_NEAR(loss, sum / double(ids.size() - 1), 1e-5) << fixture;
}

TEST(DecoderBlock, TrainingForwardEqualsInferenceQwen1) { expect_same_forward("tiny-qwen1"); }
TEST(DecoderBlock, TrainingForwardEqualsInferenceQwen2) { expect_same_forward("tiny-qwen2"); }
TEST(DecoderBlock, TrainingForwardEqualsInferenceQwen3) { expect_same_forward("tiny-qwen3"); }

}  // namespace
}  // namespace dm
