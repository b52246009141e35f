#include "kernels/quantized_acts.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "devops_model/core/dtype.h"
#include "devops_model/core/error.h"
#include "devops_model/core/threads.h"
#include "devops_model/kernels/matmul.h"

namespace dm::kernels {

namespace {

// The scale of a block whose largest magnitude is amax: llama.cpp's quantize_row_q8_0 (x86) stores
// f16(amax / 127) and multiplies by 127 / amax, the unrounded amax.
inline void block_scale(float amax, float& d, float& id) {
  d = f16_to_f32(f32_to_f16(amax / 127.0f));
  id = amax != 0.0f ? 127.0f / amax : 0.0f;
}

void quantize_token(const float* x, int64_t K, int8_t* q, float* d) {
  const bool simd = best_isa() == Isa::kAvx512Vnni;  // the file that has it is built for that ISA
  (simd ? quantize_token_avx512 : quantize_token_scalar)(x, K, q, d);
}

void quantize_group(const float* x, int64_t T, int64_t K, int64_t g, QuantizedActs& a, std::vector<int8_t>& q,
                    std::vector<float>& d) {
  for (int64_t lane = 0; lane < kActLanes; ++lane) {
    const int64_t t = g * kActLanes + lane;
    if (t < T) {
      quantize_token(x + t * K, K, q.data(), d.data());
    } else {
      std::fill(q.begin(), q.end(), int8_t{0});
      std::fill(d.begin(), d.end(), 0.0f);
    }
    for (int64_t k = 0; k < K; k += kActBlock)
      a.d[static_cast<size_t>(a.d_index(g, k) + lane)] = d[static_cast<size_t>(k / kActBlock)];
    for (int64_t k = 0; k < K; k += 16) {
      int sum = 0;
      for (int64_t i = 0; i < 16; ++i) sum += q[static_cast<size_t>(k + i)];
      a.sum16[static_cast<size_t>(a.sum16_index(g, k) + lane)] =
          d[static_cast<size_t>(k / kActBlock)] * static_cast<float>(sum);
    }
    for (int64_t k = 0; k < K; k += 4) {
      uint32_t v;
      std::memcpy(&v, q.data() + k, 4);
      v ^= 0x80808080u;  // q + 128 in each byte
      std::memcpy(a.q.data() + a.q_index(g, k) + lane * 4, &v, 4);
    }
  }
}

// One token of the row layout.
void quantize_row(const float* x, int64_t K, int64_t t, QuantizedActs& a, std::vector<float>& d) {
  int8_t* q = a.rows.data() + t * K;
  quantize_token(x + t * K, K, q, d.data());
  float* lane_d = a.lane_d.data() + t * (K / 4);
  float* lane_sum = a.lane_sum.data() + t * (K / 4);
  for (int64_t l = 0; l < K / 4; ++l) {
    lane_d[l] = d[static_cast<size_t>(4 * l / kActBlock)];
    lane_sum[l] = 0.0f;
  }
  for (int64_t g = 0; g < K / 16; ++g) {
    int sum = 0;
    for (int64_t i = 0; i < 16; ++i) sum += q[16 * g + i];
    lane_sum[4 * g] = d[static_cast<size_t>(16 * g / kActBlock)] * static_cast<float>(sum);
  }
}

}  // namespace

void quantize_token_scalar(const float* x, int64_t K, int8_t* q, float* d) {
  for (int64_t b = 0; b < K / kActBlock; ++b, x += kActBlock, q += kActBlock) {
    float amax = 0.0f;
    bool finite = true;
    for (int i = 0; i < kActBlock; ++i) {
      amax = std::max(amax, std::fabs(x[i]));
      finite = finite && std::isfinite(x[i]);
    }
    if (!finite) {  // keep a NaN/Inf visible downstream (the non-finite logits check) instead of rounding it away
      d[b] = std::numeric_limits<float>::quiet_NaN();
      std::fill(q, q + kActBlock, int8_t{0});
      continue;
    }
    float id;
    block_scale(amax, d[b], id);
    for (int i = 0; i < kActBlock; ++i) q[i] = static_cast<int8_t>(std::nearbyint(x[i] * id));
  }
}

void quantize_acts(const float* x, int64_t T, int64_t K, QuantizedActs& a) {
  DM_CHECK(K % kActBlock == 0, "quantize_acts: K = ", K, " is not a multiple of ", kActBlock);
  a.T = T;
  a.K = K;
  a.groups = (T + kActLanes - 1) / kActLanes;
  a.token_lanes = T >= kTokenLanesMinTokens;
  if (!a.token_lanes) {  // a few tokens: quick enough on the calling thread
    a.rows.resize(static_cast<size_t>(T * K));
    a.lane_d.resize(static_cast<size_t>(T * K / 4));
    a.lane_sum.resize(a.lane_d.size());
    std::vector<float> d(static_cast<size_t>(K / kActBlock));
    for (int64_t t = 0; t < T; ++t) quantize_row(x, K, t, a, d);
    return;
  }
  a.q.resize(static_cast<size_t>(a.groups * K * kActLanes));
  a.d.resize(static_cast<size_t>(a.groups * (K / kActBlock) * kActLanes));
  a.sum16.resize(static_cast<size_t>(a.groups * (K / 16) * kActLanes));
  parallel_for(a.groups, [&](int64_t g0, int64_t g1) {
    std::vector<int8_t> q(static_cast<size_t>(K));
    std::vector<float> d(static_cast<size_t>(K / kActBlock));
    for (int64_t g = g0; g < g1; ++g) quantize_group(x, T, K, g, a, q, d);
  });
}

std::vector<float> dequantize_acts(const QuantizedActs& a) {
  std::vector<float> out(static_cast<size_t>(a.T * a.K));
  for (int64_t t = 0; t < a.T; ++t) {
    const int64_t g = t / kActLanes, lane = t % kActLanes;
    for (int64_t k = 0; k < a.K; ++k) {
      if (!a.token_lanes) {
        out[static_cast<size_t>(t * a.K + k)] = a.lane_d[static_cast<size_t>((t * a.K + k) / 4)] *
                                                static_cast<float>(a.rows[static_cast<size_t>(t * a.K + k)]);
        continue;
      }
      const int q = static_cast<int>(a.q_at(g, k)[lane * 4 + k % 4]) - 128;
      out[static_cast<size_t>(t * a.K + k)] = a.d_at(g, k)[lane] * static_cast<float>(q);
    }
  }
  return out;
}

}  // namespace dm::kernels
