// Streamed GGUF writing: each tensor converted from its source to its planned type, rows in parallel, then
// appended to the file (only one converted tensor is in memory at a time).
#include <algorithm>
#include <cstring>

#include "devops_model/core/error.h"
#include "devops_model/core/quant.h"
#include "devops_model/core/threads.h"
#include "devops_model/model/gguf_export.h"

namespace dm {

namespace {

// Rows of the source as f32 (block types: decoded; rows are whole blocks of the source type).
void source_rows_f32(const TensorView& src, int64_t r0, int64_t r1, int64_t row, float* dst) {
  const auto* base = static_cast<const uint8_t*>(src.data) + dtype_bytes(src.dtype, r0 * row);
  convert_to_f32(src.dtype, base, dst, static_cast<size_t>((r1 - r0) * row));
}

void encode_rows(DType to, const float* src, int64_t rows, int64_t row, uint8_t* dst) {
  const size_t n = static_cast<size_t>(rows * row);
  switch (to) {
    case DType::kF32: std::memcpy(dst, src, n * sizeof(float)); return;
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_f16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_bf16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    default:
      for (int64_t r = 0; r < rows; ++r) quantize_row(to, src + r * row, dst + dtype_bytes(to, r * row), row);
  }
}

// The tensor's bytes in type `to` (a copy when the source already is of that type).
std::vector<uint8_t> convert_tensor(const GgufOutTensor& t) {
  const TensorView& src = t.src;
  const int64_t numel = src.numel();
  const int64_t row = src.shape.empty() ? 1 : src.shape.back();
  const int64_t rows = row > 0 ? numel / row : 0;
  if (is_block_type(t.type) && row % dtype_block_size(t.type) != 0)
    fail(ErrorKind::kInvalidArgument, t.name, ": rows of ", row, " values are not whole ", dtype_name(t.type),
         " blocks");
  std::vector<uint8_t> out(dtype_bytes(t.type, numel));
  if (src.dtype == t.type) {
    std::memcpy(out.data(), src.data, out.size());
    return out;
  }
  // Chunks of rows per worker: the f32 scratch stays small whatever the tensor's size.
  const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(row, 1));
  parallel_for((rows + chunk - 1) / chunk, [&](int64_t c0, int64_t c1) {
    std::vector<float> f32(static_cast<size_t>(chunk * row));
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t r0 = c * chunk, r1 = std::min(rows, r0 + chunk);
      source_rows_f32(src, r0, r1, row, f32.data());
      encode_rows(t.type, f32.data(), r1 - r0, row, out.data() + dtype_bytes(t.type, r0 * row));
    }
  });
  return out;
}

}  // namespace

void write_gguf_tensors(const std::string& out_path, const GgufMetadata& meta,
                        const std::vector<GgufOutTensor>& tensors, const std::function<void(size_t)>& on_tensor) {
  std::vector<GgufWriter::Spec> specs;
  for (const GgufOutTensor& t : tensors) {
    if (t.src.shape.empty() || t.src.shape.back() <= 0)
      fail(ErrorKind::kInvalidArgument, t.name, ": cannot write a tensor of shape ", shape_str(t.src.shape));
    specs.push_back({t.name, t.type, t.src.shape});
  }
  GgufWriter w(out_path, meta, std::move(specs));
  for (size_t i = 0; i < tensors.size(); ++i) {
    const std::vector<uint8_t> bytes = convert_tensor(tensors[i]);
    w.write_next(bytes.data(), bytes.size());
    if (on_tensor) on_tensor(i);
  }
  w.commit();
}

}  // namespace dm
