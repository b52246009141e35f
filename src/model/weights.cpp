// ModelWeights slot access by projection, and the store that owns weight memory.
#include "devops_model/model/weights.h"

namespace dm {

const char* proj_name(Proj p) {
  static const char* kNames[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  return kNames[static_cast<int>(p)];
}

TensorView& LayerWeights::proj(Proj p) {
  switch (p) {
    case Proj::kQ: return q;
    case Proj::kK: return k;
    case Proj::kV: return v;
    case Proj::kO: return o;
    case Proj::kGate: return gate;
    case Proj::kUp: return up;
    default: return down;
  }
}

const TensorView& LayerWeights::proj(Proj p) const { return const_cast<LayerWeights*>(this)->proj(p); }

const TensorView& LayerWeights::proj_bias(Proj p) const {
  static const TensorView kNone;
  switch (p) {
    case Proj::kQ: return q_bias;
    case Proj::kK: return k_bias;
    case Proj::kV: return v_bias;
    default: return kNone;
  }
}

Tensor* WeightStore::owner_of(const TensorView& v) {
  for (auto& t : owned_)
    if (t.data() == v.data) return &t;
  return nullptr;
}

}  // namespace dm
