// The family registry and what every family shares: choosing one by architecture, loading weights
// through its tensor bindings, writing them back, tensor specs for random init. No family's names here.
#include "model/family.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>

#include "core/json_file.h"
#include "devops_model/core/error.h"

namespace dm {

const Family& qwen1_family();
const Family& qwen2_family();

const std::vector<const Family*>& all_families() {
  static const std::vector<const Family*> kAll = {&qwen2_family(), &qwen1_family()};
  return kAll;
}

const Family& family_for(const nlohmann::json& cfg, const std::string& path) {
  std::vector<std::string> archs;
  if (cfg.contains("architectures") && cfg["architectures"].is_array()) {
    for (const auto& a : cfg["architectures"])
      if (a.is_string()) archs.push_back(a.get<std::string>());
  }
  for (const Family* f : all_families())
    for (const auto& a : archs)
      for (const auto& s : f->architectures)
        if (a == s) return *f;
  std::string supported;
  for (const Family* f : all_families())
    for (const auto& s : f->architectures) supported += (supported.empty() ? "" : ", ") + s;
  std::string got = archs.empty() ? "(none)" : archs[0];
  fail(ErrorKind::kUnsupported, path, ": unsupported architecture ", got, "; supported: ", supported);
}

const Family& family_of(const ModelConfig& c) {
  for (const Family* f : all_families())
    for (const auto& s : f->architectures)
      if (c.architecture == s) return *f;
  fail(ErrorKind::kUnsupported, "unsupported architecture ", c.architecture);
}

FamilyInfo family_info(const ModelConfig& c) {
  const Family& f = family_of(c);
  return FamilyInfo{f.name, f.chat_format, f.default_system_prompt(c)};
}

ModelConfig parse_model_config(const nlohmann::json& cfg, const std::string& path) {
  if (!cfg.is_object()) fail(ErrorKind::kFormat, path, ": not a JSON object");
  ModelConfig c = family_for(cfg, path).parse_config(cfg, path);
  c.validate(path);
  return c;
}

ModelConfig read_model_config(const std::string& path) { return parse_model_config(read_json_file(path), path); }

ModelConfig parse_model_config_text(const std::string& json_text, const std::string& what) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, false);
  if (j.is_discarded()) fail(ErrorKind::kFormat, what, ": not valid JSON");
  return parse_model_config(j, what);
}

nlohmann::json config_to_hf_json(const ModelConfig& c) { return family_of(c).config_json(c); }

const Family& family_for_gguf(const GgufMetadata& md) {
  const std::string arch = md.get_string("general.architecture");
  std::string supported;
  for (const Family* f : all_families()) {
    for (const auto& a : f->gguf_architectures) {
      if (a == arch) return *f;
      supported += (supported.empty() ? "" : ", ") + a;
    }
  }
  fail(ErrorKind::kUnsupported, md.path, ": unsupported general.architecture \"", arch, "\"; supported: ", supported);
}

ModelConfig parse_gguf_model_config(const GgufMetadata& md, const GgufTensors& t) {
  const Family& f = family_for_gguf(md);
  ModelConfig c = f.parse_gguf(md, md.get_string("general.architecture"), t);
  c.validate(md.path);
  return c;
}

std::string gguf_tensor_name(const Family& f, const std::string& hf_name) {
  const GgufNames& g = f.gguf_names;
  for (const auto& [hf, gguf] : g.globals)
    if (hf_name == hf) return gguf;
  if (hf_name.starts_with(g.layer_prefix)) {
    const size_t dot = hf_name.find('.', g.layer_prefix.size());
    const std::string layer = hf_name.substr(g.layer_prefix.size(), dot - g.layer_prefix.size());
    const std::string rest = dot == std::string::npos ? "" : hf_name.substr(dot + 1);
    for (const auto& [hf, gguf] : g.in_layer)
      if (rest == hf) return "blk." + layer + "." + gguf;
  }
  DM_CHECK(false, "family ", f.name, " has no GGUF name for ", hf_name);
}

std::string gguf_architecture_of(const ModelConfig& c) {
  const Family& f = family_of(c);
  for (size_t i = 0; i < f.architectures.size(); ++i)
    if (f.architectures[i] == c.architecture) return f.gguf_architectures.at(i);
  DM_CHECK(false, "no GGUF architecture for ", c.architecture);
}

namespace {

std::vector<TensorBinding> bindings(const ModelConfig& c, ModelWeights& w) {
  w.layers.resize(static_cast<size_t>(c.num_layers));
  return family_of(c).tensors(c, w);
}

}  // namespace

