// GGUF reader: header, typed metadata, tensor infos, tensor views (see gguf.h). Every count, length and
// offset is checked against the bytes that remain before anything is allocated or read.
#include "devops_model/formats/gguf.h"

#include <algorithm>
#include <cstring>

#include "devops_model/core/error.h"

namespace dm {

namespace {

constexpr uint32_t kMaxDims = 4;   // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 4;  // arrays of arrays: none in practice; bounded for hostile files
constexpr uint64_t kDefaultAlignment = 32;

struct GgmlTypeRow {
  uint32_t id;
  const char* name;
  bool supported;
  DType dtype;
};
// ggml.h's numbering. Unsupported rows are named in errors.
constexpr GgmlTypeRow kGgmlTypes[] = {
    {0, "F32", true, DType::kF32},      {1, "F16", true, DType::kF16},       {2, "Q4_0", true, DType::kQ4_0},
    {3, "Q4_1", true, DType::kQ4_1},    {6, "Q5_0", true, DType::kQ5_0},     {7, "Q5_1", true, DType::kQ5_1},
    {8, "Q8_0", true, DType::kQ8_0},    {9, "Q8_1", false, DType::kF32},     {10, "Q2_K", true, DType::kQ2_K},
    {11, "Q3_K", true, DType::kQ3_K},   {12, "Q4_K", true, DType::kQ4_K},    {13, "Q5_K", true, DType::kQ5_K},
    {14, "Q6_K", true, DType::kQ6_K},   {15, "Q8_K", false, DType::kF32},    {16, "IQ2_XXS", false, DType::kF32},
    {17, "IQ2_XS", false, DType::kF32}, {18, "IQ3_XXS", false, DType::kF32}, {19, "IQ1_S", false, DType::kF32},
    {20, "IQ4_NL", false, DType::kF32}, {21, "IQ3_S", false, DType::kF32},   {22, "IQ2_S", false, DType::kF32},
    {23, "IQ4_XS", false, DType::kF32}, {24, "I8", true, DType::kI8},        {25, "I16", true, DType::kI16},
    {26, "I32", true, DType::kI32},     {27, "I64", true, DType::kI64},      {28, "F64", true, DType::kF64},
    {29, "IQ1_M", false, DType::kF32},  {30, "BF16", true, DType::kBF16},    {34, "TQ1_0", false, DType::kF32},
    {35, "TQ2_0", false, DType::kF32},
};

const GgmlTypeRow* ggml_row(uint32_t id) {
  for (const auto& r : kGgmlTypes)
    if (r.id == id) return &r;
  return nullptr;
}

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::kU8:
    case GgufType::kI8:
    case GgufType::kBool: return 1;
    case GgufType::kU16:
    case GgufType::kI16: return 2;
    case GgufType::kU32:
    case GgufType::kI32:
    case GgufType::kF32: return 4;
    case GgufType::kU64:
    case GgufType::kI64:
    case GgufType::kF64: return 8;
    case GgufType::kString: return 8;  // at least its length
    case GgufType::kArray: return 12;  // at least its element type and count
  }
  return 0;
}

}  // namespace

// Sequential bounds-checked reads over the file; `what` names the field being read in every error.
class GgufParser {
 public:
  GgufParser(const uint8_t* data, size_t size, const std::string& path) : p_(data), size_(size), path_(path) {}

