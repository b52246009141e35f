// PyTorch .bin checkpoints (torch.save zip archives): the restricted unpickler finds the tensors, the
// zip reader maps their storages; views point straight into the mapping (no copies). A TensorSource.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "devops_model/core/tensor.h"
#include "devops_model/formats/tensor_source.h"
#include "devops_model/formats/zip_archive.h"

namespace dm {

class TorchBinFile : public TensorSource {
 public:
  // Error(kFormat/kSecurity/kUnsupported) naming the file and the tensor.
  static std::shared_ptr<TorchBinFile> open(const std::string& path);

  bool has(const std::string& name) const override { return tensors_.count(name) != 0; }
  // Zero-copy view into the mapped archive; Error(kFormat) naming file and tensor when absent.
  TensorView get(const std::string& name) const override;
  std::vector<std::string> names() const override;
  const std::string& path() const override { return path_; }
  const MappedFile* mapping() const override { return zip_.file().get(); }

 private:
  std::string path_;
  ZipArchive zip_;
  std::map<std::string, TensorView> tensors_;
};

}  // namespace dm
