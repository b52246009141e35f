// GgufWriter: GGUF v3, little-endian, streamed to an AtomicFileWriter (see gguf.h).
#include <cstring>

#include "devops_model/core/error.h"
#include "devops_model/formats/gguf.h"

namespace dm {

namespace {

class Bytes {
 public:
  template <typename T>
  void put(T v) {
    const size_t n = buf.size();
    buf.resize(n + sizeof(T));
    std::memcpy(buf.data() + n, &v, sizeof(T));
  }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    buf.insert(buf.end(), s.begin(), s.end());
  }
  void value(const GgufValue& v) {
    switch (v.type) {
      case GgufType::kU8: put<uint8_t>(static_cast<uint8_t>(std::get<uint64_t>(v.scalar))); break;
      case GgufType::kI8: put<int8_t>(static_cast<int8_t>(std::get<int64_t>(v.scalar))); break;
      case GgufType::kU16: put<uint16_t>(static_cast<uint16_t>(std::get<uint64_t>(v.scalar))); break;
      case GgufType::kI16: put<int16_t>(static_cast<int16_t>(std::get<int64_t>(v.scalar))); break;
      case GgufType::kU32: put<uint32_t>(static_cast<uint32_t>(std::get<uint64_t>(v.scalar))); break;
      case GgufType::kI32: put<int32_t>(static_cast<int32_t>(std::get<int64_t>(v.scalar))); break;
      case GgufType::kU64: put<uint64_t>(std::get<uint64_t>(v.scalar)); break;
      case GgufType::kI64: put<int64_t>(std::get<int64_t>(v.scalar)); break;
      case GgufType::kF32: put<float>(static_cast<float>(std::get<double>(v.scalar))); break;
      case GgufType::kF64: put<double>(std::get<double>(v.scalar)); break;
      case GgufType::kBool: put<uint8_t>(std::get<bool>(v.scalar) ? 1 : 0); break;
      case GgufType::kString: str(std::get<std::string>(v.scalar)); break;
      case GgufType::kArray:
        put<uint32_t>(static_cast<uint32_t>(v.elem_type));
        put<uint64_t>(v.array.size());
        for (const GgufValue& e : v.array) value(e);
        break;
    }
  }
  std::vector<uint8_t> buf;
};

uint64_t padded(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

}  // namespace

GgufWriter::GgufWriter(const std::string& path, const GgufMetadata& meta, std::vector<Spec> specs, uint64_t alignment)
    : specs_(std::move(specs)), alignment_(alignment) {
  DM_CHECK(alignment > 0 && (alignment & (alignment - 1)) == 0, "alignment must be a power of two");
  GgufMetadata m = meta;
  if (alignment != 32) m.set("general.alignment", gguf_u32(static_cast<uint32_t>(alignment)));
  Bytes h;
  h.buf = {'G', 'G', 'U', 'F'};
  h.put<uint32_t>(3);
  h.put<uint64_t>(specs_.size());
  h.put<uint64_t>(m.entries.size());
  for (const auto& [key, v] : m.entries) {
    h.str(key);
    h.put<uint32_t>(static_cast<uint32_t>(v.type));
    h.value(v);
  }
  uint64_t offset = 0;
  for (const Spec& sp : specs_) {
    h.str(sp.name);
    h.put<uint32_t>(static_cast<uint32_t>(sp.shape.size()));
    for (auto it = sp.shape.rbegin(); it != sp.shape.rend(); ++it) h.put<uint64_t>(static_cast<uint64_t>(*it));
    h.put<uint32_t>(ggml_type_of(sp.dtype));
    h.put<uint64_t>(offset);
    offset = padded(offset + dtype_bytes(sp.dtype, shape_numel(sp.shape)), alignment_);
  }
  h.buf.resize(padded(h.buf.size(), alignment_), 0);
  out_ = std::make_unique<AtomicFileWriter>(path);
  out_->write(h.buf.data(), h.buf.size());
}

GgufWriter::~GgufWriter() = default;

void GgufWriter::write_next(const void* data, size_t nbytes) {
  DM_CHECK(next_ < specs_.size(), "more tensors written than declared");
  const Spec& sp = specs_[next_];
  const size_t want = dtype_bytes(sp.dtype, shape_numel(sp.shape));
  DM_CHECK(nbytes == want, "tensor ", sp.name, ": ", nbytes, " bytes given, ", want, " declared");
  out_->write(data, nbytes);
  static const uint8_t zeros[64] = {};
  uint64_t pad = padded(nbytes, alignment_) - nbytes;
  while (pad > 0) {
    const uint64_t n = pad < sizeof(zeros) ? pad : sizeof(zeros);
    out_->write(zeros, n);
    pad -= n;
  }
  written_ += padded(nbytes, alignment_);
  ++next_;
}

void GgufWriter::commit() {
  DM_CHECK(next_ == specs_.size(), "only ", next_, " of ", specs_.size(), " tensors written");
  out_->commit();
}

GgufValue gguf_u32(uint32_t v) { return GgufValue{GgufType::kU32, uint64_t{v}, GgufType::kU8, {}}; }
GgufValue gguf_i32(int32_t v) { return GgufValue{GgufType::kI32, int64_t{v}, GgufType::kU8, {}}; }
GgufValue gguf_f32(float v) { return GgufValue{GgufType::kF32, double{v}, GgufType::kU8, {}}; }
GgufValue gguf_bool(bool v) { return GgufValue{GgufType::kBool, v, GgufType::kU8, {}}; }
GgufValue gguf_string(std::string v) { return GgufValue{GgufType::kString, std::move(v), GgufType::kU8, {}}; }
GgufValue gguf_strings(std::vector<std::string> v) {
  GgufValue a{GgufType::kArray, uint64_t{0}, GgufType::kString, {}};
  a.array.reserve(v.size());
  for (std::string& s : v) a.array.push_back(gguf_string(std::move(s)));
  return a;
}
GgufValue gguf_i32s(const std::vector<int32_t>& v) {
  GgufValue a{GgufType::kArray, uint64_t{0}, GgufType::kI32, {}};
  a.array.reserve(v.size());
  for (int32_t x : v) a.array.push_back(gguf_i32(x));
  return a;
}

}  // namespace dm
