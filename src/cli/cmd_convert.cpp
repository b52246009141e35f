// devops-model convert --random: a random-weight checkpoint of a real model shape, for speed work.
#include <cstdio>
#include <filesystem>

#include "cli/command.h"
#include "devops_model/core/error.h"
#include "devops_model/model/random_init.h"

namespace dm::cli {
namespace {

struct Args {
  bool random = false;
  std::string shape, out, dtype = "bf16", tokenizer;
  uint64_t seed = 0;
  int threads = 0;
};

Registrar reg{{"convert", "write checkpoints (--random: random weights of a real model shape)", [](CLI::App& app) {
                 auto a = std::make_shared<Args>();
                 app.add_flag("--random", a->random, "random weights")->required();
                 std::string shapes;
                 for (const auto& n : shape_preset_names()) shapes += (shapes.empty() ? "" : ", ") + n;
                 app.add_option("--shape", a->shape, "model shape: " + shapes)->required();
                 app.add_option("--out", a->out, "output directory")->required();
                 app.add_option("--dtype", a->dtype, "bf16 | f16 | f32")->check(CLI::IsMember({"bf16", "f16", "f32"}));
                 app.add_option("--seed", a->seed, "random seed");
                 app.add_option("--tokenizer", a->tokenizer, "a tokenizer file to copy into the checkpoint");
                 add_threads_option(app, &a->threads);
                 return [a]() {
                   apply_threads(a->threads);
                   ModelConfig c = shape_preset(a->shape);
                   DType dt = a->dtype == "f32" ? DType::kF32 : a->dtype == "f16" ? DType::kF16 : DType::kBF16;
                   write_random_checkpoint(c, a->out, dt, a->seed);
                   if (!a->tokenizer.empty()) {
                     namespace fs = std::filesystem;
                     if (!fs::exists(a->tokenizer)) fail(ErrorKind::kIo, a->tokenizer, ": no such file");
                     fs::copy_file(a->tokenizer, fs::path(a->out) / fs::path(a->tokenizer).filename(),
                                   fs::copy_options::overwrite_existing);
                   }
                   std::fprintf(stderr, "wrote random %s (%s) to %s\n", a->shape.c_str(), a->dtype.c_str(),
                                a->out.c_str());
                   return 0;
                 };
               }}};

}  // namespace
}  // namespace dm::cli
