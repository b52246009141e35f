// Sentence-BERT featuriser: WordPiece ids -> BERT encoder -> pooled embedding per paragraph.
#include <algorithm>
#include <filesystem>

#include "data/featuriser.h"
#include "devops_model/core/threads.h"
#include "devops_model/model/bert_encoder.h"
#include "devops_model/tokenizer/wordpiece.h"

namespace dm::data {

SbertFeaturiser::SbertFeaturiser(const std::string& model_dir, int64_t max_length, int64_t batch_size)
    : model_dir_(std::filesystem::absolute(model_dir).lexically_normal().string()),
      batch_size_(std::max<int64_t>(batch_size, 1)),
      tokenizer_(std::make_unique<WordPieceTokenizer>(WordPieceTokenizer::load_dir(model_dir))),
      encoder_(std::make_unique<BertEncoder>(BertEncoder::load_dir(model_dir))) {
  max_length_ = max_length > 0 ? max_length : tokenizer_->options().model_max_length;
  max_length_ = std::clamp<int64_t>(max_length_, 2, encoder_->config().max_position_embeddings);
}

SbertFeaturiser::~SbertFeaturiser() = default;

int SbertFeaturiser::dimensions() const { return static_cast<int>(encoder_->config().hidden_size); }

Tensor SbertFeaturiser::embed(const std::vector<std::string_view>& texts) const {
  std::vector<std::vector<int32_t>> seqs(texts.size());
  parallel_for(static_cast<int64_t>(texts.size()), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) seqs[i] = tokenizer_->encode(texts[i], max_length_);
  });
  return encoder_->encode(seqs, batch_size_);
}

std::vector<SparseFeatures> SbertFeaturiser::featurise(const std::vector<std::string_view>& texts) const {
  Tensor e = embed(texts);
  const int H = dimensions();
  std::vector<SparseFeatures> out(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    out[i].resize(static_cast<size_t>(H));
    for (int c = 0; c < H; ++c) out[i][c] = {c, e.f32()[i * H + c]};
  }
  return out;
}

nlohmann::json SbertFeaturiser::to_json() const {
  return {{"kind", "sbert"},
          {"model", model_dir_},
          {"dims", dimensions()},
          {"max_length", max_length_},
          {"pooling", encoder_->pooling().mode == BertPooling::kCls ? "cls" : "mean"}};
}

}  // namespace dm::data
