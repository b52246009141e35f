// check_weights_finite: NaN/Inf scan of every checkpoint tensor. Element types are tested on their
// exponent bits (all ones = Inf or NaN) without converting; block types are dequantized a row at a time.
#include "devops_model/model/weight_check.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "devops_model/core/dtype.h"
#include "devops_model/core/error.h"
#include "devops_model/core/threads.h"
#include "devops_model/formats/checkpoint.h"
#include "devops_model/model/model.h"

namespace dm {

namespace {

// Index of the first element of n whose exponent bits are all ones, or -1. Chunks are tested branch-free
// (the compiler vectorizes the OR-reduction); only a chunk that holds one is searched element by element.
template <typename U>
int64_t first_all_ones(const void* p, int64_t n, U exponent) {
  constexpr int64_t kChunk = 512;
  const auto* bytes = static_cast<const uint8_t*>(p);
  for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
    const int64_t c1 = std::min(n, c0 + kChunk);
    U any = 0;
    for (int64_t i = c0; i < c1; ++i) {
      U v;
      std::memcpy(&v, bytes + i * static_cast<int64_t>(sizeof(U)), sizeof(U));
      any |= static_cast<U>((v & exponent) == exponent);
    }
    if (!any) continue;
    for (int64_t i = c0; i < c1; ++i) {
      U v;
      std::memcpy(&v, bytes + i * static_cast<int64_t>(sizeof(U)), sizeof(U));
      if ((v & exponent) == exponent) return i;
    }
  }
  return -1;
}

int64_t first_non_finite_row(DType t, const uint8_t* row, int64_t K, std::vector<float>& buf) {
  switch (t) {
    case DType::kF32: return first_all_ones<uint32_t>(row, K, 0x7F800000u);
    case DType::kBF16: return first_all_ones<uint16_t>(row, K, uint16_t{0x7F80});
    case DType::kF16: return first_all_ones<uint16_t>(row, K, uint16_t{0x7C00});
    case DType::kF64: return first_all_ones<uint64_t>(row, K, 0x7FF0000000000000ull);
    default: break;
  }
  buf.resize(static_cast<size_t>(K));
  convert_to_f32(t, row, buf.data(), buf.size());
  for (int64_t i = 0; i < K; ++i)
    if (!std::isfinite(buf[static_cast<size_t>(i)])) return i;
  return -1;
}

bool is_float_type(DType t) {
  return t == DType::kF32 || t == DType::kBF16 || t == DType::kF16 || t == DType::kF64 || is_block_type(t);
}

// Flat index of the first non-finite element of `t`, or -1. Rows are scanned in parallel; a row past an
// already-found element is skipped, so the answer is the first one whatever the thread count.
int64_t first_non_finite(const TensorView& t) {
  const int64_t n = t.numel();
  if (n == 0) return -1;
  const int64_t K = t.shape.empty() ? 1 : t.shape.back();
  if (is_block_type(t.dtype) && K % dtype_block_size(t.dtype) != 0) return -1;  // refused at load anyway
  const int64_t rows = n / K;
  std::atomic<int64_t> first{n};
  const auto* base = static_cast<const uint8_t*>(t.data);
  parallel_for(rows, [&](int64_t r0, int64_t r1) {
    std::vector<float> buf;
    for (int64_t r = r0; r < r1 && r * K < first.load(std::memory_order_relaxed); ++r) {
      const int64_t i = first_non_finite_row(t.dtype, base + dtype_bytes(t.dtype, r * K), K, buf);
      if (i < 0) continue;
      int64_t cur = first.load();
      while (r * K + i < cur && !first.compare_exchange_weak(cur, r * K + i)) {
      }
      return;
    }
  });
  return first.load() < n ? first.load() : -1;
}

}  // namespace

WeightScan check_weights_finite(const std::string& path) {
  CheckpointTensors ckpt = is_gguf_file(path) ? CheckpointTensors::open_file(path) : CheckpointTensors::open_dir(path);
  WeightScan scan;
  for (const std::string& name : ckpt.names()) {
    const TensorView t = ckpt.get(name);
    if (!is_float_type(t.dtype)) continue;
    const int64_t at = first_non_finite(t);
    if (at >= 0) {
      const int64_t K = t.shape.empty() ? 1 : t.shape.back();
      fail(ErrorKind::kFormat, ckpt.file_of(name), ": tensor \"", name, "\" (", dtype_name(t.dtype), " ",
           shape_str(t.shape), ") holds a non-finite value (NaN or Inf) at row ", at / K, ", column ", at % K);
    }
    ++scan.tensors;
    scan.bytes += t.nbytes();
  }
  return scan;
}

}  // namespace dm
