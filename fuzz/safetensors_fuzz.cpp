// Fuzzes the safetensors header parser: any input is either parsed into in-bounds views or rejected
// with dm::Error; never a crash, an out-of-bounds read or a hang.
#include <cstdint>
#include <cstring>

#include "devops_model/core/error.h"
#include "devops_model/formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = dm::SafetensorsFile::parse(nullptr, data, size, "fuzz");
    for (const auto& n : f->names()) {
      dm::TensorView t = f->get(n);
      // Touch first and last byte: ASan catches a view outside the input.
      if (t.nbytes() > 0) {
        volatile uint8_t a = static_cast<const uint8_t*>(t.data)[0];
        volatile uint8_t b = static_cast<const uint8_t*>(t.data)[t.nbytes() - 1];
        (void)a;
        (void)b;
      }
    }
  } catch (const dm::Error&) {
  }
  return 0;
}
