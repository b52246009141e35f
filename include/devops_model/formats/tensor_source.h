// TensorSource: one file of tensors (safetensors, torch .bin, ...) seen the same way whatever its
// format: names, zero-copy views into its memory map, and handing pages back. CheckpointTensors holds a
// list of them and never asks which format one is. The formats themselves are listed in one table,
// tensor_formats() (tensor_source.cpp): adding a format = its reader deriving from TensorSource + one
// entry there.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "devops_model/core/mapped_file.h"
#include "devops_model/core/tensor.h"

namespace dm {

class TensorSource {
 public:
  virtual ~TensorSource() = default;

  virtual const std::string& path() const = 0;         // the file, for messages
  virtual std::vector<std::string> names() const = 0;  // sorted
  virtual bool has(const std::string& name) const = 0;
  // Zero-copy view into the mapping (valid while this source lives); Error(kFormat) naming the file and
  // the tensor when absent.
  virtual TensorView get(const std::string& name) const = 0;
  // The mapping every view points into; null when parsed from a plain buffer (fuzzing).
  virtual const MappedFile* mapping() const = 0;

  // Gives the pages of `v` back to the kernel (MappedFile::drop_pages) if `v` lies inside this source's
  // mapping and returns true; otherwise does nothing and returns false.
  bool drop_pages(const TensorView& v) const;
  uint64_t total_bytes() const;  // size of the mapped file; 0 without a mapping
};

// One storage format: how a file is recognised, the Hugging Face directory names that hold it, and its
// reader. Directory names are null when the format has none.
struct TensorFormat {
  const char* extension;                         // ".safetensors"
  bool (*sniff)(const uint8_t* head, size_t n);  // the file's first (up to 16) bytes are this format
  const char* single_file;                       // unsharded checkpoint in a directory, e.g. "model.safetensors"
  const char* index_file;                        // shard index (a weight_map of tensor -> shard file name)
  std::shared_ptr<TensorSource> (*open)(const std::string& path);
};

// Every format, in the order a checkpoint directory is searched.
const std::vector<TensorFormat>& tensor_formats();

// Opens `path` with the format its extension names, else the one whose leading bytes match.
// Error(kIo) when unreadable, Error(kFormat) when no format recognises it; the reader's own errors
// (naming the file and tensor) otherwise.
std::shared_ptr<TensorSource> open_tensor_source(const std::string& path);

}  // namespace dm
