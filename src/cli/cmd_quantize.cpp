// devops-model quantize IN OUT TYPE: llama-quantize's presets over a GGUF file or any model we load.
#include <cstdio>

#include "cli/command.h"
#include "cli/gguf_report.h"
#include "devops_model/convert/gguf_model.h"
#include "devops_model/model/gguf_export.h"

namespace dm::cli {
namespace {

struct Args {
  std::string in, out, type;
  int threads = 0;
};

Registrar reg{{"quantize", "write a GGUF file with llama-quantize's per-tensor types: quantize IN OUT TYPE",
               [](CLI::App& app) {
  auto a = std::make_shared<Args>();
  std::string types;
  for (const auto& n : gguf_preset_names()) types += (types.empty() ? "" : ", ") + n;
  app.add_option("in", a->in, "GGUF file or Hugging Face model directory")->required();
  app.add_option("out", a->out, "output .gguf (written atomically)")->required();
  app.add_option("type", a->type, "one of " + types)->required();
  add_threads_option(app, &a->threads);
  return [a]() {
    apply_threads(a->threads);
    print_gguf_report(a->out, write_gguf_model(a->in, a->out, a->type));
    return 0;
  };
               }}};

}  // namespace
}  // namespace dm::cli