  void parse(GgufFile& g) {
    if (size_ < 4 || std::memcmp(p_, "GGUF", 4) != 0) fail(ErrorKind::kFormat, path_, ": not a GGUF file (magic)");
    pos_ = 4;
    g.version_ = u32("version");
    if (g.version_ == 1) fail(ErrorKind::kUnsupported, path_, ": GGUF version 1 is not supported (only 2 and 3)");
    if (g.version_ != 2 && g.version_ != 3)
      fail(ErrorKind::kFormat, path_, ": GGUF version ", g.version_, " (expected 2 or 3; a big-endian file?)");
    const uint64_t n_tensors = u64("tensor_count");
    const uint64_t n_kv = u64("metadata_kv_count");
    // Each kv needs >= 8 + 4 bytes and each tensor info >= 8 + 4 + 4 + 8: counts beyond the file are lies.
    check_count(n_kv, 12, "metadata_kv_count");
    check_count(n_tensors, 24, "tensor_count");
    g.meta_.path = path_;
    for (uint64_t i = 0; i < n_kv; ++i) {
      std::string key = string(str_cat("key of metadata entry ", i));
      if (g.meta_.has(key)) fail(ErrorKind::kFormat, path_, ": metadata key \"", key, "\" appears twice");
      const auto type = value_type(key);
      g.meta_.entries.emplace_back(key, value(type, key, 0));
    }
    read_alignment(g);
    struct Info {
      std::string name;
      TensorView view;
      uint64_t offset, bytes;
    };
    std::vector<Info> infos;
    infos.reserve(n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) {
      Info in;
      in.name = string(str_cat("name of tensor ", i));
      in.view = tensor_info(in.name, &in.offset);
      in.bytes = in.view.nbytes();
      if (in.offset % g.alignment_ != 0)
        fail(ErrorKind::kFormat, path_, ": tensor \"", in.name, "\": offset ", in.offset,
             " is not a multiple of the alignment ", g.alignment_);
      infos.push_back(std::move(in));
    }
    const uint64_t data_start = (pos_ + g.alignment_ - 1) / g.alignment_ * g.alignment_;
    if (data_start > size_ && !infos.empty())
      fail(ErrorKind::kFormat, path_, ": tensor data section starts at ", data_start, ", beyond the end (", size_,
           " bytes; truncated?)");
    const uint64_t data_size = data_start > size_ ? 0 : size_ - data_start;
    for (Info& in : infos) {
      if (in.offset > data_size || in.bytes > data_size - in.offset)
        fail(ErrorKind::kFormat, path_, ": tensor \"", in.name, "\" (", in.bytes, " bytes at data offset ", in.offset,
             ") extends beyond the end of the file (", data_size, " data bytes; truncated?)");
      in.view.data = p_ + data_start + in.offset;
      if (g.tensors_.count(in.name)) fail(ErrorKind::kFormat, path_, ": tensor \"", in.name, "\" appears twice");
      g.tensors_.emplace(in.name, in.view);
      g.order_.push_back(in.name);
    }
    std::sort(infos.begin(), infos.end(), [](const Info& a, const Info& b) { return a.offset < b.offset; });
    for (size_t i = 1; i < infos.size(); ++i)
      if (infos[i - 1].offset + infos[i - 1].bytes > infos[i].offset)
        fail(ErrorKind::kFormat, path_, ": tensors \"", infos[i - 1].name, "\" and \"", infos[i].name, "\" overlap");
  }

 private:
  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;

  size_t left() const { return size_ - pos_; }
  void need(size_t n, const std::string& what) {
    if (n > left())
      fail(ErrorKind::kFormat, path_, ": truncated while reading ", what, " at byte ", pos_, " (", n, " bytes needed, ",
           left(), " left)");
  }
  template <typename T>
  T scalar(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));  // little-endian host (x86-64)
    pos_ += sizeof(T);
    return v;
  }
  uint32_t u32(const std::string& what) { return scalar<uint32_t>(what); }
  uint64_t u64(const std::string& what) { return scalar<uint64_t>(what); }
  void check_count(uint64_t n, uint64_t min_bytes_each, const char* what) {
    if (n > left() / min_bytes_each)
      fail(ErrorKind::kFormat, path_, ": ", what, " ", n, " is impossible in a file of ", size_, " bytes");
  }
  std::string string(const std::string& what) {
    const uint64_t n = u64(str_cat("length of ", what));
    if (n > left())
      fail(ErrorKind::kFormat, path_, ": ", what, ": string length ", n, " exceeds the ", left(),
           " bytes left (truncated?)");
    std::string s(reinterpret_cast<const char*>(p_ + pos_), n);
    pos_ += n;
    return s;
  }
  GgufType value_type(const std::string& key) {
    const uint32_t t = u32(str_cat("type of \"", key, "\""));
    if (t > static_cast<uint32_t>(GgufType::kF64))
      fail(ErrorKind::kFormat, path_, ": metadata \"", key, "\" has unknown value type ", t);
    return static_cast<GgufType>(t);
  }
  GgufValue value(GgufType type, const std::string& key, int depth) {
    GgufValue v;
    v.type = type;
    const std::string what = str_cat("value of \"", key, "\"");
    switch (type) {
      case GgufType::kU8: v.scalar = uint64_t{scalar<uint8_t>(what)}; break;
      case GgufType::kI8: v.scalar = int64_t{scalar<int8_t>(what)}; break;
      case GgufType::kU16: v.scalar = uint64_t{scalar<uint16_t>(what)}; break;
      case GgufType::kI16: v.scalar = int64_t{scalar<int16_t>(what)}; break;
      case GgufType::kU32: v.scalar = uint64_t{scalar<uint32_t>(what)}; break;
      case GgufType::kI32: v.scalar = int64_t{scalar<int32_t>(what)}; break;
      case GgufType::kU64: v.scalar = scalar<uint64_t>(what); break;
      case GgufType::kI64: v.scalar = scalar<int64_t>(what); break;
      case GgufType::kF32: v.scalar = double{scalar<float>(what)}; break;
      case GgufType::kF64: v.scalar = scalar<double>(what); break;
      case GgufType::kBool: {
        const uint8_t b = scalar<uint8_t>(what);
        if (b > 1) fail(ErrorKind::kFormat, path_, ": metadata \"", key, "\": bool value ", int{b});
        v.scalar = b == 1;
        break;
      }
      case GgufType::kString: v.scalar = string(what); break;
      case GgufType::kArray: array(v, key, depth); break;
    }
    return v;
  }
  void array(GgufValue& v, const std::string& key, int depth) {
    if (depth >= kMaxArrayDepth) fail(ErrorKind::kFormat, path_, ": metadata \"", key, "\": arrays nested too deep");
    v.elem_type = value_type(str_cat(key, "[]"));
    const uint64_t n = u64(str_cat("length of \"", key, "\""));
    if (n > left() / scalar_size(v.elem_type))
      fail(ErrorKind::kFormat, path_, ": metadata \"", key, "\": array length ", n, " exceeds the ", left(),
           " bytes left");
    v.array.reserve(n);
    for (uint64_t i = 0; i < n; ++i) v.array.push_back(value(v.elem_type, key, depth + 1));
  }
  void read_alignment(GgufFile& g) {
    const GgufValue* a = g.meta_.find("general.alignment");
    if (!a) return;
    if (!a->is_integer()) fail(ErrorKind::kFormat, path_, ": general.alignment must be an integer");
    const int64_t n = g.meta_.get_int("general.alignment");
    if (n <= 0 || (n & (n - 1)) != 0 || n > (int64_t{1} << 30))
      fail(ErrorKind::kFormat, path_, ": general.alignment ", n, " is not a power of two");
    g.alignment_ = static_cast<uint64_t>(n);
  }
  TensorView tensor_info(const std::string& name, uint64_t* offset) {
    const std::string where = str_cat(path_, ": tensor \"", name, "\"");
    const uint32_t n_dims = u32(str_cat("n_dims of tensor \"", name, "\""));
    if (n_dims == 0 || n_dims > kMaxDims) fail(ErrorKind::kFormat, where, ": n_dims ", n_dims, " (1 to 4 allowed)");
    Shape ne(n_dims);
    int64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t e = u64(str_cat("ne of tensor \"", name, "\""));
      if (e > (uint64_t{1} << 40)) fail(ErrorKind::kFormat, where, ": dimension ", e, " is too large");
      if (e != 0 && numel > (int64_t{1} << 50) / static_cast<int64_t>(e))
        fail(ErrorKind::kFormat, where, ": element count overflows");
      numel *= static_cast<int64_t>(e);
      ne[d] = static_cast<int64_t>(e);
    }
    const uint32_t type = u32(str_cat("type of tensor \"", name, "\""));
    TensorView v;
    if (!dtype_from_ggml(type, &v.dtype)) {
      if (ggml_row(type))
        fail(ErrorKind::kUnsupported, where, ": ggml type ", ggml_type_name(type), " is not supported");
      fail(ErrorKind::kFormat, where, ": unknown ggml type ", type);
    }
    if (ne[0] % dtype_block_size(v.dtype) != 0)
      fail(ErrorKind::kFormat, where, ": row length ", ne[0], " is not a multiple of ", dtype_name(v.dtype),
           "'s block of ", dtype_block_size(v.dtype));
    v.shape.assign(ne.rbegin(), ne.rend());
    *offset = u64(str_cat("offset of tensor \"", name, "\""));
    return v;
  }
};

