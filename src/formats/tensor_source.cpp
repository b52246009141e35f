// The one place that knows which tensor file formats exist (see tensor_source.h).
#include "devops_model/formats/tensor_source.h"

#include <algorithm>
#include <cstring>

#include "devops_model/core/error.h"
#include "devops_model/formats/gguf.h"
#include "devops_model/formats/safetensors.h"
#include "devops_model/formats/torch_bin.h"

namespace dm {

namespace {

// u64 header length, then the JSON header, which the reference writer starts with '{'.
bool sniff_safetensors(const uint8_t* head, size_t n) { return n > 8 && head[8] == '{'; }

// torch.save writes a zip archive: a local file header first.
bool sniff_torch_zip(const uint8_t* head, size_t n) { return n >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0; }

template <typename Reader>
std::shared_ptr<TensorSource> open_as(const std::string& path) {
  return Reader::open(path);
}

bool ends_with(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

}  // namespace

const std::vector<TensorFormat>& tensor_formats() {
  static const std::vector<TensorFormat> formats = {
      {".safetensors", sniff_safetensors, "model.safetensors", "model.safetensors.index.json",
       open_as<SafetensorsFile>},
      {".bin", sniff_torch_zip, "pytorch_model.bin", "pytorch_model.bin.index.json", open_as<TorchBinFile>},
      // One file is the whole model (metadata + tokenizer + tensors): never part of a directory layout.
      {".gguf", GgufFile::sniff, nullptr, nullptr, open_as<GgufFile>},
  };
  return formats;
}

std::shared_ptr<TensorSource> open_tensor_source(const std::string& path) {
  for (const TensorFormat& f : tensor_formats())
    if (ends_with(path, f.extension)) return f.open(path);
  // No known extension: recognise the file by its first bytes (mapped: the readers' Error(kIo) messages).
  auto file = MappedFile::open(path);
  size_t n = std::min<size_t>(file->size(), 16);
  std::string known;
  for (const TensorFormat& f : tensor_formats()) {
    if (f.sniff(file->data(), n)) return f.open(path);
    known += str_cat(known.empty() ? "" : ", ", f.extension);
  }
  fail(ErrorKind::kFormat, path, ": not a tensor file of a known format (", known, ")");
}

bool TensorSource::drop_pages(const TensorView& v) const {
  const MappedFile* m = mapping();
  if (!m || !m->contains(v.data, v.nbytes())) return false;
  m->drop_pages(v.data, v.nbytes());
  return true;
}

uint64_t TensorSource::total_bytes() const {
  const MappedFile* m = mapping();
  return m ? m->size() : 0;
}

}  // namespace dm
