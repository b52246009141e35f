// libFuzzer: encode arbitrary bytes with the tiny tokenizer (both formats); decode must give the
// bytes back (NFC of them for valid UTF-8), specials allowed or not. Fixtures: $DM_FIXTURES_DIR,
// else ../shared/fixtures beside the sources; without them the target does nothing.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "devops_model/tokenizer/tokenizer.h"
#include "devops_model/tokenizer/unicode.h"

namespace {

struct Tokenizers {
  std::unique_ptr<dm::Tokenizer> hf, tiktoken;
};

const Tokenizers& tokenizers() {
  static const Tokenizers t = [] {
    Tokenizers r;
    std::string dir;
    if (const char* env = std::getenv("DM_FIXTURES_DIR")) {
      dir = env;
    } else {
      dir =
          (std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "shared" / "fixtures").string();
    }
    try {
      r.hf = dm::Tokenizer::from_file(dir + "/tiny-tokenizer/tokenizer.json");
      r.tiktoken = dm::Tokenizer::from_file(dir + "/tiny-tokenizer/qwen.tiktoken");
    } catch (const std::exception&) {
      r = {};  // fall back cleanly: no fixtures, nothing to fuzz
    }
    return r;
  }();
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Tokenizers& t = tokenizers();
  if (!t.hf) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const bool allow_special = size > 0 && (data[0] & 1);
  const bool valid = dm::utf8_is_valid(text);
  const std::string want = valid ? dm::nfc_normalize(text) : text;
  for (const dm::Tokenizer* tok : {t.hf.get(), t.tiktoken.get()}) {
    const auto ids = tok->encode(text, allow_special);
    for (int32_t id : ids) {
      if (id < 0 || id >= tok->vocab_size()) __builtin_trap();
    }
    // Invalid UTF-8 has no reference behaviour (Python strings cannot hold it): it must encode without
    // failing, but the HF path NFC-normalises the valid runs between special tokens, so only valid
    // input is checked for the exact round trip.
    if (valid && tok->decode(ids) != want) __builtin_trap();
  }
  return 0;
}