bool GgufValue::is_integer() const { return gguf_integer_type(type); }

bool gguf_integer_type(GgufType type) {
  switch (type) {
    case GgufType::kU8:
    case GgufType::kI8:
    case GgufType::kU16:
    case GgufType::kI16:
    case GgufType::kU32:
    case GgufType::kI32:
    case GgufType::kU64:
    case GgufType::kI64: return true;
    default: return false;
  }
}

const char* gguf_type_name(GgufType t) {
  static const char* const names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                      "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(t);
  return i < 13 ? names[i] : "?";
}

bool dtype_from_ggml(uint32_t ggml_type, DType* out) {
  const GgmlTypeRow* r = ggml_row(ggml_type);
  if (!r || !r->supported) return false;
  *out = r->dtype;
  return true;
}

uint32_t ggml_type_of(DType t) {
  for (const auto& r : kGgmlTypes)
    if (r.supported && r.dtype == t) return r.id;
  fail(ErrorKind::kUnsupported, "GGUF cannot store ", dtype_name(t), " tensors");
}

const char* ggml_type_name(uint32_t ggml_type) {
  const GgmlTypeRow* r = ggml_row(ggml_type);
  return r ? r->name : "unknown";
}

bool GgufFile::sniff(const uint8_t* head, size_t n) { return n >= 4 && std::memcmp(head, "GGUF", 4) == 0; }

std::shared_ptr<GgufFile> GgufFile::open(const std::string& path) {
  auto file = MappedFile::open(path);
  return parse(file, file->data(), file->size(), path);
}

std::shared_ptr<GgufFile> GgufFile::parse(std::shared_ptr<MappedFile> file, const uint8_t* data, size_t size,
                                          const std::string& path) {
  auto g = std::make_shared<GgufFile>();
  g->path_ = path;
  g->file_ = std::move(file);
  GgufParser(data, size, g->path_).parse(*g);
  return g;
}

std::vector<std::string> GgufFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& [name, view] : tensors_) out.push_back(name);
  return out;
}

TensorView GgufFile::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(ErrorKind::kFormat, path_, ": no tensor \"", name, "\"");
  return it->second;
}

}  // namespace dm
