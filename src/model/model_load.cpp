// Model::load: config.json -> ModelConfig through the family loader, checkpoint tensors -> ModelWeights.
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/json_file.h"
#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/core/quant.h"
#include "devops_model/core/threads.h"
#include "devops_model/formats/gguf.h"
#include "devops_model/model/gguf_export.h"
#include "devops_model/model/model.h"
#include "model/family.h"

namespace dm {

namespace fs = std::filesystem;

namespace {

// A block-type copy of a (N, K) matrix, row by row in parallel; K is whole blocks of `to`.
TensorView quantize_matrix(const TensorView& t, DType to, WeightStore& store) {
  const int64_t N = t.shape[0], K = t.shape[1];
  Tensor q(to, t.shape);
  auto* dst = static_cast<uint8_t*>(q.data());
  const auto* src = static_cast<const uint8_t*>(t.data);
  parallel_for(N, [&](int64_t r0, int64_t r1) {
    std::vector<float> row(static_cast<size_t>(K));
    for (int64_t r = r0; r < r1; ++r) {
      convert_to_f32(t.dtype, src + dtype_bytes(t.dtype, r * K), row.data(), row.size());
      quantize_row(to, row.data(), dst + dtype_bytes(to, r * K), K);
    }
  });
  return store.own(std::move(q));
}

// The config and tensors of a Hugging Face directory (config.json + weight files) or of one GGUF file
// (everything from its metadata and tensor names).
struct Checkpoint {
  ModelConfig config;
  CheckpointTensors tensors;
  TensorNaming naming = TensorNaming::kHf;
  std::string config_source;  // named when a tensor's shape disagrees with the config
};

Checkpoint open_checkpoint(const std::string& path) {
  if (is_gguf_file(path)) {
    // Opened before the aggregate is built: GCC 12 destroys an aggregate's finished members twice when a
    // later member's initialiser throws (a bad file's error would end in a double free).
    CheckpointTensors tensors = CheckpointTensors::open_file(path);
    Checkpoint c{{}, std::move(tensors), TensorNaming::kGguf, path + "'s metadata"};
    const auto* g = dynamic_cast<const GgufFile*>(c.tensors.sources().at(0).get());
    DM_CHECK(g != nullptr, "a GGUF file opens as a GgufFile");
    GgufTensors t{[g](const std::string& n) { return g->has(n); },
                  [g](const std::string& n) { return g->get(n).shape; }};
    c.config = parse_gguf_model_config(g->metadata(), t);
    return c;
  }
  const std::string cfg_path = (fs::path(path) / "config.json").string();
  if (!fs::exists(cfg_path))
    fail(ErrorKind::kIo, cfg_path, ": missing (is ", path, " a Hugging Face model directory or a .gguf file?)");
  nlohmann::json j = read_json_file(cfg_path);
  ModelConfig config = parse_model_config(j, cfg_path);
  CheckpointTensors tensors = CheckpointTensors::open_dir(path);
  return Checkpoint{std::move(config), std::move(tensors), TensorNaming::kHf, "config.json"};
}

}  // namespace

bool is_gguf_file(const std::string& path) {
  if (!fs::is_regular_file(path)) return false;
  std::ifstream in(path, std::ios::binary);
  char head[4] = {};
  in.read(head, 4);
  return in.gcount() == 4 && GgufFile::sniff(reinterpret_cast<const uint8_t*>(head), 4);
}

std::unique_ptr<Model> Model::load(const std::string& path, const LoadOptions& opts) {
  Checkpoint cp = open_checkpoint(path);
  ModelConfig config = std::move(cp.config);
  CheckpointTensors& ckpt = cp.tensors;
  auto store = std::make_shared<WeightStore>();
  TensorFetch fetch = [&](const std::string& name, const Shape& want) {
    if (!ckpt.has(name)) fail(ErrorKind::kFormat, path, ": missing tensor \"", name, "\"");
    TensorView t = ckpt.get(name);
    if (t.shape != want)
      fail(ErrorKind::kFormat, ckpt.file_of(name), ": tensor \"", name, "\" has shape ", shape_str(t.shape), " but ",
           cp.config_source, " implies ", shape_str(want));
    if (t.dtype != DType::kF32 && t.dtype != DType::kBF16 && t.dtype != DType::kF16 && !is_block_type(t.dtype))
      fail(ErrorKind::kUnsupported, ckpt.file_of(name), ": tensor \"", name, "\" has dtype ", dtype_name(t.dtype),
           "; weights must be F32, BF16, F16 or a ggml block type");
    if (is_block_type(t.dtype) && t.shape.size() != 2)
      fail(ErrorKind::kUnsupported, ckpt.file_of(name), ": tensor \"", name, "\": a ", dtype_name(t.dtype),
           " norm or bias is not supported");
    return t;
  };
  TensorExists exists = [&](const std::string& name) { return ckpt.has(name); };
  check_tensor_count(config, ckpt.names().size(),
                     cp.config_source == "config.json" ? path + "/config.json" : cp.config_source);
  ModelWeights w;
  load_family_weights(config, fetch, exists, w, cp.naming);
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
  if (opts.weights == LoadOptions::WeightDType::kQuantize) {
    if (!is_block_type(opts.quantize_to))
      fail(ErrorKind::kInvalidArgument, "quantizing at load needs a block type, not ", dtype_name(opts.quantize_to));
    // The linear layers only: the embedding is read a row per token (a tied lm_head gets its own copy).
    w.for_each([&](const std::string&, TensorView& t) {
      if (t.empty() || t.shape.size() != 2 || &t == &w.embed) return;
      const DType to = block_type_for_row(opts.quantize_to, t.shape[1]);
      if (!is_block_type(to) || t.dtype == to) return;  // stays as stored
      const TensorView stored = t;
      t = quantize_matrix(stored, to, *store);
      ckpt.drop_pages(stored);  // the bf16 pages read while quantizing need not stay resident
    });
  }
  store->keep(std::move(ckpt));
  return std::make_unique<Model>(std::move(config), std::move(store), std::move(w), path);
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
