// LoRA adapters of a TrainModel: which modules a target names (PEFT's rules, in the module names the
// model's family file gives), adapter tensors and their per-layer slots, and folding them into the base
// weights. Projections that share a module name (a fused q/k/v module such as Qwen1's) share one adapter:
// a single A (r, C) and a B of (Q + 2*KVD, r) whose row blocks feed q, k and v, as PEFT builds it.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

#include "devops_model/core/error.h"
#include "model/family.h"
#include "train_impl.h"

namespace dm {

namespace {

// A module's name without its "<stack>.<layer>." prefix, e.g. "self_attn.q_proj".
std::string module_kind(const ModelConfig& c, Proj p) {
  const std::string m = lora_module(c, 0, p);
  return m.substr(m.find(".0.") + 3);
}

// PEFT: a list entry matches a module whose name equals it or ends with "." + it.
bool suffix_match(const std::string& module, const std::string& t) {
  return module == t ||
         (module.size() > t.size() && module.ends_with(t) && module[module.size() - t.size() - 1] == '.');
}

// PEFT's string form of target_modules: re.fullmatch(pattern, module name).
class FullMatch {
 public:
  explicit FullMatch(const std::string& pattern) {
    int err = 0;
    PCRE2_SIZE at = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                          PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF, &err, &at, nullptr);
    if (!code_) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      fail(ErrorKind::kInvalidArgument, "lora target regex '", pattern, "' at ", at, ": ",
           reinterpret_cast<const char*>(msg));
    }
    data_ = pcre2_match_data_create_from_pattern(code_, nullptr);
  }
  ~FullMatch() {
    pcre2_match_data_free(data_);
    pcre2_code_free(code_);
  }
  FullMatch(const FullMatch&) = delete;
  FullMatch& operator=(const FullMatch&) = delete;
  bool operator()(const std::string& s) const {
    return pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, 0, data_, nullptr) >= 0;
  }

 private:
  pcre2_code* code_ = nullptr;
  pcre2_match_data* data_ = nullptr;
};

}  // namespace

std::string lora_module(const ModelConfig& c, int layer, Proj p) { return family_of(c).lora_module(layer, p); }

std::vector<std::string> lora_target_modules(const ModelConfig& c, const std::vector<std::string>& enabled) {
  // The shortest dotted suffix of each enabled module's name (layer number dropped) that matches no
  // module left out, so PEFT re-creates exactly these modules: a leaf name shared by two modules (one
  // attention, one MLP projection) alone would also catch the one that was not trained.
  std::vector<std::string> kinds;
  for (int p = 0; p < static_cast<int>(Proj::kCount); ++p) {
    const std::string kind = module_kind(c, static_cast<Proj>(p));
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) kinds.push_back(kind);
  }
  auto is_on = [&](const std::string& kind) {
    return std::find(enabled.begin(), enabled.end(), kind) != enabled.end();
  };
  std::vector<std::string> out;
  for (const std::string& kind : enabled) {
    std::string pick = kind;
    for (size_t dot = kind.rfind('.'); dot != std::string::npos;
         dot = dot == 0 ? std::string::npos : kind.rfind('.', dot - 1)) {
      const std::string cand = kind.substr(dot + 1);
      if (std::all_of(kinds.begin(), kinds.end(),
                      [&](const std::string& k) { return !suffix_match(k, cand) || is_on(k); })) {
        pick = cand;
        break;
      }
    }
    if (std::find(out.begin(), out.end(), pick) == out.end()) out.push_back(pick);
  }
  return out;
}

