// Restricted unpickler for PyTorch state dicts. It interprets only the opcodes a torch.save state dict
// uses and resolves only the globals that rebuild tensors (torch._utils._rebuild_tensor_v2,
// torch._utils._rebuild_parameter, torch.*Storage, collections.OrderedDict). Any other global is refused
// with Error(kSecurity) naming it; nothing is ever called or executed: "calls" are interpreted as data.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "devops_model/core/dtype.h"
#include "devops_model/core/tensor.h"

namespace dm {

// A tensor described by the pickle: where its elements live in the archive's storages.
struct PickledTensor {
  DType dtype = DType::kF32;
  std::string storage_key;  // archive entry data/<key>
  int64_t storage_numel = 0;
  int64_t offset = 0;  // in elements
  Shape shape;
  std::vector<int64_t> stride;
};

// Parses a data.pkl. `where` names the file in errors. Returns name -> tensor in file order.
std::vector<std::pair<std::string, PickledTensor>> unpickle_state_dict(const uint8_t* data, size_t size,
                                                                       const std::string& where);

}  // namespace dm
