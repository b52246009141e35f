#include "devops_model/core/tensor.h"

#include <cstring>

#include "devops_model/core/error.h"

namespace dm {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

TensorView TensorView::rows(int64_t begin, int64_t count) const {
  DM_CHECK(!shape.empty() && begin >= 0 && count >= 0 && begin + count <= shape[0]);
  TensorView v = *this;
  v.shape[0] = count;
  size_t row_bytes = shape[0] == 0 ? 0 : nbytes() / static_cast<size_t>(shape[0]);
  v.data = static_cast<const uint8_t*>(data) + static_cast<size_t>(begin) * row_bytes;
  return v;
}

std::vector<float> TensorView::to_f32() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  convert_to_f32(dtype, data, out.data(), out.size());
  return out;
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  size_t n = nbytes();
  buf_ = std::shared_ptr<uint8_t[]>(new uint8_t[n == 0 ? 1 : n]());
}

Tensor Tensor::from_view(const TensorView& v) {
  Tensor t(v.dtype, v.shape);
  if (v.nbytes()) std::memcpy(t.data(), v.data, v.nbytes());
  return t;
}

}  // namespace dm
