// core/quant.h's dispatch: checks the row length, then hands whole blocks to the per-type codec.
#include "devops_model/core/quant.h"

#include "core/quant_blocks.h"
#include "devops_model/core/error.h"

namespace dm {

namespace {
struct Codec {
  DType type;
  void (*dequantize)(const void*, float*, int64_t);
  void (*quantize)(const float*, void*, int64_t);
};
constexpr Codec kCodecs[] = {
    {DType::kQ8_0, quant::dequantize_q8_0, quant::quantize_q8_0},
    {DType::kQ4_0, quant::dequantize_q4_0, quant::quantize_q4_0},
    {DType::kQ4_1, quant::dequantize_q4_1, quant::quantize_q4_1},
    {DType::kQ5_0, quant::dequantize_q5_0, quant::quantize_q5_0},
    {DType::kQ5_1, quant::dequantize_q5_1, quant::quantize_q5_1},
    {DType::kQ2_K, quant::dequantize_q2_k, quant::quantize_q2_k},
    {DType::kQ3_K, quant::dequantize_q3_k, quant::quantize_q3_k},
    {DType::kQ4_K, quant::dequantize_q4_k, quant::quantize_q4_k},
    {DType::kQ5_K, quant::dequantize_q5_k, quant::quantize_q5_k},
    {DType::kQ6_K, quant::dequantize_q6_k, quant::quantize_q6_k},
};

const Codec* codec(DType t) {
  for (const auto& c : kCodecs)
    if (c.type == t) return &c;
  return nullptr;
}

// The codec for t, after checking that n is whole blocks of it.
const Codec& checked(DType t, int64_t n) {
  const Codec* c = codec(t);
  DM_CHECK(c != nullptr, dtype_name(t), " is not a block type");
  const int64_t block = dtype_block_size(t);
  DM_CHECK(n >= 0 && n % block == 0, dtype_name(t), ": ", n, " values is not a whole number of ", block,
           "-value blocks");
  return *c;
}
}  // namespace

bool quantizable(DType t) { return codec(t) != nullptr; }

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  const Codec& c = checked(t, n);
  c.dequantize(src, dst, n / dtype_block_size(t));
}

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  const Codec& c = checked(t, n);
  c.quantize(src, dst, n / dtype_block_size(t));
}

}  // namespace dm
