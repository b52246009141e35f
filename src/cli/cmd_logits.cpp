// devops-model logits: one forward pass over ids, written as tensor "logits" F32 [T, vocab] to compare a
// checkpoint against transformers.
#include <cstdio>

#include "cli/model_args.h"
#include "devops_model/core/error.h"
#include "devops_model/formats/safetensors.h"

namespace dm::cli {
namespace {

struct Args {
  ModelArgs model;
  std::string ids, out;
};

Registrar reg{{"logits", "write the logits of one forward pass over token ids", [](CLI::App& app) {
                 auto a = std::make_shared<Args>();
                 a->model.add(app);
                 app.add_option("--ids", a->ids, "comma-separated token ids")->required();
                 app.add_option("--out", a->out, "output .safetensors file")->required();
                 return [a]() {
                   std::vector<int32_t> ids = parse_ids(a->ids, "--ids");
                   auto model = a->model.load();
                   auto cache = model->new_cache(static_cast<int>(ids.size()));
                   std::vector<float> logits;
                   model->forward(ids, *cache, logits, /*all_positions=*/true);
                   const int64_t T = static_cast<int64_t>(ids.size()), V = model->config().vocab_size;
                   write_safetensors(a->out, {{"logits", TensorView{DType::kF32, {T, V}, logits.data()}}});
                   std::fprintf(stderr, "wrote logits [%lld, %lld] to %s\n", static_cast<long long>(T),
                                static_cast<long long>(V), a->out.c_str());
                   return 0;
                 };
               }}};

}  // namespace
}  // namespace dm::cli
