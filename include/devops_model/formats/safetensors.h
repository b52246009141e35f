// Safetensors: memory-mapped reader (a TensorSource) with zero-copy views, validated as the reference
// implementation does (header size, JSON, dtype, shape x dtype == byte span, spans inside the file and
// disjoint), and an atomic writer.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "devops_model/core/mapped_file.h"
#include "devops_model/core/tensor.h"
#include "devops_model/formats/tensor_source.h"

namespace dm {

class SafetensorsFile : public TensorSource {
 public:
  // Error(kIo / kFormat) naming the file (and the tensor) for every malformation.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  // Parses a buffer that is not backed by a file (fuzzing); `path` is only used in messages.
  static std::shared_ptr<SafetensorsFile> parse(std::shared_ptr<MappedFile> file, const uint8_t* data, size_t size,
                                                const std::string& path);

  bool has(const std::string& name) const override { return tensors_.count(name) != 0; }
  // Zero-copy view into the mapping; Error(kFormat) naming file and tensor when absent.
  TensorView get(const std::string& name) const override;
  std::vector<std::string> names() const override;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const override { return path_; }
  const MappedFile* mapping() const override { return file_.get(); }  // null when parsed from a plain buffer

 private:
  std::string path_;
  std::shared_ptr<MappedFile> file_;  // keeps the mapping alive
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Streams tensors to a new file one at a time (for checkpoints larger than memory): declare every
// tensor up front, then write each one's bytes in the same order, then commit (atomic rename).
class SafetensorsWriter {
 public:
  struct Spec {
    std::string name;
    DType dtype;
    Shape shape;
  };
  SafetensorsWriter(const std::string& path, std::vector<Spec> specs,
                    const std::map<std::string, std::string>& metadata = {{"format", "pt"}});
  ~SafetensorsWriter();
  void write_next(const void* data, size_t nbytes);  // must match the next spec's size
  void commit();

 private:
  std::vector<Spec> specs_;
  size_t next_ = 0;
  std::unique_ptr<AtomicFileWriter> out_;
};

// Writes tensors (in the given order) atomically to `path`.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, TensorView>>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace dm
