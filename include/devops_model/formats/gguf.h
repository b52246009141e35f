// GGUF (llama.cpp's single-file model format, versions 2 and 3): a memory-mapped reader (a TensorSource:
// zero-copy views of tensors in their stored ggml type, shapes in Hugging Face order) with the typed
// key/value metadata that carries the hyper-parameters, the tokenizer and the chat template; and a
// streamed, atomic writer. Every read is bounds-checked: a hostile file is an Error(kFormat) naming the
// file and the field, never a crash.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "devops_model/core/mapped_file.h"
#include "devops_model/core/tensor.h"
#include "devops_model/formats/tensor_source.h"

namespace dm {

// GGUF's metadata value types (their numbering in the file).
enum class GgufType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
const char* gguf_type_name(GgufType t);
bool gguf_integer_type(GgufType t);

// One metadata value. Integers of every width are kept as int64/uint64, floats as double, with the
// stored type remembered (a writer writes it back as it was).
struct GgufValue {
  GgufType type = GgufType::kU8;
  std::variant<int64_t, uint64_t, double, bool, std::string> scalar;
  GgufType elem_type = GgufType::kU8;  // arrays: type of the elements
  std::vector<GgufValue> array;

  bool is_array() const { return type == GgufType::kArray; }
  bool is_integer() const;
  bool is_float() const { return type == GgufType::kF32 || type == GgufType::kF64; }
};

// The key/value pairs of a file in file order, with typed accessors whose errors name the file and key.
class GgufMetadata {
 public:
  std::string path;  // for messages
  std::vector<std::pair<std::string, GgufValue>> entries;

  const GgufValue* find(const std::string& key) const;
  bool has(const std::string& key) const { return find(key) != nullptr; }
  // Error(kFormat) when absent or of another type; integers must fit.
  int64_t get_int(const std::string& key) const;
  int64_t get_int_or(const std::string& key, int64_t dflt) const;
  double get_float(const std::string& key) const;  // f32/f64 (or an integer)
  double get_float_or(const std::string& key, double dflt) const;
  bool get_bool_or(const std::string& key, bool dflt) const;
  std::string get_string(const std::string& key) const;
  std::optional<std::string> get_string_opt(const std::string& key) const;
  std::vector<std::string> get_strings(const std::string& key) const;  // array of strings
  std::vector<int64_t> get_ints(const std::string& key) const;         // array of integers

  void set(const std::string& key, GgufValue v);  // replaces or appends
};

// ggml's tensor type numbers (ggml.h) <-> our DType; false for types we do not support.
bool dtype_from_ggml(uint32_t ggml_type, DType* out);
uint32_t ggml_type_of(DType t);                  // Error(kUnsupported) for a DType GGUF cannot store
const char* ggml_type_name(uint32_t ggml_type);  // "Q4_K", "IQ2_XS", ... ("type 99" when unknown)

class GgufFile : public TensorSource {
 public:
  static std::shared_ptr<GgufFile> open(const std::string& path);
  // Parses a buffer not backed by a file (fuzzing); `path` only for messages.
  static std::shared_ptr<GgufFile> parse(std::shared_ptr<MappedFile> file, const uint8_t* data, size_t size,
                                         const std::string& path);
  // The file's first bytes are "GGUF".
  static bool sniff(const uint8_t* head, size_t n);

  const std::string& path() const override { return path_; }
  std::vector<std::string> names() const override;
  bool has(const std::string& name) const override { return tensors_.count(name) != 0; }
  // Zero-copy view: dtype as stored, shape in HF order (GGUF's ne reversed: [rows, row length]).
  TensorView get(const std::string& name) const override;
  const MappedFile* mapping() const override { return file_.get(); }

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const GgufMetadata& metadata() const { return meta_; }
  // Tensor names in file order (names() is sorted).
  const std::vector<std::string>& tensor_order() const { return order_; }

 private:
  friend class GgufParser;
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  GgufMetadata meta_;
  std::map<std::string, TensorView> tensors_;
  std::vector<std::string> order_;
};

// Streams a GGUF v3 file (for models larger than memory): metadata and every tensor's header up front,
// then each tensor's bytes in the same order, then commit (temp file + rename). Shapes are given in HF
// order and written as GGUF's ne (reversed); data is padded to `alignment` (general.alignment is written
// when it is not the default 32).
class GgufWriter {
 public:
  struct Spec {
    std::string name;
    DType dtype;
    Shape shape;
  };
  GgufWriter(const std::string& path, const GgufMetadata& meta, std::vector<Spec> specs, uint64_t alignment = 32);
  ~GgufWriter();
  void write_next(const void* data, size_t nbytes);  // must match the next spec's size
  void commit();

 private:
  std::vector<Spec> specs_;
  size_t next_ = 0;
  uint64_t alignment_;
  uint64_t written_ = 0;  // bytes of the data section so far
  std::unique_ptr<AtomicFileWriter> out_;
};

// Metadata value builders for writers.
GgufValue gguf_u32(uint32_t v);
GgufValue gguf_i32(int32_t v);
GgufValue gguf_f32(float v);
GgufValue gguf_bool(bool v);
GgufValue gguf_string(std::string v);
GgufValue gguf_strings(std::vector<std::string> v);
GgufValue gguf_i32s(const std::vector<int32_t>& v);

}  // namespace dm
