// A whole model written as one GGUF file (`devops-model convert --to-gguf`, `devops-model quantize`):
// from a GGUF file (its metadata kept, tensors re-typed) or from anything Model::load reads (config,
// tensors, tokenizer and chat template turned into llama.cpp's keys), every matrix typed by a
// llama-quantize preset (model/gguf_export.h).
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace dm {

struct GgufModelReport {
  int tensors = 0;
  int fallbacks = 0;                     // matrices whose rows are not whole blocks of the planned type
  std::map<std::string, int> types;      // ggml type name -> tensor count
  uint64_t bytes_in = 0, bytes_out = 0;  // tensor data
};

// Error(kInvalidArgument) for an unknown type name; the input's errors as Model::load gives them.
GgufModelReport write_gguf_model(const std::string& in, const std::string& out, const std::string& type);

}  // namespace dm
