#include <algorithm>

#include "devops_model/core/error.h"
#include "devops_model/model/model.h"

namespace dm {

KVCache::KVCache(const ModelConfig& c, int max_tokens)
    : capacity_(max_tokens),
      row_(static_cast<size_t>(c.kv_dim())),
      k_(static_cast<size_t>(c.num_layers)),
      v_(static_cast<size_t>(c.num_layers)) {
  DM_CHECK(max_tokens > 0);
}

void KVCache::truncate(int n) {
  if (n < 0 || n > size_) fail(ErrorKind::kInvalidArgument, "cannot truncate a KV cache of ", size_, " to ", n);
  size_ = n;
  ids_.resize(static_cast<size_t>(n));
  if (n == 0) ntk_alpha_ = 1.0;
  publish_sizes();
}

void KVCache::reserve(int n) {
  if (n <= allocated_) return;
  if (n > capacity_) fail(ErrorKind::kCapacity, "context full: ", n, " positions needed, the limit is ", capacity_);
  int grow = allocated_ * 2 > n ? allocated_ * 2 : n;
  if (grow < 64) grow = 64;
  if (grow > capacity_) grow = capacity_;
  for (auto* side : {&k_, &v_})
    for (auto& layer : *side) layer.resize(static_cast<size_t>(grow) * row_);
  allocated_ = grow;
  publish_sizes();
}

int KVCache::common_prefix(std::span<const int32_t> tokens) const {
  size_t n = std::min(ids_.size(), tokens.size());
  size_t i = 0;
  while (i < n && ids_[i] == tokens[i]) ++i;
  return static_cast<int>(i);
}

void KVCache::publish_sizes() {
  mon_size_.store(size_, std::memory_order_relaxed);
  mon_allocated_.store(allocated_, std::memory_order_relaxed);
}

size_t KVCache::bytes_in_use_relaxed() const {
  return 2 * k_.size() * static_cast<size_t>(mon_size_.load(std::memory_order_relaxed)) * row_ * sizeof(float);
}

size_t KVCache::bytes_reserved_relaxed() const {
  return 2 * k_.size() * static_cast<size_t>(mon_allocated_.load(std::memory_order_relaxed)) * row_ * sizeof(float);
}

size_t KVCache::bytes() const { return 2 * k_.size() * static_cast<size_t>(allocated_) * row_ * sizeof(float); }

}  // namespace dm