void TrainModel::enable_lora(const LoraConfig& cfg, uint64_t seed) {
  if (cfg.rank <= 0) fail(ErrorKind::kInvalidArgument, "lora_rank must be > 0");
  if (cfg.dropout < 0.f || cfg.dropout >= 1.f) fail(ErrorKind::kInvalidArgument, "lora_dropout must be in [0, 1)");
  // Which projections of which layer are on, by their full module names (a regex may pick layers).
  const size_t P = static_cast<size_t>(Proj::kCount);
  std::vector<std::vector<bool>> on(static_cast<size_t>(config_.num_layers), std::vector<bool>(P, false));
  std::vector<std::string> leaves;
  for (int p = 0; p < static_cast<int>(Proj::kCount); ++p) {
    const std::string m = lora_module(config_, 0, static_cast<Proj>(p));
    const std::string leaf = m.substr(m.rfind('.') + 1);
    if (std::find(leaves.begin(), leaves.end(), leaf) == leaves.end()) leaves.push_back(leaf);
  }
  std::unique_ptr<FullMatch> re;
  if (!cfg.targets_regex.empty()) re = std::make_unique<FullMatch>(cfg.targets_regex);
  for (int l = 0; l < config_.num_layers; ++l)
    for (int p = 0; p < static_cast<int>(Proj::kCount); ++p)
      if (re && (*re)(lora_module(config_, l, static_cast<Proj>(p))))
        on[static_cast<size_t>(l)][static_cast<size_t>(p)] = true;
  for (const std::string& t : cfg.targets) {
    bool found = false;
    for (int l = 0; l < config_.num_layers; ++l)
      for (int p = 0; p < static_cast<int>(Proj::kCount); ++p)
        if (t == "all" || suffix_match(lora_module(config_, l, static_cast<Proj>(p)), t)) {
          on[static_cast<size_t>(l)][static_cast<size_t>(p)] = true;
          found = true;
        }
    if (!found) {
      std::string list;
      for (const std::string& l : leaves) list += (list.empty() ? "" : ", ") + l;
      fail(ErrorKind::kInvalidArgument, "lora_target: no module of this ", family_of(config_).name, " model is named '",
           t, "' (its linear modules: ", list, ", or all)");
    }
  }
  if (std::none_of(on.begin(), on.end(),
                   [](const std::vector<bool>& l) { return std::find(l.begin(), l.end(), true) != l.end(); }))
    fail(ErrorKind::kInvalidArgument, "lora_target: no module selected");
  lora_cfg_ = cfg;
  lora_on_ = true;
  lora_.clear();
  std::mt19937_64 rng(seed);
  const int64_t C = config_.hidden_size, Q = config_.q_dim(), KVD = config_.kv_dim(), F = config_.intermediate_size;
  auto dims = [&](Proj pj) -> std::pair<int64_t, int64_t> {  // (in, out)
    if (pj == Proj::kQ) return {C, Q};
    if (pj == Proj::kK || pj == Proj::kV) return {C, KVD};
    if (pj == Proj::kO) return {Q, C};
    if (pj == Proj::kDown) return {F, C};
    return {C, F};
  };
  for (int l = 0; l < config_.num_layers; ++l) {
    auto& slots = impl_->lora[static_cast<size_t>(l)];
    for (auto& s : slots) s = LoraSlot{};
    for (int p = 0; p < static_cast<int>(Proj::kCount); ++p) {
      const Proj pj = static_cast<Proj>(p);
      if (!on[static_cast<size_t>(l)][static_cast<size_t>(p)] || slots[static_cast<size_t>(p)].a >= 0) continue;
      // This projection and any later ones of the same module (a fused q/k/v module) share one adapter.
      const std::string m = lora_module(config_, l, pj);
      const int64_t in = dims(pj).first;
      int64_t rows = 0;
      for (int q = p; q < static_cast<int>(Proj::kCount); ++q) {
        const Proj qj = static_cast<Proj>(q);
        if (lora_module(config_, l, qj) != m) continue;
        if (!on[static_cast<size_t>(l)][static_cast<size_t>(q)])
          fail(ErrorKind::kInvalidArgument, "lora_target: ", proj_name(qj), " is part of ", m,
               ": target the whole module");
        slots[static_cast<size_t>(q)] = LoraSlot{static_cast<int>(lora_.size()), rows, p};
        rows += dims(qj).second;
      }
      Param a{m + ".lora_A.weight", Tensor::zeros_f32({cfg.rank, in}), Tensor::zeros_f32({cfg.rank, in}), false};
      Param b{m + ".lora_B.weight", Tensor::zeros_f32({rows, cfg.rank}), Tensor::zeros_f32({rows, cfg.rank}), false};
      // kaiming_uniform_(a=sqrt(5)) on (rank, in): bound = 1 / sqrt(in)
      const float bound = 1.0f / std::sqrt(static_cast<float>(in));
      std::uniform_real_distribution<float> u(-bound, bound);
      for (int64_t k = 0; k < a.numel(); ++k) a.v()[k] = u(rng);
      lora_.push_back(std::move(a));
      lora_.push_back(std::move(b));
    }
  }
}

std::vector<std::string> TrainModel::lora_target_modules() const {
  std::vector<std::string> enabled;
  if (!lora_on_) return enabled;
  if (!lora_cfg_.targets_regex.empty()) return {};  // the regex itself is written back (it may pick layers)
  for (int p = 0; p < static_cast<int>(Proj::kCount); ++p)
    if (impl_->lora[0][static_cast<size_t>(p)].a >= 0) {
      const std::string kind = module_kind(config_, static_cast<Proj>(p));
      if (std::find(enabled.begin(), enabled.end(), kind) == enabled.end()) enabled.push_back(kind);
    }
  return dm::lora_target_modules(config_, enabled);
}

void TrainModel::merge_lora() {
  if (!lora_on_) return;
  if (frozen_source_)
    fail(ErrorKind::kInvalidArgument, "adapters trained over a frozen (quantized) base merge into f32 weights: load "
         "the base as f32 and merge there");
  // W[out, in] += (alpha / r) * B[row0 + out, r] @ A[r, in], each element accumulated in double.
  const double scale = static_cast<double>(lora_cfg_.alpha) / lora_cfg_.rank;
  for (int l = 0; l < config_.num_layers; ++l) {
    LayerWeights& w = w_.layers[static_cast<size_t>(l)];
    for (int p = 0; p < static_cast<int>(Proj::kCount); ++p) {
      const LoraSlot& s = impl_->lora[static_cast<size_t>(l)][static_cast<size_t>(p)];
      if (s.a < 0) continue;
      const Param& A = lora_[static_cast<size_t>(s.a)];
      const Param& B = lora_[static_cast<size_t>(s.a) + 1];
      const TensorView& W = w.proj(static_cast<Proj>(p));
      const int64_t r = A.value.shape()[0], in = A.value.shape()[1], out = W.shape[0];
      float* wd = const_cast<float*>(W.f32());  // w_ views the owned master copies
      const float* a = A.value.f32();
      const float* b = B.value.f32() + s.row0 * r;
      for (int64_t o = 0; o < out; ++o)
        for (int64_t i = 0; i < in; ++i) {
          double acc = 0;
          for (int64_t j = 0; j < r; ++j) acc += static_cast<double>(b[o * r + j]) * a[j * in + i];
          wd[o * in + i] += static_cast<float>(scale * acc);
        }
    }
  }
}

}  // namespace dm
