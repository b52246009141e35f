#include "cli/model_args.h"

#include <charconv>

#include "devops_model/core/error.h"

namespace dm::cli {

void ModelArgs::add(CLI::App& app, bool required) {
  auto* o = app.add_option("--model,-m", dir, "Hugging Face model directory or GGUF file");
  if (required) o->required();
  app.add_option("--dtype", dtype,
                 "weights as stored (bf16 stays bf16), converted to f32, or linear layers quantized to q8_0 at load")
      ->check(CLI::IsMember({"stored", "f32", "q8_0"}));
  add_threads_option(app, &threads);
}

std::unique_ptr<Model> ModelArgs::load() const {
  apply_threads(threads);
  LoadOptions o;
  o.weights = dtype == "f32"    ? LoadOptions::WeightDType::kF32
              : dtype == "q8_0" ? LoadOptions::WeightDType::kQ8_0
                                : LoadOptions::WeightDType::kAsStored;
  return Model::load(dir, o);
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
