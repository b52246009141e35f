// Fuzzes the GGUF parser and the tokenizer built from its metadata: any input is either parsed into
// in-bounds views, typed metadata and a tokenizer, or rejected with dm::Error; never a crash, an
// out-of-bounds read or a hang.
#include <cstdint>

#include "devops_model/core/error.h"
#include "devops_model/formats/gguf.h"
#include "devops_model/tokenizer/gguf_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = dm::GgufFile::parse(nullptr, data, size, "fuzz");
    for (const auto& n : f->names()) {
      dm::TensorView t = f->get(n);
      if (t.nbytes() > 0) {  // first and last byte: ASan catches a view outside the input
        volatile uint8_t a = static_cast<const uint8_t*>(t.data)[0];
        volatile uint8_t b = static_cast<const uint8_t*>(t.data)[t.nbytes() - 1];
        (void)a;
        (void)b;
      }
    }
    const dm::GgufMetadata& md = f->metadata();
    for (const auto& [key, v] : md.entries) {
      try {  // the accessors on every key: wrong types are errors, not crashes
        if (v.is_array()) {
          (void)md.get_strings(key);
          (void)md.get_ints(key);
        } else {
          (void)md.get_int(key);
          (void)md.get_float(key);
          (void)md.get_string(key);
        }
      } catch (const dm::Error&) {
      }
    }
    if (md.has("tokenizer.ggml.tokens")) {
      try {
        auto tok = dm::tokenizer_from_gguf(md);
        (void)tok->decode(tok->encode("kubectl get pods -n 默认 <|im_end|>"));
      } catch (const dm::Error&) {
      }
    }
  } catch (const dm::Error&) {
  }
  return 0;
}
