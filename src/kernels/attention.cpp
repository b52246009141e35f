// Causal grouped-query attention (forward), for inference over the KV cache and for training (which keeps
// the log-sum-exp). Shape legend: q (T, H, D), k/v (S, KV, D), out (T, H, D), lse (H, T); query head h
// reads kv head h / (H / KV). The inner loops (scores, softmax row, weighted sum of values) run per ISA
// (kernels/attention_isa.h, kernels/forward_exp_isa.h: scalar twins, AVX-512), chosen like the matmuls by
// active_isa().
#include <algorithm>
#include <cmath>
#include <vector>

#include "devops_model/core/threads.h"
#include "devops_model/kernels/matmul.h"
#include "devops_model/kernels/ops.h"
#include "kernels/attention_isa.h"
#include "kernels/forward_exp_isa.h"

namespace dm {

namespace kernels {

void attention_scores_scalar(const float* q, const float* k, int64_t kv_stride, int64_t D, int64_t n, float scale,
                             float* p) {
  for (int64_t s = 0; s < n; ++s) {
    const float* kv = k + s * kv_stride;
    float dot = 0.0f;
    for (int64_t d = 0; d < D; ++d) dot += q[d] * kv[d];
    p[s] = dot * scale;
  }
}

void attention_accumulate_scalar(const float* p, float weight, const float* v, int64_t kv_stride, int64_t D, int64_t n,
                                 float* o) {
  for (int64_t d = 0; d < D; ++d) o[d] = 0.0f;
  for (int64_t s = 0; s < n; ++s) {
    const float* vv = v + s * kv_stride;
    const float ps = p[s] * weight;
    for (int64_t d = 0; d < D; ++d) o[d] += ps * vv[d];
  }
}

double softmax_row_scalar(float* p, int64_t n, float* max_out) {
  float mx = -INFINITY;
  for (int64_t s = 0; s < n; ++s) mx = p[s] > mx ? p[s] : mx;
  double sum = 0.0;
  for (int64_t s = 0; s < n; ++s) {
    p[s] = std::exp(p[s] - mx);
    sum += p[s];
  }
  *max_out = mx;
  return sum;
}

}  // namespace kernels

namespace {

// Queries that share a KV head, as a block for kernels/attention_block_avx512.cpp: row i at q + i * ldq sees keys
// [0, n0 + i * step); its output goes to out + i * ldo, its log-sum-exp (when lse is set) to lse[i * lse_stride].
struct QueryRows {
  const float* q;
  int64_t ldq, rows, n0, step;
  float* out;
  int64_t ldo;
  float* lse;
  int64_t lse_stride;
};

// Scores, softmax rows, weighted values; `scores` and `inv` are the caller's scratch.
void attend_rows(const QueryRows& r, const float* k, const float* v, int64_t kv_stride, int64_t D, float scale,
                 std::vector<float>& scores, std::vector<float>& inv) {
  const int64_t lds = (r.n0 + (r.rows - 1) * r.step + 15) & ~int64_t{15};
  scores.resize(static_cast<size_t>(r.rows * lds));
  inv.resize(static_cast<size_t>(r.rows));
  kernels::attention_block_scores_avx512(r.q, r.ldq, r.rows, k, kv_stride, D, r.n0, r.step, scale, scores.data(), lds);
  for (int64_t i = 0; i < r.rows; ++i) {
    float mx = 0.0f;
    const double sum = kernels::softmax_row_avx512(scores.data() + i * lds, r.n0 + i * r.step, &mx);
    inv[static_cast<size_t>(i)] = static_cast<float>(1.0 / sum);
    if (r.lse) r.lse[i * r.lse_stride] = mx + static_cast<float>(std::log(sum));
  }
  kernels::attention_block_values_avx512(scores.data(), lds, r.rows, inv.data(), v, kv_stride, D, r.n0, r.step, r.out,
                                         r.ldo);
}

// 16+ queries (a prompt): each (head, block of up to 64 consecutive queries), causal. Blocks are visited zig-zag
// (first, last, second, ...) so that each worker's contiguous chunk holds early and late blocks alike.
void attention_blocks(const float* q, int64_t T, int64_t H, int64_t KV, int64_t D, const float* k, const float* v,
                      int64_t kv_stride, int64_t pos0, float scale, float* out, float* lse) {
  const int64_t group = H / KV;
  // 64 queries a block; fewer for long caches, keeping a block's scores within 4 MiB.
  const int64_t block = std::clamp<int64_t>((int64_t{1} << 20) / (pos0 + T), 16, 64);
  const int64_t blocks = (T + block - 1) / block;
  parallel_for(blocks * H, [&](int64_t b, int64_t e) {
    std::vector<float> scores, inv;
    for (int64_t item = b; item < e; ++item) {
      const int64_t order = item / H, h = item % H, kvh = h / group;
      const int64_t blk = order % 2 == 0 ? order / 2 : blocks - 1 - order / 2;
      const int64_t t0 = blk * block;
      const QueryRows rows{q + (t0 * H + h) * D, H * D, std::min(block, T - t0), pos0 + t0 + 1, 1,
                           out + (t0 * H + h) * D, H * D, lse ? lse + h * T + t0 : nullptr, 1};
      attend_rows(rows, k + kvh * D, v + kvh * D, kv_stride, D, scale, scores, inv);
    }
  });
}

// Fewer queries (decode steps): each (position, KV head) with its group of query heads as one block, which reads
// the position's keys and values once for the group. Groups split into parts only where positions x KV heads
// would leave workers idle.
void attention_groups(const float* q, int64_t T, int64_t H, int64_t KV, int64_t D, const float* k, const float* v,
                      int64_t kv_stride, int64_t pos0, float scale, float* out, float* lse) {
  const int64_t group = H / KV;
  const int64_t parts = std::clamp<int64_t>((num_threads() + T * KV - 1) / (T * KV), 1, group);
  const int64_t per_part = (group + parts - 1) / parts;
  parallel_for(T * KV * parts, [&](int64_t b, int64_t e) {
    std::vector<float> scores, inv;
    for (int64_t item = b; item < e; ++item) {
      const int64_t t = item / (KV * parts), kvh = item / parts % KV, part = item % parts;
      const int64_t h0 = kvh * group + part * per_part, heads = std::min(per_part, (kvh + 1) * group - h0);
      if (heads <= 0) continue;
      const QueryRows rows{q + (t * H + h0) * D, D, heads, pos0 + t + 1, 0,
                           out + (t * H + h0) * D, D, lse ? lse + h0 * T + t : nullptr, T};
      attend_rows(rows, k + kvh * D, v + kvh * D, kv_stride, D, scale, scores, inv);
    }
  });
}

// Queries from this many on take the block path over consecutive queries.
constexpr int64_t kBlockQueries = 16;

}  // namespace

void attention(const float* q, int64_t T, int64_t H, int64_t KV, int64_t D, const float* k, const float* v,
               int64_t kv_stride, int64_t pos0, float scale, float* out, float* lse) {
  const int64_t group = H / KV;
  const int64_t S = pos0 + T;
  if (static_cast<int>(active_isa()) >= static_cast<int>(Isa::kAvx512)) {
    if (T >= kBlockQueries) return attention_blocks(q, T, H, KV, D, k, v, kv_stride, pos0, scale, out, lse);
    return attention_groups(q, T, H, KV, D, k, v, kv_stride, pos0, scale, out, lse);
  }
  // Scalar: one query at a time (the AVX-512 paths' twin).
  auto* scores = kernels::attention_scores_scalar;
  auto* accumulate = kernels::attention_accumulate_scalar;
  auto* softmax_row = kernels::softmax_row_scalar;
  // Query t costs pos0 + t + 1 keys: visit queries zig-zag (0, T-1, 1, T-2, ...) so that each worker's
  // contiguous chunk holds early and late queries alike (causal work is otherwise back-loaded).
  parallel_for(T * H, [&](int64_t b, int64_t e) {
    std::vector<float> p(static_cast<size_t>(S));
    for (int64_t th = b; th < e; ++th) {
      const int64_t order = th / H, h = th % H, kvh = h / group;
      const int64_t t = order % 2 == 0 ? order / 2 : T - 1 - order / 2;
      const float* qv = q + (t * H + h) * D;
      const int64_t n = pos0 + t + 1;  // causal: keys 0..pos0+t
      scores(qv, k + kvh * D, kv_stride, D, n, scale, p.data());
      float mx = 0.0f;
      const double sum = softmax_row(p.data(), n, &mx);
      const float inv = static_cast<float>(1.0 / sum);
      if (lse) lse[h * T + t] = mx + static_cast<float>(std::log(sum));
      accumulate(p.data(), inv, v + kvh * D, kv_stride, D, n, out + (t * H + h) * D);
    }
  });
}

}  // namespace dm
