// llama-quantize's presets and its per-tensor type choices (llama.cpp src/llama-quant.cpp,
// llama_tensor_get_type without imatrix, tensor_type_fallback), for the dense Qwen families we write:
// the output / tied embedding matrix gets Q6_K, the presets ending in _M or _L give attn_v (and Qwen1's
// fused attn_qkv, which llama.cpp treats as attn_v) and ffn_down more bits in some layers, Q2_K and Q3_K_M
// lift attn_output, and a row that is not whole blocks falls back to a smaller block, then to F16.
#include <algorithm>
#include <cctype>
#include <cstdio>

#include "devops_model/core/error.h"
#include "devops_model/model/gguf_export.h"

namespace dm {

namespace {

// llama_ftype numbers (general.file_type).
const std::vector<GgufPreset>& presets() {
  static const std::vector<GgufPreset> p = {
      {"F32", DType::kF32, 0},      {"F16", DType::kF16, 1},      {"BF16", DType::kBF16, 32},
      {"Q8_0", DType::kQ8_0, 7},    {"Q4_0", DType::kQ4_0, 2},    {"Q4_1", DType::kQ4_1, 3},
      {"Q5_0", DType::kQ5_0, 8},    {"Q5_1", DType::kQ5_1, 9},    {"Q2_K", DType::kQ2_K, 10},
      {"Q2_K_S", DType::kQ2_K, 21}, {"Q3_K_S", DType::kQ3_K, 11}, {"Q3_K_M", DType::kQ3_K, 12},
      {"Q3_K_L", DType::kQ3_K, 13}, {"Q4_K_S", DType::kQ4_K, 14}, {"Q4_K_M", DType::kQ4_K, 15},
      {"Q5_K_S", DType::kQ5_K, 16}, {"Q5_K_M", DType::kQ5_K, 17}, {"Q6_K", DType::kQ6_K, 18},
  };
  return p;
}

enum class Category { kTokenEmbd, kOutput, kAttnQ, kAttnK, kAttnV, kAttnOutput, kFfnUp, kFfnGate, kFfnDown, kOther };

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

Category category_of(const std::string& n) {
  if (n == "output.weight") return Category::kOutput;
  if (n == "token_embd.weight") return Category::kTokenEmbd;
  // llama.cpp gives a fused q/k/v matrix attn_v's rules (it holds the values).
  if (contains(n, "attn_qkv.weight") || contains(n, "attn_v.weight")) return Category::kAttnV;
  if (contains(n, "attn_k.weight")) return Category::kAttnK;
  if (contains(n, "attn_q.weight")) return Category::kAttnQ;
  if (contains(n, "attn_output.weight")) return Category::kAttnOutput;
  if (contains(n, "ffn_up")) return Category::kFfnUp;
  if (contains(n, "ffn_gate")) return Category::kFfnGate;
  if (contains(n, "ffn_down")) return Category::kFfnDown;
  return Category::kOther;
}

// Matrices ("*.weight", 2-D, not a norm) are converted; everything else is written as F32.
bool is_matrix(const GgufOutTensor& t) {
  const std::string& n = t.name;
  return t.src.shape.size() == 2 && n.size() >= 6 && n.compare(n.size() - 6, 6, "weight") == 0 &&
         !contains(n, "_norm.weight");
}

// llama.cpp's use_more_bits: the first and last eighth of the layers and every third one between.
bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

struct PlanState {
  const std::string& preset;
  int n_gqa = 1;
  int n_layer = 0;
  int n_attn_v = 0, i_attn_v = 0, i_ffn_down = 0;
  bool tied = true;  // no output.weight: token_embd is also the output matrix
};

DType attn_v_type(PlanState& s, DType t) {
  const std::string& p = s.preset;
  if (p == "Q2_K") t = s.n_gqa >= 4 ? DType::kQ4_K : DType::kQ3_K;
  else if (p == "Q2_K_S" && s.n_gqa >= 4) t = DType::kQ4_K;
  else if (p == "Q3_K_M") t = s.i_attn_v < 2 ? DType::kQ5_K : DType::kQ4_K;
  else if (p == "Q3_K_L") t = DType::kQ5_K;
  else if ((p == "Q4_K_M" || p == "Q5_K_M") && use_more_bits(s.i_attn_v, s.n_attn_v)) t = DType::kQ6_K;
  else if (p == "Q4_K_S" && s.i_attn_v < 4) t = DType::kQ5_K;
  ++s.i_attn_v;
  return t;
}

DType ffn_down_type(PlanState& s, DType t) {
  const std::string& p = s.preset;
  const int i = s.i_ffn_down++, n = s.n_layer;
  if (p == "Q2_K") return DType::kQ3_K;
  if (p == "Q2_K_S") return i < n / 8 ? DType::kQ4_K : t;
  if (p == "Q3_K_M") return i < n / 16 ? DType::kQ5_K : DType::kQ4_K;  // (Falcon's exception aside)
  if (p == "Q3_K_L") return DType::kQ5_K;
  if (p == "Q4_K_M" || p == "Q5_K_M") return use_more_bits(i, n) ? DType::kQ6_K : t;
  if (p == "Q4_K_S") return i < n / 8 ? DType::kQ5_K : t;
  return t;
}

// llama_tensor_get_type_impl for one matrix, in write order (the layer counters advance as it goes).
DType rule_type(PlanState& s, const GgufOutTensor& t, DType base) {
  const Category c = category_of(t.name);
  if (c == Category::kOutput || (s.tied && c == Category::kTokenEmbd)) {
    if (t.src.shape.back() % dtype_block_size(base) != 0) return DType::kQ8_0;
    return base == DType::kQ8_0 ? base : DType::kQ6_K;
  }
  switch (c) {
    case Category::kAttnV: return attn_v_type(s, base);
    case Category::kFfnDown: return ffn_down_type(s, base);
    case Category::kAttnOutput:
      if (s.preset == "Q2_K") return DType::kQ3_K;
      if (s.preset == "Q3_K_M") return DType::kQ4_K;
      if (s.preset == "Q3_K_L") return DType::kQ5_K;
      return base;
    default: return base;
  }
}

// tensor_type_fallback: rows must be whole blocks of the chosen type.
DType fallback_type(DType t, int64_t row, const std::string& name, int* fallbacks) {
  if (row % dtype_block_size(t) == 0) return t;
  ++*fallbacks;
  switch (t) {
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K: return block_type_for_row(t, row);
    default: fail(ErrorKind::kUnsupported, name, ": rows of ", row, " values are not whole ", dtype_name(t), " blocks");
  }
}

int layer_of(const std::string& name) {
  int layer = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &layer) != 1) return -1;
  return layer;
}

}  // namespace

