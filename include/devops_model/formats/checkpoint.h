// A Hugging Face checkpoint directory's tensors, whatever the storage: model.safetensors,
// model.safetensors.index.json + shards, pytorch_model.bin, or pytorch_model.bin.index.json + shards
// (the names come from tensor_formats()). Each file is a TensorSource; nothing here depends on its format.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "devops_model/core/tensor.h"
#include "devops_model/formats/tensor_source.h"

namespace dm {

class CheckpointTensors {
 public:
  // Error(kIo) when the directory holds no weights; errors name the file and tensor.
  static CheckpointTensors open_dir(const std::string& dir);
  // A single tensor file of any known format (see open_tensor_source).
  static CheckpointTensors open_file(const std::string& path);

  bool has(const std::string& name) const { return where_.count(name) != 0; }
  // View of a tensor; Error(kFormat) "missing tensor NAME in DIR" when absent.
  TensorView get(const std::string& name) const;
  std::vector<std::string> names() const;
  // The file that holds `name` (for messages).
  std::string file_of(const std::string& name) const;
  uint64_t total_bytes() const;  // bytes of all weight files
  // Releases the resident pages of a tensor viewed in one of the mapped files (see MappedFile::drop_pages)
  // and returns true; does nothing and returns false for a view outside them.
  bool drop_pages(const TensorView& v) const;
  // The files, in the order opened.
  const std::vector<std::shared_ptr<TensorSource>>& sources() const { return sources_; }

 private:
  size_t add_source(std::shared_ptr<TensorSource> s);  // returns its index in sources_
  void add_all_tensors(size_t idx);
  // Reads a shard index (weight_map: tensor -> file), opening each listed shard once.
  void add_index(const std::string& index_path, const char* index_name);

  std::string dir_;  // directory (or file) named in messages
  std::vector<std::shared_ptr<TensorSource>> sources_;
  std::map<std::string, size_t> where_;  // tensor -> index in sources_
};

}  // namespace dm
