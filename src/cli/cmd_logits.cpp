// devops-model logits: one forward pass over ids, written as tensor "logits" F32 [T, vocab] to compare a
// checkpoint against transformers; --trace also writes every intermediate value of the decoder block
// (the model's trace hook) to compare layer by layer.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <list>

#include "cli/model_args.h"
#include "devops_model/core/error.h"
#include "devops_model/formats/safetensors.h"
#include "devops_model/model/decoder_block.h"

namespace dm::cli {
namespace {

struct Args {
  ModelArgs model;
  std::string ids, out, trace;
};

// Keeps every traced value: "layers.N.<name>" for layer N, "<name>" for the others (embed, final_norm).
struct TraceDump {
  std::list<Tensor> tensors;  // list: views into them stay valid while it grows
  std::vector<std::pair<std::string, TensorView>> named;
  void add(const TraceEvent& e) {
    Tensor t = Tensor::zeros_f32({e.rows, e.cols});
    std::copy_n(e.data, e.rows * e.cols, t.f32());
    tensors.push_back(std::move(t));
    const std::string prefix = e.layer >= 0 ? "layers." + std::to_string(e.layer) + "." : "";
    named.emplace_back(prefix + e.name, tensors.back().view());
  }
  // The detail behind a non-finite-logits error: the first traced value (in forward order) holding NaN/Inf.
  void fail_on_non_finite(const std::string& model, const std::string& trace) const {
    for (const auto& [name, v] : named) {
      const float* p = v.f32();
      for (int64_t i = 0; i < v.numel(); ++i)
        if (!std::isfinite(p[i]))
          fail(ErrorKind::kFormat, model, ": first non-finite value: ", name, " row ", i / v.shape[1], " column ",
               i % v.shape[1], " (", p[i], "); trace written to ", trace);
    }
  }
};

Registrar reg{{"logits", "write the logits of one forward pass over token ids", [](CLI::App& app) {
                 auto a = std::make_shared<Args>();
                 a->model.add(app);
                 app.add_option("--ids", a->ids, "comma-separated token ids")->required();
                 app.add_option("--out", a->out, "output .safetensors file")->required();
                 app.add_option("--trace", a->trace,
                                "also write every intermediate value (layers.N.attn_norm, ...) to this .safetensors");
                 return [a]() {
                   std::vector<int32_t> ids = parse_ids(a->ids, "--ids");
                   auto model = a->model.load();
                   TraceDump dump;
                   if (!a->trace.empty()) model->set_trace([&dump](const TraceEvent& e) { dump.add(e); });
                   auto cache = model->new_cache(static_cast<int>(ids.size()));
                   std::vector<float> logits;
                   model->forward(ids, *cache, logits, /*all_positions=*/true);
                   const int64_t T = static_cast<int64_t>(ids.size()), V = model->config().vocab_size;
                   write_safetensors(a->out, {{"logits", TensorView{DType::kF32, {T, V}, logits.data()}}});
                   if (!a->trace.empty()) {
                     write_safetensors(a->trace, dump.named);
                     std::fprintf(stderr, "wrote %zu traced values to %s\n", dump.named.size(), a->trace.c_str());
                     dump.fail_on_non_finite(a->model.dir, a->trace);
                   }
                   std::fprintf(stderr, "wrote logits [%lld, %lld] to %s\n", static_cast<long long>(T),
                                static_cast<long long>(V), a->out.c_str());
                   return 0;
                 };
               }}};

}  // namespace
}  // namespace dm::cli
