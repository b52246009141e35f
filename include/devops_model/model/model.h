// The model for inference: ONE decoder (model/decoder_block.h, shared with training) for Qwen1
// (QWenLMHeadModel), Qwen2 and Qwen3. Families differ only in their family file (names + switches in
// ModelConfig), never in the forward.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "devops_model/model/config.h"
#include "devops_model/model/decoder_block.h"
#include "devops_model/model/weights.h"

namespace dm {

class KVCache;

struct LoadOptions {
  // Keep weights as stored (bf16 stays bf16, zero-copy), convert every matrix to f32 at load, or quantize
  // the linear layers (attention, MLP, lm_head) at load to `quantize_to`, a ggml block type (Q8_0: about
  // half of bf16's bytes; Q4_K: about a quarter). Embeddings, norms and biases stay as stored; a matrix
  // whose input width is not whole blocks takes llama-quantize's fallback type (Q4_K -> Q5_0, ...) or, when
  // no block fits, stays as stored.
  enum class WeightDType { kAsStored, kF32, kQuantize } weights = WeightDType::kAsStored;
  DType quantize_to = DType::kQ8_0;
};

// True when `path` is a regular file that starts with GGUF's magic.
bool is_gguf_file(const std::string& path);

class Model {
 public:
  // Loads a Hugging Face directory (config.json + safetensors or PyTorch .bin, single or sharded) or a
  // GGUF file (hyper-parameters from its metadata; weights in their stored ggml types, mmap'd).
  static std::unique_ptr<Model> load(const std::string& path, const LoadOptions& opts = {});
  // Builds a model over weights already in memory (random init, training checkpoints).
  Model(ModelConfig config, std::shared_ptr<WeightStore> store, ModelWeights weights, std::string dir = "");
  ~Model();

  const ModelConfig& config() const { return config_; }
  const std::string& dir() const { return dir_; }
  const ModelWeights& weights() const { return *weights_; }
  const WeightStore& store() const { return *store_; }

  // A cache able to hold up to max_tokens positions (<= 0: the model's max_position_embeddings).
  // Memory grows with use, not with the limit.
  std::unique_ptr<KVCache> new_cache(int max_tokens = 0) const;

  // Runs ids at positions cache.size() .. cache.size()+n-1, appending their keys/values to the cache.
  // logits: [n, vocab] when all_positions, else [vocab] for the last position only.
  // Qwen1 dynamic NTK: the alpha is fixed when the cache is empty (prefill) from n and kept after.
  // Error(kCapacity) when the cache cannot take n more tokens; Error(kFormat) naming the model when the
  // last position's logits are not finite (NaN/Inf weights), unless a trace is set (the caller inspects).
  void forward(std::span<const int32_t> ids, KVCache& cache, std::vector<float>& logits,
               bool all_positions = false) const;

  // The final hidden states (after the final norm, before lm_head) of every position of ids:
  // hidden [n, hidden_size]. The same forward as forward() (ids are appended to the cache), without the
  // lm_head; what sentence embeddings pool.
  void hidden_states(std::span<const int32_t> ids, KVCache& cache, std::vector<float>& hidden) const;

  // Several sequences in one pass (serving many chats at once): each item's tokens run against its own
  // cache exactly as forward() would, but every weight matrix is streamed once for all rows, so B decode
  // steps cost about one. Items must use distinct caches. An item gets logits (as forward()) and/or, with
  // `hidden`, the final hidden states of the same rows ([1 or n, hidden_size]); logits may be null then.
  struct BatchItem {
    std::span<const int32_t> ids;
    KVCache* cache = nullptr;
    std::vector<float>* logits = nullptr;
    bool all_positions = false;
    std::vector<float>* hidden = nullptr;
  };
  void forward_batch(std::span<const BatchItem> items) const;

  // The dynamic-NTK alpha a fresh prefill of `len` tokens would use (1 when not applicable).
  double ntk_alpha_for(int len) const;

  // Hook called with every named intermediate value of each forward (see TraceEvent); empty = none.
  // A debugging trace (`devops-model logits --trace`), like llama.cpp's eval callback.
  void set_trace(TraceFn fn) { trace_ = std::move(fn); }

 private:
  void check_finite_logits(const float* row, int64_t V) const;

  ModelConfig config_;
  std::string dir_;
  std::shared_ptr<WeightStore> store_;
  std::unique_ptr<ModelWeights> weights_;
  TraceFn trace_;
};

// Post-RoPE keys and values of every layer, f32, per layer (positions, kv_heads*head_dim).
class KVCache {
 public:
  KVCache(const ModelConfig& c, int max_tokens);
  int size() const { return size_; }
  int capacity() const { return capacity_; }
  // Rolls back to the first n positions (prefix reuse: shared few-shot prompts, chat turns).
  void truncate(int n);
  double ntk_alpha() const { return ntk_alpha_; }
  size_t bytes() const;  // memory held now
  // The token ids whose keys/values the cache holds (positions 0..size()-1).
  const std::vector<int32_t>& ids() const { return ids_; }
  // Length of the longest common prefix of ids() and `tokens`.
  int common_prefix(std::span<const int32_t> tokens) const;
  // Readable from any thread while another one runs the cache (monitoring, e.g. the server's /metrics):
  // bytes of the positions held and bytes allocated, as of the last completed forward/truncate.
  size_t bytes_in_use_relaxed() const;
  size_t bytes_reserved_relaxed() const;

  float* k(int layer, int pos) { return k_[static_cast<size_t>(layer)].data() + static_cast<size_t>(pos) * row_; }
  float* v(int layer, int pos) { return v_[static_cast<size_t>(layer)].data() + static_cast<size_t>(pos) * row_; }

 private:
  friend class Model;
  void reserve(int n);   // grows storage geometrically to hold n positions
  void publish_sizes();  // copies size_ / allocated_ into the monitoring atomics
  int size_ = 0, capacity_ = 0, allocated_ = 0;
  std::atomic<int> mon_size_{0}, mon_allocated_{0};
  size_t row_ = 0;
  double ntk_alpha_ = 1.0;
  std::vector<std::vector<float>> k_, v_;
  std::vector<int32_t> ids_;
};

}  // namespace dm
