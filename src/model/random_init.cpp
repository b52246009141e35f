// Random-weight checkpoints and models of real shapes (the shapes and names come from the families).
#include "devops_model/model/random_init.h"

#include <filesystem>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/core/threads.h"
#include "devops_model/formats/safetensors.h"
#include "model/family.h"

namespace dm {

namespace fs = std::filesystem;

namespace {

// splitmix64: tiny, fast, and splittable by offset so threads fill disjoint ranges reproducibly.
inline uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void fill_uniform(float* out, int64_t n, uint64_t seed, float a) {
  parallel_for(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      double u = static_cast<double>(mix(seed ^ mix(static_cast<uint64_t>(i))) >> 11) * 0x1.0p-53;
      out[i] = static_cast<float>((2.0 * u - 1.0) * a);
    }
  });
}

uint64_t name_seed(uint64_t seed, const std::string& name) {
  uint64_t h = seed;
  for (char ch : name) h = mix(h ^ static_cast<uint8_t>(ch));
  return h;
}

}  // namespace

std::vector<std::string> shape_preset_names() {
  std::vector<std::string> out;
  for (const Family* f : all_families())
    for (const ShapePreset& s : f->shapes) out.push_back(s.name);
  return out;
}

ModelConfig shape_preset(const std::string& name) {
  for (const Family* f : all_families())
    for (const ShapePreset& s : f->shapes)
      if (s.name == name) return s.config;
  std::string all;
  for (const auto& n : shape_preset_names()) all += (all.empty() ? "" : ", ") + n;
  fail(ErrorKind::kInvalidArgument, "unknown shape \"", name, "\"; known: ", all);
}

namespace {
// Fills one tensor's f32 values: norms 1, everything else uniform with std init_std.
void init_tensor(const TensorSpec& sp, uint64_t seed, float init_std, float* out) {
  const int64_t n = shape_numel(sp.shape);
  if (sp.is_norm) {
    std::fill(out, out + n, 1.0f);
  } else {
    fill_uniform(out, n, name_seed(seed, sp.name), init_std * 1.7320508f);  // U(-a, a) has std a/sqrt(3)
  }
}
}  // namespace

void write_random_checkpoint(const ModelConfig& c, const std::string& dir, DType dtype, uint64_t seed, float init_std) {
  c.validate("random checkpoint");
  if (dtype != DType::kF32 && dtype != DType::kBF16 && dtype != DType::kF16)
    fail(ErrorKind::kInvalidArgument, "random checkpoint dtype must be F32, BF16 or F16");
  make_directories(dir);
  std::vector<TensorSpec> specs = checkpoint_tensor_specs(c);
  std::vector<SafetensorsWriter::Spec> ws;
  for (const auto& s : specs) ws.push_back({s.name, dtype, s.shape});
  SafetensorsWriter w((fs::path(dir) / "model.safetensors").string(), ws);
  std::vector<float> f;
  std::vector<uint16_t> h;
  for (const auto& sp : specs) {
    const size_t n = static_cast<size_t>(shape_numel(sp.shape));
    f.resize(n);
    init_tensor(sp, seed, init_std, f.data());
    if (dtype == DType::kF32) {
      w.write_next(f.data(), n * 4);
      continue;
    }
    h.resize(n);
    for (size_t i = 0; i < n; ++i) h[i] = dtype == DType::kBF16 ? f32_to_bf16(f[i]) : f32_to_f16(f[i]);
    w.write_next(h.data(), n * 2);
  }
  w.commit();
  nlohmann::json cfg = config_to_hf_json(c);
  cfg["torch_dtype"] = dtype == DType::kF32 ? "float32" : dtype == DType::kBF16 ? "bfloat16" : "float16";
  write_file_atomic((fs::path(dir) / "config.json").string(), cfg.dump(2) + "\n");
}

std::unique_ptr<Model> random_model(const ModelConfig& c, uint64_t seed, float init_std) {
  c.validate("random model");
  auto store = std::make_shared<WeightStore>();
  std::map<std::string, TensorView> by_name;
  for (const auto& sp : checkpoint_tensor_specs(c)) {
    Tensor t(DType::kF32, sp.shape);
    init_tensor(sp, seed, init_std, t.f32());
    by_name[sp.name] = store->own(std::move(t));
  }
  TensorFetch fetch = [&](const std::string& name, const Shape&) { return by_name.at(name); };
  TensorExists exists = [&](const std::string& name) { return by_name.count(name) != 0; };
  ModelWeights w;
  load_family_weights(c, fetch, exists, w);
  return std::make_unique<Model>(c, store, std::move(w));
}

}  // namespace dm
