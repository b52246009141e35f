// A Hugging Face checkpoint directory's tensors, whatever the storage: model.safetensors,
// model.safetensors.index.json + shards, pytorch_model.bin, or pytorch_model.bin.index.json + shards.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "devops_model/core/tensor.h"

namespace dm {

class SafetensorsFile;
class TorchBinFile;

class CheckpointTensors {
 public:
  // Error(kIo) when the directory holds no weights; errors name the file and tensor.
  static CheckpointTensors open_dir(const std::string& dir);

  bool has(const std::string& name) const { return where_.count(name) != 0; }
  // View of a tensor; Error(kFormat) "missing tensor NAME in DIR" when absent.
  TensorView get(const std::string& name) const;
  std::vector<std::string> names() const;
  // The file that holds `name` (for messages).
  std::string file_of(const std::string& name) const;
  uint64_t total_bytes() const;  // bytes of all weight files
  // Releases the resident pages of a tensor viewed in one of the mapped files (see MappedFile::drop_pages).
  void drop_pages(const TensorView& v) const;

 private:
  struct Source {
    std::string path;
    std::shared_ptr<SafetensorsFile> st;
    std::shared_ptr<TorchBinFile> bin;
    TensorView get(const std::string& name) const;
  };
  std::string dir_;
  std::vector<Source> sources_;
  std::map<std::string, size_t> where_;  // tensor -> index in sources_
};

}  // namespace dm
