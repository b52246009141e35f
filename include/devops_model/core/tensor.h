// TensorView: a typed, shaped, non-owning view of contiguous row-major data (weights in a mapped file,
// or a buffer owned elsewhere). Tensor: an owning F32/any buffer with the same interface.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "devops_model/core/dtype.h"

namespace dm {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

struct TensorView {
  DType dtype = DType::kF32;
  Shape shape;
  const void* data = nullptr;

  bool empty() const { return data == nullptr; }
  int64_t numel() const { return shape_numel(shape); }
  size_t nbytes() const { return dtype_bytes(dtype, numel()); }
  int64_t dim(size_t i) const { return shape.at(i); }
  const float* f32() const { return static_cast<const float*>(data); }
  // Rows [begin, begin+count) of a tensor whose first dimension is rows (zero-copy).
  TensorView rows(int64_t begin, int64_t count) const;
  // Copies to a new F32 vector (converting F16/BF16 and every ggml block type).
  std::vector<float> to_f32() const;
};

// An owned buffer that can be viewed; used for converted weights, activations and training state.
class Tensor {
 public:
  Tensor() = default;
  Tensor(DType dtype, Shape shape);
  static Tensor zeros_f32(Shape shape) { return Tensor(DType::kF32, std::move(shape)); }
  static Tensor from_view(const TensorView& v);  // deep copy, same dtype

  TensorView view() const { return TensorView{dtype_, shape_, buf_.get()}; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return dtype_bytes(dtype_, numel()); }
  void* data() { return buf_.get(); }
  const void* data() const { return buf_.get(); }
  float* f32() { return static_cast<float*>(data()); }
  const float* f32() const { return static_cast<const float*>(data()); }

 private:
  DType dtype_ = DType::kF32;
  Shape shape_;
  std::shared_ptr<uint8_t[]> buf_;
};

}  // namespace dm
