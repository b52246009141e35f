// A tokenizer from a GGUF file's metadata (llama.cpp's `gpt2` byte-level BPE): tokenizer.ggml.tokens in
// GPT-2's unicode spelling, token_type (normal / control / user-defined / unused), merges in rank order,
// and `pre` naming the split regex. Text is NFC-normalised as the Hugging Face tokenizers of these models
// do (llama.cpp does not; it differs on non-NFC input only).
#include "devops_model/core/error.h"
#include "devops_model/formats/gguf.h"
#include "tokenizer_impl.h"

namespace dm {

namespace {

// llama.cpp's token types (llama_token_type).
enum TokenType : int64_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

std::string_view split_regex(const GgufMetadata& md) {
  const std::string pre = md.get_string_opt("tokenizer.ggml.pre").value_or("default");
  if (pre == "qwen2" || pre == "deepseek-r1-qwen") return kQwenSplitRegex;
  if (pre == "default" || pre == "gpt-2") return kGpt2Regex;
  fail(ErrorKind::kUnsupported, md.path, ": tokenizer.ggml.pre \"", pre,
       "\" is not supported (qwen2, deepseek-r1-qwen, gpt-2, default)");
}

}  // namespace

std::unique_ptr<Tokenizer::Impl> load_gguf_tokenizer(const std::string& path) {
  return gguf_tokenizer_impl(GgufFile::open(path)->metadata());
}

std::unique_ptr<Tokenizer::Impl> gguf_tokenizer_impl(const GgufMetadata& md) {
  const std::string& path = md.path;
  const std::string model = md.get_string("tokenizer.ggml.model");
  if (model != "gpt2")
    fail(ErrorKind::kUnsupported, path, ": tokenizer.ggml.model \"", model, "\" (only gpt2, byte-level BPE)");
  const std::vector<std::string> tokens = md.get_strings("tokenizer.ggml.tokens");
  std::vector<int64_t> types = md.has("tokenizer.ggml.token_type") ? md.get_ints("tokenizer.ggml.token_type")
                                                                   : std::vector<int64_t>(tokens.size(), kNormal);
  if (types.size() != tokens.size())
    fail(ErrorKind::kFormat, path, ": tokenizer.ggml.token_type has ", types.size(),
         " entries but tokenizer.ggml.tokens ", tokens.size());
  auto impl = std::make_unique<Tokenizer::Impl>(BpeModel::Mode::kMerges);
  std::string bytes;
  for (size_t id = 0; id < tokens.size(); ++id) {
    const auto i = static_cast<int32_t>(id);
    switch (types[id]) {
      case kNormal:
      case kByte:
        if (!byte_level_decode(tokens[id], &bytes))
          fail(ErrorKind::kFormat, path, ": tokenizer.ggml.tokens[", id, "] '", tokens[id], "' is not byte-level");
        impl->bpe.add_token(bytes, i);
        break;
      case kUnknown:
      case kControl: impl->add_token(tokens[id], i, true); break;
      case kUserDefined: impl->add_token(tokens[id], i, false); break;
      case kUnused: break;  // padding rows: no text, decode to nothing
      default:
        fail(ErrorKind::kFormat, path, ": tokenizer.ggml.token_type[", id, "] = ", types[id], " is not a token type");
    }
  }
  impl->bpe.finalize();
  if (md.has("tokenizer.ggml.merges")) {
    const std::vector<std::string> merges = md.get_strings("tokenizer.ggml.merges");
    for (size_t r = 0; r < merges.size(); ++r) {
      const size_t sp = merges[r].find(' ');
      const std::string where = str_cat(path, ": tokenizer.ggml.merges[", r, "]");
      if (sp == std::string::npos) fail(ErrorKind::kFormat, where, ": expected 'A B'");
      add_merge(*impl, std::string_view(merges[r]).substr(0, sp), std::string_view(merges[r]).substr(sp + 1),
                static_cast<int32_t>(r), where);
    }
  }
  impl->pre = std::make_unique<Pretokenizer>(split_regex(md));
  impl->nfc = true;
  // Qwen1 (llama.cpp's `qwen`) normalises the whole text before looking for special tokens.
  impl->nfc_before_added = md.get_string_opt("general.architecture").value_or("") == "qwen";
  return impl;
}

std::unique_ptr<Tokenizer> tokenizer_from_gguf(const GgufMetadata& md) {
  return std::unique_ptr<Tokenizer>(new Tokenizer(gguf_tokenizer_impl(md)));
}

}  // namespace dm
