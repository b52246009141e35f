// core/quant.h against ggml itself, through the tiny-gguf fixture (../shared/fixtures/README.md):
// dequantize_row over stored tensors == gguf-py's dequantization bit for bit, and quantize_row over
// model-f32.gguf's tensors == the bytes llama-quantize (no imatrix) wrote into each model-<t>.gguf.
#include <gtest/gtest.h>

#include <cstring>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "devops_model/core/quant.h"
#include "devops_model/formats/gguf.h"
#include "devops_model/formats/safetensors.h"
#include "test_util.h"

namespace dm {
namespace {

std::string gguf_file(const std::string& t) { return test::fixture("tiny-gguf/model-" + t + ".gguf"); }

// Every llama-quantize output and the f32 file it was made from.
struct QuantizedFile {
  std::string type, source;
};
const QuantizedFile kQuantized[] = {
    {"q8_0", "f32"},
    {"q4_0", "f32"},
    {"q4_1", "f32"},
    {"q5_0", "f32"},
    {"q5_1", "f32"},
    {"q4_k_m", "f32"},
    {"q5_k_m", "f32"},
    {"q6_k", "f32"},
    {"q2_k", "f32"},
    {"q3_k_m", "f32"},
    {"qwen1-q8_0", "qwen1-f32"},
};

// Index of the first differing 4-byte word, or -1.
int64_t first_bit_difference(const float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (std::memcmp(a + i, b + i, 4) != 0) return i;
  return -1;
}

TEST(QuantFixture, DequantizeRowIsGgufPyBitForBit) {
  auto golden = SafetensorsFile::open(test::fixture("tiny-gguf/golden.safetensors"));
  const std::string kMid = ".dequant.", kFirstRows = ".first64rows";
  std::set<DType> types_seen;
  int checked = 0;
  for (const std::string& key : golden->names()) {
    const size_t mid = key.find(kMid);
    if (mid == std::string::npos) continue;
    std::string tensor = key.substr(mid + kMid.size());
    const bool first_rows = tensor.size() > kFirstRows.size() &&
                            tensor.compare(tensor.size() - kFirstRows.size(), kFirstRows.size(), kFirstRows) == 0;
    if (first_rows) tensor.resize(tensor.size() - kFirstRows.size());
    auto file = GgufFile::open(gguf_file(key.substr(0, mid)));
    const TensorView stored = file->get(tensor);
    const TensorView want = golden->get(key);
    ASSERT_EQ(want.dtype, DType::kF32) << key;
    ASSERT_EQ(want.shape.size(), 2u) << key;
    ASSERT_EQ(want.shape[1], stored.shape[1]) << key;
    const int64_t rows = first_rows ? 64 : stored.shape[0];
    ASSERT_EQ(want.shape[0], rows) << key;
    std::vector<float> got(static_cast<size_t>(want.numel()));
    if (!quantizable(stored.dtype)) {  // qwen1-q8_0's ffn_down fell back to F16
      ASSERT_EQ(stored.dtype, DType::kF16) << key;
      convert_to_f32(stored.dtype, stored.data, got.data(), got.size());
      EXPECT_EQ(first_bit_difference(got.data(), want.f32(), want.numel()), -1) << key;
      ++checked;
      continue;
    }
    dequantize_row(stored.dtype, stored.data, got.data(), want.numel());
    const int64_t diff = first_bit_difference(got.data(), want.f32(), want.numel());
    EXPECT_EQ(diff, -1) << key << " (" << dtype_name(stored.dtype) << "): value " << diff << " is "
                        << (diff >= 0 ? got[size_t(diff)] : 0.f) << ", gguf-py "
                        << (diff >= 0 ? want.f32()[diff] : 0.f);
    // convert_to_f32 is the same decoder.
    std::vector<float> conv(got.size());
    convert_to_f32(stored.dtype, stored.data, conv.data(), conv.size());
    EXPECT_EQ(first_bit_difference(conv.data(), want.f32(), want.numel()), -1) << key;
    types_seen.insert(stored.dtype);
    ++checked;
  }
  EXPECT_EQ(checked, 35);
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ2_K, DType::kQ3_K,
                  DType::kQ4_K, DType::kQ5_K, DType::kQ6_K})
    EXPECT_TRUE(types_seen.count(t)) << dtype_name(t) << " has no golden tensor";
}

// Byte-identity with llama-quantize for one file; returns {identical, compared} over its 2-D block-typed
// tensors. F16 tensors (qwen1-q8_0's fallback) are compared through f32_to_f16 and counted apart.
struct Tally {
  int identical = 0, compared = 0, f16_identical = 0, f16_compared = 0;
};
void compare_file(const QuantizedFile& qf, Tally* tally) {
  auto quantized = GgufFile::open(gguf_file(qf.type));
  auto source = GgufFile::open(gguf_file(qf.source));
  for (const std::string& name : quantized->tensor_order()) {
    const TensorView want = quantized->get(name);
    if (want.shape.size() != 2) continue;
    const TensorView src = source->get(name);
    ASSERT_EQ(src.dtype, DType::kF32) << name;
    ASSERT_EQ(src.shape, want.shape) << name;
    std::vector<uint8_t> got(want.nbytes());
    if (want.dtype == DType::kF16) {
      auto* h = reinterpret_cast<uint16_t*>(got.data());
      for (int64_t i = 0; i < src.numel(); ++i) h[i] = f32_to_f16(src.f32()[i]);
      const bool same = std::memcmp(got.data(), want.data, got.size()) == 0;
      EXPECT_TRUE(same) << qf.type << " " << name << " (F16)";
      tally->f16_identical += same;
      ++tally->f16_compared;
      continue;
    }
    ASSERT_TRUE(quantizable(want.dtype)) << qf.type << " " << name << " is " << dtype_name(want.dtype);
    quantize_row(want.dtype, src.f32(), got.data(), src.numel());
    const auto* ref = static_cast<const uint8_t*>(want.data);
    size_t diff = 0;
    while (diff < got.size() && got[diff] == ref[diff]) ++diff;
    const size_t block_bytes = dtype_block_bytes(want.dtype);
    EXPECT_EQ(diff, got.size()) << qf.type << " " << name << " (" << dtype_name(want.dtype)
                                << "): first difference in block " << diff / block_bytes << ", byte "
                                << diff % block_bytes;
    tally->identical += diff == got.size();
    ++tally->compared;
  }
}

TEST(QuantFixture, QuantizeRowIsLlamaQuantizeByteForByte) {
  Tally tally;
  for (const QuantizedFile& qf : kQuantized) compare_file(qf, &tally);
  std::cout << "[ quant ] " << tally.identical << "/" << tally.compared
            << " block-typed 2-D tensors byte-identical to llama-quantize; F16 fallbacks " << tally.f16_identical << "/"
            << tally.f16_compared << "\n";
  EXPECT_EQ(tally.compared, 10 * 15 + 10);  // 15 per Qwen2 file, qwen1-q8_0's 10 Q8_0 tensors
  EXPECT_EQ(tally.identical, tally.compared);
  EXPECT_EQ(tally.f16_compared, 2);
}

}  // namespace
}  // namespace dm
