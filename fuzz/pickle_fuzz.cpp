// Fuzzes the restricted unpickler (and the zip reader around it): reject or parse, never crash or run.
#include <cstdint>

#include "devops_model/core/error.h"
#include "devops_model/formats/pickle.h"
#include "devops_model/formats/zip_archive.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    dm::unpickle_state_dict(data, size, "fuzz.pkl");
  } catch (const dm::Error&) {
  }
  try {
    auto z = dm::ZipArchive::parse(data, size, "fuzz.zip");
    for (const auto& [name, e] : z.entries()) {
      if (e.size > 0) {
        volatile uint8_t last = e.data[e.size - 1];
        (void)last;
      }
    }
  } catch (const dm::Error&) {
  }
  return 0;
}