DType block_type_for_row(DType want, int64_t row) {
  if (row % dtype_block_size(want) == 0) return want;
  DType f = DType::kF16;
  switch (want) {
    case DType::kQ2_K:
    case DType::kQ3_K: f = DType::kQ4_0; break;
    case DType::kQ4_K: f = DType::kQ5_0; break;
    case DType::kQ5_K: f = DType::kQ5_1; break;
    case DType::kQ6_K: f = DType::kQ8_0; break;
    default: break;
  }
  return row % dtype_block_size(f) == 0 ? f : DType::kF16;
}

const GgufPreset& gguf_preset(std::string_view name) {
  std::string up(name);
  for (char& ch : up) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  for (const GgufPreset& p : presets())
    if (p.name == up) return p;
  std::string all;
  for (const auto& n : gguf_preset_names()) all += (all.empty() ? "" : ", ") + n;
  fail(ErrorKind::kInvalidArgument, "unknown GGUF type \"", name, "\" (one of ", all, ")");
}

std::vector<std::string> gguf_preset_names() {
  std::vector<std::string> out;
  for (const GgufPreset& p : presets()) out.push_back(p.name);
  return out;
}

int plan_gguf_types(std::vector<GgufOutTensor>& tensors, const GgufPreset& preset, const GgufPlanModel& model) {
  std::stable_sort(tensors.begin(), tensors.end(), [](const GgufOutTensor& a, const GgufOutTensor& b) {
    const int la = layer_of(a.name), lb = layer_of(b.name);
    return la != lb ? la < lb : a.name < b.name;
  });
  PlanState s{preset.name};
  s.n_layer = model.n_layer;
  s.n_gqa = model.n_head_kv > 0 ? model.n_head / model.n_head_kv : 1;
  for (const GgufOutTensor& t : tensors) {
    if (category_of(t.name) == Category::kAttnV) ++s.n_attn_v;
    if (t.name == "output.weight") s.tied = false;
  }
  const bool quantized = is_block_type(preset.base);
  int fallbacks = 0;
  for (GgufOutTensor& t : tensors) {
    if (!is_matrix(t)) {
      t.type = DType::kF32;
      continue;
    }
    if (!quantized) {
      t.type = preset.base;
      continue;
    }
    t.type = fallback_type(rule_type(s, t, preset.base), t.src.shape.back(), t.name, &fallbacks);
  }
  return fallbacks;
}

}  // namespace dm