void check_tensor_count(const ModelConfig& c, size_t tensors_present, const std::string& source) {
  // Tensors of the config without layers and with one: the per-layer count times num_layers, summed in
  // int64 on a config whose layers are never sized (num_layers is bounded by validate()).
  auto count = [&](int layers) {
    ModelConfig one = c;
    one.num_layers = layers;
    ModelWeights scratch;
    int64_t n = 0;
    for (const TensorBinding& b : bindings(one, scratch)) n += b.optional ? 0 : 1;
    return n;
  };
  const int64_t base = count(0), per_layer = count(1) - base;
  const int64_t need = base + per_layer * c.num_layers;
  // Short of a whole layer or more: the layer count is wrong (refused before anything is sized). Fewer
  // missing: the loader names the missing tensor.
  if (need >= static_cast<int64_t>(tensors_present) + std::max<int64_t>(per_layer, 1))
    fail(ErrorKind::kFormat, source, ": \"num_hidden_layers\" ", c.num_layers, " needs ", need,
         " tensors but the checkpoint holds ", tensors_present);
}

void load_family_weights(const ModelConfig& c, const TensorFetch& fetch, const TensorExists& exists, ModelWeights& w,
                         TensorNaming naming) {
  const Family& f = family_of(c);
  for (const TensorBinding& b : bindings(c, w)) {
    const std::string name = naming == TensorNaming::kGguf ? gguf_tensor_name(f, b.name) : b.name;
    if (b.optional && !exists(name)) continue;
    const TensorView t = fetch(name, b.shape);
    int64_t row = 0;
    for (const TensorBinding::Part& part : b.parts) {
      *part.slot = b.parts.size() == 1 ? t : t.rows(row, part.rows);
      row += part.rows;
    }
  }
  if (w.lm_head.empty()) w.lm_head = w.embed;  // tied
}

namespace {

// The binding's parts as one view when they lie back to back in memory, in order, with one dtype.
std::optional<TensorView> contiguous_parts(const TensorBinding& b) {
  const TensorView& first = *b.parts[0].slot;
  const auto* next = static_cast<const uint8_t*>(first.data);
  for (const TensorBinding::Part& part : b.parts) {
    const TensorView& v = *part.slot;
    if (v.data != next || v.dtype != first.dtype || v.shape.at(0) != part.rows) return std::nullopt;
    next += v.nbytes();
  }
  TensorView whole{first.dtype, b.shape, first.data};
  if (static_cast<const uint8_t*>(first.data) + whole.nbytes() != next) return std::nullopt;
  return whole;
}

}  // namespace

std::vector<std::pair<std::string, TensorView>> family_checkpoint_tensors(const ModelConfig& c, const ModelWeights& w,
                                                                          std::vector<Tensor>& keep) {
  ModelWeights slots = w;
  std::vector<std::pair<std::string, TensorView>> out;
  for (const TensorBinding& b : bindings(c, slots)) {
    if (b.optional) continue;
    if (b.parts.size() == 1) {
      out.emplace_back(b.name, *b.parts[0].slot);
      continue;
    }
    // Fused: the parts' rows one after another, in the parts' (common) dtype. Parts loaded as row views of
    // one stored tensor are already that: a view over them, no copy.
    if (const auto whole = contiguous_parts(b)) {
      out.emplace_back(b.name, *whole);
      continue;
    }
    Tensor fused(b.parts[0].slot->dtype, b.shape);
    auto* dst = static_cast<uint8_t*>(fused.data());
    for (const TensorBinding::Part& part : b.parts) {
      const TensorView& v = *part.slot;
      DM_CHECK(v.dtype == fused.dtype() && v.shape.at(0) == part.rows, "fused parts match the binding");
      std::memcpy(dst, v.data, v.nbytes());
      dst += v.nbytes();
    }
    DM_CHECK(dst == static_cast<uint8_t*>(fused.data()) + fused.nbytes(), "fused parts fill the tensor");
    keep.push_back(fused);
    out.emplace_back(b.name, fused.view());
  }
  return out;
}

std::vector<TensorSpec> checkpoint_tensor_specs(const ModelConfig& c) {
  ModelWeights scratch;
  std::vector<TensorSpec> out;
  for (const TensorBinding& b : bindings(c, scratch))
    if (!b.optional) out.push_back({b.name, b.shape, b.is_norm});
  return out;
}

}  // namespace dm
