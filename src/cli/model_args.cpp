#include "cli/model_args.h"

#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/kernels/matmul.h"
#include "devops_model/model/weight_check.h"

namespace dm::cli {

namespace {

// The ggml block types --dtype quantizes to at load, by their lower-case names ("q4_k").
constexpr DType kLoadTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                                DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

void ModelArgs::add(CLI::App& app, bool required) {
  auto* o = app.add_option("--model,-m", dir, "Hugging Face model directory or GGUF file");
  if (required) o->required();
  const std::vector<std::string> names = dtype_choices();
  app.add_option("--dtype", dtype,
                 "weights as stored (bf16 stays bf16, GGUF types as they are), converted to f32, or the linear "
                 "layers quantized at load to a ggml type (q8_0, q4_k, ...)")
      ->check(CLI::IsMember(names));
  add_threads_option(app, &threads);
  app.add_flag("--check-weights", check_weights,
               "scan every tensor for NaN/Inf at load and name the first holding one (exit 4)");
  app.add_flag("--no-mmap", no_mmap,
               "read the weight files into memory (huge pages) instead of mapping them: a slower load, a faster "
               "decode of multi-GB models (llama.cpp's --no-mmap)");
  app.add_flag("--bf16-activations", bf16_activations,
               "BF16 weights: round the activations of the prompt's matmuls (32+ tokens) to bf16 and multiply them "
               "with vdpbf16ps, as llama.cpp does: 1.7-1.9x the prefill speed, logits no longer f32-exact (AVX512-BF16 "
               "CPUs only: exit 5 elsewhere)");
}

std::unique_ptr<Model> ModelArgs::load() const {
  apply_threads(threads);
  if (bf16_activations) set_bf16_activations(true);
  set_file_backing(no_mmap ? FileBacking::kRead : FileBacking::kMap);
  if (check_weights) {
    const auto t0 = std::chrono::steady_clock::now();
    const WeightScan scan = check_weights_finite(dir);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "check-weights: %zu tensors, %.2f GB, no NaN/Inf (%.2f s)\n", scan.tensors,
                 static_cast<double>(scan.bytes) / 1e9, s);
  }
  return Model::load(dir, load_options_for_dtype(dtype));
}

std::vector<std::string> dtype_choices() {
  std::vector<std::string> names = {"stored", "f32"};
  for (DType t : kLoadTypes) names.push_back(lower(dtype_name(t)));
  return names;
}

LoadOptions load_options_for_dtype(const std::string& dtype) {
  LoadOptions o;
  if (dtype == "f32") o.weights = LoadOptions::WeightDType::kF32;
  for (DType t : kLoadTypes) {
    if (dtype == lower(dtype_name(t))) {
      o.weights = LoadOptions::WeightDType::kQuantize;
      o.quantize_to = t;
    }
  }
  return o;
}

std::vector<int32_t> parse_ids(const std::string& s, const char* option) {
  std::vector<int32_t> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string item = s.substr(i, j - i);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    int32_t v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size() || v < 0)
      fail(ErrorKind::kInvalidArgument, option, ": \"", item, "\" is not a token id (expected e.g. 1,2,3)");
    out.push_back(v);
    i = j + 1;
  }
  return out;
}

}  // namespace dm::cli
