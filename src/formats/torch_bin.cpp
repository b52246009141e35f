#include "devops_model/formats/torch_bin.h"

#include "devops_model/core/error.h"
#include "devops_model/formats/pickle.h"

namespace dm {

std::shared_ptr<TorchBinFile> TorchBinFile::open(const std::string& path) {
  auto f = std::make_shared<TorchBinFile>();
  f->path_ = path;
  f->zip_ = ZipArchive::open(path);
  // All entries share one top folder (the archive name); data.pkl names the state dict.
  std::string prefix;
  const ZipEntry* pkl = nullptr;
  for (const auto& [name, e] : f->zip_.entries()) {
    size_t slash = name.find('/');
    if (slash != std::string::npos && name.substr(slash + 1) == "data.pkl") {
      prefix = name.substr(0, slash + 1);
      pkl = &e;
      break;
    }
  }
  if (!pkl) fail(ErrorKind::kFormat, path, ": no <archive>/data.pkl inside (not a torch.save zip archive?)");
  auto tensors = unpickle_state_dict(pkl->data, pkl->size, path + ":" + prefix + "data.pkl");
  for (auto& [name, t] : tensors) {
    std::string where = path + ": tensor \"" + name + "\"";
    const ZipEntry* st = f->zip_.find(prefix + "data/" + t.storage_key);
    if (!st) fail(ErrorKind::kFormat, where, ": storage data/", t.storage_key, " missing from the archive");
    // Only contiguous row-major tensors can be viewed in place.
    int64_t expect = 1;
    for (size_t i = t.shape.size(); i-- > 0;) {
      if (t.shape[i] != 1 && t.stride[i] != expect) fail(ErrorKind::kUnsupported, where, ": non-contiguous stride");
      expect *= t.shape[i];
    }
    size_t esz = dtype_size(t.dtype);
    uint64_t numel = static_cast<uint64_t>(shape_numel(t.shape));
    if (t.offset < 0 || (static_cast<uint64_t>(t.offset) + numel) * esz > st->size)
      fail(ErrorKind::kFormat, where, ": elements [", t.offset, ", ", t.offset + static_cast<int64_t>(numel),
           ") outside its storage of ", st->size / esz, " elements (truncated file?)");
    f->tensors_[name] = TensorView{t.dtype, t.shape, st->data + static_cast<uint64_t>(t.offset) * esz};
  }
  return f;
}

TensorView TorchBinFile::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(ErrorKind::kFormat, path_, ": missing tensor \"", name, "\"");
  return it->second;
}

std::vector<std::string> TorchBinFile::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : tensors_) out.push_back(k);
  return out;
}

}  // namespace dm
