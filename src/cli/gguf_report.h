// One summary line for the commands that write GGUF files (convert --to-gguf, quantize).
#pragma once
#include <cstdio>
#include <string>

#include "devops_model/convert/gguf_model.h"

namespace dm::cli {

inline void print_gguf_report(const std::string& out, const GgufModelReport& r) {
  std::string types;
  for (const auto& [name, n] : r.types) types += (types.empty() ? "" : ", ") + name + " x" + std::to_string(n);
  std::fprintf(stderr, "wrote %s: %d tensors (%s), %.1f MiB -> %.1f MiB of tensor data", out.c_str(), r.tensors,
               types.c_str(), static_cast<double>(r.bytes_in) / (1 << 20),
               static_cast<double>(r.bytes_out) / (1 << 20));
  if (r.fallbacks > 0)
    std::fprintf(stderr, "; %d matrices fell back to a type whose blocks fit their rows", r.fallbacks);
  std::fprintf(stderr, "\n");
}

}  // namespace dm::cli
