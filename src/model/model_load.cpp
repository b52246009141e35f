// Model::load: config.json -> ModelConfig through the family loader, checkpoint tensors -> ModelWeights.
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "core/json_file.h"
#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/core/threads.h"
#include "devops_model/model/model.h"
#include "model/family.h"

namespace dm {

namespace fs = std::filesystem;

namespace {

// Q8_0 copy of a (N, K) matrix, row by row in parallel; K is a multiple of kQ8Block.
TensorView quantize_matrix(const TensorView& t, WeightStore& store) {
  const int64_t N = t.shape[0], K = t.shape[1];
  Tensor q(DType::kQ8_0, t.shape);
  auto* dst = static_cast<uint8_t*>(q.data());
  const auto* src = static_cast<const uint8_t*>(t.data);
  parallel_for(N, [&](int64_t r0, int64_t r1) {
    std::vector<float> row(static_cast<size_t>(K));
    for (int64_t r = r0; r < r1; ++r) {
      convert_to_f32(t.dtype, src + dtype_bytes(t.dtype, r * K), row.data(), row.size());
      quantize_q8_0(row.data(), dst + dtype_bytes(DType::kQ8_0, r * K), row.size());
    }
  });
  return store.own(std::move(q));
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::string& dir, const LoadOptions& opts) {
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(cfg_path)) fail(ErrorKind::kIo, cfg_path, ": missing (is ", dir, " a Hugging Face model directory?)");
  nlohmann::json j = read_json_file(cfg_path);
  ModelConfig config = parse_model_config(j, cfg_path);

  CheckpointTensors ckpt = CheckpointTensors::open_dir(dir);
  auto store = std::make_shared<WeightStore>();
  TensorFetch fetch = [&](const std::string& name, const Shape& want) {
    if (!ckpt.has(name)) fail(ErrorKind::kFormat, dir, ": missing tensor \"", name, "\"");
    TensorView t = ckpt.get(name);
    if (t.shape != want)
      fail(ErrorKind::kFormat, ckpt.file_of(name), ": tensor \"", name, "\" has shape ", shape_str(t.shape),
           " but config.json implies ", shape_str(want));
    if (t.dtype != DType::kF32 && t.dtype != DType::kBF16 && t.dtype != DType::kF16)
      fail(ErrorKind::kUnsupported, ckpt.file_of(name), ": tensor \"", name, "\" has dtype ", dtype_name(t.dtype),
           "; weights must be F32, BF16 or F16");
    return t;
  };
  TensorExists exists = [&](const std::string& name) { return ckpt.has(name); };
  ModelWeights w;
  load_family_weights(config, fetch, exists, w);
  if (opts.weights == LoadOptions::WeightDType::kF32) {
    std::map<const void*, TensorView> done;  // tied / fused views convert once
    w.for_each([&](const std::string&, TensorView& t) {
      if (t.empty() || t.dtype == DType::kF32) return;
      auto it = done.find(t.data);
      if (it != done.end() && it->second.shape == t.shape) {
        t = it->second;
        return;
      }
      Tensor f(DType::kF32, t.shape);
      convert_to_f32(t.dtype, t.data, f.f32(), static_cast<size_t>(t.numel()));
      const void* key = t.data;
      t = store->own(std::move(f));
      done[key] = t;
    });
  }
  if (opts.weights == LoadOptions::WeightDType::kQ8_0) {
    // The linear layers only: the embedding is read a row per token (a tied lm_head gets its own copy).
    w.for_each([&](const std::string&, TensorView& t) {
      if (t.empty() || t.shape.size() != 2 || &t == &w.embed) return;
      if (t.shape[1] % kQ8Block != 0) return;  // stays as stored
      const TensorView stored = t;
      t = quantize_matrix(stored, *store);
      ckpt.drop_pages(stored);  // the bf16 pages read while quantizing need not stay resident
    });
  }
  store->keep(std::move(ckpt));
  return std::make_unique<Model>(std::move(config), std::move(store), std::move(w), dir);
}

Model::Model(ModelConfig config, std::shared_ptr<WeightStore> store, ModelWeights weights, std::string dir)
    : config_(std::move(config)),
      dir_(std::move(dir)),
      store_(std::move(store)),
      weights_(std::make_unique<ModelWeights>(std::move(weights))) {}

Model::~Model() = default;

std::unique_ptr<KVCache> Model::new_cache(int max_tokens) const {
  int cap = max_tokens > 0 ? max_tokens : config_.context_length();
  return std::make_unique<KVCache>(config_, cap);
}

}  // namespace dm
